import Foundation
import XCTest
import Decoding
import Tensors
import Transformer

/// The beam searches' run statistics are measured, not left at zero: the prompt's forward pass
/// is timed as the prefill and the rest of the search as decoding (issue 13: `--json` said
/// `prefill_seconds: 0.0` for `beam` and `group-beam`). No speed is asserted, only that the
/// figures exist and add up within the wall time of the call.
final class BeamStatisticsTests: XCTestCase {
    let prompt = Array(1...40)

    private func checkStatistics(_ s: Generation.Statistics, newTokens: Int, wallSeconds: Double, _ what: String) {
        XCTAssertGreaterThan(s.prefillSeconds, 0, "\(what): the prompt's pass is timed as the prefill")
        XCTAssertGreaterThanOrEqual(s.decodeSeconds, 0, what)
        XCTAssertLessThanOrEqual(s.prefillSeconds + s.decodeSeconds, wallSeconds, "\(what): prefill + decode fit in the call's wall time")
        // One pass for the prompt, then one per later step (each step feeds all live beams at once).
        XCTAssertEqual(s.forwardPasses, newTokens, what)
    }

    func testBeamAndGroupBeamStrategiesTimeThePrefillApartFromDecoding() throws {
        let model = try SyntheticModels.model(SyntheticModels.tinyA)
        let stopping = StoppingCriteria(maxNewTokens: 6)
        let strategies: [any DecodingStrategy] = [
            BeamSearch.Strategy(numBeams: 3),
            GroupBeamSearch.Strategy(numBeams: 4, numBeamGroups: 2, diversityPenalty: 0.5),
        ]
        for strategy in strategies {
            let start = monotonicSeconds()
            let output = try strategy.generate(model: model, prompt: prompt, stopping: stopping, traceTopK: 2, onToken: nil)
            let wall = monotonicSeconds() - start
            checkStatistics(output.generation.statistics, newTokens: output.generation.outputIDs.count, wallSeconds: wall, type(of: strategy).name)
        }
    }

    func testBeamSearchGenerationTimesThePrefillApartFromDecoding() throws {
        let model = try SyntheticModels.model(SyntheticModels.tinyB)
        let start = monotonicSeconds()
        let g = try BeamSearch.generation(model: model, prompt: prompt, numBeams: 2, stopping: StoppingCriteria(maxNewTokens: 5))
        checkStatistics(g.statistics, newTokens: g.outputIDs.count, wallSeconds: monotonicSeconds() - start, "BeamSearch.generation")
    }
}

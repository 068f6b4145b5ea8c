import XCTest
import Formats
import Tensors
import Transformer
@testable import Decoding

/// LOL-like fusion (final- plus lower-layer contrast, refocus stream) on synthetic models: its
/// reductions to plain contrastive decoding, a cache-free naive reimplementation, the plausibility
/// set, thread-count invariance and option errors.
final class LOLDecodingTests: XCTestCase {
    typealias Support = ContrastiveDecodingTests
    static let V = ContrastiveDecodingTests.V

    func testZeroLowerWeightWithoutRefocusEqualsContrastiveDecodingLogitMode() throws {
        let expert = try Support.expert(seed: 81, layers: 6)
        let prompt = [3, 5, 7, 11]
        let stopping = StoppingCriteria(maxNewTokens: 12, endOfSequenceIDs: [])
        for beta in [0.5, 2.0] {
            let cd = try ContrastiveDecoding.generate(expert: expert, amateur: .layers(3), prompt: prompt,
                                                      parameters: .init(mode: .logit, beta: beta), stopping: stopping)
            let lol = try LOLDecoding.generate(expert: expert, amateur: .layers(3), prompt: prompt,
                                               parameters: .init(beta: beta, lowerLayer: 2, lowerWeight: 0), stopping: stopping)
            XCTAssertEqual(lol.generation.outputIDs, cd.generation.outputIDs)
            XCTAssertEqual(lol.generation.trace, cd.generation.trace)
        }
    }

    /// Every stream recomputed from an empty cache at every step.
    static func naive(expert: any CausalLanguageModel, amateur: any CausalLanguageModel, prompt: [Int], p: LOLDecoding.Parameters,
                      j: Int, ja: Int, maxNew: Int) throws -> [Int] {
        var out: [Int] = []
        let eJ = try expert.truncated(toLayers: j), aJ = try amateur.truncated(toLayers: ja)
        for _ in 0..<maxNew {
            let seq = prompt + out
            let sE = try Support.lastLogits(expert, seq), sA = try Support.lastLogits(amateur, seq)
            let lE = ProcessorMath.logSoftmax(try Support.lastLogits(eJ, seq)), lA = ProcessorMath.logSoftmax(try Support.lastLogits(aJ, seq))
            let sR = p.refocusIDs.isEmpty ? sE : try Support.lastLogits(expert, p.refocusIDs + seq)
            let threshold = sE.max()! + Float(DeterministicMath.log(p.alpha))
            var best = -1, bestScore = -Float.infinity
            for v in 0..<V where sE[v] >= threshold {
                let star = p.refocusIDs.isEmpty ? sE[v] : Float(1 - p.refocusWeight) * sE[v] + Float(p.refocusWeight) * sR[v]
                let final = Float(1 + p.beta) * star - Float(p.beta) * (sA[v] / Float(p.amateurTemperature))
                let lower = Float(1 + p.beta) * lE[v] - Float(p.beta) * (lA[v] / Float(p.amateurTemperature))
                let score = final + Float(p.lowerWeight) * lower
                if best < 0 || score > bestScore { best = v; bestScore = score }
            }
            out.append(best)
        }
        return out
    }

    func testCachedStreamsEqualANaiveReimplementationWithoutCaches() throws {
        let expert = try Support.expert(seed: 83, layers: 6), other = try Support.expert(seed: 84, layers: 3)
        let cases: [(ContrastiveDecoding.Amateur, any CausalLanguageModel, LOLDecoding.Parameters, Int, Int)] = [
            (.layers(nil), try expert.truncated(toLayers: 3), .init(), 2, 1),
            (.model(other), other, .init(alpha: 0.05, beta: 1.5, amateurTemperature: 0.8, lowerLayer: 4, amateurLowerLayer: 2,
                                         lowerWeight: 0.7, refocusIDs: [9, 8, 7], refocusWeight: 0.4), 4, 2),
        ]
        for (i, (amateur, amateurModel, p, j, ja)) in cases.enumerated() {
            let prompt = ContrastiveDoLaSupport.prompt(seed: UInt64(90 + i), count: 5, vocabulary: Self.V)
            let run = try LOLDecoding.generate(expert: expert, amateur: amateur, prompt: prompt, parameters: p,
                                               stopping: StoppingCriteria(maxNewTokens: 10, endOfSequenceIDs: []))
            XCTAssertEqual(run.lowerLayer, j)
            XCTAssertEqual(run.amateurLowerLayer, ja)
            XCTAssertEqual(run.generation.outputIDs, try Self.naive(expert: expert, amateur: amateurModel, prompt: prompt, p: p, j: j, ja: ja, maxNew: 10),
                           "case \(i)")
        }
    }

    func testChosenTokensStayInsideTheFinalLayerPlausibilitySet() throws {
        let expert = try Support.expert(seed: 85, layers: 6)
        let prompt = [1, 1, 2]
        let p = LOLDecoding.Parameters(alpha: 0.4, beta: 6, lowerWeight: 5, refocusIDs: [4, 4], refocusWeight: 0.9)
        let run = try LOLDecoding.generate(expert: expert, amateur: .layers(2), prompt: prompt, parameters: p,
                                           stopping: StoppingCriteria(maxNewTokens: 10, endOfSequenceIDs: []))
        var ids = prompt
        for token in run.generation.outputIDs {
            let probabilities = ProcessorMath.softmax(try Support.lastLogits(expert, ids))
            XCTAssertGreaterThanOrEqual(Double(probabilities[token]), 0.4 * Double(probabilities.max()!) * (1 - 1e-5))
            ids.append(token)
        }
    }

    func testOutputsDoNotDependOnTheThreadCount() throws {
        let expert = try Support.expert(seed: 87, layers: 6)
        let p = LOLDecoding.Parameters(refocusIDs: [2, 3], refocusWeight: 0.3)
        let stopping = StoppingCriteria(maxNewTokens: 8, endOfSequenceIDs: [])
        let a = try LOLDecoding.generate(expert: expert, amateur: .layers(3), prompt: [5, 6], parameters: p, stopping: stopping,
                                         pool: ParallelFor(threadCount: 1))
        let b = try LOLDecoding.generate(expert: expert, amateur: .layers(3), prompt: [5, 6], parameters: p, stopping: stopping,
                                         pool: ParallelFor(threadCount: 2))
        XCTAssertEqual(a.generation.outputIDs, b.generation.outputIDs)
        XCTAssertEqual(a.generation.trace, b.generation.trace)
    }

    func testStrategyOptionErrorsNameTheOption() throws {
        XCTAssertThrowsError(try DecodingStrategies.make("lol", arguments: StrategyArguments(["refocus-weight": "0.2"]))) {
            XCTAssertTrue("\($0)".contains("--refocus-ids"), "\($0)")
        }
        XCTAssertThrowsError(try DecodingStrategies.make("lol", arguments: StrategyArguments(["refocus-ids": "1,x"])))
        let s = try DecodingStrategies.make("lol", arguments: StrategyArguments(["lower-layer": "7"]))
        XCTAssertThrowsError(try s.generate(model: try Support.expert(layers: 6), prompt: [1], stopping: StoppingCriteria(maxNewTokens: 2))) {
            XCTAssertTrue("\($0)".contains("--lower-layer"), "\($0)")
        }
        let recorded = try DecodingStrategies.make("lol", arguments: StrategyArguments(["refocus-ids": "4,5", "lower-weight": "0.3"]))
        let rebuilt = try DecodingStrategies.make(algorithm: "lol", record: recorded.parameters, seed: nil)
        XCTAssertEqual(rebuilt.parameters.map(\.0), recorded.parameters.map(\.0))
        XCTAssertEqual("\(rebuilt.parameters.map(\.1))", "\(recorded.parameters.map(\.1))")
    }
}

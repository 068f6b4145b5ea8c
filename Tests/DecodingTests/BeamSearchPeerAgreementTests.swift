import Foundation
import XCTest
import Decoding
import Transformer
import Loader

/// Beam and group beam search agree with Hugging Face transformers 4.52.4 (Float32) on
/// SmolLM2-135M-Instruct: fixtures from Scripts/peer_beam.py. Skips when the model is absent
/// (set TOUCHSTONE_MODEL, or `touchstone fetch`).
final class BeamSearchPeerAgreementTests: XCTestCase {
    static let fixture = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/peer/beam/beam.json")

    func testSequencesAreTokenIdenticalAndScoresWithin1e3OfThePeer() throws {
        let path = ProcessInfo.processInfo.environment["TOUCHSTONE_MODEL"] ?? ModelStore.cachedPath(of: ModelStore.smolLM2)
        guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("SmolLM2 GGUF not found at \(path)") }
        let doc = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: Self.fixture)) as? [String: Any])
        let modelInfo = try XCTUnwrap(doc["model"] as? [String: Any])
        XCTAssertEqual(modelInfo["sha256"] as? String, ModelStore.smolLM2.sha256, "fixture made from a different model file")
        let model = try ModelStore.load(path: path).model
        let eos = Set(try XCTUnwrap(doc["eos_token_ids"] as? [Int]))
        let pad = doc["pad_token_id"] as? Int
        let cases = try XCTUnwrap(doc["cases"] as? [[String: Any]])
        XCTAssertGreaterThanOrEqual(cases.count, 16)
        var worst: Double = 0
        for c in cases {
            let name = c["name"] as! String
            let prompt = c["prompt_ids"] as! [Int]
            let numBeams = c["num_beams"] as! Int
            let groups = c["num_beam_groups"] as! Int
            let lengthPenalty = (c["length_penalty"] as! NSNumber).doubleValue
            let returns = c["num_return_sequences"] as! Int
            let earlyStopping: BeamEarlyStopping
            if let flag = c["early_stopping"] as? Bool { earlyStopping = flag ? .enabled : .heuristic } else { earlyStopping = .never }
            let stopping = StoppingCriteria(maxNewTokens: c["max_new_tokens"] as! Int, endOfSequenceIDs: eos)
            let hyps: [BeamHypothesis]
            if groups > 1 {
                hyps = try GroupBeamSearch.generate(model: model, prompt: prompt, numBeams: numBeams, numBeamGroups: groups,
                                                    diversityPenalty: (c["diversity_penalty"] as! NSNumber).doubleValue,
                                                    lengthPenalty: lengthPenalty, earlyStopping: earlyStopping,
                                                    numReturnSequences: returns, stopping: stopping, padTokenID: pad, traceTopK: 0)
            } else {
                hyps = try BeamSearch.generate(model: model, prompt: prompt, numBeams: numBeams, lengthPenalty: lengthPenalty,
                                               earlyStopping: earlyStopping, numReturnSequences: returns, stopping: stopping, traceTopK: 0)
            }
            let sequences = c["sequences"] as! [[Int]]
            let scores = (c["sequences_scores"] as! [NSNumber]).map(\.doubleValue)
            XCTAssertEqual(hyps.map(\.tokens), sequences, "\(name) prompt \(prompt.prefix(6))…")
            for (h, s) in zip(hyps, scores) {
                XCTAssertEqual(Double(h.score), s, accuracy: 1e-3, name)
                worst = max(worst, abs(Double(h.score) - s))
            }
        }
        print("beam peer agreement: \(cases.count) cases, worst |score difference| \(worst)")
    }
}

import Foundation
import XCTest
import Tensors
import Transformer

/// Touchstone against Hugging Face transformers (Float32) on the synthetic models. The peer's
/// logits and greedy continuations are produced by `Scripts/synthetic_peer_logits.py`.
final class SyntheticPeerAgreementTests: XCTestCase {
    struct PeerPrompt {
        let ids: [Int]
        /// Positions whose logits the peer stored, and those logits.
        let logitPositions: [Int]
        let logits: [[Double]]
        let greedy: [Int]
    }

    func peerPrompts(_ preset: SyntheticModels.Preset) throws -> [PeerPrompt] {
        let path = ModelFixtures.directory(preset) + "/peer-logits.json"
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let root = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let prompts = try XCTUnwrap(root["prompts"] as? [[String: Any]])
        return try prompts.map { p in
            PeerPrompt(ids: try XCTUnwrap(p["ids"] as? [Int]),
                       logitPositions: try XCTUnwrap(p["logit_positions"] as? [Int]),
                       logits: try XCTUnwrap(p["logits"] as? [[Double]]),
                       greedy: try XCTUnwrap(p["greedy"] as? [Int]))
        }
    }

    func testLogitsOfEveryPositionAgreeWithThePeerWithin1e4() throws {
        for preset in SyntheticModels.presets {
            let model = try LlamaModel(safetensorsDirectory: ModelFixtures.directory(preset))
            let prompts = try peerPrompts(preset)
            XCTAssertGreaterThanOrEqual(prompts.map(\.logitPositions.count).reduce(0, +), 20)
            var worst: Double = 0
            for prompt in prompts {
                let result = try model.forward(tokens: prompt.ids, cache: KVCache(shape: model.shape), logitRows: .all)
                XCTAssertEqual(prompt.logits.count, prompt.logitPositions.count)
                for (t, peerRow) in zip(prompt.logitPositions, prompt.logits) {
                    let ours = result.logits(row: t)
                    XCTAssertEqual(peerRow.count, ours.count)
                    for (a, b) in zip(ours, peerRow) { worst = max(worst, abs(Double(a) - b)) }
                }
            }
            print("peer agreement \(preset.name): max abs logit difference \(worst)")
            XCTAssertLessThanOrEqual(worst, 1e-4, preset.name)
        }
    }

    func testGreedyContinuationsEqualThePeers() throws {
        for preset in SyntheticModels.presets {
            let model = try LlamaModel(safetensorsDirectory: ModelFixtures.directory(preset))
            for prompt in try peerPrompts(preset) {
                XCTAssertEqual(try model.greedy(prompt.ids, count: prompt.greedy.count), prompt.greedy, "\(preset.name) prompt \(prompt.ids)")
            }
        }
    }
}

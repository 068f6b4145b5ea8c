import Foundation
import XCTest
import Tensors
import Transformer
import Loader
@testable import Probing

/// The logit lens of SmolLM2-135M against Hugging Face transformers (Float32, same GGUF):
/// `lm_head(model.model.norm(hidden_states[ℓ]))` for ℓ < L, `lm_head(hidden_states[L])`, and
/// `lm_head(hidden_states[ℓ])` without the norm; fixture from Scripts/peer_lens.py on three
/// held-out prompts. Skips when the model file is absent.
final class LogitLensPeerTests: XCTestCase {
    /// Logits agree with the peer within ~2e-4 (DOCS.md section 10), so two tokens whose peer
    /// logits are closer than this may swap ranks without either side being wrong.
    static let nearTie: Float = 1e-3

    func testTopTokensProbabilitiesAndKLAgreeWithHuggingFacePerLayerAndPosition() throws {
        let loaded = try ProbingTestSupport.realModel()
        let model = loaded.model
        let url = ProbingTestSupport.root.appendingPathComponent("Fixtures/peer/lens/reference.json")
        let doc = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        XCTAssertEqual((doc["model"] as? [String: Any])?["sha256"] as? String, ModelStore.smolLM2.sha256)
        let prompts = try XCTUnwrap(doc["prompts"] as? [[String: Any]])
        XCTAssertGreaterThanOrEqual(prompts.count, 3)
        let L = model.shape.layerCount, V = model.shape.vocabularySize
        var worstP = 0.0, worstKL = 0.0, worstKLRelative = 0.0, compared = 0, rankChecks = 0, modes = 0
        for prompt in prompts {
            let ids = try XCTUnwrap(prompt["prompt_ids"] as? [Int])
            let (states, _) = try LogitLens.hiddenStates(model: model, prompt: ids)
            for (mode, norm) in [("norm", true), ("no_norm", false)] {
                guard let positions = prompt[mode] as? [[String: Any]] else { continue }
                modes += 1
                XCTAssertEqual(positions.count, ids.count)
                let lens = try (0...L).map { try LogitLens.logits(model: model, hidden: states[$0], rows: ids.count, layer: $0, applyNorm: norm) }
                for (t, position) in positions.enumerated() {
                    let finalLogP = LogitLens.logProbabilities(lens[L][(t * V)..<((t + 1) * V)])
                    let layers = try XCTUnwrap(position["layers"] as? [[String: Any]])
                    XCTAssertEqual(layers.count, L + 1)
                    for (l, peer) in layers.enumerated() {
                        let row = lens[l][(t * V)..<((t + 1) * V)]
                        let logP = LogitLens.logProbabilities(row)
                        let top = try XCTUnwrap(peer["top"] as? [[Double]])
                        for entry in top {
                            let diff = abs(Foundation.exp(logP[Int(entry[0])]) - entry[1])
                            worstP = max(worstP, diff)
                            XCTAssertLessThanOrEqual(diff, 1e-4, "\(mode) position \(t) layer \(l) token \(Int(entry[0]))")
                            compared += 1
                        }
                        // Ranks: ours equal the peer's wherever the peer's logits around that rank
                        // are not a near-tie.
                        let logits = (try XCTUnwrap(peer["top_logits"] as? [Double])).map(Float.init) + [Float(try XCTUnwrap(peer["next_logit"] as? Double))]
                        let ours = row.withUnsafeBufferPointer { Kernels.topK($0.baseAddress!, count: V, k: top.count) }.map(\.index)
                        for k in 0..<top.count {
                            let above = k == 0 ? Float.infinity : logits[k - 1] - logits[k]
                            if above > Self.nearTie && logits[k] - logits[k + 1] > Self.nearTie {
                                XCTAssertEqual(ours[k], Int(top[k][0]), "\(mode) position \(t) layer \(l) rank \(k)")
                                rankChecks += 1
                            }
                        }
                        let kl = LogitLens.klDivergence(logP: finalLogP, logQ: logP)
                        let peerKL = try XCTUnwrap(peer["kl_to_final"] as? Double)
                        worstKL = max(worstKL, abs(kl - peerKL))
                        worstKLRelative = max(worstKLRelative, abs(kl - peerKL) / max(peerKL, 1e-3))
                        XCTAssertLessThanOrEqual(abs(kl - peerKL), 2e-3 + 1e-4 * peerKL, "\(mode) position \(t) layer \(l) KL \(kl) vs \(peerKL)")
                    }
                }
            }
        }
        XCTAssertGreaterThanOrEqual(modes, 5)
        print("lens vs peer: \(compared) probabilities, max |Δp| \(worstP); \(rankChecks) ranks checked; max |ΔKL| \(worstKL) (relative \(worstKLRelative))")
    }
}

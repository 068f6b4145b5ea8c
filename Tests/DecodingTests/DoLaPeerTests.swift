import XCTest
import Decoding
import Transformer
import Loader

/// DoLa on SmolLM2-135M against Hugging Face transformers 4.52 (`generate(dola_layers="high",
/// repetition_penalty=1.2, do_sample=False, max_new_tokens=32)`, Float32, same GGUF), fixtures
/// from Scripts/peer_dola.py. Skips when the model file is absent.
final class DoLaPeerTests: XCTestCase {
    func testDoLaHighIsTokenIdenticalToHuggingFaceOnSmolLM2() throws {
        let model = try ContrastiveDoLaSupport.smolLM2()
        let doc = try ContrastiveDoLaSupport.fixture("dola")
        let modelInfo = try XCTUnwrap(doc["model"] as? [String: Any])
        XCTAssertEqual(modelInfo["sha256"] as? String, ModelStore.smolLM2.sha256, "fixtures were made from a different model file")
        let parameters = try XCTUnwrap(doc["parameters"] as? [String: Any])
        XCTAssertEqual(parameters["dola_layers"] as? String, "high")
        let candidates = try XCTUnwrap(parameters["candidate_layers"] as? [Int])
        XCTAssertEqual(try DoLaLayers.high.candidateLayers(layerCount: model.shape.layerCount,
                                                           tiedEmbeddings: model.shape.tiedEmbeddings), candidates)
        let penalty = try XCTUnwrap(parameters["repetition_penalty"] as? Double)
        let maxNew = try XCTUnwrap(parameters["max_new_tokens"] as? Int)
        let eos = Set(try XCTUnwrap(parameters["eos_token_ids"] as? [Int]))
        let prompts = try XCTUnwrap(doc["prompts"] as? [[String: Any]])
        XCTAssertGreaterThanOrEqual(prompts.count, 4)
        var identical = 0, layerMismatches = 0, worstJSD = 0.0, worstScore: Float = 0
        for prompt in prompts {
            let ids = try XCTUnwrap(prompt["prompt_ids"] as? [Int])
            let expected = try XCTUnwrap(prompt["output_ids"] as? [Int])
            let peerSteps = try XCTUnwrap(prompt["steps"] as? [[String: Any]])
            let (generation, steps) = try DoLa.generateWithSteps(
                model: model, prompt: ids, layers: .high, stopping: StoppingCriteria(maxNewTokens: maxNew, endOfSequenceIDs: eos),
                processors: [RepetitionPenalty(penalty: penalty)], traceTopK: 2)
            for (t, (ours, peer)) in zip(steps, peerSteps).enumerated() where generation.outputIDs.prefix(t) == expected.prefix(t) {
                if ours.prematureLayer != peer["premature_layer"] as! Int { layerMismatches += 1 }
                for (a, b) in zip(ours.jensenShannonDivergences, peer["js_divergences"] as! [Double]) {
                    worstJSD = max(worstJSD, abs(a - b) / max(abs(b), 1e-30))
                }
                if generation.outputIDs[t] == expected[t] {
                    worstScore = max(worstScore, abs(generation.trace[t].logit - Float(peer["score"] as! Double)))
                }
            }
            if let step = zip(generation.outputIDs, expected).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset {
                let peer = peerSteps[step]
                XCTFail("prompt \(ids): first divergence at step \(step): ours \(generation.outputIDs[step]), peer \(expected[step]); "
                        + "peer top-2 score margin \(peer["top2_score_margin"] ?? "?"), ours \(generation.trace[step].topTwoMargin ?? .nan); "
                        + "premature layer peer \(peer["premature_layer"] ?? "?"), ours \(steps[step].prematureLayer)")
            } else if generation.outputIDs.count == expected.count {
                identical += 1
            } else {
                XCTFail("prompt \(ids): ours has \(generation.outputIDs.count) tokens, peer \(expected.count)")
            }
        }
        print("DoLa vs HF 4.52: \(identical)/\(prompts.count) prompts token-identical; premature-layer mismatches \(layerMismatches); "
              + "worst relative JSD difference \(worstJSD); worst chosen-score difference \(worstScore)")
        XCTAssertEqual(layerMismatches, 0)
    }
}

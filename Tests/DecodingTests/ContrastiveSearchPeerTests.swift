import XCTest
import Decoding
import Transformer
import Loader

/// Contrastive search on SmolLM2-135M against Hugging Face transformers 4.52
/// (`generate(penalty_alpha=0.6, top_k=4, max_new_tokens=32)`, Float32, same GGUF), fixtures
/// from Scripts/peer_contrastive.py. Skips when the model file is absent.
final class ContrastiveSearchPeerTests: XCTestCase {
    func testContrastiveSearchIsTokenIdenticalToHuggingFaceOnSmolLM2() throws {
        let model = try ContrastiveDoLaSupport.smolLM2()
        let doc = try ContrastiveDoLaSupport.fixture("contrastive")
        let modelInfo = try XCTUnwrap(doc["model"] as? [String: Any])
        XCTAssertEqual(modelInfo["sha256"] as? String, ModelStore.smolLM2.sha256, "fixtures were made from a different model file")
        let parameters = try XCTUnwrap(doc["parameters"] as? [String: Any])
        let alpha = try XCTUnwrap(parameters["penalty_alpha"] as? Double)
        let k = try XCTUnwrap(parameters["top_k"] as? Int)
        let maxNew = try XCTUnwrap(parameters["max_new_tokens"] as? Int)
        let eos = Set(try XCTUnwrap(parameters["eos_token_ids"] as? [Int]))
        let prompts = try XCTUnwrap(doc["prompts"] as? [[String: Any]])
        XCTAssertGreaterThanOrEqual(prompts.count, 4)
        var identical = 0, worstScoreDifference = 0.0
        for prompt in prompts {
            let ids = try XCTUnwrap(prompt["prompt_ids"] as? [Int])
            let expected = try XCTUnwrap(prompt["output_ids"] as? [Int])
            let peerSteps = try XCTUnwrap(prompt["steps"] as? [[String: Any]])
            let (generation, steps) = try ContrastiveSearch.generateWithSteps(
                model: model, prompt: ids, penaltyAlpha: alpha, topK: k,
                stopping: StoppingCriteria(maxNewTokens: maxNew, endOfSequenceIDs: eos), traceTopK: 2)
            for (t, (ours, peer)) in zip(steps, peerSteps).enumerated() where generation.outputIDs.prefix(t) == expected.prefix(t) {
                let peerScores = peer["scores"] as! [Double]
                if ours.candidates.map(\.id) == peer["candidates"] as! [Int] {
                    for (a, b) in zip(ours.candidates.map(\.score), peerScores) { worstScoreDifference = max(worstScoreDifference, abs(a - b)) }
                }
            }
            if let step = zip(generation.outputIDs, expected).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset {
                let peer = peerSteps[step]
                XCTFail("prompt \(ids): first divergence at step \(step): ours \(generation.outputIDs[step]), peer \(expected[step]); "
                        + "peer top-2 score margin \(peer["top2_score_margin"] ?? "?"), ours \(steps[step].topTwoScoreMargin ?? .nan); "
                        + "peer candidates \(peer["candidates"] ?? "?") scores \(peer["scores"] ?? "?"), "
                        + "ours \(steps[step].candidates.map(\.id)) scores \(steps[step].candidates.map(\.score))")
            } else if generation.outputIDs.count == expected.count {
                identical += 1
            } else {
                XCTFail("prompt \(ids): ours has \(generation.outputIDs.count) tokens, peer \(expected.count)")
            }
        }
        print("contrastive search vs HF 4.52: \(identical)/\(prompts.count) prompts token-identical; worst |score − peer score| \(worstScoreDifference)")
        // The scores inherit the logits' agreement (~1e-4, within the 2e-3 target) through p.
        XCTAssertLessThan(worstScoreDifference, 1e-3)
    }
}

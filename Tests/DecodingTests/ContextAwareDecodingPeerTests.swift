import XCTest
import Decoding
import Tokenization
import Transformer
import Loader

/// CAD greedy on SmolLM2-135M against the independent peer (Scripts/peer_cad.py: Hugging Face
/// transformers, two DynamicCaches, `(1+α)·l_ctx − α·l_null` on raw Float32 logits, argmax),
/// held-out evidence/query pairs at α 0.5 and 1.0. Skips when the model file is absent.
final class ContextAwareDecodingPeerTests: XCTestCase {
    func testCADGreedyIsTokenIdenticalToThePeerOnHeldOutPairs() throws {
        let loaded = try SmolLM2TestModel.load()
        let doc = try ContrastiveDoLaSupport.fixture("cad")
        let modelInfo = try XCTUnwrap(doc["model"] as? [String: Any])
        XCTAssertEqual(modelInfo["sha256"] as? String, ModelStore.smolLM2.sha256, "fixtures were made from a different model file")
        let parameters = try XCTUnwrap(doc["parameters"] as? [String: Any])
        let maxNew = try XCTUnwrap(parameters["max_new_tokens"] as? Int)
        let eos = Set(try XCTUnwrap(parameters["eos_token_ids"] as? [Int]))
        let cases = try XCTUnwrap(doc["cases"] as? [[String: Any]])
        XCTAssertGreaterThanOrEqual(cases.count, 8)
        let tokenizer = try XCTUnwrap(loaded.tokenizer)
        var alphas = Set<Double>()
        for entry in cases {
            let contextStream = try XCTUnwrap(entry["context_stream_ids"] as? [Int])
            let nullStream = try XCTUnwrap(entry["null_stream_ids"] as? [Int])
            let expected = try XCTUnwrap(entry["output_ids"] as? [Int])
            let alpha = try XCTUnwrap(entry["alpha"] as? Double)
            let evidence = try XCTUnwrap(entry["context"] as? String), query = try XCTUnwrap(entry["query"] as? String)
            alphas.insert(alpha)
            // Touchstone's own streams equal the peer's (its tokenizer and chat template, the
            // evidence placed as the CLI places it).
            let placed: (ids: [Int], position: Int)
            if entry["chat"] as? Bool == true {
                func encode(_ user: String) -> [Int] {
                    tokenizer.encode(ChatTemplate.chatML.apply(messages: [(role: "user", content: user)], addGenerationPrompt: true))
                }
                XCTAssertEqual(encode(query), nullStream)
                placed = try ContextAwareDecoding.placeEvidence(contextStream: encode(ContextAwareDecoding.userTurn(evidence: evidence, query: query)),
                                                                nullStream: nullStream)
            } else {
                XCTAssertEqual(tokenizer.encode(query), nullStream)
                placed = (tokenizer.encode(evidence), 0)
            }
            let strategy = try ContextAwareDecoding.Strategy(contextIDs: placed.ids, position: placed.position, alpha: alpha)
            XCTAssertEqual(try strategy.contextStream(prompt: nullStream), contextStream, "context stream of \(evidence.debugDescription)")
            let generation = try strategy.generate(model: loaded.model, prompt: nullStream,
                                                   stopping: StoppingCriteria(maxNewTokens: maxNew, endOfSequenceIDs: eos), traceTopK: 2).generation
            if let t = zip(generation.outputIDs, expected).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset {
                let steps = entry["steps"] as? [[String: Any]]
                XCTFail("α \(alpha) \(query.debugDescription): first divergence at step \(t): ours \(generation.outputIDs[t]), peer \(expected[t]); "
                        + "peer top-2 margin \(steps?[t]["top2_score_margin"] ?? "?"), ours \(generation.trace[t].topTwoMargin ?? .nan)")
            } else {
                XCTAssertEqual(generation.outputIDs, expected, "α \(alpha) \(query.debugDescription)")
            }
        }
        XCTAssertEqual(alphas, [0.5, 1.0])
        print("CAD vs peer: \(cases.count) runs compared")
    }
}

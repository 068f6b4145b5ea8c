import XCTest
import Decoding
import Transformer
import Loader

/// Contrastive decoding on SmolLM2-135M with a truncated-layer amateur against an independent
/// PyTorch implementation (Scripts/peer_contrastive_decoding.py: Hugging Face transformers,
/// Float32, same GGUF, no KV caches), both modes, held-out prompts. Skips when the model file is
/// absent.
final class ContrastiveDecodingPeerTests: XCTestCase {
    func testBothModesAreTokenIdenticalToThePyTorchPeerOnSmolLM2() throws {
        let model = try SmolLM2TestModel.load().model
        let doc = try ContrastiveDoLaSupport.fixture("contrastive-decoding")
        let modelInfo = try XCTUnwrap(doc["model"] as? [String: Any])
        XCTAssertEqual(modelInfo["sha256"] as? String, ModelStore.smolLM2.sha256, "fixtures were made from a different model file")
        let maxNew = try XCTUnwrap(doc["max_new_tokens"] as? Int)
        let cases = try XCTUnwrap(doc["cases"] as? [[String: Any]])
        XCTAssertGreaterThanOrEqual(cases.count, 8)
        var modes = Set<String>()
        for c in cases {
            let p = try XCTUnwrap(c["parameters"] as? [String: Any])
            let mode = try XCTUnwrap(ContrastiveDecoding.Mode(rawValue: try XCTUnwrap(p["cd_mode"] as? String)))
            modes.insert(mode.rawValue)
            let parameters = ContrastiveDecoding.Parameters(
                mode: mode, numBeams: p["num_beams"] as? Int ?? 5, alpha: try XCTUnwrap(p["cd_alpha"] as? Double),
                beta: try XCTUnwrap(p["cd_beta"] as? Double), amateurTemperature: try XCTUnwrap(p["amateur_temperature"] as? Double),
                ignorePrefix: (p["ignore_prefix"] as? String) == "yes")
            let prompt = try XCTUnwrap(c["prompt_ids"] as? [Int])
            let expected = try XCTUnwrap(c["output_ids"] as? [Int])
            let run = try ContrastiveDecoding.generate(expert: model, amateur: .layers(try XCTUnwrap(p["amateur_layers"] as? Int)), prompt: prompt,
                                                       parameters: parameters, stopping: StoppingCriteria(maxNewTokens: maxNew, endOfSequenceIDs: []))
            let ours = run.generation.outputIDs
            if let step = zip(ours, expected).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset {
                let margins = c["step_margins"] as? [Any] ?? []
                XCTFail("\(mode) prompt \(prompt): first divergence at step \(step): ours \(ours[step]), peer \(expected[step]); "
                        + "peer margin there \(step < margins.count ? "\(margins[step])" : "?")")
            }
            XCTAssertEqual(ours.count, expected.count)
        }
        XCTAssertEqual(modes, ["code", "logit"])
    }
}

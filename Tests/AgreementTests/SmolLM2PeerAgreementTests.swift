import Foundation
import XCTest
import Decoding
import Formats
import Tensors
import Transformer
import Loader

/// Agreement with the independent peer (Hugging Face transformers, Float32) on SmolLM2-135M:
/// fixtures made by Scripts/peer_smollm2.py from the same GGUF. CI fetches the model first;
/// locally the tests skip when it is absent.
final class SmolLM2PeerAgreementTests: XCTestCase {
    static let fixtureDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/peer/smollm2")

    struct Prompt {
        let ids: [Int]
        let logitsFile: String
        let greedy: [Int]
        let margins: [Double]
    }

    static func loadReference() throws -> (vocab: Int, prompts: [Prompt], sha256: String) {
        let data = try Data(contentsOf: fixtureDirectory.appendingPathComponent("reference.json"))
        let doc = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        let vocab = try XCTUnwrap(doc["vocab_size"] as? Int)
        let model = try XCTUnwrap(doc["model"] as? [String: Any])
        let prompts = try XCTUnwrap(doc["prompts"] as? [[String: Any]]).map { p in
            Prompt(ids: p["prompt_ids"] as! [Int], logitsFile: p["logits_file"] as! String,
                   greedy: p["greedy_output_ids"] as! [Int], margins: p["greedy_top2_margins"] as! [Double])
        }
        return (vocab, prompts, model["sha256"] as! String)
    }

    static func modelPath() throws -> String {
        let path = ProcessInfo.processInfo.environment["TOUCHSTONE_MODEL"] ?? ModelStore.cachedPath(of: ModelStore.smolLM2)
        guard FileManager.default.fileExists(atPath: path) else {
            throw XCTSkip("SmolLM2 GGUF not found at \(path); run `touchstone fetch` (CI does)")
        }
        return path
    }

    nonisolated(unsafe) static var cachedModel: LlamaModel?
    static func model() throws -> LlamaModel {
        if let m = cachedModel { return m }
        let m = try LlamaModel(gguf: try GGUFFile(path: try modelPath()))
        cachedModel = m
        return m
    }

    func testEveryPromptPositionsLogitsAreWithin2e3OfThePeer() throws {
        let model = try Self.model()
        let reference = try Self.loadReference()
        XCTAssertEqual(reference.sha256, ModelStore.smolLM2.sha256, "fixtures were made from a different model file")
        XCTAssertEqual(reference.vocab, model.shape.vocabularySize)
        XCTAssertGreaterThanOrEqual(reference.prompts.count, 5)
        var worst: Float = 0
        for prompt in reference.prompts {
            let peer = try Data(contentsOf: Self.fixtureDirectory.appendingPathComponent(prompt.logitsFile))
            XCTAssertEqual(peer.count, prompt.ids.count * reference.vocab * 4)
            let peerLogits = peer.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            let cache = KVCache(shape: model.shape)
            let ours = try model.forward(tokens: prompt.ids, cache: cache, logitRows: .all)
            XCTAssertEqual(ours.logits.count, peerLogits.count)
            for row in 0..<prompt.ids.count {
                var maxDiff: Float = 0
                for v in 0..<reference.vocab {
                    let d = abs(ours.logits[row * reference.vocab + v] - peerLogits[row * reference.vocab + v])
                    if !(d <= maxDiff) { maxDiff = d }  // NaN propagates as a failure
                }
                XCTAssertLessThanOrEqual(maxDiff, 2e-3, "prompt \(prompt.ids) position \(row)")
                worst = max(worst, maxDiff)
            }
        }
        print("SmolLM2 peer agreement: worst max-abs logit difference \(worst)")
    }

    func testGreedyContinuationsOf64TokensMatchThePeer() throws {
        let model = try Self.model()
        let reference = try Self.loadReference()
        for prompt in reference.prompts {
            let generation = try GreedyDecoding.generate(model: model, prompt: prompt.ids,
                                                         stopping: StoppingCriteria(maxNewTokens: prompt.greedy.count), traceTopK: 2)
            if let first = zip(generation.outputIDs, prompt.greedy).enumerated().first(where: { $0.element.0 != $0.element.1 }) {
                let step = first.offset
                XCTFail("prompt \(prompt.ids): first divergence at step \(step): ours \(generation.outputIDs[step]), peer \(prompt.greedy[step]), peer top-2 margin \(prompt.margins[step])")
            }
            XCTAssertEqual(generation.outputIDs.count, prompt.greedy.count)
        }
    }
}

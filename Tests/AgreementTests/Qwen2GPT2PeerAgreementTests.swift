import Foundation
import XCTest
import Tensors
import Transformer
import Loader

/// The synthetic Qwen2 and GPT-2 models (`Fixtures/models/tiny-qwen2`, `tiny-gpt2`) against the
/// independent peer: Hugging Face transformers (`Qwen2ForCausalLM`, `GPT2LMHeadModel`, Float32,
/// eager attention) on the same committed files, fixtures made by Scripts/peer_qwen2_gpt2.py.
/// Both of Touchstone's loaders are checked: the safetensors directory and the GGUF file.
final class Qwen2GPT2PeerAgreementTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let fixtureDirectory = root.appendingPathComponent("Fixtures/peer/qwen2-gpt2")

    struct Prompt {
        let ids: [Int]
        /// The peer's logits of every position, `[ids.count, V]`.
        let logits: [Float]
        let greedy: [Int]
        let margins: [Double]
    }

    struct PeerModel {
        let name: String
        let vocab: Int
        let ggufAgainstSafetensors: Double
        let prompts: [Prompt]
    }

    static func loadReference() throws -> [PeerModel] {
        let data = try Data(contentsOf: fixtureDirectory.appendingPathComponent("reference.json"))
        let doc = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        return try XCTUnwrap(doc["models"] as? [[String: Any]]).map { m in
            let vocab = try XCTUnwrap(m["vocab_size"] as? Int)
            let prompts = try XCTUnwrap(m["prompts"] as? [[String: Any]]).map { p -> Prompt in
                let ids = try XCTUnwrap(p["ids"] as? [Int])
                let bytes = try Data(contentsOf: fixtureDirectory.appendingPathComponent(try XCTUnwrap(p["logits_file"] as? String)))
                XCTAssertEqual(bytes.count, ids.count * vocab * 4)
                let logits = bytes.withUnsafeBytes { raw in
                    (0..<(bytes.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
                }
                return Prompt(ids: ids, logits: logits, greedy: try XCTUnwrap(p["greedy_output_ids"] as? [Int]),
                              margins: try XCTUnwrap(p["greedy_top2_margins"] as? [Double]))
            }
            return PeerModel(name: try XCTUnwrap(m["name"] as? String), vocab: vocab,
                             ggufAgainstSafetensors: try XCTUnwrap(m["gguf_vs_safetensors_max_abs"] as? Double), prompts: prompts)
        }
    }

    /// The model of `name` from its safetensors directory and from its GGUF file.
    static func loads(_ name: String) throws -> [(label: String, model: any CausalLanguageModel)] {
        let directory = root.appendingPathComponent("Fixtures/models/\(name)").path
        return [("safetensors", try ModelStore.load(path: directory).model), ("gguf", try ModelStore.load(path: directory + "/model.gguf").model)]
    }

    func testLogitsOfEveryPositionAgreeWithThePeerWithin1e4() throws {
        let reference = try Self.loadReference()
        XCTAssertEqual(reference.map(\.name), SyntheticArchitectures.names)
        for peer in reference {
            XCTAssertLessThan(peer.ggufAgainstSafetensors, 1e-4, "the peer's own GGUF load disagrees with its safetensors load: a layout error in the GGUF")
            for (label, model) in try Self.loads(peer.name) {
                XCTAssertEqual(model.shape.vocabularySize, peer.vocab)
                var worst: Float = 0, range: Float = 0, positions = 0
                for prompt in peer.prompts {
                    let ours = try model.forward(tokens: prompt.ids, cache: model.makeCache(), logitRows: .all).logits
                    XCTAssertEqual(ours.count, prompt.logits.count)
                    worst = max(worst, zip(ours, prompt.logits).reduce(0) { max($0, abs($1.0 - $1.1)) })
                    range = max(range, prompt.logits.map(abs).max() ?? 0)
                    positions += prompt.ids.count
                }
                print("peer agreement \(peer.name) (\(label)): max |Δlogit| \(worst) over \(positions) positions × \(peer.vocab) logits (largest |logit| \(range))")
                XCTAssertLessThanOrEqual(worst, 1e-4, "\(peer.name) \(label)")
                XCTAssertGreaterThan(range, 1, "logits of a few units at least, so 1e-4 is a real bound")
            }
        }
    }

    func testGreedyContinuationsEqualThePeers() throws {
        for peer in try Self.loadReference() {
            for (label, model) in try Self.loads(peer.name) {
                for prompt in peer.prompts {
                    let cache = model.makeCache()
                    var logits = try model.forward(tokens: prompt.ids, cache: cache).logits
                    var out: [Int] = []
                    for step in 0..<prompt.greedy.count {
                        let next = logits.withUnsafeBufferPointer { Kernels.argmax($0.baseAddress!, count: $0.count) }
                        out.append(next)
                        if step + 1 < prompt.greedy.count { logits = try model.forward(tokens: [next], cache: cache).logits }
                    }
                    XCTAssertEqual(out, prompt.greedy, "\(peer.name) \(label) prompt \(prompt.ids.prefix(6)); smallest peer top-2 margin \(prompt.margins.min() ?? 0)")
                }
            }
        }
    }
}

import Foundation
import XCTest
import Tensors
import Transformer
import Loader
import Formats

/// TidalDecode against an independent implementation: Scripts/peer_tidal.py writes the spec's
/// masked reference in PyTorch (Hugging Face transformers' Llama with its attention replaced) and
/// decodes greedily on SmolLM2-135M-Instruct; Touchstone must produce the same tokens for cases
/// where the peer's TidalDecode output differs from its full-attention output (so the check cannot
/// pass by ignoring the mode; Touchstone's full-attention greedy agreement is SmolLM2PeerAgreementTests').
/// Skips when the model is absent.
final class TidalPeerAgreementTests: XCTestCase {
    static let fixture = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/peer/tidal/tidal.json")

    struct Case {
        let name: String, prompt: [Int], K: Int, s: Int, r: Int, output: [Int], fullOutput: [Int]
    }

    func testGreedyTokensEqualThePeerMaskedReferenceWhereTheyDifferFromFullAttention() throws {
        let data = try Data(contentsOf: Self.fixture)
        let doc = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        let cases = try XCTUnwrap(doc["cases"] as? [[String: Any]]).map { c in
            Case(name: c["name"] as! String, prompt: c["prompt_ids"] as! [Int], K: c["token_budget"] as! Int,
                 s: c["selection_layer"] as! Int, r: c["reselection_layer"] as! Int,
                 output: c["output_ids"] as! [Int], fullOutput: c["full_attention_output_ids"] as! [Int])
        }
        XCTAssertGreaterThanOrEqual(cases.count, 2)
        let sha = try XCTUnwrap((doc["model"] as? [String: Any])?["sha256"] as? String)
        XCTAssertEqual(sha, ModelStore.smolLM2.sha256)
        let model = try SmolLM2PeerAgreementTests.model()
        defer { model.attentionMode = .full }
        func greedy(_ prompt: [Int], _ count: Int) throws -> [Int] {
            let cache = model.makeCache(initialCapacity: prompt.count + count)
            var logits = try model.forward(tokens: prompt, cache: cache).logits
            var out: [Int] = []
            while true {
                out.append(logits.withUnsafeBufferPointer { Kernels.argmax($0.baseAddress!, count: $0.count) })
                if out.count == count { return out }
                logits = try model.forward(tokens: [out.last!], cache: cache).logits
            }
        }
        // The gathered fast path on every case, the masked reference on the first (the two are
        // bit-identical, TidalDecodeTests), to keep the test short.
        for (i, c) in cases.enumerated() {
            XCTAssertNotEqual(c.output, c.fullOutput, "\(c.name): the peer case does not exercise the mode")
            for path in i == 0 ? [TidalDecode.Path.gathered, .masked] : [.gathered] {
                model.attentionMode = .tidal(TidalDecode(tokenBudget: c.K, selectionLayer: c.s, reselectionLayer: c.r, path: path))
                XCTAssertEqual(try greedy(c.prompt, c.output.count), c.output, "\(c.name): TidalDecode K \(c.K), \(path)")
            }
        }
    }
}

import Foundation
import XCTest

/// `logits`, `generate`, `distribution` and `bench` on the synthetic Qwen2 and GPT-2 models, from
/// their safetensors directories and their GGUF files, through the release executable. Logits and
/// greedy ids are compared with the peer's fixtures (Fixtures/peer/qwen2-gpt2, Hugging Face
/// transformers), not with Touchstone's own output.
final class Qwen2GPT2CommandTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let prompt = [1, 45, 300, 2, 99, 383]  // the peer's prompt 1

    func run(_ arguments: [String]) throws -> CommandLineTests.Run {
        guard FileManager.default.isExecutableFile(atPath: CommandLineTests.executable.path) else {
            throw XCTSkip("touchstone executable not found beside the test bundle")
        }
        return try CommandLineTests.runProcess(CommandLineTests.executable, arguments)
    }

    /// Each model as `--model` values: the directory and its GGUF.
    static func models() -> [(name: String, paths: [String])] {
        ["tiny-qwen2", "tiny-gpt2"].map { name in
            let d = root.appendingPathComponent("Fixtures/models/\(name)").path
            return (name, [d, d + "/model.gguf"])
        }
    }

    static func peer(_ name: String) throws -> (logits: [Float], greedy: [Int]) {
        let peer = root.appendingPathComponent("Fixtures/peer/qwen2-gpt2")
        let doc = try XCTUnwrap(JSONSerialization.jsonObject(with: try Data(contentsOf: peer.appendingPathComponent("reference.json"))) as? [String: Any])
        let model = try XCTUnwrap((doc["models"] as? [[String: Any]])?.first { $0["name"] as? String == name })
        let p = try XCTUnwrap((model["prompts"] as? [[String: Any]])?.first { $0["ids"] as? [Int] == prompt })
        let bytes = try Data(contentsOf: peer.appendingPathComponent(try XCTUnwrap(p["logits_file"] as? String)))
        return (floats(bytes), try XCTUnwrap(p["greedy_output_ids"] as? [Int]))
    }

    static func floats(_ bytes: Data) -> [Float] {
        bytes.withUnsafeBytes { raw in (0..<(bytes.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) } }
    }

    func testLogitsOfEveryPositionAgreeWithThePeer() throws {
        for (name, paths) in Self.models() {
            let expected = try Self.peer(name).logits
            for path in paths {
                let out = NSTemporaryDirectory() + "touchstone-logits-\(UUID().uuidString).f32"
                defer { try? FileManager.default.removeItem(atPath: out) }
                let r = try run(["logits", "--model", path, "--prompt-ids", Self.prompt.map(String.init).joined(separator: ","), "--out", out, "--threads", "2"])
                XCTAssertEqual(r.status, 0, r.stderr)
                let ours = Self.floats(try Data(contentsOf: URL(fileURLWithPath: out)))
                XCTAssertEqual(ours.count, expected.count, path)
                XCTAssertLessThanOrEqual(zip(ours, expected).map { abs($0 - $1) }.max() ?? .infinity, 1e-4, path)
            }
        }
    }

    func testGreedyGenerateGivesThePeersIDsAndDistributionAndBenchRun() throws {
        let ids = Self.prompt.map(String.init).joined(separator: ",")
        for (name, paths) in Self.models() {
            let greedy = try Self.peer(name).greedy
            for path in paths {
                let g = try run(["generate", "--model", path, "--prompt-ids", ids, "--max-new-tokens", "\(greedy.count)", "--json"])
                XCTAssertEqual(g.status, 0, g.stderr)
                let doc = try XCTUnwrap(JSONSerialization.jsonObject(with: g.stdoutData) as? [String: Any])
                XCTAssertEqual(doc["output_ids"] as? [Int], greedy, path)

                let d = try run(["distribution", "--model", path, "--prompt-ids", ids, "--temperature", "0.8", "--top-k", "5", "--json"])
                XCTAssertEqual(d.status, 0, d.stderr)
                let dist = try XCTUnwrap(JSONSerialization.jsonObject(with: d.stdoutData) as? [String: Any])
                XCTAssertEqual(dist["support_size"] as? Int, 5, path)
                let top = try XCTUnwrap(dist["top"] as? [[Double]])
                XCTAssertEqual(Int(top[0][0]), greedy[0], "the most probable token is greedy's first")
                XCTAssertEqual(top.map { $0[1] }.reduce(0, +), 1, accuracy: 1e-5)

                let b = try run(["bench", "--model", path, "--runs", "1", "--prompt-length", "8", "--decode-tokens", "4", "--no-naive", "--json"])
                XCTAssertEqual(b.status, 0, b.stderr)
                XCTAssertNotNil(try JSONSerialization.jsonObject(with: b.stdoutData) as? [String: Any], b.stdout)
            }
        }
    }
}

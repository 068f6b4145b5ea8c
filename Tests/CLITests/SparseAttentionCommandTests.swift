import Foundation
import XCTest

/// `--sparse-attention tidal` on the command line (tiny-a: 2 layers, so the scaled defaults are
/// s = 0, r = 1, which leave no restricted layer; the tests give r = 0, making layer 1 sparse): usage errors that say what to change, the JSON record naming the mode only
/// when it is on, and `logits`' last row as a decoding step.
final class SparseAttentionCommandTests: XCTestCase {
    var tinyModel: String { CommandLineTests.root.appendingPathComponent("Fixtures/models/tiny-a").path }

    func run(_ arguments: [String]) throws -> CommandLineTests.Run {
        let exe = CommandLineTests.executable
        guard FileManager.default.isExecutableFile(atPath: exe.path) else { throw XCTSkip("touchstone executable not found beside the test bundle") }
        guard FileManager.default.fileExists(atPath: tinyModel + "/model.safetensors") else { throw XCTSkip("tiny-a fixture missing") }
        return try CommandLineTests.runProcess(exe, arguments)
    }

    func json(_ r: CommandLineTests.Run) throws -> [String: Any] {
        XCTAssertEqual(r.status, 0, r.stderr)
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: r.stdoutData) as? [String: Any], r.stdout)
    }

    func testBadSparseAttentionOptionsAreUsageErrorsThatSayWhatToChange() throws {
        let generate = ["generate", "--model", tinyModel, "--prompt-ids", "1,2,3", "--max-new-tokens", "2"]
        let logits = ["logits", "--model", tinyModel, "--prompt-ids", "1,2,3", "--out", NSTemporaryDirectory() + "tidal-logits.bin"]
        for base in [generate, logits] {
            for (extra, message) in [(["--sparse-attention", "tidal", "--token-budget", "0"], "token budget must be at least 1, got 0"),
                                     (["--sparse-attention", "tidal", "--selection-layer", "2"], "selection layer 2 is not a layer of this model: use 0...1"),
                                     (["--sparse-attention", "tidal", "--reselection-layer", "-1"], "re-selection layer -1 is not a layer of this model"),
                                     (["--sparse-attention", "quest"], "unknown --sparse-attention 'quest'; available: tidal"),
                                     (["--token-budget", "8"], "--token-budget needs --sparse-attention tidal"),
                                     (["--sparse-attention", "tidal", "--token-budget", "many"], "--token-budget must be an integer")] {
                let r = try run(base + extra)
                XCTAssertEqual(r.status, 2, "\(extra): \(r.stderr)")
                XCTAssertTrue(r.stderr.contains(message), "\(extra): \(r.stderr)")
                XCTAssertFalse(r.stderr.contains("Fatal error"), r.stderr)
            }
        }
    }

    func testGenerateRecordNamesSparseAttentionOnlyWhenItIsOn() throws {
        let base = ["generate", "--model", tinyModel, "--prompt-ids", "5,6,7,8,9,10,11,12", "--max-new-tokens", "8", "--ignore-eos", "--json"]
        let full = try json(try run(base))
        let fullStats = try XCTUnwrap(full["stats"] as? [String: Any])
        for key in ["sparse_attention", "token_budget", "selection_layer", "reselection_layer"] { XCTAssertNil(fullStats[key], key) }
        let sparse = try json(try run(base + ["--sparse-attention", "tidal", "--token-budget", "2", "--reselection-layer", "0"]))
        let stats = try XCTUnwrap(sparse["stats"] as? [String: Any])
        XCTAssertEqual(stats["sparse_attention"] as? String, "tidal")
        XCTAssertEqual(stats["token_budget"] as? Int, 2)
        XCTAssertEqual(stats["selection_layer"] as? Int, 0)
        XCTAssertEqual(stats["reselection_layer"] as? Int, 0)
        // A budget covering the whole sequence (8 + 8 positions) is full attention, token for token.
        let covering = try json(try run(base + ["--sparse-attention", "tidal", "--token-budget", "16", "--reselection-layer", "0"]))
        XCTAssertEqual(covering["output_ids"] as? [Int], full["output_ids"] as? [Int])
        // Speculative verification passes select per row: greedy speculative equals greedy under the mode.
        let speculative = try json(try run(base + ["--sparse-attention", "tidal", "--token-budget", "2", "--reselection-layer", "0",
                                                   "--strategy", "speculative", "--draft-layers", "1"]))
        XCTAssertEqual(speculative["output_ids"] as? [Int], sparse["output_ids"] as? [Int])
    }

    func testLogitsLastRowIsADecodingStepUnderSparseAttention() throws {
        let dir = NSTemporaryDirectory()
        let prompt = "5,6,7,8,9,10,11,12,13,14"
        func logits(_ extra: [String], _ file: String) throws -> (doc: [String: Any], values: [Float]) {
            let r = try run(["logits", "--model", tinyModel, "--prompt-ids", prompt, "--out", dir + file, "--json"] + extra)
            let doc = try json(r)
            let data = try Data(contentsOf: URL(fileURLWithPath: dir + file))
            return (doc, data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) })
        }
        let full = try logits([], "tidal-full.bin")
        let sparse = try logits(["--sparse-attention", "tidal", "--token-budget", "1", "--reselection-layer", "0"], "tidal-sparse.bin")
        XCTAssertNil(full.doc["sparse_attention"])
        XCTAssertEqual(sparse.doc["sparse_attention"] as? String, "tidal")
        XCTAssertEqual(sparse.doc["token_budget"] as? Int, 1)
        let vocab = try XCTUnwrap(full.doc["vocab_size"] as? Int), n = 10
        XCTAssertEqual(full.values.count, n * vocab)
        XCTAssertEqual(Array(sparse.values.prefix((n - 1) * vocab)), Array(full.values.prefix((n - 1) * vocab)), "prefill rows attend fully")
        XCTAssertNotEqual(Array(sparse.values.suffix(vocab)), Array(full.values.suffix(vocab)), "K = 1 leaves the last row unchanged")
    }
}

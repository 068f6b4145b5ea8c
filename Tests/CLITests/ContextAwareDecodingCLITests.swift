import Foundation
import XCTest

/// `generate --strategy cad` and `--strategy dola --seed` on the command line: the evidence
/// options' errors, and what a run records.
final class ContextAwareDecodingCLITests: XCTestCase {
    private func run(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let exe = CommandLineTests.executable
        guard FileManager.default.isExecutableFile(atPath: exe.path) else { throw XCTSkip("touchstone executable not found beside the test bundle") }
        let model = CommandLineTests.root.appendingPathComponent("Fixtures/models/tiny-a").path
        guard FileManager.default.fileExists(atPath: model + "/model.safetensors") else { throw XCTSkip("tiny-a fixture missing") }
        let r = try CommandLineTests.runProcess(exe, ["generate", "--model", model] + arguments, environment: ProcessInfo.processInfo.environment)
        return (r.status, r.stdout, r.stderr)
    }

    func testEvidenceOptionsAreCheckedWithMessagesThatSayWhatToGive() throws {
        let cases: [([String], String)] = [
            (["--strategy", "cad", "--prompt-ids", "1,2"], "give --context TEXT or --context-ids"),
            (["--strategy", "cad", "--prompt-ids", "1,2", "--context", "a", "--context-ids", "3"], "not both"),
            (["--strategy", "cad", "--prompt-ids", "1,2", "--context-ids", "3", "--cad-alpha", "-0.5"], "--cad-alpha must be in"),
            (["--strategy", "cad", "--prompt-ids", "1,2", "--context-ids", "3", "--cad-alpha", "big"], "--cad-alpha must be a number"),
            (["--strategy", "cad", "--prompt-ids", "1,2", "--context-ids", "3", "--temperature", "0.5"], "add --seed N"),
            (["--strategy", "greedy", "--prompt-ids", "1,2", "--context-ids", "3"], "--context-ids does not apply to --strategy greedy"),
            (["--strategy", "dola", "--prompt-ids", "1,2", "--top-p", "0.9"], "add --seed N"),
            (["--strategy", "cad", "--prompt-ids", "1,2", "--context", "some text"], "give the evidence as --context-ids"),
        ]
        for (arguments, message) in cases {
            let r = try run(arguments)
            XCTAssertNotEqual(r.status, 0, "\(arguments)")
            XCTAssertTrue(r.stderr.contains(message), "\(arguments): \(r.stderr)")
        }
    }

    func testACADRunRecordsTheEvidenceAlphaModeAndNoSeedWhenGreedy() throws {
        let r = try run(["--strategy", "cad", "--prompt-ids", "1,2,3", "--context-ids", "4,5", "--cad-alpha", "1", "--max-new-tokens", "3", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let doc = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let stats = try XCTUnwrap(doc["stats"] as? [String: Any])
        XCTAssertEqual(stats["context_ids"] as? String, "4,5")
        XCTAssertEqual(stats["cad_alpha"] as? Double, 1)
        XCTAssertEqual(stats["cad_mode"] as? String, "standard")
        XCTAssertNil(stats["seed"])
        XCTAssertNil(stats["rng"])
        XCTAssertEqual((doc["output_ids"] as? [Int])?.count, 3)
        let sampled = try run(["--strategy", "cad", "--prompt-ids", "1,2,3", "--context-ids", "4,5", "--seed", "7", "--top-k", "5", "--max-new-tokens", "3", "--json"])
        XCTAssertEqual(sampled.status, 0, sampled.stderr)
        let s = try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(sampled.stdout.utf8)) as? [String: Any])?["stats"] as? [String: Any])
        XCTAssertEqual(s["seed"] as? Int, 7)
        XCTAssertEqual(s["top_k"] as? Int, 5)
        XCTAssertNotNil(s["rng"])
    }
}

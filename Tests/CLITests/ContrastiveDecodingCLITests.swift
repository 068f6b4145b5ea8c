import Foundation
import XCTest

/// `generate --strategy contrastive-decoding` / `lol` from the command line: the amateur options'
/// errors (usage errors naming the option), the default amateur, and a JSON record of the run.
final class ContrastiveDecodingCLITests: XCTestCase {
    var tinyModel: String { CommandLineTests.root.appendingPathComponent("Fixtures/models/tiny-a").path }

    func run(_ arguments: [String]) throws -> CommandLineTests.Run {
        let exe = CommandLineTests.executable
        guard FileManager.default.isExecutableFile(atPath: exe.path) else { throw XCTSkip("touchstone executable not found beside the test bundle") }
        guard FileManager.default.fileExists(atPath: tinyModel + "/model.safetensors") else { throw XCTSkip("tiny-a fixture missing") }
        return try CommandLineTests.runProcess(exe, arguments)
    }

    func assertUsageError(_ extra: [String], mentions message: String, model: String? = nil, file: StaticString = #filePath, line: UInt = #line) throws {
        let r = try run(["generate", "--model", model ?? tinyModel, "--prompt-ids", "1,2,3", "--max-new-tokens", "2"] + extra)
        XCTAssertEqual(r.status, 2, r.stderr, file: file, line: line)
        XCTAssertTrue(r.stderr.contains(message), r.stderr, file: file, line: line)
    }

    func testAmateurOptionErrorsAreUsageErrorsThatNameTheOption() throws {
        try assertUsageError(["--strategy", "contrastive-decoding", "--amateur-layers", "1", "--amateur-model", tinyModel], mentions: "not both")
        try assertUsageError(["--strategy", "contrastive-decoding", "--amateur-layers", "99"], mentions: "--amateur-layers must be in 1...")
        try assertUsageError(["--strategy", "contrastive-decoding", "--cd-mode", "logit", "--num-beams", "3"], mentions: "--num-beams")
        try assertUsageError(["--strategy", "lol", "--lower-layer", "99"], mentions: "--lower-layer must be in 1...")
        try assertUsageError(["--strategy", "beam", "--amateur-layers", "1"], mentions: "--amateur-layers does not apply")
    }

    func testAnAmateurWithoutTheExpertsTokenizerIsRefused() throws {
        let smol = try CommandLineTests.fetchedSmolLM2()
        try assertUsageError(["--strategy", "contrastive-decoding", "--amateur-model", tinyModel], mentions: "tokenizer", model: smol)
    }

    func testDefaultAmateurRunsAndTheJSONRecordsEveryParameter() throws {
        let r = try run(["generate", "--model", tinyModel, "--prompt-ids", "1,2,3", "--max-new-tokens", "3", "--ignore-eos", "--json",
                         "--strategy", "contrastive-decoding"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let doc = try XCTUnwrap(JSONSerialization.jsonObject(with: r.stdoutData) as? [String: Any])
        let stats = try XCTUnwrap(doc["stats"] as? [String: Any])
        for key in ["cd_mode", "amateur_layers", "num_beams", "cd_alpha", "cd_beta", "amateur_temperature", "ignore_prefix", "amateur_layer_count"] {
            XCTAssertNotNil(stats[key], "missing \(key)")
        }
        XCTAssertEqual(stats["amateur_layers"] as? String, "half")
        XCTAssertEqual((doc["output_ids"] as? [Int])?.count, 3)
    }
}

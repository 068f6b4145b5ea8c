import Foundation
import XCTest

/// `touchstone activations` and `touchstone explain`, black-box.
extension CommandLineTests {
    func temporaryPath(_ tag: String) -> String { NSTemporaryDirectory() + "touchstone-cli-\(tag)-\(UUID().uuidString)" }

    func testActivationsThenExplainOfTheSameModelIsBitIdenticalAndOfAWrongRoPEBaseNamesQ() throws {
        let reference = temporaryPath("ref"), candidate = temporaryPath("cand"), faultyModel = temporaryPath("model")
        defer { for p in [reference, candidate, faultyModel] { try? FileManager.default.removeItem(atPath: p) } }
        let dump = try run(["activations", "--model", tinyModel, "--prompt-ids", "5,17,300,42,9", "--out", reference, "--json"])
        XCTAssertEqual(dump.status, 0, dump.stderr)
        let doc = try XCTUnwrap(try JSONSerialization.jsonObject(with: dump.stdoutData) as? [String: Any])
        XCTAssertEqual(doc["prompt_ids"] as? [Int], [5, 17, 300, 42, 9])
        XCTAssertEqual(doc["intermediates_layer"] as? Int, 0)
        let model = try XCTUnwrap(doc["model"] as? [String: Any])
        XCTAssertEqual((model["sha256"] as? String)?.count, 64)
        XCTAssertTrue(FileManager.default.fileExists(atPath: reference + "/manifest.json"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: reference + "/blk.0.q.npy"))

        let same = try run(["explain", reference, reference])
        XCTAssertEqual(same.status, 0, same.stderr)
        XCTAssertTrue(same.stdout.contains("bit-identical"), same.stdout)

        // The same weights with rope_theta 1000 in config.json.
        try FileManager.default.createDirectory(atPath: faultyModel, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: faultyModel + "/model.safetensors", withDestinationPath: tinyModel + "/model.safetensors")
        let config = try String(contentsOfFile: tinyModel + "/config.json", encoding: .utf8)
        XCTAssertTrue(config.contains("\"rope_theta\": 10000.0"))
        try config.replacingOccurrences(of: "\"rope_theta\": 10000.0", with: "\"rope_theta\": 1000.0")
            .write(toFile: faultyModel + "/config.json", atomically: true, encoding: .utf8)
        XCTAssertEqual(try run(["activations", "--model", faultyModel, "--prompt-ids", "5,17,300,42,9", "--out", candidate]).status, 0)
        let text = try run(["explain", reference, candidate])
        XCTAssertEqual(text.status, 1, "a jump exits 1")
        XCTAssertTrue(text.stdout.contains("first jump: blk.0.q (block 0)"), text.stdout)
        let json = try run(["explain", reference, candidate, "--json"])
        XCTAssertEqual(json.status, 1)
        let report = try XCTUnwrap(try JSONSerialization.jsonObject(with: json.stdoutData) as? [String: Any])
        XCTAssertEqual((report["first_jump"] as? [String: Any])?["name"] as? String, "blk.0.q")
        XCTAssertEqual(report["passes"] as? Bool, false)
    }

    func testActivationsAndExplainRejectBadArgumentsWithUsageErrors() throws {
        try assertUsageError(["activations", "--model", tinyModel, "--prompt-ids", "1,2"], mentions: "--out")
        try assertUsageError(["activations", "--model", tinyModel, "--prompt-ids", "1,2", "--out", temporaryPath("x"), "--layer", "2"], mentions: "--layer")
        try assertUsageError(["explain", "onlyone"], mentions: "usage: touchstone explain")
        try assertUsageError(["explain", "a", "b", "--floor", "-1"], mentions: "--floor")
        try assertUsageError(["explain", "a", "b", "--ratio", "0.5"], mentions: "--ratio")
        let missing = try run(["explain", temporaryPath("none"), temporaryPath("none")])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderr.contains("manifest.json"), missing.stderr)
    }
}

import Foundation
import XCTest

/// `touchstone verify` validates the candidate strictly and always says what it compared.
/// Exit status: 0 match, 1 mismatch or invalid file (the message names the field), 2 usage.
final class VerifyCommandTests: XCTestCase {
    static let fixture = CommandLineTests.root.appendingPathComponent("Fixtures/golden/tiny-a/greedy-0.json").path

    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("verify-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    private func run(_ arguments: [String]) throws -> CommandLineTests.Run {
        guard FileManager.default.isExecutableFile(atPath: CommandLineTests.executable.path) else {
            throw XCTSkip("touchstone executable not found beside the test bundle")
        }
        return try CommandLineTests.runProcess(CommandLineTests.executable, arguments)
    }

    /// The fixture as a JSON object, to derive candidates from.
    private func reference() throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Self.fixture))) as? [String: Any])
    }

    private func write(_ object: Any) throws -> String {
        let url = directory.appendingPathComponent("candidate-\(UUID().uuidString).json")
        try JSONSerialization.data(withJSONObject: object).write(to: url)
        return url.path
    }

    private func steps(_ doc: [String: Any]) throws -> [[String: Any]] { try XCTUnwrap(doc["trace"] as? [[String: Any]]) }

    func testMatchingCandidateSaysHowManyTokensAndLogitsWereCompared() throws {
        let doc = try reference()
        let trace = try steps(doc)
        let topCount = trace.reduce(0) { $0 + (($1["top"] as? [Any])?.count ?? 0) }
        let r = try run(["verify", Self.fixture, Self.fixture])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("\(trace.count) tokens, \(trace.count) chosen logits, \(topCount) top-k logits compared"), r.stdout)
        let json = try run(["verify", Self.fixture, Self.fixture, "--json"])
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: json.stdoutData) as? [String: Any])
        let compared = try XCTUnwrap(report["compared"] as? [String: Any])
        XCTAssertEqual(compared["tokens"] as? Int, trace.count)
        XCTAssertEqual(compared["chosen_logits"] as? Int, trace.count)
        XCTAssertEqual(compared["top_logits"] as? Int, topCount)
        XCTAssertEqual(compared["depth"] as? String, "top-k logits")
        XCTAssertEqual(report["matches"] as? Bool, true)
    }

    func testTokensOnlyCandidateIsReportedAsTokensOnly() throws {
        let doc = try reference()
        let r = try run(["verify", Self.fixture, try write(["output_ids": doc["output_ids"]!])])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("tokens only"), r.stdout)
        XCTAssertFalse(r.stdout.contains("chosen logits compared"), r.stdout)
    }

    private func assertInvalid(_ candidate: Any, names field: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let r = try run(["verify", Self.fixture, try write(candidate)])
        XCTAssertEqual(r.status, 1, r.stdout, file: file, line: line)
        XCTAssertTrue(r.stderr.contains("invalid candidate: \(field) "), r.stderr, file: file, line: line)
        XCTAssertFalse(r.stdout.contains("match"), r.stdout, file: file, line: line)
    }

    func testStringLogitsAreAnInvalidCandidate() throws {
        var doc = try reference()
        var trace = try steps(doc)
        trace[0]["logit"] = "\(trace[0]["logit"]!)"
        doc["trace"] = trace
        try assertInvalid(doc, names: "trace[0].logit")
    }

    func testGarbageTopEntriesAreAnInvalidCandidate() throws {
        var doc = try reference()
        var trace = try steps(doc)
        trace[1]["top"] = [["x", "y"], 3]
        doc["trace"] = trace
        try assertInvalid(doc, names: "trace[1].top[0][0]")
    }

    func testTraceTokensThatDisagreeWithOutputIDsAreAnInvalidCandidate() throws {
        var doc = try reference()
        var trace = try steps(doc)
        trace[2]["token"] = ((trace[2]["token"] as? Int) ?? 0) + 1
        doc["trace"] = trace
        try assertInvalid(doc, names: "trace[2].token")
    }

    func testFiftyTimesMoreTraceStepsThanTokensIsAnInvalidCandidate() throws {
        var doc = try reference()
        let trace = try steps(doc)
        doc["trace"] = Array(repeating: trace, count: 50).flatMap { $0 }
        doc["output_ids"] = doc["output_ids"]
        try assertInvalid(doc, names: "trace")
    }

    func testNegativeOrNonFiniteToleranceIsAUsageError() throws {
        for t in ["-1", "nan", "inf", "1e99", "abc"] {
            let r = try run(["verify", Self.fixture, Self.fixture, "--tolerance", t])
            XCTAssertEqual(r.status, 2, "--tolerance \(t): \(r.stdout)")
            XCTAssertTrue(r.stderr.contains("--tolerance"), r.stderr)
        }
        XCTAssertEqual(try run(["verify", Self.fixture, Self.fixture, "--tolerance", "0"]).status, 0)
    }

    func testChangedTokenExitsOneAndNamesTheDivergence() throws {
        var doc = try reference()
        var ids = try XCTUnwrap(doc["output_ids"] as? [Int])
        ids[4] += 1
        doc["output_ids"] = ids
        doc.removeValue(forKey: "trace")
        let r = try run(["verify", Self.fixture, try write(doc)])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stdout.contains("diverges at step 4"), r.stdout)
        XCTAssertTrue(r.stdout.contains("reference top-2 margin"), r.stdout)
    }
}

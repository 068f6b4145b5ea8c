import Foundation
import XCTest
import ApproximateBackend
import Golden
import Transformer
import TouchstoneTesting

/// How a backend checks itself against Touchstone's golden fixtures from its own test suite.
/// The backend here rounds the synthetic models' weights to 16 bits, so its logits differ from
/// the reference by a few thousandths (Float16) to a few hundredths (bfloat16).
final class ApproximateBackendTests: XCTestCase {
    /// The error Float16 weights are allowed on these models: well above the ~0.01 they cause,
    /// well below the top-2 margins that decide tokens.
    static let float16Tolerance: Float = 0.05

    func testFloat16WeightsReproduceTinyAGreedyFixturesWithinTheirTolerance() throws {
        let backend = try RoundedWeightsBackend(preset: SyntheticModels.tinyA, precision: .float16)
        for name in ["tiny-a/greedy-0", "tiny-a/greedy-1", "tiny-a/greedy-2"] {
            // The closure form: Touchstone hands the fixture's prompt and length to the backend.
            let report = XCTAssertMatchesFixture(name, tolerance: Self.float16Tolerance) { promptIDs, maxNewTokens in
                try backend.greedyTrace(promptIDs: promptIDs, maxNewTokens: maxNewTokens)
            }
            XCTAssertEqual(report?.depth, .topLogits)
            XCTAssertGreaterThan(report?.maxLogitDifference ?? 0, 0, "rounded weights must change some logit, or this test proves nothing")
            print("\(name), Float16 weights: \(report?.summary ?? "no report")")
        }
    }

    func testFixturesDefaultToleranceSeesFloat16Error() throws {
        let backend = try RoundedWeightsBackend(preset: SyntheticModels.tinyA, precision: .float16)
        let fixture = try FixtureStore.shipped().fixture(named: "tiny-a/greedy-1")
        let report = try FixtureCheck.verify(against: fixture) { try backend.greedyTrace(promptIDs: $0, maxNewTokens: $1) }
        XCTAssertFalse(report.matches)
        XCTAssertEqual(report.firstDivergence?.kind, "logit", report.summary)
        XCTAssertGreaterThan(report.maxLogitDifference, fixture.logitTolerance)
    }

    /// The expected failure: bfloat16 weights change a token of tiny-b/greedy-0. The failure
    /// message is what a porter reads; it is checked against a direct comparison of the tokens.
    func testBFloat16WeightsDivergeAndTheFailureSaysWhere() throws {
        let backend = try RoundedWeightsBackend(preset: SyntheticModels.tinyB, precision: .bfloat16)
        let fixture = try FixtureStore.shipped().fixture(named: "tiny-b/greedy-0")
        let candidate = try backend.greedyTrace(promptIDs: fixture.promptIDs, maxNewTokens: fixture.maxNewTokens)
        let firstDifferent = try XCTUnwrap(zip(candidate.outputIDs, fixture.outputIDs).enumerated().first { $0.element.0 != $0.element.1 }?.offset,
                                           "bfloat16 weights no longer change a token of tiny-b/greedy-0; pick another fixture")

        let failures = recordingFailures {
            XCTAssertMatchesFixture(candidate, "tiny-b/greedy-0", tolerance: 1)
        }
        XCTAssertEqual(failures.count, 1)
        let message = failures.first ?? ""
        print("expected failure, as XCTest reports it:\n\(message)")
        XCTAssertTrue(message.contains("diverges at step \(firstDifferent) (token)"), message)
        XCTAssertTrue(message.contains("reference token \(fixture.outputIDs[firstDifferent]), candidate token \(candidate.outputIDs[firstDifferent])"), message)
        XCTAssertTrue(message.contains("reference top-2 margin"), message)
        XCTAssertTrue(message.contains("before the divergence: \(firstDifferent + 1) tokens"), message)
    }

    // MARK: Expected failures (XCTExpectFailure is not available in swift-corelibs-xctest)

    private var captured: [String]?

    /// Runs `body` and returns the failures it recorded instead of failing the test.
    private func recordingFailures(_ body: () -> Void) -> [String] {
        captured = []
        body()
        defer { captured = nil }
        return captured ?? []
    }

    override func recordFailure(withDescription description: String, inFile filePath: String, atLine lineNumber: Int, expected: Bool) {
        if captured != nil { captured?.append(description); return }
        super.recordFailure(withDescription: description, inFile: filePath, atLine: lineNumber, expected: expected)
    }
}

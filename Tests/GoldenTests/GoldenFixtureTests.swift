import Foundation
import XCTest
import Decoding
import Formats
import Golden
import Transformer

final class GoldenFixtureTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Regression: every committed synthetic-model fixture is reproduced byte for byte.
    func testCommittedSyntheticFixturesAreReproducedExactly() throws {
        let entries = try Catalog.entries(includeRealModel: false)
        XCTAssertFalse(entries.isEmpty)
        var models: [String: any CausalLanguageModel] = [:]
        for entry in entries {
            let model = try models[entry.modelKey] ?? SyntheticArchitectures.anyModel(named: entry.modelKey)
            models[entry.modelKey] = model
            let path = Self.root.appendingPathComponent("Fixtures/golden/\(entry.id).json")
            let committed = try String(contentsOf: path, encoding: .utf8)
            XCTAssertEqual(try Catalog.make(entry, model: model).serialized(), committed, "\(entry.id) changed; run `touchstone fixtures` if intended")
        }
    }

    func testFixtureJSONRoundTripsThroughTheParser() throws {
        let path = Self.root.appendingPathComponent("Fixtures/golden/tiny-b/greedy-0.json")
        let data = try Data(contentsOf: path)
        let fixture = try Fixture(jsonData: data)
        XCTAssertEqual(fixture.outputIDs.count, fixture.trace.count)
        XCTAssertEqual(fixture.trace.map(\.token), fixture.outputIDs)
        XCTAssertEqual(fixture.name, "tiny-b/greedy-0")
        XCTAssertEqual(fixture.logitTolerance, 2e-3)
    }

    func testRejectsAFileWithAnotherSchema() {
        let data = Data(#"{"schema":"other/9","output_ids":[1]}"#.utf8)
        XCTAssertThrowsError(try Fixture(jsonData: data))
    }

    private func fixture(_ tokens: [Int], margins: [Float]) -> Fixture {
        Fixture(name: "t", model: .file(name: "m", sha256: "x"), promptIDs: [1], algorithm: "greedy", parameters: [], seed: nil,
                outputIDs: tokens,
                trace: zip(tokens, margins).map { t, m in
                    Fixture.Step(token: t, logit: 10, probability: nil, top: [(t, 10), (t + 1, 10 - m)])
                })
    }

    func testIdenticalTracesMatch() {
        let a = fixture([5, 6, 7], margins: [1, 2, 3])
        let report = Verifier.verify(reference: a, candidate: a)
        XCTAssertTrue(report.matches)
        XCTAssertEqual(report.comparedSteps, 3)
        XCTAssertNil(report.firstDivergence)
    }

    func testFirstDivergenceReportsStepTokensAndReferenceMargin() {
        let reference = fixture([5, 6, 7, 8], margins: [1, 0.0078125, 3, 4])
        let candidate = Fixture(name: "c", model: .file(name: "", sha256: ""), promptIDs: [], algorithm: "", parameters: [], seed: nil,
                                outputIDs: [5, 9, 7, 8], trace: [])
        let report = Verifier.verify(reference: reference, candidate: candidate)
        XCTAssertFalse(report.matches)
        XCTAssertEqual(report.firstDivergence?.step, 1)
        XCTAssertEqual(report.firstDivergence?.referenceToken, 6)
        XCTAssertEqual(report.firstDivergence?.candidateToken, 9)
        XCTAssertEqual(report.firstDivergence?.referenceTopTwoMargin, 0.0078125)
        XCTAssertTrue(report.summary.contains("near-tie"), report.summary)
    }

    func testLogitOutsideToleranceFailsEvenWhenTokensMatch() {
        let reference = fixture([5, 6], margins: [1, 1])
        var candidate = reference
        candidate.trace[1].logit = 10.01
        let report = Verifier.verify(reference: reference, candidate: candidate)
        XCTAssertFalse(report.matches)
        XCTAssertEqual(report.firstDivergence?.kind, "logit")
        XCTAssertEqual(report.firstDivergence?.step, 1)
        candidate.trace[1].logit = 10.001
        XCTAssertTrue(Verifier.verify(reference: reference, candidate: candidate).matches)
    }

    func testShorterCandidateIsALengthDivergence() {
        let reference = fixture([5, 6, 7], margins: [1, 1, 1])
        var candidate = reference
        candidate.outputIDs = [5, 6]
        let report = Verifier.verify(reference: reference, candidate: candidate)
        XCTAssertEqual(report.firstDivergence?.kind, "length")
        XCTAssertEqual(report.firstDivergence?.step, 2)
    }
}

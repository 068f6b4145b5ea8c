import Foundation
import XCTest
import Decoding
import Formats
import Golden
import Transformer
import Loader

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

    /// Regression: every committed fixture of a real model (SmolLM2, Gemma 3) is reproduced byte for
    /// byte, as `touchstone fixtures --check` does; a model that is not in the cache is skipped.
    func testCommittedRealModelFixturesAreReproducedExactly() throws {
        let entries = try Catalog.entries(includeRealModel: true).filter { Catalog.knownModel(for: $0.modelKey) != nil }
        XCTAssertEqual(Set(entries.map(\.modelKey)), Set(Catalog.realModelKeys))
        var missing: [String] = []
        for key in Catalog.realModelKeys {
            let known = try XCTUnwrap(Catalog.knownModel(for: key))
            let path = ModelStore.cachedPath(of: known)
            guard FileManager.default.fileExists(atPath: path) else { missing.append(known.name); continue }
            let model = try ModelStore.load(path: path).model
            for entry in entries where entry.modelKey == key {
                let committed = try String(contentsOf: Self.root.appendingPathComponent("Fixtures/golden/\(entry.id).json"), encoding: .utf8)
                XCTAssertEqual(try Catalog.make(entry, model: model).serialized(), committed, "\(entry.id) changed; run `touchstone fixtures` if intended")
            }
        }
        if !missing.isEmpty { throw XCTSkip("not in the cache (run `touchstone fetch --model NAME`): \(missing.joined(separator: ", "))") }
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

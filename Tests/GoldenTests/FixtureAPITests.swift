import Foundation
import XCTest
import Decoding
import Golden
import TouchstoneTesting
import Transformer

/// The test-facing API: locating, listing and loading fixtures, and checking a candidate
/// (a trace value, or a closure that runs the candidate's model) against one.
final class FixtureAPITests: XCTestCase {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func testShippedStoreIsTheRepositorysFixturesDirectory() throws {
        let store = try FixtureStore.shipped()
        XCTAssertEqual(store.root.standardizedFileURL.path, Self.repository.appendingPathComponent("Fixtures/golden").standardizedFileURL.path)
    }

    func testSearchOrderIsEnvironmentThenCheckoutThenCurrentDirectory() {
        let dirs = FixtureStore.searchedDirectories(environment: ["TOUCHSTONE_FIXTURES": "/data/fx"],
                                                    sourceFile: "/deps/checkouts/touchstone/Sources/Golden/FixtureStore.swift",
                                                    currentDirectory: "/work/app")
        XCTAssertEqual(dirs.prefix(3).map(\.path), ["/data/fx/golden", "/deps/checkouts/touchstone/Fixtures/golden", "/work/app/Fixtures/golden"])
        let named = FixtureStore.searchedDirectories(environment: ["TOUCHSTONE_FIXTURES": "/data/golden"], sourceFile: "/a/b/c/d.swift",
                                                     currentDirectory: "/")
        XCTAssertEqual(named.first?.path, "/data/golden")
    }

    func testStoreListsExactlyTheCataloguedFixtures() throws {
        let names = try FixtureStore.shipped().names()
        let catalogue = try Catalog.descriptions()
        XCTAssertEqual(names, catalogue.map(\.name).sorted())
        XCTAssertEqual(Set(catalogue.map(\.model)), ["tiny-a", "tiny-b", "smollm2", "gemma3-270m", "tiny-qwen2", "tiny-gpt2"])
        let greedy = try XCTUnwrap(catalogue.first { $0.name == "smollm2/greedy-0" })
        XCTAssertEqual(greedy.algorithm, "greedy")
        XCTAssertEqual(greedy.promptIDs, [504, 3575, 282, 4649, 314])
        XCTAssertFalse(greedy.summary.isEmpty)
        XCTAssertTrue(greedy.parameters.contains("\"max_new_tokens\":24"), greedy.parameters)
    }

    func testLoadsAFixtureByNameAndByPath() throws {
        let byName = try FixtureStore.shipped().fixture(named: "smollm2/greedy-0")
        let path = Self.repository.appendingPathComponent("Fixtures/golden/smollm2/greedy-0.json").path
        let byPath = try Fixture.load(path)
        XCTAssertEqual(byName.name, "smollm2/greedy-0")
        XCTAssertEqual(byName, byPath)
        XCTAssertEqual(try Fixture.load("smollm2/greedy-0"), byPath)
        XCTAssertEqual(byName.maxNewTokens, 24)
    }

    func testUnknownFixtureNameIsATypedErrorListingWhatExists() throws {
        XCTAssertThrowsError(try FixtureStore.shipped().fixture(named: "smollm2/nope")) { error in
            guard case GoldenError.fixtureNotFound(let name, _, let known) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(name, "smollm2/nope")
            XCTAssertTrue(known.contains("smollm2/greedy-0"))
        }
        XCTAssertThrowsError(try FixtureStore(root: URL(fileURLWithPath: "/nonexistent")).names())
    }

    // MARK: FixtureCheck

    private func tinyA() throws -> LlamaModel { try SyntheticModels.model(SyntheticModels.tinyA) }

    func testClosureRunsTheFixturesPromptAndAMatchingBackendPasses() throws {
        let fixture = try FixtureStore.shipped().fixture(named: "tiny-a/greedy-1")
        let model = try tinyA()
        var asked: ([Int], Int)?
        let report = try FixtureCheck.verify(against: fixture) { prompt, count in
            asked = (prompt, count)
            let g = try GreedyDecoding.generate(model: model, prompt: prompt, stopping: StoppingCriteria(maxNewTokens: count), traceTopK: 5)
            return CandidateTrace(generation: g)
        }
        XCTAssertEqual(asked?.0, fixture.promptIDs)
        XCTAssertEqual(asked?.1, fixture.outputIDs.count)
        XCTAssertTrue(report.matches, report.summary)
        // Counts computed from the fixture file: one chosen logit per step, every top entry.
        XCTAssertEqual(report.comparedTokens, fixture.outputIDs.count)
        XCTAssertEqual(report.comparedChosenLogits, fixture.trace.filter { $0.logit != nil }.count)
        XCTAssertEqual(report.comparedTopLogits, fixture.trace.reduce(0) { $0 + $1.top.count })
        XCTAssertEqual(report.depth, .topLogits)
        XCTAssertEqual(report.maxLogitDifference, 0)
        XCTAssertTrue(report.summary.contains("\(report.comparedTopLogits) top-k logits compared"), report.summary)
    }

    func testChangedTokenReportsStepBothTokensAndTheReferenceMargin() throws {
        let fixture = try FixtureStore.shipped().fixture(named: "tiny-a/greedy-0")
        var candidate = CandidateTrace(fixture: fixture)
        let step = 3
        let wrong = fixture.trace[step].top[1].id
        candidate.outputIDs[step] = wrong
        candidate.steps?[step].token = wrong
        let report = try FixtureCheck.verify(candidate: candidate, against: fixture)
        XCTAssertFalse(report.matches)
        XCTAssertEqual(report.firstDivergence?.step, step)
        XCTAssertEqual(report.firstDivergence?.kind, "token")
        XCTAssertEqual(report.firstDivergence?.referenceToken, fixture.outputIDs[step])
        XCTAssertEqual(report.firstDivergence?.candidateToken, wrong)
        XCTAssertEqual(report.firstDivergence?.referenceTopTwoMargin, fixture.trace[step].top[0].logit - fixture.trace[step].top[1].logit)
        XCTAssertEqual(report.comparedSteps, step)
        XCTAssertEqual(report.comparedTokens, step + 1)
        XCTAssertTrue(report.summary.contains("diverges at step \(step)"), report.summary)
    }

    func testLargestLogitDifferenceIsReportedWithWhereItWas() throws {
        let fixture = try FixtureStore.shipped().fixture(named: "tiny-a/greedy-0")
        var candidate = CandidateTrace(fixture: fixture)
        candidate.steps?[2].top[1].logit += 0.0015   // within the 2e-3 tolerance
        candidate.steps?[4].logit? += 0.0005
        let passing = try FixtureCheck.verify(candidate: candidate, against: fixture)
        XCTAssertTrue(passing.matches, passing.summary)
        XCTAssertEqual(passing.maxLogitDifference, abs((fixture.trace[2].top[1].logit + 0.0015) - fixture.trace[2].top[1].logit))
        XCTAssertEqual(passing.maxLogitDifferenceAt?.step, 2)
        XCTAssertEqual(passing.maxLogitDifferenceAt?.id, fixture.trace[2].top[1].id)
        let strict = try FixtureCheck.verify(candidate: candidate, against: fixture, tolerance: 0.001)
        XCTAssertFalse(strict.matches)
        XCTAssertEqual(strict.firstDivergence?.kind, "logit")
        XCTAssertEqual(strict.firstDivergence?.step, 2)
    }

    func testTokensOnlyCandidateSaysNoLogitsWereCompared() throws {
        let fixture = try FixtureStore.shipped().fixture(named: "tiny-b/beam-0")
        let report = try FixtureCheck.verify(candidate: CandidateTrace(outputIDs: fixture.outputIDs), against: fixture)
        XCTAssertTrue(report.matches)
        XCTAssertEqual(report.depth, .tokensOnly)
        XCTAssertEqual(report.comparedChosenLogits + report.comparedTopLogits, 0)
        XCTAssertTrue(report.summary.contains("tokens only"), report.summary)
    }

    func testOtherPromptIsADivergenceNotAMatch() throws {
        let fixture = try FixtureStore.shipped().fixture(named: "tiny-a/greedy-0")
        let report = try FixtureCheck.verify(candidate: CandidateTrace(outputIDs: fixture.outputIDs, promptIDs: [9, 9]), against: fixture)
        XCTAssertFalse(report.matches)
        XCTAssertEqual(report.firstDivergence?.kind, "prompt")
    }

    func testNegativeOrNonFiniteToleranceAndInvalidCandidatesThrow() throws {
        let fixture = try FixtureStore.shipped().fixture(named: "tiny-a/greedy-0")
        let good = CandidateTrace(fixture: fixture)
        for t: Float in [-1, .nan, .infinity] {
            XCTAssertThrowsError(try FixtureCheck.verify(candidate: good, against: fixture, tolerance: t), "\(t)")
        }
        var bad = good
        bad.steps?.removeLast()
        XCTAssertThrowsError(try FixtureCheck.verify(candidate: bad, against: fixture)) { error in
            XCTAssertEqual((error as? CandidateError)?.field, "trace")
        }
    }

    func testXCTestHelperPassesAMatchingCandidate() throws {
        let fixture = try FixtureStore.shipped().fixture(named: "tiny-a/greedy-2")
        let report = XCTAssertMatchesFixture(CandidateTrace(fixture: fixture), "tiny-a/greedy-2")
        XCTAssertEqual(report?.matches, true)
        let model = try tinyA()
        let run = XCTAssertMatchesFixture("tiny-a/greedy-2") { prompt, count in
            CandidateTrace(generation: try GreedyDecoding.generate(model: model, prompt: prompt, stopping: StoppingCriteria(maxNewTokens: count), traceTopK: 5))
        }
        XCTAssertEqual(run?.comparedTokens, fixture.outputIDs.count)
    }
}

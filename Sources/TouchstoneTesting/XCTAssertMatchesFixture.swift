import XCTest
import Golden

/// Asserts that `candidate` matches the fixture named `<model>/<name>` (from the fixtures shipped
/// with Touchstone, or `store`) or loaded from a `.json` path, within `tolerance` (default: the
/// fixture's). On a mismatch the failure message is the verifier's report: the first
/// divergence, both tokens, the reference's top-2 margin, the largest logit difference and what
/// was compared. An invalid candidate or a missing fixture fails with the error's message.
/// Returns the report (`nil` when it could not be made).
@discardableResult
public func XCTAssertMatchesFixture(_ candidate: @autoclosure () throws -> CandidateTrace, _ fixture: String, in store: FixtureStore? = nil,
                                    tolerance: Float? = nil, file: StaticString = #filePath, line: UInt = #line) -> Verifier.Report? {
    do {
        let reference = try loadFixture(fixture, store)
        let report = try FixtureCheck.verify(candidate: try candidate(), against: reference, tolerance: tolerance)
        if !report.matches { XCTFail("\(fixture): \(report.summary)", file: file, line: line) }
        return report
    } catch {
        XCTFail("\(fixture): \(error)", file: file, line: line)
        return nil
    }
}

/// Runs the candidate's model on the fixture's prompt — `run(promptIDs, maxNewTokens)` — and
/// asserts that its trace matches the fixture (see the trace form).
@discardableResult
public func XCTAssertMatchesFixture(_ fixture: String, in store: FixtureStore? = nil, tolerance: Float? = nil,
                                    file: StaticString = #filePath, line: UInt = #line,
                                    run: (_ promptIDs: [Int], _ maxNewTokens: Int) throws -> CandidateTrace) -> Verifier.Report? {
    do {
        let reference = try loadFixture(fixture, store)
        let report = try FixtureCheck.verify(against: reference, tolerance: tolerance, run: run)
        if !report.matches { XCTFail("\(fixture): \(report.summary)", file: file, line: line) }
        return report
    } catch {
        XCTFail("\(fixture): \(error)", file: file, line: line)
        return nil
    }
}

private func loadFixture(_ nameOrPath: String, _ store: FixtureStore?) throws -> Fixture {
    if let store { return try store.fixture(named: nameOrPath) }
    return try Fixture.load(nameOrPath)
}

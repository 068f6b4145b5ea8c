import Foundation

/// Asserts another backend against a golden fixture, from that backend's own test suite.
///
///     let fixture = try FixtureStore.shipped().fixture(named: "tiny-a/greedy-0")
///     let report = try FixtureCheck.verify(against: fixture) { promptIDs, maxNewTokens in
///         try myBackend.greedyTrace(prompt: promptIDs, count: maxNewTokens)   // a CandidateTrace
///     }
///     XCTAssert(report.matches, report.summary)
///
/// `TouchstoneTesting.XCTAssertMatchesFixture` wraps this for XCTest.
public enum FixtureCheck {
    /// Validates `candidate` (`CandidateTrace.validate()`, throws `CandidateError` naming the
    /// field) and compares it with `fixture` within `tolerance` (default: the fixture's, 2e-3).
    /// Throws `GoldenError.invalid` for a negative or non-finite tolerance.
    public static func verify(candidate: CandidateTrace, against fixture: Fixture, tolerance: Float? = nil) throws -> Verifier.Report {
        if let tolerance, !(tolerance.isFinite && tolerance >= 0) {
            throw GoldenError.invalid("tolerance \(tolerance) must be a finite number ≥ 0")
        }
        try candidate.validate()
        return Verifier.verify(candidate: candidate, against: fixture, tolerance: tolerance)
    }

    /// Runs the candidate's model on the fixture's prompt — `run(promptIDs, maxNewTokens)` with
    /// the fixture's prompt ids and output length — and compares what it returns. A candidate
    /// that does not set `promptIDs` is taken to have run the prompt it was given.
    public static func verify(against fixture: Fixture, tolerance: Float? = nil,
                              run: (_ promptIDs: [Int], _ maxNewTokens: Int) throws -> CandidateTrace) throws -> Verifier.Report {
        var candidate = try run(fixture.promptIDs, fixture.maxNewTokens)
        if candidate.promptIDs == nil { candidate.promptIDs = fixture.promptIDs }
        return try verify(candidate: candidate, against: fixture, tolerance: tolerance)
    }

    /// The same, for a fixture named `<model>/<name>` in `store` (default: the shipped one).
    public static func verify(fixtureNamed name: String, in store: FixtureStore? = nil, tolerance: Float? = nil,
                              run: (_ promptIDs: [Int], _ maxNewTokens: Int) throws -> CandidateTrace) throws -> Verifier.Report {
        let fixture = try (store ?? FixtureStore.shipped()).fixture(named: name)
        return try verify(against: fixture, tolerance: tolerance, run: run)
    }
}

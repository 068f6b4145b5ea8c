import Foundation
import XCTest
import Golden

/// The strict candidate schema (DOCS.md section 7): every ill-typed or inconsistent field is an
/// error that names it, never silently read as absent.
final class CandidateValidationTests: XCTestCase {
    private func error(_ json: String, file: StaticString = #filePath, line: UInt = #line) -> CandidateError? {
        do {
            _ = try CandidateTrace(jsonData: Data(json.utf8))
            XCTFail("accepted an invalid candidate: \(json)", file: file, line: line)
            return nil
        } catch let e as CandidateError {
            return e
        } catch {
            XCTFail("threw \(error), not a CandidateError", file: file, line: line)
            return nil
        }
    }

    func testStringLogitIsAnErrorNamingTheField() {
        let e = error(#"{"output_ids":[5],"trace":[{"token":5,"logit":"3.5","top":[[5,3.5]]}]}"#)
        XCTAssertEqual(e?.field, "trace[0].logit")
        XCTAssertTrue(e?.description.contains("a number") ?? false, e?.description ?? "")
    }

    func testGarbageTopEntriesAreErrorsNamingTheEntry() {
        XCTAssertEqual(error(#"{"output_ids":[5],"trace":[{"token":5,"top":[["a",1.0]]}]}"#)?.field, "trace[0].top[0][0]")
        XCTAssertEqual(error(#"{"output_ids":[5],"trace":[{"token":5,"top":[[5,"x"]]}]}"#)?.field, "trace[0].top[0][1]")
        XCTAssertEqual(error(#"{"output_ids":[5],"trace":[{"token":5,"top":[[5]]}]}"#)?.field, "trace[0].top[0]")
        XCTAssertEqual(error(#"{"output_ids":[5],"trace":[{"token":5,"top":[[5,1.0,2]]}]}"#)?.field, "trace[0].top[0]")
        XCTAssertEqual(error(#"{"output_ids":[5],"trace":[{"token":5,"top":"5:1.0"}]}"#)?.field, "trace[0].top")
        XCTAssertEqual(error(#"{"output_ids":[5],"trace":[{"token":5,"top":[{"id":5,"logit":1}]}]}"#)?.field, "trace[0].top[0]")
        XCTAssertEqual(error(#"{"output_ids":[5],"trace":[{"token":5,"top":[[5,1.0],[5,0.5]]}]}"#)?.field, "trace[0].top[1]")
        XCTAssertEqual(error(#"{"output_ids":[5],"trace":[{"token":5,"top":[[-2,1.0]]}]}"#)?.field, "trace[0].top[0][0]")
    }

    func testTraceTokenThatIsNotTheOutputIsAnError() {
        let e = error(#"{"output_ids":[5,6,7],"trace":[{"token":5},{"token":6},{"token":8}]}"#)
        XCTAssertEqual(e?.field, "trace[2].token")
        XCTAssertTrue(e?.problem.contains("output_ids[2] is 7") ?? false, e?.problem ?? "")
    }

    func testTraceWithMoreOrFewerStepsThanTokensIsAnError() {
        let steps = Array(repeating: #"{"token":5}"#, count: 50).joined(separator: ",")
        let e = error(#"{"output_ids":[5],"trace":[\#(steps)]}"#)
        XCTAssertEqual(e?.field, "trace")
        XCTAssertTrue(e?.problem.contains("50 steps") ?? false, e?.problem ?? "")
        XCTAssertEqual(error(#"{"output_ids":[5,5],"trace":[{"token":5}]}"#)?.field, "trace")
        XCTAssertEqual(error(#"{"output_ids":[5],"trace":[]}"#)?.field, "trace")
    }

    func testIllTypedTopLevelFieldsAreErrors() {
        XCTAssertEqual(error(#"{"trace":[]}"#)?.field, "output_ids")
        XCTAssertEqual(error(#"{"output_ids":"5,6"}"#)?.field, "output_ids")
        XCTAssertEqual(error(#"{"output_ids":[5,"6"]}"#)?.field, "output_ids[1]")
        XCTAssertEqual(error(#"{"output_ids":[5,6.5]}"#)?.field, "output_ids[1]")
        XCTAssertEqual(error(#"{"output_ids":[true]}"#)?.field, "output_ids[0]")
        XCTAssertEqual(error(#"{"output_ids":[-1]}"#)?.field, "output_ids[0]")
        XCTAssertEqual(error(#"{"output_ids":[5],"prompt_ids":["a"]}"#)?.field, "prompt_ids[0]")
        XCTAssertEqual(error(#"{"output_ids":[5],"trace":{"token":5}}"#)?.field, "trace")
        XCTAssertEqual(error(#"{"output_ids":[5],"trace":[{"logit":1.0}]}"#)?.field, "trace[0].token")
        XCTAssertEqual(error(#"{"output_ids":[5],"trace":[{"token":5,"probability":1.5}]}"#)?.field, "trace[0].probability")
        XCTAssertEqual(error(#"{"output_ids":[5],"trace":[{"token":5,"step":3}]}"#)?.field, "trace[0].step")
        XCTAssertEqual(error(#"{"output_ids":[5],"trace":[{"token":5,"drafted":[1],"accepted":2}]}"#)?.field, "trace[0].accepted")
        XCTAssertEqual(error(#"[1,2]"#)?.field.isEmpty, false)
        XCTAssertNotNil(error("not json"))
    }

    func testValidCandidateKeepsEveryValueAndIgnoresOtherKeys() throws {
        // The shape `touchstone generate --json` prints, with keys a candidate does not use.
        let json = #"{"prompt_ids":[1,2],"output_ids":[5,6],"text":"ab","stats":{"strategy":"greedy"},"#
            + #""trace":[{"step":0,"token":5,"logit":3.5,"probability":0.25,"top":[[5,3.5],[9,3.0]]},{"token":6,"top":[]}]}"#
        let c = try CandidateTrace(jsonData: Data(json.utf8))
        XCTAssertEqual(c.promptIDs, [1, 2])
        XCTAssertEqual(c.outputIDs, [5, 6])
        XCTAssertEqual(c.steps?.count, 2)
        XCTAssertEqual(c.steps?[0].logit, 3.5)
        XCTAssertEqual(c.steps?[0].probability, 0.25)
        XCTAssertEqual(c.steps?[0].top.map(\.id), [5, 9])
        XCTAssertEqual(c.steps?[0].top.map(\.logit), [3.5, 3.0])
        XCTAssertNil(c.steps?[1].logit)
        XCTAssertEqual(try CandidateTrace(jsonData: Data(#"{"output_ids":[5,6]}"#.utf8)).steps, nil)
    }

    func testEveryShippedFixtureIsAValidCandidateOfItself() throws {
        let store = try FixtureStore.shipped()
        for name in try store.names() {
            let data = try Data(contentsOf: store.url(named: name))
            let candidate = try CandidateTrace(jsonData: data)
            let fixture = try store.fixture(named: name)
            let report = try FixtureCheck.verify(candidate: candidate, against: fixture)
            XCTAssertTrue(report.matches, "\(name): \(report.summary)")
            XCTAssertEqual(report.maxLogitDifference, 0, name)
        }
    }
}

import Foundation
import XCTest
@testable import Benchmarks

final class SpecBenchQuestionTests: XCTestCase {
    func testParseKeepsEveryQuestionInFileOrderWithItsFirstTurn() throws {
        let text = """
        {"question_id": 81, "category": "writing", "turns": ["Write a poem.", "Now shorter."]}
        {"question_id": 7, "category": "math", "turns": ["What is 2 + 2?"]}
        {"category": "math", "turns": ["No id here."]}

        """
        let questions = try SpecBenchQuestion.parse(jsonLines: Data(text.utf8), source: "q.jsonl")
        XCTAssertEqual(questions, [
            SpecBenchQuestion(id: 81, category: "writing", firstTurn: "Write a poem."),
            SpecBenchQuestion(id: 7, category: "math", firstTurn: "What is 2 + 2?"),
            SpecBenchQuestion(id: 2, category: "math", firstTurn: "No id here."),  // no question_id: the 0-based line index
        ])
    }

    func testParseAcceptsCRLFAndSkipsBlankLines() throws {
        let text = "{\"question_id\": 1, \"category\": \"qa\", \"turns\": [\"A?\"]}\r\n\r\n   \n{\"question_id\": 2, \"category\": \"qa\", \"turns\": [\"B?\"]}"
        let questions = try SpecBenchQuestion.parse(jsonLines: Data(text.utf8), source: "q.jsonl")
        XCTAssertEqual(questions.map(\.id), [1, 2])
        XCTAssertEqual(questions.map(\.firstTurn), ["A?", "B?"])
    }

    func testMalformedRowIsATypedErrorNamingItsLineCountingBlankLines() throws {
        let cases: [(String, Int)] = [
            ("{\"category\": \"qa\", \"turns\": [\"A?\"]}\n\nnot json\n", 3),
            ("{\"category\": \"qa\", \"turns\": []}\n", 1),                          // no first turn
            ("{\"category\": \"qa\", \"turns\": [\"A?\"]}\n{\"turns\": [\"B?\"]}", 2),  // no category
            ("{\"category\": \"qa\", \"turns\": \"A?\"}", 1),                          // turns not a list
        ]
        for (text, line) in cases {
            XCTAssertThrowsError(try SpecBenchQuestion.parse(jsonLines: Data(text.utf8), source: "bad.jsonl"), text) { error in
                XCTAssertEqual(error as? BenchmarkError, .malformedQuestion(source: "bad.jsonl", line: line), text)
                XCTAssertTrue("\(error)".hasPrefix("bad.jsonl line \(line): expected {\"question_id\", \"category\", \"turns\": [...]}"), "\(error)")
            }
        }
    }

    func testMissingFileIsATypedErrorNamingThePath() {
        XCTAssertThrowsError(try SpecBenchQuestion.read(contentsOfFile: "/nonexistent/question.jsonl")) { error in
            XCTAssertEqual(error as? BenchmarkError, .questionsUnreadable(path: "/nonexistent/question.jsonl"))
            XCTAssertTrue("\(error)".contains("/nonexistent/question.jsonl"))
        }
    }

    func testShippedQuestionSetIsFoundFromThePackageRootAndHas480QuestionsIn13Categories() throws {
        let root = BenchmarkFixtures.root.path
        let path = try XCTUnwrap(SpecBenchQuestion.locateShippedFile(searching: ["/nonexistent", root]))
        XCTAssertEqual(path, root + "/Fixtures/spec-bench/question.jsonl")
        XCTAssertNil(SpecBenchQuestion.locateShippedFile(searching: ["/nonexistent"]))
        let questions = try SpecBenchQuestion.read(contentsOfFile: path)
        XCTAssertEqual(questions.count, 480)
        let selection = SpecBenchSelection(from: questions, perCategory: 1)
        XCTAssertEqual(selection.categories, ["writing", "roleplay", "reasoning", "math", "coding", "extraction", "stem", "humanities",
                                              "translation", "summarization", "qa", "math_reasoning", "rag"])
        XCTAssertEqual(selection.questions.first?.id, 81)
    }

    func testSelectionKeepsFileOrderSkipsThenTakesPerCategory() {
        let q = [("a", 1), ("b", 2), ("a", 3), ("a", 4), ("c", 5), ("b", 6)].map { SpecBenchQuestion(id: $0.1, category: $0.0, firstTurn: "t\($0.1)") }
        let all = SpecBenchSelection(from: q, perCategory: 2)
        XCTAssertEqual(all.categories, ["a", "b", "c"])
        XCTAssertEqual(all.questions.map(\.id), [1, 3, 2, 6, 5])
        let skipped = SpecBenchSelection(from: q, perCategory: 1, skippingPerCategory: 1)
        XCTAssertEqual(skipped.questions.map(\.id), [3, 6], "c has no second question")
        XCTAssertEqual(skipped.categories, ["a", "b", "c"], "a category whose questions were skipped is still listed")
        let chosen = SpecBenchSelection(from: q, categories: ["c", "a", "zzz"], perCategory: 5)
        XCTAssertEqual(chosen.categories, ["a", "c"], "file order, unknown names ignored")
        XCTAssertEqual(chosen.questions.map(\.id), [1, 3, 4, 5])
    }
}

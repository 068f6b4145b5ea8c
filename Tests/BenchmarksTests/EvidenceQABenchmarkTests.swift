import Foundation
import XCTest
import Benchmarks
import Decoding
import Tokenization

final class EvidenceQABenchmarkTests: XCTestCase {
    func testShippedCasesAreTwentyCounterfactualsWhoseAnswersDiffer() throws {
        let cases = try EvidenceQACase.read(contentsOfFile: BenchmarkFixtures.root.appendingPathComponent(EvidenceQACase.shippedFileRelativePath).path)
        XCTAssertEqual(cases.count, 20)
        for c in cases {
            XCTAssertTrue(c.context.lowercased().contains(c.evidenceAnswer.lowercased()), "the evidence states its answer: \(c.context)")
            XCTAssertFalse(c.context.lowercased().contains(c.parametricAnswer.lowercased()), "the evidence must not give the usual answer away: \(c.context)")
            XCTAssertNotEqual(c.classify(c.evidenceAnswer).evidence, c.classify(c.evidenceAnswer).parametric)
        }
    }

    func testAnswersAreClassifiedByCaseInsensitiveContainment() {
        let c = EvidenceQACase(context: "The capital of France is Lyon.", question: "What is the capital of France?", evidenceAnswer: "Lyon", parametricAnswer: "Paris")
        XCTAssertTrue(c.classify("LYON, of course") == (true, false))
        XCTAssertTrue(c.classify("It is Paris.") == (false, true))
        XCTAssertTrue(c.classify("Paris, not Lyon") == (true, true))
        XCTAssertTrue(c.classify("Marseille") == (false, false))
    }

    func testMalformedCaseFilesAreTypedErrors() throws {
        let url = try BenchmarkFixtures.temporaryFile("bad-cases.json", Data(#"[{"context": "x"}]"#.utf8))
        defer { try? FileManager.default.removeItem(at: url) }
        XCTAssertThrowsError(try EvidenceQACase.read(contentsOfFile: url.path)) { error in
            XCTAssertTrue("\(error)".contains("evidence_answer"), "\(error)")
        }
        XCTAssertThrowsError(try EvidenceQACase.read(contentsOfFile: "/nonexistent/cases.json"))
    }

    /// On a synthetic model with the tiny tokenizer: every method answers every case, the counts
    /// add up, and CAD's context stream is greedy's prompt (with α = 0 CAD answers as greedy).
    func testEveryMethodAnswersEveryCaseAndAlphaZeroCADAnswersAsGreedy() throws {
        let tokenizer = try BenchmarkFixtures.tinyTokenizer()
        let model = try BenchmarkFixtures.modelForTinyTokenizer()
        let cases = [EvidenceQACase(context: "the cat is red.", question: "what is the cat?", evidenceAnswer: "red", parametricAnswer: "black"),
                     EvidenceQACase(context: "a dog runs.", question: "who runs?", evidenceAnswer: "dog", parametricAnswer: "cat")]
        let methods = EvidenceQABenchmark.defaultMethods.filter { $0.strategy != "contrastive-decoding" }
            + [EvidenceQABenchmark.Method("cad α=0", strategy: "cad", arguments: ["cad-alpha": "0"], evidenceAsContext: true)]
        let report = try EvidenceQABenchmark.run(model: model, tokenizer: tokenizer, cases: cases, methods: methods, maxNewTokens: 6, endOfSequenceIDs: [])
        XCTAssertEqual(report.rows.map(\.label), ["greedy", "cad α=0.5", "cad α=1.0", "cad α=0"])
        for row in report.rows {
            XCTAssertEqual(row.cases, 2)
            XCTAssertEqual(row.evidence + row.parametric + row.both + row.neither, 2)
            XCTAssertEqual(row.tokens, 12)
        }
        XCTAssertEqual(report.rows[3].answers, report.rows[0].answers)
        XCTAssertEqual(report.costRelativeToBaseline(report.rows[0]), 1)
        XCTAssertTrue(report.table().contains("cad α=1.0"))
    }
}

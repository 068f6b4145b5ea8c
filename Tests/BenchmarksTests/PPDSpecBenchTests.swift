import XCTest
import Decoding
import Transformer
@testable import Benchmarks

/// Parallel prompt decoding as a Spec-Bench method: identical to greedy, MAT ≥ 1, embeddings
/// that do not fit the model refused when the method is made.
final class PPDSpecBenchTests: XCTestCase {
    func testPPDMethodIsTokenIdenticalToGreedyAndNamesItsTable() throws {
        let model = try SyntheticModels.model(SyntheticModels.tinyB)
        let prompts = [
            SpecBenchPrompt(question: SpecBenchQuestion(id: 1, category: "writing", firstTurn: ""), ids: [5, 6, 5, 6, 5, 6, 5]),
            SpecBenchPrompt(question: SpecBenchQuestion(id: 2, category: "math", firstTurn: ""), ids: [10, 11, 12, 10, 11]),
        ]
        let methods: [SpecBenchMethod] = [.greedy, try .ppd(prompts: "random:3:3", tree: "chain", model: model),
                                          try .ppd(name: "ppd@dynamic", prompts: "random:3:3", tree: "dynamic", model: model)]
        let report = try SpecBench.run(model: model, prompts: prompts, methods: methods, stopping: StoppingCriteria(maxNewTokens: 16)) { _ in }
        XCTAssertEqual(report.methods, ["greedy", "ppd", "ppd@dynamic"])
        XCTAssertTrue(report.allIdenticalToBaseline)
        for result in report.results { for row in result.rows { XCTAssertGreaterThanOrEqual(row.meanAcceptedTokens, 1) } }
    }

    func testEmbeddingsOfAnotherWidthAreRefusedWhenTheMethodIsMade() throws {
        let model = try SyntheticModels.model(SyntheticModels.tinyA)
        let prompts = PPDPrompts(values: [Float](repeating: 0.1, count: 3 * 5), count: 3, hiddenSize: 5, origin: "w")
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ppd-\(UUID().uuidString).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try prompts.write(to: path)
        XCTAssertThrowsError(try SpecBenchMethod.ppd(prompts: path, tree: "chain", model: model)) { error in
            XCTAssertTrue("\(error)".contains("5 wide but the model's hidden size is \(model.shape.hiddenSize)"), "\(error)")
        }
    }
}

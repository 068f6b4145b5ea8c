import XCTest
import Tensors
import Transformer
@testable import Benchmarks

/// `SparseAttentionBenchmark` on a synthetic model: a budget covering the whole sequence agrees
/// with full attention everywhere (greedy prefix D, top-1 agreement 1), a budget of one slot is
/// measured like any other, the model's attention mode is restored, and bad parameters throw.
final class SparseAttentionBenchmarkTests: XCTestCase {
    func testCoveringBudgetAgreesWithFullAttentionAndTheModeIsRestored() throws {
        let model = try SyntheticModels.model(configuration: LlamaConfiguration(hiddenSize: 64, intermediateSize: 96, layerCount: 4, headCount: 4, kvHeadCount: 2,
                                                                                vocabularySize: 256, contextLength: 256, rmsNormEpsilon: 1e-5,
                                                                                ropeTheta: 10000, tiedEmbeddings: true), seed: 3)
        let text = (0..<120).map { ($0 * 37 + 11) % 256 }
        let options = SparseAttentionBenchmark.Options(lengths: [40, 90], budgets: [1, 200], decodeTokens: 6, selectionLayer: 0, reselectionLayer: 2, runs: 2)
        let report = try SparseAttentionBenchmark.run(model: model, text: text, options: options)
        XCTAssertEqual(model.attentionMode, .full)
        XCTAssertEqual(report.lengths.map(\.promptTokens), [40, 90])
        for length in report.lengths {
            XCTAssertEqual(length.budgets.map(\.tokenBudget), [1, 200])
            let covering = length.budgets[1]
            XCTAssertEqual(covering.greedyMatchingPrefix, 6)
            XCTAssertEqual(covering.greedyEqualFraction, 1)
            XCTAssertEqual(covering.top1Agreement, 1)
            for b in length.budgets { XCTAssertTrue(b.decodeTokensPerSecond.isFinite && b.decodeTokensPerSecond > 0) }
        }
        XCTAssertTrue(report.table().contains("speedup"))
    }

    func testLengthsBeyondTheTextOrBadBudgetsThrow() throws {
        let model = try SyntheticModels.model(SyntheticModels.tinyA)
        let text = Array(0..<50)
        XCTAssertThrowsError(try SparseAttentionBenchmark.run(model: model, text: text, options: .init(lengths: [51], budgets: [4], decodeTokens: 4)))
        XCTAssertThrowsError(try SparseAttentionBenchmark.run(model: model, text: text, options: .init(lengths: [20], budgets: [0], decodeTokens: 4)))
        XCTAssertThrowsError(try SparseAttentionBenchmark.run(model: model, text: text, options: .init(lengths: [20], budgets: [4], decodeTokens: 1)))
        XCTAssertThrowsError(try SparseAttentionBenchmark.run(model: model, text: text, options: .init(lengths: [20], budgets: [4], decodeTokens: 4, selectionLayer: 2)))
        XCTAssertEqual(model.attentionMode, .full)
    }
}

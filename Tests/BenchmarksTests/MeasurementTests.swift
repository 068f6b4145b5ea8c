import Foundation
import XCTest
import Formats
import Tensors
import Transformer
@testable import Benchmarks

final class MeasurementTests: XCTestCase {
    func testMedianIsTheMiddleValueOfAnOddCountAndTheMeanOfTheTwoMiddleOfAnEvenCount() {
        XCTAssertEqual(median([3, 1, 2]), 2)
        XCTAssertEqual(median([5]), 5)
        XCTAssertEqual(median([4, 1, 3, 2]), 2.5)
        XCTAssertEqual(median([10, -1]), 4.5)
        XCTAssertEqual(median([7, 7, 1, 9, 7]), 7, "repeated values")
        XCTAssertEqual(median([]), 0, "no values")
    }

    func testReadBandwidthIsAPositiveFiniteRateOnASmallBuffer() {
        for threads in [1, 2] {
            let pool = ParallelFor(threadCount: threads)
            for count in [64 * 2 * 32, 1, 1000] {
                let rate = measureReadBandwidth(pool: pool, floatCount: count, sweeps: 2)
                XCTAssertTrue(rate.isFinite && rate > 0, "\(threads) threads, \(count) floats: \(rate)")
            }
        }
    }

    func testBatchSweepReturnsOneCostPerSizeWithTheOneTokenBaselineFirst() throws {
        let model = try SyntheticModels.model(SyntheticModels.tinyA)
        var lines: [String] = []
        let report = try BatchSweep.run(model: model, promptLength: 8, sizes: [3, 2, 1, 5], runs: 1, pool: ParallelFor(threadCount: 1)) { lines.append($0) }
        XCTAssertEqual(report.passes.map(\.tokens), [1, 3, 2, 5], "the one-token baseline first, then the sizes in order, 1 not repeated")
        XCTAssertEqual(report.passes[0].costRatio, 1)
        for pass in report.passes {
            XCTAssertTrue(pass.seconds > 0 && pass.seconds.isFinite, "\(pass)")
            XCTAssertEqual(pass.costRatio, pass.seconds / report.passes[0].seconds)
        }
        XCTAssertEqual(report.context, 8)
        XCTAssertEqual(lines.count, 1 + 4, "one line before the sweep, one per size")
        XCTAssertEqual(lines[0], "measuring verification passes of 1, 3, 2, 5 tokens after 8 cached, 1 runs each…")
        let table = report.table().split(separator: "\n").map(String.init)
        XCTAssertEqual(table.count, 5)
        XCTAssertEqual(table[0], "tokens   ms/pass   cost / 1-token step   ms per extra token")
        XCTAssertTrue(table[1].hasSuffix("1.00×         -"), table[1])
        guard case .object(let fields) = report.json() else { return XCTFail("not an object") }
        XCTAssertEqual(fields.map(\.0), ["threads", "context", "passes"])
        XCTAssertThrowsError(try BatchSweep.run(model: model, promptLength: 8, sizes: [2, 0], runs: 1)) {
            XCTAssertEqual($0 as? BenchmarkError, .invalidParameter(name: "a batch size", value: "0", expected: "at least 1 token"))
        }
    }

    func testModelBenchmarkReportsEveryMeasurementAndRestoresTheFastKernels() throws {
        let model = try SyntheticModels.model(SyntheticModels.tinyA)
        var lines: [String] = []
        let options = ModelBenchmark.Options(runs: 1, promptLength: 8, decodeTokens: 2, measureNaivePath: true, readBandwidthFloatCount: 1 << 12)
        let report = try ModelBenchmark.run(model: model, options: options, pool: ParallelFor(threadCount: 2)) { lines.append($0) }
        XCTAssertFalse(model.useNaiveKernels)
        XCTAssertEqual(lines.count, 5)
        XCTAssertEqual(report.threadCount, 2)
        XCTAssertEqual(report.weightBytesPerToken, model.weightBytesPerToken)
        XCTAssertNotNil(report.singleThread)
        XCTAssertNotNil(report.naiveDecodeTokensPerSecond)
        for rate in [report.measurement.prefillTokensPerSecond, report.measurement.decodeTokensPerSecond, report.readBandwidth,
                     report.oneTokenForwardSeconds, report.eightTokenForwardSeconds] {
            XCTAssertTrue(rate > 0 && rate.isFinite, "\(rate)")
        }
        guard case .object(let fields) = report.json() else { return XCTFail("not an object") }
        XCTAssertEqual(fields.map(\.0), ["model", "threads", "prompt_length", "decode_tokens", "runs", "prefill_tokens_per_second",
                                         "decode_tokens_per_second", "weight_bytes_per_token", "read_bandwidth_gb_per_second",
                                         "bandwidth_bound_tokens_per_second", "decode_fraction_of_bandwidth_bound", "one_token_forward_seconds",
                                         "eight_token_batch_forward_seconds", "eight_token_batch_cost_ratio", "decode_tokens_per_second_1_thread",
                                         "naive_decode_tokens_per_second", "speedup_over_naive"])
        let table = report.table().split(separator: "\n").map(String.init)
        XCTAssertEqual(table.count, 10)
        XCTAssertEqual(table[0], "model                      synthetic seed 1")
        XCTAssertTrue(table[2].hasPrefix("prefill (   8 tokens)  "), table[2])
    }

    func testMeasurementsRejectAnEmptyPromptOrZeroRuns() throws {
        let model = try SyntheticModels.model(SyntheticModels.tinyA)
        XCTAssertThrowsError(try measureBatch(model, context: [], batch: 1, runs: 1, pool: .shared)) { XCTAssertTrue($0 is BenchmarkError) }
        XCTAssertThrowsError(try measureModel(model, prompt: [1], decodeTokens: 1, runs: 0, pool: .shared)) { XCTAssertTrue($0 is BenchmarkError) }
    }
}

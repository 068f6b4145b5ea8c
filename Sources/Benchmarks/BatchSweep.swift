import Foundation
import Formats
import Tensors
import Transformer

/// `touchstone bench --batch-sweep`: the cost of one verification pass of T tokens (all rows with
/// logits) relative to a one-token step, for the T a draft tree may have — the curve that decides
/// which tree size pays on this machine (speedup ≈ MAT / cost ratio).
public enum BatchSweep {
    /// 1…81 tokens: every size up to 6, then sparser, up to the 80-node tree plus its root.
    public static let defaultSizes = [1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 48, 64, 81]

    /// Measures the one-token pass first (after a warm-up, with twice the runs), then each of
    /// `sizes` in order (a 1 in `sizes` reuses the first measurement and is not repeated), each
    /// after a cache of `promptLength` tokens (`benchmarkPrompt`). `progress` receives a line
    /// before the sweep and one per size. Throws `BenchmarkError.invalidParameter` for a size
    /// below 1.
    public static func run(model: any CausalLanguageModel, promptLength: Int = 128, sizes: [Int] = defaultSizes, runs: Int = 5,
                           pool: ParallelFor = .shared, progress: (String) -> Void = { _ in }) throws -> BatchSweepReport {
        if let bad = sizes.first(where: { $0 < 1 }) {
            throw BenchmarkError.invalidParameter(name: "a batch size", value: "\(bad)", expected: "at least 1 token")
        }
        let sizes = [1] + sizes.filter { $0 != 1 }
        let prompt = benchmarkPrompt(length: promptLength, vocabularySize: model.shape.vocabularySize)
        progress("measuring verification passes of \(sizes.map(String.init).joined(separator: ", ")) tokens after \(promptLength) cached, \(runs) runs each…")
        _ = try measureBatch(model, context: prompt, batch: 1, runs: 2, pool: pool)  // warm-up
        let one = try measureBatch(model, context: prompt, batch: 1, runs: runs * 2, pool: pool)
        var passes: [BatchSweepReport.Pass] = []
        for t in sizes {
            let seconds = t == 1 ? one : try measureBatch(model, context: prompt, batch: t, runs: runs, pool: pool)
            passes.append(BatchSweepReport.Pass(tokens: t, seconds: seconds, costRatio: seconds / one))
            progress("  \(t) tokens: \(String(format: "%.2f", seconds * 1e3)) ms")
        }
        return BatchSweepReport(threadCount: pool.threadCount, context: promptLength, passes: passes)
    }
}

/// What `BatchSweep.run` measured: one pass per size, the one-token baseline first.
public struct BatchSweepReport: Sendable, Equatable {
    public struct Pass: Sendable, Equatable {
        public var tokens: Int
        /// Median seconds of one pass.
        public var seconds: Double
        /// `seconds` over the one-token pass's.
        public var costRatio: Double
    }

    public var threadCount: Int
    /// Tokens in the cache before each pass.
    public var context: Int
    public var passes: [Pass]

    /// `{"threads", "context", "passes": [{"tokens", "seconds", "cost_ratio"}…]}`.
    public func json() -> JSONValue {
        .object([("threads", .int(threadCount)), ("context", .int(context)),
                 ("passes", .array(passes.map { .object([("tokens", .int($0.tokens)), ("seconds", .double($0.seconds)),
                                                         ("cost_ratio", .double($0.costRatio))]) }))])
    }

    /// The text table: tokens, ms per pass, cost over a one-token step, ms per extra token.
    /// No final newline.
    public func table() -> String {
        let one = passes.first?.seconds ?? 0
        var lines = ["tokens   ms/pass   cost / 1-token step   ms per extra token"]
        for p in passes {
            let extra = p.tokens > 1 ? String(format: "%8.3f", (p.seconds - one) * 1e3 / Double(p.tokens - 1)) : "       -"
            lines.append(String(format: "%6d  %8.2f  %20.2f×  ", p.tokens, p.seconds * 1e3, p.costRatio) + extra)
        }
        return lines.joined(separator: "\n")
    }
}

import Foundation
import Formats

/// Sums of the runs of one method (in one category, or overall).
public struct SpecBenchTotals: Sendable, Equatable {
    public var tokens = 0
    public var seconds = 0.0
    public var decodeSeconds = 0.0
    public var steps = 0
    public var stepTokens = 0
    /// Runs whose output differed from the baseline's.
    public var mismatches = 0

    public init() {}

    public mutating func add(_ run: SpecBenchRun) {
        tokens += run.tokens
        seconds += run.seconds
        decodeSeconds += run.decodeSeconds
        steps += run.steps
        stepTokens += run.stepTokens
        if !run.identicalToBaseline { mismatches += 1 }
    }

    public mutating func add(_ other: SpecBenchTotals) {
        tokens += other.tokens
        seconds += other.seconds
        decodeSeconds += other.decodeSeconds
        steps += other.steps
        stepTokens += other.stepTokens
        mismatches += other.mismatches
    }
}

/// One method's line of a category: MAT; tokens/s and speedup over wall time (prefill included,
/// as Spec-Bench times a generation); and the same over decoding time only (prefill excluded;
/// identical work for every method). A rate with no time is 0, and so is a speedup over a
/// baseline rate of 0.
public struct SpecBenchRow: Sendable, Equatable {
    public var method: String
    public var totals: SpecBenchTotals
    /// Mean accepted tokens per step: stepTokens / steps (0 without steps).
    public var meanAcceptedTokens: Double
    public var tokensPerSecond: Double
    public var speedup: Double
    public var decodeTokensPerSecond: Double
    public var decodeSpeedup: Double
    public var identicalToBaseline: Bool { totals.mismatches == 0 }

    public init(method: String, totals t: SpecBenchTotals, baseline: SpecBenchTotals) {
        self.method = method
        totals = t
        let tps = t.seconds > 0 ? Double(t.tokens) / t.seconds : 0
        let base = baseline.seconds > 0 ? Double(baseline.tokens) / baseline.seconds : 0
        let dtps = t.decodeSeconds > 0 ? Double(t.tokens) / t.decodeSeconds : 0
        let dbase = baseline.decodeSeconds > 0 ? Double(baseline.tokens) / baseline.decodeSeconds : 0
        meanAcceptedTokens = t.steps > 0 ? Double(t.stepTokens) / Double(t.steps) : 0
        tokensPerSecond = tps
        speedup = base > 0 ? tps / base : 0
        decodeTokensPerSecond = dtps
        decodeSpeedup = dbase > 0 ? dtps / dbase : 0
    }
}

/// The rows of one category (or `overall`), in method order.
public struct SpecBenchCategoryResult: Sendable, Equatable {
    public var name: String
    public var rows: [SpecBenchRow]
}

/// A Spec-Bench run: every generation's measurements and their aggregation per category.
public struct SpecBenchReport: Sendable, Equatable {
    public var runs: [SpecBenchRun]
    /// Method names in run order; the first is the baseline.
    public var methods: [String]
    public var categories: [String]
    public var questionCount: Int
    public var maxNewTokens: Int
    public var threadCount: Int

    public init(runs: [SpecBenchRun], methods: [String], categories: [String], questionCount: Int, maxNewTokens: Int, threadCount: Int) {
        self.runs = runs
        self.methods = methods
        self.categories = categories
        self.questionCount = questionCount
        self.maxNewTokens = maxNewTokens
        self.threadCount = threadCount
    }

    /// Totals per method of one category, summed in run order.
    public func totals(category: String) -> [String: SpecBenchTotals] {
        var table: [String: SpecBenchTotals] = [:]
        for run in runs where run.category == category { table[run.method, default: SpecBenchTotals()].add(run) }
        return table
    }

    /// Totals per method over `categories`: each category's totals summed in category order.
    public var overallTotals: [String: SpecBenchTotals] {
        var table: [String: SpecBenchTotals] = [:]
        for c in categories { for (m, t) in totals(category: c) { table[m, default: SpecBenchTotals()].add(t) } }
        return table
    }

    /// Each category with a baseline run, in `categories` order, then `overall`; in each, one row
    /// per method that ran there, in method order, relative to the baseline's totals there.
    public var results: [SpecBenchCategoryResult] {
        guard let baselineName = methods.first else { return [] }
        var results: [SpecBenchCategoryResult] = []
        for c in categories + ["overall"] {
            let table = c == "overall" ? overallTotals : totals(category: c)
            guard let base = table[baselineName] else { continue }
            results.append(SpecBenchCategoryResult(name: c, rows: methods.compactMap { m in
                table[m].map { SpecBenchRow(method: m, totals: $0, baseline: base) }
            }))
        }
        return results
    }

    /// True when every run's output equals the baseline's.
    public var allIdenticalToBaseline: Bool { runs.allSatisfy(\.identicalToBaseline) }

    /// `{"questions", "max_new_tokens", "threads", "categories": {category: {method: {"mat",
    /// "tokens_per_second", "speedup", "decode_tokens_per_second", "decode_speedup", "tokens",
    /// "identical_to_greedy"}}}}`, categories and methods in report order, `overall` last.
    public func json() -> JSONValue {
        let categories: [(String, JSONValue)] = results.map { result in
            (result.name, .object(result.rows.map { r in
                (r.method, .object([("mat", .double(r.meanAcceptedTokens)), ("tokens_per_second", .double(r.tokensPerSecond)),
                                    ("speedup", .double(r.speedup)), ("decode_tokens_per_second", .double(r.decodeTokensPerSecond)),
                                    ("decode_speedup", .double(r.decodeSpeedup)), ("tokens", .int(r.totals.tokens)),
                                    ("identical_to_greedy", .bool(r.identicalToBaseline))]))
            }))
        }
        return .object([("questions", .int(questionCount)), ("max_new_tokens", .int(maxNewTokens)),
                        ("threads", .int(threadCount)), ("categories", .object(categories))])
    }

    /// The text report: a header line, then per category a blank line, its name and a table of
    /// MAT, tokens/s, speedup, decode tokens/s, decode speedup and identity. No final newline.
    public func table() -> String {
        var lines = ["Spec-Bench: \(questionCount) questions (first turn, ChatML, greedy), up to \(maxNewTokens) new tokens, \(threadCount) threads"]
        let nameWidth = max(16, methods.map(\.count).max() ?? 0)
        for result in results {
            lines.append("")
            lines.append(result.name)
            lines.append("  " + "method".padding(toLength: nameWidth, withPad: " ", startingAt: 0)
                         + "    MAT   tokens/s  speedup   decode tok/s  decode speedup  identical")
            for r in result.rows {
                let name = r.method.padding(toLength: nameWidth, withPad: " ", startingAt: 0)
                lines.append("  " + name + String(format: " %6.2f  %9.1f  %6.2f×  %12.1f  %13.2f×  ", r.meanAcceptedTokens, r.tokensPerSecond,
                                                  r.speedup, r.decodeTokensPerSecond, r.decodeSpeedup)
                             + (r.totals.mismatches == 0 ? "yes" : "NO (\(r.totals.mismatches))"))
            }
        }
        return lines.joined(separator: "\n")
    }
}

import Foundation
import Formats
import Tensors
import Transformer

/// `touchstone bench --sparse-attention tidal`: TidalDecode (arXiv:2410.05076) against full
/// attention on long prompts, in one process — agreement of greedy output and of next-token top-1,
/// and decode speed of the gathered fast path, so that ratios are measured under the same load.
///
/// Per prompt length `n` (the first `n` tokens of the given text): one full-attention prefill
/// (TidalDecode's prefill is full attention, so every mode shares it; the cache is rolled back to
/// `n` before each run). Then, with `D = decodeTokens`:
/// - full attention decodes greedily `D` tokens `y_0 … y_{D−1}` (`y_0` from the prefill);
/// - per budget K, TidalDecode decodes greedily from the same prefill: `greedy_matching_prefix`
///   is how many leading tokens equal `y`, `greedy_equal_fraction` the fraction of the `D`
///   positions that do;
/// - per budget, teacher-forced along `y` (feeding `y_0 … y_{D−2}`): `top1_agreement` is the
///   fraction of the `D − 1` steps whose TidalDecode argmax is full attention's next token;
/// - decode tokens/s: the `D − 1` one-token passes of each greedy run (each configuration on its
///   own copy of the prefill's cache, one step of every configuration in turn, so load changes
///   hit all of them alike), median over `runs` rounds. `speedup` = TidalDecode tokens/s over
///   full attention's.
/// Argmax ties go to the lower token id (D4).
public enum SparseAttentionBenchmark {
    public struct Options: Sendable, Equatable {
        public var lengths: [Int]
        public var budgets: [Int]
        public var decodeTokens: Int
        /// nil: `TidalDecode.defaults(layerCount:)`.
        public var selectionLayer: Int?
        public var reselectionLayer: Int?
        public var runs: Int

        public init(lengths: [Int] = [1024, 2048, 4096, 7168], budgets: [Int] = [64, 128, 256, 512], decodeTokens: Int = 32,
                    selectionLayer: Int? = nil, reselectionLayer: Int? = nil, runs: Int = 1) {
            self.lengths = lengths
            self.budgets = budgets
            self.decodeTokens = decodeTokens
            self.selectionLayer = selectionLayer
            self.reselectionLayer = reselectionLayer
            self.runs = runs
        }
    }

    /// Throws `BenchmarkError.invalidParameter` for a length longer than `text` or the context
    /// (minus the decoded tokens), a budget below 1, fewer than 2 decode tokens, or layers outside
    /// the model. Leaves `model.attentionMode` as it found it.
    public static func run(model: any CausalLanguageModel, text: [Int], options o: Options, pool: ParallelFor = .shared,
                           progress: (String) -> Void = { _ in }) throws -> SparseAttentionReport {
        let L = model.shape.layerCount
        let defaults = TidalDecode.defaults(layerCount: L)
        let s = o.selectionLayer ?? defaults.selectionLayer, r = o.reselectionLayer ?? defaults.reselectionLayer
        let D = o.decodeTokens
        if D < 2 { throw BenchmarkError.invalidParameter(name: "decode tokens", value: "\(D)", expected: "at least 2") }
        for n in o.lengths where n < 1 || n > text.count || n + D > model.shape.contextLength {
            throw BenchmarkError.invalidParameter(name: "a prompt length", value: "\(n)",
                                                  expected: "1...\(min(text.count, model.shape.contextLength - D)) (the text has \(text.count) tokens, the context \(model.shape.contextLength) positions, \(D) are decoded)")
        }
        let modes = try o.budgets.map { K -> TidalDecode in
            let t = TidalDecode(tokenBudget: K, selectionLayer: s, reselectionLayer: r)
            do { try AttentionMode.tidal(t).validate(layerCount: L) } catch let e as ModelError {
                throw BenchmarkError.invalidParameter(name: "TidalDecode", value: "K \(K), s \(s), r \(r)", expected: e.description)
            }
            return t
        }
        let saved = model.attentionMode
        defer { model.attentionMode = saved }
        let loadBefore = machineLoad()
        var lengths: [SparseAttentionReport.Length] = []
        for n in o.lengths {
            let prompt = Array(text.prefix(n))
            let cache = model.makeCache(initialCapacity: n + D)
            model.attentionMode = .full
            progress("\(n) tokens: prefill…")
            let started = Date()
            let prefill = try model.forward(tokens: prompt, cache: cache, pool: pool)
            let prefillSeconds = Date().timeIntervalSince(started)
            let first = argmax(prefill.logits)

            // Greedy decoding of D tokens per configuration, each from its own copy of the
            // prefill's cache, one step of every configuration in turn (so load changes hit all
            // of them alike); `seconds[i]` sums configuration i's D − 1 passes.
            let configurations: [AttentionMode] = [.full] + modes.map { .tidal($0) }
            var outputs: [[Int]] = [], seconds = [[Double]](repeating: [], count: configurations.count)
            var caches = configurations.map { _ in cache.copy(capacity: n + D) }
            for round in 0..<o.runs {
                for c in caches { c.rollback(to: n) }
                var tokens = configurations.map { _ in [first] }
                var spent = [Double](repeating: 0, count: configurations.count)
                for _ in 1..<D {
                    for (i, mode) in configurations.enumerated() {
                        model.attentionMode = mode
                        let t0 = Date()
                        let logits = try model.forward(tokens: [tokens[i].last!], cache: caches[i], pool: pool).logits
                        spent[i] += Date().timeIntervalSince(t0)
                        tokens[i].append(argmax(logits))
                    }
                }
                if round == 0 { outputs = tokens }
                for i in configurations.indices { seconds[i].append(spent[i]) }
                progress("\(n) tokens: round \(round + 1) of \(o.runs): " + configurations.indices.map { i in
                    let name = i == 0 ? "full" : "K \(modes[i - 1].tokenBudget)"
                    return "\(name) \(String(format: "%.1f", Double(D - 1) / spent[i])) tok/s"
                }.joined(separator: ", "))
            }
            caches = []
            let full = outputs[0], fullRate = Double(D - 1) / median(seconds[0])
            var budgets: [SparseAttentionReport.Budget] = []
            for (i, t) in modes.enumerated() {
                // Teacher-forced along full attention's tokens.
                model.attentionMode = .tidal(t)
                cache.rollback(to: n)
                var agree = 0
                for step in 0..<(D - 1) {
                    if argmax(try model.forward(tokens: [full[step]], cache: cache, pool: pool).logits) == full[step + 1] { agree += 1 }
                }
                let tokens = outputs[i + 1]
                let prefix = zip(tokens, full).prefix { $0 == $1 }.count
                let equal = zip(tokens, full).filter { $0 == $1 }.count
                let rate = Double(D - 1) / median(seconds[i + 1])
                budgets.append(.init(tokenBudget: t.tokenBudget, greedyMatchingPrefix: prefix, greedyEqualFraction: Double(equal) / Double(D),
                                     top1Agreement: Double(agree) / Double(D - 1), decodeTokensPerSecond: rate, speedup: rate / fullRate))
            }
            lengths.append(.init(promptTokens: n, prefillSeconds: prefillSeconds, fullDecodeTokensPerSecond: fullRate, budgets: budgets))
        }
        return SparseAttentionReport(threadCount: pool.threadCount, decodeTokens: D, selectionLayer: s, reselectionLayer: r, runs: o.runs,
                                     loadAverageBefore: loadBefore, loadAverageAfter: machineLoad(), lengths: lengths)
    }

    static func argmax(_ logits: [Float]) -> Int {
        logits.withUnsafeBufferPointer { Kernels.argmax($0.baseAddress!, count: $0.count) }
    }

    /// The 1-minute load average (`/proc/loadavg`), or nil where there is none.
    static func machineLoad() -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return nil }
        return text.split(separator: " ").first.flatMap { Double($0) }
    }
}

/// What `SparseAttentionBenchmark.run` measured.
public struct SparseAttentionReport: Sendable, Equatable {
    public struct Budget: Sendable, Equatable {
        public var tokenBudget: Int
        public var greedyMatchingPrefix: Int
        public var greedyEqualFraction: Double
        public var top1Agreement: Double
        public var decodeTokensPerSecond: Double
        public var speedup: Double
    }
    public struct Length: Sendable, Equatable {
        public var promptTokens: Int
        public var prefillSeconds: Double
        public var fullDecodeTokensPerSecond: Double
        public var budgets: [Budget]
    }

    public var threadCount: Int
    public var decodeTokens: Int
    public var selectionLayer: Int
    public var reselectionLayer: Int
    public var runs: Int
    /// The machine's 1-minute load average before and after the measurement.
    public var loadAverageBefore: Double?
    public var loadAverageAfter: Double?
    public var lengths: [Length]

    public func json() -> JSONValue {
        .object([("threads", .int(threadCount)), ("decode_tokens", .int(decodeTokens)), ("selection_layer", .int(selectionLayer)),
                 ("reselection_layer", .int(reselectionLayer)), ("runs", .int(runs)),
                 ("load_average_before", loadAverageBefore.map { .double($0) } ?? .null),
                 ("load_average_after", loadAverageAfter.map { .double($0) } ?? .null),
                 ("lengths", .array(lengths.map { l in
                     .object([("prompt_tokens", .int(l.promptTokens)), ("prefill_seconds", .double(l.prefillSeconds)),
                              ("full_decode_tokens_per_second", .double(l.fullDecodeTokensPerSecond)),
                              ("budgets", .array(l.budgets.map { b in
                                  .object([("token_budget", .int(b.tokenBudget)), ("greedy_matching_prefix", .int(b.greedyMatchingPrefix)),
                                           ("greedy_equal_fraction", .double(b.greedyEqualFraction)), ("top1_agreement", .double(b.top1Agreement)),
                                           ("decode_tokens_per_second", .double(b.decodeTokensPerSecond)), ("speedup", .double(b.speedup))])
                              }))])
                 }))])
    }

    /// One row per (length, budget): agreement and speed, full attention's rate beside.
    public func table() -> String {
        func f(_ x: Double, _ digits: Int = 2) -> String { String(format: "%.\(digits)f", x) }
        var lines = ["TidalDecode vs full attention: s = \(selectionLayer), r = \(reselectionLayer), \(decodeTokens) greedy tokens, \(threadCount) threads, "
                     + "median of \(runs) run(s), load average \(loadAverageBefore.map { f($0) } ?? "?") → \(loadAverageAfter.map { f($0) } ?? "?")",
                     "prompt  K     greedy prefix  greedy equal  top-1 agree  tok/s (full)   tok/s (tidal)  speedup"]
        for l in lengths {
            for b in l.budgets {
                lines.append([String(l.promptTokens).padding(toLength: 8, withPad: " ", startingAt: 0),
                              String(b.tokenBudget).padding(toLength: 6, withPad: " ", startingAt: 0),
                              "\(b.greedyMatchingPrefix)/\(decodeTokens)".padding(toLength: 15, withPad: " ", startingAt: 0),
                              f(b.greedyEqualFraction).padding(toLength: 14, withPad: " ", startingAt: 0),
                              f(b.top1Agreement).padding(toLength: 13, withPad: " ", startingAt: 0),
                              f(l.fullDecodeTokensPerSecond, 1).padding(toLength: 15, withPad: " ", startingAt: 0),
                              f(b.decodeTokensPerSecond, 1).padding(toLength: 15, withPad: " ", startingAt: 0),
                              f(b.speedup) + "×"].joined())
            }
        }
        return lines.joined(separator: "\n")
    }
}

import Foundation
import Formats
import Tensors
import Transformer

/// `touchstone bench --busy N`: decode speed on one thread and on the pool's threads while `N`
/// CPU-bound processes compete for the cores, measured in the same process, alternated.
public enum BusyMachineBenchmark {
    public struct Options: Sendable, Equatable {
        /// Competing processes (0: an idle-machine comparison with the same protocol).
        public var competingProcesses = 2
        /// Rounds; each measures both configurations once, the order swapped every round
        /// (1-thread first in even rounds) so drift in the machine's speed cancels.
        public var rounds = 4
        public var promptLength = 16
        public var decodeTokens = 32

        public init(competingProcesses: Int = 2, rounds: Int = 4, promptLength: Int = 16, decodeTokens: Int = 32) {
            self.competingProcesses = competingProcesses
            self.rounds = rounds
            self.promptLength = promptLength
            self.decodeTokens = decodeTokens
        }
    }

    /// Starts `load(options.competingProcesses)` (skipped for 0), waits a quarter second so the
    /// processes are running, warms both pools up, then alternates one-run measurements of a
    /// 1-thread pool and of `pool` for `options.rounds` rounds. The load is stopped (by PID)
    /// before returning or throwing. `pool` should have 2 or more threads.
    public static func run(model: any CausalLanguageModel, options: Options, pool: ParallelFor = .shared,
                           load: (Int) throws -> CompetingLoad, progress: (String) -> Void = { _ in }) throws -> BusyMachineReport {
        if options.rounds < 1 { throw BenchmarkError.invalidParameter(name: "the number of rounds", value: "\(options.rounds)", expected: "at least 1") }
        let prompt = benchmarkPrompt(length: options.promptLength, vocabularySize: model.shape.vocabularySize)
        let single = ParallelFor(threadCount: 1)
        var competing: CompetingLoad? = nil
        defer { competing?.stop() }
        if options.competingProcesses > 0 {
            progress("starting \(options.competingProcesses) competing CPU-bound processes…")
            competing = try load(options.competingProcesses)
            var pause = timespec(tv_sec: 0, tv_nsec: 250_000_000)
            nanosleep(&pause, nil)
        }
        _ = try measureModel(model, prompt: Array(prompt.prefix(4)), decodeTokens: 2, runs: 1, pool: single)  // warm-up
        _ = try measureModel(model, prompt: Array(prompt.prefix(4)), decodeTokens: 2, runs: 1, pool: pool)
        var singleRates: [Double] = [], poolRates: [Double] = []
        for round in 0..<options.rounds {
            progress("round \(round + 1) of \(options.rounds): 1 thread and \(pool.threadCount) threads, \(options.decodeTokens) decode tokens each…")
            let order = round % 2 == 0 ? [single, pool] : [pool, single]
            for p in order {
                let rate = try measureModel(model, prompt: prompt, decodeTokens: options.decodeTokens, runs: 1, pool: p).decodeTokensPerSecond
                if p === single { singleRates.append(rate) } else { poolRates.append(rate) }
            }
        }
        return BusyMachineReport(model: model.origin, threadCount: pool.threadCount, options: options,
                                 singleThreadRates: singleRates, poolRates: poolRates)
    }
}

/// What `BusyMachineBenchmark.run` measured: decode tokens/s per round.
public struct BusyMachineReport: Sendable, Equatable {
    public var model: String
    public var threadCount: Int
    public var options: BusyMachineBenchmark.Options
    public var singleThreadRates: [Double]
    public var poolRates: [Double]

    public init(model: String, threadCount: Int, options: BusyMachineBenchmark.Options, singleThreadRates: [Double], poolRates: [Double]) {
        self.model = model
        self.threadCount = threadCount
        self.options = options
        self.singleThreadRates = singleThreadRates
        self.poolRates = poolRates
    }

    /// Median over rounds of (pool rate / 1-thread rate) within the round.
    public var medianRatio: Double { median(zip(poolRates, singleThreadRates).map { $0 / $1 }) }

    /// The `bench --busy N --json` document (keys in this order).
    public func json() -> JSONValue {
        .object([
            ("model", .string(model)),
            ("threads", .int(threadCount)),
            ("busy_processes", .int(options.competingProcesses)),
            ("rounds", .int(options.rounds)),
            ("prompt_length", .int(options.promptLength)),
            ("decode_tokens", .int(options.decodeTokens)),
            ("decode_tokens_per_second", .double(median(poolRates))),
            ("decode_tokens_per_second_1_thread", .double(median(singleThreadRates))),
            ("busy_ratio_threads_to_1_thread", .double(medianRatio)),
            ("decode_tokens_per_second_by_round", .array(poolRates.map { .double($0) })),
            ("decode_tokens_per_second_1_thread_by_round", .array(singleThreadRates.map { .double($0) })),
        ])
    }

    /// The text report. No final newline.
    public func table() -> String {
        var lines = [
            "model                      \(model)",
            "competing processes        \(options.competingProcesses)",
            String(format: "decode, %2d threads         %8.1f tokens/s (median of %d rounds)", threadCount, median(poolRates), poolRates.count),
            String(format: "decode, 1 thread           %8.1f tokens/s", median(singleThreadRates)),
            String(format: "%d threads / 1 thread       %8.2f×  (median of per-round ratios)", threadCount, medianRatio),
        ]
        for (i, (a, b)) in zip(poolRates, singleThreadRates).enumerated() {
            lines.append(String(format: "  round %d                  %8.1f / %.1f tokens/s", i + 1, a, b))
        }
        return lines.joined(separator: "\n")
    }
}

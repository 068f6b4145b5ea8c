import Foundation
import Formats
import Tensors
import Transformer

/// `touchstone bench`: prefill and decode speed against the machine's bandwidth bound, the cost of
/// an 8-token verification batch, and the naive scalar path.
public enum ModelBenchmark {
    public struct Options: Sendable, Equatable {
        /// Runs per measurement (medians are reported).
        public var runs = 5
        public var promptLength = 64
        public var decodeTokens = 32
        /// Also measure the naive scalar path (one thread, 2 decode steps; slow).
        public var measureNaivePath = true
        /// Size of the bandwidth probe's buffer in Float32 values (default 512 MiB, larger than any cache).
        public var readBandwidthFloatCount = 128 << 20

        public init(runs: Int = 5, promptLength: Int = 64, decodeTokens: Int = 32, measureNaivePath: Bool = true,
                    readBandwidthFloatCount: Int = 128 << 20) {
            self.runs = runs
            self.promptLength = promptLength
            self.decodeTokens = decodeTokens
            self.measureNaivePath = measureNaivePath
            self.readBandwidthFloatCount = readBandwidthFloatCount
        }
    }

    /// Measures, in this order: read bandwidth; prefill and decode on `pool` (after a warm-up);
    /// decode on one thread when the pool has more; a 1-token and an 8-token verification pass;
    /// and, when asked, the naive scalar path (the model's `useNaiveKernels`, restored after).
    /// The prompt is `benchmarkPrompt(length:vocabularySize:)`. `progress` receives one line
    /// before each measurement.
    public static func run(model: any CausalLanguageModel, options: Options = Options(), pool: ParallelFor = .shared,
                           progress: (String) -> Void = { _ in }) throws -> ModelBenchmarkReport {
        let runs = options.runs
        let prompt = benchmarkPrompt(length: options.promptLength, vocabularySize: model.shape.vocabularySize)
        let threads = pool.threadCount
        progress("measuring read bandwidth…")
        let bandwidth = measureReadBandwidth(pool: pool, floatCount: options.readBandwidthFloatCount)
        progress("measuring \(threads)-thread prefill (\(options.promptLength) tokens) and decode (\(options.decodeTokens) tokens), \(runs) runs…")
        _ = try measureModel(model, prompt: Array(prompt.prefix(8)), decodeTokens: 2, runs: 1, pool: pool)  // warm-up
        let fast = try measureModel(model, prompt: prompt, decodeTokens: options.decodeTokens, runs: runs, pool: pool)
        var single: DecodeMeasurement? = nil
        if threads > 1 {
            progress("measuring 1-thread decode…")
            single = try measureModel(model, prompt: Array(prompt.prefix(16)), decodeTokens: options.decodeTokens, runs: max(1, runs / 2),
                                      pool: ParallelFor(threadCount: 1))
        }
        progress("measuring an 8-token verification batch against a 1-token step…")
        let oneToken = try measureBatch(model, context: prompt, batch: 1, runs: runs * 2, pool: pool)
        let eightTokens = try measureBatch(model, context: prompt, batch: 8, runs: runs * 2, pool: pool)
        var naive: Double? = nil
        if options.measureNaivePath {
            progress("measuring the naive scalar path (one thread, 2 decode steps)…")
            let previous = model.useNaiveKernels
            model.useNaiveKernels = true
            defer { model.useNaiveKernels = previous }
            naive = try measureModel(model, prompt: Array(prompt.prefix(2)), decodeTokens: 2, runs: 1, pool: ParallelFor(threadCount: 1)).decodeTokensPerSecond
        }
        return ModelBenchmarkReport(model: model.origin, threadCount: threads, options: options, measurement: fast, singleThread: single,
                                    readBandwidth: bandwidth, weightBytesPerToken: model.weightBytesPerToken,
                                    oneTokenForwardSeconds: oneToken, eightTokenForwardSeconds: eightTokens, naiveDecodeTokensPerSecond: naive)
    }
}

/// What `ModelBenchmark.run` measured.
public struct ModelBenchmarkReport: Sendable, Equatable {
    /// The model's origin (file name).
    public var model: String
    public var threadCount: Int
    public var options: ModelBenchmark.Options
    public var measurement: DecodeMeasurement
    /// Decode on one thread (absent when the pool has one thread).
    public var singleThread: DecodeMeasurement?
    /// Bytes per second.
    public var readBandwidth: Double
    public var weightBytesPerToken: Int
    public var oneTokenForwardSeconds: Double
    public var eightTokenForwardSeconds: Double
    public var naiveDecodeTokensPerSecond: Double?

    public init(model: String, threadCount: Int, options: ModelBenchmark.Options, measurement: DecodeMeasurement, singleThread: DecodeMeasurement?,
                readBandwidth: Double, weightBytesPerToken: Int, oneTokenForwardSeconds: Double, eightTokenForwardSeconds: Double,
                naiveDecodeTokensPerSecond: Double?) {
        self.model = model
        self.threadCount = threadCount
        self.options = options
        self.measurement = measurement
        self.singleThread = singleThread
        self.readBandwidth = readBandwidth
        self.weightBytesPerToken = weightBytesPerToken
        self.oneTokenForwardSeconds = oneTokenForwardSeconds
        self.eightTokenForwardSeconds = eightTokenForwardSeconds
        self.naiveDecodeTokensPerSecond = naiveDecodeTokensPerSecond
    }

    /// Decode rate if every token read all weights once at the measured bandwidth.
    public var bandwidthBoundTokensPerSecond: Double { readBandwidth / Double(weightBytesPerToken) }
    public var decodeFractionOfBandwidthBound: Double { measurement.decodeTokensPerSecond / bandwidthBoundTokensPerSecond }

    /// The `bench --json` document (keys in this order).
    public func json() -> JSONValue {
        var stats: [(String, JSONValue)] = [
            ("model", .string(model)),
            ("threads", .int(threadCount)),
            ("prompt_length", .int(options.promptLength)),
            ("decode_tokens", .int(options.decodeTokens)),
            ("runs", .int(options.runs)),
            ("prefill_tokens_per_second", .double(measurement.prefillTokensPerSecond)),
            ("decode_tokens_per_second", .double(measurement.decodeTokensPerSecond)),
            ("weight_bytes_per_token", .int(weightBytesPerToken)),
            ("read_bandwidth_gb_per_second", .double(readBandwidth / 1e9)),
            ("bandwidth_bound_tokens_per_second", .double(bandwidthBoundTokensPerSecond)),
            ("decode_fraction_of_bandwidth_bound", .double(decodeFractionOfBandwidthBound)),
            ("one_token_forward_seconds", .double(oneTokenForwardSeconds)),
            ("eight_token_batch_forward_seconds", .double(eightTokenForwardSeconds)),
            ("eight_token_batch_cost_ratio", .double(eightTokenForwardSeconds / oneTokenForwardSeconds)),
        ]
        if let singleThread { stats.append(("decode_tokens_per_second_1_thread", .double(singleThread.decodeTokensPerSecond))) }
        if let naive = naiveDecodeTokensPerSecond {
            stats.append(("naive_decode_tokens_per_second", .double(naive)))
            stats.append(("speedup_over_naive", .double(measurement.decodeTokensPerSecond / naive)))
        }
        return .object(stats)
    }

    /// The text report, one measurement per line. No final newline.
    public func table() -> String {
        let fast = measurement
        var lines = [
            "model                      \(model)",
            "threads                    \(threadCount)",
            String(format: "prefill (%4d tokens)       %8.1f tokens/s", options.promptLength, fast.prefillTokensPerSecond),
            String(format: "decode                     %8.1f tokens/s", fast.decodeTokensPerSecond),
        ]
        if let singleThread { lines.append(String(format: "decode, 1 thread           %8.1f tokens/s", singleThread.decodeTokensPerSecond)) }
        lines.append(String(format: "read bandwidth             %8.1f GB/s (measured now)", readBandwidth / 1e9))
        lines.append(String(format: "weights read per token     %8.1f MB", Double(weightBytesPerToken) / 1e6))
        lines.append(String(format: "bandwidth bound            %8.1f tokens/s  → decode at %.2f of it", bandwidthBoundTokensPerSecond,
                            decodeFractionOfBandwidthBound))
        lines.append(String(format: "8-token batch / 1 token    %8.2f×  (%.2f ms vs %.2f ms)", eightTokenForwardSeconds / oneTokenForwardSeconds,
                            eightTokenForwardSeconds * 1e3, oneTokenForwardSeconds * 1e3))
        if let naive = naiveDecodeTokensPerSecond {
            lines.append(String(format: "naive scalar path          %8.2f tokens/s  → fast path %.1f× faster", naive, fast.decodeTokensPerSecond / naive))
        }
        return lines.joined(separator: "\n")
    }
}

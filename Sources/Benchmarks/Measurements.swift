import Tensors
import Transformer
import Decoding

/// The median of `values`: the middle value of an odd count, the mean of the two middle values of
/// an even count (their sum halved, in binary64), 0 for no values. NaN orders as Swift's `sorted()`
/// leaves it, so give finite values.
public func median(_ values: [Double]) -> Double {
    let s = values.sorted()
    if s.isEmpty { return 0 }
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

/// Read bandwidth of this machine now, in bytes per second: the best of `sweeps` parallel passes
/// summing a buffer of `floatCount` Float32 values (the default, 512 MiB, is larger than any
/// cache), split in equal parts across the pool's threads. Each part sums whole 64-float blocks,
/// so `floatCount` should be a multiple of 64 × the thread count; the rate counts every byte of
/// the buffer. Returns a positive finite number for any `floatCount ≥ 1` and `sweeps ≥ 1`.
public func measureReadBandwidth(pool: ParallelFor, floatCount count: Int = 128 << 20, sweeps: Int = 5) -> Double {
    let count = max(1, count)
    let buffer = UnsafeMutablePointer<Float>.allocate(capacity: count)
    defer { buffer.deallocate() }
    let threads = pool.threadCount
    pool.run(count: threads) { lower, upper in
        for part in lower..<upper {
            let begin = part * count / threads, end = (part + 1) * count / threads
            (buffer + begin).initialize(repeating: 1, count: end - begin)
        }
    }
    var best = 0.0
    var sink: Float = 0
    for _ in 0..<max(1, sweeps) {
        var partial = [Float](repeating: 0, count: threads)
        let start = monotonicSeconds()
        partial.withUnsafeMutableBufferPointer { out in
            pool.run(count: threads) { lower, upper in
                for part in lower..<upper {
                    let begin = part * count / threads, end = (part + 1) * count / threads
                    var a0 = SIMD16<Float>(), a1 = SIMD16<Float>(), a2 = SIMD16<Float>(), a3 = SIMD16<Float>()
                    var i = begin
                    let raw = UnsafeRawPointer(buffer)
                    while i + 64 <= end {
                        a0 = a0 + raw.load(fromByteOffset: i * 4, as: SIMD16<Float>.self)
                        a1 = a1 + raw.load(fromByteOffset: i * 4 + 64, as: SIMD16<Float>.self)
                        a2 = a2 + raw.load(fromByteOffset: i * 4 + 128, as: SIMD16<Float>.self)
                        a3 = a3 + raw.load(fromByteOffset: i * 4 + 192, as: SIMD16<Float>.self)
                        i += 64
                    }
                    out[part] = (a0 + a1 + a2 + a3).sum()
                }
            }
        }
        // A clock tick is the shortest time a sweep can be said to take (keeps tiny buffers finite).
        let seconds = max(monotonicSeconds() - start, 1e-9)
        sink += partial.reduce(0, +)
        best = max(best, Double(count * 4) / seconds)
    }
    // The sums are of ones, never negative: this keeps them (and so the loads) alive.
    if sink < 0 { best = -best }
    return best
}

/// Prefill and decode speed of one configuration, in tokens per second.
public struct DecodeMeasurement: Sendable, Equatable {
    public var prefillTokensPerSecond: Double
    public var decodeTokensPerSecond: Double

    public init(prefillTokensPerSecond: Double, decodeTokensPerSecond: Double) {
        self.prefillTokensPerSecond = prefillTokensPerSecond
        self.decodeTokensPerSecond = decodeTokensPerSecond
    }
}

/// Prefill of `prompt`, then `decodeTokens` single-token greedy steps, `runs` times on a fresh
/// cache each; the medians of the runs' rates.
public func measureModel(_ model: any CausalLanguageModel, prompt: [Int], decodeTokens: Int, runs: Int, pool: ParallelFor) throws -> DecodeMeasurement {
    try requireMeasurable(prompt: prompt, name: "the prompt", count: decodeTokens, countName: "decode tokens", runs: runs)
    var prefill: [Double] = []
    var decode: [Double] = []
    for _ in 0..<runs {
        let cache = KVCache(shape: model.shape, initialCapacity: prompt.count + decodeTokens + 1)
        var start = monotonicSeconds()
        var result = try model.forward(tokens: prompt, cache: cache, logitRows: .last, pool: pool)
        prefill.append(Double(prompt.count) / (monotonicSeconds() - start))
        start = monotonicSeconds()
        for _ in 0..<decodeTokens {
            let next = result.logits.withUnsafeBufferPointer { Kernels.argmax($0.baseAddress!, count: $0.count) }
            result = try model.forward(tokens: [next], cache: cache, logitRows: .last, pool: pool)
        }
        decode.append(Double(decodeTokens) / (monotonicSeconds() - start))
    }
    return DecodeMeasurement(prefillTokensPerSecond: median(prefill), decodeTokensPerSecond: median(decode))
}

/// Seconds for one forward pass of `batch` new tokens (all rows with logits, as in speculative
/// verification) after a cache of `context` tokens; the median over `runs` passes, each rolled
/// back before the next. The batch's tokens are `(context[i % context.count] + 7 i) mod V`.
public func measureBatch(_ model: any CausalLanguageModel, context: [Int], batch: Int, runs: Int, pool: ParallelFor) throws -> Double {
    try requireMeasurable(prompt: context, name: "the context", count: batch, countName: "the batch size", runs: runs)
    let cache = KVCache(shape: model.shape, initialCapacity: context.count + batch)
    _ = try model.forward(tokens: context, cache: cache, logitRows: .none, pool: pool)
    let tokens = (0..<batch).map { (context[$0 % context.count] + 7 * $0) % model.shape.vocabularySize }
    var times: [Double] = []
    for _ in 0..<runs {
        let start = monotonicSeconds()
        _ = try model.forward(tokens: tokens, cache: cache, logitRows: .all, pool: pool)
        times.append(monotonicSeconds() - start)
        cache.rollback(to: context.count)
    }
    return median(times)
}

/// The fixed, deterministic prompt of ordinary token ids the speed benchmarks use:
/// `(1000 + 37 i) mod vocabularySize` for i in 0..<length.
public func benchmarkPrompt(length: Int, vocabularySize: Int) -> [Int] {
    (0..<length).map { (1000 + 37 * $0) % vocabularySize }
}

/// Throws unless `prompt` has a token, `count ≥ 1` and `runs ≥ 1`.
private func requireMeasurable(prompt: [Int], name: String, count: Int, countName: String, runs: Int) throws {
    if prompt.isEmpty { throw BenchmarkError.invalidParameter(name: "the length of \(name)", value: "0", expected: "at least 1 token") }
    if count < 1 { throw BenchmarkError.invalidParameter(name: countName, value: "\(count)", expected: "at least 1") }
    if runs < 1 { throw BenchmarkError.invalidParameter(name: "the number of runs", value: "\(runs)", expected: "at least 1") }
}

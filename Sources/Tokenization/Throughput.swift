/// Encode-throughput measurement, for `touchstone bench --tokenizer`.
public struct EncodeThroughput: Sendable, CustomStringConvertible {
    /// UTF-8 bytes encoded per pass.
    public var bytes: Int
    /// Tokens produced per pass.
    public var tokens: Int
    /// Seconds of the first pass (empty word cache).
    public var coldSeconds: Double
    /// Seconds of the fastest of the following passes (warm word cache).
    public var warmSeconds: Double

    /// Megabytes (10^6 bytes) per second of the first pass.
    public var coldMegabytesPerSecond: Double { Double(bytes) / coldSeconds / 1e6 }
    /// Megabytes (10^6 bytes) per second of the fastest warm pass.
    public var warmMegabytesPerSecond: Double { Double(bytes) / warmSeconds / 1e6 }

    public var description: String {
        let cold = (coldMegabytesPerSecond * 100).rounded() / 100
        let warm = (warmMegabytesPerSecond * 100).rounded() / 100
        return "\(bytes) bytes → \(tokens) tokens; cold \(cold) MB/s, warm \(warm) MB/s (single thread)"
    }
}

extension Tokenizer {
    /// Encodes `texts` one by one on the calling thread: once with an empty word cache, then
    /// `warmPasses` more times, and reports bytes, tokens and the cold and best warm timings.
    /// Each text is encoded with `parseSpecialTokens: true` and no BOS.
    public func measureEncodeThroughput(texts: [String], warmPasses: Int = 3) -> EncodeThroughput {
        let bytes = texts.reduce(0) { $0 + $1.utf8.count }
        clearCache()
        let clock = ContinuousClock()
        var tokens = 0
        let cold = clock.measure {
            for text in texts { tokens += encode(text).count }
        }
        var best = cold
        for _ in 0..<max(0, warmPasses) {
            let elapsed = clock.measure {
                for text in texts { _ = encode(text).count }
            }
            best = min(best, elapsed)
        }
        func seconds(_ duration: Duration) -> Double {
            let parts = duration.components
            return Double(parts.seconds) + Double(parts.attoseconds) * 1e-18
        }
        return EncodeThroughput(bytes: bytes, tokens: tokens, coldSeconds: seconds(cold),
                                warmSeconds: warmPasses > 0 ? seconds(best) : seconds(cold))
    }
}

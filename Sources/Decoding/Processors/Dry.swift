import Tensors

/// DRY, "Don't Repeat Yourself" (p-e-w, text-generation-webui PR #5677, 2024; llama.cpp
/// `llama_sampler_dry`, ported from koboldcpp PR #982): penalise the tokens that would extend a
/// sequence already present in the context, by `multiplier · base^(n − allowedLength)` for a
/// repetition of length `n ≥ allowedLength`. llama.cpp semantics (DOCS.md section 6.2.5).
///
/// With `w` = the last `N = min(context length, lastN)` tokens of the context (prompt included;
/// `lastN = -1`: the whole context), `w[N−1]` the latest:
/// 1. **Sequence breakers** cap the repetition length. Scan `i = 0, 1, …, N−1` back from the
///    latest token; at the first `i` where some breaker `[head] + tail` has `w[N−1−i] = head`,
///    `tail.count ≤ i` and the `tail.count` tokens after that position equal `tail`, take the
///    longest such tail `L` and set `limit = i − L` (the tokens after the breaker); none found:
///    `limit = N`. `limit < allowedLength` → no penalty at all.
/// 2. `count[j]` (j in 0..<N−1) = the length of the longest common suffix of `w[0...j]` and
///    `w[0...N−1]`, capped at `limit` (llama.cpp computes it with a reversed Z-algorithm; this
///    is the direct definition, equal by construction).
/// 3. For every `j` with `count[j] ≥ allowedLength`, the token `w[j+1]` would extend a
///    repetition of length `count[j]`; `n(t)` = the largest such length per token `t`.
/// 4. Every token `t` with an `n(t)`, unless `t` is the head of a one-token breaker, gets
///    `s_t = Float(Double(s_t) − Double(Float(multiplier)) · Float(base)^e)` with
///    `e = min(n(t) − allowedLength, maxExponent)` (`maxExponent = Int(88.7228391 / log(base))`
///    in Float32, only when `base > 1.000001`); `base^e` is `e` left-to-right binary64 products
///    (exact while representable; llama.cpp calls `std::pow(float, int)`, also binary64).
///
/// Off (no change) when `multiplier == 0`, `base < 1` or `lastN == 0`, or when
/// `N ≤ allowedLength`. No ranking, no ties.
public struct Dry: LogitsProcessor {
    public var name: String { "dry" }
    public var multiplier: Double
    public var base: Double
    public var allowedLength: Int
    /// Window in tokens; -1 = the whole context.
    public var lastN: Int
    /// Breaker token sequences, head first (llama.cpp's processed breakers).
    public var sequenceBreakers: [[Int]]

    public init(multiplier: Double, base: Double = 1.75, allowedLength: Int = 2, lastN: Int = -1, sequenceBreakers: [[Int]] = []) {
        self.multiplier = multiplier
        self.base = base
        self.allowedLength = allowedLength
        self.lastN = lastN
        self.sequenceBreakers = sequenceBreakers.filter { !$0.isEmpty }
    }

    /// Whether the parameters switch DRY on (llama.cpp's `dry_enabled`).
    public var isActive: Bool { Float(multiplier) != 0 && Float(base) >= 1 && lastN != 0 }

    public func process(_ scores: inout [Float], context: ProcessorContext) {
        guard isActive else { return }
        let ids = context.inputIDs
        let n = lastN < 0 ? ids.count : min(ids.count, lastN)
        guard n > allowedLength else { return }
        let w = Array(ids[(ids.count - n)...])
        // back(i) = the token i positions before the latest (llama.cpp `rat(i)`).
        func back(_ i: Int) -> Int { w[n - 1 - i] }

        // 1. The most recent complete breaker sequence limits the repetition length.
        var limit = n
        search: for i in 0..<n {
            var longest = -1
            for seq in sequenceBreakers where seq[0] == back(i) {
                let tail = seq.count - 1
                guard tail > longest, tail <= i else { continue }
                var match = true
                for offset in 0..<tail where seq[1 + offset] != back(i - offset - 1) { match = false; break }
                if match { longest = tail }
            }
            if longest >= 0 { limit = i - longest; break search }
        }
        guard limit >= allowedLength else { return }

        // 2–3. Longest repetition each candidate token would extend.
        var longestByToken: [Int: Int] = [:]
        for j in 0..<(n - 1) {
            var length = 0
            while length <= j && w[j - length] == w[n - 1 - length] { length += 1 }
            length = min(length, limit)
            if length >= allowedLength {
                let t = w[j + 1]
                if (longestByToken[t] ?? -1) < length { longestByToken[t] = length }
            }
        }

        // 4. Penalties (ids ascending; each token is independent, so order changes nothing).
        let b = Float(base)
        var maxExponent = 0
        if b > 1.000001 { maxExponent = Int(Float(88.7228391) / DeterministicMath.log(b)) }
        let singleTokenBreakers = Set(sequenceBreakers.filter { $0.count == 1 }.map { $0[0] })
        for t in longestByToken.keys.sorted() where t >= 0 && t < scores.count && !singleTokenBreakers.contains(t) {
            var e = longestByToken[t]! - allowedLength
            if maxExponent > 0 && e > maxExponent { e = maxExponent }
            var power = 1.0
            for _ in 0..<e { power = power * Double(b) }
            let penalty = Double(Float(multiplier)) * power
            scores[t] = Float(Double(scores[t]) - penalty)
        }
    }

    /// llama.cpp's processing of text breakers into token sequences
    /// (`get_overlapping_token_sequences`): for each breaker (empty ones skipped, longer ones cut
    /// to their first 40 bytes) and each token `t` of the vocabulary, with `b` = the token's bytes:
    /// if `b` contains the breaker, `[t]` is a one-token breaker; otherwise, for every position
    /// where a suffix of `b` equals a prefix `p` of the breaker, `[t] + encode(rest)` is a breaker,
    /// `rest` = the breaker after `p`, its encoding cut to 20 tokens (duplicates dropped).
    /// Returns the sequences sorted (head ascending, then lexicographically), duplicates removed.
    public static func sequenceBreakers(_ breakers: [String], vocabulary: DryVocabulary) -> [[Int]] {
        var out = Set<[Int]>()
        for breaker in breakers {
            let s = Array(breaker.utf8.prefix(40))
            guard !s.isEmpty else { continue }
            for t in 0..<vocabulary.count {
                let word = vocabulary.tokenBytes(t)
                if contains(word, s) { out.insert([t]); continue }
                var pos = 0
                while pos < word.count {
                    defer { pos += 1 }
                    guard word[pos] == s[0] else { continue }
                    var i = 1
                    var match = true
                    while i < s.count && pos + i < word.count {
                        if word[pos + i] != s[i] { match = false; break }
                        i += 1
                    }
                    if match { out.insert([t] + vocabulary.encode(Array(s[i...])).prefix(20)) }
                }
            }
        }
        return out.sorted { $0.lexicographicallyPrecedes($1) }
    }

    private static func contains(_ word: [UInt8], _ s: [UInt8]) -> Bool {
        guard s.count <= word.count else { return false }
        for start in 0...(word.count - s.count) where word[start..<(start + s.count)].elementsEqual(s) { return true }
        return false
    }
}

/// The vocabulary DRY needs to turn text sequence breakers into token sequences: each token's
/// bytes (special tokens as their text, as llama.cpp's `detokenize(…, special: true)`) and an
/// encoder for plain text (no special-token parsing).
public struct DryVocabulary: Sendable {
    public var count: Int
    public var tokenBytes: @Sendable (Int) -> [UInt8]
    public var encode: @Sendable ([UInt8]) -> [Int]

    public init(count: Int, tokenBytes: @escaping @Sendable (Int) -> [UInt8], encode: @escaping @Sendable ([UInt8]) -> [Int]) {
        self.count = count
        self.tokenBytes = tokenBytes
        self.encode = encode
    }
}

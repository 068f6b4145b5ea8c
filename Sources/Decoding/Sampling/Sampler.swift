import Tensors

/// Portable sampling (determinism contract D5): how processed scores become a token, given one
/// uniform draw. The exact procedure is in DOCS.md section 6.2, "Portable sampling"; in short:
///
///     p = softmax(scores)                       // binary64 sum; -inf → 0
///     C = ids with p > 0, sorted by (p descending, id ascending)
///     total = Σ_{c in C, in that order} Double(p[c])          // Float64, left to right
///     target = u · total                                       // u in [0, 1), Float64
///     cum = 0; for c in C: cum = cum + Double(p[c]); if cum > target: return c
///     return C.last                                            // rounding guard
///
/// One `Xoshiro256StarStar.nextUniformDouble()` is consumed per sampled token.
public enum Sampler {
    /// Softmax of the processed scores (`ProcessorMath.softmax`): `m = max`, `e_i = exp(s_i − m)`
    /// in Float32 (DeterministicMath.exp), `z = Σ Double(e_i)` left to right in binary64,
    /// `p_i = Float(Double(e_i) / z)`. `-inf` → +0; an all-`-inf` row gives all zeros.
    /// (Not `Kernels.softmax`, whose Float32 sum is ~1e-4 off over a 49152-token vocabulary.)
    public static func probabilities(from scores: [Float]) -> [Float] {
        ProcessorMath.softmax(scores)
    }

    /// The inverse-CDF draw over `probabilities` with the uniform `u` in [0, 1) (see the type's
    /// doc comment). Candidates are the ids with `p > 0` in (p descending, id ascending) order;
    /// the cumulative sum is Float64; the first candidate whose cumulative sum exceeds
    /// `u · total` wins, and the last candidate if rounding leaves none. Returns `nil` when no
    /// probability is positive (or NaN rows). `u` outside [0, 1) is clamped into it.
    public static func draw(probabilities: [Float], uniform u: Double) -> Int? {
        let candidates = candidateOrder(probabilities)
        guard let last = candidates.last else { return nil }
        var total = 0.0
        for c in candidates { total = total + Double(probabilities[c]) }
        let target = min(max(u, 0), 1) * total
        var cumulative = 0.0
        for c in candidates {
            cumulative = cumulative + Double(probabilities[c])
            if cumulative > target { return c }
        }
        return last
    }

    /// Ids with `p > 0`, sorted by (p descending, id ascending) (an integer sort of
    /// `ProcessorMath.descendingKey`).
    public static func candidateOrder(_ probabilities: [Float]) -> [Int] {
        var keys: [UInt64] = []
        for i in 0..<probabilities.count where probabilities[i] > 0 { keys.append(ProcessorMath.descendingKey(probabilities[i], i)) }
        keys.sort()
        return keys.map { Int($0 & 0xFFFF_FFFF) }
    }
}

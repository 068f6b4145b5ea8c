import Tensors

/// Which ecosystem's arithmetic a processor reproduces where Hugging Face, llama.cpp and MLX
/// differ (see each processor's doc comment and DOCS.md section 6.2.5, "Processors and their order").
public enum ProcessorSemantics: String, Sendable, CaseIterable {
    /// Hugging Face transformers 4.52.4 `generation/logits_process.py` (the default).
    case huggingFace = "hf"
    /// llama.cpp `src/llama-sampler.cpp`.
    case llamaCpp = "llama.cpp"
    /// mlx-lm / mlx-swift-lm (`apply_top_p`, `apply_min_p`, `apply_top_k`, categorical sampling).
    case mlx = "mlx"
}

/// Which tokens a penalty looks at.
public enum PenaltyScope: Sendable, Equatable {
    /// The whole context: prompt and generated tokens (Hugging Face's repetition penalty).
    case context
    /// Only the generated tokens (OpenAI's frequency and presence penalties).
    case generated
    /// The last `n` tokens of the context, prompt included (llama.cpp `penalty_last_n`, mlx-lm
    /// `repetition_context_size`). `n <= 0` selects no token.
    case lastN(Int)

    /// The tokens in scope, in context order.
    public func tokens(_ context: ProcessorContext) -> ArraySlice<Int> {
        let ids = context.inputIDs
        switch self {
        case .context: return ids[...]
        case .generated: return ids[min(max(context.promptLength, 0), ids.count)...]
        case .lastN(let n): return n <= 0 ? ids[ids.count...] : ids[max(0, ids.count - n)...]
        }
    }

    /// `(id, count)` for every distinct id in scope that is a valid index into `vocabularySize`
    /// scores, sorted by id ascending (so nothing depends on hash order, D1).
    public func counts(_ context: ProcessorContext, vocabularySize: Int) -> [(id: Int, count: Int)] {
        let ids = tokens(context).filter { $0 >= 0 && $0 < vocabularySize }.sorted()
        var out: [(id: Int, count: Int)] = []
        for id in ids {
            if let last = out.last, last.id == id { out[out.count - 1].count += 1 } else { out.append((id, 1)) }
        }
        return out
    }
}

/// Shared arithmetic of the processors. Everything here is a fixed sequence of binary32 (or
/// stated binary64) operations (D1) and every ranking is D4: score descending, id ascending.
public enum ProcessorMath {
    /// Indices of `scores` ordered by (score descending, id ascending) — the D4 order. `-0` and
    /// `+0` are equal scores (ties by id). NaN scores are left out (the processors never produce
    /// them); with `includeNegativeInfinity == false`, so are `-inf` scores.
    ///
    /// Implementation: each entry becomes one 64-bit key, `(~orderedBits(score) << 32) | id`,
    /// where `orderedBits` maps Float32 to UInt32 monotonically; sorting the keys ascending is the
    /// D4 order (a plain integer sort, ~5× faster than a comparator over 49152 entries).
    public static func descendingOrder(_ scores: [Float], includeNegativeInfinity: Bool = true) -> [Int] {
        var keys: [UInt64] = []
        keys.reserveCapacity(scores.count)
        for i in 0..<scores.count {
            let v = scores[i]
            if v.isNaN || (!includeNegativeInfinity && v == -.infinity) { continue }
            keys.append(descendingKey(v, i))
        }
        keys.sort()
        return keys.map { Int($0 & 0xFFFF_FFFF) }
    }

    /// The D4 sort key of `(score, id)`: smaller key = earlier in (score descending, id ascending).
    /// Valid for ids below 2^32 and non-NaN scores.
    @inline(__always)
    public static func descendingKey(_ score: Float, _ id: Int) -> UInt64 {
        let b = (score + 0).bitPattern            // + 0 turns -0 into +0
        let ascending = (b & 0x8000_0000) != 0 ? ~b : (b | 0x8000_0000)
        return (UInt64(~ascending) << 32) | UInt64(UInt32(truncatingIfNeeded: id))
    }

    /// Softmax with a binary64 sum (the one softmax of the processors and the sampler):
    ///
    ///     m = max_i s_i                                  (Float32; all -inf → all zeros)
    ///     e_i = exp(s_i − m)                             (Float32 subtract, DeterministicMath.exp)
    ///     z = Σ_i Double(e_i)                            (binary64, i ascending)
    ///     p_i = Float(Double(e_i) / z)                   (binary64 divide, one rounding)
    ///
    /// `-inf` gives +0. Why not `Kernels.softmax`: its Float32 left-to-right sum over a 49152-entry
    /// vocabulary carries a relative error of ~1e-4, which moved probabilities by up to 8e-5
    /// against PyTorch on identical logits (the peer target is 2e-5); the binary64 sum agrees to
    /// ~1e-7.
    public static func softmax(_ scores: [Float]) -> [Float] {
        var m = -Float.infinity
        for x in scores where x > m { m = x }
        if m == -.infinity { return [Float](repeating: 0, count: scores.count) }
        var e = [Float](repeating: 0, count: scores.count)
        var z = 0.0
        for i in 0..<scores.count {
            e[i] = DeterministicMath.exp(scores[i] - m)
            z = z + Double(e[i])
        }
        for i in 0..<scores.count { e[i] = Float(Double(e[i]) / z) }
        return e
    }

    /// Log-softmax: `(s_i − m) − Float(log z)` with `m` and `z` as in `softmax` (binary64 sum,
    /// binary64 DeterministicMath.log rounded once to Float32). `-inf` stays `-inf`. An all-`-inf`
    /// row is returned unchanged.
    public static func logSoftmax(_ scores: [Float]) -> [Float] {
        var m = -Float.infinity
        for x in scores where x > m { m = x }
        if m == -.infinity { return scores }
        var z = 0.0
        for x in scores { z = z + Double(DeterministicMath.exp(x - m)) }
        let logZ = Float(DeterministicMath.log(z))
        return scores.map { ($0 - m) - logZ }
    }

    /// Entropy `−Σ p·log p` over the entries with `p > 0`, each `p·log p` a Float32 product with
    /// `log p = logSoftmax`, accumulated left to right in Float64 and rounded to Float32 once.
    public static func entropy(logProbabilities lp: [Float], probabilities p: [Float]) -> Float {
        var h = 0.0
        for i in 0..<p.count where p[i] > 0 { h = h - Double(lp[i] * p[i]) }
        return Float(h)
    }

    /// The `k`-th largest finite-or-infinite score (1-based, D4 order; NaN ignored), or `-inf`
    /// when there are fewer than `k` scores.
    public static func kthLargest(_ scores: [Float], _ k: Int) -> Float {
        if k <= 0 { return .infinity }
        let top = scores.withUnsafeBufferPointer { Kernels.topK($0.baseAddress!, count: $0.count, k: k) }
        return top.count >= k ? top[k - 1].value : -.infinity
    }

    /// Sets `scores[i] = -inf` for every `i` where `remove[i]`.
    public static func mask(_ scores: inout [Float], _ remove: [Bool]) {
        for i in 0..<scores.count where remove[i] { scores[i] = -.infinity }
    }
}

import Tensors

/// Which ecosystem's arithmetic a processor reproduces where Hugging Face, llama.cpp and MLX
/// differ (see each processor's doc comment and DOCS.md, "Logits processors").
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
    /// Indices of `scores` ordered by (score descending, id ascending) — the D4 order. NaN
    /// scores are never produced by the processors; if present they sort last.
    public static func descendingOrder(_ scores: [Float], includeNegativeInfinity: Bool = true) -> [Int] {
        var idx: [Int] = []
        idx.reserveCapacity(scores.count)
        for i in 0..<scores.count where !scores[i].isNaN && (includeNegativeInfinity || scores[i] > -.infinity) { idx.append(i) }
        idx.sort { a, b in scores[a] > scores[b] || (scores[a] == scores[b] && a < b) }
        return idx
    }

    /// `Kernels.softmax` of a copy: `m = max`, `e = exp(x − m)` (DeterministicMath), sum left to
    /// right, divide. `-inf` gives +0; all `-inf` gives all zeros.
    public static func softmax(_ scores: [Float]) -> [Float] {
        var p = scores
        p.withUnsafeMutableBufferPointer { b in if let base = b.baseAddress { Kernels.softmax(base, count: b.count) } }
        return p
    }

    /// Log-softmax as Hugging Face computes it: `(x − m) − log(s)` with `m = max x`,
    /// `s = Σ exp(x − m)` summed left to right in Float32. `-inf` stays `-inf`. All `-inf` is
    /// returned unchanged.
    public static func logSoftmax(_ scores: [Float]) -> [Float] {
        var m = -Float.infinity
        for x in scores where x > m { m = x }
        if m == -.infinity { return scores }
        var s: Float = 0
        for x in scores { s = s + DeterministicMath.exp(x - m) }
        let logS = DeterministicMath.log(s)
        return scores.map { ($0 - m) - logS }
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

import Tensors

/// Top-p (nucleus) filtering (Holtzman et al. 2020, "The Curious Case of Neural Text
/// Degeneration", arXiv:1904.09751).
///
/// - `.huggingFace` (`TopPLogitsWarper`): `p_i = softmax(s)` (ProcessorMath.softmax: binary64 sum). Visit the tokens
///   in **ascending** order — the exact reverse of D4: score ascending, id *descending* — and
///   form `c_j` = the running sum of `p` accumulated in Float64 and rounded to Float32 at each
///   position (PyTorch's CPU `cumsum` accumulates Float32 in double). Remove token `j` when
///   `c_j <= Float(1 − top_p)` (the subtraction in Float64), except the last `minTokensToKeep`
///   of the ascending order (the best ones). Equivalently: keep the tokens whose cumulative mass
///   from below exceeds 1 − p. Among tied scores the higher id is removed first.
/// - `.llamaCpp` (`llama_sampler_top_p`): `p = softmax(s)`, visit in D4 order (descending,
///   lowest id first), `c` = running Float32 sum; keep the shortest prefix with `c >= Float(p)`
///   and at least `minTokensToKeep` tokens. {0.1, 0.2, 0.3, 0.4} with p = 0.7 keeps {0.4, 0.3}.
///   `p >= 1` keeps everything.
/// - `.mlx` (`apply_top_p`): expects log-probabilities (after `LogSoftmax`): `q = exp(s)` with
///   **no** renormalisation, ascending order as for Hugging Face, `c` = running Float32 sum, keep
///   `c > Float(1 − top_p)`. No `minTokensToKeep` (the best token always survives when Σq ≈ 1).
///
/// Tokens already at `-inf` take no part in the ordering (their mass is 0, so leaving them out
/// changes no result and avoids sorting the whole vocabulary after an earlier filter).
/// `top_p == 1` keeps everything for every semantics (Hugging Face and MLX skip the processor).
public struct TopP: LogitsProcessor {
    public var name: String { "top_p" }
    public var p: Double
    public var minTokensToKeep: Int
    public var semantics: ProcessorSemantics

    public init(_ p: Double, minTokensToKeep: Int = 1, semantics: ProcessorSemantics = .huggingFace) {
        self.p = p
        self.minTokensToKeep = minTokensToKeep
        self.semantics = semantics
    }

    public func process(_ scores: inout [Float], context: ProcessorContext) {
        guard p < 1, !scores.isEmpty else { return }
        let n = scores.count
        var remove = [Bool](repeating: false, count: n)
        switch semantics {
        case .huggingFace:
            let probabilities = ProcessorMath.softmax(scores)
            let ascending = Array(ProcessorMath.descendingOrder(scores, includeNegativeInfinity: false).reversed())
            let threshold = Float(1 - p)
            var c = 0.0
            for (j, id) in ascending.enumerated() {
                c = c + Double(probabilities[id])
                if Float(c) <= threshold && j < ascending.count - minTokensToKeep { remove[id] = true }
            }
        case .llamaCpp:
            let probabilities = ProcessorMath.softmax(scores)
            let descending = ProcessorMath.descendingOrder(scores, includeNegativeInfinity: false)
            let target = Float(p)
            var c: Float = 0
            var keep = descending.count
            for (j, id) in descending.enumerated() {
                c = c + probabilities[id]
                if c >= target && j + 1 >= minTokensToKeep { keep = j + 1; break }
            }
            for id in descending[keep...] { remove[id] = true }
        case .mlx:
            let ascending = Array(ProcessorMath.descendingOrder(scores, includeNegativeInfinity: false).reversed())
            let threshold = Float(1 - p)
            var c: Float = 0
            for id in ascending {
                c = c + DeterministicMath.exp(scores[id])
                if !(c > threshold) { remove[id] = true }
            }
        }
        ProcessorMath.mask(&scores, remove)
    }
}

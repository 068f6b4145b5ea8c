import Tensors

/// Min-p filtering (Nguyen et al. 2024, "Turning Up the Heat: Min-p Sampling for Creative and
/// Coherent LLM Outputs", arXiv:2407.01082): drop tokens much less likely than the best one.
///
/// - `.huggingFace` (`MinPLogitsWarper`): `p = softmax(s)` (ProcessorMath.softmax: binary64 sum), `t = Float(min_p) *
///   max(p)` (one Float32 product); remove `p_i < t`, except the first `minTokensToKeep` tokens
///   in D4 order (score descending, id ascending).
/// - `.llamaCpp` (`llama_sampler_min_p`) and `.mlx` (`apply_min_p`): on scores, not
///   probabilities: `t = max(s) + log(min_p)`; remove `s_i < t`, except the first
///   `minTokensToKeep` in D4 order. llama.cpp takes `logf` of the Float32 `min_p`
///   (`DeterministicMath.log(Float(min_p))`); mlx-lm takes Python's `math.log` in Float64
///   and adds it in Float32 (`Float(DeterministicMath.log(min_p))`). MLX applies it to
///   log-probabilities; the rule is shift-invariant, so logits give the same set up to rounding.
///
/// Tokens already at `-inf` take no part in the ordering (their mass is 0, so leaving them out
/// changes no result and avoids sorting the whole vocabulary after an earlier filter).
/// `min_p <= 0` keeps everything. Ties at the threshold are kept (the comparison is strict).
public struct MinP: LogitsProcessor {
    public var name: String { "min_p" }
    public var p: Double
    public var minTokensToKeep: Int
    public var semantics: ProcessorSemantics

    public init(_ p: Double, minTokensToKeep: Int = 1, semantics: ProcessorSemantics = .huggingFace) {
        self.p = p
        self.minTokensToKeep = minTokensToKeep
        self.semantics = semantics
    }

    public func process(_ scores: inout [Float], context: ProcessorContext) {
        guard p > 0, !scores.isEmpty else { return }
        let n = scores.count
        var remove = [Bool](repeating: false, count: n)
        switch semantics {
        case .huggingFace:
            let probabilities = ProcessorMath.softmax(scores)
            var top: Float = 0
            for q in probabilities where q > top { top = q }
            let t = Float(p) * top
            for i in 0..<n where probabilities[i] < t { remove[i] = true }
        case .llamaCpp, .mlx:
            var m = -Float.infinity
            for s in scores where s > m { m = s }
            if m == -.infinity { return }
            let logP = semantics == .llamaCpp ? DeterministicMath.log(Float(p)) : Float(DeterministicMath.log(p))
            let t = m + logP
            for i in 0..<n where scores[i] < t { remove[i] = true }
        }
        for id in ProcessorMath.descendingOrder(scores, includeNegativeInfinity: false).prefix(minTokensToKeep) { remove[id] = false }
        ProcessorMath.mask(&scores, remove)
    }
}

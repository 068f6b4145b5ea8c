import Tensors

/// Log-softmax normalisation as mlx-lm does before its filters (`logprobs = logits −
/// logsumexp(logits)`): `m = max s`, `z = Σ exp(s − m)` (Float32, left to right,
/// DeterministicMath.exp), `lse = m + log z`, `s_i = s_i − lse`. `-inf` stays `-inf`; an
/// all-`-inf` row is unchanged. Used by the `.mlx` profile so that `TopP(semantics: .mlx)` sees
/// log-probabilities. No ranking, no ties.
public struct LogSoftmax: LogitsProcessor {
    public var name: String { "log_softmax" }
    public init() {}

    public func process(_ scores: inout [Float], context: ProcessorContext) {
        var m = -Float.infinity
        for s in scores where s > m { m = s }
        if m == -.infinity { return }
        var z: Float = 0
        for s in scores { z = z + DeterministicMath.exp(s - m) }
        let lse = m + DeterministicMath.log(z)
        for i in 0..<scores.count { scores[i] = scores[i] - lse }
    }
}

import Tensors

/// Log-softmax normalisation as mlx-lm does before its filters (`logprobs = logits −
/// logsumexp(logits)`): `m = max s`, `z = Σ Double(exp(s − m))` (binary64, left to
/// right, DeterministicMath.exp in Float32), `lse = m + Float(log z)` (Float32 add),
/// `s_i = s_i − lse`. `-inf` stays `-inf`; an
/// all-`-inf` row is unchanged. Used by the `.mlx` profile so that `TopP(semantics: .mlx)` sees
/// log-probabilities. No ranking, no ties.
public struct LogSoftmax: LogitsProcessor {
    public var name: String { "log_softmax" }
    public init() {}

    public func process(_ scores: inout [Float], context: ProcessorContext) {
        var m = -Float.infinity
        for s in scores where s > m { m = s }
        if m == -.infinity { return }
        var z = 0.0
        for s in scores { z = z + Double(DeterministicMath.exp(s - m)) }
        let lse = m + Float(DeterministicMath.log(z))
        for i in 0..<scores.count { scores[i] = scores[i] - lse }
    }
}

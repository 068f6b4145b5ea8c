import Tensors

/// Eta sampling (Hewitt, Manning and Liang 2022, "Truncation Sampling as Language Model
/// Desmoothing", arXiv:2210.15191, section 4), as Hugging Face's `EtaLogitsWarper`.
///
/// `p = softmax(s)` (ProcessorMath.softmax: binary64 sum); `H = −Σ_{p>0} lp·p` with `lp = logSoftmax(s)` (products
/// Float32, sum Float64, rounded once); `e = Float(ε)`;
/// `η = min(e, sqrt(e) · exp(−H))` (Float32, DeterministicMath.exp); remove token `i` when
/// `p_i < η` **and** `s_i < v`, `v` the `minTokensToKeep`-th largest score (ties with it kept).
/// Hugging Face semantics only.
public struct EtaCutoff: LogitsProcessor {
    public var name: String { "eta_cutoff" }
    public var epsilon: Double
    public var minTokensToKeep: Int

    public init(_ epsilon: Double, minTokensToKeep: Int = 1) {
        self.epsilon = epsilon
        self.minTokensToKeep = minTokensToKeep
    }

    public func process(_ scores: inout [Float], context: ProcessorContext) {
        guard !scores.isEmpty else { return }
        let probabilities = ProcessorMath.softmax(scores)
        let h = ProcessorMath.entropy(logProbabilities: ProcessorMath.logSoftmax(scores), probabilities: probabilities)
        let e = Float(epsilon)
        let eta = min(e, e.squareRoot() * DeterministicMath.exp(-h))
        let v = ProcessorMath.kthLargest(scores, min(minTokensToKeep, scores.count))
        for i in 0..<scores.count where probabilities[i] < eta && scores[i] < v { scores[i] = -.infinity }
    }
}

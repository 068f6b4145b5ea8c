/// Epsilon sampling (Hewitt, Manning and Liang 2022, "Truncation Sampling as Language Model
/// Desmoothing", arXiv:2210.15191), as Hugging Face's `EpsilonLogitsWarper`.
///
/// `p = softmax(s)` (ProcessorMath.softmax: binary64 sum); remove token `i` when `p_i < Float(ε)` **and**
/// `s_i < v`, where `v` is the `minTokensToKeep`-th largest score (D4 order) — so every token
/// tied with the `minTokensToKeep`-th best survives. Hugging Face semantics only (llama.cpp and
/// MLX have no epsilon sampling).
public struct EpsilonCutoff: LogitsProcessor {
    public var name: String { "epsilon_cutoff" }
    public var epsilon: Double
    public var minTokensToKeep: Int

    public init(_ epsilon: Double, minTokensToKeep: Int = 1) {
        self.epsilon = epsilon
        self.minTokensToKeep = minTokensToKeep
    }

    public func process(_ scores: inout [Float], context: ProcessorContext) {
        guard !scores.isEmpty else { return }
        let probabilities = ProcessorMath.softmax(scores)
        let e = Float(epsilon)
        let v = ProcessorMath.kthLargest(scores, min(minTokensToKeep, scores.count))
        for i in 0..<scores.count where probabilities[i] < e && scores[i] < v { scores[i] = -.infinity }
    }
}

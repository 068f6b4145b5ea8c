/// Top-nσ (Tang et al. 2024, "Top-nσ: Not All Logits Are You Need", arXiv:2411.07641; llama.cpp
/// `llama_sampler_top_n_sigma`): keep the tokens whose logit is within `n` standard deviations
/// of the largest, `s_i ≥ max − n·σ`, on raw (pre-softmax) scores. llama.cpp semantics:
///
///     F     = the finite scores (s ≠ -inf), in id order
///     max   = max F;   mean = Float(Σ_F s) / Float(|F|)     // Float32 sum, id order
///     acc   = Σ_F (s − mean)²   // each term Double(s − mean)², added as Float(Double(acc) + term)
///     σ     = sqrt(acc / Float(|F|))                        // population deviation, Float32
///     remove s_i < max − Float(n) · σ                       // Float32 product, then subtract
///
/// (llama.cpp's `pow(x, 2)` is binary64 and `acc` Float32, hence the per-term rounding.) The sums run
/// in id order, which is llama.cpp's order where its default chain places top-nσ, before every
/// sampler that sorts. `n ≤ 0` or fewer than two scores: no change. All-equal finite scores have
/// σ = 0 and keep every finite token (ties at the threshold are kept: the comparison is strict).
/// Scaling every score by 1/T scales max and σ alike, so the kept set does not depend on a later
/// (or earlier) temperature up to rounding.
public struct TopNSigma: LogitsProcessor {
    public var name: String { "top_n_sigma" }
    public var n: Double

    public init(_ n: Double) { self.n = n }

    public func process(_ scores: inout [Float], context: ProcessorContext) {
        guard Float(n) > 0, scores.count > 1 else { return }
        var maximum = scores[0]
        var sum: Float = 0
        var count = 0
        for s in scores where s != -.infinity {
            if s > maximum { maximum = s }
            sum = sum + s
            count += 1
        }
        let mean = count > 0 ? sum / Float(count) : 0
        var acc: Float = 0
        for s in scores where s != -.infinity {
            let d = Double(s - mean)
            acc = Float(Double(acc) + d * d)
        }
        let sigma = count > 0 ? (acc / Float(count)).squareRoot() : 0
        let cut = maximum - Float(n) * sigma
        for i in 0..<scores.count where scores[i] < cut { scores[i] = -.infinity }
    }
}

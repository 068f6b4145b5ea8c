import Tensors

/// Mirostat (Basu et al. 2021, "Mirostat: A Neural Text Decoding Algorithm that Directly Controls
/// Perplexity", ICLR, arXiv:2007.14966; Algorithm 1 = v1, and the simplified v2 of the authors'
/// code; llama.cpp `llama_sampler_mirostat` and `llama_sampler_mirostat_v2`): truncate the
/// distribution so that the surprise `−log2 p` of the sampled tokens tracks the target `τ`,
/// learning the truncation `μ` (initially `2τ`) from each sampled token with rate `η`.
///
/// Mirostat is the last processor of its chain: it truncates, the loop's final draw picks the
/// token from the softmax of what is left (the draw llama.cpp makes inside mirostat; no extra
/// uniform), then `accept` updates `μ`. The state (`μ`) lives in the loop's `SamplingLoopState`
/// and starts at `Float(2) · Float(τ)` in every generation. Per step, over the finite scores in
/// D4 order (score descending, id ascending) with `p = softmax(s)` (ProcessorMath.softmax):
///
/// - **v2**: keep the longest prefix whose surprise `−log2 p_i ≤ μ`, at least one token.
/// - **v1** (`m = 100`): `t_i = log(Float(i+2) / Float(i+1))`, `b_i = log(p_i / p_{i+1})` for
///   `i < min(m − 1, C − 1)`; `ŝ = Σ t_i·b_i / Σ t_i²` (Float32, i ascending); `ε = ŝ − 1`;
///   `k = ((ε · 2^μ) / (1 − V^(−ε)))^(1/ŝ)` with `V` the vocabulary size (every `x^y` is
///   `Float(DeterministicMath.pow(Double(x), Double(y)))`, the rest Float32); keep the first
///   `max(Int32(k), 1)` tokens, where `Int32(k)` truncates toward zero and NaN or out-of-range
///   `k` gives `Int32.min` (x86 `cvttss2si`, what llama.cpp's `int(k)` does there), so one token.
/// - **update** with the chosen token's probability `q` in the truncated distribution:
///   `s = −log2 q`, `e = s − Float(τ)`, `μ = μ − Float(η) · e` (Float32, two roundings).
///
/// `−log2 x` is `−Float(DeterministicMath.log(Double(x)) / ln 2)` (binary64 log and divide,
/// rounded once). Only finite scores are candidates (llama.cpp keeps masked `-inf` entries in
/// its array, where `b_i` would be NaN); finite scores whose probability underflows to 0 are
/// candidates with infinite surprise, as in llama.cpp.
public struct Mirostat: LoopStateProcessor {
    public enum Version: Int, Sendable { case v1 = 1, v2 = 2 }
    public var name: String { "mirostat" }
    public var version: Version
    public var tau: Double
    public var eta: Double
    /// v1's number of tokens in the `ŝ` estimate (llama.cpp's `common_sampler` passes 100).
    public var m: Int

    public init(version: Version, tau: Double = 5, eta: Double = 0.1, m: Int = 100) {
        self.version = version
        self.tau = tau
        self.eta = eta
        self.m = m
    }

    /// `μ` before the first step: `2τ` in Float32.
    public var initialMu: Float { Float(2) * Float(tau) }

    public func process(_ scores: inout [Float], context: ProcessorContext, state: inout SamplingLoopState) {
        let mu = state.mirostatMu ?? initialMu
        state.mirostatMu = mu
        truncate(&scores, mu: mu)
    }

    public func accept(token: Int, probability: Float, state: inout SamplingLoopState) {
        state.mirostatMu = updatedMu(state.mirostatMu ?? initialMu, probability: probability)
    }

    /// `μ − η · (−log2 q − τ)` in Float32.
    public func updatedMu(_ mu: Float, probability q: Float) -> Float {
        let e = Self.surprise(q) - Float(tau)
        return mu - Float(eta) * e
    }

    /// `−log2 x`, rounded once to Float32.
    public static func surprise(_ x: Float) -> Float {
        -Float(DeterministicMath.log(Double(x)) / 0.6931471805599453)
    }

    /// How many of the best tokens v1 keeps for `μ` (before clamping to the candidate count).
    public func v1TokenCount(probabilities p: [Float], order: [Int], mu: Float, vocabularySize: Int) -> Int {
        var sumTB: Float = 0, sumTT: Float = 0
        let terms = min(m - 1, order.count - 1)
        if terms > 0 {
            for i in 0..<terms {
                let t = DeterministicMath.log(Float(i + 2) / Float(i + 1))
                let b = DeterministicMath.log(p[order[i]] / p[order[i + 1]])
                sumTB = sumTB + t * b
                sumTT = sumTT + t * t
            }
        }
        let sHat = sumTB / sumTT
        let epsilon = sHat - 1
        func pow(_ x: Float, _ y: Float) -> Float { Float(DeterministicMath.pow(Double(x), Double(y))) }
        let k = pow((epsilon * pow(2, mu)) / (1 - pow(Float(vocabularySize), -epsilon)), 1 / sHat)
        let truncated: Int32 = (k.isNaN || k >= 0x1p31 || k < -0x1p31) ? Int32.min : Int32(k)
        return max(Int(truncated), 1)
    }

    /// The truncation for a given `μ` (the function the tests call).
    public func truncate(_ scores: inout [Float], mu: Float) {
        let order = ProcessorMath.descendingOrder(scores, includeNegativeInfinity: false)
        guard !order.isEmpty else { return }
        let p = ProcessorMath.softmax(scores)
        var keep: Int
        switch version {
        case .v2:
            keep = order.firstIndex { Self.surprise(p[$0]) > mu } ?? order.count
            if keep == 0 { keep = 1 }
        case .v1:
            keep = min(v1TokenCount(probabilities: p, order: order, mu: mu, vocabularySize: scores.count), order.count)
        }
        for id in order.dropFirst(keep) { scores[id] = -.infinity }
    }
}

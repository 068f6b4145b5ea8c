import Tensors

/// Locally typical sampling (Meister et al. 2023, "Locally Typical Sampling", TACL,
/// arXiv:2202.00666): keep the tokens whose surprisal `−log p` is closest to the entropy `H`.
///
/// Common steps: `lp = logSoftmax(s)` (`(s − m) − log Σ exp(s − m)`), `q = exp(lp)`,
/// `H = −Σ_{q>0} lp·q` (products in Float32, sum in Float64, rounded once),
/// `d_i = |−lp_i − H|` (Float32). Order the tokens by `d` ascending; equal `d` keep D4 order
/// (score descending, id ascending). `-inf` scores have `d = +inf` and come last.
///
/// - `.huggingFace` (`TypicalLogitsWarper`): `c_j` = running sum, in that order, of
///   `softmax(s)` (ProcessorMath.softmax: binary64 sum), accumulated in Float64 and rounded to Float32 per position;
///   `L = #{j : c_j < Float(mass)}`, clamped to `V − 1`; remove every token with
///   `d > d_(L)` (so all tokens tied with the `L`-th are kept), except the first
///   `minTokensToKeep` in the `d` order.
/// - `.llamaCpp` (`llama_sampler_typical`): only finite scores take part (llama.cpp has
///   physically removed the others); `c_j` = running Float32 sum of `softmax(s)`; keep the
///   shortest prefix with `c_j > Float(mass)` and at least `minTokensToKeep` tokens.
///
/// `mass >= 1` keeps everything. `.mlx` has no typical sampling and uses the Hugging Face rule.
public struct TypicalP: LogitsProcessor {
    public var name: String { "typical_p" }
    public var mass: Double
    public var minTokensToKeep: Int
    public var semantics: ProcessorSemantics

    public init(_ mass: Double, minTokensToKeep: Int = 1, semantics: ProcessorSemantics = .huggingFace) {
        self.mass = mass
        self.minTokensToKeep = minTokensToKeep
        self.semantics = semantics
    }

    public func process(_ scores: inout [Float], context: ProcessorContext) {
        guard mass < 1, !scores.isEmpty else { return }
        let n = scores.count
        let lp = ProcessorMath.logSoftmax(scores)
        let q = lp.map { DeterministicMath.exp($0) }
        let h = ProcessorMath.entropy(logProbabilities: lp, probabilities: q)
        let d = lp.map { abs(-$0 - h) }
        let probabilities = ProcessorMath.softmax(scores)
        var order = ProcessorMath.descendingOrder(scores, includeNegativeInfinity: semantics != .llamaCpp)
        // Stable sort by d ascending keeps D4 order among equal d.
        order = order.enumerated().sorted { a, b in d[a.element] < d[b.element] || (d[a.element] == d[b.element] && a.offset < b.offset) }.map(\.element)
        var remove = [Bool](repeating: true, count: n)
        switch semantics {
        case .huggingFace, .mlx:
            for i in 0..<n where scores[i].isNaN { remove[i] = false }
            var c = 0.0
            var below = 0
            let target = Float(mass)
            for id in order {
                c = c + Double(probabilities[id])
                if Float(c) < target { below += 1 }
            }
            let last = min(below, order.count - 1)
            let cut = d[order[last]]
            for (j, id) in order.enumerated() where !(d[id] > cut) || j < minTokensToKeep { remove[id] = false }
        case .llamaCpp:
            var c: Float = 0
            var keep = order.count
            let target = Float(mass)
            for (j, id) in order.enumerated() {
                c = c + probabilities[id]
                if c > target && (minTokensToKeep == 0 || j >= minTokensToKeep - 1) { keep = j + 1; break }
            }
            for id in order.prefix(keep) { remove[id] = false }
        }
        ProcessorMath.mask(&scores, remove)
    }
}

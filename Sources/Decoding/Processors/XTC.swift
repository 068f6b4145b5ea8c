/// XTC, "Exclude Top Choices" (p-e-w, text-generation-webui PR #6335, 2024; llama.cpp
/// `llama_sampler_xtc`): with probability `probability`, remove every token whose probability
/// is at least `threshold` except the least likely of them, so the model sometimes takes a
/// less obvious continuation while one "good enough" top choice survives. llama.cpp semantics.
///
/// Per step (one uniform `u` from the sampling loop, drawn when this processor runs, i.e. before
/// the final draw; DOCS.md section 6.2, "Portable sampling"):
/// 1. `u = state.nextUniform()` — consumed every step, even when the rest is a no-op;
/// 2. if `u > Double(Float(probability))`: no change (llama.cpp: `chance > probability`);
/// 3. `p = softmax(s)` (ProcessorMath.softmax) over the finite scores, in D4 order (p descending,
///    id ascending); `last` = the largest `i` such that `p_0 … p_i` are all `≥ Float(threshold)`
///    (0 when even `p_0` is below);
/// 4. if `last > 0` and `C − last ≥ minTokensToKeep` (`C` = finite candidates): remove the first
///    `last` candidates (set to `-inf`); the one at `last` and every lower one stay.
///
/// `ProcessorChain.make` leaves XTC out (no draw) when `probability ≤ 0` or `threshold > 0.5`, as
/// llama.cpp returns before drawing then. Differences from llama.cpp: llama.cpp also skips its draw
/// when fewer than 2 candidates remain; here the draw is taken anyway, so every step of an XTC run
/// consumes exactly two uniforms (XTC's, then the final draw) and the draw count never depends on
/// the scores. llama.cpp's coin comes from its own `mt19937`, not the shared generator.
public struct XTC: LoopStateProcessor {
    public var name: String { "xtc" }
    public var probability: Double
    public var threshold: Double
    public var minTokensToKeep: Int

    public init(probability: Double, threshold: Double = 0.1, minTokensToKeep: Int = 1) {
        self.probability = probability
        self.threshold = threshold
        self.minTokensToKeep = minTokensToKeep
    }

    public func process(_ scores: inout [Float], context: ProcessorContext, state: inout SamplingLoopState) {
        let u = state.nextUniform()
        apply(&scores, uniform: u)
    }

    /// Steps 2–4 with the coin `u` given (the function the tests call).
    public func apply(_ scores: inout [Float], uniform u: Double) {
        guard !(u > Double(Float(probability))) else { return }
        let p = ProcessorMath.softmax(scores)
        let order = ProcessorMath.descendingOrder(scores, includeNegativeInfinity: false)
        let t = Float(threshold)
        var last = 0
        for (i, id) in order.enumerated() {
            if p[id] >= t { last = i } else { break }
        }
        guard last > 0, order.count - last >= minTokensToKeep else { return }
        for id in order.prefix(last) { scores[id] = -.infinity }
    }
}

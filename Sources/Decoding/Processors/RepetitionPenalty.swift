/// Repetition penalty (Keskar et al. 2019, "CTRL: A Conditional Transformer Language Model for
/// Controllable Generation", arXiv:1909.05858, section 4.1), as Hugging Face's
/// `RepetitionPenaltyLogitsProcessor`.
///
/// For every distinct token id `t` in scope (see `scope`), once, however often it occurs:
///
///     s[t] = s[t] < 0 ? s[t] * r : s[t] / r        (binary32, r = Float(penalty))
///
/// `r > 1` discourages repetition, `r < 1` encourages it; `r == 1` is the identity. llama.cpp
/// writes the test as `s <= 0 ? s * r : s / r`, which gives the same result (±0 · r = ±0 / r).
/// Scopes: Hugging Face uses the whole context including the prompt (`.context`, the default);
/// llama.cpp the last `penalty_last_n` tokens (`.lastN(64)` by default); mlx-lm the last
/// `repetition_context_size` tokens (`.lastN(20)`). Ids outside the score row are ignored.
/// There is no ranking, so no tie rule is needed.
public struct RepetitionPenalty: LogitsProcessor {
    public var name: String { "repetition_penalty" }
    public var penalty: Double
    public var scope: PenaltyScope

    public init(penalty: Double, scope: PenaltyScope = .context) {
        self.penalty = penalty
        self.scope = scope
    }

    public func process(_ scores: inout [Float], context: ProcessorContext) {
        let r = Float(penalty)
        for (id, _) in scope.counts(context, vocabularySize: scores.count) {
            let s = scores[id]
            scores[id] = s < 0 ? s * r : s / r
        }
    }
}

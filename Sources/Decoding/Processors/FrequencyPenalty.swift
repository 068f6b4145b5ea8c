/// Frequency penalty (OpenAI API; llama.cpp `penalty_freq`): `s[t] = s[t] − Float(count_t) ·
/// Float(f)` (product, then difference, binary32) for every distinct id `t` occurring `count_t`
/// times in scope. The default scope is the generated tokens only (OpenAI: "how often the token
/// has appeared in the text so far" of the completion); llama.cpp uses `.lastN(penalty_last_n)`
/// of the whole context, and its profile applies this inside `LlamaCppPenalties`, which rounds
/// `count·f + p` once. No ranking, no ties.
public struct FrequencyPenalty: LogitsProcessor {
    public var name: String { "frequency_penalty" }
    public var penalty: Double
    public var scope: PenaltyScope

    public init(penalty: Double, scope: PenaltyScope = .generated) {
        self.penalty = penalty
        self.scope = scope
    }

    public func process(_ scores: inout [Float], context: ProcessorContext) {
        let f = Float(penalty)
        for (id, count) in scope.counts(context, vocabularySize: scores.count) {
            scores[id] = scores[id] - Float(count) * f
        }
    }
}

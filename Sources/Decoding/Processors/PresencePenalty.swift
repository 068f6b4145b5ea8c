/// Presence penalty (OpenAI API; llama.cpp `penalty_present`): `s[t] = s[t] − Float(p)` once for
/// every distinct id `t` in scope (count > 0). Default scope: generated tokens only (OpenAI);
/// llama.cpp: `.lastN(penalty_last_n)` of the context (see `LlamaCppPenalties`). No ties.
public struct PresencePenalty: LogitsProcessor {
    public var name: String { "presence_penalty" }
    public var penalty: Double
    public var scope: PenaltyScope

    public init(penalty: Double, scope: PenaltyScope = .generated) {
        self.penalty = penalty
        self.scope = scope
    }

    public func process(_ scores: inout [Float], context: ProcessorContext) {
        let p = Float(penalty)
        for (id, _) in scope.counts(context, vocabularySize: scores.count) {
            scores[id] = scores[id] - p
        }
    }
}

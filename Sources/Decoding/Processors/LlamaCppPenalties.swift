/// llama.cpp's combined penalties sampler (`llama_sampler_penalties`, `src/llama-sampler.cpp`):
/// repetition, frequency and presence penalties in one pass over the last `lastN` tokens of the
/// context (prompt included, as `llama-cli` accepts prompt tokens into the sampler):
///
///     s = s <= 0 ? s * r : s / r
///     s = s − (Float(count) * f + (count > 0 ? 1 : 0) * p)      // binary32, this parenthesisation
///
/// for every distinct id in the window. `lastN == 0` or all-neutral parameters (r = 1, f = 0,
/// p = 0) leave the scores unchanged. No ranking, no ties.
public struct LlamaCppPenalties: LogitsProcessor {
    public var name: String { "penalties" }
    public var repetition: Double
    public var frequency: Double
    public var presence: Double
    public var lastN: Int

    public init(repetition: Double = 1, frequency: Double = 0, presence: Double = 0, lastN: Int = 64) {
        self.repetition = repetition
        self.frequency = frequency
        self.presence = presence
        self.lastN = lastN
    }

    public func process(_ scores: inout [Float], context: ProcessorContext) {
        if lastN == 0 || (repetition == 1 && frequency == 0 && presence == 0) { return }
        let scope: PenaltyScope = lastN < 0 ? .context : .lastN(lastN)
        let r = Float(repetition), f = Float(frequency), p = Float(presence)
        for (id, count) in scope.counts(context, vocabularySize: scores.count) {
            var s = scores[id]
            s = s <= 0 ? s * r : s / r
            s = s - (Float(count) * f + Float(1) * p)
            scores[id] = s
        }
    }
}

/// Banned token sequences, as Hugging Face's `NoBadWordsLogitsProcessor` (a
/// `SequenceBiasLogitsProcessor` with bias `-inf`).
///
/// - A single-token sequence `[t]` always bans `t` — except that single-token sequences equal to
///   an end-of-sequence id are dropped at construction (Hugging Face filters them so that
///   generation can still stop).
/// - A sequence `[t_1, …, t_m]` (m ≥ 2) bans `t_m` when the context (prompt included) ends with
///   `t_1 … t_{m−1}`; sequences longer than the context are ignored (Hugging Face compares
///   `len(sequence) > input_ids.shape[1]`).
///
/// A banned score becomes `-inf`. Ids outside the score row are ignored. No ranking, no ties.
public struct BadWords: LogitsProcessor {
    public var name: String { "bad_words" }
    public let sequences: [[Int]]

    public init(_ sequences: [[Int]], eosTokenIDs: [Int] = []) {
        self.sequences = sequences.filter { seq in !seq.isEmpty && !(seq.count == 1 && eosTokenIDs.contains(seq[0])) }
    }

    public func process(_ scores: inout [Float], context: ProcessorContext) {
        let ids = context.inputIDs
        for seq in sequences {
            let t = seq[seq.count - 1]
            guard t >= 0 && t < scores.count else { continue }
            if seq.count == 1 { scores[t] = -.infinity; continue }
            if seq.count > ids.count { continue }
            if ids.suffix(seq.count - 1).elementsEqual(seq.dropLast()) { scores[t] = -.infinity }
        }
    }
}

/// No-repeat n-gram blocking, as Hugging Face's `NoRepeatNGramLogitsProcessor` (from fairseq).
///
/// With `ids` = prompt + generated tokens (the prompt counts, as in Hugging Face for decoder-only
/// models) and `L = ids.count`: if `L + 1 < n` nothing happens; otherwise the prefix is
/// `ids[L−n+1 ..< L]` and every token `ids[i+n−1]` with `ids[i ..< i+n−1] == prefix`,
/// `0 <= i <= L − n`, gets `-inf` — any token that would complete an n-gram already present.
/// `n == 1` bans every token in the context. No ranking, no ties.
public struct NoRepeatNGram: LogitsProcessor {
    public var name: String { "no_repeat_ngram" }
    public var size: Int

    public init(size: Int) { self.size = size }

    public func process(_ scores: inout [Float], context: ProcessorContext) {
        let ids = context.inputIDs
        let n = size, L = ids.count
        guard n > 0, L + 1 >= n, L >= n else { return }
        let prefix = ids[(L - n + 1)..<L]
        for i in 0...(L - n) where ids[i..<(i + n - 1)].elementsEqual(prefix) {
            let t = ids[i + n - 1]
            if t >= 0 && t < scores.count { scores[t] = -.infinity }
        }
    }
}

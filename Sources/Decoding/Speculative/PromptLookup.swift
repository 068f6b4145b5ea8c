/// Prompt lookup decoding (Saxena 2023, "Prompt Lookup Decoding" — no paper: a GitHub repository,
/// `apoorvumang/prompt-lookup-decoding`, function `find_candidate_pred_tokens`, November 2023;
/// as Hugging Face's `PromptLookupCandidateGenerator`, transformers 4.52): draft the tokens that
/// followed an earlier occurrence of the sequence's last n-gram. The draft is then verified by
/// greedy speculative decoding (`SpeculativeDecoding`).
///
/// For `n` from `min(maxMatchingNgramSize, length − 1)` down to 1: scan the windows of `n` tokens
/// from the start of the sequence; the first window equal to the last `n` tokens that has at
/// least one token after it (inside the sequence) gives the draft: up to `numTokens` tokens
/// following it, cut before the first end-of-sequence id. Larger `n` wins; the earliest match
/// wins among equal `n`. No match: an empty draft (plain greedy step).
public struct PromptLookupDrafter: Drafter {
    public var numTokens: Int
    public var maxMatchingNgramSize: Int
    public var endOfSequenceIDs: Set<Int>
    public var forwardPasses: Int { 0 }

    public init(numTokens: Int = 10, maxMatchingNgramSize: Int = 2, endOfSequenceIDs: Set<Int> = []) {
        precondition(numTokens > 0 && maxMatchingNgramSize > 0, "prompt lookup needs positive sizes")
        self.numTokens = numTokens
        self.maxMatchingNgramSize = maxMatchingNgramSize
        self.endOfSequenceIDs = endOfSequenceIDs
    }

    public mutating func draft(sequence: [Int], maxTokens: Int) throws -> DraftTree {
        let length = sequence.count
        let want = min(numTokens, maxTokens)
        if want <= 0 || length < 2 { return .empty }
        for n in stride(from: min(maxMatchingNgramSize, length - 1), through: 1, by: -1) {
            let ngram = sequence[(length - n)...]
            for start in 0...(length - n) where sequence[start..<(start + n)].elementsEqual(ngram) {
                let from = start + n
                let to = min(from + want, length)
                guard from < to else { continue }
                var chosen = Array(sequence[from..<to])
                if let eos = chosen.firstIndex(where: { endOfSequenceIDs.contains($0) }) { chosen = Array(chosen[..<eos]) }
                return DraftTree(chain: chosen)
            }
        }
        return .empty
    }
}

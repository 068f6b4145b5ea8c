/// Minimum number of new tokens, as Hugging Face's `MinNewTokensLengthLogitsProcessor`: while
/// fewer than `minNewTokens` tokens have been generated (`context.newTokenCount < minNewTokens`),
/// every end-of-sequence id gets `-inf`. No ranking, no ties.
public struct MinNewTokens: LogitsProcessor {
    public var name: String { "min_new_tokens" }
    public var minNewTokens: Int
    public var eosTokenIDs: [Int]

    public init(_ minNewTokens: Int, eosTokenIDs: [Int]) {
        self.minNewTokens = minNewTokens
        self.eosTokenIDs = eosTokenIDs.sorted()
    }

    public func process(_ scores: inout [Float], context: ProcessorContext) {
        guard context.newTokenCount < minNewTokens else { return }
        for id in eosTokenIDs where id >= 0 && id < scores.count { scores[id] = -.infinity }
    }
}

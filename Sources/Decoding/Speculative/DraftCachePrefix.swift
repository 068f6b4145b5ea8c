import Transformer

/// The tokens whose KV entries a draft model's cache holds, and the one rule every draft model
/// uses to reuse them: keep the longest cached prefix that agrees with the new sequence, roll the
/// cache back to it, and feed the rest (always at least the last token, whose logits are needed).
struct DraftCachePrefix {
    /// The tokens whose KV entries are in the cache, in order.
    private(set) var tokens: [Int] = []

    /// Rolls `cache` back to the longest prefix of `sequence` it already holds and returns the
    /// tokens still to feed (recorded as cached: the caller feeds them next).
    mutating func tokensToFeed(for sequence: [Int], cache: KVCache) -> [Int] {
        var keep = 0
        while keep < min(tokens.count, sequence.count) && tokens[keep] == sequence[keep] { keep += 1 }
        if keep == sequence.count { keep -= 1 }  // the last token must be fed to get logits
        cache.rollback(to: keep)
        tokens.removeLast(tokens.count - keep)
        let tail = Array(sequence[keep...])
        tokens.append(contentsOf: tail)
        return tail
    }

    /// Records one more token fed to the cache.
    mutating func append(_ token: Int) { tokens.append(token) }

    /// The greedy chain a draft model proposes after `sequence`: `next(tokens)` feeds `tokens` to
    /// `cache` and returns the draft's choice after them. The unseen tail of `sequence` is fed
    /// first, then each drafted token but the last, so `count` tokens take `count` passes.
    /// Returns the chain and the number of passes made.
    mutating func draftChain(after sequence: [Int], count: Int, cache: KVCache,
                             next: ([Int]) throws -> Int) rethrows -> (chain: [Int], passes: Int) {
        var chain = [try next(tokensToFeed(for: sequence, cache: cache))]
        var passes = 1
        while chain.count < count {
            let fed = chain[chain.count - 1]
            chain.append(try next([fed]))
            passes += 1
            append(fed)
        }
        return (chain, passes)
    }
}

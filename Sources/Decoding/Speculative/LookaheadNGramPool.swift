/// The n-gram pool of Lookahead decoding (lade `token_map`, `update_token_map` with
/// `GUESS_SET_SIZE != -1`): for each key token, at most `capacity` continuations of `N − 1`
/// tokens, in least-recently-inserted order (oldest first).
///
/// Insertion of `tuple` under `key` (the reference's LRU rule, pinned):
/// 1. `tuple` already listed under `key`: move it to the end;
/// 2. otherwise, fewer than `capacity` entries: append it;
/// 3. otherwise: drop the oldest entry (index 0) and append it.
///
/// Keys are only looked up, never iterated, so nothing depends on `Dictionary` order (D1).
/// `capacity == 0` keeps the pool empty (the reference still stores one entry per key when
/// `GUESS_SET_SIZE == 0` but never verifies it; the decoded output is the same). The reference's
/// unbounded mode (`GUESS_SET_SIZE == -1`, a Python `set` whose order depends on hashing) is not
/// offered: its guess order is not reproducible.
public struct LookaheadNGramPool: Sendable, Equatable {
    /// Most continuations kept per key (`G`).
    public let capacity: Int
    /// Tokens per continuation (`N − 1`).
    public let continuationLength: Int
    private var entries: [Int: [[Int]]] = [:]

    public init(capacity: Int, continuationLength: Int) {
        precondition(capacity >= 0, "the guess set size G must be ≥ 0")
        precondition(continuationLength >= 1, "continuations hold N − 1 ≥ 1 tokens")
        self.capacity = capacity
        self.continuationLength = continuationLength
    }

    /// The continuations stored under `key`, oldest first (empty when none).
    public func continuations(of key: Int) -> [[Int]] { entries[key] ?? [] }

    /// Number of keys with at least one continuation.
    public var keyCount: Int { entries.count }

    /// Inserts `continuation` under `key` by the LRU rule above. Complexity: O(capacity · (N − 1)).
    public mutating func insert(key: Int, continuation: [Int]) {
        precondition(continuation.count == continuationLength, "a continuation has \(continuationLength) tokens, got \(continuation.count)")
        guard capacity > 0 else { return }
        var list = entries[key] ?? []
        if let existing = list.firstIndex(of: continuation) {
            list.remove(at: existing)
        } else if list.count >= capacity {
            list.removeFirst()
        }
        list.append(continuation)
        entries[key] = list
    }

    /// Inserts every `N`-gram of `tokens`, left to right (lade `fill_pool_with_prompt`).
    public mutating func insertNGrams(of tokens: [Int]) {
        let n = continuationLength + 1
        guard tokens.count >= n else { return }
        for start in 0...(tokens.count - n) {
            insert(key: tokens[start], continuation: Array(tokens[(start + 1)..<(start + n)]))
        }
    }
}

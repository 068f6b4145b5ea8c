/// The tri-gram statistics table of ADED (Liu, Lei, Zhang, Xu, "Adaptive Draft-Verification for
/// Efficient Large Language Model Decoding", AAAI 2025, arXiv:2407.12021; reference code
/// `liuxukun2000/Adaptix`, `DraftRetriever/src/lib.rs`: `Writer`, `Reader::new`, `Reader::search`).
///
/// For every bigram key `(a, b)` the table holds a value `T[(a, b)][w]` per successor `w`: at
/// construction the relative frequency `count(a, b, w) / count(a, b, ·)` (Float32), afterwards
/// nudged by the online updates (`reinforce`), which add without renormalising.
///
/// Determinism (D1, D4): successors of a key are stored sorted by token id ascending, and every
/// function that walks them does so in that order; the Rust reference walks a `HashMap` (random
/// order per process). Keys are looked up, never iterated, except through `keys`, which is sorted.
public struct ADEDTrigramTable: Sendable, Equatable {
    /// A bigram `(a, b)`: the two tokens before the predicted one.
    public struct Key: Hashable, Sendable, Comparable {
        public var a: Int
        public var b: Int
        public init(_ a: Int, _ b: Int) { self.a = a; self.b = b }
        public static func < (l: Key, r: Key) -> Bool { (l.a, l.b) < (r.a, r.b) }
    }

    /// One successor `w` of a key and its value `T[(a, b)][w]`.
    public struct Successor: Sendable, Equatable {
        public var token: Int
        public var value: Float
        public init(token: Int, value: Float) { self.token = token; self.value = value }
    }

    /// Successors of each key, sorted by token id ascending.
    var rows: [Key: [Successor]] = [:]

    /// An empty table (ADED then drafts only what the online updates teach it).
    public init() {}

    /// Builds the normalised table from tokenised texts, like the reference's `Writer`
    /// (`add_entry` per text, then `finalize`): every consecutive triple `(t[i], t[i+1], t[i+2])`
    /// inside one sequence is counted (no triple spans two sequences), and each key's counts are
    /// divided by the key's total: `Float(count) / Float(total)` (one rounding each, then one
    /// division). Sequences shorter than 3 tokens contribute nothing.
    public init(countingTrigramsIn sequences: [[Int]]) {
        var counts: [Key: [Int: Int]] = [:]
        for text in sequences where text.count >= 3 {
            for i in 0..<(text.count - 2) {
                counts[Key(text[i], text[i + 1]), default: [:]][text[i + 2], default: 0] += 1
            }
        }
        for (key, successors) in counts {
            // Integer sum: order-independent. Each row is built from its own sorted tokens.
            let total = successors.values.reduce(0, +)
            rows[key] = successors.keys.sorted().map { Successor(token: $0, value: Float(successors[$0]!) / Float(total)) }
        }
    }

    /// The table keeping, for every key, only the `k` successors with the largest values
    /// (reference `Reader::new`, k = 12). Ranking: value descending, token id ascending (D4; the
    /// reference breaks ties by `HashMap` order). The kept successors stay sorted by token id.
    public func keepingTopSuccessors(_ k: Int) -> ADEDTrigramTable {
        precondition(k > 0, "keep at least one successor per key")
        var pruned = ADEDTrigramTable()
        for (key, successors) in rows {
            let ranked = successors.sorted { $0.value != $1.value ? $0.value > $1.value : $0.token < $1.token }
            pruned.rows[key] = ranked.prefix(k).sorted { $0.token < $1.token }
        }
        return pruned
    }

    /// Successors of `(a, b)` sorted by token id ascending (empty when the key is absent).
    public func successors(_ a: Int, _ b: Int) -> [Successor] { rows[Key(a, b)] ?? [] }

    /// Whether the key `(a, b)` exists (it may exist with no successors only if constructed so).
    public func contains(_ a: Int, _ b: Int) -> Bool { rows[Key(a, b)] != nil }

    /// `T[(a, b)][w]`, or nil when absent.
    public func value(_ a: Int, _ b: Int, _ w: Int) -> Float? {
        guard let row = rows[Key(a, b)], let i = Self.index(of: w, in: row) else { return nil }
        return row[i].value
    }

    /// Every key, sorted ascending by `(a, b)`.
    public var keys: [Key] { rows.keys.sorted() }
    /// Number of keys.
    public var keyCount: Int { rows.count }
    /// Number of `(key, successor)` entries.
    public var entryCount: Int { rows.values.reduce(0) { $0 + $1.count } }

    /// Adds `increment` to `T[(a, b)][w]` (inserting 0 first when absent), then clips it at `cap`:
    /// `v = v + increment; if v > cap { v = cap }` in Float32, as in `Reader::search`.
    public mutating func reinforce(_ a: Int, _ b: Int, _ w: Int, increment: Float = 0.04, cap: Float = 3.0) {
        let key = Key(a, b)
        var row = rows[key] ?? []
        let position = Self.insertionIndex(of: w, in: row)
        if position < row.count && row[position].token == w {
            var v = row[position].value + increment
            if v > cap { v = cap }
            row[position].value = v
        } else {
            var v = Float(0) + increment
            if v > cap { v = cap }
            row.insert(Successor(token: w, value: v), at: position)
        }
        rows[key] = row
    }

    /// The online update of one ADED step: for every `i` from `max(0, n − window)` through
    /// `n − 3` (n = `sequence.count`), `reinforce(sequence[i], sequence[i+1], sequence[i+2])`, in
    /// increasing `i`. A tri-gram that occurs twice in the window is reinforced twice. Sequences
    /// shorter than 3 tokens change nothing.
    public mutating func reinforceRecentTrigrams(of sequence: [Int], window: Int = 16, increment: Float = 0.04, cap: Float = 3.0) {
        let n = sequence.count
        guard n >= 3 else { return }
        for i in max(0, n - window)...(n - 3) {
            reinforce(sequence[i], sequence[i + 1], sequence[i + 2], increment: increment, cap: cap)
        }
    }

    static func index(of token: Int, in row: [Successor]) -> Int? {
        let i = insertionIndex(of: token, in: row)
        return i < row.count && row[i].token == token ? i : nil
    }

    /// First position whose token is >= `token` (binary search over the sorted row).
    static func insertionIndex(of token: Int, in row: [Successor]) -> Int {
        var lo = 0, hi = row.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if row[mid].token < token { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }
}

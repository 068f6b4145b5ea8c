/// How likely a Token Recycling candidate is to be accepted, estimated online from how the
/// candidates after the same token fared lately. An extension, not in the paper: it lets the
/// drafter leave out nodes that are unlikely to pay for their place in the verification pass
/// (`TokenRecyclingDrafter.draftThreshold`).
///
/// Per token `a` a small history: whether `update` has ever written `A[a]`, how many times the
/// target's successor of `a` was seen (capped at 3), and whether `A[a][0]` was that successor
/// at each of the last three sightings. A written row's history is one of 32 states
/// (`written`, count, last three outcomes); a row never written is state 32. For every state
/// the estimator counts sightings `n[s]` and, per rank `r`, sightings where `A[a][r]` was the
/// successor, `h[s][r]`. The estimate for rank `r` after a token in state `s` is
/// `(h[s][r] + 1) / (n[s] + 2)` (Laplace's rule: 1/2 before any evidence).
///
/// All counts are integers and the estimate is one division, so drafts are deterministic.
/// Like the matrix, the estimator is kept across generations (hot) and cleared by `reset()`.
public struct TokenRecyclingEstimator: Sendable, Equatable {
    /// States: 32 for a written row (count 0–3 × last three outcomes), one for a row never written.
    public static let stateCount = 33
    /// The state of a token whose row `update` has never written.
    public static let unwrittenState = 32

    /// Ranks tracked per state (the matrix's candidates per token).
    public let ranks: Int
    /// Per token: bits 0–2 the last three outcomes (bit 0 the newest; 1 = `A[a][0]` was the
    /// successor), bits 3–4 sightings (capped at 3), bit 5 set once the row has been written.
    public private(set) var history: [UInt8]
    /// Sightings per state, `n[s]`.
    public private(set) var sightings: [Int]
    /// Sightings per state and rank where that rank's candidate was the successor, `h[s][r]`
    /// (`[stateCount, ranks]`, row-major).
    public private(set) var hits: [Int]

    public init(vocabularySize: Int, ranks: Int) {
        self.ranks = ranks
        history = [UInt8](repeating: 0, count: vocabularySize)
        sightings = [Int](repeating: 0, count: Self.stateCount)
        hits = [Int](repeating: 0, count: Self.stateCount * ranks)
    }

    /// The state of `token` now.
    public func state(of token: Int) -> Int {
        let h = history[token]
        return h & 0x20 == 0 ? Self.unwrittenState : Int(h & 0x1F)
    }

    /// The estimated probability that the rank-`rank` candidate after a token in `state` is the
    /// target's choice.
    public func probability(state: Int, rank: Int) -> Double {
        Double(hits[state * ranks + rank] + 1) / Double(sightings[state] + 2)
    }

    /// Notes that `A[token]` has been written (by the matrix update or by hand).
    public mutating func markWritten(_ token: Int) { history[token] |= 0x20 }

    /// Records one sighting: the target followed `token` with `successor`, and `row` is
    /// `A[token]` as it was when the step drafted (`ranks` ids, best first).
    public mutating func record(token: Int, successor: Int, row: UnsafeBufferPointer<Int32>) {
        let s = state(of: token)
        sightings[s] += 1
        if let r = (0..<ranks).first(where: { Int(row[$0]) == successor }) { hits[s * ranks + r] += 1 }
        let h = history[token]
        let count = min(3, Int(h >> 3 & 3) + 1)
        let outcomes = (Int(h & 7) << 1 | (Int(row[0]) == successor ? 1 : 0)) & 7
        history[token] = (h & 0x20) | UInt8(count << 3) | UInt8(outcomes)
    }

    /// Back to no evidence: every history, sighting and hit count zero.
    public mutating func reset() {
        for i in history.indices { history[i] = 0 }
        for i in sightings.indices { sightings[i] = 0 }
        for i in hits.indices { hits[i] = 0 }
    }
}

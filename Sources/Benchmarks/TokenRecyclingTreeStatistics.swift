import Formats
import Decoding

/// What a Token Recycling drafter learned during a run, as JSON (`bench --spec-bench --tree-stats`).
public enum TokenRecyclingTreeStatistics {
    /// `{"steps", "nodes": [{"path", "accepted"}…] in tree order, "estimator_states": [...]}`:
    /// per tree node how often it was accepted, and per history state of the draft-threshold
    /// estimator with sightings (in state order) how often the first and second candidates were
    /// the target's choice.
    public static func json(for drafter: TokenRecyclingDrafter) -> JSONValue {
        .object([
            ("steps", .int(drafter.observedSteps)),
            ("nodes", .array(drafter.tree.paths.indices.map { i in
                .object([("path", .array(drafter.tree.paths[i].map { .int($0) })), ("accepted", .int(drafter.nodeHits[i]))])
            })),
            ("estimator_states", .array((0..<TokenRecyclingEstimator.stateCount).compactMap { s in
                let e = drafter.estimator, n = e.sightings[s]
                if n == 0 { return nil }
                let unwritten = s == TokenRecyclingEstimator.unwrittenState
                return .object([("state", .int(s)), ("written", .bool(!unwritten)),
                                ("sightings_capped_at_3", .int(unwritten ? -1 : s >> 3)),
                                ("last_outcomes_newest_first", .string(unwritten ? "" :
                                    String((0..<min(3, s >> 3)).map { (s >> $0) & 1 == 1 ? "H" : "m" }))),
                                ("sightings", .int(n)), ("rank0_hits", .int(e.hits[s * e.ranks])),
                                ("rank1_hits", .int(e.ranks > 1 ? e.hits[s * e.ranks + 1] : 0))])
            })),
        ])
    }
}

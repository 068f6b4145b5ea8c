import Foundation

/// Medusa's static sparse token tree and the buffers its verification reads, built from a
/// `medusa_choices` list exactly as the authors' `generate_medusa_buffers` builds them
/// (`FasterDecoding/Medusa`, `medusa/model/utils.py`, HEAD e2a5d20; Cai et al., "Medusa: Simple
/// LLM Inference Acceleration Framework with Multiple Decoding Heads", 2024, arXiv:2401.10774,
/// Section 2.1.2 "Tree attention").
///
/// A choice (path) `[a0, a1, …, ad]` is the node at depth `d + 1` whose token is the `ad`-th
/// ranked token (0-based) of head `d`; its parent is the path without its last entry. Every proper
/// prefix of a path must be listed too. Tree index 0 is the root (the target's own next token);
/// node `S[i]` of the sorted list is tree index `i + 1`.
///
/// Buffers (`T = choices.count + 1`):
/// 1. `choices`: the paths sorted by (length, lexicographic order) — `S`.
/// 2. `attentionMask[T][T]`: the identity, column 0 all ones, and row `i + 1` has ones at
///    `index(S, prefix) + 1` for every proper prefix of `S[i]`: each node sees the root, its
///    ancestors and itself.
/// 3. `treeIndices[T]`: 0 for the root; node `S[i]` at depth `d` gets `S[i].last + 10 (d - 1) + 1`,
///    an index into the flat candidate vector `[root, top10(head 0), top10(head 1), …]`. A node's
///    token depends only on its depth's ranking and its own last entry, not on its parent's token.
/// 4. `positionIDs[T]`: the depth (0 for the root).
/// 5. `retrieveIndices[leaves][maxDepth + 1]`: walking `S` from its last path backwards, each path
///    not already recorded as a prefix of an earlier row becomes the row
///    `[0, index(S, path[..<1]) + 1, …, index(S, path) + 1]`, padded with -1 to the longest row; all
///    its prefixes are recorded. Rows come in the reverse sorted order of the leaves.
///
/// `parents[j]` (derived, not in the reference) is tree index `j`'s parent (-1 for the root), the
/// form `AttentionMask.tree` takes; `attentionMask` is exactly its ancestor closure (tested).
public struct MedusaTree: Sendable, Equatable {
    /// Candidates kept per head (`TOPK` in the reference): a path entry must be below it.
    public static let topK = 10

    /// The paths sorted by (length, lexicographic order).
    public let choices: [[Int]]
    /// Row `i` says which tree indices tree index `i` attends to.
    public let attentionMask: [[Bool]]
    public let treeIndices: [Int]
    public let positionIDs: [Int]
    /// Root-to-leaf rows of tree indices, padded with -1.
    public let retrieveIndices: [[Int]]
    /// Parent tree index of each tree index (-1 for the root).
    public let parents: [Int]

    /// Tree indices including the root: `choices.count + 1` (the verification batch).
    public var count: Int { choices.count + 1 }
    /// The deepest node's depth: the number of heads the tree reads.
    public var depth: Int { choices.last?.count ?? 0 }
    /// Nodes per depth, `[depth 1, depth 2, …]`.
    public var depthCounts: [Int] { (1...max(1, depth)).map { d in choices.filter { $0.count == d }.count } }
    /// The largest rank any node at depth `d + 1` uses, per depth.
    public var maxRanks: [Int] { (1...max(1, depth)).map { d in choices.filter { $0.count == d }.map { $0.last! }.max() ?? 0 } }

    /// Builds the buffers from a choices list (any order). Throws `MedusaError.invalidChoices`
    /// for an empty list or path, an entry outside `0..<topK`, a repeated path, or a path whose
    /// prefix is missing (the reference raises `ValueError` from `list.index` there).
    public init(choices unsorted: [[Int]]) throws {
        guard !unsorted.isEmpty else { throw MedusaError.invalidChoices("the medusa choices list is empty; give at least one path such as [[0]]") }
        for path in unsorted {
            guard !path.isEmpty else { throw MedusaError.invalidChoices("a medusa choice is an empty path; every path needs at least one rank") }
            for r in path where r < 0 || r >= Self.topK {
                throw MedusaError.invalidChoices("path \(path) has rank \(r); ranks must be in 0..<\(Self.topK) (the reference keeps the top \(Self.topK) tokens per head)")
            }
        }
        let sorted = unsorted.sorted { a, b in a.count != b.count ? a.count < b.count : a.lexicographicallyPrecedes(b) }
        var index: [[Int]: Int] = [:]
        for (i, path) in sorted.enumerated() {
            guard index[path] == nil else { throw MedusaError.invalidChoices("path \(path) is listed twice") }
            index[path] = i
        }
        let T = sorted.count + 1
        var parents = [Int](repeating: -1, count: T)
        var mask = [[Bool]](repeating: [Bool](repeating: false, count: T), count: T)
        var treeIndices = [Int](repeating: 0, count: T)
        var positions = [Int](repeating: 0, count: T)
        for i in 0..<T { mask[i][i] = true; mask[i][0] = true }
        for (i, path) in sorted.enumerated() {
            for c in 1..<path.count {
                guard let a = index[Array(path[..<c])] else {
                    throw MedusaError.invalidChoices("path \(path) is listed without its prefix \(Array(path[..<c])); list every ancestor")
                }
                mask[i + 1][a + 1] = true
            }
            parents[i + 1] = path.count == 1 ? 0 : index[Array(path.dropLast())]! + 1
            treeIndices[i + 1] = path.last! + Self.topK * (path.count - 1) + 1
            positions[i + 1] = path.count
        }
        var rows: [[Int]] = []
        var recorded = Set<[Int]>()
        for path in sorted.reversed() where !recorded.contains(path) {
            var row: [Int] = []
            for c in 1...path.count {
                row.append(index[Array(path[..<c])]! + 1)
                recorded.insert(Array(path[..<c]))
            }
            rows.append(row)
        }
        let longest = rows.map(\.count).max() ?? 0
        self.choices = sorted
        self.attentionMask = mask
        self.treeIndices = treeIndices
        self.positionIDs = positions
        self.retrieveIndices = rows.map { [0] + $0 + [Int](repeating: -1, count: longest - $0.count) }
        self.parents = parents
    }

    /// The tree of the first `nodes` paths in sorted order (a valid tree: ancestors sort before
    /// their descendants); used when the context has room for fewer nodes. `nodes` ≥ 1.
    public func truncated(toNodes nodes: Int) -> MedusaTree {
        precondition(nodes >= 1, "a Medusa tree keeps at least one node")
        if nodes >= choices.count { return self }
        return try! MedusaTree(choices: Array(choices.prefix(nodes)))  // a prefix of a valid sorted list is valid
    }

    // MARK: - Named tables

    /// `mc_sim_7b_63` from `medusa/model/medusa_choices.py` (the reference's default tree),
    /// in the listed order (the order the authors added nodes, best first).
    public static let mcSim7b63: [[Int]] = [
        [0], [0, 0], [1], [0, 1], [2], [0, 0, 0], [1, 0], [0, 2], [3], [0, 3], [4], [0, 4], [2, 0], [0, 5], [0, 0, 1], [5], [0, 6],
        [6], [0, 7], [0, 1, 0], [1, 1], [7], [0, 8], [0, 0, 2], [3, 0], [0, 9], [8], [9], [1, 0, 0], [0, 2, 0], [1, 2], [0, 0, 3],
        [4, 0], [2, 1], [0, 0, 4], [0, 0, 5], [0, 0, 0, 0], [0, 1, 1], [0, 0, 6], [0, 3, 0], [5, 0], [1, 3], [0, 0, 7], [0, 0, 8],
        [0, 0, 9], [6, 0], [0, 4, 0], [1, 4], [7, 0], [0, 1, 2], [2, 0, 0], [3, 1], [2, 2], [8, 0], [0, 5, 0], [1, 5], [1, 0, 1],
        [0, 2, 1], [9, 0], [0, 6, 0], [0, 0, 0, 1], [1, 6], [0, 7, 0],
    ]

    /// The shipped tables, by name: the reference's `mc_sim_7b_63`, chains (`chain-D`: the top
    /// token of heads 0…D-1 in a row) and two small trees, `tree-6` and `tree-10`, the first 6 and
    /// 10 paths of `mc_sim_7b_63` in its listed order.
    public static let namedTables: [(name: String, paths: [[Int]])] = [
        ("mc_sim_7b_63", mcSim7b63),
        ("chain-1", chain(depth: 1)), ("chain-2", chain(depth: 2)), ("chain-3", chain(depth: 3)), ("chain-4", chain(depth: 4)),
        ("tree-6", Array(mcSim7b63.prefix(6))), ("tree-10", Array(mcSim7b63.prefix(10))),
    ]

    /// `[[0], [0, 0], …]` with `depth` nodes.
    public static func chain(depth: Int) -> [[Int]] {
        (1...max(1, depth)).map { [Int](repeating: 0, count: $0) }
    }

    /// The table a `--medusa-choices` value names: a JSON list of paths (`[[0], [0, 0], [1]]`), a
    /// table name (`namedTables`), or `NAME:N`, the first N paths of a named table in its listed
    /// order (which must include every ancestor). Throws `MedusaError.invalidChoices` or
    /// `.unknownChoices`.
    public static func parse(_ text: String) throws -> [[Int]] {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.hasPrefix("[") {
            guard let json = try? JSONSerialization.jsonObject(with: Data(trimmed.utf8)), let list = json as? [[Int]] else {
                throw MedusaError.invalidChoices("'\(text)' starts with '[' but is not a JSON list of paths of whole-number ranks, such as [[0], [0, 0], [1]]")
            }
            return list
        }
        var name = trimmed, prefix: Int? = nil
        if let colon = trimmed.lastIndex(of: ":") {
            name = String(trimmed[..<colon])
            guard let n = Int(trimmed[trimmed.index(after: colon)...]), n >= 1 else {
                throw MedusaError.invalidChoices("'\(text)': after the colon comes a path count N ≥ 1 (NAME:N keeps the table's first N paths)")
            }
            prefix = n
        }
        guard let table = namedTables.first(where: { $0.name == name }) else {
            throw MedusaError.unknownChoices(name: name, available: namedTables.map(\.name))
        }
        guard let n = prefix else { return table.paths }
        guard n <= table.paths.count else {
            throw MedusaError.invalidChoices("'\(text)': \(name) has \(table.paths.count) paths, fewer than \(n)")
        }
        return Array(table.paths.prefix(n))
    }

    /// `parse` then `init(choices:)`.
    public static func named(_ text: String) throws -> MedusaTree { try MedusaTree(choices: parse(text)) }
}

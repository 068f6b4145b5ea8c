import Formats
/// A static draft-tree template for Token Recycling (Luo et al. 2024, arXiv:2408.08696).
///
/// A template lists its nodes as rank paths from the root: node `[0, 2]` is "the third candidate
/// (rank 2) in the adjacency row of the token drafted at node `[0]`", and `[0]` is "the first
/// candidate after the root (the pending token)". The drafter fills the template breadth-first
/// by following the adjacency matrix (`TokenRecyclingDrafter.draft(after:maxTokens:)`).
///
/// Invariants checked by `init(paths:)`: every path is non-empty with ranks ≥ 0, paths are
/// distinct, and each path's parent (the path without its last rank) appears earlier in the list,
/// so parents precede children as `DraftTree` requires. The reference template is additionally in
/// (depth, lexicographic) order and "rank-monotone" (if `p + [r] + s` is a node and `r' < r`,
/// then `p + [r'] + s` is a node too), which is what makes the first-prefix truncations below
/// valid templates and lets the verifier's lowest-index-sibling walk find the longest accepted
/// path (see DOCS.md section 6.8, "Differences from the reference code").
public struct TokenRecyclingTree: Sendable, Equatable {
    /// Each node's rank path from the root, in node order.
    public let paths: [[Int]]
    /// Each node's parent: -1 for a child of the root (the pending token), else an earlier index.
    public let parents: [Int]
    /// Each node's rank in its parent token's adjacency row (the last element of its path).
    public let ranks: [Int]

    public enum TemplateError: Error, Equatable, CustomStringConvertible {
        case emptyPath(node: Int)
        case negativeRank(node: Int)
        case duplicatePath(node: Int, path: [Int])
        case parentMissing(node: Int, path: [Int])

        public var description: String {
            switch self {
            case .emptyPath(let node): return "tree template node \(node) has an empty rank path — every node needs at least one rank"
            case .negativeRank(let node): return "tree template node \(node) has a negative rank — ranks index an adjacency row from 0"
            case .duplicatePath(let node, let path): return "tree template node \(node) repeats the path \(path) — list each node once"
            case .parentMissing(let node, let path):
                return "tree template node \(node) (\(path)) has no parent \(Array(path.dropLast())) earlier in the list — list parents before children"
            }
        }
    }

    /// Builds a template from rank paths (see the type's invariants).
    public init(paths: [[Int]]) throws {
        var index: [[Int]: Int] = [:]
        var parents: [Int] = []
        parents.reserveCapacity(paths.count)
        for (i, path) in paths.enumerated() {
            if path.isEmpty { throw TemplateError.emptyPath(node: i) }
            if path.contains(where: { $0 < 0 }) { throw TemplateError.negativeRank(node: i) }
            if index[path] != nil { throw TemplateError.duplicatePath(node: i, path: path) }
            if path.count == 1 {
                parents.append(-1)
            } else if let p = index[Array(path.dropLast())] {
                parents.append(p)
            } else {
                throw TemplateError.parentMissing(node: i, path: path)
            }
            index[path] = i
        }
        self.paths = paths
        self.parents = parents
        self.ranks = paths.map { $0.last! }
    }

    /// The number of nodes (the root, i.e. the pending token, is not a node).
    public var count: Int { paths.count }
    /// The length of the longest path (a verification step emits at most `depth + 1` tokens).
    public var depth: Int { paths.map(\.count).max() ?? 0 }
    /// The largest rank used (the adjacency matrix needs at least `maxRank + 1` candidates per token).
    public var maxRank: Int { paths.map { $0.max() ?? 0 }.max() ?? -1 }

    /// The first `nodes` nodes of this template (all of them if `nodes >= count`). For a
    /// template in (depth, lexicographic) order such as `.reference`, this keeps every shallower
    /// level whole and the lexicographically first nodes of the last level; parents always
    /// precede children, so every prefix is a valid template.
    public func truncated(toNodes nodes: Int) -> TokenRecyclingTree {
        let n = max(0, min(nodes, count))
        return TokenRecyclingTree(trustedPaths: Array(paths.prefix(n)), parents: Array(parents.prefix(n)))
    }

    private init(trustedPaths: [[Int]], parents: [Int]) {
        self.paths = trustedPaths
        self.parents = parents
        self.ranks = trustedPaths.map { $0.last! }
    }

    /// The reference template "2.2.2" (`model/recycling/tree_template_.py`,
    /// `choose_tree_template("2.2.2")`, repository Luowaterbi/TokenRecycling, commit 0beafea /
    /// HEAD 1b4c05c): 80 nodes, depth 6, 8/21/25/15/8/3 nodes per depth, 40 leaves, ranks 0…7.
    public static let reference = TokenRecyclingTree(trustedPaths: referencePaths, parents: referenceParents)

    /// The reference template cut to its first `nodes` nodes (breadth-first order).
    public static func reference(nodes: Int) -> TokenRecyclingTree { reference.truncated(toNodes: nodes) }

    /// A chain of `depth` rank-0 nodes: `[0], [0, 0], [0, 0, 0], …` — each node the first
    /// candidate after the previous one. Not a reference template: meant for the draft threshold
    /// (`TokenRecyclingDrafter.draftThreshold`), which cuts the chain where the estimated chance
    /// of acceptance falls too low, so the drafted depth follows how predictable the text is.
    public static func chain(depth: Int) -> TokenRecyclingTree {
        precondition(depth >= 1, "a chain template needs at least one node")
        let paths = (1...depth).map { [Int](repeating: 0, count: $0) }
        return TokenRecyclingTree(trustedPaths: paths, parents: (0..<depth).map { $0 - 1 })
    }

    /// The `nodes` reference nodes most often accepted (`compactOrder`), in reference order.
    ///
    /// A node is accepted exactly when its parent is and its token is the target's choice there,
    /// whatever its siblings are, so the expected tokens per step of a sub-template is 1 plus
    /// the sum of its nodes' acceptance rates, and the best `n`-node sub-template is the `n`
    /// nodes with the highest rates (a child is never accepted more often than its parent, so
    /// they form a tree). Meant for small trees on hardware where every verified node costs
    /// (DOCS.md section 12, Spec-Bench); `.reference` stays the paper's template.
    public static func compact(nodes: Int) -> TokenRecyclingTree {
        let chosen = Set(compactOrder.prefix(max(0, min(nodes, compactOrder.count))))
        let paths = referencePaths.indices.filter { chosen.contains($0) }.map { referencePaths[$0] }
        return try! TokenRecyclingTree(paths: paths)
    }

    /// Reference node indices by decreasing acceptance count, measured with `touchstone bench
    /// --spec-bench --tree-stats` on SmolLM2-135M-Instruct (80-node reference tree, Spec-Bench
    /// first turns, hot start; DOCS.md section 12); ties in reference order. A tuning table: any
    /// order whose every prefix is closed under parents gives a valid, lossless template.
    /// Measured: 39 questions (7th–9th of each category, disjoint from the ones the DOCS.md table
    /// reports), 1,810 steps; the top nodes [0], [0,0], [0,0,0], [1], [2] were accepted in
    /// 37 %, 18 %, 8.3 %, 8.1 % and 4.7 % of steps.
    static let compactOrder: [Int] = [
        0, 8, 29, 1, 2, 54, 9, 16, 3, 4, 69, 10, 20, 30, 11, 47, 6, 55, 7, 37,
        5, 77, 17, 23, 12, 31, 25, 40, 59, 42, 50, 13, 26, 32, 33, 48, 49, 56, 64, 66,
        72, 14, 15, 22, 24, 21, 27, 52, 19, 28, 38, 44, 70, 34, 35, 43, 57, 65, 67, 73,
        74, 75, 78, 79, 39, 41, 51, 53, 60, 76, 18, 36, 62, 45, 61, 63, 71, 58, 46, 68,
    ]

    static let referencePaths: [[Int]] = [
        [0], [1], [2], [3], [4], [5], [6], [7],
        [0, 0], [0, 1], [0, 2], [0, 3], [0, 4], [0, 5], [0, 6], [0, 7], [1, 0], [1, 1], [1, 2], [1, 3], [2, 0], [2, 1], [2, 2],
        [3, 0], [3, 1], [4, 0], [5, 0], [6, 0], [7, 0],
        [0, 0, 0], [0, 0, 1], [0, 0, 2], [0, 0, 3], [0, 0, 4], [0, 0, 5], [0, 0, 6], [0, 0, 7], [0, 1, 0], [0, 1, 1], [0, 1, 2],
        [0, 2, 0], [0, 2, 1], [0, 3, 0], [0, 4, 0], [0, 5, 0], [0, 6, 0], [0, 7, 0], [1, 0, 0], [1, 0, 1], [1, 1, 0], [2, 0, 0],
        [3, 0, 0], [4, 0, 0], [5, 0, 0],
        [0, 0, 0, 0], [0, 0, 0, 1], [0, 0, 0, 2], [0, 0, 0, 3], [0, 0, 0, 4], [0, 0, 1, 0], [0, 0, 1, 1], [0, 0, 2, 0], [0, 0, 3, 0],
        [0, 0, 4, 0], [0, 1, 0, 0], [0, 2, 0, 0], [1, 0, 0, 0], [2, 0, 0, 0], [3, 0, 0, 0],
        [0, 0, 0, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 2], [0, 0, 0, 1, 0], [0, 0, 0, 2, 0], [0, 0, 1, 0, 0], [0, 1, 0, 0, 0],
        [1, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 1], [0, 0, 0, 1, 0, 0],
    ]

    /// Parent of each reference node, derived once (index of the path without its last rank).
    static let referenceParents: [Int] = referencePaths.map { path in
        path.count == 1 ? -1 : referencePaths.firstIndex(of: Array(path.dropLast()))!
    }
}

/// The template shapes of a Token Recycling draft tree.
public enum TokenRecyclingTreeShape: String, CaseIterable, Sendable {
    /// The paper's template, its first N nodes.
    case reference
    /// The N most often accepted nodes of the reference template.
    case compact
    /// N first candidates in a row.
    case chain

    /// The template of this shape with `nodes` nodes (1…80 for reference and compact).
    public func tree(nodes: Int) -> TokenRecyclingTree {
        switch self {
        case .reference: return .reference(nodes: nodes)
        case .compact: return .compact(nodes: nodes)
        case .chain: return .chain(depth: nodes)
        }
    }
}

import Foundation

/// The buffers of one dynamic sparse tree of parallel prompt decoding, built from one depth key's
/// node list exactly as the authors' `generate_buffers` builds them (`hmarkc/parallel-prompt-decoding`,
/// `prompt/model/model.py`; Chen et al., "Hardware-Aware Parallel Prompt Decoding for
/// Memory-Efficient Acceleration of LLM Inference", 2024, arXiv:2405.18628, Section 3.3 "dynamic
/// sparse tree").
///
/// A node `(path, n)`: `path = [a0, …, ad]` is the real (token) node at depth `d + 1` whose token is
/// the `ad`-th ranked guess (0-based) of prompt-logit row `d`, as in Medusa; `n` (1…K) is how many
/// prompt tokens hang below it. A prompt marker `-j` (j = 1…K) in an extended path is the j-th
/// prompt token of the chain below its host node; its input is the raw prompt embedding `P[j-1]`,
/// and its logits become the next step's guesses for offset `j` if the host is accepted.
///
/// Buffers (`K` prompt tokens, `T` = extended list + 1):
/// 1. `realPaths`: the real paths sorted by (length, lexicographic order) — the reference's
///    `original_paths`; tree numbering `[root] + realPaths` (root = 0) is the "node index".
/// 2. `extendedPaths`: every real path, plus `p + [-1]` for every real path and `[-1]` for the root
///    (n = K), then for i = 2…K `p + [-i]` for every listed path ending in `-(i-1)` whose n ≥ i;
///    sorted by (length, lexicographic order), so negative markers come first at equal length.
///    Tree index `i + 1` is `extendedPaths[i]`; tree index 0 is the root.
/// 3. `normalIndices`: `[0]` + the tree indices of real nodes (increasing; the k-th entry is node
///    index k). `specialIndices[node]`: the tree indices of that node's prompt chain `-1, -2, …`.
/// 4. `attentionMask[T][T]`: the identity, column 0, and every proper prefix in the extended list
///    (each input sees the root, its ancestors and itself); `parents` is its tree form.
/// 5. `positionIDs[T]`: the length of the extended path (root 0): a marker `-j` under a node at
///    depth `d` sits at `d + j`.
/// 6. `treeIndices[T]`: 0 for the root; a real node at depth `d` gets `last + 10 (d - 1) + 1` (an
///    index into `[root] + top10(row 0) + top10(row 1) + …`); a marker `-j` gets `-(K - j + 1)`,
///    the reference's negative index into `embed(candidates) ++ P`, which selects `P[j - 1]`.
/// 7. `retrieveIndices`: Medusa's rule over `realPaths` (node indices, root column 0, padded -1).
public struct PPDTree: Sendable, Equatable {
    /// Guesses kept per prompt-logit row (`TOPK` in the reference).
    public static let topK = 10

    /// Prompt tokens `K` the tree was built for.
    public let promptCount: Int
    public let realPaths: [[Int]]
    /// `n` of each node index (`[root] + realPaths`; the root's is `K`).
    public let promptChainLengths: [Int]
    public let extendedPaths: [[Int]]
    public let normalIndices: [Int]
    /// Per node index, the tree indices of its prompt chain in order (`len == n`).
    public let specialIndices: [[Int]]
    public let attentionMask: [[Bool]]
    public let parents: [Int]
    public let positionIDs: [Int]
    public let treeIndices: [Int]
    public let retrieveIndices: [[Int]]

    /// Tree inputs including the root (the verification batch).
    public var count: Int { extendedPaths.count + 1 }
    /// The deepest real node's depth (prompt-logit rows the tree reads).
    public var depth: Int { realPaths.last?.count ?? 0 }

    /// Builds the buffers for `nodes` (`(path, n)`, any order) with `K = promptCount` prompt
    /// tokens. Throws `PPDError.invalidTree` for an empty path, a rank outside `0..<10`, a
    /// repeated path, a missing prefix, or `n` outside `1...K`.
    public init(nodes: [(path: [Int], n: Int)], promptCount K: Int) throws {
        guard K >= 1 else { throw PPDError.invalidTree("a tree needs at least one prompt token (K ≥ 1)") }
        for (path, n) in nodes {
            guard !path.isEmpty else { throw PPDError.invalidTree("a node has an empty path; every path needs at least one rank") }
            for r in path where r < 0 || r >= Self.topK {
                throw PPDError.invalidTree("path \(path) has rank \(r); ranks must be in 0..<\(Self.topK)")
            }
            guard n >= 1 && n <= K else { throw PPDError.invalidTree("path \(path) has n = \(n); n (prompt tokens below the node) must be in 1...\(K)") }
        }
        func precedes(_ a: [Int], _ b: [Int]) -> Bool { a.count != b.count ? a.count < b.count : a.lexicographicallyPrecedes(b) }
        let sortedNodes = nodes.sorted { precedes($0.path, $1.path) }
        let real = sortedNodes.map(\.path)
        var realIndex: [[Int]: Int] = [:]
        for (i, p) in real.enumerated() {
            guard realIndex[p] == nil else { throw PPDError.invalidTree("path \(p) is listed twice") }
            realIndex[p] = i
        }
        for p in real where p.count > 1 && realIndex[Array(p.dropLast())] == nil {
            throw PPDError.invalidTree("path \(p) is listed without its prefix \(Array(p.dropLast())); list every ancestor")
        }
        // 2. The extended list (the reference's `paths`, with each entry's n).
        var withN: [(path: [Int], n: Int)] = sortedNodes.map { ($0.path, $0.n) }
        withN += withN.map { ($0.path + [-1], $0.n) } + [([-1], K)]
        if K >= 2 {
            for i in 2...K {
                withN += withN.filter { $0.path.last! == -(i - 1) && i <= $0.n }.map { ($0.path + [-i], $0.n) }
            }
        }
        let extended = withN.map(\.path).sorted(by: precedes)
        var extendedIndex: [[Int]: Int] = [:]
        for (i, p) in extended.enumerated() { extendedIndex[p] = i + 1 }  // tree index
        let T = extended.count + 1
        // 3. Normal and special indices.
        let normal = [0] + extended.indices.filter { extended[$0].last! >= 0 }.map { $0 + 1 }
        var special: [[Int]] = []
        for path in [[]] + real {
            var chain: [Int] = []
            for j in 1...K {
                if let t = extendedIndex[path + (1...j).map { -$0 }] { chain.append(t) }
            }
            special.append(chain)
        }
        // 4–6. Mask, parents, positions, tree indices.
        var mask = [[Bool]](repeating: [Bool](repeating: false, count: T), count: T)
        var parents = [Int](repeating: -1, count: T)
        var positions = [Int](repeating: 0, count: T)
        var treeIndices = [Int](repeating: 0, count: T)
        for i in 0..<T { mask[i][i] = true; mask[i][0] = true }
        for (i, path) in extended.enumerated() {
            for c in 1..<path.count { mask[i + 1][extendedIndex[Array(path[..<c])]!] = true }
            parents[i + 1] = path.count == 1 ? 0 : extendedIndex[Array(path.dropLast())]!
            positions[i + 1] = path.count
            let last = path.last!
            treeIndices[i + 1] = last < 0 ? -(K + last + 1) : last + Self.topK * (path.count - 1) + 1
        }
        // 7. Retrieve rows over the real paths (Medusa's rule), in node indices.
        var rows: [[Int]] = []
        var recorded = Set<[Int]>()
        for path in real.reversed() where !recorded.contains(path) {
            var row: [Int] = []
            for c in 1...path.count {
                row.append(realIndex[Array(path[..<c])]! + 1)
                recorded.insert(Array(path[..<c]))
            }
            rows.append(row)
        }
        let longest = rows.map(\.count).max() ?? 0
        promptCount = K
        realPaths = real
        promptChainLengths = [K] + sortedNodes.map(\.n)
        extendedPaths = extended
        normalIndices = normal
        specialIndices = special
        attentionMask = mask
        self.parents = parents
        positionIDs = positions
        self.treeIndices = treeIndices
        retrieveIndices = rows.isEmpty ? [[0]] : rows.map { [0] + $0 + [Int](repeating: -1, count: longest - $0.count) }
    }
}

/// The dynamic sparse trees of one run: one `PPDTree` per depth key `d` (the number of prompt
/// tokens, and so of guess rows, the accepted node brought along), as the reference's
/// `dynamic_sparse_trees_*` dictionaries. The first step uses key `K` (the prefill appends all
/// `K` prompt tokens); after a step the key is the accepted node's `n`.
public struct PPDTreeTable: Sendable, Equatable {
    public let promptCount: Int
    /// Trees by depth key, increasing.
    public let trees: [(key: Int, tree: PPDTree)]

    public static func == (a: PPDTreeTable, b: PPDTreeTable) -> Bool {
        a.promptCount == b.promptCount && a.trees.map(\.key) == b.trees.map(\.key) && a.trees.map(\.tree) == b.trees.map(\.tree)
    }

    /// The tree for depth key `d`.
    public func tree(forKey d: Int) -> PPDTree? { trees.first { $0.key == d }?.tree }

    /// Builds every key's tree. Throws `PPDError.invalidTree` for a key outside `1...K`, a tree
    /// deeper than its key (a node at depth `d` reads guess row `d - 1`), no tree for key `K`, or a
    /// node whose `n` names a key without a tree (the reference fails there with a `KeyError`).
    public init(table: [Int: [(path: [Int], n: Int)]], promptCount K: Int) throws {
        guard !table.isEmpty else { throw PPDError.invalidTree("the tree table is empty; give at least the key \(K)") }
        var built: [(key: Int, tree: PPDTree)] = []
        for key in table.keys.sorted() {
            guard key >= 1 && key <= K else { throw PPDError.invalidTree("depth key \(key) outside 1...\(K) (K = \(K) prompt tokens)") }
            let nodes = table[key]!
            guard !nodes.isEmpty else { throw PPDError.invalidTree("depth key \(key) has no nodes") }
            let tree = try PPDTree(nodes: nodes, promptCount: K)
            guard tree.depth <= key else {
                throw PPDError.invalidTree("depth key \(key) has a node at depth \(tree.depth); a tree for key d may be at most d deep (it reads d guess rows)")
            }
            built.append((key, tree))
        }
        guard built.contains(where: { $0.key == K }) else { throw PPDError.invalidTree("no tree for depth key \(K) (the first step has all \(K) prompt tokens' guesses)") }
        for (key, tree) in built {
            for n in tree.promptChainLengths where !built.contains(where: { $0.key == n }) {
                throw PPDError.invalidTree("depth key \(key) has a node with n = \(n) but the table has no tree for key \(n)")
            }
        }
        promptCount = K
        trees = built
    }

    // MARK: - Named tables and the JSON format

    /// The shipped tables, as functions of `K`:
    /// - `chain`: key K only: the top guess of each row in a chain `[0], [0,0], …` (depth K), every
    ///   node with n = K. `1 + K + K + K²` inputs (16 for K = 3). The default: the cheapest tree that
    ///   can emit K + 1 tokens per pass.
    /// - `wide`: key K: the top 3 guesses at depth 1 and the chain `[0], [0,0], …`, every node n = K.
    /// - `dynamic`: every key d = 1…K: the top 2 guesses at depth 1 and the chain of depth d below
    ///   rank 0; rank-0 nodes carry n = d's full chain (K) and rank-1 nodes n = 1, so the key moves.
    /// - `vicuna-7b-5`, `vicuna-7b-10`, `vicuna-7b-105`: the reference's `dynamic_sparse_trees_5`,
    ///   `_10` and `_105` for Vicuna-7B (`prompt/inference/dynamic_sparse_trees_3_vicuna_7b.py`, `acc`
    ///   dropped), K = 3 only. `_105` (the reference's default for that model) has 10 / 33 / 34 real
    ///   nodes and 44 / 109 / 109 inputs for keys 1 / 2 / 3.
    public static let namedTables: [String] = ["chain", "wide", "dynamic", "vicuna-7b-5", "vicuna-7b-10", "vicuna-7b-105"]

    /// The reference's tables (K = 3), keyed by name.
    static let referenceTables: [String: [Int: [(path: [Int], n: Int)]]] = [
        "vicuna-7b-5": [1: [([0], 1), ([1], 2)], 2: [([0], 1), ([1], 2)], 3: [([0], 1), ([1], 2)]],
        "vicuna-7b-10": [1: [([0], 2), ([1], 2), ([2], 1), ([3], 1)],
                         2: [([0], 1), ([1], 1), ([0, 0], 1), ([2], 1), ([0, 1], 1)],
                         3: [([0], 1), ([1], 1), ([0, 0], 1), ([2], 1), ([0, 1], 1)]],
        "vicuna-7b-105": [
            1: [([0], 3), ([1], 3), ([2], 3), ([3], 3), ([4], 3), ([5], 3), ([6], 3), ([7], 3), ([8], 3), ([9], 3)],
            2: [([0], 3), ([1], 3), ([0, 0], 3), ([2], 2), ([0, 1], 3), ([3], 2), ([0, 2], 3), ([1, 0], 3), ([4], 2), ([0, 3], 2), ([5], 2), ([1, 1], 2), ([0, 4], 2), ([2, 0], 2), ([6], 2), ([0, 5], 2), ([7], 2), ([0, 6], 2), ([3, 0], 2), ([1, 2], 2), ([2, 1], 2), ([0, 7], 2), ([8], 2), ([0, 8], 2), ([9], 2), ([1, 3], 2), ([4, 0], 2), ([0, 9], 2), ([3, 1], 2), ([1, 4], 2), ([2, 2], 2), ([5, 0], 2), ([1, 5], 2)],
            3: [([0], 3), ([1], 3), ([0, 0], 3), ([2], 2), ([0, 1], 2), ([3], 2), ([0, 2], 2), ([1, 0], 2), ([4], 2), ([0, 3], 2), ([5], 2), ([1, 1], 2), ([0, 0, 0], 2), ([0, 4], 2), ([2, 0], 2), ([6], 2), ([0, 5], 2), ([0, 0, 1], 2), ([7], 2), ([0, 6], 2), ([3, 0], 2), ([1, 2], 2), ([0, 1, 0], 2), ([2, 1], 2), ([0, 7], 2), ([0, 0, 2], 2), ([8], 2), ([0, 8], 2), ([9], 2), ([0, 1, 1], 2), ([1, 3], 2), ([4, 0], 2), ([0, 9], 2), ([0, 0, 3], 2)],
        ],
    ]

    /// The table `name` for `K` prompt tokens (nil for an unknown name).
    public static func named(_ name: String, promptCount K: Int) -> [Int: [(path: [Int], n: Int)]]? {
        func chain(_ d: Int) -> [[Int]] { (1...d).map { [Int](repeating: 0, count: $0) } }
        switch name {
        case "chain": return [K: chain(K).map { ($0, K) }]
        case "wide": return [K: (chain(K) + (1..<min(3, PPDTree.topK)).map { [$0] }).map { ($0, K) }]
        case "dynamic":
            var table: [Int: [(path: [Int], n: Int)]] = [:]
            for d in 1...K { table[d] = chain(d).map { ($0, K) } + [([1], 1)] }
            return table
        default: return referenceTables[name]
        }
    }

    /// A `--ppd-tree` value: a table name (`namedTables`) or a JSON object mapping each depth key to
    /// a list of `[path, n]` (the reference's `[path, acc, n]` is accepted too; `acc` is ignored),
    /// e.g. `{"3": [[[0], 3], [[0, 0], 3], [[1], 1]], "1": [[[0], 1]]}`. Throws `PPDError`.
    public static func parse(_ text: String, promptCount K: Int) throws -> PPDTreeTable {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.hasPrefix("{") {
            let shapeHint = "a JSON object {\"DEPTH\": [[PATH, N], …], …} such as {\"3\": [[[0], 3], [[0, 0], 3]]}"
            guard let json = try? JSONSerialization.jsonObject(with: Data(trimmed.utf8)), let object = json as? [String: Any] else {
                throw PPDError.invalidTree("'\(text)' starts with '{' but is not \(shapeHint)")
            }
            var table: [Int: [(path: [Int], n: Int)]] = [:]
            for (keyText, value) in object {
                guard let key = Int(keyText) else { throw PPDError.invalidTree("depth key '\(keyText)' is not a whole number; expected \(shapeHint)") }
                guard let list = value as? [[Any]] else { throw PPDError.invalidTree("depth key \(key): expected a list of [path, n] entries") }
                table[key] = try list.map { entry in
                    guard entry.count == 2 || entry.count == 3, let path = entry[0] as? [Int], let n = entry.last as? Int else {
                        throw PPDError.invalidTree("depth key \(key): entry \(entry) is not [path, n] (or [path, acc, n]) with whole-number ranks and n")
                    }
                    return (path, n)
                }
            }
            return try PPDTreeTable(table: table, promptCount: K)
        }
        guard let table = named(trimmed, promptCount: K) else { throw PPDError.unknownTree(name: trimmed, available: namedTables) }
        return try PPDTreeTable(table: table, promptCount: K)
    }
}

/// Bad parallel-prompt-decoding inputs: a tree table or a prompt-embedding file. The message names
/// what is wrong and what to do.
public enum PPDError: Error, CustomStringConvertible, Equatable {
    case invalidTree(String)
    case unknownTree(name: String, available: [String])
    case invalidPrompts(String)
    case modelMismatch(String)

    public var description: String {
        switch self {
        case .invalidTree(let m): return "--ppd-tree: \(m)"
        case .unknownTree(let name, let available):
            return "--ppd-tree: unknown table '\(name)'; available: \(available.joined(separator: ", ")), or a JSON object {\"DEPTH\": [[PATH, N], …]}"
        case .invalidPrompts(let m): return "--ppd-prompts: \(m)"
        case .modelMismatch(let m): return "--ppd-prompts: \(m)"
        }
    }
}

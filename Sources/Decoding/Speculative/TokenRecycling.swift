import Tensors
import Transformer

/// Token Recycling: Luo, Wang, Zhu, Zhang, Zhang, Yang, Xu, Che, "Turning Trash into Treasure:
/// Accelerating Inference of Large Language Models with Token Recycling", 2024 (ACL 2025),
/// arXiv:2408.08696; reference code Luowaterbi/TokenRecycling, `evaluation/inference_recycling.py`
/// (`recycling_forward`).
///
/// State: the adjacency matrix `A` of shape `[V, k]` (token ids; `k = 8` in the reference): row
/// `A[t]` holds the top-k next-token candidates the target most recently predicted after token
/// `t`, best first. It starts all zeros (every row proposes token id 0) and is never cleared
/// between generations ("hot start") unless `reset()` is called.
///
/// Each verification step:
/// 1. Draft (`prepare_data_input_ids`): `tok[root] = pending token`; walking the static tree
///    template breadth-first, node `i` gets `tok[i] = A[tok[parent(i)]][rank(i)]`, all read from
///    the matrix as it was at the start of the step.
/// 2. Verify greedily with tree attention (`TreeVerification.verifyGreedy`), which emits the
///    longest accepted path plus the target's next token.
/// 3. Update (`adj_matrix[input_ids] = topk(logits, 8)`): for every verified row in increasing
///    index order — row 0 (the pending token) then tree node 0, 1, … (accepted or not) — set
///    `A[tok[row]] = topK(logits[row], k)` ranked by (logit descending, id ascending) (D4). A
///    token occurring at several rows keeps the top-k of its **last** row (last write wins).
///
/// Complexity per step: drafting O(nodes); the update is one top-k scan of `V` logits per
/// verified row, split across `pool` by rows (independent outputs, D2), writes applied in order.
/// Memory: `V × k` Int32 (SmolLM2: 49152 × 8 × 4 B = 1.5 MB).
///
/// Value semantics: copying the drafter copies its matrix; reuse the same variable (it is passed
/// `inout` to `SpeculativeDecoding.generate`) for the paper's hot start across prompts.
public struct TokenRecyclingDrafter: Drafter {
    /// Vocabulary size `V` (rows of the matrix).
    public let vocabularySize: Int
    /// Candidates kept per token `k` (columns of the matrix).
    public let candidatesPerToken: Int
    /// The static draft-tree template.
    public let tree: TokenRecyclingTree
    /// The adjacency matrix `[V, k]`, row-major.
    public private(set) var adjacency: [Int32]
    public var forwardPasses: Int { 0 }
    /// Pool used for the per-row top-k of the matrix update.
    public var pool: ParallelFor
    /// How many verification steps accepted each template node (index = node), counted since
    /// creation or `reset()`: the statistics behind `TokenRecyclingTree.compact(nodes:)`.
    public private(set) var nodeHits: [Int]
    /// Verification steps observed (the denominator of `nodeHits`).
    public private(set) var observedSteps = 0

    /// - Parameters:
    ///   - vocabularySize: the target's vocabulary size `V`.
    ///   - candidatesPerToken: `k`, at least `tree.maxRank + 1` (8 for the reference template).
    ///   - tree: the draft-tree template (default: the reference's 80-node "2.2.2").
    public init(vocabularySize: Int, candidatesPerToken: Int = 8, tree: TokenRecyclingTree = .reference, pool: ParallelFor = .shared) {
        precondition(vocabularySize > 0, "Token Recycling needs a positive vocabulary size")
        precondition(candidatesPerToken > tree.maxRank,
                     "the tree template uses rank \(tree.maxRank); keep at least \(tree.maxRank + 1) candidates per token")
        self.vocabularySize = vocabularySize
        self.candidatesPerToken = candidatesPerToken
        self.tree = tree
        self.adjacency = [Int32](repeating: 0, count: vocabularySize * candidatesPerToken)
        self.pool = pool
        self.nodeHits = [Int](repeating: 0, count: tree.count)
    }

    /// The reference template cut to its first `treeNodes` nodes (breadth-first order; 80 = all).
    public init(vocabularySize: Int, treeNodes: Int, candidatesPerToken: Int = 8, pool: ParallelFor = .shared) {
        self.init(vocabularySize: vocabularySize, candidatesPerToken: candidatesPerToken,
                  tree: .reference(nodes: treeNodes), pool: pool)
    }

    /// Forgets everything learned: every row back to all zeros (the reference's initial state).
    public mutating func reset() {
        for i in adjacency.indices { adjacency[i] = 0 }
        for i in nodeHits.indices { nodeHits[i] = 0 }
        observedSteps = 0
    }

    /// Row `A[token]`: the candidates after `token`, best first.
    public func candidates(after token: Int) -> [Int] {
        precondition(token >= 0 && token < vocabularySize, "token \(token) is outside the vocabulary 0..<\(vocabularySize)")
        let base = token * candidatesPerToken
        return (0..<candidatesPerToken).map { Int(adjacency[base + $0]) }
    }

    /// Overwrites row `A[token]` (tests, or warming the matrix from elsewhere). Missing trailing
    /// entries become 0; every id must be inside the vocabulary.
    public mutating func setCandidates(_ ids: [Int], after token: Int) {
        precondition(token >= 0 && token < vocabularySize, "token \(token) is outside the vocabulary 0..<\(vocabularySize)")
        precondition(ids.count <= candidatesPerToken, "at most \(candidatesPerToken) candidates per token")
        precondition(ids.allSatisfy { $0 >= 0 && $0 < vocabularySize }, "candidate ids must be inside the vocabulary")
        let base = token * candidatesPerToken
        for j in 0..<candidatesPerToken { adjacency[base + j] = j < ids.count ? Int32(ids[j]) : 0 }
    }

    /// The draft below `root` (the pending token): the template's first `min(tree.count, maxTokens)`
    /// nodes, node `i` carrying `A[token of parent(i)][rank(i)]` (the root's token for depth-1
    /// nodes). Parents precede children, so one pass in node order fills the tree.
    public func draft(after root: Int, maxTokens: Int) -> DraftTree {
        let n = max(0, min(tree.count, maxTokens))
        if n == 0 || root < 0 || root >= vocabularySize { return .empty }
        var tokens = [Int](repeating: 0, count: n)
        for i in 0..<n {
            let parentToken = tree.parents[i] < 0 ? root : tokens[tree.parents[i]]
            tokens[i] = Int(adjacency[parentToken * candidatesPerToken + tree.ranks[i]])
        }
        return DraftTree(tokens: tokens, parents: Array(tree.parents.prefix(n)))
    }

    public mutating func draft(sequence: [Int], maxTokens: Int) throws -> DraftTree {
        guard let root = sequence.last else { return .empty }
        return draft(after: root, maxTokens: maxTokens)
    }

    public mutating func observe(sequence: [Int], draft: DraftTree, result: VerificationResult) {
        guard let root = sequence.last else { return }
        observedSteps += 1
        for node in result.acceptedNodes where node < nodeHits.count { nodeHits[node] += 1 }
        update(rowTokens: [root] + draft.tokens, logits: result.logits)
    }

    /// The matrix update: `logits` is `[rowTokens.count, V]`; for `r` in increasing order,
    /// `A[rowTokens[r]] = topK(logits[r], k)` (logit descending, id ascending; NaN logits are
    /// skipped and, should fewer than `k` remain, the row is padded with 0). Duplicate tokens:
    /// the last row wins. Rows are ranked in parallel and written sequentially, so the result
    /// does not depend on the thread count.
    public mutating func update(rowTokens: [Int], logits: [Float]) {
        let v = vocabularySize, k = candidatesPerToken
        precondition(logits.count == rowTokens.count * v, "expected \(rowTokens.count) rows of \(v) logits, got \(logits.count) values")
        precondition(rowTokens.allSatisfy { $0 >= 0 && $0 < v }, "row tokens must be inside the vocabulary")
        let rows = rowTokens.count
        // Only the last row of each distinct token survives the ordered writes; rank only those.
        var isLast = [Bool](repeating: false, count: rows)
        var seen = Set<Int>()
        for r in stride(from: rows - 1, through: 0, by: -1) where seen.insert(rowTokens[r]).inserted { isLast[r] = true }
        var ranked = [Int32](repeating: 0, count: rows * k)  // [rows, k]
        logits.withUnsafeBufferPointer { lp in
            ranked.withUnsafeMutableBufferPointer { out in
                let outBase = out.baseAddress!
                pool.forEach(rows) { r in
                    guard isLast[r] else { return }
                    let top = Kernels.topK(lp.baseAddress! + r * v, count: v, k: k)
                    for j in 0..<k { outBase[r * k + j] = j < top.count ? Int32(top[j].index) : 0 }
                }
            }
        }
        for r in 0..<rows where isLast[r] {
            let base = rowTokens[r] * k
            for j in 0..<k { adjacency[base + j] = ranked[r * k + j] }
        }
    }
}

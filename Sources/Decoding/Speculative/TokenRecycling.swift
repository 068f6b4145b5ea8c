import Formats
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
/// Draft threshold (an extension, not in the paper; off by default): with `draftThreshold = τ > 0`
/// each template node gets an estimated acceptance probability — its parent's (1 for the root)
/// times `TokenRecyclingEstimator`'s estimate for its rank after its parent's token — and only
/// nodes whose estimate is at least `τ` are drafted (a node's children only if it is). The
/// threshold changes which tokens are verified, never which are emitted: output stays identical
/// to greedy. It exists because on a CPU every verified token costs (DOCS.md section 11.4): a node
/// pays when its acceptance probability exceeds the extra cost of verifying it, about 0.2 of a
/// one-token step for the first few tokens here.
///
/// Complexity per step: drafting O(nodes); the update is one top-k scan of `V` logits per
/// verified row, split across `pool` by rows (independent outputs, D2), writes applied in order.
/// Memory: `V × k` Int32 (SmolLM2: 49152 × 8 × 4 B = 1.5 MB), plus one byte per token of
/// estimator history.
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
    /// The draft threshold `τ` in [0, 1): 0 drafts the whole template (the paper); `τ > 0` drafts
    /// only nodes whose estimated acceptance probability is at least `τ` (see the type's notes).
    public var draftThreshold: Double {
        didSet { precondition(draftThreshold >= 0 && draftThreshold < 1, "the draft threshold must be in [0, 1), not \(draftThreshold)") }
    }
    /// The acceptance estimator behind `draftThreshold`, kept (hot) like the matrix and cleared
    /// by `reset()`. Maintained whether or not the threshold is on.
    public private(set) var estimator: TokenRecyclingEstimator
    /// The last draft made by `draft(sequence:maxTokens:)` and each of its nodes' template index,
    /// so `observe` credits `nodeHits` to template nodes when the threshold left some out.
    private var lastDraft: (tree: DraftTree, templateNodes: [Int])?

    /// - Parameters:
    ///   - vocabularySize: the target's vocabulary size `V`.
    ///   - candidatesPerToken: `k`, at least `tree.maxRank + 1` (8 for the reference template).
    ///   - tree: the draft-tree template (default: the reference's 80-node "2.2.2").
    ///   - draftThreshold: 0 (default, the paper) or a probability in (0, 1) (see the type's notes).
    public init(vocabularySize: Int, candidatesPerToken: Int = 8, tree: TokenRecyclingTree = .reference, draftThreshold: Double = 0,
                pool: ParallelFor = .shared) {
        precondition(draftThreshold >= 0 && draftThreshold < 1, "the draft threshold must be in [0, 1), not \(draftThreshold)")
        precondition(vocabularySize > 0, "Token Recycling needs a positive vocabulary size")
        precondition(candidatesPerToken > tree.maxRank,
                     "the tree template uses rank \(tree.maxRank); keep at least \(tree.maxRank + 1) candidates per token")
        self.vocabularySize = vocabularySize
        self.candidatesPerToken = candidatesPerToken
        self.tree = tree
        self.adjacency = [Int32](repeating: 0, count: vocabularySize * candidatesPerToken)
        self.pool = pool
        self.nodeHits = [Int](repeating: 0, count: tree.count)
        self.draftThreshold = draftThreshold
        self.estimator = TokenRecyclingEstimator(vocabularySize: vocabularySize, ranks: candidatesPerToken)
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
        estimator.reset()
        observedSteps = 0
        lastDraft = nil
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
        estimator.markWritten(token)
    }

    /// The draft below `root` (the pending token): the template's first `min(tree.count, maxTokens)`
    /// nodes, node `i` carrying `A[token of parent(i)][rank(i)]` (the root's token for depth-1
    /// nodes), less the nodes the draft threshold leaves out. Parents precede children, so one pass in
    /// node order fills the tree.
    public func draft(after root: Int, maxTokens: Int) -> DraftTree { templateDraft(after: root, maxTokens: maxTokens).tree }

    /// The draft and, for each of its nodes, the template node it fills.
    private func templateDraft(after root: Int, maxTokens: Int) -> (tree: DraftTree, templateNodes: [Int]) {
        let n = max(0, min(tree.count, maxTokens))
        if n == 0 || root < 0 || root >= vocabularySize { return (.empty, []) }
        var tokens: [Int] = [], parents: [Int] = [], templateNodes: [Int] = []
        tokens.reserveCapacity(n); parents.reserveCapacity(n); templateNodes.reserveCapacity(n)
        var placed = [Int](repeating: -1, count: n)  // template node → draft node (-1: left out)
        var estimate = [Double](repeating: 1, count: n)  // estimated acceptance probability per template node
        for i in 0..<n {
            let p = tree.parents[i]
            if p >= 0 && placed[p] < 0 { continue }
            let parentToken = p < 0 ? root : tokens[placed[p]]
            if draftThreshold > 0 {
                estimate[i] = (p < 0 ? 1 : estimate[p]) * estimator.probability(state: estimator.state(of: parentToken), rank: tree.ranks[i])
                if estimate[i] < draftThreshold { continue }
            }
            placed[i] = tokens.count
            tokens.append(Int(adjacency[parentToken * candidatesPerToken + tree.ranks[i]]))
            parents.append(p < 0 ? -1 : placed[p])
            templateNodes.append(i)
        }
        return (DraftTree(tokens: tokens, parents: parents), templateNodes)
    }

    public mutating func draft(sequence: [Int], maxTokens: Int) throws -> DraftTree {
        guard let root = sequence.last else { lastDraft = nil; return .empty }
        let made = templateDraft(after: root, maxTokens: maxTokens)
        lastDraft = made
        return made.tree
    }

    public mutating func observe(sequence: [Int], draft: DraftTree, result: VerificationResult) {
        guard let root = sequence.last else { return }
        observedSteps += 1
        // Draft node → template node (the identity unless the threshold left nodes out).
        let templateNodes: [Int]? = lastDraft?.tree == draft ? lastDraft?.templateNodes : nil
        for node in result.acceptedNodes {
            let t = templateNodes.map { node < $0.count ? $0[node] : -1 } ?? node
            if t >= 0 && t < nodeHits.count { nodeHits[t] += 1 }
        }
        recordSuccessors([root] + result.acceptedTokens + [result.nextToken])
        update(rowTokens: [root] + draft.tokens, logits: result.logits)
    }

    /// The estimator's evidence from a path the target emitted (`path[j + 1]` followed
    /// `path[j]`), pair by pair in order. `observe` calls it before the matrix update, so each
    /// pair is judged against the row the step drafted from.
    public mutating func recordSuccessors(_ path: [Int]) {
        precondition(path.allSatisfy { $0 >= 0 && $0 < vocabularySize }, "path tokens must be inside the vocabulary")
        guard path.count > 1 else { return }
        let k = candidatesPerToken
        adjacency.withUnsafeBufferPointer { a in
            for j in 0..<(path.count - 1) {
                let row = UnsafeBufferPointer(rebasing: a[(path[j] * k)..<(path[j] * k + k)])
                estimator.record(token: path[j], successor: path[j + 1], row: row)
            }
        }
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
            estimator.markWritten(rowTokens[r])
        }
    }
}

// MARK: - Strategy

extension TokenRecyclingDrafter {
    /// `--strategy token-recycling`: greedy speculative decoding with drafts from the adjacency
    /// matrix of recycled candidates.
    public struct Strategy: DecodingStrategy {
        public static let name = "token-recycling"
        public static let summary = "Token Recycling: drafts from the target's own earlier top-k candidates (token-identical to greedy)"
        static let tree = StrategyOption("tree", key: "tree_nodes", .integer(1...TokenRecyclingTree.reference.count), default: "80",
                                         help: "draft-tree nodes")
        static let treeShape = StrategyOption("tree-shape", .choice(TokenRecyclingTreeShape.allCases.map(\.rawValue)), default: "reference",
                                              help: "reference: the paper's template, first N nodes; compact: the N most often accepted nodes; chain: N first candidates in a row")
        static let draftThreshold = StrategyOption("draft-threshold", .number(nil), default: "0",
                                                   help: "draft only nodes whose estimated acceptance probability is at least P (0 = off, the paper)")
        public static let options = [tree, treeShape, draftThreshold]
        public static let processorUse = ProcessorSettings.Use.none

        public var treeNodes: Int
        public var treeShape: TokenRecyclingTreeShape
        public var draftThreshold: Double

        public init(treeNodes: Int = 80, treeShape: TokenRecyclingTreeShape = .reference, draftThreshold: Double = 0) throws {
            guard draftThreshold >= 0 && draftThreshold < 1 else {
                throw StrategyError("--draft-threshold must be a probability in [0, 1) (0 = off), not '\(draftThreshold)'")
            }
            self.treeNodes = treeNodes
            self.treeShape = treeShape
            self.draftThreshold = draftThreshold
        }

        public init(arguments a: StrategyArguments, processors: ProcessorSettings, context: StrategyContext) throws {
            // `text` has checked the shape against the choices.
            try self.init(treeNodes: try a.int(Self.tree)!, treeShape: TokenRecyclingTreeShape(rawValue: try a.text(Self.treeShape)!.lowercased())!,
                          draftThreshold: try a.double(Self.draftThreshold)!)
        }

        public var parameters: [(String, JSONValue)] {
            [("tree_nodes", .int(treeNodes)), ("tree_shape", .string(treeShape.rawValue)), ("draft_threshold", .double(draftThreshold))]
        }

        public func generate(model: any CausalLanguageModel, prompt: [Int], stopping: StoppingCriteria, traceTopK: Int,
                             onToken: ((Int) -> Void)?) throws -> StrategyOutput {
            let tree = treeShape.tree(nodes: treeNodes)
            var drafter = TokenRecyclingDrafter(vocabularySize: model.shape.vocabularySize, tree: tree, draftThreshold: draftThreshold)
            let g = try SpeculativeDecoding.generate(model: model, prompt: prompt, drafter: &drafter, maxDraftTokens: tree.count,
                                                     stopping: stopping, traceTopK: traceTopK, onToken: onToken)
            // How many nodes each step verified (the threshold drafts fewer, sometimes none).
            let drafts = g.trace.compactMap(\.drafted)
            return StrategyOutput(g, statistics: [("drafted_tokens", .int(drafts.reduce(0) { $0 + $1.count })),
                                                  ("empty_drafts", .int(drafts.filter(\.isEmpty).count))])
        }
    }
}

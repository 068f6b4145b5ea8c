import Tensors
import Transformer

/// A draft to verify: a tree of proposed tokens hanging below the pending token (the last token
/// chosen by the target, not yet fed to it). A chain is a tree whose every node has the
/// previous one as parent.
public struct DraftTree: Sendable, Equatable {
    /// Proposed token of each node.
    public var tokens: [Int]
    /// Parent of each node: -1 for a child of the pending token, otherwise an earlier node's
    /// index (parents precede children).
    public var parents: [Int]

    public init(tokens: [Int], parents: [Int]) {
        precondition(tokens.count == parents.count, "one parent per drafted token")
        self.tokens = tokens
        self.parents = parents
    }

    /// A chain `t0 → t1 → …`.
    public init(chain: [Int]) {
        self.init(tokens: chain, parents: chain.indices.map { $0 - 1 })
    }

    public static let empty = DraftTree(tokens: [], parents: [])
    public var count: Int { tokens.count }
    public var isEmpty: Bool { tokens.isEmpty }

    /// Depth of the deepest node (a chain of n tokens has depth n).
    public var depth: Int {
        var d = [Int](repeating: 0, count: count)
        for i in 0..<count { d[i] = parents[i] < 0 ? 1 : d[parents[i]] + 1 }
        return d.max() ?? 0
    }
}

/// The outcome of verifying one draft.
public struct VerificationResult: Sendable {
    /// The accepted drafted tokens, in order (a path from the root).
    public var acceptedTokens: [Int]
    /// The node indices of that path.
    public var acceptedNodes: [Int]
    /// The target's own token after the accepted path (the "bonus" token), which becomes the
    /// next pending token.
    public var nextToken: Int
    /// The target's logits row that chose `nextToken`.
    public var nextLogits: [Float]
    /// One trace step per emitted token (accepted tokens, then `nextToken`).
    public var steps: [TraceStep]
    /// The target's logits for every verified position, `[1 + draft.count, V]`: row 0 after the
    /// pending token, row `i + 1` after draft node `i` (drafters such as Token Recycling learn
    /// from every row, accepted or not).
    public var logits: [Float]
}

/// Greedy verification shared by every lossless greedy method (speculative decoding with a
/// draft model, prompt lookup, Token Recycling, …).
///
/// One target forward pass over `[pending] + tree` with the tree attention mask (each node sees
/// the committed cache, the pending token, its ancestors and itself). Starting at the pending
/// token, the walk follows the child whose drafted token equals the target's argmax at the
/// current node (lowest node index if several siblings carry that token), until no child
/// matches; the argmax there is the next token. The accepted path's KV entries are then kept
/// in place (`KVCache.keep`) and the rest dropped. By batch invariance (D3) every emitted token
/// equals what plain greedy decoding would produce, for any draft.
///
/// Papers: this is SpecInfer's greedy token-tree verification (Miao et al., "SpecInfer:
/// Accelerating Large Language Model Serving with Tree-based Speculative Inference and
/// Verification", ASPLOS 2024, arXiv:2305.09781): the tree pass with its topology-aware causal
/// mask (Section 4.2) and the walk of `VerifyGreedy` (Algorithm 2). Node positions are cache
/// length + depth, as in Medusa's tree attention (Cai et al., "Medusa: Simple LLM Inference
/// Acceleration Framework with Multiple Decoding Heads", 2024, arXiv:2401.10774, Section 2.1.2).
/// Not implemented: SpecInfer's stochastic verification (`VerifyStochastic`, multi-step
/// speculative sampling) and Medusa's typical acceptance. Medusa's greedy `evaluate_posterior`
/// (longest accepted root-to-leaf candidate) emits the same tokens as this walk; the accepted
/// length can differ only when siblings carry the same token. Unlike
/// SpecInfer, the verified tree's KV entries are written in node order and the accepted path is
/// moved into place afterwards, instead of a depth-first cache update.
public enum TreeVerification {
    public static func verifyGreedy(model: any CausalLanguageModel, cache: KVCache, pendingToken: Int, draft: DraftTree,
                                    traceTopK: Int = 5, pool: ParallelFor = .shared) throws -> VerificationResult {
        let base = cache.length
        let tokens = [pendingToken] + draft.tokens
        // Batch index 0 is the pending token (parent: the cache); node i is batch index i + 1.
        let parents = [-1] + draft.parents.map { $0 + 1 }
        let result = try model.forward(tokens: tokens, mask: .tree(parents: parents), cache: cache, logitRows: .all, pool: pool)
        let vocab = model.shape.vocabularySize
        var children = [[Int]](repeating: [], count: tokens.count)
        for (i, p) in parents.enumerated() where i > 0 { children[p].append(i) }

        var node = 0
        var path: [Int] = []
        var steps: [TraceStep] = []
        while true {
            let step = result.logits.withUnsafeBufferPointer { p in
                GreedyDecoding.select(logits: p.baseAddress! + node * vocab, count: vocab, topK: traceTopK)
            }
            steps.append(step)
            guard let next = children[node].first(where: { tokens[$0] == step.token }) else { break }
            path.append(next)
            node = next
        }
        cache.keep(slots: [base] + path.map { base + $0 }, after: base)
        let row = Array(result.logits[(node * vocab)..<((node + 1) * vocab)])
        return VerificationResult(acceptedTokens: path.map { tokens[$0] }, acceptedNodes: path.map { $0 - 1 },
                                  nextToken: steps.last!.token, nextLogits: row, steps: steps, logits: result.logits)
    }
}

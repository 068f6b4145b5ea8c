import Tensors
import Transformer

/// Drafts a chain of `numTokens` tokens greedily with a smaller model that shares the target's
/// vocabulary: a second model, or the target cut to its first layers
/// (`LlamaModel.truncated(toLayers:)`, self-speculative / layer-skip drafting).
///
/// Papers: with a second model, the draft model `Mq` of Leviathan et al. 2023 (arXiv:2211.17192,
/// Algorithm 1, greedy). With the target's first layers, the self-drafting of LayerSkip
/// (Elhoushi et al., "LayerSkip: Enabling Early Exit Inference and Self-Speculative Decoding",
/// ACL 2024, arXiv:2404.16710, Section 4.3: exit after the first `E` layers, then the shared final
/// norm and head), used here as early exit *without* LayerSkip's training (layer dropout and
/// early-exit loss) and without its cache reuse (this drafter keeps its own KV cache, and the
/// target verifies with all of its layers). It is also the special case of Draft & Verify (Zhang
/// et al., "Draft & Verify: Lossless Large Language Model Acceleration via Self-Speculative
/// Decoding", ACL 2024, arXiv:2309.08168) whose skip set is every layer from `E` on, without its
/// Bayesian-optimisation layer search or adaptive draft-exiting threshold.
///
/// The draft keeps its own KV cache of the sequence. Each call first feeds the sequence tokens it
/// has not seen (one batched pass), then proposes tokens one forward pass at a time. Drafted
/// tokens that the target rejected are rolled back on the next call.
public struct DraftModelDrafter: Drafter {
    public let model: any CausalLanguageModel
    public var numTokens: Int
    public private(set) var forwardPasses = 0
    let cache: KVCache
    var cached = DraftCachePrefix()
    let pool: ParallelFor

    public init(model: any CausalLanguageModel, numTokens: Int = 5, pool: ParallelFor = .shared) {
        precondition(numTokens > 0, "the draft needs at least one token")
        self.model = model
        self.numTokens = numTokens
        self.cache = KVCache(shape: model.shape)
        self.pool = pool
    }

    public mutating func draft(sequence: [Int], maxTokens: Int) throws -> DraftTree {
        let want = min(numTokens, maxTokens, model.shape.contextLength - sequence.count)
        if want <= 0 { return .empty }
        let model = self.model, cache = self.cache, pool = self.pool
        let (chain, passes) = try cached.draftChain(after: sequence, count: want, cache: cache) { tokens in
            let result = try model.forward(tokens: tokens, cache: cache, logitRows: .last, pool: pool)
            return result.logits.withUnsafeBufferPointer { Kernels.argmax($0.baseAddress!, count: $0.count) }
        }
        forwardPasses += passes
        return DraftTree(chain: chain)
    }
}

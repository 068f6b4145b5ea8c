import Tensors
import Transformer

/// Drafts a chain of `numTokens` tokens greedily with a smaller model that shares the target's
/// vocabulary: a second model, or the target cut to its first layers
/// (`LlamaModel.truncated(toLayers:)`, self-speculative / layer-skip drafting).
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

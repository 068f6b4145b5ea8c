import Tensors
import Transformer

/// The start every decoding loop shares: check the prompt, make the cache, prefill it, time it.
enum DecodingStart {
    /// Throws unless `prompt` is non-empty and leaves room for at least one new token.
    static func checkPrompt(_ prompt: [Int], contextLength: Int) throws {
        guard !prompt.isEmpty else { throw ModelError.invalidInput("the prompt is empty — give at least one token id") }
        if prompt.count >= contextLength { throw ModelError.contextOverflow(needed: prompt.count + 1, limit: contextLength) }
    }

    /// A cache with room for the prompt and `reserve` more positions (at most the context), the
    /// prompt prefilled into it with the last row's logits; the pass and its time go to `stats`.
    static func prefill(_ model: LlamaModel, prompt: [Int], reserve: Int, tapLayers: Bool = false, pool: ParallelFor,
                        stats: inout Generation.Statistics) throws -> (cache: KVCache, result: ForwardResult) {
        let cache = KVCache(configuration: model.configuration, initialCapacity: min(model.configuration.contextLength, prompt.count + reserve))
        let start = monotonicSeconds()
        let result = try model.forward(tokens: prompt, cache: cache, logitRows: .last, tapLayers: tapLayers, pool: pool)
        stats.prefillSeconds = monotonicSeconds() - start
        stats.forwardPasses += 1
        return (cache, result)
    }
}

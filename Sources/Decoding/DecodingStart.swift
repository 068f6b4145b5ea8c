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
    static func prefill(_ model: any CausalLanguageModel, prompt: [Int], reserve: Int, tapLayers: Bool = false, pool: ParallelFor,
                        stats: inout Generation.Statistics) throws -> (cache: KVCache, result: ForwardResult) {
        let cache = KVCache(shape: model.shape, initialCapacity: min(model.shape.contextLength, prompt.count + reserve))
        let start = monotonicSeconds()
        let result = try model.forward(tokens: prompt, cache: cache, logitRows: .last, tapLayers: tapLayers, pool: pool)
        stats.prefillSeconds = monotonicSeconds() - start
        stats.forwardPasses += 1
        return (cache, result)
    }
}

/// The end of every decoding loop: emit a token (output, trace, streaming), ask the stop rule,
/// time the decode phase, and assemble the `Generation`. Each strategy's loop calls `emit` once
/// per new token and `stop(_:)` for reasons only the loop knows (the context limit).
struct GenerationRecorder {
    let prompt: [Int]
    let stopping: StoppingCriteria
    let onToken: ((Int) -> Void)?
    private(set) var output: [Int] = []
    private(set) var trace: [TraceStep] = []
    /// Why generation ended; `.maxNewTokens` until something else ends it.
    private(set) var stopReason = StopReason.maxNewTokens
    var statistics: Generation.Statistics
    private var decodeStart = 0.0

    /// Starts the decode clock; `statistics` already holds the prefill's pass and time.
    init(prompt: [Int], stopping: StoppingCriteria, statistics: Generation.Statistics, onToken: ((Int) -> Void)?) {
        self.prompt = prompt
        self.stopping = stopping
        self.onToken = onToken
        self.statistics = statistics
        decodeStart = monotonicSeconds()
    }

    /// Whether another token may be generated (fewer than `maxNewTokens` so far).
    var hasRoom: Bool { output.count < stopping.maxNewTokens }

    /// Appends `step`'s token to the output and its trace, streams the token, and applies the stop
    /// rule (`StoppingCriteria.stopReason(after:)`). Returns false when generation must end.
    mutating func emit(_ step: TraceStep) -> Bool {
        output.append(step.token)
        trace.append(step)
        onToken?(step.token)
        if let reason = stopping.stopReason(after: output) {
            stopReason = reason
            return false
        }
        return true
    }

    /// Ends generation for a reason the loop found (e.g. `.contextLimit`).
    mutating func stop(_ reason: StopReason) { stopReason = reason }

    /// The generation so far, with the decode phase's time.
    func finish() -> Generation {
        var stats = statistics
        stats.decodeSeconds = monotonicSeconds() - decodeStart
        return Generation(promptIDs: prompt, outputIDs: output, trace: trace, stopReason: stopReason, statistics: stats)
    }
}

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
    /// `tapLayers` adds the layer outputs to `taps` (which the trained drafters use for the
    /// final-norm output).
    static func prefill(_ model: any CausalLanguageModel, prompt: [Int], reserve: Int, tapLayers: Bool = false, taps: ForwardTaps = .none,
                        pool: ParallelFor, stats: inout Generation.Statistics) throws -> (cache: KVCache, result: ForwardResult) {
        let cache = KVCache(shape: model.shape, initialCapacity: min(model.shape.contextLength, prompt.count + reserve))
        var taps = taps
        if tapLayers { taps.layerOutputs = true }
        let start = monotonicSeconds()
        let result = try model.forward(tokens: prompt, cache: cache, logitRows: .last, taps: taps, pool: pool)
        stats.prefillSeconds = monotonicSeconds() - start
        stats.forwardPasses += 1
        try NonFiniteCheck.requireFinite(result.logits, model: model, tokens: prompt, pool: pool)
        return (cache, result)
    }
}

/// NaN and infinity in a forward pass's output are errors, never results: a golden-fixture tool
/// must not record the argmax of NaN logits. The check is one vectorized pass over the logits
/// (`allFinite`); only when it fails is the forward pass re-run, with layer taps, to say where the
/// first non-finite value appears (`diagnose`).
public enum NonFiniteCheck {
    /// Whether every element of `values` is finite (neither NaN nor ±infinity). One pass, 16 lanes
    /// at a time: `x - x` is 0 for finite `x` and NaN otherwise, and NaN survives the sum.
    public static func allFinite(_ values: UnsafeBufferPointer<Float>) -> Bool {
        guard let base = values.baseAddress else { return true }
        var accumulator = SIMD16<Float>(repeating: 0)
        var i = 0
        while i + 16 <= values.count {
            let v = UnsafeRawPointer(base + i).loadUnaligned(as: SIMD16<Float>.self)
            accumulator += v - v
            i += 16
        }
        var tail: Float = 0
        while i < values.count {
            tail += values[i] - values[i]
            i += 1
        }
        return accumulator == SIMD16<Float>(repeating: 0) && tail == 0
    }

    public static func allFinite(_ values: [Float]) -> Bool {
        values.withUnsafeBufferPointer { allFinite($0) }
    }

    /// Throws `ModelError.nonFiniteActivations` (from `diagnose`) unless every value in `logits`
    /// is finite; `tokens` is the whole sequence whose pass produced them.
    public static func requireFinite(_ logits: [Float], model: any CausalLanguageModel, tokens: [Int], pool: ParallelFor = .shared) throws {
        if allFinite(logits) { return }
        throw try diagnose(model: model, tokens: tokens, pool: pool)
    }

    /// Re-runs `tokens` on a fresh cache with layer taps, in chunks of `chunk` positions (causal
    /// attention: a position never depends on later ones, and D3 makes the chunking invisible),
    /// and returns the error naming the first position whose activations hold a non-finite value
    /// and the first layer (0-based) at that position — `layer` nil when every layer's output is
    /// finite there and the logits are not (final norm or output head). When the re-run finds
    /// nothing, names the last position and no layer.
    public static func diagnose(model: any CausalLanguageModel, tokens: [Int], pool: ParallelFor = .shared, chunk: Int = 64) throws -> ModelError {
        let width = model.shape.hiddenSize, vocab = model.shape.vocabularySize
        let cache = model.makeCache(initialCapacity: max(1, tokens.count))
        var start = 0
        while start < tokens.count {
            let batch = Array(tokens[start..<min(tokens.count, start + chunk)])
            let result = try model.forward(tokens: batch, cache: cache, logitRows: .all, tapLayers: true, pool: pool)
            for row in 0..<batch.count {
                for (layer, output) in (result.layerOutputs ?? []).enumerated() {
                    let finite = output.withUnsafeBufferPointer { allFinite(UnsafeBufferPointer(rebasing: $0[(row * width)..<((row + 1) * width)])) }
                    if !finite { return .nonFiniteActivations(layer: layer, position: start + row) }
                }
                let finite = result.logits.withUnsafeBufferPointer { allFinite(UnsafeBufferPointer(rebasing: $0[(row * vocab)..<((row + 1) * vocab)])) }
                if !finite { return .nonFiniteActivations(layer: nil, position: start + row) }
            }
            start += batch.count
        }
        return .nonFiniteActivations(layer: nil, position: tokens.count - 1)
    }

    /// The index of the first trace step whose logit, probability or top logits hold NaN or
    /// +infinity, or nil (-infinity is a masked score, which processors write on purpose). A
    /// strategy's decode steps are checked through their trace after the run (cost: the trace).
    public static func firstNonFiniteStep(_ trace: [TraceStep]) -> Int? {
        func bad(_ x: Float) -> Bool { x.isNaN || x == .infinity }
        return trace.firstIndex { step in bad(step.logit) || step.topLogits.contains { bad($0.logit) } || (step.probability.map(bad) ?? false) }
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
    /// MAT counts emitted tokens only: a verification step adds the tokens it produced to
    /// `statistics.tokensFromVerification` before emitting them, and when the stop rule ends
    /// generation inside the step, the rest are not emitted. `emit` sees each step's addition and
    /// counts the tokens that really are emitted from it; `finish` reports those.
    private var declaredFromVerification = 0
    private var pendingFromStep = 0
    private var emittedFromVerification = 0

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
        if statistics.tokensFromVerification > declaredFromVerification {
            pendingFromStep = statistics.tokensFromVerification - declaredFromVerification
            declaredFromVerification = statistics.tokensFromVerification
        }
        if pendingFromStep > 0 {
            pendingFromStep -= 1
            emittedFromVerification += 1
        }
        output.append(step.token)
        trace.append(step)
        onToken?(step.token)
        if let reason = stopping.stopReason(after: output) {
            stopReason = reason
            return false
        }
        return true
    }

    /// One verification pass that produced `steps` (its accepted drafted tokens, then the model's
    /// own token; `accepted` of them were drafted): counts the pass, the step and its tokens, then
    /// emits them in order. Returns false when generation must end (later steps are not emitted).
    mutating func emitVerification(_ steps: [TraceStep], accepted: Int) -> Bool {
        statistics.forwardPasses += 1
        statistics.verificationSteps += 1
        statistics.acceptedDraftTokens += accepted
        statistics.tokensFromVerification += steps.count
        for step in steps {
            if !emit(step) { return false }
        }
        return true
    }

    /// Ends generation for a reason the loop found (e.g. `.contextLimit`).
    mutating func stop(_ reason: StopReason) { stopReason = reason }

    /// The generation so far, with the decode phase's time.
    func finish() -> Generation {
        var stats = statistics
        stats.decodeSeconds = monotonicSeconds() - decodeStart
        stats.tokensFromVerification = emittedFromVerification
        return Generation(promptIDs: prompt, outputIDs: output, trace: trace, stopReason: stopReason, statistics: stats)
    }
}

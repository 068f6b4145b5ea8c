import Formats
import Tensors
import Transformer

#if canImport(Glibc)
import Glibc
#endif

/// Greedy decoding: at every step the token with the largest logit, ties to the lowest id (D4).
/// No paper: the textbook argmax rule (Hugging Face's `_sample` with `do_sample=False`).
public enum GreedyDecoding {
    /// Generates up to `stopping.maxNewTokens` tokens after `prompt`.
    ///
    /// The prompt is processed in one prefill pass (logits of its last position only); each new
    /// token then takes one single-token pass with the KV cache. By batch invariance (D3) this
    /// equals recomputing the whole sequence at every step.
    ///
    /// - Parameters:
    ///   - processors: applied to each row of logits before the argmax (Hugging Face applies its
    ///     non-sampling processors, e.g. repetition penalty, in greedy search too); the trace
    ///     records the processed scores.
    ///   - traceTopK: how many top logits each trace step records.
    ///   - onToken: called with each new token as soon as it is chosen (for streaming).
    public static func generate(model: any CausalLanguageModel, prompt: [Int], stopping: StoppingCriteria, processors: [any LogitsProcessor] = [],
                                traceTopK: Int = 5, pool: ParallelFor = .shared, onToken: ((Int) -> Void)? = nil) throws -> Generation {
        try DecodingStart.checkPrompt(prompt, contextLength: model.shape.contextLength)
        var stats = Generation.Statistics()
        var (cache, result) = try DecodingStart.prefill(model, prompt: prompt, reserve: stopping.maxNewTokens + 1, pool: pool, stats: &stats)
        var recorder = GenerationRecorder(prompt: prompt, stopping: stopping, statistics: stats, onToken: onToken)
        while recorder.hasRoom {
            if !processors.isEmpty {
                processors.process(&result.logits, context: ProcessorContext(inputIDs: prompt + recorder.output, promptLength: prompt.count))
            }
            let step = result.logits.withUnsafeBufferPointer { select(logits: $0.baseAddress!, count: model.shape.vocabularySize, topK: traceTopK) }
            guard recorder.emit(step) else { break }
            if cache.length >= model.shape.contextLength { recorder.stop(.contextLimit); break }
            result = try model.forward(tokens: [step.token], cache: cache, logitRows: .last, pool: pool)
            recorder.statistics.forwardPasses += 1
        }
        return recorder.finish()
    }

    /// The greedy choice over one row of logits, with its trace entry.
    public static func select(logits: UnsafePointer<Float>, count: Int, topK: Int) -> TraceStep {
        let token = Kernels.argmax(logits, count: count)
        let top = topK <= 0 ? [] : Kernels.topK(logits, count: count, k: max(topK, 2)).prefix(topK).map { TraceStep.TopEntry(id: $0.index, logit: $0.value) }
        return TraceStep(token: token, logit: logits[token], topLogits: Array(top))
    }
}

/// Seconds from a monotonic clock.
public func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

// MARK: - Strategy

extension GreedyDecoding {
    /// `--strategy greedy`: greedy decoding with the non-sampling processors, if any.
    public struct Strategy: DecodingStrategy {
        public static let name = "greedy"
        public static let summary = "the largest (processed) logit at every step, ties to the lowest id"
        public static let options: [StrategyOption] = []
        public static let processorUse = ProcessorSettings.Use.nonSampling

        public var processors: ProcessorSettings

        public init(processors: ProcessorSettings = .none) { self.processors = processors }

        public init(arguments: StrategyArguments, processors: ProcessorSettings, context: StrategyContext) throws {
            self.init(processors: processors)
        }

        public var parameters: [(String, JSONValue)] { processors.recorded }

        public func generate(model: any CausalLanguageModel, prompt: [Int], stopping: StoppingCriteria, traceTopK: Int,
                             onToken: ((Int) -> Void)?) throws -> StrategyOutput {
            let chain = try processors.processors(sampling: false, vocabularySize: model.shape.vocabularySize, endOfSequenceIDs: stopping.endOfSequenceIDs)
            return StrategyOutput(try GreedyDecoding.generate(model: model, prompt: prompt, stopping: stopping, processors: chain,
                                                              traceTopK: traceTopK, onToken: onToken))
        }
    }
}

import Formats
import Tensors
import Transformer

/// Seeded ancestral sampling through a logits-processor chain (determinism contract D5). No
/// paper: the generator and the draw rule are this project's (DOCS.md section 6.2).
///
/// Per step, with `ids` = prompt + tokens generated so far:
/// 1. `scores` = the model's next-token logits (Float32);
/// 2. `chain.process(&scores, context: …, state: &state)` with `chain = ProcessorChain.make(
///    parameters, order: order, sampling: true, loopState: true)` and `state =
///    SamplingLoopState(seed: seed)` (its `Xoshiro256StarStar(seed: seed)`) created once; XTC, if
///    in the chain, takes one `state.nextUniform()` when it runs;
/// 3. `p = Sampler.probabilities(from: scores)`;
/// 4. `u = state.nextUniform()` — the final draw: exactly one per sampled token (two with XTC,
///    XTC's first), none for the prefill;
/// 5. `token = Sampler.draw(probabilities: p, uniform: u)`;
/// 6. `chain.accept(token:probability: p[token], state:)` (Mirostat updates `μ`).
/// The prompt is prefilled in one pass; each new token takes one single-token pass with the KV
/// cache (identical logits by D3). Thread count never changes a token (D2).
public enum SampleDecoding {
    public static func generate(model: any CausalLanguageModel, prompt: [Int], parameters: SamplingParameters, order: ProcessorOrder = .hf,
                                seed: UInt64, stopping: StoppingCriteria, traceTopK: Int = 5, pool: ParallelFor = .shared,
                                onToken: ((Int) -> Void)? = nil) throws -> Generation {
        let c = model.shape
        try DecodingStart.checkPrompt(prompt, contextLength: c.contextLength)
        let chain = try ProcessorChain.make(parameters, order: order, sampling: true, loopState: true)
        var state = SamplingLoopState(seed: seed)
        var stats = Generation.Statistics()
        var ids = prompt
        var (cache, result) = try DecodingStart.prefill(model, prompt: prompt, reserve: stopping.maxNewTokens + 1, pool: pool, stats: &stats)
        var recorder = GenerationRecorder(prompt: prompt, stopping: stopping, statistics: stats, onToken: onToken)
        while recorder.hasRoom {
            var scores = Array(result.logits(row: 0))
            chain.process(&scores, context: ProcessorContext(inputIDs: ids, promptLength: prompt.count), state: &state)
            let step = try sample(scores: scores, uniform: state.nextUniform(), traceTopK: traceTopK)
            chain.accept(token: step.token, probability: step.probability ?? 0, state: &state)
            ids.append(step.token)
            guard recorder.emit(step) else { break }
            if cache.length >= c.contextLength { recorder.stop(.contextLimit); break }
            result = try model.forward(tokens: [step.token], cache: cache, logitRows: .last, pool: pool)
            recorder.statistics.forwardPasses += 1
        }
        return recorder.finish()
    }

    /// One sampling step over processed scores: the drawn token with its processed logit and
    /// probability, and the `traceTopK` best finite processed scores (D4 order).
    public static func sample(scores: [Float], uniform u: Double, traceTopK: Int) throws -> TraceStep {
        let p = Sampler.probabilities(from: scores)
        guard let token = Sampler.draw(probabilities: p, uniform: u) else {
            throw ModelError.invalidInput("every token was removed by the logits processors — loosen the filters (e.g. bad words, suppress tokens, min_p)")
        }
        let top = scores.withUnsafeBufferPointer { Kernels.topK($0.baseAddress!, count: $0.count, k: max(traceTopK, 0)) }
            .filter { $0.value > -.infinity }
            .map { TraceStep.TopEntry(id: $0.index, logit: $0.value) }
        return TraceStep(token: token, logit: scores[token], probability: p[token], topLogits: top)
    }

    /// The processed next-token distribution after `prompt`: the whole chain (warpers included)
    /// then softmax. Returns the support size (ids with p > 0) and the support as `(id, p)` by
    /// probability descending, ids ascending among ties — all of it, or the first `limit`.
    public static func distribution(model: any CausalLanguageModel, prompt: [Int], parameters: SamplingParameters, order: ProcessorOrder = .hf,
                                    limit: Int? = nil, pool: ParallelFor = .shared) throws -> (supportSize: Int, top: [(id: Int, probability: Float)]) {
        guard !prompt.isEmpty else { throw ModelError.invalidInput("the prompt is empty — give at least one token id") }
        let chain = try ProcessorChain.make(parameters, order: order, sampling: true)
        let cache = KVCache(shape: model.shape, initialCapacity: prompt.count)
        let result = try model.forward(tokens: prompt, cache: cache, logitRows: .last, pool: pool)
        try NonFiniteCheck.requireFinite(result.logits, model: model, tokens: prompt, pool: pool)
        var scores = Array(result.logits(row: 0))
        chain.process(&scores, context: ProcessorContext(inputIDs: prompt, promptLength: prompt.count))
        return distribution(ofProcessedScores: scores, limit: limit)
    }

    /// Softmax of already processed scores, as `distribution(model:…)` reports it.
    public static func distribution(ofProcessedScores scores: [Float], limit: Int? = nil) -> (supportSize: Int, top: [(id: Int, probability: Float)]) {
        let p = Sampler.probabilities(from: scores)
        let order = Sampler.candidateOrder(p)
        return (order.count, order.prefix(limit ?? order.count).map { ($0, p[$0]) })
    }
}

// MARK: - Strategy

extension SampleDecoding {
    /// `--strategy sample`: ancestral sampling through the whole processor chain.
    public struct Strategy: DecodingStrategy {
        public static let name = "sample"
        public static let summary = "one portable uniform draw per token from the processed distribution"
        static let seedOption = SeedOption.option(required: true, help: "seed of the portable generator (sampling is reproducible from the seed)")
        public static let options = [seedOption]
        public static let processorUse = ProcessorSettings.Use.all
        public static let takesSeed = true
        /// How draws are made, recorded with every sampled fixture (DOCS.md, portable sampling).
        public static let generatorDescription = "xoshiro256** seeded by SplitMix64; one nextUniformDouble per token"

        public var seedValue: UInt64
        public var processors: ProcessorSettings

        public init(seed: UInt64, processors: ProcessorSettings) {
            self.seedValue = seed
            self.processors = processors
        }

        public init(arguments: StrategyArguments, processors: ProcessorSettings, context: StrategyContext) throws {
            self.init(seed: UInt64(try arguments.int(Self.seedOption)!), processors: processors)
        }

        /// With XTC on, each token takes two draws (DOCS.md section 6.2).
        public static let generatorDescriptionWithXTC = "xoshiro256** seeded by SplitMix64; per token one nextUniformDouble for XTC's coin, then one for the draw"

        /// The `rng` record of a run that samples with these processors (the generator, and
        /// whether XTC takes a draw of its own per token).
        public static func generatorRecord(_ processors: ProcessorSettings) -> (String, JSONValue) {
            let xtc = ProcessorChain.xtc(processors.parameters) != nil && processors.order.names.contains("xtc")
            return ("rng", .string(xtc ? generatorDescriptionWithXTC : generatorDescription))
        }

        public var parameters: [(String, JSONValue)] {
            processors.recorded + [Self.generatorRecord(processors)]
        }
        public var seed: UInt64? { seedValue }

        public func generate(model: any CausalLanguageModel, prompt: [Int], stopping: StoppingCriteria, traceTopK: Int,
                             onToken: ((Int) -> Void)?) throws -> StrategyOutput {
            try processors.checkTokenIDs(vocabularySize: model.shape.vocabularySize)
            return StrategyOutput(try SampleDecoding.generate(model: model, prompt: prompt, parameters: processors.withEOS(stopping.endOfSequenceIDs),
                                                              order: processors.order, seed: seedValue, stopping: stopping,
                                                              traceTopK: traceTopK, onToken: onToken))
        }
    }
}

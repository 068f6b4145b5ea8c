import Formats
import Tensors
import Transformer

/// A model that drafts for `SpeculativeSampling`: it keeps its own KV cache and returns
/// full-vocabulary next-token logits. Ids it can never propose (a trimmed head, see `VocabTrim`)
/// get `-inf`, so their draft probability `q` is exactly 0.
public protocol SamplingDraftModel {
    var shape: ModelShape { get }
    /// Feeds `tokens` after the cache's contents (extending it by `tokens.count` slots) and
    /// returns the `[V]` logits after the last of them.
    func nextTokenLogits(after tokens: [Int], cache: KVCache, pool: ParallelFor) throws -> [Float]
}

/// Any causal LM as a sampling draft: its full head's logits after the last token.
struct FullHeadDraft: SamplingDraftModel {
    let model: any CausalLanguageModel
    var shape: ModelShape { model.shape }
    func nextTokenLogits(after tokens: [Int], cache: KVCache, pool: ParallelFor) throws -> [Float] {
        try model.forward(tokens: tokens, cache: cache, logitRows: .last, pool: pool).logits
    }
}

/// Speculative sampling: Leviathan, Kalman, Matias, "Fast Inference from Transformers via
/// Speculative Decoding", ICML 2023, arXiv:2211.17192 (Algorithm 1); Chen et al., "Accelerating
/// Large Language Model Decoding with Speculative Sampling", 2023, arXiv:2302.01318 (Algorithm 2,
/// modified rejection sampling). The emitted tokens are distributed exactly as ancestral sampling
/// from the target (`SampleDecoding`) with the same processors, for any draft.
///
/// Notation as in Leviathan et al.: `Mp` the target, `Mq` the draft, `γ` = `numDraftTokens`,
/// `p_i`, `q_i` the *processed* next-token distributions (the same `ProcessorChain` — penalties,
/// masks, temperature, top-k/top-p, … — then `Sampler.probabilities`) of target and draft after
/// the committed sequence plus drafts `x_1 … x_{i-1}`.
///
/// **Procedure and uniform order (D5).** One `Xoshiro256StarStar(seed: seed)`; every draw is
/// `nextUniformDouble()`.
/// 1. Prefill the prompt on the target; the first token is `Sampler.draw(p, u)` with one uniform,
///    exactly as `SampleDecoding`'s first token (no draft involved).
/// 2. Each step, with `ids` = prompt + output (its last token is pending: chosen, not yet in the
///    target's cache) and `remaining` = tokens still allowed:
///    `k = min(γ, remaining − 1, target context room, draft context room)` (never overshoots
///    `maxNewTokens`; `k = 0` makes the step a plain target sampling step).
///    a. Draft: for i = 1…k, `q_i` from the draft's logits, `x_i = Sampler.draw(q_i, u)` —
///       k uniforms, one per draft token, in order. Drafting does not stop at an
///       end-of-sequence id (emission does).
///    b. One target pass over `[pending, x_1 … x_k]` (causal chain) gives `p_1 … p_{k+1}`.
///    c. k acceptance uniforms `r_1 … r_k` are drawn (always all k, even after a rejection),
///       then one final uniform `v`. So every step consumes exactly `2k + 1` uniforms.
///    d. For i = 1…k: accept `x_i` iff `r_i < Double(p_i(x_i)) / Double(q_i(x_i))` (binary64
///       quotient of the Float32 probabilities, strict `<`; `q_i(x_i) > 0` because `x_i` was drawn
///       from `q_i`; `p_i(x_i) = 0` is never accepted; a ratio ≥ 1 always is). Stop at the
///       first rejection; `n` = accepted count.
///    e. `n < k`: the correction token is `Sampler.draw(residual, v)` with the residual
///       `residual(y) = p_{n+1}(y) − q_{n+1}(y)` (one Float32 subtraction) where
///       `p_{n+1}(y) > q_{n+1}(y)`, else `+0`. It is not normalised explicitly: `Sampler.draw`
///       scales `v` by the binary64 sum of the weights, which is the normalisation. If the
///       residual has no positive entry (only possible through Float32 rounding, when `p ≤ q`
///       everywhere) the token is `Sampler.draw(p_{n+1}, v)` instead.
///       `n == k`: the bonus token is `Sampler.draw(p_{k+1}, v)`.
///    f. Emit `x_1 … x_n` then the correction/bonus token (stopping at an end-of-sequence id or
///       `maxNewTokens`). The target cache keeps `pending, x_1 … x_n` (`rollback`); the draft's
///       cache is cut, at its next use, to the longest prefix that agrees with the sequence.
/// Greedy case: with one-hot processed distributions (e.g. top_k 1) acceptance is "draft equals
/// target argmax" and the residual is the target argmax, so the output equals greedy decoding.
///
/// Trace: one step per emitted token, with the target's processed score and probability of the
/// token and its top processed scores; the first token of each step with `k ≥ 1` records the
/// drafted tokens and the accepted count. Statistics: `forwardPasses` (target, prefill included),
/// `draftForwardPasses`, `verificationSteps` (steps with `k ≥ 1`), `acceptedDraftTokens`,
/// `tokensFromVerification` (`n + 1` per verification step; MAT = their ratio).
/// Threads never change a token (D2), and logits do not depend on the batch (D3).
public enum SpeculativeSampling {
    /// What to sample after a rejection. Only `.residual` is the algorithm; the others exist so
    /// the tests can show that the distribution check catches a wrong rule.
    enum RejectionRule {
        /// `norm(max(0, p − q))` (the algorithm).
        case residual
        /// Wrong: sample the target's `p` again (biased towards the rejected token's neighbours).
        case targetDistribution
        /// Wrong: `|p − q|` (no `max(0, ·)`).
        case absoluteDifference
    }

    public static func generate<D: SamplingDraftModel>(target: any CausalLanguageModel, draft: D, prompt: [Int], parameters: SamplingParameters,
                                                       order: ProcessorOrder = .hf, numDraftTokens: Int, seed: UInt64,
                                                       stopping: StoppingCriteria, traceTopK: Int = 5, pool: ParallelFor = .shared,
                                                       onToken: ((Int) -> Void)? = nil) throws -> Generation {
        try generate(target: target, draft: draft, prompt: prompt, parameters: parameters, order: order, numDraftTokens: numDraftTokens,
                     seed: seed, stopping: stopping, traceTopK: traceTopK, pool: pool, rule: .residual, onToken: onToken)
    }

    /// `generate` with a model as the draft (its full output head).
    public static func generate(target: any CausalLanguageModel, draft: any CausalLanguageModel, prompt: [Int], parameters: SamplingParameters,
                                order: ProcessorOrder = .hf, numDraftTokens: Int, seed: UInt64,
                                stopping: StoppingCriteria, traceTopK: Int = 5, pool: ParallelFor = .shared,
                                onToken: ((Int) -> Void)? = nil) throws -> Generation {
        try generate(target: target, draft: FullHeadDraft(model: draft), prompt: prompt, parameters: parameters, order: order,
                     numDraftTokens: numDraftTokens, seed: seed, stopping: stopping, traceTopK: traceTopK, pool: pool, rule: .residual, onToken: onToken)
    }

    static func generate<D: SamplingDraftModel>(target: any CausalLanguageModel, draft: D, prompt: [Int], parameters: SamplingParameters,
                                                order: ProcessorOrder, numDraftTokens: Int, seed: UInt64, stopping: StoppingCriteria,
                                                traceTopK: Int, pool: ParallelFor, rule: RejectionRule,
                                                onToken: ((Int) -> Void)?) throws -> Generation {
        let limit = target.shape.contextLength
        try DecodingStart.checkPrompt(prompt, contextLength: limit)
        guard numDraftTokens >= 0 else { throw ModelError.invalidInput("numDraftTokens must be ≥ 0 (got \(numDraftTokens))") }
        let V = target.shape.vocabularySize
        guard draft.shape.vocabularySize == V else {
            throw ModelError.invalidInput("the draft's vocabulary (\(draft.shape.vocabularySize)) differs from the target's (\(V)) — speculative sampling needs a draft with the target's tokenizer")
        }
        let chain = try ProcessorChain.make(parameters, order: order, sampling: true)
        var rng = Xoshiro256StarStar(seed: seed)
        let capacity = prompt.count + stopping.maxNewTokens + numDraftTokens + 2
        let cache = KVCache(shape: target.shape, initialCapacity: min(limit, capacity))
        var drafter = DraftState(model: draft, cache: KVCache(shape: draft.shape,
                                                               initialCapacity: min(draft.shape.contextLength, capacity)), pool: pool)
        var stats = Generation.Statistics()
        let start = monotonicSeconds()
        let prefill = try target.forward(tokens: prompt, cache: cache, logitRows: .last, pool: pool)
        try NonFiniteCheck.requireFinite(prefill.logits, model: target, tokens: prompt, pool: pool)
        stats.prefillSeconds = monotonicSeconds() - start
        stats.forwardPasses = 1
        var recorder = GenerationRecorder(prompt: prompt, stopping: stopping, statistics: stats, onToken: onToken)
        func context(_ ids: [Int]) -> ProcessorContext { ProcessorContext(inputIDs: ids, promptLength: prompt.count) }

        if recorder.hasRoom {
            var scores = Array(prefill.logits(row: 0))
            chain.process(&scores, context: context(prompt))
            let p = Sampler.probabilities(from: scores)
            let first = try draw(p, uniform: rng.nextUniformDouble())
            var going = recorder.emit(traceStep(first, scores: scores, probabilities: p, topK: traceTopK))
            while going {
                let ids = prompt + recorder.output
                let targetRoom = limit - cache.length - 1           // the pass adds k + 1 slots
                if targetRoom < 0 { recorder.stop(.contextLimit); break }
                let draftRoom = draft.shape.contextLength - ids.count + 1  // draft caches ids + x_1…x_{k-1}
                let k = max(0, min(numDraftTokens, stopping.maxNewTokens - recorder.output.count - 1, targetRoom, draftRoom))

                // a. Draft k tokens, one uniform each.
                var drafted: [Int] = []
                var q: [[Float]] = []
                for i in 0..<k {
                    var z = i == 0 ? try drafter.logits(afterSequence: ids) : try drafter.logits(afterAppending: drafted[i - 1])
                    chain.process(&z, context: context(ids + drafted))
                    let qi = Sampler.probabilities(from: z)
                    guard let x = Sampler.draw(probabilities: qi, uniform: rng.nextUniformDouble()) else {
                        throw ModelError.invalidInput("the draft's processed distribution is empty (every token removed) — loosen the filters")
                    }
                    drafted.append(x)
                    q.append(qi)
                }

                // b. One target pass over [pending, x_1 … x_k].
                let base = cache.length
                let verified = try target.forward(tokens: [recorder.output.last!] + drafted, cache: cache, logitRows: .all, pool: pool)
                recorder.statistics.forwardPasses += 1

                // c. k acceptance uniforms, then the final one.
                var r: [Double] = []
                for _ in 0..<k { r.append(rng.nextUniformDouble()) }
                let v = rng.nextUniformDouble()

                // d, e. Accept while r_i < p_i(x_i) / q_i(x_i); then correction or bonus.
                var steps: [TraceStep] = []
                var n = 0
                while true {
                    var scores = Array(verified.logits(row: n))
                    chain.process(&scores, context: context(ids + drafted[0..<n]))
                    let p = Sampler.probabilities(from: scores)
                    if n == k {
                        steps.append(traceStep(try draw(p, uniform: v), scores: scores, probabilities: p, topK: traceTopK))
                        break
                    }
                    let x = drafted[n]
                    if r[n] < Double(p[x]) / Double(q[n][x]) {
                        steps.append(traceStep(x, scores: scores, probabilities: p, topK: traceTopK))
                        n += 1
                        continue
                    }
                    let weights = rejectionWeights(p: p, q: q[n], rule: rule)
                    let token = try Sampler.draw(probabilities: weights, uniform: v) ?? draw(p, uniform: v)
                    steps.append(traceStep(token, scores: scores, probabilities: p, topK: traceTopK))
                    break
                }
                cache.rollback(to: base + 1 + n)
                if k > 0 {
                    recorder.statistics.verificationSteps += 1
                    recorder.statistics.acceptedDraftTokens += n
                    recorder.statistics.tokensFromVerification += n + 1
                    steps[0].drafted = drafted
                    steps[0].accepted = n
                }
                for step in steps where going { going = recorder.emit(step) }
            }
        }
        recorder.statistics.draftForwardPasses = drafter.forwardPasses
        return recorder.finish()
    }

    /// The weights sampled after a rejection (unnormalised; `Sampler.draw` normalises).
    /// `.residual`: `p(y) − q(y)` (Float32) where `p(y) > q(y)`, else +0.
    static func rejectionWeights(p: [Float], q: [Float], rule: RejectionRule) -> [Float] {
        var w = [Float](repeating: 0, count: p.count)
        switch rule {
        case .residual:
            for y in 0..<p.count where p[y] > q[y] { w[y] = p[y] - q[y] }
        case .targetDistribution:
            return p
        case .absoluteDifference:
            for y in 0..<p.count { w[y] = abs(p[y] - q[y]) }
        }
        return w
    }

    static func draw(_ p: [Float], uniform u: Double) throws -> Int {
        guard let t = Sampler.draw(probabilities: p, uniform: u) else {
            throw ModelError.invalidInput("every token was removed by the logits processors — loosen the filters (e.g. bad words, suppress tokens, min_p)")
        }
        return t
    }

    /// A trace step for `token` chosen from processed `scores` with probabilities `p`.
    static func traceStep(_ token: Int, scores: [Float], probabilities p: [Float], topK: Int) -> TraceStep {
        let top = scores.withUnsafeBufferPointer { Kernels.topK($0.baseAddress!, count: $0.count, k: max(topK, 0)) }
            .filter { $0.value > -.infinity }
            .map { TraceStep.TopEntry(id: $0.index, logit: $0.value) }
        return TraceStep(token: token, logit: scores[token], probability: p[token], topLogits: top)
    }
}

/// The draft model's KV cache and the tokens it holds. Before drafting after a sequence, the
/// cache is cut to the longest prefix that agrees with it (rejected drafts are rolled back)
/// and the rest of the sequence is fed in one pass.
struct DraftState<D: SamplingDraftModel> {
    let model: D
    let cache: KVCache
    let pool: ParallelFor
    var cached = DraftCachePrefix()
    var forwardPasses = 0

    init(model: D, cache: KVCache, pool: ParallelFor) {
        self.model = model
        self.cache = cache
        self.pool = pool
    }

    /// Logits after `sequence` (its last token is always re-fed if already cached).
    mutating func logits(afterSequence sequence: [Int]) throws -> [Float] {
        let z = try model.nextTokenLogits(after: cached.tokensToFeed(for: sequence, cache: cache), cache: cache, pool: pool)
        forwardPasses += 1
        return z
    }

    /// Logits after appending one token to what is cached.
    mutating func logits(afterAppending token: Int) throws -> [Float] {
        let z = try model.nextTokenLogits(after: [token], cache: cache, pool: pool)
        forwardPasses += 1
        cached.append(token)
        return z
    }
}

// MARK: - Strategy

extension SpeculativeSampling {
    /// `--strategy speculative-sampling` (also `speculative --seed N`): distribution-exact
    /// speculative sampling over the processed distributions.
    public struct Strategy: DecodingStrategy {
        public static let name = "speculative-sampling"
        public static let summary = "speculative sampling (Leviathan/Chen): samples exactly as `sample` would"
        static let seedOption = SeedOption.option(required: true, help: "seed of the portable generator (draw order in DOCS.md)")
        public static let options = SpeculativeDraft.options + [seedOption]
        public static let processorUse = ProcessorSettings.Use.all
        public static let takesSeed = true
        public static let generatorDescription = "xoshiro256**; draw order in DOCS.md"

        public var draft: SpeculativeDraft
        public var seedValue: UInt64
        public var processors: ProcessorSettings

        public init(draft: SpeculativeDraft, seed: UInt64, processors: ProcessorSettings) {
            self.draft = draft
            self.seedValue = seed
            self.processors = processors
        }

        public init(arguments a: StrategyArguments, processors: ProcessorSettings, context: StrategyContext) throws {
            self.init(draft: try SpeculativeDraft(arguments: a, context: context, strategy: Self.name), seed: UInt64(try a.int(Self.seedOption)!),
                      processors: processors)
        }

        public var parameters: [(String, JSONValue)] {
            draft.parameters + processors.recorded + [("rng", .string(Self.generatorDescription))]
        }
        public var seed: UInt64? { seedValue }

        public func generate(model: any CausalLanguageModel, prompt: [Int], stopping: StoppingCriteria, traceTopK: Int,
                             onToken: ((Int) -> Void)?) throws -> StrategyOutput {
            try processors.checkTokenIDs(vocabularySize: model.shape.vocabularySize)
            let parameters = processors.withEOS(stopping.endOfSequenceIDs)
            let (draftModel, trimmed) = try draft.model(for: model, endOfSequenceIDs: stopping.endOfSequenceIDs)
            let g: Generation
            if let trimmed {
                g = try SpeculativeSampling.generate(target: model, draft: trimmed, prompt: prompt, parameters: parameters, order: processors.order,
                                                     numDraftTokens: draft.numTokens, seed: seedValue, stopping: stopping, traceTopK: traceTopK,
                                                     onToken: onToken)
            } else {
                g = try SpeculativeSampling.generate(target: model, draft: draftModel, prompt: prompt, parameters: parameters, order: processors.order,
                                                     numDraftTokens: draft.numTokens, seed: seedValue, stopping: stopping, traceTopK: traceTopK,
                                                     onToken: onToken)
            }
            return StrategyOutput(g)
        }
    }
}

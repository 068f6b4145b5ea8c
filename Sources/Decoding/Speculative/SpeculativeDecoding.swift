import Formats
import Tensors
import Transformer

/// Something that proposes draft tokens for the target to verify.
public protocol Drafter {
    /// Proposes up to `maxTokens` tokens (as a tree; a chain for most methods) to follow
    /// `sequence`, which is the prompt plus every emitted token; its last token is the pending
    /// token the target has chosen but not yet processed.
    mutating func draft(sequence: [Int], maxTokens: Int) throws -> DraftTree
    /// Forward passes this drafter has made (0 for model-free drafters).
    var forwardPasses: Int { get }
    /// Called after each verification with the sequence the draft was made for, the draft, and
    /// the verification result (all verified rows' logits included). Default: nothing.
    mutating func observe(sequence: [Int], draft: DraftTree, result: VerificationResult)
}

extension Drafter {
    public mutating func observe(sequence: [Int], draft: DraftTree, result: VerificationResult) {}
}

/// Lossless greedy speculative decoding around any `Drafter`: draft, verify in one target pass
/// (`TreeVerification.verifyGreedy`), emit the accepted tokens and the target's next token,
/// repeat. The output is token-identical to `GreedyDecoding` for every drafter.
///
/// Papers: Leviathan, Kalman, Matias, "Fast Inference from Transformers via Speculative
/// Decoding", ICML 2023, arXiv:2211.17192, Algorithm 1 (`SpeculativeDecodingStep`) with argmax
/// cast as a one-hot distribution (Section 2.2, "standardized sampling"); equally Chen et al.,
/// "Accelerating Large Language Model Decoding with Speculative Sampling", 2023,
/// arXiv:2302.01318, Algorithm 2 with one-hot distributions. With `p`, `q` one-hot, the
/// acceptance test `r < p(x)/q(x)` becomes "the drafted token is the target's argmax" and the
/// residual `norm(max(0, p − q))` becomes the target's argmax, which is emitted after the
/// accepted prefix (at most `γ + 1` tokens per step, `γ` = drafted tokens). Deviations: the draft
/// may be a tree (verified as in SpecInfer, see `TreeVerification`); its size is at most
/// `maxDraftTokens`, cut to the free context, and tokens past `maxNewTokens` or an
/// end-of-sequence id are not emitted (no "heuristic" schedule for the draft size).
public enum SpeculativeDecoding {
    public static func generate<D: Drafter>(model: any CausalLanguageModel, prompt: [Int], drafter: inout D, maxDraftTokens: Int,
                                            stopping: StoppingCriteria, traceTopK: Int = 5, pool: ParallelFor = .shared,
                                            onToken: ((Int) -> Void)? = nil) throws -> Generation {
        let limit = model.shape.contextLength
        try DecodingStart.checkPrompt(prompt, contextLength: limit)
        var stats = Generation.Statistics()
        let (cache, prefill) = try DecodingStart.prefill(model, prompt: prompt, reserve: stopping.maxNewTokens + maxDraftTokens + 2,
                                                         pool: pool, stats: &stats)
        var recorder = GenerationRecorder(prompt: prompt, stopping: stopping, statistics: stats, onToken: onToken)
        let first = prefill.logits.withUnsafeBufferPointer { GreedyDecoding.select(logits: $0.baseAddress!, count: $0.count, topK: traceTopK) }

        if recorder.hasRoom, recorder.emit(first) {
            while true {
                // The cache must hold the pending token plus every drafted node.
                let room = limit - cache.length - 1
                if room < 0 { recorder.stop(.contextLimit); break }
                let sequence = prompt + recorder.output
                var draft = try drafter.draft(sequence: sequence, maxTokens: min(maxDraftTokens, room))
                if draft.count > room { draft = DraftTree(tokens: Array(draft.tokens.prefix(room)), parents: Array(draft.parents.prefix(room))) }
                let result = try TreeVerification.verifyGreedy(model: model, cache: cache, pendingToken: recorder.output.last!, draft: draft,
                                                               traceTopK: traceTopK, pool: pool)
                drafter.observe(sequence: sequence, draft: draft, result: result)
                recorder.statistics.forwardPasses += 1
                recorder.statistics.verificationSteps += 1
                recorder.statistics.acceptedDraftTokens += result.acceptedTokens.count
                recorder.statistics.tokensFromVerification += result.steps.count
                var going = true
                for (i, var step) in result.steps.enumerated() {
                    if i == 0 {
                        step.drafted = draft.tokens
                        step.accepted = result.acceptedTokens.count
                    }
                    if !recorder.emit(step) { going = false; break }
                }
                if !going { break }
            }
        }
        recorder.statistics.draftForwardPasses = drafter.forwardPasses
        return recorder.finish()
    }
}

// MARK: - Strategy

/// The draft of the draft-model strategies (`speculative`, `speculative-sampling`): the target's
/// first layers or another model, optionally with a trimmed head (VocabTrim).
public struct SpeculativeDraft: Sendable {
    public enum Source: Sendable {
        /// The target cut to its first N layers (self-speculative / layer-skip drafting).
        case layers(Int)
        /// Another model with the target's vocabulary.
        case model(any CausalLanguageModel)
    }

    public var source: Source
    public var numTokens: Int
    /// VocabTrim: keep this many ids of the table's ranking in the draft's head.
    public var vocabTrim: (count: Int, ranking: [Int], table: String)?

    static let draftLayers = StrategyOption("draft-layers", .integer(1...10_000), help: "draft with the target's first N layers")
    static let draftModel = StrategyOption("draft-model", .text(placeholder: "M"), help: "draft with another model (same vocabulary)")
    static let numAssistantTokens = StrategyOption("num-assistant-tokens", .integer(1...256), default: "5", help: "tokens drafted per step")
    static let vocabTrim = StrategyOption("vocab-trim", .integer(1...Int(Int32.max)), help: "keep K ids in the draft's head (needs --vocab-table)")
    static let vocabTable = StrategyOption("vocab-table", .text(placeholder: "FILE"), help: "ranking from `touchstone vocab-table`")
    static let options = [draftLayers, draftModel, numAssistantTokens, vocabTrim, vocabTable]

    public init(source: Source, numTokens: Int = 5, vocabTrim: (count: Int, ranking: [Int], table: String)? = nil) {
        self.source = source
        self.numTokens = numTokens
        self.vocabTrim = vocabTrim
    }

    init(arguments a: StrategyArguments, context: StrategyContext, strategy: String) throws {
        if let layers = try a.int(Self.draftLayers) {
            if a.has(Self.draftModel) { throw StrategyError("give either --draft-layers or --draft-model") }
            source = .layers(layers)
        } else if let name = try a.text(Self.draftModel) {
            guard let load = context.loadModel else { throw StrategyError("--draft-model cannot be loaded here; use --draft-layers") }
            source = .model(try load(name))
        } else {
            throw StrategyError("--strategy \(strategy) needs --draft-layers N (the target's first N layers as draft) or --draft-model M")
        }
        numTokens = try a.int(Self.numAssistantTokens)!
        if let keep = try a.int(Self.vocabTrim) {
            guard let table = try a.text(Self.vocabTable) else { throw StrategyError("--vocab-trim N needs --vocab-table FILE (made by `touchstone vocab-table`)") }
            vocabTrim = (keep, try VocabTrim.readRanking(table), table)
        } else if a.has(Self.vocabTable) {
            throw StrategyError("--vocab-table only applies with --vocab-trim K")
        }
    }

    var parameters: [(String, JSONValue)] {
        var p: [(String, JSONValue)]
        switch source {
        case .layers(let n): p = [("draft_layers", .int(n))]
        case .model(let m): p = [("draft_model", .string(m.origin))]
        }
        p.append(("num_assistant_tokens", .int(numTokens)))
        if let trim = vocabTrim { p += [("vocab_trim", .int(trim.count)), ("vocab_table", .string(trim.table))] }
        return p
    }

    /// The draft model for `target`; with a trim, its trimmed head.
    func model(for target: any CausalLanguageModel, endOfSequenceIDs: Set<Int>) throws -> (model: any CausalLanguageModel, trimmed: TrimmedHeadModel?) {
        let draft: any CausalLanguageModel
        switch source {
        case .layers(let n): draft = try target.truncated(toLayers: n)
        case .model(let m):
            guard m.shape.vocabularySize == target.shape.vocabularySize else {
                throw StrategyError("the draft model's vocabulary (\(m.shape.vocabularySize)) differs from the target's (\(target.shape.vocabularySize))")
            }
            draft = m
        }
        guard let trim = vocabTrim else { return (draft, nil) }
        let V = target.shape.vocabularySize
        guard trim.count <= V else { throw StrategyError("--vocab-trim must be in 1...\(V), got \(trim.count)") }
        let kept = try VocabTrim(ranking: trim.ranking, count: trim.count, vocabularySize: V, alwaysKeep: endOfSequenceIDs.sorted())
        return (draft, try TrimmedHeadModel(model: draft, trim: kept))
    }
}

extension SpeculativeDecoding {
    /// `--strategy speculative`: lossless greedy speculative decoding with a draft model.
    public struct Strategy: DecodingStrategy {
        public static let name = "speculative"
        public static let summary = "greedy speculative decoding with a draft model (token-identical to greedy)"
        public static let options = SpeculativeDraft.options
        public static let processorUse = ProcessorSettings.Use.none

        public var draft: SpeculativeDraft

        public init(draft: SpeculativeDraft) { self.draft = draft }

        public init(arguments a: StrategyArguments, processors: ProcessorSettings, context: StrategyContext) throws {
            self.init(draft: try SpeculativeDraft(arguments: a, context: context, strategy: Self.name))
        }

        public var parameters: [(String, JSONValue)] { draft.parameters }

        public func generate(model: any CausalLanguageModel, prompt: [Int], stopping: StoppingCriteria, traceTopK: Int,
                             onToken: ((Int) -> Void)?) throws -> StrategyOutput {
            let k = draft.numTokens
            let (draftModel, trimmed) = try draft.model(for: model, endOfSequenceIDs: stopping.endOfSequenceIDs)
            if let trimmed {
                var drafter = VocabTrimDrafter(draft: trimmed, numTokens: k)
                return StrategyOutput(try SpeculativeDecoding.generate(model: model, prompt: prompt, drafter: &drafter, maxDraftTokens: k,
                                                                       stopping: stopping, traceTopK: traceTopK, onToken: onToken))
            }
            var drafter = DraftModelDrafter(model: draftModel, numTokens: k)
            return StrategyOutput(try SpeculativeDecoding.generate(model: model, prompt: prompt, drafter: &drafter, maxDraftTokens: k,
                                                                   stopping: stopping, traceTopK: traceTopK, onToken: onToken))
        }
    }
}

import Foundation
import Formats
import Tensors
import Transformer

/// Context-aware decoding (CAD): Shi, Han, Lewis, Tsvetkov, Zettlemoyer, Yih, "Trusting Your
/// Evidence: Hallucinate Less with Context-aware Decoding", NAACL 2024, arXiv:2305.14739, Eq. 2:
///
///     y_t ~ softmax[(1 + α) · logit(y_t | c, x, y<t) − α · logit(y_t | x, y<t)]
///
/// with `c` the evidence (context), `x` the query and `α` the amplification. One model runs two
/// streams, each with its own KV cache: the **context stream** holds `c` and `x`, the **null
/// stream** holds `x` alone; both append every chosen token. See DOCS.md section 6.11.
///
/// Per step, with `l_ctx` and `l_null` the last-position raw logits (Float32) of the two streams:
///
/// 1. (`.official` mode only) each stream's nucleus pre-filter (`officialPrefilter`): the context
///    stream's dropped entries become −1000, the null stream's +1000, as the authors'
///    `filter_logits_top_p` writes them;
/// 2. `z[v] = w_ctx · l_ctx[v] − a · l_null[v]` in Float32 with `w_ctx = Float(1 + α)` and
///    `a = Float(α)` (two products, one subtraction; raw logits, not log-probabilities, as both
///    published codebases combine them);
/// 3. greedy (no seed): the non-sampling processors act on `z`, then argmax, lowest id on ties
///    (D4); sampling (a seed): the whole processor chain in its order (Hugging Face's: processors
///    then warpers), then one portable draw (D5), exactly as `SampleDecoding` step 2–6 — the
///    Xu reproduction's patched `generate` ("Algorithm B"). Processors see the context stream's
///    ids (`contextPrompt + output`), as Hugging Face's `input_ids` there are the context input.
///
/// With `α = 0` the token choice is plain decoding on the context stream, bit for bit (`z` is
/// `1 · l_ctx − 0 · l_null`; the null stream is still run, so the cost is the same).
public enum ContextAwareDecoding {
    /// How the two streams' logits are prepared before they are combined.
    public enum Mode: String, Sendable, CaseIterable {
        /// The paper's Eq. 2 on raw logits, nothing else (the Xu reproduction's code).
        case standard
        /// The authors' `group_decode_fileio.py`: each stream's logits first go through the
        /// nucleus pre-filter `officialPrefilter` with ±1000 fill values.
        case official
    }

    /// What `officialPrefilter` writes into dropped entries of the context stream (`−1000`); the
    /// null stream gets `+officialFillValue` (negated again by its weight −α).
    public static let officialFillValue: Float = 1000

    /// `(1 + α) · contextLogits − α · nullLogits` in Float32: `w = Float(1 + α)` (the sum in
    /// binary64, rounded once), `a = Float(α)`, then `w · c[v] − a · n[v]` per entry with each
    /// product rounded (no fused multiply-add, D1). `-inf` and `+inf` propagate as IEEE says.
    public static func combine(contextLogits c: [Float], nullLogits n: [Float], alpha: Double) -> [Float] {
        precondition(c.count == n.count, "the two streams' logits must have the same length")
        let w = Float(1 + alpha), a = Float(alpha)
        var z = [Float](repeating: 0, count: c.count)
        for v in 0..<c.count {
            let x = w * c[v]
            let y = a * n[v]
            z[v] = x - y
        }
        return z
    }

    /// The authors' `filter_logits_top_p`: `q = softmax(logits)`, the entries sorted by `q`
    /// descending (ties by id ascending, D4), `C_i` their cumulative sum; entry `i` of the sorted
    /// order is kept when `i == 0` or `C_{i−1} < topP`, and every other entry is replaced by
    /// `fill` (−1000 for the context stream, +1000 for the null stream).
    ///
    /// Arithmetic (a documented choice where torch's exact float path is not reproduced):
    /// `q = ProcessorMath.softmax` (Float32 values, binary64 normalizer); `C_i = Float(Σ_{k≤i}
    /// Double(q_k))`, the sum in binary64 left to right and each prefix rounded to Float32 (as
    /// torch's CPU `cumsum` accumulates a Float32 tensor in double); the test compares Float32
    /// values, `C_{i−1} < Float(topP)`. With `topP = 1` the filter is meant to be a no-op, but a
    /// prefix that rounds to 1.0 before the tail drops the whole tail — the quirk this mode
    /// exists to reproduce. `topP > 1` keeps everything.
    public static func officialPrefilter(_ logits: [Float], topP: Double, fill: Float) -> [Float] {
        let q = ProcessorMath.softmax(logits)
        var keys = [UInt64](repeating: 0, count: q.count)
        for i in 0..<q.count { keys[i] = ProcessorMath.descendingKey(q[i], i) }
        keys.sort()
        let threshold = Float(topP)
        var out = logits
        var cumulative = 0.0
        for (rank, key) in keys.enumerated() {
            let id = Int(key & 0xFFFF_FFFF)
            if rank > 0 && !(Float(cumulative) < threshold) { out[id] = fill }
            cumulative = cumulative + Double(q[id])
        }
        return out
    }

    /// The pre-filter settings of `.official` mode (the authors' `--filter_top_p` for the
    /// context stream and `--filter_top_p_prior` for the null stream; both default to 1.0).
    public struct OfficialFilter: Sendable, Equatable {
        public var contextTopP: Double
        public var nullTopP: Double
        public init(contextTopP: Double = 1, nullTopP: Double = 1) {
            self.contextTopP = contextTopP
            self.nullTopP = nullTopP
        }
    }

    /// The next-token scores CAD decodes from (step 1–2 of the type's description), before any
    /// processor: `combine` of the two streams' logits, pre-filtered first when `filter` is set.
    public static func scores(contextLogits c: [Float], nullLogits n: [Float], alpha: Double, filter: OfficialFilter?) -> [Float] {
        guard let filter else { return combine(contextLogits: c, nullLogits: n, alpha: alpha) }
        return combine(contextLogits: officialPrefilter(c, topP: filter.contextTopP, fill: -officialFillValue),
                       nullLogits: officialPrefilter(n, topP: filter.nullTopP, fill: officialFillValue), alpha: alpha)
    }

    /// Generates up to `stopping.maxNewTokens` tokens with CAD.
    ///
    /// - Parameters:
    ///   - contextPrompt: the context stream's input (evidence and query, e.g. `evidence + query`
    ///     ids, or the chat template with the evidence inside the user turn).
    ///   - nullPrompt: the null stream's input (the query alone, same template).
    ///   - alpha: α ≥ 0.
    ///   - filter: the official code's pre-filter (`.official` mode), nil for `.standard`.
    ///   - processors: the chain applied to the combined scores (non-sampling processors for
    ///     greedy; the whole chain, built with `loopState: true`, when `seed` is set).
    ///   - seed: nil = greedy; otherwise one portable draw per token from `SamplingLoopState(seed:)`.
    ///   - traceTopK: how many top processed scores each trace step records; a step's `logit` is
    ///     the chosen token's processed combined score (`probability` set when sampling).
    /// - Throws: `ModelError.invalidInput` for an empty prompt, `ModelError.contextOverflow` when
    ///   the context stream does not fit, `ModelError.nonFiniteActivations` when either stream's
    ///   logits hold NaN or infinity.
    /// The returned generation's `promptIDs` are `nullPrompt` (the query the caller gave); its
    /// statistics count both streams' passes.
    public static func generate(model: any CausalLanguageModel, contextPrompt: [Int], nullPrompt: [Int], alpha: Double,
                                filter: OfficialFilter? = nil, processors: [any LogitsProcessor] = [], seed: UInt64? = nil,
                                stopping: StoppingCriteria, traceTopK: Int = 5, pool: ParallelFor = .shared,
                                onToken: ((Int) -> Void)? = nil) throws -> Generation {
        let limit = model.shape.contextLength
        try DecodingStart.checkPrompt(nullPrompt, contextLength: limit)
        try DecodingStart.checkPrompt(contextPrompt, contextLength: limit)
        var stats = Generation.Statistics()
        let reserve = stopping.maxNewTokens + 1
        var (contextCache, contextResult) = try DecodingStart.prefill(model, prompt: contextPrompt, reserve: reserve, pool: pool, stats: &stats)
        let contextPrefill = stats.prefillSeconds
        var (nullCache, nullResult) = try DecodingStart.prefill(model, prompt: nullPrompt, reserve: reserve, pool: pool, stats: &stats)
        stats.prefillSeconds += contextPrefill
        var state = seed.map { SamplingLoopState(seed: $0) }
        var recorder = GenerationRecorder(prompt: nullPrompt, stopping: stopping, statistics: stats, onToken: onToken)
        while recorder.hasRoom {
            var z = scores(contextLogits: contextResult.logits, nullLogits: nullResult.logits, alpha: alpha, filter: filter)
            let context = ProcessorContext(inputIDs: contextPrompt + recorder.output, promptLength: contextPrompt.count)
            let step: TraceStep
            if var s = state {
                processors.process(&z, context: context, state: &s)
                step = try SampleDecoding.sample(scores: z, uniform: s.nextUniform(), traceTopK: traceTopK)
                processors.accept(token: step.token, probability: step.probability ?? 0, state: &s)
                state = s
            } else {
                processors.process(&z, context: context)
                step = z.withUnsafeBufferPointer { GreedyDecoding.select(logits: $0.baseAddress!, count: $0.count, topK: traceTopK) }
            }
            guard recorder.emit(step) else { break }
            if contextCache.length >= limit { recorder.stop(.contextLimit); break }
            contextResult = try model.forward(tokens: [step.token], cache: contextCache, logitRows: .last, pool: pool)
            nullResult = try model.forward(tokens: [step.token], cache: nullCache, logitRows: .last, pool: pool)
            recorder.statistics.forwardPasses += 2
            try NonFiniteCheck.requireFinite(contextResult.logits, model: model, tokens: contextPrompt + recorder.output, pool: pool)
            try NonFiniteCheck.requireFinite(nullResult.logits, model: model, tokens: nullPrompt + recorder.output, pool: pool)
        }
        return recorder.finish()
    }

    // MARK: - Where the evidence goes

    /// The text of the user turn that holds evidence and query under a chat template: the
    /// evidence, a blank line, the query. The null stream's user turn is the query alone.
    public static func userTurn(evidence: String, query: String) -> String {
        evidence + "\n\n" + query
    }

    /// The evidence ids and their position in the null stream such that
    /// `null[..<position] + ids + null[position...] == contextStream`: the longest common prefix
    /// of the two streams is the position, and what the common suffix leaves is the evidence. This
    /// is how a chat-templated context stream (evidence inside the user turn) is recorded as
    /// `context_ids` and `context_position`.
    ///
    /// - Throws: `StrategyError` when `contextStream` is not `nullStream` with one run of ids
    ///   inserted (the tokenizer merged evidence and query across their boundary), or adds nothing.
    public static func placeEvidence(contextStream c: [Int], nullStream n: [Int]) throws -> (ids: [Int], position: Int) {
        var prefix = 0
        while prefix < min(c.count, n.count) && c[prefix] == n[prefix] { prefix += 1 }
        var suffix = 0
        while suffix < n.count - prefix && c[c.count - 1 - suffix] == n[n.count - 1 - suffix] { suffix += 1 }
        guard prefix + suffix == n.count, c.count > n.count else {
            throw StrategyError("the context stream is not the query's prompt with the evidence inserted (the tokenizer merged evidence and query tokens); end the evidence with a newline or give --context-ids and --context-position")
        }
        return (Array(c[prefix..<(c.count - suffix)]), prefix)
    }
}

// MARK: - Strategy

extension ContextAwareDecoding {
    /// `--strategy cad`: context-aware decoding. The prompt is the query (null stream); the
    /// evidence is `--context TEXT` or `--context-ids IDS`, inserted at `--context-position`
    /// (0 = before the prompt; with `--chat`, the CLI puts it inside the user turn and sets the
    /// position).
    public struct Strategy: DecodingStrategy {
        public static let name = "cad"
        public static let summary = "context-aware decoding: (1+α)·logits with the evidence − α·logits without it"
        static let contextText = StrategyOption("context", .text(placeholder: "TEXT"), help: "the evidence, as text (tokenized like the prompt; with --chat, inside the user turn)")
        static let contextIDs = StrategyOption("context-ids", .text(placeholder: "1,2,3"), help: "the evidence, as token ids")
        static let contextPosition = StrategyOption("context-position", .integer(0...Int(Int32.max)), default: "0",
                                                    help: "where in the prompt the evidence ids go (0 = before it; --chat sets it)")
        static let alphaOption = StrategyOption("cad-alpha", .number(0...1000), default: "0.5", help: "α: weight of the evidence's contribution")
        static let modeOption = StrategyOption("cad-mode", .choice(Mode.allCases.map(\.rawValue)), default: "standard",
                                               help: "standard (Eq. 2 on raw logits) or official (the authors' per-stream nucleus pre-filter, ±1000 fills)")
        static let filterTopP = StrategyOption("cad-filter-top-p", .number(0...1), help: "official mode: context stream's pre-filter mass (default 1.0)")
        static let filterTopPPrior = StrategyOption("cad-filter-top-p-prior", .number(0...1), help: "official mode: null stream's pre-filter mass (default 1.0)")
        static let seedOption = SeedOption.option(help: "sample (portable draws) instead of greedy")
        public static let options = [contextText, contextIDs, contextPosition, alphaOption, modeOption, filterTopP, filterTopPPrior, seedOption]
        public static let processorUse = ProcessorSettings.Use.all
        public static let takesSeed = true

        /// The evidence ids; nil while `--context TEXT` waits for a tokenizer (`needsTokenizer`).
        public var contextIDs: [Int]?
        /// The evidence as text, when it was given so and is not yet tokenized.
        public var pendingText: String?
        public var position: Int
        public var alpha: Double
        public var mode: Mode
        /// The pre-filter of `.official` mode (nil in `.standard`).
        public var filter: OfficialFilter?
        public var seedValue: UInt64?
        public var processors: ProcessorSettings

        public init(contextIDs: [Int], position: Int = 0, alpha: Double = 0.5, mode: Mode = .standard,
                    filter: OfficialFilter? = nil, seed: UInt64? = nil, processors: ProcessorSettings = .none) throws {
            guard !contextIDs.isEmpty else { throw StrategyError("the evidence is empty: give --context TEXT or --context-ids 1,2,3 with at least one token") }
            guard alpha.isFinite, alpha >= 0 else { throw StrategyError("--cad-alpha must be a finite number ≥ 0, got \(alpha)") }
            if seed == nil, let warper = Strategy.setWarper(processors) {
                throw StrategyError("--\(warper) only applies when cad samples; add --seed N, or drop it")
            }
            self.contextIDs = contextIDs
            self.position = position
            self.alpha = alpha
            self.mode = mode
            self.filter = mode == .official ? (filter ?? OfficialFilter()) : nil
            self.seedValue = seed
            self.processors = processors
        }

        public init(arguments a: StrategyArguments, processors: ProcessorSettings, context: StrategyContext) throws {
            let mode = Mode(rawValue: try a.text(Self.modeOption)!.lowercased())!
            if mode == .standard, let o = [Self.filterTopP, Self.filterTopPPrior].first(where: { a.has($0) }) {
                throw StrategyError("--\(o.name) is the official code's pre-filter; add --cad-mode official, or drop it")
            }
            let filter = OfficialFilter(contextTopP: try a.double(Self.filterTopP) ?? 1, nullTopP: try a.double(Self.filterTopPPrior) ?? 1)
            let seed = try a.int(Self.seedOption).map { UInt64($0) }
            let alpha = try a.double(Self.alphaOption)!
            var position = try a.int(Self.contextPosition)!
            let ids: [Int]
            var pending: String? = nil
            switch (try a.text(Self.contextText), try a.text(Self.contextIDs)) {
            case (nil, nil):
                throw StrategyError("--strategy cad needs the evidence: give --context TEXT or --context-ids 1,2,3 (the prompt is the query)")
            case (.some, .some):
                throw StrategyError("give either --context TEXT or --context-ids IDS, not both")
            case (nil, let raw?):
                ids = try Self.idList(raw)
            case (let text?, nil):
                guard !text.isEmpty else { throw StrategyError("--context is empty: give the evidence text") }
                if a.has(Self.contextPosition) {
                    throw StrategyError("--context-position goes with --context-ids; with --context TEXT the evidence goes before the prompt (or inside the user turn with --chat)")
                }
                if let encode = context.encodeEvidence {
                    (ids, position) = try encode(text)
                } else {
                    ids = [0]                   // placeholder until the tokenizer is there
                    pending = text
                }
            }
            try self.init(contextIDs: ids, position: position, alpha: alpha, mode: mode, filter: filter, seed: seed, processors: processors)
            if pending != nil {
                contextIDs = nil
                pendingText = pending
            }
        }

        /// Whether `--context TEXT` still needs the tokenizer: rebuild with a `StrategyContext`
        /// whose `encodeEvidence` is set.
        public var needsTokenizer: Bool { contextIDs == nil }

        /// The streams for `prompt` (the query): `prompt[..<position] + evidence + prompt[position...]`
        /// and `prompt`.
        public func contextStream(prompt: [Int]) throws -> [Int] {
            guard let ids = contextIDs else {
                throw StrategyError("--context TEXT needs the model's tokenizer to become token ids; give --context-ids, or use a model with a tokenizer")
            }
            guard position <= prompt.count else {
                throw StrategyError("--context-position \(position) is past the end of the \(prompt.count)-token prompt")
            }
            return Array(prompt[..<position]) + ids + Array(prompt[position...])
        }

        public var parameters: [(String, JSONValue)] {
            var out: [(String, JSONValue)] = [
                ("context_ids", .string((contextIDs ?? []).map(String.init).joined(separator: ","))),
                ("context_position", .int(position)),
                ("cad_alpha", .double(alpha)),
                ("cad_mode", .string(mode.rawValue)),
            ]
            if let filter {
                out.append(("cad_filter_top_p", .double(filter.contextTopP)))
                out.append(("cad_filter_top_p_prior", .double(filter.nullTopP)))
            }
            out += processors.recorded
            if seedValue != nil { out.append(SampleDecoding.Strategy.generatorRecord(processors)) }
            return out
        }
        public var seed: UInt64? { seedValue }

        public func generate(model: any CausalLanguageModel, prompt: [Int], stopping: StoppingCriteria, traceTopK: Int,
                             onToken: ((Int) -> Void)?) throws -> StrategyOutput {
            let V = model.shape.vocabularySize
            let contextPrompt = try contextStream(prompt: prompt)
            if let bad = contextPrompt.first(where: { $0 < 0 || $0 >= V }) {
                throw StrategyError("--context-ids: token id \(bad) is outside the vocabulary [0, \(V))")
            }
            let chain: [any LogitsProcessor]
            if seedValue != nil {
                try processors.checkTokenIDs(vocabularySize: V)
                do {
                    chain = try ProcessorChain.make(processors.withEOS(stopping.endOfSequenceIDs), order: processors.order, sampling: true, loopState: true)
                } catch let e as SamplingParameterError { throw StrategyError(e.description) }
            } else {
                chain = try processors.processors(sampling: false, vocabularySize: V, endOfSequenceIDs: stopping.endOfSequenceIDs)
            }
            return StrategyOutput(try ContextAwareDecoding.generate(
                model: model, contextPrompt: contextPrompt, nullPrompt: prompt, alpha: alpha, filter: filter, processors: chain,
                seed: seedValue, stopping: stopping, traceTopK: traceTopK, onToken: onToken))
        }

        /// The first warper option that is set, by its command-line name.
        static func setWarper(_ settings: ProcessorSettings) -> String? {
            let given = Set(StrategyArguments.fromRecord(settings.recorded, options: ProcessorSettings.options).values.keys)
            return ProcessorSettings.options.map(\.name).first { ProcessorSettings.warperNames.contains($0) && given.contains($0) }
        }

        static func idList(_ raw: String) throws -> [Int] {
            let parts = raw.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            return try parts.map { p in
                guard let v = Int(p), v >= 0 else { throw StrategyError("--context-ids: '\(p)' is not a token id (expected comma-separated non-negative integers like 1,2,3)") }
                return v
            }
        }
    }
}

import Formats
import Tensors
import Transformer

/// Contrastive decoding (expert vs amateur): Li, Holtzman, Fried, Liang, Eisner, Hashimoto,
/// Zettlemoyer, Lewis, "Contrastive Decoding: Open-ended Text Generation as Optimization",
/// ACL 2023, arXiv:2210.15097 (Eq. 1–3: plausibility set `V_head`, score
/// `log p_EXP − log p_AMA`), and the logit-space variant of O'Brien & Lewis, "Contrastive
/// Decoding Improves Reasoning in Large Language Models", arXiv:2309.09117.
///
/// Not contrastive *search* (`ContrastiveSearch`, `--strategy contrastive`). Two modes (DOCS.md
/// section 6.12):
///
/// **`.code`** — what the authors' code computes (`XiangLi1999/ContrastiveDecoding`, the
/// `teacher_student` beam search of its patched transformers). `B` beams, scores
/// `[0, −1e9, …]`. Per step, for each running beam `b`:
/// 1. `e = logSoftmax(expert logits)`, then the non-sampling `processors` on `e`; then the
///    relative-top warper: `e' = logSoftmax(e)`, `θ = min(e'_(2), max e' + Float(ln α))` with
///    `e'_(2)` the second largest entry (`min_tokens_to_keep` = 2), `e' < θ → −inf`;
///    `E_b = e' + score_b`.
/// 2. `a = logSoftmax(amateur logits) / τ` (the temperature warper divides the log-softmax and
///    does not re-normalise); `−inf` becomes `+inf`.
/// 3. Candidates: the top `2B` of all `(b, v)` by `e` (no beam score, no mask); on the first step
///    by `E` instead. Ties: lower flattened index `b·V + v`.
/// 4. `S = E_b(v) − β·a_b(v)` (Float32); candidates re-ordered by (`S` descending, rank).
/// 5. Hugging Face's legacy `BeamSearchScorer.process` with `S` as the new cumulative scores:
///    an end-of-sequence candidate among the first `B` ranks finishes a hypothesis
///    (`S / generatedLength^1`), other candidates fill the `B` next beams in order; stop when
///    the finished list is done (heuristic rule) or at `maxNewTokens`, then the running beams
///    join the list; the best `score / length` is the output.
///
/// The amateur has its own KV cache (a prefix tree over the beams, like the expert's). With
/// `ignorePrefix` (the code's default) it is fed only the last prompt token, at position 0, then
/// its own continuation.
///
/// **`.logit`** — greedy on `(1+β)·s_EXP − β·s_AMA/τ` over raw logits, with tokens whose
/// expert logit is below `max s_EXP + Float(ln α)` set to `−inf`, then the `processors`;
/// argmax, lowest id on ties (D4).
public enum ContrastiveDecoding {
    /// Which objective runs.
    public enum Mode: String, Sendable, CaseIterable {
        /// The authors' code: beam search on the masked `log p_EXP − β·log p_AMA / τ`.
        case code
        /// O'Brien & Lewis: greedy on `(1+β)·s_EXP − β·s_AMA` over logits.
        case logit
    }

    /// Where the amateur comes from.
    public enum Amateur: Sendable {
        /// The expert's first `n` layers, then its final norm and output head; nil = half the
        /// expert's layers (`max(1, L / 2)`).
        case layers(Int?)
        /// Another model with the same vocabulary.
        case model(any CausalLanguageModel)

        /// The amateur as fixtures record it: `amateur_layers` (a count or `half`) or
        /// `amateur_model` (`name`, as given).
        func record(name: String) -> (String, JSONValue) {
            switch self {
            case .layers(let n): return ("amateur_layers", n.map { .int($0) } ?? .string("half"))
            case .model: return ("amateur_model", .string(name))
            }
        }

        /// The amateur for `expert`.
        public func model(for expert: any CausalLanguageModel) throws -> any CausalLanguageModel {
            let L = expert.shape.layerCount
            switch self {
            case .layers(let n):
                let count = n ?? max(1, L / 2)
                guard count >= 1 && count <= L else {
                    throw StrategyError("--amateur-layers must be in 1...\(L) (the expert has \(L) layers), got \(count)")
                }
                return try expert.truncated(toLayers: count)
            case .model(let m):
                guard m.shape.vocabularySize == expert.shape.vocabularySize else {
                    throw StrategyError("the amateur model's vocabulary (\(m.shape.vocabularySize)) differs from the expert's (\(expert.shape.vocabularySize)); contrastive decoding needs the same tokenizer")
                }
                return m
            }
        }
    }

    /// The values a run depends on (besides the amateur and the processors).
    public struct Parameters: Sendable, Equatable {
        public var mode: Mode
        /// Beams (`.code` only).
        public var numBeams: Int
        /// Plausibility α: tokens below α × the expert's top probability are excluded.
        public var alpha: Double
        /// Amateur weight β.
        public var beta: Double
        /// Amateur temperature τ.
        public var amateurTemperature: Double
        /// Feed the amateur only the last prompt token.
        public var ignorePrefix: Bool

        public init(mode: Mode, numBeams: Int = 5, alpha: Double = 0.1, beta: Double? = nil, amateurTemperature: Double? = nil,
                    ignorePrefix: Bool? = nil) {
            self.mode = mode
            self.numBeams = numBeams
            self.alpha = alpha
            self.beta = beta ?? (mode == .code ? 1.0 : 0.5)
            self.amateurTemperature = amateurTemperature ?? (mode == .code ? 0.5 : 1.0)
            self.ignorePrefix = ignorePrefix ?? (mode == .code)
        }
    }

    /// What a run produced besides its generation.
    public struct Run {
        public var hypotheses: [BeamHypothesis]?
        public var generation: Generation
        public var amateurForwardPasses: Int
        public var amateurLayerCount: Int
    }

    /// Generates with contrastive decoding. `stopping.maxNewTokens` bounds the output; in
    /// `.code` mode the output is the best finished beam hypothesis (streamed at the end).
    ///
    /// - Throws: `ModelError.invalidInput` for an empty prompt, `ModelError.contextOverflow`,
    ///   `StrategyError` for an amateur that does not fit the expert, `BeamSearchError` when the
    ///   candidates cannot fill the beams.
    public static func generate(expert: any CausalLanguageModel, amateur source: Amateur, prompt: [Int], parameters p: Parameters,
                                stopping: StoppingCriteria, processors: [any LogitsProcessor] = [], traceTopK: Int = 5,
                                pool: ParallelFor = .shared, onToken: ((Int) -> Void)? = nil) throws -> Run {
        let amateur = try source.model(for: expert)
        try DecodingStart.checkPrompt(prompt, contextLength: expert.shape.contextLength)
        let amateurPrompt = p.ignorePrefix ? [prompt[prompt.count - 1]] : prompt
        switch p.mode {
        case .logit:
            return try logitMode(expert: expert, amateur: amateur, prompt: prompt, amateurPrompt: amateurPrompt, parameters: p,
                                 stopping: stopping, processors: processors, traceTopK: traceTopK, pool: pool, onToken: onToken)
        case .code:
            if prompt.count + stopping.maxNewTokens > expert.shape.contextLength {
                throw ModelError.contextOverflow(needed: prompt.count + stopping.maxNewTokens, limit: expert.shape.contextLength)
            }
            let start = monotonicSeconds()
            let expertLogits = SharedPrefixLogits(model: expert, prompt: prompt, pool: pool)
            let amateurLogits = SharedPrefixLogits(model: amateur, prompt: amateurPrompt, pool: pool)
            let hypotheses = try beamSearch(prompt: prompt, vocabularySize: expert.shape.vocabularySize, parameters: p, stopping: stopping,
                                            processors: processors, traceTopK: traceTopK,
                                            expert: expertLogits.logits, amateur: amateurLogits.logits)
            var statistics = Generation.Statistics()
            statistics.forwardPasses = expertLogits.forwardPasses
            statistics.decodeSeconds = monotonicSeconds() - start
            let generation = Generation(prompt: prompt, hypothesis: hypotheses[0], stopping: stopping, statistics: statistics)
            if let onToken { generation.outputIDs.forEach(onToken) }
            return Run(hypotheses: hypotheses, generation: generation, amateurForwardPasses: amateurLogits.forwardPasses,
                       amateurLayerCount: amateur.shape.layerCount)
        }
    }

    // MARK: - The scores (pure functions)

    /// `Float(ln α)`: `-inf` for α = 0 (no token is excluded).
    static func logAlpha(_ alpha: Double) -> Float {
        alpha <= 0 ? -.infinity : Float(DeterministicMath.log(alpha))
    }

    /// The code's relative-top warper (`EntrPLogitsWarper`) on log-probabilities `e`:
    /// `e' = logSoftmax(e)`, `θ = min(m-th largest e', max e' + Float(ln α))`, entries with
    /// `e' < θ` set to `−inf`. At least `minTokensToKeep` entries (and always the maximum) stay
    /// finite when `e` has that many finite entries.
    public static func relativeTop(_ e: [Float], alpha: Double, minTokensToKeep m: Int = 2) -> [Float] {
        var ep = ProcessorMath.logSoftmax(e)
        let top = BeamMath.topK(ep, max(1, min(m, ep.count)))
        guard let maxValue = top.first?.value, let mth = top.last?.value else { return ep }
        let threshold = min(mth, maxValue + logAlpha(alpha))
        for v in ep.indices where ep[v] < threshold { ep[v] = -.infinity }
        return ep
    }

    /// The amateur term of `.code` mode before β: `logSoftmax(logits) / τ`, `−inf` → `+inf`.
    public static func amateurScores(_ logits: [Float], temperature: Double) -> [Float] {
        let tau = Float(temperature)
        return ProcessorMath.logSoftmax(logits).map { x in
            let y = x / tau
            return y == -.infinity ? .infinity : y
        }
    }

    /// The `.logit` mode score: `(1+β)·s_EXP − β·(s_AMA / τ)` in Float32, `−inf` where
    /// `s_EXP < max s_EXP + Float(ln α)`. The expert maximum always keeps a finite score.
    public static func logitScores(expert s: [Float], amateur a: [Float], alpha: Double, beta: Double, amateurTemperature: Double) -> [Float] {
        precondition(s.count == a.count && !s.isEmpty, "the two logit rows must have the same non-zero length")
        var maxValue = -Float.infinity
        for x in s where x > maxValue { maxValue = x }
        let threshold = maxValue + logAlpha(alpha)
        let b = Float(beta), onePlusBeta = Float(1 + beta), tau = Float(amateurTemperature)
        var out = [Float](repeating: -.infinity, count: s.count)
        for v in s.indices where s[v] >= threshold {
            out[v] = onePlusBeta * s[v] - b * (a[v] / tau)
        }
        return out
    }

    // MARK: - .logit: greedy over two caches

    static func logitMode(expert: any CausalLanguageModel, amateur: any CausalLanguageModel, prompt: [Int], amateurPrompt: [Int],
                          parameters p: Parameters, stopping: StoppingCriteria, processors: [any LogitsProcessor], traceTopK: Int,
                          pool: ParallelFor, onToken: ((Int) -> Void)?) throws -> Run {
        let V = expert.shape.vocabularySize
        var stats = Generation.Statistics()
        let reserve = stopping.maxNewTokens + 1
        let (expertCache, expertPrefill) = try DecodingStart.prefill(expert, prompt: prompt, reserve: reserve, pool: pool, stats: &stats)
        var amateurStats = Generation.Statistics()
        let (amateurCache, amateurPrefill) = try DecodingStart.prefill(amateur, prompt: amateurPrompt, reserve: reserve, pool: pool,
                                                                       stats: &amateurStats)
        var expertResult = expertPrefill, amateurResult = amateurPrefill
        stats.prefillSeconds += amateurStats.prefillSeconds
        var amateurPasses = amateurStats.forwardPasses
        var ids = prompt
        var recorder = GenerationRecorder(prompt: prompt, stopping: stopping, statistics: stats, onToken: onToken)
        while recorder.hasRoom {
            var scores = logitScores(expert: expertResult.logits, amateur: amateurResult.logits, alpha: p.alpha, beta: p.beta,
                                     amateurTemperature: p.amateurTemperature)
            processors.process(&scores, context: ProcessorContext(inputIDs: ids, promptLength: prompt.count))
            let step = scores.withUnsafeBufferPointer { GreedyDecoding.select(logits: $0.baseAddress!, count: V, topK: traceTopK) }
            ids.append(step.token)
            guard recorder.emit(step) else { break }
            if expertCache.length >= expert.shape.contextLength || amateurCache.length >= amateur.shape.contextLength {
                recorder.stop(.contextLimit)
                break
            }
            expertResult = try expert.forward(tokens: [step.token], cache: expertCache, pool: pool)
            amateurResult = try amateur.forward(tokens: [step.token], cache: amateurCache, pool: pool)
            recorder.statistics.forwardPasses += 1
            amateurPasses += 1
        }
        return Run(hypotheses: nil, generation: recorder.finish(), amateurForwardPasses: amateurPasses, amateurLayerCount: amateur.shape.layerCount)
    }

    // MARK: - .code: the authors' beam search over any pair of logits functions

    /// The `.code` beam search over two logits functions (model adapters, or tables in tests).
    /// Returns every finished hypothesis, best first (ties: the later-added one, as Python's
    /// `sorted(...)` then `pop()`).
    public static func beamSearch(prompt: [Int], vocabularySize V: Int, parameters p: Parameters, stopping: StoppingCriteria,
                                  processors: [any LogitsProcessor] = [], traceTopK: Int = 5,
                                  expert: BeamSearch.LogitsFunction, amateur: BeamSearch.LogitsFunction) throws -> [BeamHypothesis] {
        let N = p.numBeams, K = 2 * p.numBeams
        let eos = stopping.endOfSequenceIDs
        guard N >= 1 else { throw BeamSearchError.invalidParameter("numBeams is \(N); it must be at least 1") }
        guard stopping.maxNewTokens >= 1 else { throw BeamSearchError.invalidParameter("maxNewTokens must be at least 1") }
        guard N * V >= K else { throw BeamSearchError.invalidParameter("numBeams × vocabulary (\(N * V)) is smaller than the \(K) candidates kept per step") }
        let beta = Float(p.beta)

        struct Beam {
            var tokens: [Int] = []
            var score: Float
            var trace: [TraceStep] = []
        }
        var beams = (0..<N).map { Beam(score: $0 == 0 ? 0 : BeamMath.masked) }
        var list = LegacyHypothesisList(capacity: N, lengthPenalty: 1.0, earlyStopping: .heuristic, maxNewTokens: stopping.maxNewTokens)
        var done = false
        var t = 0
        while true {
            let sequences = beams.map(\.tokens)
            let expertRows = try expert(sequences), amateurRows = try amateur(sequences)
            var e = [Float](repeating: 0, count: N * V)        // processed expert log-probs [N, V]
            var E = [Float](repeating: 0, count: N * V)        // masked, renormalised, + beam score
            var plausible: [[Float]] = []
            for b in 0..<N {
                precondition(expertRows[b].count == V && amateurRows[b].count == V, "logits rows must have \(V) entries")
                var lp = ProcessorMath.logSoftmax(expertRows[b])
                processors.process(&lp, context: ProcessorContext(inputIDs: prompt + beams[b].tokens, promptLength: prompt.count))
                let ep = relativeTop(lp, alpha: p.alpha)
                let s = beams[b].score
                for v in 0..<V {
                    e[b * V + v] = lp[v]
                    E[b * V + v] = ep[v] + s
                }
                plausible.append(ep)
            }
            let ranked = BeamMath.topK(t == 0 ? E : e, K)
            var amateurCache: [Int: [Float]] = [:]
            let candidates = ranked.enumerated().map { rank, c -> (rank: Int, index: Int, score: Float) in
                let b = c.index / V, v = c.index % V
                if amateurCache[b] == nil { amateurCache[b] = amateurScores(amateurRows[b], temperature: p.amateurTemperature) }
                return (rank, c.index, E[c.index] - beta * amateurCache[b]![v])
            }.sorted { ($0.score, -$0.rank) > ($1.score, -$1.rank) }
            var next: [Beam] = []
            for (position, c) in candidates.enumerated() {
                let b = c.index / V, token = c.index % V
                let step = BeamMath.traceStep(token: token, raw: expertRows[b], processed: plausible[b],
                                              top: BeamMath.topEntries(expertRows[b], traceTopK))
                if eos.contains(token) {
                    if position >= N { continue }
                    list.add(tokens: beams[b].tokens + [token], sumLogProbability: c.score, generatedLength: t + 1, trace: beams[b].trace + [step])
                } else {
                    next.append(Beam(tokens: beams[b].tokens + [token], score: c.score, trace: beams[b].trace + [step]))
                }
                if next.count == N { break }
            }
            guard next.count == N else {
                throw BeamSearchError.invalidParameter("fewer than \(N) of the top \(K) candidates are not end-of-sequence tokens")
            }
            done = list.isDone(bestSum: candidates[0].score, generatedLength: t + 1)
            beams = next
            t += 1
            if done || t >= stopping.maxNewTokens { break }
        }
        if !done {
            for beam in beams { list.add(tokens: beam.tokens, sumLogProbability: beam.score, generatedLength: t, trace: beam.trace) }
        }
        let all = list.entries
        let ascending = all.indices.sorted { (all[$0].score, $0) < (all[$1].score, $1) }
        return ascending.reversed().map { i in
            BeamHypothesis(tokens: all[i].tokens, score: Float(all[i].score), sumLogProbability: all[i].sumLogProbability, trace: all[i].trace)
        }
    }
}

// MARK: - Strategy

extension ContrastiveDecoding {
    /// `--strategy contrastive-decoding`: expert vs amateur (Li et al. 2023; `--cd-mode logit`:
    /// O'Brien & Lewis 2023).
    public struct Strategy: DecodingStrategy {
        public static let name = "contrastive-decoding"
        public static let summary = "contrastive decoding, expert vs amateur (Li et al. 2023; not contrastive search)"
        static let mode = StrategyOption("cd-mode", .choice(Mode.allCases.map(\.rawValue)), default: "code",
                                         help: "code: the authors' beam search; logit: (1+β)·expert − β·amateur, greedy")
        static let amateurLayers = StrategyOption("amateur-layers", .text(placeholder: "N|half"),
                                                  help: "amateur = the expert's first N layers + final norm + head (default half)")
        static let amateurModel = StrategyOption("amateur-model", .text(placeholder: "M"), help: "amateur = another model (same tokenizer)")
        static let numBeams = StrategyOption("num-beams", .integer(1...256), help: "beams (code mode; default 5)")
        static let alpha = StrategyOption("cd-alpha", .number(0...1), default: "0.1", help: "plausibility: keep tokens with p ≥ α·max p")
        static let beta = StrategyOption("cd-beta", .number(0...1000), help: "amateur weight β (default 1.0 code, 0.5 logit)")
        static let temperature = StrategyOption("amateur-temperature", .number(1e-6...1e6),
                                                help: "amateur temperature τ (default 0.5 code, 1.0 logit)")
        static let ignorePrefix = StrategyOption("ignore-prefix", .choice(["yes", "no"]),
                                                 help: "amateur sees only the last prompt token (default yes code, no logit)")
        static let amateurOptions = [amateurLayers, amateurModel]
        public static let options = [mode, amateurLayers, amateurModel, numBeams, alpha, beta, temperature, ignorePrefix]
        public static let processorUse = ProcessorSettings.Use.nonSampling

        public var amateur: Amateur
        /// How the amateur was named: `half`, a layer count, or the model as given.
        public var amateurName: String
        public var settings: Parameters
        public var processors: ProcessorSettings

        public init(amateur: Amateur, amateurName: String, parameters: Parameters, processors: ProcessorSettings = .none) {
            self.amateur = amateur
            self.amateurName = amateurName
            self.settings = parameters
            self.processors = processors
        }

        public init(arguments a: StrategyArguments, processors: ProcessorSettings, context: StrategyContext) throws {
            let (amateur, name) = try Self.amateur(a, context: context)
            let mode = Mode(rawValue: try a.text(Self.mode)!.lowercased())!
            if mode == .logit && a.has(Self.numBeams) { throw StrategyError("--num-beams applies to --cd-mode code only (logit mode is greedy)") }
            let ignore = try a.text(Self.ignorePrefix).map { $0.lowercased() == "yes" }
            self.init(amateur: amateur, amateurName: name,
                      parameters: Parameters(mode: mode, numBeams: try a.int(Self.numBeams) ?? 5, alpha: try a.double(Self.alpha)!,
                                             beta: try a.double(Self.beta), amateurTemperature: try a.double(Self.temperature),
                                             ignorePrefix: ignore),
                      processors: processors)
        }

        /// The amateur the options name (`--amateur-layers` or `--amateur-model`, not both; half
        /// the expert's layers when neither), with a loaded model's vocabulary checked against
        /// the expert's through `context.vocabularyDigest`.
        static func amateur(_ a: StrategyArguments, context: StrategyContext) throws -> (Amateur, String) {
            if a.has(amateurLayers) && a.has(amateurModel) {
                throw StrategyError("give either --amateur-layers N (the expert's first N layers) or --amateur-model M, not both")
            }
            if let name = try a.text(amateurModel) {
                guard let load = context.loadModel else { throw StrategyError("--amateur-model cannot be loaded here; use --amateur-layers N") }
                if let digest = context.vocabularyDigest {
                    let expert = try digest(nil), other = try digest(name)
                    if expert != other {
                        throw StrategyError("--amateur-model \(name): its tokenizer vocabulary (\(other ?? "none")) differs from the expert's (\(expert ?? "none")); contrastive decoding compares the two models token by token — give an amateur with the expert's tokenizer, or use --amateur-layers N")
                    }
                }
                return (.model(try load(name)), name)
            }
            let raw = (try a.text(amateurLayers) ?? "half").trimmingCharacters(in: .whitespaces).lowercased()
            if raw == "half" { return (.layers(nil), "half") }
            guard let n = Int(raw), n >= 1 else { throw StrategyError("--amateur-layers must be a layer count ≥ 1 or 'half', got '\(raw)'") }
            return (.layers(n), String(n))
        }

        public var parameters: [(String, JSONValue)] {
            let p = settings
            var out: [(String, JSONValue)] = [("cd_mode", .string(p.mode.rawValue))]
            out.append(amateur.record(name: amateurName))
            if p.mode == .code { out.append(("num_beams", .int(p.numBeams))) }
            out += [("cd_alpha", .double(p.alpha)), ("cd_beta", .double(p.beta)), ("amateur_temperature", .double(p.amateurTemperature)),
                    ("ignore_prefix", .string(p.ignorePrefix ? "yes" : "no"))]
            return out + processors.recorded
        }

        public func generate(model: any CausalLanguageModel, prompt: [Int], stopping: StoppingCriteria, traceTopK: Int,
                             onToken: ((Int) -> Void)?) throws -> StrategyOutput {
            let chain = try processors.processors(sampling: false, vocabularySize: model.shape.vocabularySize, endOfSequenceIDs: stopping.endOfSequenceIDs)
            let run = try ContrastiveDecoding.generate(expert: model, amateur: amateur, prompt: prompt, parameters: settings, stopping: stopping,
                                                       processors: chain, traceTopK: traceTopK, onToken: onToken)
            return StrategyOutput(run.generation, sequences: run.hypotheses.map { $0.map { (ids: $0.tokens, score: Double($0.score)) } },
                                  statistics: [("amateur_layer_count", .int(run.amateurLayerCount)),
                                               ("amateur_forward_passes", .int(run.amateurForwardPasses))])
        }
    }
}

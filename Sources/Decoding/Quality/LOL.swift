import Formats
import Tensors
import Transformer

/// "LOL-like (unverified)": multi-layer fusion contrastive decoding with a truthfulness refocus,
/// after Chen, Fang, Ni, Liang, Hu, Argha, Alinejad-Rokny, Yang, Li, "Lower Layers Matter:
/// Alleviating Hallucination via Multi-Layer Fusion Contrastive Decoding with Truthfulness
/// Refocused", arXiv:2408.08769. The paper has no public code and only its abstract was read, so
/// this is a composition of specified primitives with every choice explicit (DOCS.md 6.12.4):
///
/// Greedy. Five streams, each with its own KV cache, all fed the chosen token:
/// the expert (`s_E`), the amateur (`s_A`, as `ContrastiveDecoding.Amateur`), the expert's first
/// `J` layers + final norm + head (`s_EJ`, early exit with the norm: the logit lens), the amateur's
/// first `J_A` layers likewise (`s_AJ`), and — with refocus ids `R` — the expert on `R ⧺ prompt`
/// (`s_R`). Per step:
///
///     s*      = s_E                                   (no refocus, or γ = 0)
///             = (1 − γ)·s_E + γ·s_R                   (Float32, logits)
///     final   = ContrastiveDecoding.logitScores(expert: s*, amateur: s_A, α, β, τ) — except the
///               plausibility set is that of the plain expert s_E: v with s_E(v) < max s_E + ln α → −inf
///     lower   = (1 + β)·logSoftmax(s_EJ) − β·(logSoftmax(s_AJ) / τ)
///     F       = final + ω·lower                        (Float32; −inf stays −inf)
///
/// then the non-sampling processors on `F`, argmax with the lowest id on ties (D4). With ω = 0 and
/// no refocus, `F` is bit-identical to the `.logit` mode of contrastive decoding (tested).
public enum LOLDecoding {
    public struct Parameters: Sendable, Equatable {
        public var alpha: Double
        public var beta: Double
        public var amateurTemperature: Double
        /// The expert's early-exit layer `J`; nil = `max(1, L / 3)`.
        public var lowerLayer: Int?
        /// The amateur's early-exit layer `J_A`; nil = `max(1, J · L_A / L)`.
        public var amateurLowerLayer: Int?
        /// ω, the weight of the lower-layer contrast.
        public var lowerWeight: Double
        /// `R`, the refocus prefix (token ids); empty = no refocus stream.
        public var refocusIDs: [Int]
        /// γ, the weight of the refocused expert in `s*`.
        public var refocusWeight: Double

        public init(alpha: Double = 0.1, beta: Double = 0.5, amateurTemperature: Double = 1.0, lowerLayer: Int? = nil,
                    amateurLowerLayer: Int? = nil, lowerWeight: Double = 1.0, refocusIDs: [Int] = [], refocusWeight: Double = 0.5) {
            self.alpha = alpha
            self.beta = beta
            self.amateurTemperature = amateurTemperature
            self.lowerLayer = lowerLayer
            self.amateurLowerLayer = amateurLowerLayer
            self.lowerWeight = lowerWeight
            self.refocusIDs = refocusIDs
            self.refocusWeight = refocusWeight
        }

        /// (J, J_A) for an expert of `L` layers and an amateur of `LA`.
        func layers(expert L: Int, amateur LA: Int) throws -> (Int, Int) {
            let j = lowerLayer ?? max(1, L / 3)
            guard j >= 1 && j <= L else { throw StrategyError("--lower-layer must be in 1...\(L) (the expert has \(L) layers), got \(j)") }
            let ja = amateurLowerLayer ?? max(1, j * LA / L)
            guard ja >= 1 && ja <= LA else { throw StrategyError("--amateur-lower-layer must be in 1...\(LA) (the amateur has \(LA) layers), got \(ja)") }
            return (j, ja)
        }
    }

    /// One model fed the prompt (its own version of it) and then every chosen token.
    struct Stream {
        let model: any CausalLanguageModel
        let cache: KVCache
        var logits: [Float]

        init(_ model: any CausalLanguageModel, prompt: [Int], reserve: Int, pool: ParallelFor, stats: inout Generation.Statistics) throws {
            let start = try DecodingStart.prefill(model, prompt: prompt, reserve: reserve, pool: pool, stats: &stats)
            self.model = model
            cache = start.cache
            logits = start.result.logits
        }

        var isFull: Bool { cache.length >= model.shape.contextLength }

        mutating func append(_ token: Int, pool: ParallelFor) throws {
            logits = try model.forward(tokens: [token], cache: cache, pool: pool).logits
        }
    }

    /// The fused score `F` of one step (before processors); see the type's documentation.
    public static func fusedScores(expert sE: [Float], amateur sA: [Float], expertLower sEJ: [Float], amateurLower sAJ: [Float],
                                   refocused sR: [Float]?, parameters p: Parameters) -> [Float] {
        var sStar = sE
        if let sR {
            let g = Float(p.refocusWeight), oneMinusG = Float(1 - p.refocusWeight)
            for v in sStar.indices { sStar[v] = oneMinusG * sE[v] + g * sR[v] }
        }
        var final = ContrastiveDecoding.logitScores(expert: sStar, amateur: sA, alpha: 0, beta: p.beta, amateurTemperature: p.amateurTemperature)
        var maxE = -Float.infinity
        for x in sE where x > maxE { maxE = x }
        let threshold = maxE + ContrastiveDecoding.logAlpha(p.alpha)
        for v in sE.indices where sE[v] < threshold { final[v] = -.infinity }
        let lE = ProcessorMath.logSoftmax(sEJ), lA = ProcessorMath.logSoftmax(sAJ)
        let b = Float(p.beta), onePlusB = Float(1 + p.beta), tau = Float(p.amateurTemperature), w = Float(p.lowerWeight)
        for v in final.indices where final[v] > -.infinity {
            let lower = onePlusB * lE[v] - b * (lA[v] / tau)
            final[v] = final[v] + w * lower
        }
        return final
    }

    public struct Run {
        public var generation: Generation
        public var lowerLayer: Int
        public var amateurLowerLayer: Int
        public var amateurLayerCount: Int
    }

    /// Generates greedily with the fused score.
    public static func generate(expert: any CausalLanguageModel, amateur source: ContrastiveDecoding.Amateur, prompt: [Int],
                                parameters p: Parameters, stopping: StoppingCriteria, processors: [any LogitsProcessor] = [],
                                traceTopK: Int = 5, pool: ParallelFor = .shared, onToken: ((Int) -> Void)? = nil) throws -> Run {
        let amateur = try source.model(for: expert)
        try DecodingStart.checkPrompt(p.refocusIDs + prompt, contextLength: expert.shape.contextLength)
        let (j, ja) = try p.layers(expert: expert.shape.layerCount, amateur: amateur.shape.layerCount)
        let V = expert.shape.vocabularySize
        if let bad = p.refocusIDs.first(where: { $0 < 0 || $0 >= V }) { throw StrategyError("--refocus-ids: id \(bad) is outside the vocabulary [0, \(V))") }
        let reserve = stopping.maxNewTokens + 1
        var stats = Generation.Statistics(), side = Generation.Statistics()
        var e = try Stream(expert, prompt: prompt, reserve: reserve, pool: pool, stats: &stats)
        var streams = [try Stream(amateur, prompt: prompt, reserve: reserve, pool: pool, stats: &side),
                       try Stream(try expert.truncated(toLayers: j), prompt: prompt, reserve: reserve, pool: pool, stats: &side),
                       try Stream(try amateur.truncated(toLayers: ja), prompt: prompt, reserve: reserve, pool: pool, stats: &side)]
        let refocus = !p.refocusIDs.isEmpty && p.refocusWeight != 0
        if refocus { streams.append(try Stream(expert, prompt: p.refocusIDs + prompt, reserve: reserve, pool: pool, stats: &side)) }
        stats.prefillSeconds += side.prefillSeconds
        var ids = prompt
        var recorder = GenerationRecorder(prompt: prompt, stopping: stopping, statistics: stats, onToken: onToken)
        while recorder.hasRoom {
            var scores = fusedScores(expert: e.logits, amateur: streams[0].logits, expertLower: streams[1].logits, amateurLower: streams[2].logits,
                                     refocused: refocus ? streams[3].logits : nil, parameters: p)
            processors.process(&scores, context: ProcessorContext(inputIDs: ids, promptLength: prompt.count))
            let step = scores.withUnsafeBufferPointer { GreedyDecoding.select(logits: $0.baseAddress!, count: V, topK: traceTopK) }
            ids.append(step.token)
            guard recorder.emit(step) else { break }
            if e.isFull || streams.contains(where: \.isFull) { recorder.stop(.contextLimit); break }
            try e.append(step.token, pool: pool)
            for i in streams.indices { try streams[i].append(step.token, pool: pool) }
            recorder.statistics.forwardPasses += 1
        }
        return Run(generation: recorder.finish(), lowerLayer: j, amateurLowerLayer: ja, amateurLayerCount: amateur.shape.layerCount)
    }
}

// MARK: - Strategy

extension LOLDecoding {
    /// `--strategy lol`: LOL-like multi-layer fusion contrastive decoding (unverified reading).
    public struct Strategy: DecodingStrategy {
        public static let name = "lol"
        public static let summary = "LOL-like (unverified): final- plus lower-layer expert/amateur contrast, optional refocus prompt"
        typealias CD = ContrastiveDecoding.Strategy
        static let alpha = StrategyOption("cd-alpha", .number(0...1), default: "0.1", help: "plausibility: keep tokens with p ≥ α·max p")
        static let beta = StrategyOption("cd-beta", .number(0...1000), default: "0.5", help: "amateur weight β")
        static let temperature = StrategyOption("amateur-temperature", .number(1e-6...1e6), default: "1.0", help: "amateur temperature τ")
        static let lowerLayer = StrategyOption("lower-layer", .text(placeholder: "N|auto"), default: "auto",
                                               help: "expert early-exit layer J (auto: a third of the layers)")
        static let amateurLowerLayer = StrategyOption("amateur-lower-layer", .text(placeholder: "N|auto"), default: "auto",
                                                      help: "amateur early-exit layer (auto: J × amateur layers / expert layers)")
        static let lowerWeight = StrategyOption("lower-weight", .number(0...1000), default: "1.0", help: "ω, weight of the lower-layer contrast")
        static let refocusIDs = StrategyOption("refocus-ids", .text(placeholder: "IDS"), help: "refocus prefix token ids (e.g. an 'answer truthfully' instruction)")
        static let refocusWeight = StrategyOption("refocus-weight", .number(0...1), default: "0.5", help: "γ, weight of the refocused expert")
        public static let options = [CD.amateurLayers, CD.amateurModel, alpha, beta, temperature, lowerLayer, amateurLowerLayer, lowerWeight,
                                     refocusIDs, refocusWeight]
        public static let processorUse = ProcessorSettings.Use.nonSampling

        public var amateur: ContrastiveDecoding.Amateur
        public var amateurName: String
        public var settings: Parameters
        public var processors: ProcessorSettings

        public init(amateur: ContrastiveDecoding.Amateur, amateurName: String, parameters: Parameters, processors: ProcessorSettings = .none) {
            self.amateur = amateur
            self.amateurName = amateurName
            self.settings = parameters
            self.processors = processors
        }

        static func layer(_ a: StrategyArguments, _ option: StrategyOption) throws -> Int? {
            let raw = (try a.text(option) ?? "auto").trimmingCharacters(in: .whitespaces).lowercased()
            if raw == "auto" { return nil }
            guard let n = Int(raw), n >= 1 else { throw StrategyError("--\(option.name) must be a layer count ≥ 1 or 'auto', got '\(raw)'") }
            return n
        }

        public init(arguments a: StrategyArguments, processors: ProcessorSettings, context: StrategyContext) throws {
            let (amateur, name) = try CD.amateur(a, context: context)
            var refocus: [Int] = []
            if let raw = try a.text(Self.refocusIDs) {
                let parts = raw.split(separator: ",")
                refocus = parts.compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
                guard refocus.count == parts.count, !refocus.isEmpty else { throw StrategyError("--refocus-ids must be comma-separated token ids, got '\(raw)'") }
            } else if a.has(Self.refocusWeight) {
                throw StrategyError("--refocus-weight only applies with --refocus-ids IDS")
            }
            self.init(amateur: amateur, amateurName: name,
                      parameters: Parameters(alpha: try a.double(Self.alpha)!, beta: try a.double(Self.beta)!,
                                             amateurTemperature: try a.double(Self.temperature)!, lowerLayer: try Self.layer(a, Self.lowerLayer),
                                             amateurLowerLayer: try Self.layer(a, Self.amateurLowerLayer), lowerWeight: try a.double(Self.lowerWeight)!,
                                             refocusIDs: refocus, refocusWeight: try a.double(Self.refocusWeight)!),
                      processors: processors)
        }

        public var parameters: [(String, JSONValue)] {
            let p = settings
            var out = [amateur.record(name: amateurName)]
            out += [("cd_alpha", .double(p.alpha)), ("cd_beta", .double(p.beta)), ("amateur_temperature", .double(p.amateurTemperature)),
                    ("lower_layer", p.lowerLayer.map { .int($0) } ?? .string("auto")),
                    ("amateur_lower_layer", p.amateurLowerLayer.map { .int($0) } ?? .string("auto")),
                    ("lower_weight", .double(p.lowerWeight))]
            if !p.refocusIDs.isEmpty {
                out += [("refocus_ids", .string(p.refocusIDs.map(String.init).joined(separator: ","))), ("refocus_weight", .double(p.refocusWeight))]
            }
            return out + processors.recorded
        }

        public func generate(model: any CausalLanguageModel, prompt: [Int], stopping: StoppingCriteria, traceTopK: Int,
                             onToken: ((Int) -> Void)?) throws -> StrategyOutput {
            let chain = try processors.processors(sampling: false, vocabularySize: model.shape.vocabularySize, endOfSequenceIDs: stopping.endOfSequenceIDs)
            let run = try LOLDecoding.generate(expert: model, amateur: amateur, prompt: prompt, parameters: settings, stopping: stopping,
                                               processors: chain, traceTopK: traceTopK, onToken: onToken)
            return StrategyOutput(run.generation, statistics: [("amateur_layer_count", .int(run.amateurLayerCount)),
                                                                ("lower_layer_used", .int(run.lowerLayer)),
                                                                ("amateur_lower_layer_used", .int(run.amateurLowerLayer))])
        }
    }
}

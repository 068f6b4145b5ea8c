import Formats
import Decoding
import Transformer
import Loader

/// Every golden fixture Touchstone ships, as code: which model, prompt, algorithm and parameters.
/// `touchstone fixtures` runs each entry and writes (or, with `--check`, compares)
/// `Fixtures/golden/<model>/<name>.json`.
public enum Catalog {
    /// One fixture to produce: a registered strategy with its options set, run on a model and a
    /// prompt. The fixture records `strategy.parameters`, which are computed from the values the
    /// strategy runs with, so a record never names a parameter that did not drive the run.
    public struct Entry {
        /// `<model>/<name>`, also the file path under `Fixtures/golden/` (without `.json`).
        public let id: String
        public let modelKey: String
        public let promptIDs: [Int]
        public let strategy: any DecodingStrategy
        public let stopping: StoppingCriteria
        public static let traceTopK = 5

        public var algorithm: String { strategy.name }
        /// The strategy's parameters, then the stopping rule and trace depth every entry shares.
        public var parameters: [(String, JSONValue)] {
            strategy.parameters + [("max_new_tokens", .int(stopping.maxNewTokens)), ("eos", .string("ignored")), ("trace_top_k", .int(Self.traceTopK))]
        }
        public var seed: UInt64? { strategy.seed }

        /// Runs the strategy on `model`.
        public func run(_ model: any CausalLanguageModel) throws -> Generation {
            try strategy.generate(model: model, prompt: promptIDs, stopping: stopping, traceTopK: Self.traceTopK).generation
        }
    }

    /// Models fixtures are made on: the synthetic presets and SmolLM2.
    public static let syntheticKeys = SyntheticModels.presets.map(\.name)
    public static let realModelKey = "smollm2"

    /// The prompts used for each model (token ids).
    public static func prompts(for modelKey: String) -> [[Int]] {
        if modelKey == realModelKey {
            // "The capital of France is", "def fibonacci(n):\n    ", a ChatML user turn.
            return [[504, 3575, 282, 4649, 314], [1604, 3987, 46477, 24, 94, 727, 2367],
                    [1, 4093, 198, 1780, 314, 216, 33, 39, 1711, 216, 35, 47, 2, 198, 1, 520, 9531, 198]]
        }
        return [[1, 2, 3, 4, 5], [17, 300, 17, 300, 17], [250]]
    }

    public static func newTokens(for modelKey: String) -> Int { modelKey == realModelKey ? 24 : 16 }

    /// Every entry, in a fixed order: each strategy on every model.
    public static func entries(includeRealModel: Bool) throws -> [Entry] {
        var keys = syntheticKeys
        if includeRealModel { keys.append(realModelKey) }
        var result: [Entry] = []
        for key in keys {
            let stopping = StoppingCriteria(maxNewTokens: newTokens(for: key))
            let prompts = prompts(for: key)
            func add(_ name: String, _ prompt: [Int], _ strategy: any DecodingStrategy) {
                result.append(Entry(id: "\(key)/\(name)", modelKey: key, promptIDs: prompt, strategy: strategy, stopping: stopping))
            }
            for (i, prompt) in prompts.enumerated() { add("greedy-\(i)", prompt, GreedyDecoding.Strategy()) }
            let sampling = try ProcessorSettings(SamplingParameters(temperature: 0.8, topK: 40, topP: 0.95), order: "hf")
            for (i, prompt) in prompts.prefix(2).enumerated() {
                add("sample-\(i)", prompt, SampleDecoding.Strategy(seed: 42, processors: sampling))
            }
            let p0 = prompts[0], p1 = prompts[1]
            add("beam-0", p0, BeamSearch.Strategy(numBeams: 4))
            add("group-beam-0", p0, GroupBeamSearch.Strategy(numBeams: 4, numBeamGroups: 2, diversityPenalty: 0.5))
            for (i, prompt) in [p0, p1].enumerated() { add("contrastive-\(i)", prompt, ContrastiveSearch.Strategy(penaltyAlpha: 0.6, topK: 4)) }
            add("dola-0", p0, try DoLa.Strategy(layers: "high", processors: try ProcessorSettings(SamplingParameters(repetitionPenalty: 1.2))))
            add("dola-sample-0", p0, try DoLa.Strategy(layers: "high", processors: try ProcessorSettings(SamplingParameters(temperature: 0.9, topP: 0.95)), seed: 5))
            add("cad-1", p1, try ContextAwareDecoding.Strategy(contextIDs: p0, alpha: 0.5))
            add("prompt-lookup-1", p1, PromptLookupDrafter.Strategy(promptLookupNumTokens: 10, maxMatchingNgramSize: 2))
            let draftLayers = key == realModelKey ? 12 : 1
            add("speculative-0", p0, SpeculativeDecoding.Strategy(draft: SpeculativeDraft(source: .layers(draftLayers), numTokens: 4)))
            add("token-recycling-1", p1, try TokenRecyclingDrafter.Strategy(treeNodes: 24))
            add("aded-1", p1, ADEDDrafter.Strategy(seed: 0, maxNodes: 64))
            add("lookahead-1", p1, LookaheadDecoding.Strategy(windowSize: 3, ngramSize: 3, guessSetSize: 3))
            let amateurLayers = key == realModelKey ? 12 : 1
            add("contrastive-decoding-1", p1, ContrastiveDecoding.Strategy(amateur: .layers(amateurLayers), amateurName: String(amateurLayers),
                                                                           parameters: .init(mode: .code, numBeams: 3)))
            let refocus = key == realModelKey ? [21350, 4569, 2338, 284, 1027, 968, 30] : [7, 8]  // "Answer truthfully and factually."
            add("lol-0", p0, LOLDecoding.Strategy(amateur: .layers(nil), amateurName: "half", parameters: .init(refocusIDs: refocus)))
            add("speculative-sampling-0", p0, SpeculativeSampling.Strategy(draft: SpeculativeDraft(source: .layers(draftLayers), numTokens: 4), seed: 7,
                                                                            processors: try ProcessorSettings(SamplingParameters(temperature: 0.8))))
            if key != realModelKey {
                // Seeded random heads (regression fixtures; the SmolLM2 fixture needs the shipped heads).
                add("medusa-0", p0, try MedusaDecoding.Strategy(heads: "random:7:4", choices: "mc_sim_7b_63"))
                add("medusa-typical-1", p1, try MedusaDecoding.Strategy(heads: "random:7:4", choices: "tree-10", temperature: 0.7))
            }
        }
        return result
    }

    /// What one catalogued fixture covers, for a test suite choosing fixtures.
    public struct Description: Equatable {
        /// `<model>/<name>`, the name `FixtureStore.fixture(named:)` takes.
        public let name: String
        /// `tiny-a`, `tiny-b` (synthetic, weights in `Fixtures/models/<model>/`) or `smollm2`.
        public let model: String
        public let algorithm: String
        /// The strategy's one-line summary (what the algorithm does).
        public let summary: String
        public let promptIDs: [Int]
        public let maxNewTokens: Int
        /// The seed of the strategy's random draws, when it has any.
        public let seed: UInt64?
        /// The recorded parameters, as compact JSON (`{"num_beams":4,…}`).
        public let parameters: String
    }

    /// Every catalogued fixture with what it covers, in catalogue order (synthetic models
    /// first). Needs no model: it reads the catalogue, not the files.
    public static func descriptions(includeRealModel: Bool = true) throws -> [Description] {
        try entries(includeRealModel: includeRealModel).map { e in
            Description(name: e.id, model: e.modelKey, algorithm: e.algorithm, summary: type(of: e.strategy).summary,
                        promptIDs: e.promptIDs, maxNewTokens: e.stopping.maxNewTokens, seed: e.seed,
                        parameters: JSONValue.object(e.parameters).serialized())
        }
    }

    /// The model identity recorded in a fixture.
    public static func identity(for modelKey: String, sha256: String?) -> Fixture.ModelIdentity {
        if let preset = SyntheticModels.presets.first(where: { $0.name == modelKey }) {
            let c = preset.configuration
            let config: JSONValue = .object([
                ("hidden_size", .int(c.hiddenSize)), ("intermediate_size", .int(c.intermediateSize)),
                ("num_hidden_layers", .int(c.layerCount)), ("num_attention_heads", .int(c.headCount)),
                ("num_key_value_heads", .int(c.kvHeadCount)), ("head_dim", .int(c.headDimension)),
                ("vocab_size", .int(c.vocabularySize)), ("max_position_embeddings", .int(c.contextLength)),
                ("rms_norm_eps", .float(c.rmsNormEpsilon)), ("rope_theta", .double(c.ropeTheta)),
                ("tie_word_embeddings", .bool(c.tiedEmbeddings)),
                ("weights", .string("Fixtures/models/\(preset.name)/model.safetensors")),
            ])
            return .synthetic(preset: preset.name, seed: preset.seed, config: config)
        }
        return .file(name: ModelStore.smolLM2.fileName, sha256: sha256 ?? ModelStore.smolLM2.sha256)
    }

    /// Runs an entry and returns its fixture. A model under a sparse-attention mode adds the
    /// mode's parameters (`AttentionMode.record`) after the entry's; full attention adds nothing.
    public static func make(_ entry: Entry, model: any CausalLanguageModel, sha256: String? = nil) throws -> Fixture {
        let generation = try entry.run(model)
        return Fixture(name: entry.id, model: identity(for: entry.modelKey, sha256: sha256), algorithm: entry.algorithm,
                       parameters: entry.parameters + model.attentionMode.record, seed: entry.seed, generation: generation)
    }
}

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

    /// Models fixtures are made on: the synthetic presets and the real models (SmolLM2, Gemma 3).
    public static let syntheticKeys = SyntheticModels.presets.map(\.name)
    /// Fixture directory name of each real model, and the known model it is made on.
    public static let realModels: [(key: String, model: ModelStore.KnownModel)] = [
        ("smollm2", ModelStore.smolLM2), ("gemma3-270m", ModelStore.gemma3_270m),
    ]
    public static var realModelKeys: [String] { realModels.map(\.key) }

    /// The known model behind a real model's key (nil for the synthetic presets).
    public static func knownModel(for modelKey: String) -> ModelStore.KnownModel? {
        realModels.first { $0.key == modelKey }?.model
    }
    /// The synthetic models of the other architectures (`tiny-qwen2`, `tiny-gpt2`), with a
    /// smaller set of fixtures each (`architectureEntries`).
    public static let architectureKeys = SyntheticArchitectures.names

    /// The prompts used for each model (token ids).
    public static func prompts(for modelKey: String) -> [[Int]] {
        switch modelKey {
        case "smollm2":
            // "The capital of France is", "def fibonacci(n):\n    ", a ChatML user turn.
            return [[504, 3575, 282, 4649, 314], [1604, 3987, 46477, 24, 94, 727, 2367],
                    [1, 4093, 198, 1780, 314, 216, 33, 39, 1711, 216, 35, 47, 2, 198, 1, 520, 9531, 198]]
        case "gemma3-270m":
            // The same two texts after <bos>, and a Gemma user turn ("What is 12 + 30?") opening a model turn.
            return [[2, 818, 5279, 529, 7001, 563], [2, 2063, 10779, 78113, 236769, 236749, 1473, 107, 140],
                    [2, 105, 2364, 107, 3689, 563, 236743, 236770, 236778, 900, 236743, 236800, 236771, 236881, 106, 107, 105, 4368, 107]]
        default:
            return [[1, 2, 3, 4, 5], [17, 300, 17, 300, 17], [250]]
        }
    }

    public static func newTokens(for modelKey: String) -> Int { knownModel(for: modelKey) == nil ? 16 : 24 }

    /// Layers kept by the layer-truncated drafts and amateurs: 12 of SmolLM2's 30, 9 of Gemma 3's 18,
    /// one of a synthetic model's.
    static func truncatedLayers(for modelKey: String) -> Int {
        switch modelKey {
        case "smollm2": return 12
        case "gemma3-270m": return 9
        default: return 1
        }
    }

    /// "Answer truthfully and factually." in the model's vocabulary (LOL's refocusing text).
    static func refocusIDs(for modelKey: String) -> [Int] {
        switch modelKey {
        case "smollm2": return [21350, 4569, 2338, 284, 1027, 968, 30]
        case "gemma3-270m": return [7925, 201575, 532, 1707, 1755, 236761]
        default: return [7, 8]
        }
    }

    /// Every entry, in a fixed order: each strategy on every model.
    public static func entries(includeRealModel: Bool) throws -> [Entry] {
        var keys = syntheticKeys
        if includeRealModel { keys += realModelKeys }
        let result = EntryList()
        for key in keys {
            let prompts = prompts(for: key)
            let add = result.adder(for: key)
            try addGreedyAndSampling(prompts, add)
            let p0 = prompts[0], p1 = prompts[1]
            add("beam-0", p0, BeamSearch.Strategy(numBeams: 4))
            add("group-beam-0", p0, GroupBeamSearch.Strategy(numBeams: 4, numBeamGroups: 2, diversityPenalty: 0.5))
            for (i, prompt) in [p0, p1].enumerated() { add("contrastive-\(i)", prompt, ContrastiveSearch.Strategy(penaltyAlpha: 0.6, topK: 4)) }
            add("dola-0", p0, try DoLa.Strategy(layers: "high", processors: try ProcessorSettings(SamplingParameters(repetitionPenalty: 1.2))))
            add("dola-sample-0", p0, try DoLa.Strategy(layers: "high", processors: try ProcessorSettings(SamplingParameters(temperature: 0.9, topP: 0.95)), seed: 5))
            add("cad-1", p1, try ContextAwareDecoding.Strategy(contextIDs: p0, alpha: 0.5))
            add("prompt-lookup-1", p1, PromptLookupDrafter.Strategy(promptLookupNumTokens: 10, maxMatchingNgramSize: 2))
            let draftLayers = truncatedLayers(for: key)
            add("speculative-0", p0, SpeculativeDecoding.Strategy(draft: SpeculativeDraft(source: .layers(draftLayers), numTokens: 4)))
            add("token-recycling-1", p1, try TokenRecyclingDrafter.Strategy(treeNodes: 24))
            add("aded-1", p1, ADEDDrafter.Strategy(seed: 0, maxNodes: 64))
            add("lookahead-1", p1, LookaheadDecoding.Strategy(windowSize: 3, ngramSize: 3, guessSetSize: 3))
            let amateurLayers = truncatedLayers(for: key)
            add("contrastive-decoding-1", p1, ContrastiveDecoding.Strategy(amateur: .layers(amateurLayers), amateurName: String(amateurLayers),
                                                                           parameters: .init(mode: .code, numBeams: 3)))
            add("lol-0", p0, LOLDecoding.Strategy(amateur: .layers(nil), amateurName: "half", parameters: .init(refocusIDs: refocusIDs(for: key))))
            add("speculative-sampling-0", p0, SpeculativeSampling.Strategy(draft: SpeculativeDraft(source: .layers(draftLayers), numTokens: 4), seed: 7,
                                                                            processors: try ProcessorSettings(SamplingParameters(temperature: 0.8))))
            if !realModelKeys.contains(key) {
                // Seeded random heads (regression fixtures; the SmolLM2 fixture needs the shipped heads).
                add("medusa-0", p0, try MedusaDecoding.Strategy(heads: "random:7:4", choices: "mc_sim_7b_63"))
                add("medusa-typical-1", p1, try MedusaDecoding.Strategy(heads: "random:7:4", choices: "tree-10", temperature: 0.7))
                // Seeded random prompt embeddings (the shipped ones fit SmolLM2 only): the default chain and the dynamic table.
                add("ppd-0", p0, try ParallelPromptDecoding.Strategy(prompts: "random:7:3"))
                add("ppd-dynamic-1", p1, try ParallelPromptDecoding.Strategy(prompts: "random:7:3", tree: "dynamic"))
                // Chimera with seeded random draft weights (tied heads): the default tree and a chain.
                add("chimera-0", p0, try ChimeraDecoding.Strategy(weights: "random:7", choices: "chimera-23"))
                add("chimera-chain-1", p1, try ChimeraDecoding.Strategy(weights: "random:7", choices: "chain-3"))
            } else if key == "smollm2" {
                // The shipped heads, trained for SmolLM2, on the default tree (regression fixture).
                add("medusa-0", p0, try MedusaDecoding.Strategy(heads: "shipped"))
                // The shipped prompt embeddings, trained for SmolLM2, on the default chain (regression fixture).
                add("ppd-0", p0, try ParallelPromptDecoding.Strategy(prompts: "shipped"))
                // The shipped Chimera draft, trained for SmolLM2, on the default chain (regression fixture).
                add("chimera-0", p0, try ChimeraDecoding.Strategy(weights: "shipped"))
            }
        }
        return result.entries + (try architectureEntries())
    }

    /// Entries in the order they are added; `adder(for:)` names and stops them for one model.
    final class EntryList {
        private(set) var entries: [Entry] = []

        func adder(for key: String) -> (String, [Int], any DecodingStrategy) -> Void {
            let stopping = StoppingCriteria(maxNewTokens: Catalog.newTokens(for: key))
            return { name, prompt, strategy in
                self.entries.append(Entry(id: "\(key)/\(name)", modelKey: key, promptIDs: prompt, strategy: strategy, stopping: stopping))
            }
        }
    }

    /// Every model's first entries: greedy on each prompt, then sampling (T 0.8, top-k 40, top-p
    /// 0.95, seed 42) on the first two.
    static func addGreedyAndSampling(_ prompts: [[Int]], _ add: (String, [Int], any DecodingStrategy) -> Void) throws {
        for (i, prompt) in prompts.enumerated() { add("greedy-\(i)", prompt, GreedyDecoding.Strategy()) }
        let sampling = try ProcessorSettings(SamplingParameters(temperature: 0.8, topK: 40, topP: 0.95), order: "hf")
        for (i, prompt) in prompts.prefix(2).enumerated() {
            add("sample-\(i)", prompt, SampleDecoding.Strategy(seed: 42, processors: sampling))
        }
    }

    /// The fixtures of the synthetic Qwen2 and GPT-2 models: greedy on three prompts, sampling
    /// on two, beam search, one speculative method (a one-layer self-speculative draft) and
    /// parallel prompt decoding (seeded random prompt embeddings), with
    /// the same parameters as the Llama presets' entries of the same names.
    static func architectureEntries() throws -> [Entry] {
        let result = EntryList()
        for key in architectureKeys {
            let prompts = prompts(for: key)
            let add = result.adder(for: key)
            try addGreedyAndSampling(prompts, add)
            add("beam-0", prompts[0], BeamSearch.Strategy(numBeams: 4))
            add("speculative-0", prompts[0], SpeculativeDecoding.Strategy(draft: SpeculativeDraft(source: .layers(1), numTokens: 4)))
            add("ppd-0", prompts[0], try ParallelPromptDecoding.Strategy(prompts: "random:7:3"))
        }
        return result.entries
    }

    /// What one catalogued fixture covers, for a test suite choosing fixtures.
    public struct Description: Equatable {
        /// `<model>/<name>`, the name `FixtureStore.fixture(named:)` takes.
        public let name: String
        /// `tiny-a`, `tiny-b`, `tiny-qwen2`, `tiny-gpt2` (synthetic, weights in `Fixtures/models/<model>/`), `smollm2` or `gemma3-270m`.
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

    /// Every catalogued fixture with what it covers, in catalogue order (Llama synthetic models,
    /// SmolLM2, then the other architectures' synthetic models). Needs no model: it reads the catalogue, not the files.
    public static func descriptions(includeRealModel: Bool = true) throws -> [Description] {
        try entries(includeRealModel: includeRealModel).map { e in
            Description(name: e.id, model: e.modelKey, algorithm: e.algorithm, summary: type(of: e.strategy).summary,
                        promptIDs: e.promptIDs, maxNewTokens: e.stopping.maxNewTokens, seed: e.seed,
                        parameters: JSONValue.object(e.parameters).serialized())
        }
    }

    /// The model identity recorded in a fixture.
    public static func identity(for modelKey: String, sha256: String?) -> Fixture.ModelIdentity {
        if let preset = (SyntheticModels.presets + [SyntheticArchitectures.qwen2]).first(where: { $0.name == modelKey }) {
            let c = preset.configuration
            // Llama presets record no model_type (their fixtures predate the other architectures).
            let modelType: [(String, JSONValue)] = c.isQwen2 ? [("model_type", .string("qwen2"))] : []
            let config: JSONValue = .object(modelType + [
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
        if modelKey == SyntheticArchitectures.gpt2.name {
            let preset = SyntheticArchitectures.gpt2, c = preset.configuration
            return .synthetic(preset: preset.name, seed: preset.seed, config: .object([
                ("model_type", .string("gpt2")),
                ("n_embd", .int(c.hiddenSize)), ("n_inner", .int(c.intermediateSize)), ("n_layer", .int(c.layerCount)),
                ("n_head", .int(c.headCount)), ("vocab_size", .int(c.vocabularySize)), ("n_positions", .int(c.contextLength)),
                ("layer_norm_epsilon", .float(c.layerNormEpsilon)), ("tie_word_embeddings", .bool(c.tiedEmbeddings)),
                ("weights", .string("Fixtures/models/\(preset.name)/model.safetensors")),
            ]))
        }
        let known = knownModel(for: modelKey) ?? ModelStore.smolLM2
        return .file(name: known.fileName, sha256: sha256 ?? known.sha256)
    }

    /// Runs an entry and returns its fixture. A model under a sparse-attention mode adds the
    /// mode's parameters (`AttentionMode.record`) after the entry's; full attention adds nothing.
    public static func make(_ entry: Entry, model: any CausalLanguageModel, sha256: String? = nil) throws -> Fixture {
        let generation = try entry.run(model)
        return Fixture(name: entry.id, model: identity(for: entry.modelKey, sha256: sha256), algorithm: entry.algorithm,
                       parameters: entry.parameters + model.attentionMode.record, seed: entry.seed, generation: generation)
    }
}

import Formats
import Decoding
import Transformer
import Loader

/// Every golden fixture Touchstone ships, as code: which model, prompt, algorithm and parameters.
/// `touchstone fixtures` runs each entry and writes (or, with `--check`, compares)
/// `Fixtures/golden/<model>/<name>.json`.
public enum Catalog {
    /// One fixture to produce.
    public struct Entry {
        /// `<model>/<name>`, also the file path under `Fixtures/golden/` (without `.json`).
        public let id: String
        public let modelKey: String
        public let promptIDs: [Int]
        public let algorithm: String
        public let parameters: [(String, JSONValue)]
        public let seed: UInt64?
        public let run: (any CausalLanguageModel) throws -> Generation
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
    public static func entries(includeRealModel: Bool) -> [Entry] {
        var keys = syntheticKeys
        if includeRealModel { keys.append(realModelKey) }
        var result: [Entry] = []
        for key in keys {
            let n = newTokens(for: key)
            let prompts = prompts(for: key)
            let stopping = StoppingCriteria(maxNewTokens: n)
            func add(_ name: String, _ prompt: [Int], _ algorithm: String, _ parameters: [(String, JSONValue)], seed: UInt64? = nil,
                     _ run: @escaping (any CausalLanguageModel) throws -> Generation) {
                let all = parameters + [("max_new_tokens", .int(n)), ("eos", .string("ignored")), ("trace_top_k", .int(5))]
                result.append(Entry(id: "\(key)/\(name)", modelKey: key, promptIDs: prompt, algorithm: algorithm, parameters: all, seed: seed, run: run))
            }
            for (i, prompt) in prompts.enumerated() {
                add("greedy-\(i)", prompt, "greedy", []) { try GreedyDecoding.generate(model: $0, prompt: prompt, stopping: stopping) }
            }
            let sampling = SamplingParameters(temperature: 0.8, topK: 40, topP: 0.95)
            for (i, prompt) in prompts.prefix(2).enumerated() {
                add("sample-\(i)", prompt, "sample",
                    [("temperature", .double(0.8)), ("top_k", .int(40)), ("top_p", .double(0.95)), ("processor_order", .string("hf")),
                     ("rng", .string("xoshiro256** seeded by SplitMix64; one nextUniformDouble per token"))], seed: 42) {
                    try SampleDecoding.generate(model: $0, prompt: prompt, parameters: sampling, order: .hf, seed: 42, stopping: stopping)
                }
            }
            let p0 = prompts[0], p1 = prompts[1]
            add("beam-0", p0, "beam", [("num_beams", .int(4)), ("length_penalty", .double(1)), ("early_stopping", .string("false"))]) {
                let best = try BeamSearch.generate(model: $0, prompt: p0, numBeams: 4, stopping: stopping)[0]
                return Generation(prompt: p0, hypothesis: best, stopping: stopping)
            }
            add("group-beam-0", p0, "group-beam", [("num_beams", .int(4)), ("num_beam_groups", .int(2)), ("diversity_penalty", .double(0.5))]) {
                let best = try GroupBeamSearch.generate(model: $0, prompt: p0, numBeams: 4, numBeamGroups: 2, diversityPenalty: 0.5, stopping: stopping)[0]
                return Generation(prompt: p0, hypothesis: best, stopping: stopping)
            }
            for (i, prompt) in [p0, p1].enumerated() {
                add("contrastive-\(i)", prompt, "contrastive", [("penalty_alpha", .double(0.6)), ("top_k", .int(4))]) {
                    try ContrastiveSearch.generate(model: $0, prompt: prompt, penaltyAlpha: 0.6, topK: 4, stopping: stopping)
                }
            }
            add("dola-0", p0, "dola", [("dola_layers", .string("high")), ("repetition_penalty", .double(1.2))]) {
                try DoLa.generate(model: $0, prompt: p0, layers: .high, stopping: stopping, processors: [RepetitionPenalty(penalty: 1.2)])
            }
            add("prompt-lookup-1", p1, "prompt-lookup", [("prompt_lookup_num_tokens", .int(10)), ("max_matching_ngram_size", .int(2))]) {
                var drafter = PromptLookupDrafter(numTokens: 10, maxMatchingNgramSize: 2)
                return try SpeculativeDecoding.generate(model: $0, prompt: p1, drafter: &drafter, maxDraftTokens: 10, stopping: stopping)
            }
            let draftLayers = key == realModelKey ? 12 : 1
            add("speculative-0", p0, "speculative", [("draft_layers", .int(draftLayers)), ("num_assistant_tokens", .int(4))]) {
                var drafter = DraftModelDrafter(model: try $0.truncated(toLayers: draftLayers), numTokens: 4)
                return try SpeculativeDecoding.generate(model: $0, prompt: p0, drafter: &drafter, maxDraftTokens: 4, stopping: stopping)
            }
            add("token-recycling-1", p1, "token-recycling", [("tree_nodes", .int(24)), ("candidates_per_token", .int(8))]) {
                var drafter = TokenRecyclingDrafter(vocabularySize: $0.shape.vocabularySize, treeNodes: 24)
                return try SpeculativeDecoding.generate(model: $0, prompt: p1, drafter: &drafter, maxDraftTokens: 24, stopping: stopping)
            }
            add("aded-1", p1, "aded", [("table", .string("prompt tri-grams")), ("max_nodes", .int(64))], seed: 0) {
                var drafter = ADEDDrafter(table: ADEDDrafter.buildTable(fromTokenSequences: [p1]), seed: 0)
                return try SpeculativeDecoding.generate(model: $0, prompt: p1, drafter: &drafter, maxDraftTokens: 64, stopping: stopping)
            }
            add("lookahead-1", p1, "lookahead", [("window_size", .int(3)), ("ngram_size", .int(3)), ("guess_set_size", .int(3))]) {
                try LookaheadDecoding.generate(model: $0, prompt: p1, windowSize: 3, ngramSize: 3, guessSetSize: 3, stopping: stopping)
            }
            add("speculative-sampling-0", p0, "speculative-sampling",
                [("draft_layers", .int(draftLayers)), ("num_assistant_tokens", .int(4)), ("temperature", .double(0.8)),
                 ("rng", .string("xoshiro256**; draw order in DOCS.md"))], seed: 7) {
                try SpeculativeSampling.generate(target: $0, draft: try $0.truncated(toLayers: draftLayers), prompt: p0,
                                                 parameters: SamplingParameters(temperature: 0.8), numDraftTokens: 4, seed: 7, stopping: stopping)
            }
        }
        return result
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

    /// Runs an entry and returns its fixture.
    public static func make(_ entry: Entry, model: any CausalLanguageModel, sha256: String? = nil) throws -> Fixture {
        let generation = try entry.run(model)
        return Fixture(name: entry.id, model: identity(for: entry.modelKey, sha256: sha256), algorithm: entry.algorithm,
                       parameters: entry.parameters, seed: entry.seed, generation: generation)
    }
}

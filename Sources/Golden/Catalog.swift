import Formats
import Decoding
import Transformer

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
        public let run: (LlamaModel) throws -> Generation
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

    /// Every entry, in a fixed order.
    public static func entries(includeRealModel: Bool) -> [Entry] {
        var keys = syntheticKeys
        if includeRealModel { keys.append(realModelKey) }
        var result: [Entry] = []
        for key in keys {
            let n = newTokens(for: key)
            for (i, prompt) in prompts(for: key).enumerated() {
                result.append(Entry(id: "\(key)/greedy-\(i)", modelKey: key, promptIDs: prompt, algorithm: "greedy",
                                    parameters: [("max_new_tokens", .int(n)), ("eos", .string("ignored")), ("trace_top_k", .int(5))],
                                    seed: nil, run: { model in
                                        try GreedyDecoding.generate(model: model, prompt: prompt, stopping: StoppingCriteria(maxNewTokens: n), traceTopK: 5)
                                    }))
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
    public static func make(_ entry: Entry, model: LlamaModel, sha256: String? = nil) throws -> Fixture {
        let generation = try entry.run(model)
        return Fixture(name: entry.id, model: identity(for: entry.modelKey, sha256: sha256), algorithm: entry.algorithm,
                       parameters: entry.parameters, seed: entry.seed, generation: generation)
    }
}

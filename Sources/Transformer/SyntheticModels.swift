import Foundation
import Formats
import Tensors

/// Small Llama models whose weights are generated from a seed, so tests need no download and any
/// other backend can rebuild bit-identical weights.
///
/// **Recipe (version 1).** One `Xoshiro256StarStar(seed:)` generator (SplitMix64 seeding, see
/// DOCS.md section 6.2.1) produces every weight. Tensors are generated one after another in this order, each
/// in row-major order (`[out, in]`, the Hugging Face layout, *before* any Q/K permutation):
///
///     model.embed_tokens.weight                        [V, C]       bound 1
///     for layer N in 0..<layerCount:
///       model.layers.N.input_layernorm.weight          [C]          norm
///       model.layers.N.self_attn.q_proj.weight         [H*hd, C]    bound sqrt(3 / C)
///       model.layers.N.self_attn.k_proj.weight         [KVH*hd, C]  bound sqrt(3 / C)
///       model.layers.N.self_attn.v_proj.weight         [KVH*hd, C]  bound sqrt(3 / C)
///       model.layers.N.self_attn.o_proj.weight         [C, H*hd]    bound 4 * sqrt(3 / (H*hd))
///       model.layers.N.post_attention_layernorm.weight [C]          norm
///       model.layers.N.mlp.gate_proj.weight            [F, C]       bound sqrt(3 / C)
///       model.layers.N.mlp.up_proj.weight              [F, C]       bound sqrt(3 / C)
///       model.layers.N.mlp.down_proj.weight            [C, F]       bound 4 * sqrt(3 / F)
///     model.norm.weight                                [C]          norm
///     lm_head.weight (only when untied)                [V, C]       bound sqrt(3 / C)
///
/// A configuration with `attentionBiases` (Qwen2, `SyntheticArchitectures`) also draws
/// `model.layers.N.self_attn.{q,k,v}_proj.bias` (`[H*hd]`, `[KVH*hd]`, `[KVH*hd]`, kind "bias"),
/// each right after its weight. Llama presets have none, so their weights are unchanged.
///
/// Each element consumes one draw `u = nextUniformFloat()` (the top 24 bits of `next()` times
/// 2^-24, so `u ∈ [0, 1)` is exact in Float32) and is, in Float32 arithmetic:
///
///     weight:  (u * 2 - 1) * bound          bound = Float(gain * sqrt(3.0 / Double(fanIn)))
///     norm:    1 + (u * 2 - 1) * 0.0625
///     bias:    (u * 2 - 1) * 0.25
///
/// `u * 2 - 1` is exact; the one rounding is the product with `bound` (and, for norms, the sum).
/// `bound` is `gain` (1, or 4 where shown) times the binary64 square root of the binary64
/// quotient `3 / fanIn`, rounded once to binary32 (NumPy:
/// `np.float32(gain * np.sqrt(3.0 / fan_in))`); the embedding's bound is exactly 1. The scale
/// `sqrt(3 / fanIn)` gives each projection unit variance per output for a unit-variance input, so
/// activations stay O(1). The projections that write into the residual stream (`o_proj`,
/// `down_proj`) get gain 4 so the layers, not the token's own embedding, dominate the residual
/// stream: with gain 1 a tied model's greedy continuation just repeats its last token, which
/// would hide attention bugs. Embeddings in ±1 spread the tied head's logits over a few units
/// (clear argmax margins). Norm weights are 1 ± 1/16 so a port that forgets them is caught.
public enum SyntheticModels {
    /// A named synthetic model: a configuration and the seed of its weights.
    public struct Preset: Sendable, Equatable {
        /// Directory name under `Fixtures/models/`.
        public let name: String
        public let configuration: LlamaConfiguration
        public let seed: UInt64
    }

    /// 2 layers, hidden 64, 4 heads (head dim 16), 2 KV heads, FFN 128, vocabulary 512,
    /// context 256, tied embeddings, RoPE theta 10000, RMSNorm epsilon Float(1e-5), seed 1.
    public static let tinyA = Preset(
        name: "tiny-a",
        configuration: LlamaConfiguration(hiddenSize: 64, intermediateSize: 128, layerCount: 2, headCount: 4, kvHeadCount: 2,
                                          vocabularySize: 512, contextLength: 256, rmsNormEpsilon: 1e-5,
                                          ropeTheta: 10000, tiedEmbeddings: true),
        seed: 1)

    /// 3 layers, hidden 96, 6 heads (head dim 16), 3 KV heads, FFN 160, vocabulary 384,
    /// context 128, untied output head, RoPE theta 500000, RMSNorm epsilon Float(1e-6), seed 2.
    public static let tinyB = Preset(
        name: "tiny-b",
        configuration: LlamaConfiguration(hiddenSize: 96, intermediateSize: 160, layerCount: 3, headCount: 6, kvHeadCount: 3,
                                          headDimension: 16, vocabularySize: 384, contextLength: 128, rmsNormEpsilon: 1e-6,
                                          ropeTheta: 500000, tiedEmbeddings: false),
        seed: 2)

    /// Every preset, in a fixed order.
    public static let presets: [Preset] = [tinyA, tinyB]

    /// The weights of the synthetic model, in generation order (see the type's documentation),
    /// as Hugging Face tensors: row-major `[out, in]`, Q/K rows in Hugging Face (half-rotation)
    /// order. An untied model also has `lm_head.weight`; a tied one does not.
    public static func huggingFaceTensors(configuration c: LlamaConfiguration, seed: UInt64) -> [(name: String, shape: [Int], values: [Float])] {
        var generator = Xoshiro256StarStar(seed: seed)
        var tensors: [(name: String, shape: [Int], values: [Float])] = []
        func weight(_ name: String, _ rows: Int, _ columns: Int, gain: Double = 1, bound: Float? = nil) {
            let b = bound ?? Float(gain * (3.0 / Double(columns)).squareRoot())
            var values = [Float](repeating: 0, count: rows * columns)
            for i in values.indices { values[i] = (generator.nextUniformFloat() * 2 - 1) * b }
            tensors.append((name, [rows, columns], values))
        }
        func norm(_ name: String, _ count: Int) {
            var values = [Float](repeating: 0, count: count)
            for i in values.indices { values[i] = 1 + (generator.nextUniformFloat() * 2 - 1) * 0.0625 }
            tensors.append((name, [count], values))
        }
        func bias(_ name: String, _ count: Int) {
            guard c.attentionBiases else { return }
            tensors.append((name, [count], SyntheticModels.biases(count, &generator)))
        }
        let C = c.hiddenSize, F = c.intermediateSize
        let qRows = c.headCount * c.headDimension, kvRows = c.kvHeadCount * c.headDimension
        weight("model.embed_tokens.weight", c.vocabularySize, C, bound: 1)
        for i in 0..<c.layerCount {
            let p = "model.layers.\(i)."
            norm(p + "input_layernorm.weight", C)
            weight(p + "self_attn.q_proj.weight", qRows, C)
            bias(p + "self_attn.q_proj.bias", qRows)
            weight(p + "self_attn.k_proj.weight", kvRows, C)
            bias(p + "self_attn.k_proj.bias", kvRows)
            weight(p + "self_attn.v_proj.weight", kvRows, C)
            bias(p + "self_attn.v_proj.bias", kvRows)
            weight(p + "self_attn.o_proj.weight", C, qRows, gain: 4)
            norm(p + "post_attention_layernorm.weight", C)
            weight(p + "mlp.gate_proj.weight", F, C)
            weight(p + "mlp.up_proj.weight", F, C)
            weight(p + "mlp.down_proj.weight", C, F, gain: 4)
        }
        norm("model.norm.weight", C)
        if !c.tiedEmbeddings { weight("lm_head.weight", c.vocabularySize, C) }
        return tensors
    }

    /// `count` biases `(u * 2 - 1) * 0.25` from `generator` (the recipe's "bias" kind).
    static func biases(_ count: Int, _ generator: inout Xoshiro256StarStar) -> [Float] {
        (0..<count).map { _ in (generator.nextUniformFloat() * 2 - 1) * 0.25 }
    }

    /// The synthetic model built in-process (no file involved). Its `origin` is
    /// `"synthetic seed N"`. Throws `ModelError.invalidConfiguration` for an invalid shape.
    public static func model(configuration c: LlamaConfiguration, seed: UInt64) throws -> LlamaModel {
        try c.validate()
        let tensors = huggingFaceTensors(configuration: c, seed: seed)
        var byName: [String: (shape: [Int], values: [Float])] = [:]
        for t in tensors { byName[t.name] = (t.shape, t.values) }
        return try LlamaModel(configuration: c, huggingFaceTensors: { name in
            guard let t = byName[name] else { throw ModelError.missingTensor(name) }
            return t
        }, origin: "synthetic seed \(seed)")
    }

    /// The model of a preset.
    public static func model(_ preset: Preset) throws -> LlamaModel {
        try model(configuration: preset.configuration, seed: preset.seed)
    }

    /// The safetensors metadata written with every synthetic model.
    public static func safetensorsMetadata(seed: UInt64) -> [String: String] {
        ["format": "pt", "touchstone.synthetic_recipe": "1", "touchstone.synthetic_seed": "\(seed)"]
    }

    /// Writes `model.safetensors` (every tensor Float32, laid out by `SafetensorsWriter`, with
    /// `safetensorsMetadata(seed:)`) and `config.json` (`LlamaHFConfig.jsonData()`) into
    /// `directory`, creating it when needed. The output is byte-for-byte a function of the
    /// configuration and seed. Throws `FormatError.io` when a file cannot be written.
    public static func write(configuration c: LlamaConfiguration, seed: UInt64, to directory: String) throws {
        try c.validate()
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw FormatError.io(path: directory, reason: "cannot create the directory: \(error.localizedDescription)")
        }
        let tensors = huggingFaceTensors(configuration: c, seed: seed)
        try SafetensorsWriter.write(tensors.map { (name: $0.name, dtype: SafetensorsDType.f32, shape: $0.shape, values: $0.values) },
                                    metadata: safetensorsMetadata(seed: seed), to: directory + "/model.safetensors")
        let configPath = directory + "/config.json"
        do {
            try c.huggingFaceConfig().jsonData().write(to: URL(fileURLWithPath: configPath), options: .atomic)
        } catch {
            throw FormatError.io(path: configPath, reason: "cannot write: \(error.localizedDescription)")
        }
    }

    /// Writes a preset into `directory`.
    public static func write(_ preset: Preset, to directory: String) throws {
        try write(configuration: preset.configuration, seed: preset.seed, to: directory)
    }
}

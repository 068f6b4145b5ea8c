import Foundation
import Formats
import Tensors

/// Seeded synthetic Qwen2 and GPT-2 models (no real weights of these families can be fetched
/// here), written as Hugging Face safetensors + `config.json` and as GGUF with llama.cpp's names,
/// so other backends and Hugging Face transformers load the same weights.
///
/// **Qwen2** follows `SyntheticModels`' recipe (version 1) with its "bias" kind: the Llama tensor
/// order with `q_proj`/`k_proj`/`v_proj` biases after their weights.
///
/// **GPT-2** uses the same generator, draw and bound rules (`SyntheticModels`), with tensors in
/// `GPT2LMHeadModel`'s order and *stored* layout (Conv1D weights `[in, out]`, row-major; the
/// fan-in is the first dimension):
///
///     transformer.wte.weight                [V, C]     bound 1
///     transformer.wpe.weight                [P, C]     bound 1
///     for layer N:
///       transformer.h.N.ln_1.weight         [C]        norm
///       transformer.h.N.ln_1.bias           [C]        bias
///       transformer.h.N.attn.c_attn.weight  [C, 3C]    bound sqrt(3 / C)
///       transformer.h.N.attn.c_attn.bias    [3C]       bias
///       transformer.h.N.attn.c_proj.weight  [C, C]     bound 4 * sqrt(3 / C)
///       transformer.h.N.attn.c_proj.bias    [C]        bias
///       transformer.h.N.ln_2.weight         [C]        norm
///       transformer.h.N.ln_2.bias           [C]        bias
///       transformer.h.N.mlp.c_fc.weight     [C, F]     bound sqrt(3 / C)
///       transformer.h.N.mlp.c_fc.bias       [F]        bias
///       transformer.h.N.mlp.c_proj.weight   [F, C]     bound 4 * sqrt(3 / F)
///       transformer.h.N.mlp.c_proj.bias     [C]        bias
///     transformer.ln_f.weight               [C]        norm
///     transformer.ln_f.bias                 [C]        bias
///
/// (no `lm_head.weight`: the head is tied to `wte`).
public enum SyntheticArchitectures {
    /// A synthetic Qwen2 model: a `LlamaConfiguration.qwen2` shape and a seed.
    public static let qwen2 = SyntheticModels.Preset(
        name: "tiny-qwen2",
        configuration: .qwen2(hiddenSize: 64, intermediateSize: 128, layerCount: 2, headCount: 4, kvHeadCount: 2,
                              vocabularySize: 384, contextLength: 256, rmsNormEpsilon: 1e-6, ropeTheta: 1_000_000,
                              tiedEmbeddings: false),
        seed: 3)

    /// A synthetic GPT-2 model.
    public struct GPT2Preset: Sendable, Equatable {
        public let name: String
        public let configuration: GPT2Configuration
        public let seed: UInt64
    }

    /// 2 layers, C 64, 4 heads (hd 16), F 256, V 384, 128 positions, LayerNorm eps Float(1e-5),
    /// tied head, seed 4.
    public static let gpt2 = GPT2Preset(
        name: "tiny-gpt2",
        configuration: GPT2Configuration(hiddenSize: 64, layerCount: 2, headCount: 4, vocabularySize: 384, contextLength: 128),
        seed: 4)

    /// The directory names under `Fixtures/models/`, in a fixed order.
    public static let names = [qwen2.name, gpt2.name]

    /// The model of `name` (`tiny-qwen2`, `tiny-gpt2`), built in-process; nil for another name.
    public static func model(named name: String) throws -> (any CausalLanguageModel)? {
        switch name {
        case qwen2.name: return try SyntheticModels.model(qwen2)
        case gpt2.name: return try gpt2Model(gpt2)
        default: return nil
        }
    }

    /// Every synthetic model by name: the Llama presets (`SyntheticModels.presets`), `tiny-qwen2`
    /// and `tiny-gpt2`. Throws `ModelError.invalidInput` for another name.
    public static func anyModel(named name: String) throws -> any CausalLanguageModel {
        if let preset = SyntheticModels.presets.first(where: { $0.name == name }) { return try SyntheticModels.model(preset) }
        if let m = try model(named: name) { return m }
        throw ModelError.invalidInput("no synthetic model named \(name) (known: \((SyntheticModels.presets.map(\.name) + names).joined(separator: ", ")))")
    }

    // MARK: GPT-2

    /// The GPT-2 weights in generation order, as `GPT2LMHeadModel` stores them (see the type's
    /// documentation).
    public static func gpt2Tensors(configuration c: GPT2Configuration, seed: UInt64) -> [(name: String, shape: [Int], values: [Float])] {
        var generator = Xoshiro256StarStar(seed: seed)
        var tensors: [(name: String, shape: [Int], values: [Float])] = []
        func weight(_ name: String, _ rows: Int, _ columns: Int, fanIn: Int, gain: Double = 1, bound: Float? = nil) {
            let b = bound ?? Float(gain * (3.0 / Double(fanIn)).squareRoot())
            tensors.append((name, [rows, columns], (0..<(rows * columns)).map { _ in (generator.nextUniformFloat() * 2 - 1) * b }))
        }
        func norm(_ name: String, _ count: Int) {
            tensors.append((name + ".weight", [count], (0..<count).map { _ in 1 + (generator.nextUniformFloat() * 2 - 1) * 0.0625 }))
            tensors.append((name + ".bias", [count], SyntheticModels.biases(count, &generator)))
        }
        func bias(_ name: String, _ count: Int) { tensors.append((name, [count], SyntheticModels.biases(count, &generator))) }
        let C = c.hiddenSize, F = c.intermediateSize
        weight("transformer.wte.weight", c.vocabularySize, C, fanIn: C, bound: 1)
        weight("transformer.wpe.weight", c.contextLength, C, fanIn: C, bound: 1)
        for i in 0..<c.layerCount {
            let p = "transformer.h.\(i)."
            norm(p + "ln_1", C)
            weight(p + "attn.c_attn.weight", C, 3 * C, fanIn: C)
            bias(p + "attn.c_attn.bias", 3 * C)
            weight(p + "attn.c_proj.weight", C, C, fanIn: C, gain: 4)
            bias(p + "attn.c_proj.bias", C)
            norm(p + "ln_2", C)
            weight(p + "mlp.c_fc.weight", C, F, fanIn: C)
            bias(p + "mlp.c_fc.bias", F)
            weight(p + "mlp.c_proj.weight", F, C, fanIn: F, gain: 4)
            bias(p + "mlp.c_proj.bias", C)
        }
        norm("transformer.ln_f", C)
        return tensors
    }

    /// The synthetic GPT-2 model built in-process. Its `origin` is `"synthetic seed N"`.
    public static func gpt2Model(_ preset: GPT2Preset) throws -> GPT2Model {
        let byName = Dictionary(uniqueKeysWithValues: gpt2Tensors(configuration: preset.configuration, seed: preset.seed).map { ($0.name, ($0.shape, $0.values)) })
        return try GPT2Model(configuration: preset.configuration, huggingFaceTensors: { byName[$0] }, origin: "synthetic seed \(preset.seed)")
    }

    // MARK: Files

    /// Writes `model.safetensors`, `config.json` and `model.gguf` for `name` into `directory`
    /// (created when needed). Every file is byte-for-byte a function of the preset. Throws
    /// `FormatError.io` when a file cannot be written, `ModelError.invalidInput` for another name.
    public static func write(named name: String, to directory: String) throws {
        let tensors: [(name: String, shape: [Int], values: [Float])]
        let config: Data
        let gguf: GGUFWriter
        switch name {
        case qwen2.name:
            let c = qwen2.configuration
            try c.validate()
            tensors = SyntheticModels.huggingFaceTensors(configuration: c, seed: qwen2.seed)
            config = c.qwen2HuggingFaceConfig().jsonData()
            gguf = try qwen2GGUF(name: name, configuration: c, tensors: tensors)
        case gpt2.name:
            let c = gpt2.configuration
            try c.validate()
            tensors = gpt2Tensors(configuration: c, seed: gpt2.seed)
            config = c.huggingFaceConfig().jsonData()
            gguf = try gpt2GGUF(name: name, configuration: c, tensors: tensors)
        default:
            throw ModelError.invalidInput("no synthetic model named \(name) (known: \(names.joined(separator: ", ")))")
        }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw FormatError.io(path: directory, reason: "cannot create the directory: \(error.localizedDescription)")
        }
        let seed = name == qwen2.name ? qwen2.seed : gpt2.seed
        try SafetensorsWriter.write(tensors.map { (name: $0.name, dtype: SafetensorsDType.f32, shape: $0.shape, values: $0.values) },
                                    metadata: SyntheticModels.safetensorsMetadata(seed: seed), to: directory + "/model.safetensors")
        let configPath = directory + "/config.json"
        do { try config.write(to: URL(fileURLWithPath: configPath), options: .atomic) } catch {
            throw FormatError.io(path: configPath, reason: "cannot write: \(error.localizedDescription)")
        }
        try gguf.write(to: directory + "/model.gguf")
    }

    /// The Qwen2 GGUF: llama.cpp's `qwen2` keys and tensor names, Float32, rows as in the
    /// Hugging Face tensors (qwen2 has no Q/K permutation); ggml shapes are `[in, out]`.
    static func qwen2GGUF(name: String, configuration c: LlamaConfiguration, tensors: [(name: String, shape: [Int], values: [Float])]) throws -> GGUFWriter {
        var w = GGUFWriter()
        try w.addMetadata("general.architecture", .string("qwen2"))
        try w.addMetadata("general.name", .string(name))
        for (key, value) in [("context_length", c.contextLength), ("embedding_length", c.hiddenSize), ("block_count", c.layerCount),
                             ("feed_forward_length", c.intermediateSize), ("attention.head_count", c.headCount),
                             ("attention.head_count_kv", c.kvHeadCount), ("vocab_size", c.vocabularySize)] {
            try w.addMetadata("qwen2." + key, .uint32(UInt32(value)))
        }
        try w.addMetadata("qwen2.rope.freq_base", .float32(Float(c.ropeTheta)))
        try w.addMetadata("qwen2.attention.layer_norm_rms_epsilon", .float32(c.rmsNormEpsilon))
        func ggufName(_ hf: String) -> String {
            if hf == "model.embed_tokens.weight" { return "token_embd.weight" }
            if hf == "model.norm.weight" { return "output_norm.weight" }
            if hf == "lm_head.weight" { return "output.weight" }
            let parts = hf.split(separator: ".", maxSplits: 3).map(String.init)  // model, layers, N, rest
            let rest = [("input_layernorm.weight", "attn_norm.weight"), ("post_attention_layernorm.weight", "ffn_norm.weight"),
                        ("self_attn.q_proj.", "attn_q."), ("self_attn.k_proj.", "attn_k."), ("self_attn.v_proj.", "attn_v."),
                        ("self_attn.o_proj.", "attn_output."), ("mlp.gate_proj.", "ffn_gate."), ("mlp.up_proj.", "ffn_up."),
                        ("mlp.down_proj.", "ffn_down.")].reduce(parts[3]) { s, r in s.hasPrefix(r.0) ? r.1 + s.dropFirst(r.0.count) : s }
            return "blk.\(parts[2])." + rest
        }
        for t in tensors { try w.addTensor(name: ggufName(t.name), shape: t.shape.reversed(), values: t.values) }
        return w
    }

    /// The GPT-2 GGUF as llama.cpp's converter writes it: `gpt2` keys (`feed_forward_length` 4·C,
    /// `context_length` n_positions), Conv1D weights transposed to `nn.Linear` bytes (ggml shape
    /// `[in, out]`), no `output.weight` (tied).
    static func gpt2GGUF(name: String, configuration c: GPT2Configuration, tensors: [(name: String, shape: [Int], values: [Float])]) throws -> GGUFWriter {
        var w = GGUFWriter()
        try w.addMetadata("general.architecture", .string("gpt2"))
        try w.addMetadata("general.name", .string(name))
        for (key, value) in [("block_count", c.layerCount), ("context_length", c.contextLength), ("embedding_length", c.hiddenSize),
                             ("feed_forward_length", c.intermediateSize), ("attention.head_count", c.headCount)] {
            try w.addMetadata("gpt2." + key, .uint32(UInt32(value)))
        }
        try w.addMetadata("gpt2.attention.layer_norm_epsilon", .float32(c.layerNormEpsilon))
        let renames = [("ln_1.", "attn_norm."), ("attn.c_attn.", "attn_qkv."), ("attn.c_proj.", "attn_output."), ("ln_2.", "ffn_norm."),
                       ("mlp.c_fc.", "ffn_up."), ("mlp.c_proj.", "ffn_down.")]
        for t in tensors {
            let hf = String(t.name.dropFirst("transformer.".count))
            var name: String
            switch hf {
            case "wte.weight": name = "token_embd.weight"
            case "wpe.weight": name = "position_embd.weight"
            case "ln_f.weight": name = "output_norm.weight"
            case "ln_f.bias": name = "output_norm.bias"
            default:
                let parts = hf.split(separator: ".", maxSplits: 2).map(String.init)  // h, N, rest
                name = "blk.\(parts[1])." + renames.reduce(parts[2]) { s, r in s.hasPrefix(r.0) ? r.1 + s.dropFirst(r.0.count) : s }
            }
            if hf.hasPrefix("h."), hf.hasSuffix(".weight"), t.shape.count == 2 {
                // Conv1D [in, out] → [out, in] bytes; ggml shape [in, out].
                let (inputs, outputs) = (t.shape[0], t.shape[1])
                var transposed = [Float](repeating: 0, count: t.values.count)
                for i in 0..<inputs { for o in 0..<outputs { transposed[o * inputs + i] = t.values[i * outputs + o] } }
                try w.addTensor(name: name, shape: [inputs, outputs], values: transposed)
            } else {
                try w.addTensor(name: name, shape: t.shape.reversed(), values: t.values)
            }
        }
        return w
    }
}

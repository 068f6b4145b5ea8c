import Formats
import Tensors

/// The shape of a GPT-2 model (Hugging Face `GPT2Config`, llama.cpp `gpt2`): learned absolute
/// position embeddings, LayerNorm with bias, fused QKV projection with bias, GELU (tanh
/// approximation) MLP with biases, multi-head attention (no grouped KV heads), tied output head.
public struct GPT2Configuration: Sendable, Equatable {
    public var hiddenSize: Int           // C (n_embd)
    public var intermediateSize: Int     // F (n_inner, 4·C by default)
    public var layerCount: Int           // L (n_layer)
    public var headCount: Int            // H (n_head); hd = C / H
    public var vocabularySize: Int       // V
    /// `n_positions`: rows of the position embedding, and so the context limit.
    public var contextLength: Int
    /// The LayerNorm epsilon as the Float32 value used (1e-5 is 9.99999975e-06).
    public var layerNormEpsilon: Float
    public var tiedEmbeddings: Bool

    public init(hiddenSize: Int, intermediateSize: Int? = nil, layerCount: Int, headCount: Int, vocabularySize: Int,
                contextLength: Int, layerNormEpsilon: Float = 1e-5, tiedEmbeddings: Bool = true) {
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize ?? 4 * hiddenSize
        self.layerCount = layerCount
        self.headCount = headCount
        self.vocabularySize = vocabularySize
        self.contextLength = contextLength
        self.layerNormEpsilon = layerNormEpsilon
        self.tiedEmbeddings = tiedEmbeddings
    }

    /// Floats per head: `C / H`.
    public var headDimension: Int { hiddenSize / max(1, headCount) }

    /// `Float(1 / √hd)`. Hugging Face divides the scores by `Float(√hd)` instead; the two give the
    /// same bits when `√hd` is a power of two (hd = 16, 64, …: GPT-2 has hd 64).
    public var attentionScale: Float { 1 / Float(headDimension).squareRoot() }

    public var shape: ModelShape {
        ModelShape(layerCount: layerCount, hiddenSize: hiddenSize, headCount: headCount, kvHeadCount: headCount,
                   headDimension: headDimension, vocabularySize: vocabularySize, contextLength: contextLength,
                   tiedEmbeddings: tiedEmbeddings)
    }

    /// Checks the shape; throws `ModelError.invalidConfiguration` naming the field.
    public func validate() throws {
        func fail(_ message: String) throws -> Never { throw ModelError.invalidConfiguration(message) }
        for (name, value) in [("n_embd", hiddenSize), ("n_inner", intermediateSize), ("n_layer", layerCount), ("n_head", headCount),
                              ("vocab_size", vocabularySize), ("n_positions", contextLength)] where value <= 0 {
            try fail("\(name) must be positive, got \(value)")
        }
        if hiddenSize % headCount != 0 { try fail("n_embd \(hiddenSize) is not a multiple of n_head \(headCount)") }
        if !(layerNormEpsilon > 0) || !layerNormEpsilon.isFinite { try fail("layer_norm_epsilon must be finite and positive, got \(layerNormEpsilon)") }
    }

    /// The configuration described by a Hugging Face `config.json`.
    public init(_ hf: GPT2HFConfig) {
        self.init(hiddenSize: hf.nEmbd, intermediateSize: hf.resolvedInner, layerCount: hf.nLayer, headCount: hf.nHead,
                  vocabularySize: hf.vocabSize, contextLength: hf.nPositions, layerNormEpsilon: Float(hf.layerNormEpsilon),
                  tiedEmbeddings: hf.tieWordEmbeddings)
    }

    /// The Hugging Face `config.json` fields for this configuration (`n_inner` null when it is 4·C).
    public func huggingFaceConfig(bosTokenId: Int? = nil, eosTokenId: Int? = nil) -> GPT2HFConfig {
        GPT2HFConfig(nEmbd: hiddenSize, nLayer: layerCount, nHead: headCount, nInner: intermediateSize == 4 * hiddenSize ? nil : intermediateSize,
                     vocabSize: vocabularySize, nPositions: contextLength, layerNormEpsilon: Double(layerNormEpsilon),
                     tieWordEmbeddings: tiedEmbeddings, bosTokenId: bosTokenId, eosTokenId: eosTokenId)
    }
}

/// A GPT-2 model ready to run. The forward pass is in `GPT2Forward.swift`.
///
/// Every matrix is kept as `nn.Linear` stores it, `[out, in]` (what llama.cpp's GGUF holds);
/// Hugging Face checkpoints store `Conv1D` weights `[in, out]` and are transposed on load. The
/// fused `c_attn` / `attn_qkv` matrix stays fused: output rows `[0, C)` are Q, `[C, 2C)` K,
/// `[2C, 3C)` V, and head `h` is rows `h·hd ..< (h+1)·hd` of each part.
public final class GPT2Model: CausalLanguageModel, @unchecked Sendable {
    public struct Layer {
        public let attentionNormWeight: [Float]  // [C]  ln_1
        public let attentionNormBias: [Float]    // [C]
        public let wqkv: WeightMatrix            // [3C, C]  c_attn (transposed)
        public let bqkv: [Float]                 // [3C]
        public let wo: WeightMatrix              // [C, C]   attn.c_proj
        public let bo: [Float]                   // [C]
        public let ffnNormWeight: [Float]        // [C]  ln_2
        public let ffnNormBias: [Float]          // [C]
        public let wUp: WeightMatrix             // [F, C]   mlp.c_fc
        public let bUp: [Float]                  // [F]
        public let wDown: WeightMatrix           // [C, F]   mlp.c_proj
        public let bDown: [Float]                // [C]

        public init(attentionNormWeight: [Float], attentionNormBias: [Float], wqkv: WeightMatrix, bqkv: [Float], wo: WeightMatrix, bo: [Float],
                    ffnNormWeight: [Float], ffnNormBias: [Float], wUp: WeightMatrix, bUp: [Float], wDown: WeightMatrix, bDown: [Float]) {
            self.attentionNormWeight = attentionNormWeight
            self.attentionNormBias = attentionNormBias
            self.wqkv = wqkv
            self.bqkv = bqkv
            self.wo = wo
            self.bo = bo
            self.ffnNormWeight = ffnNormWeight
            self.ffnNormBias = ffnNormBias
            self.wUp = wUp
            self.bUp = bUp
            self.wDown = wDown
            self.bDown = bDown
        }
    }

    public let configuration: GPT2Configuration
    public let tokenEmbedding: WeightMatrix     // [V, C]  wte
    public let positionEmbedding: WeightMatrix  // [n_positions, C]  wpe
    public let layers: [Layer]
    public let outputNormWeight: [Float]        // [C]  ln_f
    public let outputNormBias: [Float]          // [C]
    public let output: WeightMatrix             // [V, C] (wte when tied)
    public let origin: String
    let owners: [AnyObject]

    /// When true, every product takes `WeightMatrix.multiplyNaive` and attention scores every
    /// slot alone (bit-identical; for tests and measurements).
    public var useNaiveKernels = false
    /// Full attention only: TidalDecode's sparse mode is implemented in the Llama forward pass.
    public var attentionMode: AttentionMode = .full

    public init(configuration: GPT2Configuration, tokenEmbedding: WeightMatrix, positionEmbedding: WeightMatrix, layers: [Layer],
                outputNormWeight: [Float], outputNormBias: [Float], output: WeightMatrix?, origin: String, owners: [AnyObject] = []) throws {
        try configuration.validate()
        let c = configuration
        let C = c.hiddenSize, F = c.intermediateSize
        func check(_ m: WeightMatrix, _ name: String, _ rows: Int, _ columns: Int) throws {
            if m.rows != rows || m.columns != columns { throw ModelError.tensorShape(name: name, expected: [rows, columns], found: [m.rows, m.columns]) }
        }
        func check(_ v: [Float], _ name: String, _ count: Int) throws {
            if v.count != count { throw ModelError.tensorShape(name: name, expected: [count], found: [v.count]) }
        }
        try check(tokenEmbedding, "token embedding", c.vocabularySize, C)
        try check(positionEmbedding, "position embedding", c.contextLength, C)
        if layers.count != c.layerCount { throw ModelError.invalidConfiguration("\(layers.count) layers given, configuration says \(c.layerCount)") }
        for (i, l) in layers.enumerated() {
            try check(l.wqkv, "layer \(i) attn_qkv", 3 * C, C)
            try check(l.bqkv, "layer \(i) attn_qkv bias", 3 * C)
            try check(l.wo, "layer \(i) attn_output", C, C)
            try check(l.bo, "layer \(i) attn_output bias", C)
            try check(l.wUp, "layer \(i) ffn_up", F, C)
            try check(l.bUp, "layer \(i) ffn_up bias", F)
            try check(l.wDown, "layer \(i) ffn_down", C, F)
            try check(l.bDown, "layer \(i) ffn_down bias", C)
            for (v, name) in [(l.attentionNormWeight, "attn_norm"), (l.attentionNormBias, "attn_norm bias"),
                              (l.ffnNormWeight, "ffn_norm"), (l.ffnNormBias, "ffn_norm bias")] {
                try check(v, "layer \(i) \(name)", C)
            }
        }
        try check(outputNormWeight, "output norm", C)
        try check(outputNormBias, "output norm bias", C)
        let head = output ?? tokenEmbedding
        try check(head, "output", c.vocabularySize, C)
        self.configuration = configuration
        self.tokenEmbedding = tokenEmbedding
        self.positionEmbedding = positionEmbedding
        self.layers = layers
        self.outputNormWeight = outputNormWeight
        self.outputNormBias = outputNormBias
        self.output = head
        self.origin = origin
        self.owners = owners
    }

    public var shape: ModelShape { configuration.shape }
    public var outputHead: WeightMatrix { output }

    public var weightBytesPerToken: Int {
        layers.reduce(output.packedByteCount) { sum, l in
            sum + [l.wqkv, l.wo, l.wUp, l.wDown].reduce(0) { $0 + $1.packedByteCount }
        }
    }

    /// The token's embedding row `wte[token]` alone (no position); the layer-0 input is
    /// `embed(token:position:into:)`.
    public func embed(token: Int, into destination: UnsafeMutablePointer<Float>) {
        tokenEmbedding.decodeRow(token, into: destination)
    }

    /// The layer-0 input `wte[token] + wpe[position]` (Hugging Face's `hidden_states[0]`), one
    /// addition per element. `position` must be below the context length.
    public func embed(token: Int, position: Int, into destination: UnsafeMutablePointer<Float>) {
        let C = configuration.hiddenSize
        tokenEmbedding.decodeRow(token, into: destination)
        withUnsafeTemporaryAllocation(of: Float.self, capacity: C) { p in
            positionEmbedding.decodeRow(position, into: p.baseAddress!)
            Kernels.add(p.baseAddress!, into: destination, count: C)
        }
    }

    /// The first `layerCount` blocks with the final LayerNorm and head, sharing every weight.
    public func truncated(toLayers layerCount: Int) throws -> any CausalLanguageModel {
        guard layerCount >= 1 && layerCount <= configuration.layerCount else {
            throw ModelError.invalidInput("draft layers must be in 1...\(configuration.layerCount), got \(layerCount)")
        }
        var c = configuration
        c.layerCount = layerCount
        let m = try GPT2Model(configuration: c, tokenEmbedding: tokenEmbedding, positionEmbedding: positionEmbedding,
                              layers: Array(layers.prefix(layerCount)), outputNormWeight: outputNormWeight, outputNormBias: outputNormBias,
                              output: output, origin: origin + " (first \(layerCount) layers)", owners: owners)
        m.useNaiveKernels = useNaiveKernels
        return m
    }

    /// `ln_f` applied to `rows` residual vectors, as the forward pass applies it before the head.
    public func applyFinalNorm(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>) throws {
        let C = configuration.hiddenSize
        outputNormWeight.withUnsafeBufferPointer { w in
            outputNormBias.withUnsafeBufferPointer { b in
                for r in 0..<rows {
                    Kernels.layerNorm(x + r * C, weight: w.baseAddress!, bias: b.baseAddress!, epsilon: configuration.layerNormEpsilon,
                                      count: C, into: y + r * C)
                }
            }
        }
    }
}

// MARK: - Loading

extension GPT2Model {
    /// Loads a GPT-2 GGUF file (`general.architecture` = `gpt2`) with llama.cpp's names:
    /// `token_embd`, `position_embd`, `blk.N.attn_norm.{weight,bias}`, `blk.N.attn_qkv.{weight,bias}`,
    /// `blk.N.attn_output.{weight,bias}`, `blk.N.ffn_norm.{weight,bias}`, `blk.N.ffn_up.{weight,bias}`,
    /// `blk.N.ffn_down.{weight,bias}`, `output_norm.{weight,bias}`, optional `output.weight`; keys
    /// `gpt2.embedding_length`, `gpt2.block_count`, `gpt2.attention.head_count`,
    /// `gpt2.feed_forward_length`, `gpt2.context_length`, `gpt2.attention.layer_norm_epsilon`.
    /// The converter writes every matrix as `nn.Linear` bytes (ggml shape `[in, out]`), used as is.
    ///
    /// - Throws: `ModelError.unsupportedArchitecture` for another architecture, `missingTensor` /
    ///   `tensorShape` naming the tensor, `invalidConfiguration` for a missing key or
    ///   `head_count_kv` other than `head_count`.
    public convenience init(gguf file: GGUFFile, float32Weights: Bool = false) throws {
        let r = try GGUFModelReader(file, architecture: "gpt2", float32Weights: float32Weights)
        let hidden = try r.int("embedding_length"), heads = try r.int("attention.head_count")
        if let kv = r.value("attention.head_count_kv")?.int, kv != heads {
            throw ModelError.invalidConfiguration("GGUF key gpt2.attention.head_count_kv is \(kv), not head_count \(heads): GPT-2 has no grouped KV heads")
        }
        let embedding = try r.tensor("token_embd.weight")
        let c = GPT2Configuration(
            hiddenSize: hidden, intermediateSize: try r.int("feed_forward_length"), layerCount: try r.int("block_count"), headCount: heads,
            vocabularySize: embedding.shape.count == 2 ? embedding.shape[1] : 0, contextLength: try r.int("context_length"),
            layerNormEpsilon: Float(r.value("attention.layer_norm_epsilon")?.double ?? 1e-5),
            tiedEmbeddings: file.tensor(named: "output.weight") == nil)
        try c.validate()
        let C = c.hiddenSize, F = c.intermediateSize
        var layers: [Layer] = []
        for i in 0..<c.layerCount {
            let p = "blk.\(i)."
            layers.append(Layer(
                attentionNormWeight: try r.vector(p + "attn_norm.weight", count: C), attentionNormBias: try r.vector(p + "attn_norm.bias", count: C),
                wqkv: try r.matrix(p + "attn_qkv.weight", rows: 3 * C, columns: C), bqkv: try r.vector(p + "attn_qkv.bias", count: 3 * C),
                wo: try r.matrix(p + "attn_output.weight", rows: C, columns: C), bo: try r.vector(p + "attn_output.bias", count: C),
                ffnNormWeight: try r.vector(p + "ffn_norm.weight", count: C), ffnNormBias: try r.vector(p + "ffn_norm.bias", count: C),
                wUp: try r.matrix(p + "ffn_up.weight", rows: F, columns: C), bUp: try r.vector(p + "ffn_up.bias", count: F),
                wDown: try r.matrix(p + "ffn_down.weight", rows: C, columns: F), bDown: try r.vector(p + "ffn_down.bias", count: C)))
        }
        try self.init(configuration: c, tokenEmbedding: try r.matrix("token_embd.weight", rows: c.vocabularySize, columns: C),
                      positionEmbedding: try r.matrix("position_embd.weight", rows: c.contextLength, columns: C), layers: layers,
                      outputNormWeight: try r.vector("output_norm.weight", count: C), outputNormBias: try r.vector("output_norm.bias", count: C),
                      output: c.tiedEmbeddings ? nil : try r.matrix("output.weight", rows: c.vocabularySize, columns: C),
                      origin: r.origin, owners: [file])
    }

    /// Builds a model from Hugging Face tensors as `GPT2LMHeadModel` stores them: `Conv1D`
    /// weights `[in, out]` (transposed here to `[out, in]`), names with the `transformer.` prefix
    /// or without it (Hub checkpoints saved from `GPT2Model`): `wte.weight`, `wpe.weight`,
    /// `h.N.ln_1.{weight,bias}`, `h.N.attn.c_attn.{weight,bias}`, `h.N.attn.c_proj.{weight,bias}`,
    /// `h.N.ln_2.{weight,bias}`, `h.N.mlp.c_fc.{weight,bias}`, `h.N.mlp.c_proj.{weight,bias}`,
    /// `ln_f.{weight,bias}`, and `lm_head.weight` when untied. Causal-mask buffers
    /// (`attn.bias`, `attn.masked_bias`) are not read.
    public convenience init(configuration c: GPT2Configuration, huggingFaceTensors tensor: (String) throws -> (shape: [Int], values: [Float])?,
                            origin: String) throws {
        try c.validate()
        let C = c.hiddenSize, F = c.intermediateSize
        func load(_ name: String, _ shape: [Int]) throws -> [Float] {
            let prefixed = "transformer." + name
            let (found, t): (String, (shape: [Int], values: [Float])?) = try tensor(prefixed).map { (prefixed, $0) } ?? (name, try tensor(name))
            guard let t else { throw ModelError.missingTensor("\(prefixed) (or \(name))") }
            guard t.shape == shape else { throw ModelError.tensorShape(name: found, expected: shape, found: t.shape) }
            return t.values
        }
        /// A Conv1D weight `[in, out]` as a `[out, in]` matrix.
        func conv1D(_ name: String, inputs: Int, outputs: Int) throws -> WeightMatrix {
            let v = try load(name, [inputs, outputs])
            var transposed = [Float](repeating: 0, count: v.count)
            for i in 0..<inputs { for o in 0..<outputs { transposed[o * inputs + i] = v[i * outputs + o] } }
            return WeightMatrix(rows: outputs, columns: inputs, values: transposed)
        }
        var layers: [Layer] = []
        for i in 0..<c.layerCount {
            let p = "h.\(i)."
            layers.append(Layer(
                attentionNormWeight: try load(p + "ln_1.weight", [C]), attentionNormBias: try load(p + "ln_1.bias", [C]),
                wqkv: try conv1D(p + "attn.c_attn.weight", inputs: C, outputs: 3 * C), bqkv: try load(p + "attn.c_attn.bias", [3 * C]),
                wo: try conv1D(p + "attn.c_proj.weight", inputs: C, outputs: C), bo: try load(p + "attn.c_proj.bias", [C]),
                ffnNormWeight: try load(p + "ln_2.weight", [C]), ffnNormBias: try load(p + "ln_2.bias", [C]),
                wUp: try conv1D(p + "mlp.c_fc.weight", inputs: C, outputs: F), bUp: try load(p + "mlp.c_fc.bias", [F]),
                wDown: try conv1D(p + "mlp.c_proj.weight", inputs: F, outputs: C), bDown: try load(p + "mlp.c_proj.bias", [C])))
        }
        var head: WeightMatrix? = nil
        if !c.tiedEmbeddings {
            guard let t = try tensor("lm_head.weight") else { throw ModelError.missingTensor("lm_head.weight") }
            guard t.shape == [c.vocabularySize, C] else { throw ModelError.tensorShape(name: "lm_head.weight", expected: [c.vocabularySize, C], found: t.shape) }
            head = WeightMatrix(rows: c.vocabularySize, columns: C, values: t.values)
        }
        try self.init(configuration: c, tokenEmbedding: WeightMatrix(rows: c.vocabularySize, columns: C, values: try load("wte.weight", [c.vocabularySize, C])),
                      positionEmbedding: WeightMatrix(rows: c.contextLength, columns: C, values: try load("wpe.weight", [c.contextLength, C])),
                      layers: layers, outputNormWeight: try load("ln_f.weight", [C]), outputNormBias: try load("ln_f.bias", [C]),
                      output: head, origin: origin)
    }

    /// Loads a Hugging Face GPT-2 directory holding `config.json` (`model_type` `gpt2`) and
    /// `model.safetensors`.
    public convenience init(safetensorsDirectory directory: String) throws {
        let hf = try GPT2HFConfig(jsonData: try readFile(directory + "/config.json"))
        let file = try SafetensorsFile(path: directory + "/model.safetensors")
        try self.init(configuration: GPT2Configuration(hf), huggingFaceTensors: { name in
            guard let info = file.tensor(named: name) else { return nil }
            return (info.shape, try file.floats(named: name))
        }, origin: String(directory.split(separator: "/").last ?? "safetensors"))
    }
}

import Formats
import Tensors

/// The shape of a Gemma 3 text model (Hugging Face `Gemma3TextConfig`, llama.cpp `gemma3`):
/// RMSNorm with `(1 + w)`, q/k norms, pre- and post-norms around attention and the feed-forward
/// block, GELU-tanh gated MLP, interleaved sliding-window ("local") and global attention layers
/// with their own RoPE bases, embeddings scaled by √C, tied output head.
public struct Gemma3Configuration: Sendable, Equatable {
    public var hiddenSize: Int           // C
    public var intermediateSize: Int     // F
    public var layerCount: Int           // L
    public var headCount: Int            // H
    public var kvHeadCount: Int          // KVH
    /// Floats per head (`hd`, GGUF `attention.key_length`); `H * hd` need not equal `C`.
    public var headDimension: Int
    public var vocabularySize: Int       // V
    public var contextLength: Int
    /// The RMSNorm epsilon as the Float32 value used (1e-6 is 9.99999997e-07).
    public var rmsNormEpsilon: Float
    /// RoPE base of the global (full-attention) layers (`rope.freq_base`, 1e6 for 270M).
    public var globalRopeTheta: Double
    /// RoPE base of the local (sliding-window) layers (`rope.freq_base_swa`, default 10000).
    public var localRopeTheta: Double
    /// Keys a local layer's query sees: positions `p - slidingWindow + 1 … p`.
    public var slidingWindow: Int
    /// Every `slidingWindowPattern`-th layer (1-based) is global: layer `i` is local iff
    /// `(i + 1) % slidingWindowPattern != 0` (Hugging Face `layer_types`; llama.cpp `is_swa`).
    public var slidingWindowPattern: Int
    /// Attention scores are multiplied by `queryPreAttentionScalar^-0.5` (256 for 270M; never in GGUF).
    public var queryPreAttentionScalar: Double
    public var tiedEmbeddings: Bool

    public init(hiddenSize: Int, intermediateSize: Int, layerCount: Int, headCount: Int, kvHeadCount: Int, headDimension: Int,
                vocabularySize: Int, contextLength: Int, rmsNormEpsilon: Float, globalRopeTheta: Double = 1_000_000,
                localRopeTheta: Double = 10_000, slidingWindow: Int, slidingWindowPattern: Int = 6,
                queryPreAttentionScalar: Double = 256, tiedEmbeddings: Bool = true) {
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.layerCount = layerCount
        self.headCount = headCount
        self.kvHeadCount = kvHeadCount
        self.headDimension = headDimension
        self.vocabularySize = vocabularySize
        self.contextLength = contextLength
        self.rmsNormEpsilon = rmsNormEpsilon
        self.globalRopeTheta = globalRopeTheta
        self.localRopeTheta = localRopeTheta
        self.slidingWindow = slidingWindow
        self.slidingWindowPattern = slidingWindowPattern
        self.queryPreAttentionScalar = queryPreAttentionScalar
        self.tiedEmbeddings = tiedEmbeddings
    }

    /// Whether layer `i` (0-based) is a local, sliding-window layer.
    public func isLocal(layer i: Int) -> Bool { (i + 1) % slidingWindowPattern != 0 }

    /// `Float(√C)`: Python's float64 `hidden_size ** 0.5` rounded once to Float32, as Hugging
    /// Face's `Gemma3TextScaledWordEmbedding` casts it to the Float32 weights' dtype (25.298222 for C = 640).
    public var embeddingScale: Float { Float(Double(hiddenSize).squareRoot()) }

    /// `Float(queryPreAttentionScalar^-0.5)` (1/16 for 270M).
    public var attentionScale: Float { Float(1 / queryPreAttentionScalar.squareRoot()) }

    public var shape: ModelShape {
        ModelShape(layerCount: layerCount, hiddenSize: hiddenSize, headCount: headCount, kvHeadCount: kvHeadCount,
                   headDimension: headDimension, vocabularySize: vocabularySize, contextLength: contextLength,
                   tiedEmbeddings: tiedEmbeddings)
    }

    /// Checks the shape for consistency; throws `ModelError.invalidConfiguration` naming the field.
    public func validate() throws {
        func fail(_ message: String) throws -> Never { throw ModelError.invalidConfiguration(message) }
        for (name, value) in [("hidden size", hiddenSize), ("intermediate size", intermediateSize), ("layer count", layerCount),
                              ("head count", headCount), ("KV head count", kvHeadCount), ("head dimension", headDimension),
                              ("vocabulary size", vocabularySize), ("context length", contextLength),
                              ("sliding window", slidingWindow), ("sliding window pattern", slidingWindowPattern)] where value <= 0 {
            try fail("\(name) must be positive, got \(value)")
        }
        if headCount % kvHeadCount != 0 { try fail("head count \(headCount) is not a multiple of the KV head count \(kvHeadCount)") }
        if headDimension % 2 != 0 { try fail("RoPE needs an even head dimension, got \(headDimension)") }
        if !(rmsNormEpsilon > 0) || !rmsNormEpsilon.isFinite { try fail("rms_norm_eps must be finite and positive, got \(rmsNormEpsilon)") }
        for (name, theta) in [("rope.freq_base", globalRopeTheta), ("rope.freq_base_swa", localRopeTheta)] where !(theta > 0) || !theta.isFinite {
            try fail("\(name) must be finite and positive, got \(theta)")
        }
        if !(queryPreAttentionScalar > 0) || !queryPreAttentionScalar.isFinite { try fail("query_pre_attn_scalar must be finite and positive") }
    }
}

/// A Gemma 3 text model ready to run: configuration and weights. The forward pass is in
/// `Gemma3Forward.swift`.
///
/// Q and K rows are in GGUF order, which for Gemma 3 is Hugging Face's order (no permutation:
/// llama.cpp runs Gemma with NEOX "halves" RoPE), and RoPE rotates halves `(i, i + hd/2)`.
/// Norm weights are stored as the multiplier `1 + w` (see `init(gguf:)`).
public final class Gemma3Model: CausalLanguageModel, @unchecked Sendable {
    public struct Layer {
        public let attentionNorm: [Float]      // [C]   multiplier of input_layernorm
        public let wq: WeightMatrix            // [H * hd, C]
        public let wk: WeightMatrix            // [KVH * hd, C]
        public let wv: WeightMatrix            // [KVH * hd, C]
        public let queryNorm: [Float]          // [hd]  q_norm, per head
        public let keyNorm: [Float]            // [hd]  k_norm, per head
        public let wo: WeightMatrix            // [C, H * hd]
        public let postAttentionNorm: [Float]  // [C]
        public let preFeedForwardNorm: [Float] // [C]   GGUF ffn_norm
        public let wGate: WeightMatrix         // [F, C]
        public let wUp: WeightMatrix           // [F, C]
        public let wDown: WeightMatrix         // [C, F]
        public let postFeedForwardNorm: [Float] // [C]  GGUF post_ffw_norm

        public init(attentionNorm: [Float], wq: WeightMatrix, wk: WeightMatrix, wv: WeightMatrix, queryNorm: [Float], keyNorm: [Float],
                    wo: WeightMatrix, postAttentionNorm: [Float], preFeedForwardNorm: [Float], wGate: WeightMatrix, wUp: WeightMatrix,
                    wDown: WeightMatrix, postFeedForwardNorm: [Float]) {
            self.attentionNorm = attentionNorm
            self.wq = wq
            self.wk = wk
            self.wv = wv
            self.queryNorm = queryNorm
            self.keyNorm = keyNorm
            self.wo = wo
            self.postAttentionNorm = postAttentionNorm
            self.preFeedForwardNorm = preFeedForwardNorm
            self.wGate = wGate
            self.wUp = wUp
            self.wDown = wDown
            self.postFeedForwardNorm = postFeedForwardNorm
        }
    }

    public let configuration: Gemma3Configuration
    public let tokenEmbedding: WeightMatrix  // [V, C]
    public let layers: [Layer]
    public let outputNorm: [Float]           // [C]
    public let output: WeightMatrix          // [V, C] (the embedding matrix when tied)
    public let origin: String
    let owners: [AnyObject]

    /// When true, every product takes `WeightMatrix.multiplyNaive` and attention scores every
    /// slot alone (bit-identical; for tests and measurements).
    public var useNaiveKernels = false
    /// Full attention only: TidalDecode's sparse mode is implemented in the Llama forward pass, so
    /// any other mode makes `forward` throw (`CausalLanguageModel.attentionMode`).
    public var attentionMode: AttentionMode = .full

    public init(configuration: Gemma3Configuration, tokenEmbedding: WeightMatrix, layers: [Layer], outputNorm: [Float],
                output: WeightMatrix?, origin: String, owners: [AnyObject] = []) throws {
        try configuration.validate()
        let c = configuration
        func check(_ m: WeightMatrix, _ name: String, _ rows: Int, _ columns: Int) throws {
            if m.rows != rows || m.columns != columns { throw ModelError.tensorShape(name: name, expected: [rows, columns], found: [m.rows, m.columns]) }
        }
        func check(_ v: [Float], _ name: String, _ count: Int) throws {
            if v.count != count { throw ModelError.tensorShape(name: name, expected: [count], found: [v.count]) }
        }
        let qRows = c.headCount * c.headDimension, kvRows = c.kvHeadCount * c.headDimension
        try check(tokenEmbedding, "token embedding", c.vocabularySize, c.hiddenSize)
        if layers.count != c.layerCount { throw ModelError.invalidConfiguration("\(layers.count) layers given, configuration says \(c.layerCount)") }
        for (i, l) in layers.enumerated() {
            try check(l.wq, "layer \(i) q", qRows, c.hiddenSize)
            try check(l.wk, "layer \(i) k", kvRows, c.hiddenSize)
            try check(l.wv, "layer \(i) v", kvRows, c.hiddenSize)
            try check(l.wo, "layer \(i) o", c.hiddenSize, qRows)
            try check(l.wGate, "layer \(i) gate", c.intermediateSize, c.hiddenSize)
            try check(l.wUp, "layer \(i) up", c.intermediateSize, c.hiddenSize)
            try check(l.wDown, "layer \(i) down", c.hiddenSize, c.intermediateSize)
            for (v, name) in [(l.attentionNorm, "attn_norm"), (l.postAttentionNorm, "post_attention_norm"),
                              (l.preFeedForwardNorm, "ffn_norm"), (l.postFeedForwardNorm, "post_ffw_norm")] {
                try check(v, "layer \(i) \(name)", c.hiddenSize)
            }
            try check(l.queryNorm, "layer \(i) attn_q_norm", c.headDimension)
            try check(l.keyNorm, "layer \(i) attn_k_norm", c.headDimension)
        }
        try check(outputNorm, "output norm", c.hiddenSize)
        let head = output ?? tokenEmbedding
        try check(head, "output", c.vocabularySize, c.hiddenSize)
        self.configuration = configuration
        self.tokenEmbedding = tokenEmbedding
        self.layers = layers
        self.outputNorm = outputNorm
        self.output = head
        self.origin = origin
        self.owners = owners
    }

    public var shape: ModelShape { configuration.shape }
    public var outputHead: WeightMatrix { output }

    public var weightBytesPerToken: Int {
        layers.reduce(output.packedByteCount) { sum, l in
            sum + [l.wq, l.wk, l.wv, l.wo, l.wGate, l.wUp, l.wDown].reduce(0) { $0 + $1.packedByteCount }
        }
    }

    /// Gemma's layer-0 input: the embedding row times `embeddingScale` (Hugging Face's
    /// `hidden_states[0]`).
    public func embed(token: Int, into destination: UnsafeMutablePointer<Float>) {
        tokenEmbedding.decodeRow(token, into: destination)
        let s = configuration.embeddingScale
        for i in 0..<configuration.hiddenSize { destination[i] = destination[i] * s }
    }

    /// The first `layerCount` layers, sharing every weight; each keeps its local/global type.
    public func truncated(toLayers layerCount: Int) throws -> any CausalLanguageModel {
        guard layerCount >= 1 && layerCount <= configuration.layerCount else {
            throw ModelError.invalidInput("draft layers must be in 1...\(configuration.layerCount), got \(layerCount)")
        }
        var c = configuration
        c.layerCount = layerCount
        let m = try Gemma3Model(configuration: c, tokenEmbedding: tokenEmbedding, layers: Array(layers.prefix(layerCount)),
                                outputNorm: outputNorm, output: output, origin: origin + " (first \(layerCount) layers)", owners: owners)
        m.useNaiveKernels = useNaiveKernels
        return m
    }

    /// The multiplier Hugging Face applies for a GGUF norm weight `g`: the converter stores
    /// `w + 1`, `Gemma2TensorProcessor` subtracts 1 on load, `Gemma3RMSNorm` multiplies by
    /// `1 + w`; so `1 + (g - 1)` in Float32 (equal to `g` for every norm of the 270M file).
    public static func normMultiplier(_ g: [Float]) -> [Float] { g.map { 1 + ($0 - 1) } }
}

// MARK: - Loading

extension Gemma3Model {
    /// Loads a Gemma 3 GGUF file (`general.architecture` = `gemma3`), memory-mapped. F32, Q8_0,
    /// Q4_1, Q5_0, Q4_K and Q6_K matrices stay in their blocks and are decoded inside the
    /// kernels; other types are dequantized to Float32 at load (exact).
    ///
    /// - Parameter float32Weights: dequantize every matrix to Float32 at load (bit-identical logits).
    /// - Throws: `ModelError.unsupportedArchitecture` for another architecture;
    ///   `ModelError.invalidConfiguration` for a missing key or one this implementation does not
    ///   support yet (logit soft-capping, RoPE scaling).
    public convenience init(gguf file: GGUFFile, float32Weights: Bool = false) throws {
        let arch = file.metadata["general.architecture"]?.string ?? "(missing)"
        guard arch == "gemma3" else { throw ModelError.unsupportedArchitecture(arch) }
        func int(_ key: String) throws -> Int {
            guard let v = file.metadata["gemma3." + key]?.int else { throw ModelError.invalidConfiguration("GGUF key gemma3.\(key) is missing or not an integer") }
            return v
        }
        for key in file.metadata.keys.sorted() where key.hasPrefix("gemma3.rope.scaling.") || key.hasSuffix("logit_softcapping") {
            throw ModelError.invalidConfiguration("GGUF key \(key) is present: Gemma 3 \(key.contains("softcapping") ? "logit soft-capping" : "RoPE scaling") is not supported yet")
        }
        if let pattern = file.metadata["gemma3.attention.sliding_window_pattern"], pattern.int == nil {
            throw ModelError.invalidConfiguration("GGUF key gemma3.attention.sliding_window_pattern is not an integer (per-layer pattern arrays are not supported yet)")
        }
        func tensor(_ name: String) throws -> GGUFTensorInfo {
            guard let t = file.tensor(named: name) else { throw ModelError.missingTensor(name) }
            return t
        }
        let embedding = try tensor("token_embd.weight")
        let hidden = try int("embedding_length")
        let heads = try int("attention.head_count")
        let config = Gemma3Configuration(
            hiddenSize: hidden, intermediateSize: try int("feed_forward_length"), layerCount: try int("block_count"),
            headCount: heads, kvHeadCount: file.metadata["gemma3.attention.head_count_kv"]?.int ?? heads,
            headDimension: file.metadata["gemma3.attention.key_length"]?.int ?? hidden / max(1, heads),
            vocabularySize: embedding.shape.count == 2 ? embedding.shape[1] : 0, contextLength: try int("context_length"),
            rmsNormEpsilon: Float(file.metadata["gemma3.attention.layer_norm_rms_epsilon"]?.double ?? 1e-6),
            globalRopeTheta: file.metadata["gemma3.rope.freq_base"]?.double ?? 1_000_000,
            localRopeTheta: file.metadata["gemma3.rope.freq_base_swa"]?.double ?? 10_000,
            slidingWindow: try int("attention.sliding_window"),
            slidingWindowPattern: file.metadata["gemma3.attention.sliding_window_pattern"]?.int ?? 6,
            queryPreAttentionScalar: 256,
            tiedEmbeddings: file.tensor(named: "output.weight") == nil)
        try config.validate()
        if let v = file.metadata["gemma3.attention.value_length"]?.int, v != config.headDimension {
            throw ModelError.invalidConfiguration("attention.value_length \(v) differs from key_length \(config.headDimension); not supported")
        }

        func matrix(_ name: String, rows: Int, columns: Int) throws -> WeightMatrix {
            try ggufWeightMatrix(file, try tensor(name), rows: rows, columns: columns, float32Weights: float32Weights)
        }
        func norm(_ name: String, count: Int) throws -> [Float] {
            let t = try tensor(name)
            guard t.elementCount == count else { throw ModelError.tensorShape(name: name, expected: [count], found: t.shape) }
            return Gemma3Model.normMultiplier(try file.dequantize(t))
        }
        let c = config
        let qRows = c.headCount * c.headDimension, kvRows = c.kvHeadCount * c.headDimension
        var layers: [Layer] = []
        for i in 0..<c.layerCount {
            let p = "blk.\(i)."
            layers.append(Layer(
                attentionNorm: try norm(p + "attn_norm.weight", count: c.hiddenSize),
                wq: try matrix(p + "attn_q.weight", rows: qRows, columns: c.hiddenSize),
                wk: try matrix(p + "attn_k.weight", rows: kvRows, columns: c.hiddenSize),
                wv: try matrix(p + "attn_v.weight", rows: kvRows, columns: c.hiddenSize),
                queryNorm: try norm(p + "attn_q_norm.weight", count: c.headDimension),
                keyNorm: try norm(p + "attn_k_norm.weight", count: c.headDimension),
                wo: try matrix(p + "attn_output.weight", rows: c.hiddenSize, columns: qRows),
                postAttentionNorm: try norm(p + "post_attention_norm.weight", count: c.hiddenSize),
                preFeedForwardNorm: try norm(p + "ffn_norm.weight", count: c.hiddenSize),
                wGate: try matrix(p + "ffn_gate.weight", rows: c.intermediateSize, columns: c.hiddenSize),
                wUp: try matrix(p + "ffn_up.weight", rows: c.intermediateSize, columns: c.hiddenSize),
                wDown: try matrix(p + "ffn_down.weight", rows: c.hiddenSize, columns: c.intermediateSize),
                postFeedForwardNorm: try norm(p + "post_ffw_norm.weight", count: c.hiddenSize)))
        }
        let embeddingMatrix = try matrix("token_embd.weight", rows: c.vocabularySize, columns: c.hiddenSize)
        let head = c.tiedEmbeddings ? nil : try matrix("output.weight", rows: c.vocabularySize, columns: c.hiddenSize)
        let fileName = file.path.map { String($0.split(separator: "/").last ?? Substring($0)) } ?? "gguf"
        try self.init(configuration: c, tokenEmbedding: embeddingMatrix, layers: layers,
                      outputNorm: try norm("output_norm.weight", count: c.hiddenSize), output: head,
                      origin: float32Weights ? fileName + " (float32 weights)" : fileName, owners: [file])
    }
}

/// A GGUF matrix tensor (ggml shape `[columns, rows]`) as a `WeightMatrix`: F32, Q8_0, Q4_1,
/// Q5_0, Q4_K and Q6_K keep their blocks (memory-mapped, decoded in the kernels); any other
/// dequantizable type, or every type with `float32Weights`, is dequantized to Float32 (exact).
func ggufWeightMatrix(_ file: GGUFFile, _ t: GGUFTensorInfo, rows: Int, columns: Int, float32Weights: Bool) throws -> WeightMatrix {
    guard t.shape == [columns, rows] else { throw ModelError.tensorShape(name: t.name, expected: [columns, rows], found: t.shape) }
    if float32Weights && t.type != .f32 { return WeightMatrix(rows: rows, columns: columns, values: try file.dequantize(t)) }
    let encoding: WeightEncoding?
    switch t.type {
    case .f32: encoding = .f32
    case .q8_0: encoding = .q8_0
    case .q4_1: encoding = .q4_1
    case .q5_0: encoding = .q5_0
    case .q4_K: encoding = .q4_K
    case .q6_K: encoding = .q6_K
    default: encoding = nil
    }
    guard let encoding, let base = file.data(for: t).baseAddress else {
        return WeightMatrix(rows: rows, columns: columns, values: try file.dequantize(t))
    }
    return WeightMatrix(rows: rows, columns: columns, encoding: encoding, rowMajorBytes: base, owner: file)
}

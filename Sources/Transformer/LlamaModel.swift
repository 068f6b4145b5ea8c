import Formats
import Tensors

/// A Llama-family model ready to run: configuration and weights.
///
/// Q and K projection rows are kept in GGUF order (each head's rows permuted for llama.cpp's
/// adjacent-pair RoPE), and RoPE rotates adjacent pairs. Hugging Face checkpoints store the
/// un-permuted rows and rotate halves; `init(huggingFace:)` permutes their rows on load, so both
/// sources give the same attention up to the order of the q·k sum.
public final class LlamaModel: CausalLanguageModel, @unchecked Sendable {
    public struct Layer {
        public let attentionNorm: [Float]   // [C]
        public let wq: WeightMatrix         // [heads * hd, C]
        public let wk: WeightMatrix         // [kvHeads * hd, C]
        public let wv: WeightMatrix         // [kvHeads * hd, C]
        public let wo: WeightMatrix         // [C, heads * hd]
        public let ffnNorm: [Float]         // [C]
        public let wGate: WeightMatrix      // [FFN, C]
        public let wUp: WeightMatrix        // [FFN, C]
        public let wDown: WeightMatrix      // [C, FFN]
        /// Q, K and V biases (`[heads * hd]`, `[kvHeads * hd]` ×2) when the configuration has
        /// `attentionBiases` (Qwen2), nil otherwise.
        public var qBias: [Float]? = nil
        public var kBias: [Float]? = nil
        public var vBias: [Float]? = nil

        public init(attentionNorm: [Float], wq: WeightMatrix, wk: WeightMatrix, wv: WeightMatrix, wo: WeightMatrix, ffnNorm: [Float],
                    wGate: WeightMatrix, wUp: WeightMatrix, wDown: WeightMatrix,
                    qBias: [Float]? = nil, kBias: [Float]? = nil, vBias: [Float]? = nil) {
            self.attentionNorm = attentionNorm
            self.wq = wq
            self.wk = wk
            self.wv = wv
            self.wo = wo
            self.ffnNorm = ffnNorm
            self.wGate = wGate
            self.wUp = wUp
            self.wDown = wDown
            self.qBias = qBias
            self.kBias = kBias
            self.vBias = vBias
        }
    }

    public let configuration: LlamaConfiguration
    public let tokenEmbedding: WeightMatrix  // [V, C]
    public let layers: [Layer]
    public let outputNorm: [Float]           // [C]
    public let output: WeightMatrix          // [V, C] (the embedding matrix when tied)
    /// A short description of where the weights came from (file name, or "synthetic seed N").
    public let origin: String
    /// Objects that must outlive the weights (memory-mapped files).
    let owners: [AnyObject]

    /// When true, every matrix product uses the naive scalar reference path on one thread
    /// (`WeightMatrix.multiplyNaive`). Results are bit-identical; it exists to prove that and
    /// to measure the fast kernels against it. Attention then also scores every slot on its
    /// own with `Kernels.dot` instead of 16 at a time from the cache's key tiles.
    public var useNaiveKernels = false
    /// The neuron clamps in effect (`setNeuronClamps`, NeuronClamp.swift).
    var clampStorage: [NeuronClamp] = []

    /// How forward passes attend (`CausalLanguageModel.attentionMode`): full attention, or
    /// TidalDecode's sparse attention.
    public var attentionMode: AttentionMode = .full

    public init(configuration: LlamaConfiguration, tokenEmbedding: WeightMatrix, layers: [Layer], outputNorm: [Float],
                output: WeightMatrix?, origin: String, owners: [AnyObject] = []) throws {
        try configuration.validate()
        let c = configuration
        func check(_ m: WeightMatrix, _ name: String, _ rows: Int, _ columns: Int) throws {
            if m.rows != rows || m.columns != columns { throw ModelError.tensorShape(name: name, expected: [rows, columns], found: [m.rows, m.columns]) }
        }
        try check(tokenEmbedding, "token embedding", c.vocabularySize, c.hiddenSize)
        for (i, l) in layers.enumerated() {
            try check(l.wq, "layer \(i) q", c.headCount * c.headDimension, c.hiddenSize)
            try check(l.wk, "layer \(i) k", c.kvHeadCount * c.headDimension, c.hiddenSize)
            try check(l.wv, "layer \(i) v", c.kvHeadCount * c.headDimension, c.hiddenSize)
            try check(l.wo, "layer \(i) o", c.hiddenSize, c.headCount * c.headDimension)
            try check(l.wGate, "layer \(i) gate", c.intermediateSize, c.hiddenSize)
            try check(l.wUp, "layer \(i) up", c.intermediateSize, c.hiddenSize)
            try check(l.wDown, "layer \(i) down", c.hiddenSize, c.intermediateSize)
            if l.attentionNorm.count != c.hiddenSize || l.ffnNorm.count != c.hiddenSize {
                throw ModelError.tensorShape(name: "layer \(i) norm", expected: [c.hiddenSize], found: [l.attentionNorm.count])
            }
            for (bias, name, count) in [(l.qBias, "q", c.headCount * c.headDimension), (l.kBias, "k", c.kvHeadCount * c.headDimension),
                                        (l.vBias, "v", c.kvHeadCount * c.headDimension)] {
                switch (bias, c.attentionBiases) {
                case (nil, true): throw ModelError.missingTensor("layer \(i) \(name) bias")
                case (.some, false): throw ModelError.invalidConfiguration("layer \(i) has a \(name) bias but the configuration has no attention biases")
                case (let b?, true) where b.count != count: throw ModelError.tensorShape(name: "layer \(i) \(name) bias", expected: [count], found: [b.count])
                default: break
                }
            }
        }
        if layers.count != c.layerCount { throw ModelError.invalidConfiguration("\(layers.count) layers given, configuration says \(c.layerCount)") }
        if outputNorm.count != c.hiddenSize { throw ModelError.tensorShape(name: "output norm", expected: [c.hiddenSize], found: [outputNorm.count]) }
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

    /// Bytes of weights streamed per single-token forward pass by the fast kernels (packed panels
    /// of every projection and the output head; embedding rows and norms are negligible).
    public var weightBytesPerToken: Int {
        layers.reduce(output.packedByteCount) { sum, l in
            sum + [l.wq, l.wk, l.wv, l.wo, l.wGate, l.wUp, l.wDown].reduce(0) { $0 + $1.packedByteCount }
        }
    }

    public var shape: ModelShape { configuration.shape }
    public var outputHead: WeightMatrix { output }

    /// Llama's layer-0 input is the embedding row itself (no scaling).
    public func embed(token: Int, into destination: UnsafeMutablePointer<Float>) {
        tokenEmbedding.decodeRow(token, into: destination)
    }

    /// The same model cut to its first `layerCount` layers, sharing every weight (final norm and
    /// output head included): the draft of self-speculative / layer-skip decoding — LayerSkip's
    /// early exit (Elhoushi et al., ACL 2024, arXiv:2404.16710, Section 4.3), here on a checkpoint
    /// not trained for it, and the "skip every later layer" case of Draft & Verify (Zhang et al.,
    /// ACL 2024, arXiv:2309.08168).
    public func truncated(toLayers layerCount: Int) throws -> any CausalLanguageModel {
        guard layerCount >= 1 && layerCount <= configuration.layerCount else {
            throw ModelError.invalidInput("draft layers must be in 1...\(configuration.layerCount), got \(layerCount)")
        }
        var c = configuration
        c.layerCount = layerCount
        let draft = try LlamaModel(configuration: c, tokenEmbedding: tokenEmbedding, layers: Array(layers.prefix(layerCount)),
                                   outputNorm: outputNorm, output: output, origin: origin + " (first \(layerCount) layers)", owners: owners)
        draft.clampStorage = clampStorage.filter { $0.layer < layerCount }  // the kept layers keep their clamps
        return draft
    }

    /// Reorders Q/K projection rows from Hugging Face order (per head: first half, second half)
    /// to GGUF order (per head: adjacent pairs): GGUF row `h*hd + 2i + p` is HF row
    /// `h*hd + p*hd/2 + i`. `values` is row-major `[heads * hd, columns]`.
    public static func permuteForAdjacentPairRoPE(_ values: [Float], heads: Int, headDimension hd: Int, columns: Int) -> [Float] {
        var out = values
        for h in 0..<heads {
            for i in 0..<(hd / 2) {
                for p in 0..<2 {
                    let dst = (h * hd + 2 * i + p) * columns
                    let src = (h * hd + p * (hd / 2) + i) * columns
                    for c in 0..<columns { out[dst + c] = values[src + c] }
                }
            }
        }
        return out
    }

    /// The inverse of `permuteForAdjacentPairRoPE` (GGUF order → Hugging Face order).
    public static func permuteForHalfRoPE(_ values: [Float], heads: Int, headDimension hd: Int, columns: Int) -> [Float] {
        var out = values
        for h in 0..<heads {
            for i in 0..<(hd / 2) {
                for p in 0..<2 {
                    let src = (h * hd + 2 * i + p) * columns
                    let dst = (h * hd + p * (hd / 2) + i) * columns
                    for c in 0..<columns { out[dst + c] = values[src + c] }
                }
            }
        }
        return out
    }
}

// MARK: - Loading

extension LlamaModel {
    /// Loads a Llama-family GGUF file (memory-mapped; Q4_1, Q8_0 and F32 weights stay in their
    /// blocks and are decoded inside the kernels; other types are dequantized to Float32).
    ///
    /// - Parameter float32Weights: dequantize every weight matrix to Float32 at load instead
    ///   (exact, so logits are bit-identical; 4–6× the memory traffic per pass, which makes a
    ///   one-token pass memory-bound, as on GPUs — see DOCS.md section 2.1).
    public convenience init(gguf file: GGUFFile, float32Weights: Bool = false) throws {
        let arch = file.metadata["general.architecture"]?.string ?? "(missing)"
        guard arch == "llama" else { throw ModelError.unsupportedArchitecture(arch) }
        func int(_ key: String) throws -> Int {
            guard let v = file.metadata["llama." + key]?.int else { throw ModelError.invalidConfiguration("GGUF key llama.\(key) is missing or not an integer") }
            return v
        }
        func tensor(_ name: String) throws -> GGUFTensorInfo {
            guard let t = file.tensor(named: name) else { throw ModelError.missingTensor(name) }
            return t
        }
        let hidden = try int("embedding_length")
        let heads = try int("attention.head_count")
        let embedding = try tensor("token_embd.weight")
        let vocab = file.metadata["llama.vocab_size"]?.int ?? (embedding.shape.count == 2 ? embedding.shape[1] : 0)
        let headDim = file.metadata["llama.attention.key_length"]?.int ?? hidden / max(1, heads)
        let epsilon = file.metadata["llama.attention.layer_norm_rms_epsilon"]?.double ?? 1e-5
        let config = LlamaConfiguration(
            hiddenSize: hidden, intermediateSize: try int("feed_forward_length"), layerCount: try int("block_count"),
            headCount: heads, kvHeadCount: file.metadata["llama.attention.head_count_kv"]?.int ?? heads,
            headDimension: headDim, vocabularySize: vocab, contextLength: try int("context_length"),
            rmsNormEpsilon: Float(epsilon), ropeTheta: file.metadata["llama.rope.freq_base"]?.double ?? 10000,
            ropeDimension: file.metadata["llama.rope.dimension_count"]?.int ?? headDim,
            tiedEmbeddings: file.tensor(named: "output.weight") == nil)
        try config.validate()
        if config.ropeDimension != config.headDimension {
            throw ModelError.invalidConfiguration("partial RoPE (rope.dimension_count \(config.ropeDimension) < head dim \(config.headDimension)) is not supported yet")
        }

        func matrix(_ name: String, rows: Int, columns: Int) throws -> WeightMatrix {
            let t = try tensor(name)
            guard t.shape == [columns, rows] else { throw ModelError.tensorShape(name: name, expected: [columns, rows], found: t.shape) }
            let bytes = file.data(for: t)
            if float32Weights && t.type != .f32 { return WeightMatrix(rows: rows, columns: columns, values: try file.dequantize(t)) }
            switch t.type {
            case .f32: return WeightMatrix(rows: rows, columns: columns, encoding: .f32, rowMajorBytes: bytes.baseAddress!, owner: file)
            case .q8_0: return WeightMatrix(rows: rows, columns: columns, encoding: .q8_0, rowMajorBytes: bytes.baseAddress!, owner: file)
            case .q4_1: return WeightMatrix(rows: rows, columns: columns, encoding: .q4_1, rowMajorBytes: bytes.baseAddress!, owner: file)
            default: return WeightMatrix(rows: rows, columns: columns, values: try file.dequantize(t))
            }
        }
        func vector(_ name: String, count: Int) throws -> [Float] {
            let t = try tensor(name)
            guard t.elementCount == count else { throw ModelError.tensorShape(name: name, expected: [count], found: t.shape) }
            return try file.dequantize(t)
        }
        let c = config
        let qRows = c.headCount * c.headDimension, kvRows = c.kvHeadCount * c.headDimension
        var layers: [Layer] = []
        for i in 0..<c.layerCount {
            let p = "blk.\(i)."
            layers.append(Layer(
                attentionNorm: try vector(p + "attn_norm.weight", count: c.hiddenSize),
                wq: try matrix(p + "attn_q.weight", rows: qRows, columns: c.hiddenSize),
                wk: try matrix(p + "attn_k.weight", rows: kvRows, columns: c.hiddenSize),
                wv: try matrix(p + "attn_v.weight", rows: kvRows, columns: c.hiddenSize),
                wo: try matrix(p + "attn_output.weight", rows: c.hiddenSize, columns: qRows),
                ffnNorm: try vector(p + "ffn_norm.weight", count: c.hiddenSize),
                wGate: try matrix(p + "ffn_gate.weight", rows: c.intermediateSize, columns: c.hiddenSize),
                wUp: try matrix(p + "ffn_up.weight", rows: c.intermediateSize, columns: c.hiddenSize),
                wDown: try matrix(p + "ffn_down.weight", rows: c.hiddenSize, columns: c.intermediateSize)))
        }
        let embeddingMatrix = try matrix("token_embd.weight", rows: c.vocabularySize, columns: c.hiddenSize)
        let head = c.tiedEmbeddings ? nil : try matrix("output.weight", rows: c.vocabularySize, columns: c.hiddenSize)
        let fileName = file.path.map { String($0.split(separator: "/").last ?? Substring($0)) } ?? "gguf"
        let name = float32Weights ? fileName + " (float32 weights)" : fileName
        try self.init(configuration: c, tokenEmbedding: embeddingMatrix, layers: layers,
                      outputNorm: try vector("output_norm.weight", count: c.hiddenSize), output: head,
                      origin: name, owners: [file])
    }

    /// Builds a model from Hugging Face tensors (`model.layers.N.self_attn.q_proj.weight`, …,
    /// row-major `[out, in]`). With `.adjacentPairs` RoPE (Llama) Q/K rows are permuted to GGUF
    /// order; with `.halves` (Qwen2) every tensor is used as stored. With `attentionBiases` the
    /// `q_proj`, `k_proj` and `v_proj` biases are read too.
    public convenience init(configuration c: LlamaConfiguration, huggingFaceTensors tensor: (String) throws -> (shape: [Int], values: [Float]), origin: String) throws {
        try c.validate()
        func load(_ name: String, _ shape: [Int]) throws -> [Float] {
            let t = try tensor(name)
            guard t.shape == shape else { throw ModelError.tensorShape(name: name, expected: shape, found: t.shape) }
            return t.values
        }
        func matrix(_ name: String, _ rows: Int, _ columns: Int, permuteHeads: Int? = nil) throws -> WeightMatrix {
            var v = try load(name, [rows, columns])
            if let heads = permuteHeads { v = LlamaModel.permuteForAdjacentPairRoPE(v, heads: heads, headDimension: c.headDimension, columns: columns) }
            return WeightMatrix(rows: rows, columns: columns, values: v)
        }
        let qRows = c.headCount * c.headDimension, kvRows = c.kvHeadCount * c.headDimension
        let permute = c.ropeLayout == .adjacentPairs
        var layers: [Layer] = []
        for i in 0..<c.layerCount {
            let p = "model.layers.\(i)."
            var layer = Layer(
                attentionNorm: try load(p + "input_layernorm.weight", [c.hiddenSize]),
                wq: try matrix(p + "self_attn.q_proj.weight", qRows, c.hiddenSize, permuteHeads: permute ? c.headCount : nil),
                wk: try matrix(p + "self_attn.k_proj.weight", kvRows, c.hiddenSize, permuteHeads: permute ? c.kvHeadCount : nil),
                wv: try matrix(p + "self_attn.v_proj.weight", kvRows, c.hiddenSize),
                wo: try matrix(p + "self_attn.o_proj.weight", c.hiddenSize, qRows),
                ffnNorm: try load(p + "post_attention_layernorm.weight", [c.hiddenSize]),
                wGate: try matrix(p + "mlp.gate_proj.weight", c.intermediateSize, c.hiddenSize),
                wUp: try matrix(p + "mlp.up_proj.weight", c.intermediateSize, c.hiddenSize),
                wDown: try matrix(p + "mlp.down_proj.weight", c.hiddenSize, c.intermediateSize))
            if c.attentionBiases {
                layer.qBias = try load(p + "self_attn.q_proj.bias", [qRows])
                layer.kBias = try load(p + "self_attn.k_proj.bias", [kvRows])
                layer.vBias = try load(p + "self_attn.v_proj.bias", [kvRows])
            }
            layers.append(layer)
        }
        let embedding = try matrix("model.embed_tokens.weight", c.vocabularySize, c.hiddenSize)
        let head = c.tiedEmbeddings ? nil : try matrix("lm_head.weight", c.vocabularySize, c.hiddenSize)
        try self.init(configuration: c, tokenEmbedding: embedding, layers: layers,
                      outputNorm: try load("model.norm.weight", [c.hiddenSize]), output: head, origin: origin)
    }

    /// Loads a Hugging Face directory holding `config.json` and `model.safetensors`.
    public convenience init(safetensorsDirectory directory: String) throws {
        let configPath = directory + "/config.json"
        let weightsPath = directory + "/model.safetensors"
        let hf = try LlamaHFConfig(jsonData: try readFile(configPath))
        let file = try SafetensorsFile(path: weightsPath)
        let c = LlamaConfiguration(hf)
        try self.init(configuration: c, huggingFaceTensors: { name in
            guard let info = file.tensor(named: name) else { throw ModelError.missingTensor(name) }
            return (info.shape, try file.floats(named: name))
        }, origin: String(directory.split(separator: "/").last ?? "safetensors"))
    }
}

func readFile(_ path: String) throws -> Data {
    do { return try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
        throw ModelError.invalidInput("cannot read \(path): \(error.localizedDescription)")
    }
}

import Foundation

import Formats
import Tensors

/// Qwen2 (Hugging Face `modeling_qwen2.py`, llama.cpp `qwen2`) is Llama with two differences,
/// both options of `LlamaConfiguration`, so it runs on `LlamaModel` and its forward pass
/// (`LlamaForward.swift`):
///
///     h = rms(x) ⊙ g_in
///     q = Wq h + bq;  k = Wk h + bk;  v = Wv h + bv          // biases on Q, K, V; none on o_proj
///     q, k = RoPE on halves (i, i + hd/2), rows as stored    // llama.cpp NEOX; no GGUF permutation
///     … the rest is Llama's: softmax(q·kᵀ · hd^-0.5) v, Wo, residual, SwiGLU MLP, final RMSNorm, head
///
/// The output head is `lm_head` or, with `tie_word_embeddings`, the embedding matrix. Sliding-window
/// layers (`use_sliding_window`) are rejected, not ignored.
extension LlamaConfiguration {
    /// A Qwen2 configuration: `ropeLayout` `.halves`, `attentionBiases` true.
    public static func qwen2(hiddenSize: Int, intermediateSize: Int, layerCount: Int, headCount: Int, kvHeadCount: Int,
                             headDimension: Int? = nil, vocabularySize: Int, contextLength: Int, rmsNormEpsilon: Float,
                             ropeTheta: Double, tiedEmbeddings: Bool) -> LlamaConfiguration {
        LlamaConfiguration(hiddenSize: hiddenSize, intermediateSize: intermediateSize, layerCount: layerCount, headCount: headCount,
                           kvHeadCount: kvHeadCount, headDimension: headDimension, vocabularySize: vocabularySize,
                           contextLength: contextLength, rmsNormEpsilon: rmsNormEpsilon, ropeTheta: ropeTheta,
                           tiedEmbeddings: tiedEmbeddings, ropeLayout: .halves, attentionBiases: true)
    }

    /// The Qwen2 configuration described by a Hugging Face `config.json`.
    public init(qwen2 hf: Qwen2HFConfig) {
        self = .qwen2(hiddenSize: hf.hiddenSize, intermediateSize: hf.intermediateSize, layerCount: hf.numHiddenLayers,
                      headCount: hf.numAttentionHeads, kvHeadCount: hf.numKeyValueHeads, headDimension: hf.headDim,
                      vocabularySize: hf.vocabSize, contextLength: hf.maxPositionEmbeddings,
                      rmsNormEpsilon: Float(hf.rmsNormEps), ropeTheta: hf.ropeTheta, tiedEmbeddings: hf.tieWordEmbeddings)
    }

    /// The Hugging Face `config.json` fields of this (Qwen2) configuration.
    public func qwen2HuggingFaceConfig(bosTokenId: Int? = nil, eosTokenId: Int? = nil) -> Qwen2HFConfig {
        Qwen2HFConfig(hiddenSize: hiddenSize, intermediateSize: intermediateSize, numHiddenLayers: layerCount,
                      numAttentionHeads: headCount, numKeyValueHeads: kvHeadCount, vocabSize: vocabularySize,
                      maxPositionEmbeddings: contextLength, headDim: headDimension == hiddenSize / headCount ? nil : headDimension,
                      rmsNormEps: Double(rmsNormEpsilon), ropeTheta: ropeTheta, tieWordEmbeddings: tiedEmbeddings,
                      bosTokenId: bosTokenId, eosTokenId: eosTokenId)
    }
}

extension LlamaModel {
    /// Loads a Qwen2 GGUF file (`general.architecture` = `qwen2`), memory-mapped, with the tensor
    /// and key names llama.cpp's converter writes (`blk.N.attn_q.{weight,bias}`, …, optional
    /// `output.weight`; `qwen2.embedding_length`, `qwen2.rope.freq_base`, …). Q/K rows are used
    /// as stored (no permutation: llama.cpp rotates qwen2 halves).
    ///
    /// - Throws: `ModelError.unsupportedArchitecture` for another architecture; `missingTensor` /
    ///   `tensorShape` naming the tensor; `invalidConfiguration` for a missing key, RoPE scaling,
    ///   an `attention.key_length` or `rope.dimension_count` other than `C / H`, or an
    ///   `output.bias` (Hugging Face's Qwen2 has none).
    public convenience init(qwen2GGUF file: GGUFFile, float32Weights: Bool = false) throws {
        let r = try GGUFModelReader(file, architecture: "qwen2", float32Weights: float32Weights)
        for key in file.metadata.keys.sorted() where key.hasPrefix("qwen2.rope.scaling.") {
            throw ModelError.invalidConfiguration("GGUF key \(key) is present: RoPE scaling is not supported yet")
        }
        if file.tensor(named: "output.bias") != nil {
            throw ModelError.invalidConfiguration("output.bias is present: an output-head bias is not supported (Hugging Face's Qwen2 has none)")
        }
        let hidden = try r.int("embedding_length")
        let heads = try r.int("attention.head_count")
        let headDim = hidden / max(1, heads)  // Hugging Face's head_dim; the file has no key for it
        for key in ["attention.key_length", "attention.value_length", "rope.dimension_count"] {
            if let v = r.value(key)?.int, v != headDim {
                throw ModelError.invalidConfiguration("GGUF key qwen2.\(key) is \(v), not embedding_length / head_count = \(headDim); not supported")
            }
        }
        let embedding = try r.tensor("token_embd.weight")
        let c = LlamaConfiguration.qwen2(
            hiddenSize: hidden, intermediateSize: try r.int("feed_forward_length"), layerCount: try r.int("block_count"),
            headCount: heads, kvHeadCount: r.value("attention.head_count_kv")?.int ?? heads,
            headDimension: headDim, vocabularySize: embedding.shape.count == 2 ? embedding.shape[1] : 0,
            contextLength: try r.int("context_length"),
            rmsNormEpsilon: Float(r.value("attention.layer_norm_rms_epsilon")?.double ?? 1e-6),
            ropeTheta: r.value("rope.freq_base")?.double ?? 10000,
            tiedEmbeddings: file.tensor(named: "output.weight") == nil)
        try c.validate()

        let C = c.hiddenSize, F = c.intermediateSize
        let qRows = c.headCount * c.headDimension, kvRows = c.kvHeadCount * c.headDimension
        var layers: [Layer] = []
        for i in 0..<c.layerCount {
            let p = "blk.\(i)."
            layers.append(Layer(
                attentionNorm: try r.vector(p + "attn_norm.weight", count: C),
                wq: try r.matrix(p + "attn_q.weight", rows: qRows, columns: C),
                wk: try r.matrix(p + "attn_k.weight", rows: kvRows, columns: C),
                wv: try r.matrix(p + "attn_v.weight", rows: kvRows, columns: C),
                wo: try r.matrix(p + "attn_output.weight", rows: C, columns: qRows),
                ffnNorm: try r.vector(p + "ffn_norm.weight", count: C),
                wGate: try r.matrix(p + "ffn_gate.weight", rows: F, columns: C),
                wUp: try r.matrix(p + "ffn_up.weight", rows: F, columns: C),
                wDown: try r.matrix(p + "ffn_down.weight", rows: C, columns: F),
                qBias: try r.vector(p + "attn_q.bias", count: qRows),
                kBias: try r.vector(p + "attn_k.bias", count: kvRows),
                vBias: try r.vector(p + "attn_v.bias", count: kvRows)))
        }
        try self.init(configuration: c, tokenEmbedding: try r.matrix("token_embd.weight", rows: c.vocabularySize, columns: C), layers: layers,
                      outputNorm: try r.vector("output_norm.weight", count: C),
                      output: c.tiedEmbeddings ? nil : try r.matrix("output.weight", rows: c.vocabularySize, columns: C),
                      origin: r.origin, owners: [file])
    }

    /// Loads a Hugging Face Qwen2 directory holding `config.json` (`model_type` `qwen2`) and
    /// `model.safetensors` (`model.layers.N.self_attn.q_proj.{weight,bias}`, …, `lm_head.weight`
    /// unless tied). Throws what `Qwen2HFConfig(jsonData:)` throws, and `ModelError` naming a
    /// missing or ill-shaped tensor.
    public convenience init(qwen2SafetensorsDirectory directory: String) throws {
        let hf = try Qwen2HFConfig(jsonData: try readFile(directory + "/config.json"))
        let file = try SafetensorsFile(path: directory + "/model.safetensors")
        try self.init(configuration: LlamaConfiguration(qwen2: hf), huggingFaceTensors: { name in
            guard let info = file.tensor(named: name) else { throw ModelError.missingTensor(name) }
            return (info.shape, try file.floats(named: name))
        }, origin: String(directory.split(separator: "/").last ?? "safetensors"))
    }
}

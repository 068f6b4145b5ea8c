import Foundation

/// The fields of a Hugging Face `config.json` with `"model_type": "gpt2"` that Touchstone uses.
///
/// Required: `n_embd`, `n_layer`, `n_head`, `vocab_size`. The others take `transformers`'
/// `GPT2Config` defaults when absent: `n_positions` 1024 (the context limit; the old `n_ctx` key
/// is ignored, as transformers ignores it), `n_inner` `4 * n_embd`, `layer_norm_epsilon` 1e-5,
/// `tie_word_embeddings` true, `bos_token_id` = `eos_token_id` = 50256 — kept only when it is
/// inside the vocabulary (an id the model cannot produce never ends a generation, so dropping it
/// changes nothing).
///
/// Rejected with ``FormatError/unsupported(_:)``: `activation_function` other than `gelu_new`,
/// `scale_attn_weights` false, `scale_attn_by_inverse_layer_idx` or `reorder_and_upcast_attn` or
/// `add_cross_attention` true.
public struct GPT2HFConfig: Sendable, Equatable {
    public var nEmbd: Int
    public var nLayer: Int
    public var nHead: Int
    public var nInner: Int?
    public var vocabSize: Int
    public var nPositions: Int
    public var layerNormEpsilon: Double
    public var tieWordEmbeddings: Bool
    public var bosTokenId: Int?
    public var eosTokenId: Int?

    public init(nEmbd: Int, nLayer: Int, nHead: Int, nInner: Int? = nil, vocabSize: Int, nPositions: Int,
                layerNormEpsilon: Double = 1e-5, tieWordEmbeddings: Bool = true, bosTokenId: Int? = nil, eosTokenId: Int? = nil) {
        self.nEmbd = nEmbd
        self.nLayer = nLayer
        self.nHead = nHead
        self.nInner = nInner
        self.vocabSize = vocabSize
        self.nPositions = nPositions
        self.layerNormEpsilon = layerNormEpsilon
        self.tieWordEmbeddings = tieWordEmbeddings
        self.bosTokenId = bosTokenId
        self.eosTokenId = eosTokenId
    }

    /// The feed-forward width: `n_inner`, or `4 * n_embd` when it is null.
    public var resolvedInner: Int { nInner ?? 4 * nEmbd }

    /// Parses a `config.json`. Throws ``FormatError/invalidJSON(_:)``, ``FormatError/missingKey(_:)``,
    /// ``FormatError/wrongType(key:expected:)`` (naming the key) or ``FormatError/unsupported(_:)``.
    public init(jsonData: Data) throws {
        let reader = ConfigReader(json: try configObject(jsonData))
        let modelType = try reader.string("model_type")
        guard modelType == "gpt2" else {
            throw FormatError.unsupported("config.json model_type \"\(modelType)\" — this reader takes \"gpt2\"")
        }
        if let activation = try reader.optionalString("activation_function"), activation != "gelu_new" {
            throw FormatError.unsupported("config.json activation_function \"\(activation)\" — GPT-2 is implemented with \"gelu_new\" (the tanh approximation) only")
        }
        if try reader.optionalBool("scale_attn_weights") == false {
            throw FormatError.unsupported("config.json scale_attn_weights is false — only scaled attention (1/√head_dim) is implemented")
        }
        for key in ["scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn", "add_cross_attention"] where try reader.optionalBool(key) == true {
            throw FormatError.unsupported("config.json \(key) is true — not implemented for GPT-2")
        }
        nEmbd = try reader.positiveInt("n_embd")
        nLayer = try reader.positiveInt("n_layer")
        nHead = try reader.positiveInt("n_head")
        nInner = try reader.optionalPositiveInt("n_inner")
        vocabSize = try reader.positiveInt("vocab_size")
        nPositions = try reader.optionalPositiveInt("n_positions") ?? 1024
        layerNormEpsilon = try reader.optionalDouble("layer_norm_epsilon") ?? 1e-5
        tieWordEmbeddings = try reader.optionalBool("tie_word_embeddings") ?? true
        let present = Set(reader.json.keys)
        let defaultID: Int? = 50256 < vocabSize ? 50256 : nil
        bosTokenId = present.contains("bos_token_id") ? try reader.optionalTokenId("bos_token_id") : defaultID
        eosTokenId = present.contains("eos_token_id") ? try reader.optionalTokenId("eos_token_id") : defaultID
        if !layerNormEpsilon.isFinite || !(layerNormEpsilon > 0) {
            throw FormatError.wrongType(key: "layer_norm_epsilon", expected: "a finite positive number, got \(layerNormEpsilon)")
        }
        try checkTokenIDs([("bos_token_id", bosTokenId), ("eos_token_id", eosTokenId)], vocabularySize: vocabSize)
    }

    /// The config as transformers writes a `GPT2Config` (keys sorted, two-space indentation):
    /// `"model_type": "gpt2"`, `"architectures": ["GPT2LMHeadModel"]`, `"activation_function":
    /// "gelu_new"`, `"n_inner"` (null when nil). `bos_token_id`/`eos_token_id` are written as null
    /// when nil, so transformers does not substitute its 50256.
    public func jsonData() -> Data {
        sortedJSONObject([
            ("activation_function", "\"gelu_new\""),
            ("architectures", "[\n    \"GPT2LMHeadModel\"\n  ]"),
            ("bos_token_id", bosTokenId.map { "\($0)" } ?? "null"),
            ("eos_token_id", eosTokenId.map { "\($0)" } ?? "null"),
            ("layer_norm_epsilon", "\(layerNormEpsilon)"),
            ("model_type", "\"gpt2\""),
            ("n_embd", "\(nEmbd)"),
            ("n_head", "\(nHead)"),
            ("n_inner", nInner.map { "\($0)" } ?? "null"),
            ("n_layer", "\(nLayer)"),
            ("n_positions", "\(nPositions)"),
            ("scale_attn_weights", "true"),
            ("tie_word_embeddings", tieWordEmbeddings ? "true" : "false"),
            ("torch_dtype", "\"float32\""),
            ("vocab_size", "\(vocabSize)"),
        ])
    }
}

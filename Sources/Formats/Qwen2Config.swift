import Foundation

/// The fields of a Hugging Face `config.json` with `"model_type": "qwen2"` that Touchstone uses.
///
/// Required: `hidden_size`, `intermediate_size`, `num_hidden_layers`, `num_attention_heads`,
/// `vocab_size`. The others take `transformers`' `Qwen2Config` defaults when absent:
/// `num_key_value_heads` 32 (the class default, not `num_attention_heads`), `max_position_embeddings`
/// 32768, `rms_norm_eps` 1e-6, `rope_theta` 10000 (read from `rope_parameters.rope_theta` when the
/// file uses transformers 5's form, else from the top-level `rope_theta`), `tie_word_embeddings`
/// false, `head_dim` `hidden_size / num_attention_heads`, `bos_token_id`/`eos_token_id` none.
///
/// Rejected with ``FormatError/unsupported(_:)`` rather than ignored: `use_sliding_window` true
/// or a `layer_types` entry other than `"full_attention"` (sliding-window layers), a RoPE type
/// other than `"default"` (`rope_scaling`, or `rope_parameters.rope_type`), and `hidden_act`
/// other than `silu`.
public struct Qwen2HFConfig: Sendable, Equatable {
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var numKeyValueHeads: Int
    public var vocabSize: Int
    public var maxPositionEmbeddings: Int
    /// `head_dim` when given; otherwise the model uses `hiddenSize / numAttentionHeads`.
    public var headDim: Int?
    public var rmsNormEps: Double
    public var ropeTheta: Double
    public var tieWordEmbeddings: Bool
    public var bosTokenId: Int?
    public var eosTokenId: Int?

    public init(hiddenSize: Int, intermediateSize: Int, numHiddenLayers: Int, numAttentionHeads: Int,
                numKeyValueHeads: Int, vocabSize: Int, maxPositionEmbeddings: Int, headDim: Int? = nil,
                rmsNormEps: Double, ropeTheta: Double, tieWordEmbeddings: Bool,
                bosTokenId: Int? = nil, eosTokenId: Int? = nil) {
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.numHiddenLayers = numHiddenLayers
        self.numAttentionHeads = numAttentionHeads
        self.numKeyValueHeads = numKeyValueHeads
        self.vocabSize = vocabSize
        self.maxPositionEmbeddings = maxPositionEmbeddings
        self.headDim = headDim
        self.rmsNormEps = rmsNormEps
        self.ropeTheta = ropeTheta
        self.tieWordEmbeddings = tieWordEmbeddings
        self.bosTokenId = bosTokenId
        self.eosTokenId = eosTokenId
    }

    /// Parses a `config.json`. Throws ``FormatError/invalidJSON(_:)``, ``FormatError/missingKey(_:)``,
    /// ``FormatError/wrongType(key:expected:)`` (naming the key) or ``FormatError/unsupported(_:)``.
    public init(jsonData: Data) throws {
        let json = try configObject(jsonData)
        let reader = ConfigReader(json: json)
        let modelType = try reader.string("model_type")
        guard modelType == "qwen2" else {
            throw FormatError.unsupported("config.json model_type \"\(modelType)\" — this reader takes \"qwen2\"")
        }
        if try reader.optionalBool("use_sliding_window") == true {
            throw FormatError.unsupported("config.json use_sliding_window is true — Qwen2's sliding-window layers are not implemented (every layer attends fully); set it to false only if the model was trained without the window")
        }
        if let types = json["layer_types"], !(types is NSNull) {
            guard let list = types as? [Any], list.allSatisfy({ $0 is String }) else {
                throw FormatError.wrongType(key: "layer_types", expected: "a list of strings")
            }
            if let other = (list as! [String]).first(where: { $0 != "full_attention" }) {
                throw FormatError.unsupported("config.json layer_types lists \"\(other)\" — only full-attention layers are implemented for Qwen2")
            }
        }
        if let activation = try reader.optionalString("hidden_act"), activation != "silu" {
            throw FormatError.unsupported("config.json hidden_act \"\(activation)\" — Qwen2 models use \"silu\"")
        }
        if let scaling = json["rope_scaling"], !(scaling is NSNull) {
            throw FormatError.unsupported("config.json rope_scaling is set — RoPE scaling (linear, dynamic, yarn) is not implemented")
        }
        var theta = try reader.optionalDouble("rope_theta")
        if let parameters = json["rope_parameters"], !(parameters is NSNull) {
            guard let object = parameters as? [String: Any] else {
                throw FormatError.wrongType(key: "rope_parameters", expected: "an object")
            }
            let rope = ConfigReader(json: object)
            if let type = try rope.optionalString("rope_type"), type != "default" {
                throw FormatError.unsupported("config.json rope_parameters.rope_type \"\(type)\" — only the default RoPE is implemented")
            }
            if let t = try rope.optionalDouble("rope_theta") { theta = t }
        }
        hiddenSize = try reader.positiveInt("hidden_size")
        intermediateSize = try reader.positiveInt("intermediate_size")
        numHiddenLayers = try reader.positiveInt("num_hidden_layers")
        numAttentionHeads = try reader.positiveInt("num_attention_heads")
        numKeyValueHeads = try reader.optionalPositiveInt("num_key_value_heads") ?? 32
        vocabSize = try reader.positiveInt("vocab_size")
        maxPositionEmbeddings = try reader.optionalPositiveInt("max_position_embeddings") ?? 32768
        headDim = try reader.optionalPositiveInt("head_dim")
        rmsNormEps = try reader.optionalDouble("rms_norm_eps") ?? 1e-6
        ropeTheta = theta ?? 10000
        tieWordEmbeddings = try reader.optionalBool("tie_word_embeddings") ?? false
        bosTokenId = try reader.optionalTokenId("bos_token_id")
        eosTokenId = try reader.optionalTokenId("eos_token_id")
        if !ropeTheta.isFinite || !(ropeTheta > 0) {
            throw FormatError.wrongType(key: "rope_theta", expected: "a finite positive number, got \(ropeTheta)")
        }
        if !rmsNormEps.isFinite || !(rmsNormEps > 0) {
            throw FormatError.wrongType(key: "rms_norm_eps", expected: "a finite positive number, got \(rmsNormEps)")
        }
        try checkTokenIDs([("bos_token_id", bosTokenId), ("eos_token_id", eosTokenId)], vocabularySize: vocabSize)
    }

    /// The config as transformers 5 writes a `Qwen2Config`: keys sorted, two-space indentation,
    /// `"model_type": "qwen2"`, `"architectures": ["Qwen2ForCausalLM"]`, `"hidden_act": "silu"`,
    /// `"use_sliding_window": false`, `"rope_parameters": {"rope_theta": θ, "rope_type": "default"}`.
    /// Optional fields that are nil are omitted.
    public func jsonData() -> Data {
        var fields: [(String, String)] = [
            ("architectures", "[\n    \"Qwen2ForCausalLM\"\n  ]"),
            ("hidden_act", "\"silu\""),
            ("hidden_size", "\(hiddenSize)"),
            ("intermediate_size", "\(intermediateSize)"),
            ("max_position_embeddings", "\(maxPositionEmbeddings)"),
            ("model_type", "\"qwen2\""),
            ("num_attention_heads", "\(numAttentionHeads)"),
            ("num_hidden_layers", "\(numHiddenLayers)"),
            ("num_key_value_heads", "\(numKeyValueHeads)"),
            ("rms_norm_eps", "\(rmsNormEps)"),
            ("rope_parameters", "{\n    \"rope_theta\": \(ropeTheta),\n    \"rope_type\": \"default\"\n  }"),
            ("tie_word_embeddings", tieWordEmbeddings ? "true" : "false"),
            ("torch_dtype", "\"float32\""),
            ("use_sliding_window", "false"),
            ("vocab_size", "\(vocabSize)"),
        ]
        if let headDim { fields.append(("head_dim", "\(headDim)")) }
        if let bosTokenId { fields.append(("bos_token_id", "\(bosTokenId)")) }
        if let eosTokenId { fields.append(("eos_token_id", "\(eosTokenId)")) }
        return sortedJSONObject(fields)
    }
}

/// The `model_type` of a Hugging Face `config.json` (nil when absent). Throws
/// ``FormatError/invalidJSON(_:)`` or ``FormatError/wrongType(key:expected:)``.
public func huggingFaceModelType(configJSON data: Data) throws -> String? {
    try ConfigReader(json: try configObject(data)).optionalString("model_type")
}

/// The top-level object of a `config.json`.
func configObject(_ data: Data) throws -> [String: Any] {
    let root: Any
    do {
        root = try JSONSerialization.jsonObject(with: data, options: [])
    } catch {
        throw FormatError.invalidJSON("config.json: \(error.localizedDescription)")
    }
    guard let json = root as? [String: Any] else { throw FormatError.invalidJSON("config.json must be a JSON object") }
    return json
}

/// Throws ``FormatError/wrongType(key:expected:)`` for a special-token id outside the vocabulary.
func checkTokenIDs(_ ids: [(String, Int?)], vocabularySize: Int) throws {
    for (key, id) in ids {
        if let id, !(0..<vocabularySize).contains(id) {
            throw FormatError.wrongType(key: key, expected: "a token id in [0, vocab_size = \(vocabularySize)), got \(id)")
        }
    }
}

/// `{ "key": value, … }` with the keys sorted and two-space indentation, as Hugging Face writes
/// config files; `fields` hold already-serialized values.
func sortedJSONObject(_ fields: [(String, String)]) -> Data {
    let body = fields.sorted { $0.0 < $1.0 }.map { "  \"\($0.0)\": \($0.1)" }.joined(separator: ",\n")
    return Data(("{\n" + body + "\n}\n").utf8)
}

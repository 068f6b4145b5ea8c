import Foundation

/// The fields of a Hugging Face `config.json` with `"model_type": "llama"` that Touchstone uses.
///
/// Reading (``init(jsonData:)``) requires `hidden_size`, `intermediate_size`,
/// `num_hidden_layers`, `num_attention_heads`, `vocab_size` and `rms_norm_eps`; the others take
/// the `transformers` `LlamaConfig` defaults when absent: `num_key_value_heads` =
/// `num_attention_heads`, `max_position_embeddings` 2048, `rope_theta` 10000,
/// `tie_word_embeddings` false, `head_dim`/`bos_token_id`/`eos_token_id` nil. Configs that need
/// behaviour Touchstone does not implement are rejected with ``FormatError/unsupported(_:)``:
/// a non-null `rope_scaling`, `hidden_act` other than `silu`, `attention_bias` or `mlp_bias` true.
public struct LlamaHFConfig: Sendable, Equatable {
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

    /// The head dimension actually used: `headDim ?? hiddenSize / numAttentionHeads`.
    public var resolvedHeadDim: Int { headDim ?? hiddenSize / max(numAttentionHeads, 1) }

    /// Parses a `config.json`. Throws ``FormatError/invalidJSON(_:)``,
    /// ``FormatError/missingKey(_:)``, ``FormatError/wrongType(key:expected:)`` (naming the key),
    /// or ``FormatError/unsupported(_:)`` (non-llama `model_type`, `rope_scaling`, ...).
    /// `eos_token_id` may also be a one-element list.
    public init(jsonData: Data) throws {
        let root: Any
        do {
            root = try JSONSerialization.jsonObject(with: jsonData, options: [])
        } catch {
            throw FormatError.invalidJSON("config.json: \(error.localizedDescription)")
        }
        guard let json = root as? [String: Any] else { throw FormatError.invalidJSON("config.json must be a JSON object") }
        let reader = ConfigReader(json: json)

        let modelType = try reader.string("model_type")
        guard modelType == "llama" else {
            throw FormatError.unsupported("config.json model_type \"\(modelType)\" — this reader takes \"llama\" (Touchstone also reads \"qwen2\" and \"gpt2\")")
        }
        if let scaling = json["rope_scaling"], !(scaling is NSNull) {
            throw FormatError.unsupported("config.json rope_scaling is set — RoPE scaling (linear, dynamic, llama3, yarn) is not implemented; remove it only if the model does not rely on it")
        }
        if let activation = try reader.optionalString("hidden_act"), activation != "silu" {
            throw FormatError.unsupported("config.json hidden_act \"\(activation)\" — Llama models use \"silu\"")
        }
        for key in ["attention_bias", "mlp_bias"] where try reader.optionalBool(key) == true {
            throw FormatError.unsupported("config.json \(key) is true — biases in Llama projections are not implemented")
        }

        hiddenSize = try reader.positiveInt("hidden_size")
        intermediateSize = try reader.positiveInt("intermediate_size")
        numHiddenLayers = try reader.positiveInt("num_hidden_layers")
        numAttentionHeads = try reader.positiveInt("num_attention_heads")
        numKeyValueHeads = try reader.optionalPositiveInt("num_key_value_heads") ?? numAttentionHeads
        vocabSize = try reader.positiveInt("vocab_size")
        maxPositionEmbeddings = try reader.optionalPositiveInt("max_position_embeddings") ?? 2048
        headDim = try reader.optionalPositiveInt("head_dim")
        rmsNormEps = try reader.double("rms_norm_eps")
        ropeTheta = try reader.optionalDouble("rope_theta") ?? 10000
        tieWordEmbeddings = try reader.optionalBool("tie_word_embeddings") ?? false
        bosTokenId = try reader.optionalTokenId("bos_token_id")
        eosTokenId = try reader.optionalTokenId("eos_token_id")
        if !ropeTheta.isFinite || !(ropeTheta > 0) {
            throw FormatError.wrongType(key: "rope_theta", expected: "a finite positive number, got \(ropeTheta)")
        }
        for (key, id) in [("bos_token_id", bosTokenId), ("eos_token_id", eosTokenId)] {
            if let id, !(0..<vocabSize).contains(id) {
                throw FormatError.wrongType(key: key, expected: "a token id in [0, vocab_size = \(vocabSize)), got \(id)")
            }
        }
    }

    /// The config as Hugging Face writes it: keys sorted, two-space indentation, with
    /// `"model_type": "llama"`, `"architectures": ["LlamaForCausalLM"]`, `"hidden_act": "silu"`,
    /// `"torch_dtype": "float32"` and `"rope_scaling": null`. Optional fields that are nil are
    /// omitted. Doubles use Swift's shortest round-trip form (e.g. `1e-05`).
    public func jsonData() -> Data {
        var fields: [(String, String)] = [
            ("architectures", "[\n    \"LlamaForCausalLM\"\n  ]"),
            ("hidden_act", "\"silu\""),
            ("hidden_size", "\(hiddenSize)"),
            ("intermediate_size", "\(intermediateSize)"),
            ("max_position_embeddings", "\(maxPositionEmbeddings)"),
            ("model_type", "\"llama\""),
            ("num_attention_heads", "\(numAttentionHeads)"),
            ("num_hidden_layers", "\(numHiddenLayers)"),
            ("num_key_value_heads", "\(numKeyValueHeads)"),
            ("rms_norm_eps", "\(rmsNormEps)"),
            ("rope_scaling", "null"),
            ("rope_theta", "\(ropeTheta)"),
            ("tie_word_embeddings", tieWordEmbeddings ? "true" : "false"),
            ("torch_dtype", "\"float32\""),
            ("vocab_size", "\(vocabSize)"),
        ]
        if let headDim { fields.append(("head_dim", "\(headDim)")) }
        if let bosTokenId { fields.append(("bos_token_id", "\(bosTokenId)")) }
        if let eosTokenId { fields.append(("eos_token_id", "\(eosTokenId)")) }
        fields.sort { $0.0 < $1.0 }
        let body = fields.map { "  \"\($0.0)\": \($0.1)" }.joined(separator: ",\n")
        return Data(("{\n" + body + "\n}\n").utf8)
    }
}

/// Typed access to a decoded JSON object, throwing errors that name the key.
struct ConfigReader {
    let json: [String: Any]

    private func isBool(_ number: NSNumber) -> Bool {
        let code = String(cString: number.objCType)
        return code == "c" || code == "B"
    }

    private func present(_ key: String) -> Any? {
        guard let value = json[key], !(value is NSNull) else { return nil }
        return value
    }

    func string(_ key: String) throws -> String {
        guard let value = try optionalString(key) else { throw FormatError.missingKey(key) }
        return value
    }

    func optionalString(_ key: String) throws -> String? {
        guard let value = present(key) else { return nil }
        guard let text = value as? String else { throw FormatError.wrongType(key: key, expected: "a string") }
        return text
    }

    func optionalInt(_ key: String) throws -> Int? {
        guard let value = present(key) else { return nil }
        guard let number = value as? NSNumber, !isBool(number), let int = value as? Int,
              Double(int) == number.doubleValue else {
            throw FormatError.wrongType(key: key, expected: "an integer")
        }
        return int
    }

    func optionalPositiveInt(_ key: String) throws -> Int? {
        guard let value = try optionalInt(key) else { return nil }
        guard value > 0 else { throw FormatError.wrongType(key: key, expected: "a positive integer") }
        return value
    }

    func positiveInt(_ key: String) throws -> Int {
        guard let value = try optionalPositiveInt(key) else { throw FormatError.missingKey(key) }
        return value
    }

    func optionalDouble(_ key: String) throws -> Double? {
        guard let value = present(key) else { return nil }
        guard let number = value as? NSNumber, !isBool(number) else {
            throw FormatError.wrongType(key: key, expected: "a number")
        }
        return number.doubleValue
    }

    func double(_ key: String) throws -> Double {
        guard let value = try optionalDouble(key) else { throw FormatError.missingKey(key) }
        return value
    }

    func optionalBool(_ key: String) throws -> Bool? {
        guard let value = present(key) else { return nil }
        guard let number = value as? NSNumber, isBool(number) else {
            throw FormatError.wrongType(key: key, expected: "true or false")
        }
        return number.boolValue
    }

    /// An integer token id, or a one-element list of one.
    func optionalTokenId(_ key: String) throws -> Int? {
        if let list = present(key) as? [Any] {
            guard list.count == 1 else {
                throw FormatError.wrongType(key: key, expected: "a single token id (lists of several ids are not supported)")
            }
            return try ConfigReader(json: [key: list[0]]).optionalInt(key)
        }
        return try optionalInt(key)
    }
}

import Formats

/// How a head's dimensions are paired for RoPE, which is also the row order of its Q/K
/// projection rows.
public enum RoPELayout: String, Sendable, Equatable, Codable {
    /// Pairs `(2i, 2i + 1)`: llama.cpp's "normal" RoPE and the row order of Llama GGUF files
    /// (Hugging Face Llama rows are permuted into it on load).
    case adjacentPairs
    /// Pairs `(i, i + hd/2)`: Hugging Face's `rotate_half`, llama.cpp's NEOX RoPE (Qwen2), rows as stored.
    case halves
}

/// The shape of a Llama-family model (RMSNorm, RoPE, grouped-query attention, SwiGLU), and the
/// two options that make it Qwen2: biases on the Q, K and V projections, and RoPE on halves.
public struct LlamaConfiguration: Sendable, Equatable, Codable {
    public var hiddenSize: Int           // C
    public var intermediateSize: Int     // FFN width
    public var layerCount: Int
    public var headCount: Int
    public var kvHeadCount: Int
    public var headDimension: Int
    public var vocabularySize: Int       // V
    public var contextLength: Int
    /// The RMSNorm epsilon, as the Float32 value used in the sum (1e-5 is 9.999999747e-06).
    public var rmsNormEpsilon: Float
    public var ropeTheta: Double
    /// Number of leading dimensions of each head that are rotated (usually `headDimension`).
    public var ropeDimension: Int
    public var tiedEmbeddings: Bool
    /// `.adjacentPairs` for Llama, `.halves` for Qwen2.
    public var ropeLayout: RoPELayout
    /// Whether the Q, K and V projections add a bias (Qwen2; never the output projection).
    public var attentionBiases: Bool

    public init(hiddenSize: Int, intermediateSize: Int, layerCount: Int, headCount: Int, kvHeadCount: Int,
                headDimension: Int? = nil, vocabularySize: Int, contextLength: Int, rmsNormEpsilon: Float,
                ropeTheta: Double, ropeDimension: Int? = nil, tiedEmbeddings: Bool,
                ropeLayout: RoPELayout = .adjacentPairs, attentionBiases: Bool = false) {
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.layerCount = layerCount
        self.headCount = headCount
        self.kvHeadCount = kvHeadCount
        let hd = headDimension ?? hiddenSize / max(1, headCount)
        self.headDimension = hd
        self.vocabularySize = vocabularySize
        self.contextLength = contextLength
        self.rmsNormEpsilon = rmsNormEpsilon
        self.ropeTheta = ropeTheta
        self.ropeDimension = ropeDimension ?? hd
        self.tiedEmbeddings = tiedEmbeddings
        self.ropeLayout = ropeLayout
        self.attentionBiases = attentionBiases
    }

    /// Whether this is a Qwen2 configuration (Q/K/V biases and RoPE on halves), for reports.
    public var isQwen2: Bool { attentionBiases && ropeLayout == .halves }

    /// The architecture-independent shape decoding algorithms see.
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
                              ("vocabulary size", vocabularySize), ("context length", contextLength)] where value <= 0 {
            try fail("\(name) must be positive, got \(value)")
        }
        if headCount % kvHeadCount != 0 { try fail("head count \(headCount) is not a multiple of the KV head count \(kvHeadCount)") }
        if headDimension % 2 != 0 || ropeDimension % 2 != 0 || ropeDimension > headDimension {
            try fail("RoPE needs an even dimension ≤ the head dimension (head \(headDimension), rope \(ropeDimension))")
        }
        if !(rmsNormEpsilon > 0) || !rmsNormEpsilon.isFinite { try fail("rms_norm_eps must be finite and positive, got \(rmsNormEpsilon)") }
        if !(ropeTheta > 0) || !ropeTheta.isFinite { try fail("rope theta (rope.freq_base / rope_theta) must be finite and positive, got \(ropeTheta)") }
    }

    /// The configuration described by a Hugging Face `config.json`.
    public init(_ hf: LlamaHFConfig) {
        self.init(hiddenSize: hf.hiddenSize, intermediateSize: hf.intermediateSize, layerCount: hf.numHiddenLayers,
                  headCount: hf.numAttentionHeads, kvHeadCount: hf.numKeyValueHeads, headDimension: hf.headDim,
                  vocabularySize: hf.vocabSize, contextLength: hf.maxPositionEmbeddings,
                  rmsNormEpsilon: Float(hf.rmsNormEps), ropeTheta: hf.ropeTheta, tiedEmbeddings: hf.tieWordEmbeddings)
    }

    /// The Hugging Face `config.json` fields for this configuration.
    public func huggingFaceConfig(bosTokenId: Int? = nil, eosTokenId: Int? = nil) -> LlamaHFConfig {
        LlamaHFConfig(hiddenSize: hiddenSize, intermediateSize: intermediateSize, numHiddenLayers: layerCount,
                      numAttentionHeads: headCount, numKeyValueHeads: kvHeadCount, vocabSize: vocabularySize,
                      maxPositionEmbeddings: contextLength, headDim: headDimension == hiddenSize / headCount ? nil : headDimension,
                      rmsNormEps: Double(rmsNormEpsilon), ropeTheta: ropeTheta, tieWordEmbeddings: tiedEmbeddings,
                      bosTokenId: bosTokenId, eosTokenId: eosTokenId)
    }
}

/// Errors from building or running a model. Each description says what to do.
public enum ModelError: Error, CustomStringConvertible, Equatable {
    case invalidConfiguration(String)
    case missingTensor(String)
    case tensorShape(name: String, expected: [Int], found: [Int])
    case unsupportedArchitecture(String)
    case tokenOutOfRange(token: Int, vocabularySize: Int)
    case contextOverflow(needed: Int, limit: Int)
    case invalidInput(String)
    /// A prompt longer than the context allows: `promptTokens` plus `newTokens` asked for, against
    /// the context `limit` (generation needs room for at least one new token).
    case promptTooLong(promptTokens: Int, newTokens: Int, limit: Int)
    /// A forward pass produced NaN or infinity: `layer` is the first transformer block (0-based)
    /// whose output holds a non-finite value, or nil when every block's output is finite and the
    /// final norm or output head made it; `position` is the first such sequence position.
    case nonFiniteActivations(layer: Int?, position: Int)

    public var description: String {
        switch self {
        case .invalidConfiguration(let m): return "invalid model configuration: \(m)"
        case .missingTensor(let n): return "tensor \(n) is missing from the model file — is this a complete checkpoint of its architecture?"
        case .tensorShape(let n, let e, let f): return "tensor \(n): expected shape \(e), file has \(f) — the file does not match its configuration"
        case .unsupportedArchitecture(let a): return "architecture '\(a)' is not supported yet (supported: llama, gemma3, qwen2, gpt2)"
        case .tokenOutOfRange(let t, let v): return "token id \(t) is outside the vocabulary [0, \(v)) of this model — every id given to the model must be below \(v)"
        case .contextOverflow(let n, let l): return "the sequence needs \(n) positions but the model's context is \(l) — use a shorter prompt or fewer new tokens"
        case .invalidInput(let m): return m
        case .promptTooLong(let p, let n, let l):
            let asked = n > 0 ? "the prompt has \(p) tokens and \(n) new tokens were asked (\(p + n) positions)" : "the prompt has \(p) tokens (\(p) positions)"
            let most = n > 0 ? "\(l - 1) tokens (generation stops at the context limit)" : "\(l) tokens"
            return "\(asked), but the model's context is \(l) positions — use a prompt of at most \(most)"
        case .nonFiniteActivations(let layer, let position):
            let place = layer.map { "the output of layer \($0) (counting from 0)" } ?? "the logits (every layer's output is finite: the final norm or the output head made them)"
            return "the forward pass produced NaN or infinite values, first in \(place) at position \(position) — the model's weights are corrupt or overflow Float32; check the model file (re-fetch it with `touchstone fetch`, or re-export it)"
        }
    }
}

import Tensors

/// What decoding algorithms need to know about a model's size: enough to size a KV cache, read
/// layer taps and bound a generation. Every architecture reports it the same way.
public struct ModelShape: Sendable, Equatable {
    /// Transformer blocks (`L`). Layer taps and `truncated(toLayers:)` count these.
    public var layerCount: Int
    /// Width of the residual stream (`C`).
    public var hiddenSize: Int
    /// Query heads (`H`).
    public var headCount: Int
    /// Key/value heads (`KVH`); `H` is a multiple of it.
    public var kvHeadCount: Int
    /// Floats per head (`hd`).
    public var headDimension: Int
    /// Rows of the output head (`V`).
    public var vocabularySize: Int
    /// The most positions a sequence may use.
    public var contextLength: Int
    /// Whether the output head is the token-embedding matrix (DoLa skips layer 0 then).
    public var tiedEmbeddings: Bool

    public init(layerCount: Int, hiddenSize: Int, headCount: Int, kvHeadCount: Int, headDimension: Int,
                vocabularySize: Int, contextLength: Int, tiedEmbeddings: Bool) {
        self.layerCount = layerCount
        self.hiddenSize = hiddenSize
        self.headCount = headCount
        self.kvHeadCount = kvHeadCount
        self.headDimension = headDimension
        self.vocabularySize = vocabularySize
        self.contextLength = contextLength
        self.tiedEmbeddings = tiedEmbeddings
    }

    /// Floats one token occupies in one layer of the KV cache's keys (or values): `KVH * hd`.
    public var kvRowWidth: Int { kvHeadCount * headDimension }
}

/// A causal language model as decoding algorithms, fixtures and harnesses see it: a shape, one
/// forward pass over new tokens after a KV cache (positions, attention mask, which rows get
/// logits, optional per-layer taps), and the pieces a few algorithms read directly (the layer-0
/// input of a token and the output head, for DoLa and VocabTrim).
///
/// Conformances: `LlamaModel`, `Gemma3Model`. An architecture file adds one conformance; strategies never name a
/// concrete architecture.
///
/// Contract every conformance keeps (tested per architecture):
/// - D2: results do not depend on `pool`'s thread count.
/// - D3: the logits of a token depend only on the slots it sees, their contents and its position,
///   never on the batch it was computed in.
public protocol CausalLanguageModel: AnyObject, Sendable {
    var shape: ModelShape { get }
    /// Where the weights came from (file name, or "synthetic seed N"), for reports and fixtures.
    var origin: String { get }

    /// One forward pass over `tokens` (`T` new tokens) after the tokens already in `cache`, which
    /// it extends by `T` slots.
    ///
    /// - Parameters:
    ///   - positions: position id of each new token; nil = `cache.length + i` (causal, explicit)
    ///     or `cache.length + depth` (tree).
    ///   - mask: which cached and new tokens each new token sees.
    ///   - logitRows: which rows get logits.
    ///   - taps: `taps.layerOutputs` also returns each layer's residual output and the final-norm
    ///     output; `taps.intermediatesOfLayer` records that layer's named intermediates, in forward order,
    /// into `ForwardResult.intermediates` (their names and operations: `intermediateDescriptions`).
    /// Taps copy arrays and change no arithmetic: the logits are bit-identical with or without
    /// them (tested per architecture). Throws `ModelError.invalidInput` for a layer outside
    /// `0..<shape.layerCount`. An architecture that records no intermediates throws
    /// `ModelError.invalidInput` when asked for them and returns `[]` descriptions.
    func forward(tokens: [Int], positions: [Int]?, mask: AttentionMask, cache: KVCache, logitRows: LogitRows,
                 taps: ForwardTaps, pool: ParallelFor) throws -> ForwardResult

    /// The intermediates this architecture records for one layer, in forward order. Names are
    /// the architecture's own; Llama's (`LlamaModel.intermediateDescriptions`) are `attn_norm`,
    /// `q_proj`, `k_proj`, `v`, `q`, `k`, `attn_output`, `attn_projection`, `attn_residual`,
    /// `ffn_norm`, `gate`, `up`, `swiglu`, `mlp_output`; another architecture reuses a name only
    /// for the same operation, so dumps of two architectures compare where they agree.
    var intermediateDescriptions: [IntermediateDescription] { get }

    /// Writes the input of layer 0 for `token` (`[C]`): Hugging Face's `hidden_states[0]`.
    func embed(token: Int, into destination: UnsafeMutablePointer<Float>)

    /// The output head `[V, C]`, applied to final-norm outputs to give logits.
    var outputHead: WeightMatrix { get }

    /// The same model cut to its first `layerCount` layers, sharing every weight (final norm and
    /// output head included): the draft of self-speculative (layer-skip) decoding.
    func truncated(toLayers layerCount: Int) throws -> any CausalLanguageModel

    /// Bytes of weights streamed per single-token forward pass (for bandwidth bounds).
    var weightBytesPerToken: Int { get }

    /// When true, every product and attention score takes the naive scalar path (bit-identical;
    /// for tests and for measuring the fast kernels).
    var useNaiveKernels: Bool { get set }

    /// MLP neurons overwritten with constants at every position of every forward pass
    /// (`NeuronClamp`); empty by default. `setNeuronClamps` validates and replaces them (throws
    /// `ModelError.invalidInput` for an out-of-range layer or neuron); an architecture without
    /// clamping throws for a non-empty list (the default implementation).
    var neuronClamps: [NeuronClamp] { get }
    func setNeuronClamps(_ clamps: [NeuronClamp]) throws

    /// The final norm applied to `rows` residual vectors (`[rows, C]` → `[rows, C]`), exactly as
    /// the forward pass applies it before the output head: the logit lens's `RMSNorm_g`. The
    /// default implementation throws (an architecture that does not expose it).
    func applyFinalNorm(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>) throws

    /// How every later forward pass attends (`.full` by default; `.tidal` for TidalDecode's
    /// sparse attention, see `SparseAttentionPass`). Strategies and commands need no code of
    /// their own: they run under whatever mode the model carries. A mode that does not fit the
    /// model makes `forward` throw `ModelError.invalidInput`. Models made by `truncated(toLayers:)`
    /// start with `.full`.
    var attentionMode: AttentionMode { get set }
}

extension ModelShape {
    /// The checks every architecture's forward pass makes before computing: the tapped layer
    /// exists, there is at least one token, every token is in the vocabulary, and the cache was
    /// made for this shape. Throws `ModelError` naming what is wrong.
    public func validateForward(tokens: [Int], cache: KVCache, taps: ForwardTaps) throws {
        if let l = taps.intermediatesOfLayer, l < 0 || l >= layerCount {
            throw ModelError.invalidInput("intermediates of layer \(l) requested; the model's layers are 0...\(layerCount - 1)")
        }
        guard !tokens.isEmpty else { throw ModelError.invalidInput("forward needs at least one token") }
        for t in tokens where t < 0 || t >= vocabularySize { throw ModelError.tokenOutOfRange(token: t, vocabularySize: vocabularySize) }
        guard cache.layerCount == layerCount, cache.rowWidth == kvRowWidth else {
            throw ModelError.invalidInput("the KV cache was made for another model (\(cache.layerCount) layers × \(cache.rowWidth) floats per token; this model needs \(layerCount) × \(kvRowWidth))")
        }
    }
}

extension CausalLanguageModel {
    /// `forward` with the common defaults (causal mask, default positions, last row's logits);
    /// `tapLayers` is `ForwardTaps(layerOutputs:)`.
    public func forward(tokens: [Int], positions: [Int]? = nil, mask: AttentionMask = .causal, cache: KVCache,
                        logitRows: LogitRows = .last, tapLayers: Bool = false, pool: ParallelFor = .shared) throws -> ForwardResult {
        try forward(tokens: tokens, positions: positions, mask: mask, cache: cache, logitRows: logitRows,
                    taps: ForwardTaps(layerOutputs: tapLayers), pool: pool)
    }

    /// `forward(…taps:…)` with the common defaults: causal mask, default positions, last row's logits.
    public func forward(tokens: [Int], positions: [Int]? = nil, mask: AttentionMask = .causal, cache: KVCache,
                        logitRows: LogitRows = .last, taps: ForwardTaps, pool: ParallelFor = .shared) throws -> ForwardResult {
        try forward(tokens: tokens, positions: positions, mask: mask, cache: cache, logitRows: logitRows, taps: taps, pool: pool)
    }

    /// An empty KV cache for this model with room for `initialCapacity` slots (it grows up to the
    /// context length).
    public func makeCache(initialCapacity: Int = 256) -> KVCache {
        KVCache(shape: shape, initialCapacity: initialCapacity)
    }
}

/// What a forward pass records besides its logits. The default records nothing (and copies
/// nothing).
public struct ForwardTaps: Sendable, Equatable {
    /// Each layer's residual output (`ForwardResult.layerOutputs`) and the final-norm output.
    public var layerOutputs: Bool
    /// The layer (0-based, GGUF's `blk.N`) whose named intermediates are recorded
    /// (`ForwardResult.intermediates`), or nil.
    public var intermediatesOfLayer: Int?
    /// The final-norm output alone (`ForwardResult.finalNormOutput`, `[T, C]`), without the
    /// per-layer copies: what Medusa's heads read. `layerOutputs` implies it.
    public var finalNormOutput: Bool

    public init(layerOutputs: Bool = false, intermediatesOfLayer: Int? = nil, finalNormOutput: Bool = false) {
        self.layerOutputs = layerOutputs
        self.intermediatesOfLayer = intermediatesOfLayer
        self.finalNormOutput = finalNormOutput
    }

    /// Records nothing.
    public static let none = ForwardTaps()
}

/// One named array a forward pass recorded inside a layer: `[T, width]`, row-major, one row per
/// new token of the batch.
public struct Intermediate: Sendable, Equatable {
    /// The architecture's name for it (`CausalLanguageModel.intermediateDescriptions`).
    public var name: String
    public var shape: [Int]
    public var values: [Float]

    public init(name: String, shape: [Int], values: [Float]) {
        self.name = name
        self.shape = shape
        self.values = values
    }
}

/// The name of an intermediate and the operation that produces it, for manifests and reports.
public struct IntermediateDescription: Sendable, Equatable {
    public var name: String
    public var operation: String

    public init(name: String, operation: String) {
        self.name = name
        self.operation = operation
    }
}

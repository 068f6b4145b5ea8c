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
/// Conformances: `LlamaModel` (Llama and Qwen2), `Gemma3Model`, `GPT2Model`. An architecture file adds one conformance; strategies never name a
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
    ///   - inputEmbeddings: layer-0 inputs given for some rows instead of their tokens' embeddings
    ///     (`InputEmbeddings`; nil = every row embeds its token). The rows are validated before the
    ///     cache changes (`ModelError.invalidInput`).
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
    ///
    /// The call without `inputEmbeddings` (`forward(tokens:positions:mask:cache:logitRows:taps:pool:)`)
    /// passes nil.
    func forward(tokens: [Int], inputEmbeddings: InputEmbeddings?, positions: [Int]?, mask: AttentionMask, cache: KVCache,
                 logitRows: LogitRows, taps: ForwardTaps, pool: ParallelFor) throws -> ForwardResult

    /// The intermediates this architecture records for one layer, in forward order. Names are
    /// the architecture's own; Llama's (`LlamaModel.intermediateDescriptions`) are `attn_norm`,
    /// `q_proj`, `k_proj`, `v`, `q`, `k`, `attn_output`, `attn_projection`, `attn_residual`,
    /// `ffn_norm`, `gate`, `up`, `swiglu`, `mlp_output`; another architecture reuses a name only
    /// for the same operation, so dumps of two architectures compare where they agree.
    var intermediateDescriptions: [IntermediateDescription] { get }

    /// Writes the input of layer 0 for `token` (`[C]`): Hugging Face's `hidden_states[0]`. For
    /// an architecture with learned positions (GPT-2) this is the token's part only; use
    /// `embed(token:position:into:)` for the layer-0 input at a position.
    func embed(token: Int, into destination: UnsafeMutablePointer<Float>)

    /// Writes the input of layer 0 for `token` at sequence `position` (`[C]`): Hugging Face's
    /// `hidden_states[0]` at that position. The default implementation ignores the position
    /// (`embed(token:into:)`: Llama, Gemma 3, Qwen2 add positions inside attention, by RoPE);
    /// GPT-2 adds its learned position embedding.
    func embed(token: Int, position: Int, into destination: UnsafeMutablePointer<Float>)

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

extension ModelShape {
    /// The position ids of a batch of `T` new tokens after `cacheLength` cached ones: `positions`,
    /// or the mask's defaults (`cacheLength + i`, or `+ depth` for a tree). Throws
    /// `ModelError.invalidInput` for a wrong count or a negative id and `contextOverflow` for an
    /// id at or past the context length.
    public func batchPositions(_ positions: [Int]?, mask: AttentionMask, cacheLength: Int, batch T: Int) throws -> [Int] {
        let pos = positions ?? mask.defaultPositions(cacheLength: cacheLength, batch: T)
        guard pos.count == T else { throw ModelError.invalidInput("\(pos.count) positions for \(T) tokens") }
        for p in pos where p < 0 { throw ModelError.invalidInput("position ids must be non-negative, got \(p)") }
        for p in pos where p >= contextLength { throw ModelError.contextOverflow(needed: p + 1, limit: contextLength) }
        return pos
    }
}

extension LogitRows {
    /// The batch indices that get logits, in order, for a batch of `T` tokens. Throws
    /// `ModelError.invalidInput` for a row outside the batch.
    public func indices(batch T: Int) throws -> [Int] {
        switch self {
        case .all: return Array(0..<T)
        case .last: return [T - 1]
        case .none: return []
        case .rows(let r):
            for i in r where i < 0 || i >= T { throw ModelError.invalidInput("logit row \(i) outside the batch of \(T)") }
            return r
        }
    }
}

/// `y = W x` for `tokens` rows of `x` (`[tokens, W.columns]` → `[tokens, W.rows]`), on the naive
/// scalar path or the fast kernels (bit-identical).
func product(_ w: WeightMatrix, _ x: [Float], tokens: Int, into y: inout [Float], naive: Bool, pool: ParallelFor) {
    x.withUnsafeBufferPointer { xp in
        y.withUnsafeMutableBufferPointer { yp in
            if naive {
                w.multiplyNaive(xp.baseAddress!, tokens: tokens, into: yp.baseAddress!)
            } else {
                w.multiply(xp.baseAddress!, tokens: tokens, into: yp.baseAddress!, pool: pool)
            }
        }
    }
}

/// The logits `[rows.count, V]` of the chosen batch rows of the final-norm output `xn`
/// (`[T, C]`): the rows are gathered, then one product with the output head.
func headLogits(_ head: WeightMatrix, _ xn: [Float], rows: [Int], naive: Bool, pool: ParallelFor) -> [Float] {
    var logits = [Float](repeating: 0, count: rows.count * head.rows)
    if rows.isEmpty { return logits }
    let C = head.columns
    var selected = [Float](repeating: 0, count: rows.count * C)
    for (i, r) in rows.enumerated() {
        for j in 0..<C { selected[i * C + j] = xn[r * C + j] }
    }
    product(head, selected, tokens: rows.count, into: &logits, naive: naive, pool: pool)
    return logits
}

/// `x[i] = x[i] + y[i]` over the whole array (the residual add).
func addInPlace(_ x: inout [Float], _ y: [Float]) {
    x.withUnsafeMutableBufferPointer { xp in
        y.withUnsafeBufferPointer { yp in Kernels.add(yp.baseAddress!, into: xp.baseAddress!, count: xp.count) }
    }
}

/// `y[t] = y[t] + bias` for each of `tokens` rows of `y` (`[tokens, bias.count]`): one addition per element.
func addBias(_ y: inout [Float], _ bias: [Float], tokens: Int) {
    y.withUnsafeMutableBufferPointer { yp in
        bias.withUnsafeBufferPointer { bp in
            for t in 0..<tokens { Kernels.add(bp.baseAddress!, into: yp.baseAddress! + t * bp.count, count: bp.count) }
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

    /// `forward(…taps:…)` with the common defaults: causal mask, default positions, last row's
    /// logits, no input embeddings.
    public func forward(tokens: [Int], positions: [Int]? = nil, mask: AttentionMask = .causal, cache: KVCache,
                        logitRows: LogitRows = .last, taps: ForwardTaps, pool: ParallelFor = .shared) throws -> ForwardResult {
        try forward(tokens: tokens, inputEmbeddings: nil, positions: positions, mask: mask, cache: cache, logitRows: logitRows, taps: taps, pool: pool)
    }

    /// The layer-0 input of a position-free architecture: `embed(token:into:)`.
    public func embed(token: Int, position: Int, into destination: UnsafeMutablePointer<Float>) {
        embed(token: token, into: destination)
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

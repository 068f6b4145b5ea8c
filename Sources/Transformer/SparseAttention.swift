import Tensors
import Formats

/// How a model's forward pass attends: ordinary full attention, or a sparse-attention mode.
///
/// It reaches the forward pass as a property of the model (`CausalLanguageModel.attentionMode`,
/// like `useNaiveKernels`), so every decoding strategy and `touchstone logits` run under it
/// without code of their own. A forward pass asks `SparseAttentionPass` what to do in each layer.
public enum AttentionMode: Sendable, Equatable {
    /// Every layer attends to every visible slot (the default).
    case full
    /// TidalDecode's position-persistent sparse attention.
    case tidal(TidalDecode)

    /// The mode's parameters as a fixture or a `generate --json` record lists them (snake_case
    /// keys): empty for `.full`, so a record names sparse attention only when it is on.
    public var record: [(String, JSONValue)] {
        switch self {
        case .full: return []
        case .tidal(let t):
            return [("sparse_attention", .string("tidal")), ("token_budget", .int(t.tokenBudget)),
                    ("selection_layer", .int(t.selectionLayer)), ("reselection_layer", .int(t.reselectionLayer))]
        }
    }

    /// Throws `ModelError.invalidInput` (saying what to change) unless the mode fits a model of
    /// `layerCount` layers.
    public func validate(layerCount: Int) throws {
        if case .tidal(let t) = self { try t.validate(layerCount: layerCount) }
    }
}

/// TidalDecode: Fast and Accurate LLM Decoding with Position Persistent Sparse Attention (Yang,
/// Zhang, Chen, Li, Jia, ICLR 2025, arXiv:2410.05076), as its Python reference
/// (`llama_tidal_attention_forward`) computes it.
///
/// - Prefill (the pass that starts from an empty cache: query length == key length): full
///   causal attention in every layer, no selection.
/// - Every other pass, per query row: layers `< s` attend fully. Layers `s` and `r` (the
///   selection layers) attend fully and then, per query head, keep the `K' = min(K, visible)`
///   visible slots with the largest raw scores `q·k/√d` (ties: lower slot). Every later layer
///   attends only to the slots kept by the latest selection layer before it (`s+1 … r−1` use
///   layer `s`'s, `r+1 … L−1` layer `r`'s). `r ≤ s` gives one selection layer (`s`).
/// - The selection lives only inside one forward pass (recomputed at every decoding step).
/// - A pass of several new tokens after a non-empty cache (speculative verification, Lookahead,
///   draft trees) selects per query row, each row over the slots its mask lets it see: a row's
///   result is the same as when it is decoded alone (D3 holds outside prefill).
public struct TidalDecode: Sendable, Equatable {
    /// How restricted layers compute their attention. Both give the same bits (tested).
    public enum Path: String, Sendable, Equatable, CaseIterable {
        /// The reference: every visible slot scored, unselected scores set to the Float32
        /// minimum, softmax and weighted sum over every visible slot.
        case masked
        /// The fast path: only the selected key and value rows are read.
        case gathered
    }

    /// `K`, the token budget per head (`top_k`).
    public var tokenBudget: Int
    /// `s`, the first selection layer (`sparse_layer_start`), 0-based.
    public var selectionLayer: Int
    /// `r`, the re-selection layer (`correction_layer`), 0-based; `r ≤ s` means none.
    public var reselectionLayer: Int
    public var path: Path

    public init(tokenBudget: Int = TidalDecode.defaultTokenBudget, selectionLayer: Int, reselectionLayer: Int, path: Path = .gathered) {
        self.tokenBudget = tokenBudget
        self.selectionLayer = selectionLayer
        self.reselectionLayer = reselectionLayer
        self.path = path
    }

    /// `enable_tidal`'s default budget.
    public static let defaultTokenBudget = 256

    /// The reference's defaults (s = 2, r = 13 of Llama-3-8B's 32 layers) scaled to `layerCount`
    /// layers and rounded half up: `s = ⌊(2L + 16) / 32⌋`, `r = ⌊(13L + 16) / 32⌋`. SmolLM2's 30
    /// layers give s = 2, r = 12 (r ≈ 0.4 L, as the kernel implementation's 12 of 32 too).
    public static func defaults(layerCount: Int, tokenBudget: Int = defaultTokenBudget) -> TidalDecode {
        TidalDecode(tokenBudget: tokenBudget, selectionLayer: (2 * layerCount + 16) / 32, reselectionLayer: (13 * layerCount + 16) / 32)
    }

    /// Throws `ModelError.invalidInput` unless `K ≥ 1` and both layers are in `0..<layerCount`.
    public func validate(layerCount: Int) throws {
        if tokenBudget < 1 {
            throw ModelError.invalidInput("TidalDecode's token budget must be at least 1, got \(tokenBudget) (--token-budget K)")
        }
        for (name, flag, layer) in [("selection layer", "--selection-layer", selectionLayer), ("re-selection layer", "--reselection-layer", reselectionLayer)]
        where layer < 0 || layer >= layerCount {
            throw ModelError.invalidInput("TidalDecode's \(name) \(layer) is not a layer of this model: use 0...\(layerCount - 1) (\(flag); a re-selection layer at or before the selection layer means no re-selection)")
        }
    }
}

/// One forward pass's view of the attention mode: which layers attend fully, which select, and
/// the per-head selection carried from layer to layer (TidalDecode's `pos_dict`, reset at the
/// start of every forward). An architecture's forward makes one per pass and calls `attend` in
/// place of `Attention.scaledDotProduct`.
public struct SparseAttentionPass {
    let tidal: TidalDecode?
    /// Per (token, head), `t * heads + h`: the slots kept by the latest selection layer.
    public private(set) var selection: [[Int]]?

    /// - Parameters:
    ///   - cacheLength: slots in the cache before this pass; 0 makes it a prefill (full
    ///     attention everywhere).
    public init(mode: AttentionMode, layerCount: Int, cacheLength: Int) throws {
        try mode.validate(layerCount: layerCount)
        if case .tidal(let t) = mode, cacheLength > 0 { tidal = t } else { tidal = nil }
    }

    /// Layer `layer`'s attention, `[T, heads * hd]` into `output` (the arguments of
    /// `Attention.scaledDotProduct`).
    public mutating func attend(layer: Int, queries: UnsafePointer<Float>, heads: Int, keysAndValues kv: TiledKeyValues,
                                visibleSlots visible: [[Int]], scale: Float, naive: Bool,
                                into output: UnsafeMutablePointer<Float>, pool: ParallelFor) {
        guard let t = tidal, layer >= t.selectionLayer else {
            Attention.scaledDotProduct(queries: queries, heads: heads, keysAndValues: kv, visibleSlots: visible, scale: scale,
                                       naive: naive, into: output, pool: pool)
            return
        }
        if layer == t.selectionLayer || layer == t.reselectionLayer {
            Attention.scaledDotProduct(queries: queries, heads: heads, keysAndValues: kv, visibleSlots: visible, scale: scale,
                                       naive: naive, into: output, pool: pool)
            let kept = Attention.selectTopSlots(queries: queries, heads: heads, keysAndValues: kv, visibleSlots: visible,
                                                scale: scale, budget: t.tokenBudget, pool: pool)
            selection = kept
            return
        }
        guard let kept = selection else { preconditionFailure("layer \(layer) > s = \(t.selectionLayer) runs after layer s selected") }
        switch t.path {
        case .masked:
            Attention.maskedScaledDotProduct(queries: queries, heads: heads, keysAndValues: kv, visibleSlots: visible,
                                             selectedSlots: kept, scale: scale, into: output, pool: pool)
        case .gathered:
            Attention.selectedScaledDotProduct(queries: queries, heads: heads, keysAndValues: kv, selectedSlots: kept,
                                               scale: scale, into: output, pool: pool)
        }
    }
}

import Tensors

/// Which rows of a forward pass get logits.
public enum LogitRows: Sendable, Equatable {
    case all
    case last
    case none
    /// Batch indices, in the order given.
    case rows([Int])
}

/// What a forward pass returns.
public struct ForwardResult {
    /// Batch indices that have logits, in the order of `logits`' rows.
    public var logitRows: [Int]
    /// `[logitRows.count, V]`, row-major.
    public var logits: [Float]
    /// When requested: the residual stream after each layer, `[layers][T, C]`.
    public var layerOutputs: [[Float]]?
    /// When requested: the final-norm output, `[T, C]` (the input of the output head).
    public var finalNormOutput: [Float]?
    /// When requested (`ForwardTaps.intermediatesOfLayer`): the named intermediates of that
    /// layer, in forward order (names: `LlamaModel.intermediateDescriptions`).
    public var intermediates: [Intermediate]? = nil
    public let vocabularySize: Int

    /// Logits of the `i`-th row with logits.
    public func logits(row i: Int) -> ArraySlice<Float> {
        logits[(i * vocabularySize)..<((i + 1) * vocabularySize)]
    }
}

extension LlamaModel {
    /// The intermediates `forward(…taps:…)` records for one layer, in forward order. Every array
    /// is `[T, width]`, row-major, one row per new token. Q and K are in the model's GGUF row
    /// order (each head's dimensions permuted for adjacent-pair RoPE): GGUF column `2i + p` of a
    /// head is Hugging Face column `p·hd/2 + i` (`permuteForHalfRoPE` with `columns: 1` per row,
    /// applied to each token's row, converts).
    public static let intermediateDescriptions: [IntermediateDescription] = [
        .init(name: "attn_norm", operation: "RMSNorm(x) · attn_norm.weight (x: the layer's input)"),
        .init(name: "q_proj", operation: "Wq · attn_norm, before RoPE (GGUF row order)"),
        .init(name: "k_proj", operation: "Wk · attn_norm, before RoPE (GGUF row order)"),
        .init(name: "v", operation: "Wv · attn_norm"),
        .init(name: "q", operation: "RoPE(q_proj), adjacent pairs, GGUF row order"),
        .init(name: "k", operation: "RoPE(k_proj), adjacent pairs, GGUF row order"),
        .init(name: "attn_output", operation: "softmax(q·kᵀ / √hd) · v per head over the visible slots, before Wo"),
        .init(name: "attn_projection", operation: "Wo · attn_output"),
        .init(name: "attn_residual", operation: "x + attn_projection (the input of the feed-forward block)"),
        .init(name: "ffn_norm", operation: "RMSNorm(attn_residual) · ffn_norm.weight"),
        .init(name: "gate", operation: "Wgate · ffn_norm, before SiLU"),
        .init(name: "up", operation: "Wup · ffn_norm"),
        .init(name: "swiglu", operation: "SiLU(gate) ⊙ up (the input of Wdown)"),
        .init(name: "mlp_output", operation: "Wdown · swiglu (the layer's output is attn_residual + mlp_output)"),
    ]

    /// Qwen2's intermediates: Llama's names, with the Q/K/V biases and RoPE on halves (rows as stored).
    public static let qwen2IntermediateDescriptions: [IntermediateDescription] = intermediateDescriptions.map { d in
        switch d.name {
        case "q_proj": return .init(name: d.name, operation: "Wq · attn_norm + bq, before RoPE")
        case "k_proj": return .init(name: d.name, operation: "Wk · attn_norm + bk, before RoPE")
        case "v": return .init(name: d.name, operation: "Wv · attn_norm + bv")
        case "q": return .init(name: d.name, operation: "RoPE(q_proj), halves (i, i + hd/2), rows as stored")
        case "k": return .init(name: d.name, operation: "RoPE(k_proj), halves (i, i + hd/2), rows as stored")
        default: return d
        }
    }

    public var intermediateDescriptions: [IntermediateDescription] {
        configuration.isQwen2 ? LlamaModel.qwen2IntermediateDescriptions : LlamaModel.intermediateDescriptions
    }

    /// One forward pass over `tokens` (the batch, `T` new tokens) after the tokens already in
    /// `cache`, which it extends by `T` slots.
    ///
    /// - Parameters:
    ///   - inputEmbeddings: layer-0 inputs given for some rows in place of `E[token]`
    ///     (`InputEmbeddings`; soft prompts), validated before the cache changes; nil = none.
    ///   - positions: position id of each new token (RoPE); default `cache.length + i` (causal,
    ///     explicit) or `cache.length + depth` (tree).
    ///   - mask: which cached and new tokens each new token sees.
    ///   - logitRows: which rows get logits (the output head is the largest product, so skip
    ///     rows you do not need).
    ///   - taps: what to record besides the logits: each layer's residual output and the
    ///     final-norm output (`layerOutputs`), and the named intermediates of one layer
    ///     (`intermediatesOfLayer`, see `intermediateDescriptions`). Recording copies arrays and
    ///     changes no arithmetic: logits are bit-identical with any taps; with none, nothing is
    ///     copied.
    ///
    /// Batch invariance (D3): a token's logits depend only on the slots it sees, their contents
    /// and its position, never on the batch it was computed in — every product keeps its
    /// per-output reduction order, and attention visits the visible slots in increasing order.
    public func forward(tokens: [Int], inputEmbeddings: InputEmbeddings?, positions: [Int]? = nil, mask: AttentionMask = .causal, cache: KVCache,
                        logitRows: LogitRows = .last, taps: ForwardTaps, pool: ParallelFor = .shared) throws -> ForwardResult {
        let c = configuration
        let T = tokens.count
        let tapLayers = taps.layerOutputs
        try shape.validateForward(tokens: tokens, cache: cache, taps: taps)
        try inputEmbeddings?.validate(batch: T, hiddenSize: shape.hiddenSize)
        let base = cache.length
        // Full attention, or the sparse-attention mode's per-layer plan for this pass.
        var sparse = try SparseAttentionPass(mode: attentionMode, layerCount: c.layerCount, cacheLength: base)
        let visible = try mask.visibleSlots(cacheLength: base, batch: T)
        let pos = try shape.batchPositions(positions, mask: mask, cacheLength: base, batch: T)
        let rowsWithLogits = try logitRows.indices(batch: T)
        let first = try cache.append(count: T, positions: pos)

        let C = c.hiddenSize, hd = c.headDimension, H = c.headCount, KVH = c.kvHeadCount
        let qWidth = H * hd, kvWidth = KVH * hd, F = c.intermediateSize
        let scale = 1 / Float(hd).squareRoot()

        // Scratch, [T, width] each.
        var x = [Float](repeating: 0, count: T * C)            // residual stream
        var xn = [Float](repeating: 0, count: T * C)           // normalized input of a block
        var q = [Float](repeating: 0, count: T * qWidth)
        var k = [Float](repeating: 0, count: T * kvWidth)
        var v = [Float](repeating: 0, count: T * kvWidth)
        var attention = [Float](repeating: 0, count: T * qWidth)
        var projected = [Float](repeating: 0, count: T * C)
        var gate = [Float](repeating: 0, count: T * F)
        var up = [Float](repeating: 0, count: T * F)
        var layerOutputs: [[Float]] = []
        var intermediates: [Intermediate] = []

        // RoPE tables per token: angle_i = Float(pos) * invFreq_i in Float32 (as Hugging Face
        // computes it), cos/sin of that Float32 angle evaluated in Float64 and rounded once.
        let half = c.ropeDimension / 2
        var cosTable = [Float](repeating: 0, count: T * half)
        var sinTable = [Float](repeating: 0, count: T * half)
        let invFreq = ropeInverseFrequencies
        for t in 0..<T {
            for i in 0..<half {
                let angle = Double(Float(pos[t]) * invFreq[i])
                cosTable[t * half + i] = Float(DeterministicMath.cos(angle))
                sinTable[t * half + i] = Float(DeterministicMath.sin(angle))
            }
        }

        // Token embeddings: x[t] = E[token[t]]  // [T, C]
        x.withUnsafeMutableBufferPointer { xp in
            for t in 0..<T { tokenEmbedding.decodeRow(tokens[t], into: xp.baseAddress! + t * C) }
            inputEmbeddings?.write(into: xp.baseAddress!, hiddenSize: C)  // given layer-0 inputs replace E[token]
        }

        for (li, layer) in layers.enumerated() {
            // Intermediates are copies taken between operations (copy-on-write snapshots).
            let recording = taps.intermediatesOfLayer == li
            func record(_ name: String, _ values: [Float], width: Int) {
                intermediates.append(Intermediate(name: name, shape: [T, width], values: values))
            }
            // xn = RMSNorm(x) · attention_norm  // [T, C]
            normalize(x, weight: layer.attentionNorm, into: &xn, tokens: T)
            // q = Wq xn [T, H*hd]; k = Wk xn, v = Wv xn [T, KVH*hd]
            multiply(layer.wq, xn, T, &q, pool)
            multiply(layer.wk, xn, T, &k, pool)
            multiply(layer.wv, xn, T, &v, pool)
            // Qwen2: q += bq, k += bk, v += bv per token (the product first, then one addition).
            if let b = layer.qBias { addBias(&q, b, tokens: T) }
            if let b = layer.kBias { addBias(&k, b, tokens: T) }
            if let b = layer.vBias { addBias(&v, b, tokens: T) }
            if recording {
                record("attn_norm", xn, width: C)
                record("q_proj", q, width: qWidth)
                record("k_proj", k, width: kvWidth)
                record("v", v, width: kvWidth)
            }
            // RoPE on every head of q and k: adjacent pairs in GGUF row order (Llama), or halves
            // with rows as stored (Qwen2).
            let rope = c.ropeLayout == .halves ? Kernels.ropeHalves : Kernels.ropeAdjacentPairs
            q.withUnsafeMutableBufferPointer { qp in
                k.withUnsafeMutableBufferPointer { kp in
                    cosTable.withUnsafeBufferPointer { cp in
                        sinTable.withUnsafeBufferPointer { sp in
                            for t in 0..<T {
                                for h in 0..<H { rope(qp.baseAddress! + t * qWidth + h * hd, cp.baseAddress! + t * half, sp.baseAddress! + t * half, 2 * half) }
                                for h in 0..<KVH { rope(kp.baseAddress! + t * kvWidth + h * hd, cp.baseAddress! + t * half, sp.baseAddress! + t * half, 2 * half) }
                            }
                        }
                    }
                }
            }
            if recording {
                record("q", q, width: qWidth)
                record("k", k, width: kvWidth)
            }
            // Append k, v to the cache at slots first..<first+T.
            k.withUnsafeBufferPointer { kp in
                v.withUnsafeBufferPointer { vp in cache.store(layer: li, first: first, count: T, keys: kp.baseAddress!, values: vp.baseAddress!) }
            }
            // attention = softmax(q·Kᵀ · scale) V per head over each token's visible slots  // [T, H*hd]
            q.withUnsafeBufferPointer { qp in
                attention.withUnsafeMutableBufferPointer { ap in
                    sparse.attend(layer: li, queries: qp.baseAddress!, heads: H, keysAndValues: cache.keysAndValues(layer: li), visibleSlots: visible,
                                  scale: scale, naive: useNaiveKernels, into: ap.baseAddress!, pool: pool)
                }
            }
            // x = x + Wo · attention
            multiply(layer.wo, attention, T, &projected, pool)
            addInPlace(&x, projected)
            if recording {
                record("attn_output", attention, width: qWidth)
                record("attn_projection", projected, width: C)
                record("attn_residual", x, width: C)
            }

            // Feed-forward: x = x + Wdown (silu(Wgate xn) ⊙ (Wup xn)), xn = RMSNorm(x) · ffn_norm
            normalize(x, weight: layer.ffnNorm, into: &xn, tokens: T)
            multiply(layer.wGate, xn, T, &gate, pool)
            multiply(layer.wUp, xn, T, &up, pool)
            applyNeuronClamps(layer: li, site: .up, to: &up, tokens: T)  // NeuronClamp.swift
            if recording {
                record("ffn_norm", xn, width: C)
                record("gate", gate, width: F)
                record("up", up, width: F)
            }
            gate.withUnsafeMutableBufferPointer { gp in
                up.withUnsafeBufferPointer { upp in
                    Kernels.swiGLU(gate: gp.baseAddress!, up: upp.baseAddress!, count: T * F, into: gp.baseAddress!)
                }
            }
            applyNeuronClamps(layer: li, site: .gated, to: &gate, tokens: T)
            multiply(layer.wDown, gate, T, &projected, pool)
            addInPlace(&x, projected)
            if recording {
                record("swiglu", gate, width: F)
                record("mlp_output", projected, width: C)
            }
            if tapLayers { layerOutputs.append(x) }
        }

        // Final norm, then the output head for the requested rows.
        normalize(x, weight: outputNorm, into: &xn, tokens: T)
        let logits = headLogits(output, xn, rows: rowsWithLogits, naive: useNaiveKernels, pool: pool)
        return ForwardResult(logitRows: rowsWithLogits, logits: logits,
                             layerOutputs: tapLayers ? layerOutputs : nil,
                             finalNormOutput: tapLayers || taps.finalNormOutput ? xn : nil,
                             intermediates: taps.intermediatesOfLayer == nil ? nil : intermediates,
                             vocabularySize: c.vocabularySize)
    }

    /// RoPE inverse frequencies `1 / theta^(2i/d)` in Float32, as Hugging Face computes them:
    /// exponent `Float(2i) / Float(d)` rounded to Float32, the power evaluated in Float64 and
    /// rounded, then the Float32 reciprocal.
    public var ropeInverseFrequencies: [Float] {
        let d = configuration.ropeDimension
        return (0..<(d / 2)).map { i in
            let exponent = Float(2 * i) / Float(d)
            let power = Float(DeterministicMath.pow(configuration.ropeTheta, Double(exponent)))
            return 1 / power
        }
    }

    // MARK: helpers

    private func normalize(_ x: [Float], weight: [Float], into out: inout [Float], tokens: Int) {
        let C = configuration.hiddenSize, eps = configuration.rmsNormEpsilon
        x.withUnsafeBufferPointer { xp in
            weight.withUnsafeBufferPointer { wp in
                out.withUnsafeMutableBufferPointer { op in
                    for t in 0..<tokens {
                        Kernels.rmsNorm(xp.baseAddress! + t * C, weight: wp.baseAddress!, epsilon: eps, count: C, into: op.baseAddress! + t * C)
                    }
                }
            }
        }
    }

    private func multiply(_ w: WeightMatrix, _ x: [Float], _ tokens: Int, _ y: inout [Float], _ pool: ParallelFor) {
        product(w, x, tokens: tokens, into: &y, naive: useNaiveKernels, pool: pool)
    }
}

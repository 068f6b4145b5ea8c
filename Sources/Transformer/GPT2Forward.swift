import Tensors

extension GPT2Model {
    /// The intermediates `forward(…taps:…)` records for one layer, in forward order; every array
    /// is `[T, width]`. Names shared with Llama name the same step of the block.
    public static let intermediateDescriptions: [IntermediateDescription] = [
        .init(name: "attn_norm", operation: "LayerNorm(x) · ln_1.weight + ln_1.bias (x: the layer's input)"),
        .init(name: "qkv", operation: "Wqkv · attn_norm + bqkv, [T, 3C] (columns: Q, then K, then V)"),
        .init(name: "q", operation: "columns [0, C) of qkv (no RoPE)"),
        .init(name: "k", operation: "columns [C, 2C) of qkv"),
        .init(name: "v", operation: "columns [2C, 3C) of qkv"),
        .init(name: "attn_output", operation: "softmax(q·kᵀ / √hd) · v per head over the visible slots, before c_proj"),
        .init(name: "attn_projection", operation: "Wo · attn_output + bo (attn.c_proj)"),
        .init(name: "attn_residual", operation: "x + attn_projection (the input of the feed-forward block)"),
        .init(name: "ffn_norm", operation: "LayerNorm(attn_residual) · ln_2.weight + ln_2.bias"),
        .init(name: "up", operation: "Wfc · ffn_norm + bfc (mlp.c_fc), before GELU"),
        .init(name: "gelu", operation: "gelu_new(up), the tanh approximation (the input of mlp.c_proj)"),
        .init(name: "mlp_output", operation: "Wproj · gelu + bproj (the layer's output is attn_residual + mlp_output)"),
    ]

    public var intermediateDescriptions: [IntermediateDescription] { GPT2Model.intermediateDescriptions }

    /// One forward pass over `tokens` (`T` new tokens) after the tokens already in `cache`,
    /// following Hugging Face's `GPT2LMHeadModel` in Float32 (`attn_implementation="eager"`):
    ///
    ///     x = wte[ids] + wpe[positions]                               // [T, C]; positions < n_positions
    ///     per block:
    ///       a = LN(x; ln_1);  qkv = Wqkv a + bqkv                      // [T, 3C] → q, k, v [T, C] each
    ///       o = softmax(q·kᵀ · hd^-0.5 over visible slots) · v         // H heads, no grouped KV
    ///       x = x + (Wo o + bo)
    ///       m = LN(x; ln_2);  x = x + (Wproj gelu_new(Wfc m + bfc) + bproj)
    ///     logits = wte · LN(x; ln_f)                                   // tied head, no bias
    ///
    /// `LN` is `Kernels.layerNorm` (sums left to right, biased variance, eps from the config);
    /// every bias is added after its product, one rounding per element. D2 and D3 hold as for
    /// Llama: products keep each output's reduction order and attention visits a token's visible
    /// slots in increasing order; the position embedding depends only on the token's position.
    public func forward(tokens: [Int], inputEmbeddings: InputEmbeddings?, positions: [Int]? = nil, mask: AttentionMask = .causal, cache: KVCache,
                        logitRows: LogitRows = .last, taps: ForwardTaps, pool: ParallelFor = .shared) throws -> ForwardResult {
        let c = configuration
        let T = tokens.count
        let tapLayers = taps.layerOutputs
        try shape.validateForward(tokens: tokens, cache: cache, taps: taps)
        try inputEmbeddings?.validate(batch: T, hiddenSize: shape.hiddenSize)
        guard attentionMode == .full else {
            throw ModelError.invalidInput("sparse attention (--sparse-attention) is implemented for Llama-architecture models; GPT-2 attends fully")
        }
        let base = cache.length
        let visible = try mask.visibleSlots(cacheLength: base, batch: T)
        // The learned position embedding has n_positions rows: the hard context limit.
        let pos = try shape.batchPositions(positions, mask: mask, cacheLength: base, batch: T)
        let rowsWithLogits = try logitRows.indices(batch: T)
        let first = try cache.append(count: T, positions: pos)

        let C = c.hiddenSize, H = c.headCount, F = c.intermediateSize
        let eps = c.layerNormEpsilon

        // Scratch, [T, width] each.
        var x = [Float](repeating: 0, count: T * C)            // residual stream
        var xn = [Float](repeating: 0, count: T * C)           // normalized input of a block
        var qkv = [Float](repeating: 0, count: T * 3 * C)
        var q = [Float](repeating: 0, count: T * C)
        var k = [Float](repeating: 0, count: T * C)
        var v = [Float](repeating: 0, count: T * C)
        var attention = [Float](repeating: 0, count: T * C)
        var projected = [Float](repeating: 0, count: T * C)
        var up = [Float](repeating: 0, count: T * F)
        var layerOutputs: [[Float]] = []
        var intermediates: [Intermediate] = []

        // x[t] = wte[token[t]] + wpe[pos[t]]  // [T, C]; a given layer-0 input replaces wte[token[t]]
        x.withUnsafeMutableBufferPointer { xp in
            for t in 0..<T { embed(token: tokens[t], position: pos[t], into: xp.baseAddress! + t * C) }
            if let inputEmbeddings {
                inputEmbeddings.write(into: xp.baseAddress!, hiddenSize: C)
                withUnsafeTemporaryAllocation(of: Float.self, capacity: C) { p in
                    for r in inputEmbeddings.rows {
                        positionEmbedding.decodeRow(pos[r], into: p.baseAddress!)
                        Kernels.add(p.baseAddress!, into: xp.baseAddress! + r * C, count: C)
                    }
                }
            }
        }

        for (li, layer) in layers.enumerated() {
            let recording = taps.intermediatesOfLayer == li
            func record(_ name: String, _ values: [Float], width: Int) {
                intermediates.append(Intermediate(name: name, shape: [T, width], values: values))
            }
            // a = LN(x; ln_1); qkv = Wqkv a + bqkv  // [T, 3C], then split into q, k, v [T, C]
            layerNorm(x, layer.attentionNormWeight, layer.attentionNormBias, eps, into: &xn, rows: T)
            linear(layer.wqkv, layer.bqkv, xn, T, &qkv, pool)
            for t in 0..<T {
                for j in 0..<C {
                    q[t * C + j] = qkv[t * 3 * C + j]
                    k[t * C + j] = qkv[t * 3 * C + C + j]
                    v[t * C + j] = qkv[t * 3 * C + 2 * C + j]
                }
            }
            if recording {
                record("attn_norm", xn, width: C)
                record("qkv", qkv, width: 3 * C)
                record("q", q, width: C)
                record("k", k, width: C)
                record("v", v, width: C)
            }
            k.withUnsafeBufferPointer { kp in
                v.withUnsafeBufferPointer { vp in cache.store(layer: li, first: first, count: T, keys: kp.baseAddress!, values: vp.baseAddress!) }
            }
            // attention = softmax(q·Kᵀ · hd^-0.5) V per head  // [T, C]
            q.withUnsafeBufferPointer { qp in
                attention.withUnsafeMutableBufferPointer { ap in
                    Attention.scaledDotProduct(queries: qp.baseAddress!, heads: H, keysAndValues: cache.keysAndValues(layer: li),
                                               visibleSlots: visible, scale: c.attentionScale, naive: useNaiveKernels,
                                               into: ap.baseAddress!, pool: pool)
                }
            }
            // x = x + (Wo · attention + bo)
            linear(layer.wo, layer.bo, attention, T, &projected, pool)
            addInPlace(&x, projected)
            if recording {
                record("attn_output", attention, width: C)
                record("attn_projection", projected, width: C)
                record("attn_residual", x, width: C)
            }

            // Feed-forward: x = x + (Wproj gelu_new(Wfc m + bfc) + bproj), m = LN(x; ln_2)
            layerNorm(x, layer.ffnNormWeight, layer.ffnNormBias, eps, into: &xn, rows: T)
            linear(layer.wUp, layer.bUp, xn, T, &up, pool)
            if recording {
                record("ffn_norm", xn, width: C)
                record("up", up, width: F)
            }
            for i in 0..<(T * F) { up[i] = Kernels.geluTanh(up[i]) }
            linear(layer.wDown, layer.bDown, up, T, &projected, pool)
            addInPlace(&x, projected)
            if recording {
                record("gelu", up, width: F)
                record("mlp_output", projected, width: C)
            }
            if tapLayers { layerOutputs.append(x) }
        }

        // Final LayerNorm, then the (tied) output head for the requested rows.
        layerNorm(x, outputNormWeight, outputNormBias, eps, into: &xn, rows: T)
        let logits = headLogits(output, xn, rows: rowsWithLogits, naive: useNaiveKernels, pool: pool)
        return ForwardResult(logitRows: rowsWithLogits, logits: logits,
                             layerOutputs: tapLayers ? layerOutputs : nil,
                             finalNormOutput: tapLayers || taps.finalNormOutput ? xn : nil,
                             intermediates: taps.intermediatesOfLayer == nil ? nil : intermediates,
                             vocabularySize: c.vocabularySize)
    }

    // MARK: helpers

    /// `rows` LayerNorms of `C` floats each.
    private func layerNorm(_ x: [Float], _ weight: [Float], _ bias: [Float], _ eps: Float, into out: inout [Float], rows: Int) {
        let C = configuration.hiddenSize
        x.withUnsafeBufferPointer { xp in
            weight.withUnsafeBufferPointer { wp in
                bias.withUnsafeBufferPointer { bp in
                    out.withUnsafeMutableBufferPointer { op in
                        for r in 0..<rows {
                            Kernels.layerNorm(xp.baseAddress! + r * C, weight: wp.baseAddress!, bias: bp.baseAddress!, epsilon: eps,
                                              count: C, into: op.baseAddress! + r * C)
                        }
                    }
                }
            }
        }
    }

    /// `y[t] = W x[t] + b` for `tokens` rows: the product, then one addition per element.
    private func linear(_ w: WeightMatrix, _ b: [Float], _ x: [Float], _ tokens: Int, _ y: inout [Float], _ pool: ParallelFor) {
        multiply(w, x, tokens, &y, pool)
        addBias(&y, b, tokens: tokens)
    }

    private func multiply(_ w: WeightMatrix, _ x: [Float], _ tokens: Int, _ y: inout [Float], _ pool: ParallelFor) {
        product(w, x, tokens: tokens, into: &y, naive: useNaiveKernels, pool: pool)
    }
}

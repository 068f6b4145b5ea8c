import Tensors

extension Gemma3Model {
    /// The intermediates `forward(…taps:…)` records for one layer, in forward order; every array
    /// is `[T, width]`. Names shared with Llama (`attn_norm`, `q_proj`, `k_proj`, `v`, `q`, `k`,
    /// `attn_output`, `attn_projection`, `attn_residual`, `ffn_norm`, `gate`, `up`,
    /// `mlp_output`) name the same operation; Q and K are in Hugging Face order (halves RoPE).
    public static let intermediateDescriptions: [IntermediateDescription] = [
        .init(name: "attn_norm", operation: "RMSNorm(x) · attn_norm multiplier (x: the layer's input)"),
        .init(name: "q_proj", operation: "Wq · attn_norm, [T, H·hd]"),
        .init(name: "k_proj", operation: "Wk · attn_norm, [T, KVH·hd]"),
        .init(name: "v", operation: "Wv · attn_norm"),
        .init(name: "q_norm", operation: "RMSNorm(q_proj) · attn_q_norm multiplier, per head over hd"),
        .init(name: "k_norm", operation: "RMSNorm(k_proj) · attn_k_norm multiplier, per head over hd"),
        .init(name: "q", operation: "RoPE(q_norm), halves, the layer's base (local 10000 / global 1e6)"),
        .init(name: "k", operation: "RoPE(k_norm), halves"),
        .init(name: "attn_output", operation: "softmax(q·kᵀ · query_pre_attn_scalar^-0.5) · v per head over the visible slots (local layers: the last sliding_window positions), before Wo"),
        .init(name: "attn_projection", operation: "Wo · attn_output"),
        .init(name: "post_attention_norm", operation: "RMSNorm(attn_projection) · post_attention_norm multiplier"),
        .init(name: "attn_residual", operation: "x + post_attention_norm (the input of the feed-forward block)"),
        .init(name: "ffn_norm", operation: "RMSNorm(attn_residual) · ffn_norm multiplier (HF pre_feedforward_layernorm)"),
        .init(name: "gate", operation: "Wgate · ffn_norm, before GELU"),
        .init(name: "up", operation: "Wup · ffn_norm"),
        .init(name: "geglu", operation: "GELU-tanh(gate) ⊙ up (the input of Wdown)"),
        .init(name: "mlp_output", operation: "Wdown · geglu"),
        .init(name: "post_ffw_norm", operation: "RMSNorm(mlp_output) · post_ffw_norm multiplier (the layer's output is attn_residual + post_ffw_norm)"),
    ]

    public var intermediateDescriptions: [IntermediateDescription] { Gemma3Model.intermediateDescriptions }

    /// One forward pass over `tokens` (`T` new tokens) after the tokens already in `cache`,
    /// following Hugging Face's `Gemma3ForCausalLM` in Float32 (`attn_implementation="eager"`):
    ///
    ///     x = E[ids] * Float(√C)                                   // [T, C]
    ///     per layer l (local iff (l + 1) % 6 != 0):
    ///       h = rms(x) ⊙ g_in;  q = Wq h, k = Wk h, v = Wv h       // [T, H·hd], [T, KVH·hd] ×2
    ///       q = rms_head(q) ⊙ g_q;  k = rms_head(k) ⊙ g_k            // per head over hd, before RoPE
    ///       q, k = RoPE_halves(q, k, position, θ_l)                // θ: 10000 local, 1e6 global
    ///       o = softmax(q·kᵀ · 256^-0.5 over visible slots) · v     // local: slots with p − p_slot < W
    ///       x = x + rms(Wo o) ⊙ g_postAttn
    ///       m = rms(x) ⊙ g_preFfn
    ///       x = x + rms(Wdown (gelu_tanh(Wgate m) ⊙ Wup m)) ⊙ g_postFfn
    ///     logits = E · (rms(x) ⊙ g_final)                          // tied head, no soft-cap
    ///
    /// `rms(v) = v * (1 / sqrt(Σv²/n + eps))`, the sum left to right (`Kernels.rmsNorm`); every
    /// `g` is the norm's multiplier `1 + w`. Batch invariance (D3) and thread-count invariance
    /// (D2) hold as for Llama: products keep each output's reduction order, attention visits a
    /// token's visible slots in increasing order, and a local layer's window depends only on
    /// the token's own position and the slots' positions.
    public func forward(tokens: [Int], inputEmbeddings: InputEmbeddings?, positions: [Int]? = nil, mask: AttentionMask = .causal, cache: KVCache,
                        logitRows: LogitRows = .last, taps: ForwardTaps, pool: ParallelFor = .shared) throws -> ForwardResult {
        let c = configuration
        let T = tokens.count
        let tapLayers = taps.layerOutputs
        try shape.validateForward(tokens: tokens, cache: cache, taps: taps)
        try inputEmbeddings?.validate(batch: T, hiddenSize: shape.hiddenSize)
        guard attentionMode == .full else {
            throw ModelError.invalidInput("sparse attention (--sparse-attention) is implemented for Llama-architecture models; Gemma 3 attends fully")
        }
        let base = cache.length
        let visible = try mask.visibleSlots(cacheLength: base, batch: T)
        let pos = try shape.batchPositions(positions, mask: mask, cacheLength: base, batch: T)
        let rowsWithLogits = try logitRows.indices(batch: T)
        let first = try cache.append(count: T, positions: pos)

        // Local layers see, of each token's visible slots, those less than W positions back
        // (HF `sliding_window_overlay`: j > i − W; llama.cpp `is_masked_swa`: masked iff p − p_j ≥ W).
        let window = c.slidingWindow
        let slotPositions = cache.positions
        let visibleLocal = (0..<T).map { t in visible[t].filter { pos[t] - slotPositions[$0] < window } }

        let C = c.hiddenSize, hd = c.headDimension, H = c.headCount, KVH = c.kvHeadCount
        let qWidth = H * hd, kvWidth = KVH * hd, F = c.intermediateSize
        let scale = c.attentionScale

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

        // RoPE tables per token and base: angle_i = Float(p) * invFreq_i (Float32, as HF),
        // cos/sin of it evaluated in Float64 and rounded once.
        let half = hd / 2
        func tables(_ theta: Double) -> (cos: [Float], sin: [Float]) {
            let invFreq = Gemma3Model.ropeInverseFrequencies(theta: theta, dimension: hd)
            var cosTable = [Float](repeating: 0, count: T * half), sinTable = cosTable
            for t in 0..<T {
                for i in 0..<half {
                    let angle = Double(Float(pos[t]) * invFreq[i])
                    cosTable[t * half + i] = Float(DeterministicMath.cos(angle))
                    sinTable[t * half + i] = Float(DeterministicMath.sin(angle))
                }
            }
            return (cosTable, sinTable)
        }
        let localTables = tables(c.localRopeTheta), globalTables = tables(c.globalRopeTheta)

        // x[t] = E[token[t]] * Float(√C)  // [T, C]
        x.withUnsafeMutableBufferPointer { xp in
            for t in 0..<T { embed(token: tokens[t], into: xp.baseAddress! + t * C) }
            inputEmbeddings?.write(into: xp.baseAddress!, hiddenSize: C)  // given layer-0 inputs are used as is (post-scaling)
        }

        for (li, layer) in layers.enumerated() {
            let recording = taps.intermediatesOfLayer == li
            func record(_ name: String, _ values: [Float], width: Int) {
                intermediates.append(Intermediate(name: name, shape: [T, width], values: values))
            }
            let local = c.isLocal(layer: li)
            // xn = rms(x) ⊙ g_in  // [T, C]; q, k, v projections
            normalize(x, weight: layer.attentionNorm, into: &xn, width: C, rows: T)
            multiply(layer.wq, xn, T, &q, pool)
            multiply(layer.wk, xn, T, &k, pool)
            multiply(layer.wv, xn, T, &v, pool)
            if recording {
                record("attn_norm", xn, width: C)
                record("q_proj", q, width: qWidth)
                record("k_proj", k, width: kvWidth)
                record("v", v, width: kvWidth)
            }
            // q, k: RMSNorm per head over hd (T·H and T·KVH rows), then RoPE on halves.
            normalizeInPlace(&q, weight: layer.queryNorm, width: hd, rows: T * H)
            normalizeInPlace(&k, weight: layer.keyNorm, width: hd, rows: T * KVH)
            if recording {
                record("q_norm", q, width: qWidth)
                record("k_norm", k, width: kvWidth)
            }
            let (cosTable, sinTable) = local ? localTables : globalTables
            q.withUnsafeMutableBufferPointer { qp in
                k.withUnsafeMutableBufferPointer { kp in
                    cosTable.withUnsafeBufferPointer { cp in
                        sinTable.withUnsafeBufferPointer { sp in
                            for t in 0..<T {
                                let ct = cp.baseAddress! + t * half, st = sp.baseAddress! + t * half
                                for h in 0..<H { Kernels.ropeHalves(qp.baseAddress! + t * qWidth + h * hd, cos: ct, sin: st, dimension: hd) }
                                for h in 0..<KVH { Kernels.ropeHalves(kp.baseAddress! + t * kvWidth + h * hd, cos: ct, sin: st, dimension: hd) }
                            }
                        }
                    }
                }
            }
            if recording {
                record("q", q, width: qWidth)
                record("k", k, width: kvWidth)
            }
            k.withUnsafeBufferPointer { kp in
                v.withUnsafeBufferPointer { vp in cache.store(layer: li, first: first, count: T, keys: kp.baseAddress!, values: vp.baseAddress!) }
            }
            // attention = softmax(q·Kᵀ · scale) V per head  // [T, H·hd]
            q.withUnsafeBufferPointer { qp in
                attention.withUnsafeMutableBufferPointer { ap in
                    Attention.scaledDotProduct(queries: qp.baseAddress!, heads: H, keysAndValues: cache.keysAndValues(layer: li),
                                               visibleSlots: local ? visibleLocal : visible,
                                               scale: scale, naive: useNaiveKernels, into: ap.baseAddress!, pool: pool)
                }
            }
            // x = x + rms(Wo · attention) ⊙ g_postAttn
            multiply(layer.wo, attention, T, &projected, pool)
            if recording {
                record("attn_output", attention, width: qWidth)
                record("attn_projection", projected, width: C)
            }
            normalizeInPlace(&projected, weight: layer.postAttentionNorm, width: C, rows: T)
            addInPlace(&x, projected)
            if recording {
                record("post_attention_norm", projected, width: C)
                record("attn_residual", x, width: C)
            }

            // Feed-forward: x = x + rms(Wdown (gelu_tanh(Wgate m) ⊙ Wup m)) ⊙ g_postFfn, m = rms(x) ⊙ g_preFfn
            normalize(x, weight: layer.preFeedForwardNorm, into: &xn, width: C, rows: T)
            multiply(layer.wGate, xn, T, &gate, pool)
            multiply(layer.wUp, xn, T, &up, pool)
            if recording {
                record("ffn_norm", xn, width: C)
                record("gate", gate, width: F)
                record("up", up, width: F)
            }
            gate.withUnsafeMutableBufferPointer { gp in
                up.withUnsafeBufferPointer { upp in
                    Kernels.geluTanhGLU(gate: gp.baseAddress!, up: upp.baseAddress!, count: T * F, into: gp.baseAddress!)
                }
            }
            multiply(layer.wDown, gate, T, &projected, pool)
            if recording {
                record("geglu", gate, width: F)
                record("mlp_output", projected, width: C)
            }
            normalizeInPlace(&projected, weight: layer.postFeedForwardNorm, width: C, rows: T)
            addInPlace(&x, projected)
            if recording { record("post_ffw_norm", projected, width: C) }
            if tapLayers { layerOutputs.append(x) }
        }

        // Final norm, then the (tied) output head for the requested rows.
        normalize(x, weight: outputNorm, into: &xn, width: C, rows: T)
        let logits = headLogits(output, xn, rows: rowsWithLogits, naive: useNaiveKernels, pool: pool)
        return ForwardResult(logitRows: rowsWithLogits, logits: logits,
                             layerOutputs: tapLayers ? layerOutputs : nil,
                             finalNormOutput: tapLayers || taps.finalNormOutput ? xn : nil,
                             intermediates: taps.intermediatesOfLayer == nil ? nil : intermediates,
                             vocabularySize: c.vocabularySize)
    }

    /// RoPE inverse frequencies `1 / theta^(2i/d)` for `i` in `0..<d/2`, as Hugging Face computes
    /// them in Float32: exponent `Float(2i) / Float(d)`, the power evaluated in Float64 and
    /// rounded, then the Float32 reciprocal (the same recipe as `LlamaModel.ropeInverseFrequencies`).
    public static func ropeInverseFrequencies(theta: Double, dimension d: Int) -> [Float] {
        (0..<(d / 2)).map { i in
            let exponent = Float(2 * i) / Float(d)
            let power = Float(DeterministicMath.pow(theta, Double(exponent)))
            return 1 / power
        }
    }

    // MARK: helpers

    /// `rows` RMSNorms of `width` floats each (`out` may be `x`).
    /// The final norm as the forward pass applies it before the head (`outputNorm` holds the
    /// multiplier 1 + w), for the logit lens. `x`, `y`: `[rows, C]`; `y` may alias `x`.
    public func applyFinalNorm(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>) throws {
        let C = configuration.hiddenSize
        outputNorm.withUnsafeBufferPointer { g in
            for r in 0..<rows { Kernels.rmsNorm(x + r * C, weight: g.baseAddress!, epsilon: configuration.rmsNormEpsilon, count: C, into: y + r * C) }
        }
    }

    private func normalize(_ x: [Float], weight: [Float], into out: inout [Float], width: Int, rows: Int) {
        let eps = configuration.rmsNormEpsilon
        x.withUnsafeBufferPointer { xp in
            weight.withUnsafeBufferPointer { wp in
                out.withUnsafeMutableBufferPointer { op in
                    for r in 0..<rows {
                        Kernels.rmsNorm(xp.baseAddress! + r * width, weight: wp.baseAddress!, epsilon: eps, count: width, into: op.baseAddress! + r * width)
                    }
                }
            }
        }
    }

    /// The same in place (q, k, the branch outputs); `Kernels.rmsNorm` allows `y` to alias `x`.
    private func normalizeInPlace(_ x: inout [Float], weight: [Float], width: Int, rows: Int) {
        let eps = configuration.rmsNormEpsilon
        weight.withUnsafeBufferPointer { wp in
            x.withUnsafeMutableBufferPointer { xp in
                for r in 0..<rows {
                    let p = xp.baseAddress! + r * width
                    Kernels.rmsNorm(p, weight: wp.baseAddress!, epsilon: eps, count: width, into: p)
                }
            }
        }
    }

    private func multiply(_ w: WeightMatrix, _ x: [Float], _ tokens: Int, _ y: inout [Float], _ pool: ParallelFor) {
        product(w, x, tokens: tokens, into: &y, naive: useNaiveKernels, pool: pool)
    }
}

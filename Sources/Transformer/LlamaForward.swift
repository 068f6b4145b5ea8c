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
    public let vocabularySize: Int

    /// Logits of the `i`-th row with logits.
    public func logits(row i: Int) -> ArraySlice<Float> {
        logits[(i * vocabularySize)..<((i + 1) * vocabularySize)]
    }
}

extension LlamaModel {
    /// One forward pass over `tokens` (the batch, `T` new tokens) after the tokens already in
    /// `cache`, which it extends by `T` slots.
    ///
    /// - Parameters:
    ///   - positions: position id of each new token (RoPE); default `cache.length + i` (causal,
    ///     explicit) or `cache.length + depth` (tree).
    ///   - mask: which cached and new tokens each new token sees.
    ///   - logitRows: which rows get logits (the output head is the largest product, so skip
    ///     rows you do not need).
    ///   - tapLayers: also return each layer's residual output and the final-norm output.
    ///
    /// Batch invariance (D3): a token's logits depend only on the slots it sees, their contents
    /// and its position, never on the batch it was computed in — every product keeps its
    /// per-output reduction order, and attention visits the visible slots in increasing order.
    public func forward(tokens: [Int], positions: [Int]? = nil, mask: AttentionMask = .causal, cache: KVCache,
                        logitRows: LogitRows = .last, tapLayers: Bool = false, pool: ParallelFor = .shared) throws -> ForwardResult {
        let c = configuration
        let T = tokens.count
        guard T > 0 else { throw ModelError.invalidInput("forward needs at least one token") }
        for t in tokens where t < 0 || t >= c.vocabularySize { throw ModelError.tokenOutOfRange(token: t, vocabularySize: c.vocabularySize) }
        guard cache.layerCount == c.layerCount, cache.rowWidth == c.kvHeadCount * c.headDimension else {
            throw ModelError.invalidInput("the KV cache was made for another model (\(cache.layerCount) layers × \(cache.rowWidth) floats per token; this model needs \(c.layerCount) × \(c.kvHeadCount * c.headDimension))")
        }
        let base = cache.length
        let visible = try mask.visibleSlots(cacheLength: base, batch: T)
        let pos = positions ?? mask.defaultPositions(cacheLength: base, batch: T)
        guard pos.count == T else { throw ModelError.invalidInput("\(pos.count) positions for \(T) tokens") }
        for p in pos where p < 0 { throw ModelError.invalidInput("position ids must be non-negative, got \(p)") }
        for p in pos where p >= c.contextLength { throw ModelError.contextOverflow(needed: p + 1, limit: c.contextLength) }
        let rowsWithLogits: [Int]
        switch logitRows {
        case .all: rowsWithLogits = Array(0..<T)
        case .last: rowsWithLogits = [T - 1]
        case .none: rowsWithLogits = []
        case .rows(let r):
            for i in r where i < 0 || i >= T { throw ModelError.invalidInput("logit row \(i) outside the batch of \(T)") }
            rowsWithLogits = r
        }
        let first = try cache.append(count: T, positions: pos)

        let C = c.hiddenSize, hd = c.headDimension, H = c.headCount, KVH = c.kvHeadCount
        let qWidth = H * hd, kvWidth = KVH * hd, F = c.intermediateSize
        let groupSize = H / KVH
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

        // Attention work split: `sharedSlots` = how many leading slots 0, 1, 2, … every token
        // sees (the cached prefix for causal and tree masks); items of one head and up to 8 tokens.
        var sharedSlots = Int.max
        for slots in visible {
            var run = 0
            while run < slots.count && slots[run] == run { run += 1 }
            sharedSlots = min(sharedSlots, run)
        }
        let tokensPerItem = 8, chunksPerHead = (T + tokensPerItem - 1) / tokensPerItem

        // Token embeddings: x[t] = E[token[t]]  // [T, C]
        x.withUnsafeMutableBufferPointer { xp in
            for t in 0..<T { tokenEmbedding.decodeRow(tokens[t], into: xp.baseAddress! + t * C) }
        }

        for (li, layer) in layers.enumerated() {
            // xn = RMSNorm(x) · attention_norm  // [T, C]
            normalize(x, weight: layer.attentionNorm, into: &xn, tokens: T)
            // q = Wq xn [T, H*hd]; k = Wk xn, v = Wv xn [T, KVH*hd]
            multiply(layer.wq, xn, T, &q, pool)
            multiply(layer.wk, xn, T, &k, pool)
            multiply(layer.wv, xn, T, &v, pool)
            // RoPE on every head of q and k (adjacent pairs, GGUF row order).
            q.withUnsafeMutableBufferPointer { qp in
                k.withUnsafeMutableBufferPointer { kp in
                    cosTable.withUnsafeBufferPointer { cp in
                        sinTable.withUnsafeBufferPointer { sp in
                            for t in 0..<T {
                                for h in 0..<H { Kernels.ropeAdjacentPairs(qp.baseAddress! + t * qWidth + h * hd, cos: cp.baseAddress! + t * half, sin: sp.baseAddress! + t * half, dimension: 2 * half) }
                                for h in 0..<KVH { Kernels.ropeAdjacentPairs(kp.baseAddress! + t * kvWidth + h * hd, cos: cp.baseAddress! + t * half, sin: sp.baseAddress! + t * half, dimension: 2 * half) }
                            }
                        }
                    }
                }
            }
            // Append k, v to the cache at slots first..<first+T.
            k.withUnsafeBufferPointer { kp in
                v.withUnsafeBufferPointer { vp in cache.store(layer: li, first: first, count: T, keys: kp.baseAddress!, values: vp.baseAddress!) }
            }
            let keyTiles = cache.keyTiles[li], values = cache.valueTiles[li]
            let tiles = !useNaiveKernels  // naive: every slot scored alone

            // Attention per (head, token):
            //   s_j = (q·K[slot_j]) * scale over visible slots j (in slot order)
            //   p = softmax(s);  out = Σ_j p_j V[slot_j]  (sum over j in slot order, per dimension)
            // A work item is one head and up to `tokensPerItem` tokens. The slots every token sees
            // (the cached prefix, `sharedSlots`) are walked once per item: each key tile and each
            // block of value rows is used by all of the item's tokens while it is in cache.
            // Every (head, token) still computes exactly the per-slot arithmetic above.
            q.withUnsafeBufferPointer { qp in
                attention.withUnsafeMutableBufferPointer { ap in
                    let qBase = qp.baseAddress!, aBase = ap.baseAddress!
                    pool.forEach(H * chunksPerHead) { item in
                        let h = item / chunksPerHead
                        let t0 = (item % chunksPerHead) * tokensPerItem, t1 = min(T, t0 + tokensPerItem)
                        let kvOffset = (h / groupSize) * hd
                        let headValues = values + cache.valueIndex(0, kvOffset)  // this head's rows in tile 0
                        var offsets: [Int] = [0]
                        for t in t0..<t1 { offsets.append(offsets.last! + visible[t].count) }
                        let scores = UnsafeMutablePointer<Float>.allocate(capacity: offsets.last!)
                        let key = UnsafeMutablePointer<Float>.allocate(capacity: hd)  // one slot's key, gathered
                        defer { scores.deallocate(); key.deallocate() }
                        @inline(__always) func query(_ t: Int) -> UnsafePointer<Float> { qBase + t * qWidth + h * hd }
                        @inline(__always) func scoresOf(_ t: Int) -> UnsafeMutablePointer<Float> { scores + offsets[t - t0] }
                        // Shared whole tiles: one key tile, every token.
                        if tiles {
                            var j = 0
                            while j + 16 <= sharedSlots {
                                let tile = keyTiles + cache.tileIndex(j, kvOffset)
                                for t in t0..<t1 { scoreSixteenSlots(query(t), tile, dimension: hd, scale: scale, into: scoresOf(t) + j) }
                                j += 16
                            }
                        }
                        // Each token's other slots: whole tiles where they fall, else one at a time
                        // with `Kernels.dot` on the slot's key gathered from its tile.
                        let firstOwn = tiles ? sharedSlots / 16 * 16 : 0
                        for t in t0..<t1 {
                            let slots = visible[t], n = slots.count, out = scoresOf(t), qt = query(t)
                            var j = firstOwn
                            while j < n {
                                if tiles && slots[j] & 15 == 0 && j + 16 <= n && slots[j + 15] == slots[j] + 15 {
                                    scoreSixteenSlots(qt, keyTiles + cache.tileIndex(slots[j], kvOffset), dimension: hd, scale: scale, into: out + j)
                                    j += 16
                                } else {
                                    let column = keyTiles + cache.tileIndex(slots[j], kvOffset)  // dimension d at column[16 d]
                                    for d in 0..<hd { key[d] = column[d * 16] }
                                    out[j] = Kernels.dot(qt, key, count: hd) * scale
                                    j += 1
                                }
                            }
                            Kernels.softmax(out, count: n)
                            (aBase + t * qWidth + h * hd).initialize(repeating: 0, count: hd)
                        }
                        // Shared slots in blocks of 64 value rows, every token per block; then each
                        // token's other slots. Each sum still runs over its slots in order.
                        var j = 0
                        while j < sharedSlots {
                            let end = min(sharedSlots, j + 64)
                            for t in t0..<t1 {
                                weightedSum(scoresOf(t) + j, visible[t][j..<end], headValues, tileStride: kvWidth * 16, dimension: hd, into: aBase + t * qWidth + h * hd)
                            }
                            j = end
                        }
                        for t in t0..<t1 {
                            let slots = visible[t]
                            weightedSum(scoresOf(t) + sharedSlots, slots[sharedSlots...], headValues, tileStride: kvWidth * 16, dimension: hd, into: aBase + t * qWidth + h * hd)
                        }
                    }
                }
            }
            // x = x + Wo · attention
            multiply(layer.wo, attention, T, &projected, pool)
            addInPlace(&x, projected)

            // Feed-forward: x = x + Wdown (silu(Wgate xn) ⊙ (Wup xn)), xn = RMSNorm(x) · ffn_norm
            normalize(x, weight: layer.ffnNorm, into: &xn, tokens: T)
            multiply(layer.wGate, xn, T, &gate, pool)
            multiply(layer.wUp, xn, T, &up, pool)
            gate.withUnsafeMutableBufferPointer { gp in
                up.withUnsafeBufferPointer { upp in
                    Kernels.swiGLU(gate: gp.baseAddress!, up: upp.baseAddress!, count: T * F, into: gp.baseAddress!)
                }
            }
            multiply(layer.wDown, gate, T, &projected, pool)
            addInPlace(&x, projected)
            if tapLayers { layerOutputs.append(x) }
        }

        // Final norm, then the output head for the requested rows.
        normalize(x, weight: outputNorm, into: &xn, tokens: T)
        var logits = [Float](repeating: 0, count: rowsWithLogits.count * c.vocabularySize)
        if !rowsWithLogits.isEmpty {
            var selected = [Float](repeating: 0, count: rowsWithLogits.count * C)
            for (i, r) in rowsWithLogits.enumerated() {
                for j in 0..<C { selected[i * C + j] = xn[r * C + j] }
            }
            multiply(output, selected, rowsWithLogits.count, &logits, pool)
        }
        return ForwardResult(logitRows: rowsWithLogits, logits: logits,
                             layerOutputs: tapLayers ? layerOutputs : nil,
                             finalNormOutput: tapLayers ? xn : nil,
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
        x.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { yp in
                if useNaiveKernels {
                    w.multiplyNaive(xp.baseAddress!, tokens: tokens, into: yp.baseAddress!)
                } else {
                    w.multiply(xp.baseAddress!, tokens: tokens, into: yp.baseAddress!, pool: pool)
                }
            }
        }
    }

    private func addInPlace(_ x: inout [Float], _ y: [Float]) {
        x.withUnsafeMutableBufferPointer { xp in
            y.withUnsafeBufferPointer { yp in Kernels.add(yp.baseAddress!, into: xp.baseAddress!, count: xp.count) }
        }
    }
}

/// `out[d] = out[d] + Σ_j p[j] * V[slot_j][d]`: continues each dimension's running sum in `out`
/// over `slots` in order (multiply, round, add, round), 16 dimensions at a time — 64 at a time
/// where possible, four independent sums that share each broadcast of `p[j]`. `p[0]` belongs to
/// the first slot of `slots`. Starting from `out` = 0 gives the sum from zero. `values` points at
/// one head's rows in the first value tile (`KVCache.valueIndex`): slot `s`'s row is at
/// `values + (s / 16) * tileStride + (s % 16) * hd`.
@inline(__always)
private func weightedSum(_ p: UnsafePointer<Float>, _ slots: ArraySlice<Int>, _ values: UnsafePointer<Float>, tileStride: Int, dimension hd: Int, into out: UnsafeMutablePointer<Float>) {
    @inline(__always) func row(_ slot: Int) -> UnsafePointer<Float> { values + (slot >> 4) * tileStride + (slot & 15) * hd }
    if slots.isEmpty { return }
    let first = slots.startIndex
    let o = UnsafeMutableRawPointer(out)
    var d = 0
    while d + 64 <= hd {
        var a0 = o.loadUnaligned(fromByteOffset: d * 4, as: SIMD16<Float>.self)
        var a1 = o.loadUnaligned(fromByteOffset: d * 4 + 64, as: SIMD16<Float>.self)
        var a2 = o.loadUnaligned(fromByteOffset: d * 4 + 128, as: SIMD16<Float>.self)
        var a3 = o.loadUnaligned(fromByteOffset: d * 4 + 192, as: SIMD16<Float>.self)
        for i in slots.indices {
            let row = UnsafeRawPointer(row(slots[i]) + d)
            let pj = SIMD16<Float>(repeating: p[i - first])
            a0 = a0 + pj * row.loadUnaligned(as: SIMD16<Float>.self)
            a1 = a1 + pj * row.loadUnaligned(fromByteOffset: 64, as: SIMD16<Float>.self)
            a2 = a2 + pj * row.loadUnaligned(fromByteOffset: 128, as: SIMD16<Float>.self)
            a3 = a3 + pj * row.loadUnaligned(fromByteOffset: 192, as: SIMD16<Float>.self)
        }
        o.storeBytes(of: a0, toByteOffset: d * 4, as: SIMD16<Float>.self)
        o.storeBytes(of: a1, toByteOffset: d * 4 + 64, as: SIMD16<Float>.self)
        o.storeBytes(of: a2, toByteOffset: d * 4 + 128, as: SIMD16<Float>.self)
        o.storeBytes(of: a3, toByteOffset: d * 4 + 192, as: SIMD16<Float>.self)
        d += 64
    }
    while d + 16 <= hd {
        var acc = o.loadUnaligned(fromByteOffset: d * 4, as: SIMD16<Float>.self)
        for i in slots.indices {
            let row = UnsafeRawPointer(row(slots[i]) + d)
            acc = acc + SIMD16<Float>(repeating: p[i - first]) * row.loadUnaligned(as: SIMD16<Float>.self)
        }
        o.storeBytes(of: acc, toByteOffset: d * 4, as: SIMD16<Float>.self)
        d += 16
    }
    while d < hd {
        var s = out[d]
        for i in slots.indices { s = s + p[i - first] * row(slots[i])[d] }
        out[d] = s
        d += 1
    }
}

/// Attention scores of 16 consecutive slots, one per lane, from one head's part of a key tile
/// (`kt[d * 16 + i]` is dimension `d` of slot `i`): `out[i] = dot(q, K[i]) * scale` with exactly the
/// arithmetic of `Kernels.dot` — lane `l` of the dot accumulates dimensions `l, l + 16, …` from
/// zero, then the 16 lanes are added left to right — so a slot's score does not depend on which
/// path computed it. The tile is read front to back (dimension order), which the hardware
/// prefetcher follows; the 16 lane sums advance together.
@inline(__always)
private func scoreSixteenSlots(_ q: UnsafePointer<Float>, _ kt: UnsafePointer<Float>, dimension hd: Int, scale: Float, into out: UnsafeMutablePointer<Float>) {
    let tile = UnsafeRawPointer(kt)
    @inline(__always) func term(_ d: Int) -> SIMD16<Float> {
        SIMD16<Float>(repeating: q[d]) * tile.loadUnaligned(fromByteOffset: d * 64, as: SIMD16<Float>.self)
    }
    var a0 = SIMD16<Float>(), a1 = SIMD16<Float>(), a2 = SIMD16<Float>(), a3 = SIMD16<Float>()
    var a4 = SIMD16<Float>(), a5 = SIMD16<Float>(), a6 = SIMD16<Float>(), a7 = SIMD16<Float>()
    var a8 = SIMD16<Float>(), a9 = SIMD16<Float>(), a10 = SIMD16<Float>(), a11 = SIMD16<Float>()
    var a12 = SIMD16<Float>(), a13 = SIMD16<Float>(), a14 = SIMD16<Float>(), a15 = SIMD16<Float>()
    var d = 0
    while d + 16 <= hd {
        a0 = a0 + term(d); a1 = a1 + term(d + 1); a2 = a2 + term(d + 2); a3 = a3 + term(d + 3)
        a4 = a4 + term(d + 4); a5 = a5 + term(d + 5); a6 = a6 + term(d + 6); a7 = a7 + term(d + 7)
        a8 = a8 + term(d + 8); a9 = a9 + term(d + 9); a10 = a10 + term(d + 10); a11 = a11 + term(d + 11)
        a12 = a12 + term(d + 12); a13 = a13 + term(d + 13); a14 = a14 + term(d + 14); a15 = a15 + term(d + 15)
        d += 16
    }
    let rest = hd - d  // lanes 0..<rest take one more dimension
    if rest > 0 { a0 = a0 + term(d) }
    if rest > 1 { a1 = a1 + term(d + 1) }
    if rest > 2 { a2 = a2 + term(d + 2) }
    if rest > 3 { a3 = a3 + term(d + 3) }
    if rest > 4 { a4 = a4 + term(d + 4) }
    if rest > 5 { a5 = a5 + term(d + 5) }
    if rest > 6 { a6 = a6 + term(d + 6) }
    if rest > 7 { a7 = a7 + term(d + 7) }
    if rest > 8 { a8 = a8 + term(d + 8) }
    if rest > 9 { a9 = a9 + term(d + 9) }
    if rest > 10 { a10 = a10 + term(d + 10) }
    if rest > 11 { a11 = a11 + term(d + 11) }
    if rest > 12 { a12 = a12 + term(d + 12) }
    if rest > 13 { a13 = a13 + term(d + 13) }
    if rest > 14 { a14 = a14 + term(d + 14) }
    var s = a0 + a1
    s = s + a2; s = s + a3; s = s + a4; s = s + a5; s = s + a6; s = s + a7; s = s + a8
    s = s + a9; s = s + a10; s = s + a11; s = s + a12; s = s + a13; s = s + a14; s = s + a15
    UnsafeMutableRawPointer(out).storeBytes(of: s * SIMD16<Float>(repeating: scale), as: SIMD16<Float>.self)
}

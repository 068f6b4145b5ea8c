/// One layer's cached keys and values in tiles of 16 slots (the layout of the Transformer
/// module's `KVCache`, described here with raw pointers so that this module needs nothing above
/// it). With `W = rowWidth = kvHeads * headDim`:
///
///     keys:   [slot / 16][W][slot % 16]                   element c of slot s at keyIndex(s, c)
///     values: [slot / 16][kvHead][slot % 16][headDim]     element c of slot s at valueIndex(s, c)
///
/// In a key tile one vector of 16 floats holds one key dimension of 16 consecutive slots; one
/// slot's key dimensions sit 16 floats apart. In a value tile one head's value rows are
/// contiguous, `headDim` floats each. Tile `i` starts `16 * W` floats after tile `i - 1`, for
/// keys and values alike.
public struct TiledKeyValues {
    /// The layer's key tiles.
    public let keys: UnsafePointer<Float>
    /// The layer's value tiles.
    public let values: UnsafePointer<Float>
    /// Floats per slot (`kvHeads * headDim`).
    public let rowWidth: Int
    /// Floats per head (`headDim`).
    public let headDimension: Int

    public init(keys: UnsafePointer<Float>, values: UnsafePointer<Float>, rowWidth: Int, headDimension: Int) {
        precondition(headDimension > 0 && rowWidth > 0 && rowWidth % headDimension == 0, "rowWidth \(rowWidth) must be a positive multiple of headDimension \(headDimension)")
        self.keys = keys
        self.values = values
        self.rowWidth = rowWidth
        self.headDimension = headDimension
    }

    /// Key/value heads per slot (`rowWidth / headDim`).
    public var kvHeads: Int { rowWidth / headDimension }

    /// Where key element `c` of `slot` sits in `keys`.
    @inline(__always) public func keyIndex(_ slot: Int, _ c: Int) -> Int { (slot >> 4) * rowWidth * 16 + c * 16 + (slot & 15) }

    /// Where value element `c` (head `c / headDim`, dimension `c % headDim`) of `slot` sits in
    /// `values`.
    @inline(__always) public func valueIndex(_ slot: Int, _ c: Int) -> Int {
        (slot >> 4) * rowWidth * 16 + (c / headDimension) * 16 * headDimension + (slot & 15) * headDimension + c % headDimension
    }
}

/// Scaled dot-product attention over cached keys and values (Vaswani et al., "Attention Is All
/// You Need", 2017, arXiv:1706.03762, eq. 1), with grouped key/value heads.
public enum Attention {
    /// `output = softmax(q·Kᵀ · scale) V` for every (head `h`, token `t`), over the slots token
    /// `t` sees. Query head `h` reads key/value head `h / (heads / kvHeads)`.
    ///
    /// - Parameters:
    ///   - queries: `[T, heads * headDim]`, row-major; `T = visibleSlots.count`.
    ///   - heads: query heads; a multiple of `keysAndValues.kvHeads`.
    ///   - keysAndValues: the layer's cache, holding every slot any token sees.
    ///   - visibleSlots: per token, the slots it sees, strictly increasing. A token that sees no
    ///     slot gets zeros.
    ///   - scale: multiplies each score (usually `1 / sqrt(headDim)`).
    ///   - naive: score every slot alone (the simple path) instead of 16 slots of a key tile at
    ///     once; the results are the same bits.
    ///   - output: `[T, heads * headDim]`, row-major; every element is written.
    ///   - pool: work items are one head and up to 8 tokens (D2: no sum is split across threads).
    ///
    /// Order of operations, per (head, token), with `j` running over the visible slots in slot
    /// order (D3: nothing depends on the batch or on which other tokens share a work item):
    ///
    ///     s_j = Kernels.dot(q, K[slot_j], count: headDim) * scale   (the dot's 16-lane order)
    ///     p = Kernels.softmax(s)
    ///     out[d] = 0; out[d] = out[d] + p_j * V[slot_j][d] for j in order   (per dimension d)
    ///
    /// Each product and each sum is rounded separately (no fused multiply-add). Where a whole key
    /// tile is visible, its 16 scores come from one pass over the tile with exactly the dot's
    /// arithmetic; the leading slots `0, 1, 2, …` that every token sees (a cached prefix) are
    /// walked once per work item, so each key tile and each block of 64 value rows serves all of
    /// the item's tokens while it is in cache.
    public static func scaledDotProduct(queries: UnsafePointer<Float>, heads: Int, keysAndValues kv: TiledKeyValues,
                                        visibleSlots visible: [[Int]], scale: Float, naive: Bool = false,
                                        into output: UnsafeMutablePointer<Float>, pool: ParallelFor) {
        let T = visible.count, hd = kv.headDimension, kvWidth = kv.rowWidth
        precondition(heads > 0 && heads % kv.kvHeads == 0, "\(heads) query heads cannot share \(kv.kvHeads) key/value heads")
        let qWidth = heads * hd, groupSize = heads / kv.kvHeads
        let keyTiles = kv.keys, values = kv.values
        let tiles = !naive  // naive: every slot scored alone

        // `sharedSlots` = how many leading slots 0, 1, 2, … every token sees (the cached prefix
        // for causal and tree masks); work items of one head and up to 8 tokens.
        var sharedSlots = Int.max
        for slots in visible {
            var run = 0
            while run < sharedSlots && run < slots.count && slots[run] == run { run += 1 }
            sharedSlots = min(sharedSlots, run)
        }
        if T == 0 { return }
        let tokensPerItem = 8, chunksPerHead = (T + tokensPerItem - 1) / tokensPerItem

        pool.forEach(heads * chunksPerHead) { item in
            let h = item / chunksPerHead
            let t0 = (item % chunksPerHead) * tokensPerItem, t1 = min(T, t0 + tokensPerItem)
            let kvOffset = (h / groupSize) * hd
            let headValues = values + kv.valueIndex(0, kvOffset)  // this head's rows in tile 0
            var offsets: [Int] = [0]
            for t in t0..<t1 { offsets.append(offsets.last! + visible[t].count) }
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: offsets.last!)
            let key = UnsafeMutablePointer<Float>.allocate(capacity: hd)  // one slot's key, gathered
            defer { scores.deallocate(); key.deallocate() }
            @inline(__always) func query(_ t: Int) -> UnsafePointer<Float> { queries + t * qWidth + h * hd }
            @inline(__always) func scoresOf(_ t: Int) -> UnsafeMutablePointer<Float> { scores + offsets[t - t0] }
            // Shared whole tiles: one key tile, every token.
            if tiles {
                var j = 0
                while j + 16 <= sharedSlots {
                    let tile = keyTiles + kv.keyIndex(j, kvOffset)
                    for t in t0..<t1 { scoreSixteenSlots(query(t), tile, dimension: hd, scale: scale, into: scoresOf(t) + j) }
                    j += 16
                }
            }
            // Each token's other slots: whole tiles where they fall, else one at a time with
            // `Kernels.dot` on the slot's key gathered from its tile.
            let firstOwn = tiles ? sharedSlots / 16 * 16 : 0
            for t in t0..<t1 {
                let slots = visible[t], n = slots.count, out = scoresOf(t), qt = query(t)
                var j = firstOwn
                while j < n {
                    if tiles && slots[j] & 15 == 0 && j + 16 <= n && slots[j + 15] == slots[j] + 15 {
                        scoreSixteenSlots(qt, keyTiles + kv.keyIndex(slots[j], kvOffset), dimension: hd, scale: scale, into: out + j)
                        j += 16
                    } else {
                        let column = keyTiles + kv.keyIndex(slots[j], kvOffset)  // dimension d at column[16 d]
                        for d in 0..<hd { key[d] = column[d * 16] }
                        out[j] = Kernels.dot(qt, key, count: hd) * scale
                        j += 1
                    }
                }
                Kernels.softmax(out, count: n)
                (output + t * qWidth + h * hd).initialize(repeating: 0, count: hd)
            }
            // Shared slots in blocks of 64 value rows, every token per block; then each token's
            // other slots. Each sum still runs over its slots in order.
            var j = 0
            while j < sharedSlots {
                let end = min(sharedSlots, j + 64)
                for t in t0..<t1 {
                    weightedSum(scoresOf(t) + j, visible[t][j..<end], headValues, tileStride: kvWidth * 16, dimension: hd, into: output + t * qWidth + h * hd)
                }
                j = end
            }
            for t in t0..<t1 {
                let slots = visible[t]
                weightedSum(scoresOf(t) + sharedSlots, slots[sharedSlots...], headValues, tileStride: kvWidth * 16, dimension: hd, into: output + t * qWidth + h * hd)
            }
        }
    }
}

/// `out[d] = out[d] + Σ_j p[j] * V[slot_j][d]`: continues each dimension's running sum in `out`
/// over `slots` in order (multiply, round, add, round), 16 dimensions at a time — 64 at a time
/// where possible, four independent sums that share each broadcast of `p[j]`. `p[0]` belongs to
/// the first slot of `slots`. Starting from `out` = 0 gives the sum from zero. `values` points at
/// one head's rows in the first value tile (`TiledKeyValues.valueIndex`): slot `s`'s row is at
/// `values + (s / 16) * tileStride + (s % 16) * hd`.
@inline(__always)
func weightedSum(_ p: UnsafePointer<Float>, _ slots: ArraySlice<Int>, _ values: UnsafePointer<Float>, tileStride: Int, dimension hd: Int, into out: UnsafeMutablePointer<Float>) {
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
func scoreSixteenSlots(_ q: UnsafePointer<Float>, _ kt: UnsafePointer<Float>, dimension hd: Int, scale: Float, into out: UnsafeMutablePointer<Float>) {
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

// MARK: - Per-head selected slots (TidalDecode's sparse attention)

extension Attention {
    /// Raw attention scores `A[t, h, j] = Kernels.dot(q_{t,h}, K[slot_j]) * scale` of every visible
    /// slot, and per (token `t`, head `h`) the `K' = min(budget, visible[t].count)` slots with the
    /// largest scores, ties broken by the lower slot (TidalDecode's token selection, Yang et al.,
    /// ICLR 2025, arXiv:2410.05076, Section 3; `torch.topk` with ties made definite).
    ///
    /// - Returns: `heads * T` slot lists, list `t * heads + h`, each sorted ascending (D4: a
    ///   set-valued result is returned sorted). With NaN scores the selection is deterministic
    ///   but unspecified (the model's non-finite checks report such a pass).
    ///
    /// Scores have exactly the arithmetic of `scaledDotProduct` (`Kernels.dot`'s 16-lane order,
    /// whole key tiles via the same lane sums), so the selection does not depend on the path or
    /// the thread count (work items: one head and one token). Cost: `O(n log K')` per item with a
    /// heap of `K'` entries; a slot replaces the heap's worst only with a strictly larger score,
    /// which — slots arriving in ascending order — is exactly "lower slot wins ties".
    public static func selectTopSlots(queries: UnsafePointer<Float>, heads: Int, keysAndValues kv: TiledKeyValues,
                                      visibleSlots visible: [[Int]], scale: Float, budget: Int, pool: ParallelFor) -> [[Int]] {
        precondition(budget >= 1, "a token budget is at least 1")
        precondition(heads > 0 && heads % kv.kvHeads == 0, "\(heads) query heads cannot share \(kv.kvHeads) key/value heads")
        let T = visible.count, hd = kv.headDimension, qWidth = heads * hd, groupSize = heads / kv.kvHeads
        var selected = [[Int]](repeating: [], count: T * heads)
        selected.withUnsafeMutableBufferPointer { sp in
            let out = sp.baseAddress!
            pool.forEach(T * heads) { item in
                let t = item / heads, h = item % heads
                let slots = visible[t], n = slots.count
                let scores = UnsafeMutablePointer<Float>.allocate(capacity: max(n, 1))
                defer { scores.deallocate() }
                headScores(queries + t * qWidth + h * hd, kv, kvOffset: (h / groupSize) * hd, slots: slots, scale: scale, into: scores)
                (out + item).initialize(to: topSlots(scores, slots, budget: min(budget, n)))
            }
        }
        return selected
    }

    /// TidalDecode's restricted attention, fast path: per (token `t`, head `h`) attention over
    /// only the slots in `selectedSlots[t * heads + h]` (strictly increasing), reading only those
    /// key and value rows. Query head `h` reads key/value head `h / (heads / kvHeads)`.
    ///
    /// Order of operations, per (head, token), `j` over the selected slots in slot order:
    ///
    ///     s_j = Kernels.dot(q, K[slot_j], count: headDim) * scale
    ///     p = Kernels.softmax(s)
    ///     out[d] = 0; out[d] = out[d] + p_j * V[slot_j][d] for j in order
    ///
    /// Bit-identical to `maskedScaledDotProduct` over any visible set that contains the selection
    /// (tested): there every unselected score is the Float32 minimum, whose `exp(x − max)` is
    /// exactly +0, so the maximum, the sum (`s + 0 = s`) and each running output sum are unchanged
    /// (a running sum that starts at +0 is never −0, and `x + ±0 = x` for every other `x`), given
    /// finite values. With every visible slot selected it equals `scaledDotProduct` bit for bit.
    /// Work items: one head and one token (D2).
    public static func selectedScaledDotProduct(queries: UnsafePointer<Float>, heads: Int, keysAndValues kv: TiledKeyValues,
                                                selectedSlots selected: [[Int]], scale: Float,
                                                into output: UnsafeMutablePointer<Float>, pool: ParallelFor) {
        precondition(heads > 0 && heads % kv.kvHeads == 0, "\(heads) query heads cannot share \(kv.kvHeads) key/value heads")
        precondition(selected.count % heads == 0, "one slot list per token and head")
        let hd = kv.headDimension, qWidth = heads * hd, groupSize = heads / kv.kvHeads, tileStride = kv.rowWidth * 16
        pool.forEach(selected.count) { item in
            let t = item / heads, h = item % heads
            let slots = selected[item], n = slots.count
            let kvOffset = (h / groupSize) * hd
            let out = output + t * qWidth + h * hd
            out.initialize(repeating: 0, count: hd)
            if n == 0 { return }
            let p = UnsafeMutablePointer<Float>.allocate(capacity: n)
            defer { p.deallocate() }
            headScores(queries + t * qWidth + h * hd, kv, kvOffset: kvOffset, slots: slots, scale: scale, into: p)
            Kernels.softmax(p, count: n)
            weightedSum(p, slots[...], kv.values + kv.valueIndex(0, kvOffset), tileStride: tileStride, dimension: hd, into: out)
        }
    }

    /// TidalDecode's restricted attention as the reference code computes it
    /// (`llama_tidal_attention_forward`): every visible slot is scored, the scores of slots not in
    /// `selectedSlots[t * heads + h]` are set to `-Float.greatestFiniteMagnitude` (the dtype
    /// minimum), the softmax runs over every visible slot and the weighted sum visits every
    /// visible slot in slot order (`out[d] = out[d] + p_j * V[slot_j][d]` from +0). Bit-identical
    /// to `selectedScaledDotProduct` when each selection is a non-empty subset of the token's
    /// visible slots (see there). Work items: one head and one token (D2).
    public static func maskedScaledDotProduct(queries: UnsafePointer<Float>, heads: Int, keysAndValues kv: TiledKeyValues,
                                              visibleSlots visible: [[Int]], selectedSlots selected: [[Int]], scale: Float,
                                              into output: UnsafeMutablePointer<Float>, pool: ParallelFor) {
        precondition(heads > 0 && heads % kv.kvHeads == 0, "\(heads) query heads cannot share \(kv.kvHeads) key/value heads")
        precondition(selected.count == visible.count * heads, "one slot list per token and head")
        let hd = kv.headDimension, qWidth = heads * hd, groupSize = heads / kv.kvHeads, tileStride = kv.rowWidth * 16
        pool.forEach(selected.count) { item in
            let t = item / heads, h = item % heads
            let slots = visible[t], n = slots.count, chosen = selected[item]
            let kvOffset = (h / groupSize) * hd
            let out = output + t * qWidth + h * hd
            out.initialize(repeating: 0, count: hd)
            if n == 0 { return }
            let p = UnsafeMutablePointer<Float>.allocate(capacity: n)
            defer { p.deallocate() }
            headScores(queries + t * qWidth + h * hd, kv, kvOffset: kvOffset, slots: slots, scale: scale, into: p)
            // Mask: walk the (sorted) selection alongside the (sorted) visible slots.
            var c = 0
            for j in 0..<n {
                while c < chosen.count && chosen[c] < slots[j] { c += 1 }
                if !(c < chosen.count && chosen[c] == slots[j]) { p[j] = -Float.greatestFiniteMagnitude }
            }
            Kernels.softmax(p, count: n)
            weightedSum(p, slots[...], kv.values + kv.valueIndex(0, kvOffset), tileStride: tileStride, dimension: hd, into: out)
        }
    }

    /// `out[j] = Kernels.dot(q, K[slots[j]]) * scale` for one head (`kvOffset` = its first key
    /// column), 16 slots at a time from a key tile where 16 consecutive tile-aligned slots are
    /// listed (the same bits, `scoreSixteenSlots`), else one gathered key at a time.
    @inline(__always)
    static func headScores(_ q: UnsafePointer<Float>, _ kv: TiledKeyValues, kvOffset: Int, slots: [Int], scale: Float,
                           into out: UnsafeMutablePointer<Float>) {
        let hd = kv.headDimension, n = slots.count
        let key = UnsafeMutablePointer<Float>.allocate(capacity: hd)
        defer { key.deallocate() }
        var j = 0
        while j < n {
            if slots[j] & 15 == 0 && j + 16 <= n && slots[j + 15] == slots[j] + 15 {
                scoreSixteenSlots(q, kv.keys + kv.keyIndex(slots[j], kvOffset), dimension: hd, scale: scale, into: out + j)
                j += 16
            } else {
                let column = kv.keys + kv.keyIndex(slots[j], kvOffset)  // dimension d at column[16 d]
                for d in 0..<hd { key[d] = column[d * 16] }
                out[j] = Kernels.dot(q, key, count: hd) * scale
                j += 1
            }
        }
    }

    /// The `k` slots with the largest `scores` (ties: lower slot; `slots` ascending), sorted
    /// ascending. A min-heap of `k` (score, index) pairs ordered worst first: lower score, then
    /// higher index.
    static func topSlots(_ scores: UnsafePointer<Float>, _ slots: [Int], budget k: Int) -> [Int] {
        let n = slots.count
        if k >= n { return slots }
        if k <= 0 { return [] }
        var heap = [Int](repeating: 0, count: k)  // indices into slots
        @inline(__always) func worse(_ a: Int, _ b: Int) -> Bool {  // a ranks below b
            scores[a] < scores[b] || (scores[a] == scores[b] && a > b)
        }
        func siftDown(_ start: Int) {
            var i = start
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < k && worse(heap[l], heap[m]) { m = l }
                if r < k && worse(heap[r], heap[m]) { m = r }
                if m == i { return }
                heap.swapAt(i, m)
                i = m
            }
        }
        for i in 0..<k { heap[i] = i }
        for i in stride(from: k / 2 - 1, through: 0, by: -1) { siftDown(i) }
        for j in k..<n where scores[j] > scores[heap[0]] {
            heap[0] = j
            siftDown(0)
        }
        return heap.sorted().map { slots[$0] }
    }
}

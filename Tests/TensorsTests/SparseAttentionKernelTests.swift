import XCTest
import Tensors

/// TidalDecode's kernels (`Attention.selectTopSlots`, `selectedScaledDotProduct`,
/// `maskedScaledDotProduct`) on random caches with the documented tile layout: the gathered
/// path against the masked reference bit for bit, a full selection against full attention, the
/// selection against a naive sort-based top-K with lower slot winning ties, a hand-computed case,
/// and thread-count invariance (D2).
final class SparseAttentionKernelTests: XCTestCase {
    typealias Cache = AttentionKernelTests.Cache

    /// A random subset of each token's visible slots per head, sorted, non-empty unless the token
    /// sees nothing (then both paths give zeros).
    static func randomSelection(_ visible: [[Int]], heads: Int, rng: inout Xoshiro256StarStar) -> [[Int]] {
        var out: [[Int]] = []
        for slots in visible {
            for _ in 0..<heads {
                var chosen = slots.filter { _ in rng.next() % 3 == 0 }
                if chosen.isEmpty && !slots.isEmpty { chosen = [slots[rng.nextInt(in: 0...(slots.count - 1))]] }
                out.append(chosen)
            }
        }
        return out
    }

    static func gathered(_ q: [Float], heads: Int, _ cache: Cache, selected: [[Int]], scale: Float, pool: ParallelFor) -> [Float] {
        withGuardedOutput(count: selected.count * cache.headDimension) { out in
            q.withUnsafeBufferPointer { qp in
                Attention.selectedScaledDotProduct(queries: qp.baseAddress!, heads: heads, keysAndValues: cache.layout, selectedSlots: selected,
                                                   scale: scale, into: out, pool: pool)
            }
        }
    }

    static func masked(_ q: [Float], heads: Int, _ cache: Cache, visible: [[Int]], selected: [[Int]], scale: Float, pool: ParallelFor) -> [Float] {
        withGuardedOutput(count: selected.count * cache.headDimension) { out in
            q.withUnsafeBufferPointer { qp in
                Attention.maskedScaledDotProduct(queries: qp.baseAddress!, heads: heads, keysAndValues: cache.layout, visibleSlots: visible,
                                                 selectedSlots: selected, scale: scale, into: out, pool: pool)
            }
        }
    }

    static func select(_ q: [Float], heads: Int, _ cache: Cache, visible: [[Int]], scale: Float, budget: Int, pool: ParallelFor) -> [[Int]] {
        q.withUnsafeBufferPointer { qp in
            Attention.selectTopSlots(queries: qp.baseAddress!, heads: heads, keysAndValues: cache.layout, visibleSlots: visible,
                                     scale: scale, budget: budget, pool: pool)
        }
    }

    /// The naive selection: score every visible slot alone, sort by (score descending, slot
    /// ascending), keep the first min(K, n), return them sorted by slot.
    static func naiveTopK(_ q: [Float], heads: Int, _ cache: Cache, visible: [[Int]], scale: Float, budget: Int) -> [[Int]] {
        let hd = cache.headDimension, w = cache.rowWidth, groupSize = heads / cache.kvHeads
        var out: [[Int]] = []
        for (t, slots) in visible.enumerated() {
            for h in 0..<heads {
                let kvOffset = (h / groupSize) * hd
                let qh = Array(q[(t * heads + h) * hd ..< (t * heads + h + 1) * hd])
                let scored = slots.map { s in (slot: s, score: NaiveKernels.dot(qh, Array(cache.keyRows[(s * w + kvOffset) ..< (s * w + kvOffset + hd)])) * scale) }
                let ranked = scored.sorted { $0.score > $1.score || ($0.score == $1.score && $0.slot < $1.slot) }
                out.append(ranked.prefix(min(budget, slots.count)).map(\.slot).sorted())
            }
        }
        return out
    }

    func testGatheredPathEqualsMaskedReferenceBitForBit() {
        let pool = ParallelFor(threadCount: 2)
        defer { pool.shutdown() }
        for hd in [1, 7, 64, 65] {
            for n in [1, 17, 100] {
                for g in AttentionKernelTests.headGroupings {
                    var rng = Xoshiro256StarStar(seed: UInt64(hd) &* 31 &+ UInt64(n) &* 7 &+ UInt64(g.groupSize))
                    let cache = Cache(slots: n, kvHeads: g.kvHeads, headDimension: hd, rng: &rng)
                    let heads = g.kvHeads * g.groupSize, scale = 1 / Float(hd).squareRoot()
                    for (name, visible) in AttentionKernelTests.masks(slots: n, tokens: 5, rng: &rng) {
                        let q = rng.wideFloats(visible.count * heads * hd, exponents: -5...1)
                        let selected = Self.randomSelection(visible, heads: heads, rng: &rng)
                        let fast = Self.gathered(q, heads: heads, cache, selected: selected, scale: scale, pool: pool)
                        let reference = Self.masked(q, heads: heads, cache, visible: visible, selected: selected, scale: scale, pool: pool)
                        assertBitIdentical(fast, reference, "hd \(hd) n \(n) group \(g) \(name)")
                    }
                }
            }
        }
    }

    func testSelectingEveryVisibleSlotEqualsFullAttentionBitForBit() {
        let pool = ParallelFor(threadCount: 2)
        defer { pool.shutdown() }
        for hd in [7, 64] {
            for n in [16, 100] {
                var rng = Xoshiro256StarStar(seed: UInt64(hd * 1000 + n))
                let cache = Cache(slots: n, kvHeads: 2, headDimension: hd, rng: &rng)
                let heads = 6, scale = 1 / Float(hd).squareRoot()
                for (name, visible) in AttentionKernelTests.masks(slots: n, tokens: 5, rng: &rng) {
                    let q = rng.wideFloats(visible.count * heads * hd, exponents: -5...1)
                    let all = visible.flatMap { slots in Array(repeating: slots, count: heads) }
                    let full = AttentionKernelTests.attention(q, heads: heads, cache, visibleSlots: visible, scale: scale, naive: false, pool: pool)
                    assertBitIdentical(Self.gathered(q, heads: heads, cache, selected: all, scale: scale, pool: pool), full, "gathered hd \(hd) n \(n) \(name)")
                    assertBitIdentical(Self.masked(q, heads: heads, cache, visible: visible, selected: all, scale: scale, pool: pool), full, "masked hd \(hd) n \(n) \(name)")
                    // Budget ≥ visible count selects everything.
                    XCTAssertEqual(Self.select(q, heads: heads, cache, visible: visible, scale: scale, budget: n, pool: pool), all)
                }
            }
        }
    }

    func testSelectionEqualsNaiveSortedTopKWithLowerSlotWinningTies() {
        let pool = ParallelFor(threadCount: 2)
        defer { pool.shutdown() }
        var tieCases = 0
        for hd in [1, 4, 64] {
            for n in [1, 17, 100] {
                for budget in [1, 3, 16, 99, 200] {
                    var rng = Xoshiro256StarStar(seed: UInt64(hd * 100_000 + n * 1000 + budget))
                    let cache = Cache(slots: n, kvHeads: 2, headDimension: hd, rng: &rng)
                    let heads = 4, scale: Float = 0.125
                    for (name, visible) in AttentionKernelTests.masks(slots: n, tokens: 4, rng: &rng) {
                        let q = rng.wideFloats(visible.count * heads * hd, exponents: -5...1)
                        XCTAssertEqual(Self.select(q, heads: heads, cache, visible: visible, scale: scale, budget: budget, pool: pool),
                                       Self.naiveTopK(q, heads: heads, cache, visible: visible, scale: scale, budget: budget),
                                       "hd \(hd) n \(n) K \(budget) \(name)")
                    }
                    // Ties everywhere: keys and queries of small integers (exact dot products).
                    let tied = Cache(slots: n, kvHeads: 2, headDimension: hd, rng: &rng)
                    let intKeys = tied.keyRows.map { Float(Int($0.bitPattern % 3)) - 1 }
                    let w = tied.rowWidth
                    for i in intKeys.indices { tied.keyTiles[(i / w / 16) * 16 * w + (i % w) * 16 + (i / w) % 16] = intKeys[i] }  // [s/16][c][s%16]
                    let intCache = TiedCache(tied, keyRows: intKeys)
                    let visible = [Array(0..<n)]
                    let q = (0..<(heads * hd)).map { _ in Float(rng.nextInt(in: -1...1)) }
                    let got = q.withUnsafeBufferPointer { qp in
                        Attention.selectTopSlots(queries: qp.baseAddress!, heads: heads, keysAndValues: tied.layout, visibleSlots: visible,
                                                 scale: scale, budget: budget, pool: pool)
                    }
                    XCTAssertEqual(got, intCache.naiveTopK(q, heads: heads, scale: scale, budget: budget), "ties hd \(hd) n \(n) K \(budget)")
                    if n > budget { tieCases += 1 }
                }
            }
        }
        XCTAssertGreaterThan(tieCases, 10)
    }

    /// A cache whose key rows were overwritten (the tie case), with the naive top-K over them.
    struct TiedCache {
        let cache: Cache, keyRows: [Float]
        init(_ cache: Cache, keyRows: [Float]) { self.cache = cache; self.keyRows = keyRows }
        func naiveTopK(_ q: [Float], heads: Int, scale: Float, budget: Int) -> [[Int]] {
            let hd = cache.headDimension, w = cache.rowWidth, groupSize = heads / cache.kvHeads
            return (0..<heads).map { h in
                let kvOffset = (h / groupSize) * hd
                let qh = Array(q[h * hd ..< (h + 1) * hd])
                let scored = (0..<cache.slots).map { s in (slot: s, score: NaiveKernels.dot(qh, Array(keyRows[(s * w + kvOffset) ..< (s * w + kvOffset + hd)])) * scale) }
                let ranked = scored.sorted { $0.score > $1.score || ($0.score == $1.score && $0.slot < $1.slot) }
                return ranked.prefix(min(budget, cache.slots)).map(\.slot).sorted()
            }
        }
    }

    /// One head, head dimension 1, q = 1, keys 1, 3, 2, values 10, 30, 20, K = 2: slots 1 and 2
    /// are kept; the output is (e³·30 + e²·20) / (e³ + e²) = 30 − 10 / (1 + e) ≈ 27.310586.
    func testHandComputedRestrictedAttention() {
        var rng = Xoshiro256StarStar(seed: 1)
        let cache = Cache(slots: 3, kvHeads: 1, headDimension: 1, rng: &rng)
        for (s, (k, v)) in [(Float(1), Float(10)), (3, 30), (2, 20)].enumerated() { cache.keyTiles[s] = k; cache.valueTiles[s] = v }
        let pool = ParallelFor(threadCount: 1)
        defer { pool.shutdown() }
        let q: [Float] = [1]
        let kept = Self.select(q, heads: 1, cache, visible: [[0, 1, 2]], scale: 1, budget: 2, pool: pool)
        XCTAssertEqual(kept, [[1, 2]])
        let out = Self.gathered(q, heads: 1, cache, selected: kept, scale: 1, pool: pool)
        XCTAssertEqual(Double(out[0]), 30 - 10 / (1 + 2.718281828459045), accuracy: 1e-5)
        // Ties: keys 2, 2, 2 with K = 2 keep the two lowest slots.
        for s in 0..<3 { cache.keyTiles[s] = 2 }
        XCTAssertEqual(Self.select(q, heads: 1, cache, visible: [[0, 1, 2]], scale: 1, budget: 2, pool: pool), [[0, 1]])
    }

    func testSelectionAndRestrictedAttentionDoNotDependOnThreadCount() {
        var rng = Xoshiro256StarStar(seed: 77)
        let cache = Cache(slots: 130, kvHeads: 3, headDimension: 64, rng: &rng)
        let heads = 9, scale: Float = 0.125
        let visible = (0..<5).map { i in Array(0...(125 + i)) }
        let q = rng.wideFloats(visible.count * heads * 64, exponents: -5...1)
        var selections: [[[Int]]] = [], outputs: [[Float]] = [], references: [[Float]] = []
        withPools([1, 2, 3]) { pool in
            let kept = Self.select(q, heads: heads, cache, visible: visible, scale: scale, budget: 20, pool: pool)
            selections.append(kept)
            outputs.append(Self.gathered(q, heads: heads, cache, selected: kept, scale: scale, pool: pool))
            references.append(Self.masked(q, heads: heads, cache, visible: visible, selected: kept, scale: scale, pool: pool))
        }
        for i in 1..<selections.count {
            XCTAssertEqual(selections[i], selections[0])
            assertBitIdentical(outputs[i], outputs[0], "gathered, pool \(i)")
            assertBitIdentical(references[i], references[0], "masked, pool \(i)")
        }
        assertBitIdentical(outputs[0], references[0], "gathered vs masked")
    }
}

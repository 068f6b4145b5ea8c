import XCTest
import Tensors

/// `Attention.scaledDotProduct` against attention written out one scalar at a time in the
/// documented order (per slot `NaiveKernels.dot(q, k) * scale`, `NaiveKernels.softmax`, then
/// `out[d] = out[d] + p_j * v_j[d]` from +0 in slot order), bit for bit, on odd head dimensions,
/// slot counts that fall on and around tile edges, causal, tree and slot-skipping masks, and
/// grouped key/value heads; plus thread-count (D2) and batch (D3) invariance.
final class AttentionKernelTests: XCTestCase {
    static let headDimensions = [1, 7, 16, 64, 65]
    static let slotCounts = [1, 15, 16, 17, 100]
    /// (kvHeads, query heads per key/value head).
    static let headGroupings = [(kvHeads: 2, groupSize: 1), (kvHeads: 2, groupSize: 3)]

    // MARK: a cache filled with the documented tile layout

    /// A layer's keys and values at `slots` slots, stored with the layout formulas written out
    /// here (not `TiledKeyValues`' index functions), plus the same data as plain rows.
    final class Cache {
        let slots: Int, kvHeads: Int, headDimension: Int
        var rowWidth: Int { kvHeads * headDimension }
        /// `[slots, kvHeads * hd]`, row-major.
        let keyRows: [Float], valueRows: [Float]
        let keyTiles: UnsafeMutablePointer<Float>, valueTiles: UnsafeMutablePointer<Float>

        init(slots: Int, kvHeads: Int, headDimension hd: Int, rng: inout Xoshiro256StarStar) {
            self.slots = slots; self.kvHeads = kvHeads; headDimension = hd
            let w = kvHeads * hd
            // Keys small enough that scores stay near 1 (softmax not one-hot); values wide.
            keyRows = rng.wideFloats(slots * w, exponents: -5...1)
            valueRows = rng.wideFloats(slots * w)
            let floats = (slots + 15) / 16 * 16 * w
            keyTiles = .allocate(capacity: floats)
            valueTiles = .allocate(capacity: floats)
            // Unused lanes of the last tile hold NaN: a read of a slot that is not there shows.
            keyTiles.initialize(repeating: .nan, count: floats)
            valueTiles.initialize(repeating: .nan, count: floats)
            for s in 0..<slots {
                for c in 0..<w {
                    // keys [s/16][c][s%16]; values [s/16][c/hd][s%16][c%hd]
                    keyTiles[(s / 16) * 16 * w + c * 16 + s % 16] = keyRows[s * w + c]
                    valueTiles[(s / 16) * 16 * w + (c / hd) * 16 * hd + (s % 16) * hd + c % hd] = valueRows[s * w + c]
                }
            }
        }
        deinit { keyTiles.deallocate(); valueTiles.deallocate() }

        var layout: TiledKeyValues { TiledKeyValues(keys: keyTiles, values: valueTiles, rowWidth: rowWidth, headDimension: headDimension) }
    }

    /// The simple path, scalar by scalar: `[T, heads * hd]`.
    static func scalarAttention(_ queries: [Float], heads: Int, _ cache: Cache, visibleSlots: [[Int]], scale: Float,
                                dot: ([Float], [Float]) -> Float = NaiveKernels.dot) -> [Float] {
        let hd = cache.headDimension, w = cache.rowWidth, groupSize = heads / cache.kvHeads
        var out = [Float](repeating: 0, count: visibleSlots.count * heads * hd)
        for (t, slots) in visibleSlots.enumerated() {
            for h in 0..<heads {
                let kvOffset = (h / groupSize) * hd
                let q = Array(queries[(t * heads + h) * hd ..< (t * heads + h + 1) * hd])
                var scores: [Float] = []
                for s in slots {
                    let k = Array(cache.keyRows[(s * w + kvOffset) ..< (s * w + kvOffset + hd)])
                    scores.append(dot(q, k) * scale)
                }
                let p = NaiveKernels.softmax(scores)
                for d in 0..<hd {
                    var sum: Float = 0
                    for (j, s) in slots.enumerated() { sum = sum + p[j] * cache.valueRows[s * w + kvOffset + d] }
                    out[(t * heads + h) * hd + d] = sum
                }
            }
        }
        return out
    }

    static func attention(_ queries: [Float], heads: Int, _ cache: Cache, visibleSlots: [[Int]], scale: Float, naive: Bool,
                          pool: ParallelFor, file: StaticString = #filePath, line: UInt = #line) -> [Float] {
        withGuardedOutput(count: visibleSlots.count * heads * cache.headDimension, file: file, line: line) { out in
            queries.withUnsafeBufferPointer { qp in
                Attention.scaledDotProduct(queries: qp.baseAddress!, heads: heads, keysAndValues: cache.layout, visibleSlots: visibleSlots,
                                           scale: scale, naive: naive, into: out, pool: pool)
            }
        }
    }

    // MARK: masks

    /// Visible-slot lists over `n` cached slots, named: causal and tree batches at the end of the
    /// cache (shared prefix), lists that skip slots (no shared prefix, whole tiles mixed with
    /// gaps), and a prefix that ends inside a tile followed by skips.
    static func masks(slots n: Int, tokens: Int, rng: inout Xoshiro256StarStar) -> [(String, [[Int]])] {
        let T = min(n, tokens), base = n - T
        var result: [(String, [[Int]])] = []
        result.append(("causal", (0..<T).map { i in Array(0...(base + i)) }))
        // Tree: parent of batch token i is -1 (the cache) or an earlier batch token.
        var tree: [[Int]] = []
        for i in 0..<T {
            let parent = i == 0 ? -1 : rng.nextInt(in: -1...(i - 1))
            tree.append((parent == -1 ? Array(0..<base) : tree[parent]) + [base + i])
        }
        result.append(("tree", tree))
        // Skipping: per token and per tile, the whole tile, none of it, or each slot with p = 1/2.
        var skipping: [[Int]] = []
        for _ in 0..<T {
            var slots: [Int] = []
            for tile in 0..<((n + 15) / 16) {
                let range = (tile * 16)..<min(n, tile * 16 + 16)
                switch rng.nextInt(in: 0...2) {
                case 0: slots += range
                case 1: break
                default: slots += range.filter { _ in rng.next() & 1 == 0 }
                }
            }
            if slots.isEmpty { slots = [rng.nextInt(in: 0...(n - 1))] }
            skipping.append(slots)
        }
        result.append(("skipping", skipping))
        // A shared prefix that ends mid-tile (every token sees 0..<prefix), then random slots.
        let prefix = rng.nextInt(in: 0...n)
        result.append(("prefix \(prefix) + skips", (0..<T).map { _ in Array(0..<prefix) + (prefix..<n).filter { _ in rng.next() % 3 != 0 } }))
        return result
    }

    // MARK: tests

    func testTiledAttentionEqualsPerSlotScalarAttentionBitForBit() {
        let pool = ParallelFor(threadCount: 2)
        defer { pool.shutdown() }
        var orderSensitive = 0, cases = 0
        for hd in Self.headDimensions {
            for n in Self.slotCounts {
                for g in Self.headGroupings {
                    var rng = Xoshiro256StarStar(seed: UInt64(hd) &* 1_000_003 &+ UInt64(n) &* 7919 &+ UInt64(g.groupSize))
                    let cache = Cache(slots: n, kvHeads: g.kvHeads, headDimension: hd, rng: &rng)
                    let heads = g.kvHeads * g.groupSize, scale = 1 / Float(hd).squareRoot()
                    for (name, visible) in Self.masks(slots: n, tokens: 11, rng: &rng) {
                        let q = rng.wideFloats(visible.count * heads * hd, exponents: -5...1)
                        let expected = Self.scalarAttention(q, heads: heads, cache, visibleSlots: visible, scale: scale)
                        for naive in [false, true] {
                            let actual = Self.attention(q, heads: heads, cache, visibleSlots: visible, scale: scale, naive: naive, pool: pool)
                            assertBitIdentical(actual, expected, "hd \(hd) slots \(n) kvHeads \(g.kvHeads) group \(g.groupSize) \(name) naive \(naive)")
                        }
                        // The data must tell the dot's 16-lane order from a left-to-right sum
                        // (one slot is exempt: its probability is 1 whatever its score).
                        if hd > 16 && n > 1 {
                            cases += 1
                            let leftToRight = Self.scalarAttention(q, heads: heads, cache, visibleSlots: visible, scale: scale) { a, b in
                                var s: Float = 0
                                for i in a.indices { s = s + a[i] * b[i] }
                                return s
                            }
                            if leftToRight.map(\.bitPattern) != expected.map(\.bitPattern) { orderSensitive += 1 }
                        }
                    }
                }
            }
        }
        XCTAssertGreaterThan(orderSensitive, cases * 3 / 4, "inputs too tame to test the reduction order")
    }

    func testAttentionIsBitIdenticalForOneTwoAndThreeThreads() {
        // 19 tokens = work items of 8 + 8 + 3 tokens per head; 6 heads over 2 key/value heads.
        var rng = Xoshiro256StarStar(seed: 0xA77E)
        let hd = 65, n = 100, heads = 6
        let cache = Cache(slots: n, kvHeads: 2, headDimension: hd, rng: &rng)
        let scale = 1 / Float(hd).squareRoot()
        for (name, visible) in Self.masks(slots: n, tokens: 19, rng: &rng) {
            let q = rng.wideFloats(visible.count * heads * hd, exponents: -5...1)
            let expected = Self.scalarAttention(q, heads: heads, cache, visibleSlots: visible, scale: scale)
            withPools([1, 2, 3]) { pool in
                for naive in [false, true] {
                    let actual = Self.attention(q, heads: heads, cache, visibleSlots: visible, scale: scale, naive: naive, pool: pool)
                    assertBitIdentical(actual, expected, "\(name) threads \(pool.threadCount) naive \(naive)")
                }
            }
        }
    }

    func testATokensAttentionDoesNotDependOnTheBatchItIsComputedIn() {
        // D3: each token alone gives the bits of its row in the batch, although in the batch it
        // shares a work item and the walk over the common prefix with other tokens.
        let pool = ParallelFor(threadCount: 2)
        defer { pool.shutdown() }
        var rng = Xoshiro256StarStar(seed: 0xBA7C)
        let hd = 64, n = 100, heads = 3
        let cache = Cache(slots: n, kvHeads: 1, headDimension: hd, rng: &rng)
        let scale = 1 / Float(hd).squareRoot()
        for (name, visible) in Self.masks(slots: n, tokens: 13, rng: &rng) {
            let q = rng.wideFloats(visible.count * heads * hd, exponents: -5...1)
            let batch = Self.attention(q, heads: heads, cache, visibleSlots: visible, scale: scale, naive: false, pool: pool)
            for t in visible.indices {
                let width = heads * hd
                let alone = Self.attention(Array(q[(t * width)..<((t + 1) * width)]), heads: heads, cache, visibleSlots: [visible[t]], scale: scale, naive: false, pool: pool)
                assertBitIdentical(alone, Array(batch[(t * width)..<((t + 1) * width)]), "\(name) token \(t)")
            }
        }
    }

    func testOneVisibleSlotGivesItsValueRowAndNoVisibleSlotGivesZeros() {
        // softmax of one score is exactly 1, and +0 + 1 * v = v. A token that sees nothing gets +0.
        let pool = ParallelFor(threadCount: 1)
        defer { pool.shutdown() }
        var rng = Xoshiro256StarStar(seed: 0x0E)
        let hd = 7, n = 40
        let cache = Cache(slots: n, kvHeads: 2, headDimension: hd, rng: &rng)
        let q = rng.wideFloats(3 * 4 * hd)
        for naive in [false, true] {
            let out = Self.attention(q, heads: 4, cache, visibleSlots: [[37], [], [0]], scale: 0.5, naive: naive, pool: pool)
            for h in 0..<4 {
                let kv = (h / 2) * hd
                assertBitIdentical(Array(out[(h * hd)..<((h + 1) * hd)]), Array(cache.valueRows[(37 * 2 * hd + kv)..<(37 * 2 * hd + kv + hd)]), "slot 37 head \(h)")
                assertBitIdentical(Array(out[((4 + h) * hd)..<((5 + h) * hd)]), [Float](repeating: 0, count: hd), "no slot head \(h)")
                assertBitIdentical(Array(out[((8 + h) * hd)..<((9 + h) * hd)]), Array(cache.valueRows[kv..<(kv + hd)]), "slot 0 head \(h)")
            }
        }
    }

    func testEqualScoresAverageTheValueRowsInSlotOrder() {
        // Zero queries: every score is 0, p = 1/3 each (rounded), out = ((0 + p v0) + p v1) + p v2.
        let pool = ParallelFor(threadCount: 1)
        defer { pool.shutdown() }
        var rng = Xoshiro256StarStar(seed: 0x3A)
        let hd = 17, n = 33
        let cache = Cache(slots: n, kvHeads: 1, headDimension: hd, rng: &rng)
        let slots = [3, 16, 32], p = Float(1) / 3
        let expected = (0..<hd).map { d in
            var s: Float = 0
            for slot in slots { s = s + p * cache.valueRows[slot * hd + d] }
            return s
        }
        for naive in [false, true] {
            let out = Self.attention([Float](repeating: 0, count: hd), heads: 1, cache, visibleSlots: [slots], scale: 1, naive: naive, pool: pool)
            assertBitIdentical(out, expected, "naive \(naive)")
        }
    }

    func testTiledKeyValuesIndicesFollowTheDocumentedLayout() {
        // keys [slot/16][W][slot%16], values [slot/16][kvHead][slot%16][hd]; within a tile every
        // (slot, element) has its own float.
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: 1)
        defer { buffer.deallocate() }
        for (w, hd) in [(1, 1), (14, 7), (195, 65)] {
            let layout = TiledKeyValues(keys: buffer, values: buffer, rowWidth: w, headDimension: hd)
            XCTAssertEqual(layout.kvHeads, w / hd)
            var keySeen = Set<Int>(), valueSeen = Set<Int>()
            for s in 0..<48 {
                for c in 0..<w {
                    XCTAssertEqual(layout.keyIndex(s, c), (s / 16) * 16 * w + c * 16 + s % 16)
                    XCTAssertEqual(layout.valueIndex(s, c), (s / 16) * 16 * w + (c / hd) * 16 * hd + (s % 16) * hd + c % hd)
                    keySeen.insert(layout.keyIndex(s, c)); valueSeen.insert(layout.valueIndex(s, c))
                }
            }
            XCTAssertEqual(keySeen, Set(0..<(48 * w)))
            XCTAssertEqual(valueSeen, Set(0..<(48 * w)))
        }
    }
}

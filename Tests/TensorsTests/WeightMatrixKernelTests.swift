import XCTest
import Tensors

/// `WeightMatrix` products against the documented reduction order
/// (`s = 0; s = s + W[r][c] * x[c]`, c left to right) for every encoding, on odd shapes, bit for
/// bit; plus thread-count (D2) and batch (D3) invariance.
final class WeightMatrixKernelTests: XCTestCase {
    static let rowCounts = [1, 7, 13, 16, 17, 31, 33, 1025]
    static let f32Columns = [1, 7, 13, 31, 1025]
    static let quantizedColumns = [32, 64, 96, 1024]
    static let tokenCounts = [1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 17]  // every group size 1…8, and 8 + 1, 8 + 5, 8 + 8 + 1
    static let maxTokens = 17

    /// Token counts tried for a shape. Debug builds run SIMD code slowly, so the full list is
    /// used where one product is cheap (≤ 50k lane operations: every shape with ≤ 33 rows, and
    /// 1025 rows up to 32 columns); 1025 × 64..96 use 1 and 13 (13 = 8 + 4 + 1 runs all three
    /// token micro-kernels and the one-token pair path), and 1025 × 1024/1025 use 5 (4 + 1).
    static func tokenCounts(rows: Int, columns: Int) -> [Int] {
        let cost = (rows + 15) / 16 * 16 * columns
        if cost <= 50_000 { return tokenCounts }
        if cost <= 200_000 { return [1, 13] }
        return [5]
    }

    /// K-quant rows are whole super-blocks of 256: one, two (a block boundary inside a panel's
    /// walk) and three.
    static let superBlockColumns = [256, 512, 768]

    static func columnCounts(_ encoding: WeightEncoding) -> [Int] {
        switch encoding.ggmlBlockColumns {
        case 1: return f32Columns
        case 32: return quantizedColumns
        default: return superBlockColumns
        }
    }

    /// `small` for 32-element block types and f32's own list; one or two super-blocks for K-quants.
    static func columns(f32: [Int], quantized: [Int]) -> (WeightEncoding) -> [Int] {
        { e in e == .f32 ? f32 : e.ggmlBlockColumns == 256 ? (quantized.count > 1 ? [256, 512] : [256]) : quantized }
    }

    static let encodings: [WeightEncoding] = [.f32, .q8_0, .q4_1, .q5_0, .q4_K, .q6_K]

    /// Every (encoding, rows, columns) with a seeded matrix and 17 seeded input vectors.
    static func forEachShape(_ encodings: [WeightEncoding] = encodings, rows: [Int] = rowCounts, columns: ((WeightEncoding) -> [Int])? = nil,
                             _ body: (MatrixFixture, [Float]) -> Void) {
        for encoding in encodings {
            for r in rows {
                for c in (columns ?? columnCounts)(encoding) {
                    var rng = Xoshiro256StarStar(seed: UInt64(r) &* 1_000_003 &+ UInt64(c) &* 7919 &+ UInt64(encoding.ggmlBlockBytes))
                    let fixture = makeMatrix(encoding, rows: r, columns: c, rng: &rng)
                    let x = rng.wideFloats(maxTokens * c)
                    body(fixture, x)
                }
            }
        }
    }

    func testMultiplyIsBitIdenticalToNaiveForEveryEncodingAndOddShape() {
        let pool = ParallelFor(threadCount: 2)
        defer { pool.shutdown() }
        var orderSensitiveOutputs = 0
        Self.forEachShape { f, x in
            let counts = Self.tokenCounts(rows: f.rows, columns: f.columns)
            let expected = naiveProduct(f.elements, rows: f.rows, columns: f.columns, x, tokens: counts.max()!)
            for tokens in counts {
                // The guard region around the output checks that padded panel rows are never stored.
                let y = guardedMultiply(f.matrix, x, tokens: tokens, pool: pool)
                assertBitIdentical(y, Array(expected.prefix(tokens * f.rows)), "\(f.encoding) \(f.rows)x\(f.columns) tokens \(tokens)")
            }
            // The data must make the comparison meaningful: summing in reverse changes some outputs.
            if f.columns >= 13 {
                let reversed = naiveProduct(f.elements.chunked(f.columns).flatMap { $0.reversed() }, rows: f.rows, columns: f.columns,
                                            Array(x.prefix(f.columns).reversed()), tokens: 1)
                orderSensitiveOutputs += zip(reversed, expected.prefix(f.rows)).filter { $0.bitPattern != $1.bitPattern }.count
            }
        }
        XCTAssertGreaterThan(orderSensitiveOutputs, 100, "test data do not distinguish reduction orders")
    }

    func testArrayMultiplyEqualsPointerMultiply() {
        let pool = ParallelFor(threadCount: 2)
        defer { pool.shutdown() }
        Self.forEachShape(rows: [17], columns: Self.columns(f32: [13], quantized: [64])) { f, x in
            for tokens in [1, 5] {
                let fromArray = f.matrix.multiply(Array(x.prefix(tokens * f.columns)), tokens: tokens, pool: pool)
                assertBitIdentical(fromArray, guardedMultiply(f.matrix, x, tokens: tokens, pool: pool), "\(f.encoding) tokens \(tokens)")
            }
        }
    }

    func testMultiplyNaiveFollowsTheDocumentedOrder() {
        Self.forEachShape { f, x in
            // multiplyNaive is itself a scalar loop; two tokens exercise its indexing.
            let tokens = 2
            let expected = naiveProduct(f.elements, rows: f.rows, columns: f.columns, x, tokens: tokens)
            let y = withGuardedOutput(count: tokens * f.rows) { y in
                x.withUnsafeBufferPointer { f.matrix.multiplyNaive($0.baseAddress!, tokens: tokens, into: y) }
            }
            assertBitIdentical(y, expected, "multiplyNaive \(f.encoding) \(f.rows)x\(f.columns)")
        }
    }

    func testElementDecodesTheGGMLReferenceFormula() {
        Self.forEachShape(rows: [1, 17, 33]) { f, _ in
            var row = [Float](repeating: 0, count: f.columns)
            for r in 0..<f.rows {
                for c in 0..<f.columns {
                    let e = f.matrix.element(row: r, column: c), expected = f.elements[r * f.columns + c]
                    if e.bitPattern != expected.bitPattern {
                        XCTFail("\(f.encoding) element(\(r), \(c)) = \(e) (\(hex(e))), formula gives \(expected) (\(hex(expected)))")
                        return
                    }
                }
                row.withUnsafeMutableBufferPointer { f.matrix.decodeRow(r, into: $0.baseAddress!) }
                assertBitIdentical(row, Array(f.elements[(r * f.columns)..<((r + 1) * f.columns)]), "\(f.encoding) decodeRow(\(r))")
            }
        }
    }

    /// Hand-computed blocks: the nibble order and the rounding of `d * q + m` are pinned down by
    /// values a reader can check on paper.
    func testQuantizedBlocksDecodeHandComputedValues() {
        // Q8_0: d = 0.5 (0x3800), q = [-128, -1, 0, 1, 127, 0, ...].
        let q8: [UInt8] = [0x00, 0x38, 0x80, 0xFF, 0x00, 0x01, 0x7F] + [UInt8](repeating: 0, count: 27)
        let q8Bytes = OwnedBytes(q8)
        let m8 = WeightMatrix(rows: 1, columns: 32, encoding: .q8_0, rowMajorBytes: UnsafeRawPointer(q8Bytes.pointer), owner: q8Bytes)
        XCTAssertEqual((0..<5).map { m8.element(row: 0, column: $0) }, [-64, -0.5, 0, 0.5, 63.5])
        // Q4_1: d = 1 (0x3C00), m = -8 (0xC800); byte 0 = 0x3A → element 0 = 10 - 8 = 2,
        // element 16 = 3 - 8 = -5; byte 15 = 0xF0 → element 15 = -8, element 31 = 7.
        var q4: [UInt8] = [0x00, 0x3C, 0x00, 0xC8] + [UInt8](repeating: 0, count: 16)
        q4[4] = 0x3A
        q4[19] = 0xF0
        let q4Bytes = OwnedBytes(q4)
        let m4 = WeightMatrix(rows: 1, columns: 32, encoding: .q4_1, rowMajorBytes: UnsafeRawPointer(q4Bytes.pointer), owner: q4Bytes)
        XCTAssertEqual(m4.element(row: 0, column: 0), 2)
        XCTAssertEqual(m4.element(row: 0, column: 16), -5)
        XCTAssertEqual(m4.element(row: 0, column: 15), -8)
        XCTAssertEqual(m4.element(row: 0, column: 31), 7)
        // d * q is exact in Float32 (11 × 4 significant bits); the add rounds: d = 1024 (0x6400),
        // m = 2^-14 (0x0400), q = 15 → 15360 + 2^-14 rounds to 15360; q = 0 → exactly 2^-14.
        var rounding: [UInt8] = [0x00, 0x64, 0x00, 0x04] + [UInt8](repeating: 0x0F, count: 16)
        rounding[4] = 0x00  // element 0: q = 0; element 16: q = 0
        let roundingBytes = OwnedBytes(rounding)
        let mr = WeightMatrix(rows: 1, columns: 32, encoding: .q4_1, rowMajorBytes: UnsafeRawPointer(roundingBytes.pointer), owner: roundingBytes)
        XCTAssertEqual(mr.element(row: 0, column: 0), 0x1p-14)
        XCTAssertEqual(mr.element(row: 0, column: 1), 15360)
        XCTAssertEqual(mr.element(row: 0, column: 16), 0x1p-14)
        XCTAssertEqual(mr.element(row: 0, column: 17), 0x1p-14)  // high nibble of 0x0F is 0
        // x = 1 everywhere: the product is the left-to-right Float32 sum of the 32 elements,
        // 2^-14 + 15 × 15360 + 16 × 2^-14, in which every 2^-14 is absorbed: exactly 230400.
        let x = [Float](repeating: 1, count: 32)
        var s: Float = 0
        for c in 0..<32 { s = s + mr.element(row: 0, column: c) }
        let pool = ParallelFor(threadCount: 1)
        defer { pool.shutdown() }
        XCTAssertEqual(mr.multiply(x, pool: pool), [s])
        XCTAssertEqual(s, 230400)
    }

    func testThreadCountDoesNotChangeProducts() {
        // Shapes with 1, 2 and 33 panel pairs, so that 2, 3 and 5 participants split real work.
        var reference: [String: [Float]] = [:]
        var comparisons = 0
        withPools([1, 2, 3, 5]) { pool in
            Self.forEachShape(rows: [17, 33, 1025], columns: Self.columns(f32: [7, 31], quantized: [32, 64])) { f, x in
                for tokens in Self.tokenCounts where f.rows < 1025 || [1, 2, 5, 9, 13].contains(tokens) {
                    let key = "\(f.encoding) \(f.rows)x\(f.columns) tokens \(tokens)"
                    let y = guardedMultiply(f.matrix, x, tokens: tokens, pool: pool)
                    if let r = reference[key] {
                        assertBitIdentical(y, r, "\(key): \(pool.threadCount) threads vs 1 thread")
                        comparisons += 1
                    } else {
                        reference[key] = y
                    }
                }
            }
        }
        XCTAssertEqual(comparisons, 3 * reference.count)
    }

    func testEachTokenOfABatchEqualsItsSingleTokenProduct() {
        let pool = ParallelFor(threadCount: 2)
        defer { pool.shutdown() }
        Self.forEachShape(rows: [1, 16, 17, 33, 1025], columns: Self.columns(f32: [1, 13], quantized: [32, 64])) { f, x in
            let single = (0..<Self.maxTokens).map { t in
                guardedMultiply(f.matrix, Array(x[(t * f.columns)..<((t + 1) * f.columns)]), tokens: 1, pool: pool)
            }
            for tokens in Self.tokenCounts {
                let batch = guardedMultiply(f.matrix, x, tokens: tokens, pool: pool)
                for t in 0..<tokens {
                    assertBitIdentical(Array(batch[(t * f.rows)..<((t + 1) * f.rows)]), single[t],
                                       "\(f.encoding) \(f.rows)x\(f.columns): token \(t) of \(tokens) vs alone")
                }
            }
        }
    }
}

extension Array {
    /// Consecutive slices of `size` elements.
    func chunked(_ size: Int) -> [ArraySlice<Element>] {
        stride(from: 0, to: count, by: size).map { self[$0..<Swift.min($0 + size, count)] }
    }
}

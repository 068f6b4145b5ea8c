import XCTest
import Tensors

// Shared helpers for the kernel tests: seeded random data, an independent ggml block decoder,
// bit-exact comparison, and `NaiveKernels` (the documented reduction orders, one scalar at a time).
// Every randomized test uses a fixed seed, so a failure reproduces exactly.

// MARK: - Seeded random data

extension Xoshiro256StarStar {
    /// A uniform integer in `range` (modulo bias is irrelevant for test data).
    mutating func nextInt(in range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(next() % UInt64(range.upperBound - range.lowerBound + 1))
    }

    /// ±(1 + u) · 2^e with e uniform in `exponents`: values spanning many binades, so that sums
    /// round often and a different reduction order almost always changes the result.
    mutating func nextWideFloat(exponents: ClosedRange<Int> = -8...8) -> Float {
        let sign: FloatingPointSign = next() & 1 == 0 ? .plus : .minus
        return Float(sign: sign, exponent: nextInt(in: exponents), significand: 1 + nextUniformFloat())
    }

    mutating func wideFloats(_ count: Int, exponents: ClosedRange<Int> = -8...8) -> [Float] {
        (0..<count).map { _ in nextWideFloat(exponents: exponents) }
    }

    /// The bits of a finite binary16 value: ±(0.5 + u) · 2^e, e in `exponents`, made with the
    /// `Float16` type; with probability 1/32 a subnormal or zero half instead (exercises the
    /// decoder's subnormal path).
    mutating func nextHalfBits(exponents: ClosedRange<Int>, negativeProbability: Double = 0.5) -> UInt16 {
        if next() % 32 == 0 {
            return UInt16(next() & 0x03FF) | (next() & 1 == 0 ? 0 : 0x8000)
        }
        let negative = nextUniformDouble() < negativeProbability
        let magnitude = Float(sign: .plus, exponent: nextInt(in: exponents), significand: 0.5 + nextUniformFloat())
        let h = Float16(negative ? -magnitude : magnitude)
        precondition(h.isFinite)
        return h.bitPattern
    }
}

// MARK: - Weight matrices built from random ggml blocks

/// Owns raw bytes handed to `WeightMatrix` as its row-major source.
final class OwnedBytes {
    let pointer: UnsafeMutableRawPointer
    init(_ bytes: [UInt8]) {
        pointer = UnsafeMutableRawPointer.allocate(byteCount: max(1, bytes.count), alignment: 16)
        bytes.withUnsafeBytes { pointer.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
    }
    deinit { pointer.deallocate() }
}

/// A `WeightMatrix` together with its elements as decoded by the test's own formulas.
struct MatrixFixture {
    let matrix: WeightMatrix
    /// Row-major `[rows, columns]`, decoded independently of the module (`referenceElement`).
    let elements: [Float]
    let rows: Int
    let columns: Int
    let encoding: WeightEncoding
}

/// The exact Float32 value of element (r, c) of row-major ggml data, written from the ggml
/// block definitions: Q8_0 = { f16 d; int8 q[32] } → `d * Float(q)`; Q4_1 = { f16 d; f16 m;
/// uint8 qs[16] } → `d * Float(q) + m`, byte j low nibble = element j, high nibble = element
/// j + 16. Half → float uses Swift's `Float(Float16)`, not the module's `halfToFloat`.
func referenceElement(_ encoding: WeightEncoding, _ bytes: [UInt8], columns: Int, row r: Int, column c: Int) -> Float {
    func half(_ offset: Int) -> Float {
        Float(Float16(bitPattern: UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8))
    }
    switch encoding {
    case .f32:
        let o = (r * columns + c) * 4
        let bits = UInt32(bytes[o]) | UInt32(bytes[o + 1]) << 8 | UInt32(bytes[o + 2]) << 16 | UInt32(bytes[o + 3]) << 24
        return Float(bitPattern: bits)
    case .q8_0:
        let o = (r * (columns / 32) + c / 32) * 34
        let d = half(o)
        let q = Int8(bitPattern: bytes[o + 2 + c % 32])
        return d * Float(q)
    case .q4_1:
        let o = (r * (columns / 32) + c / 32) * 20
        let d = half(o), m = half(o + 2)
        let j = c % 32
        let byte = bytes[o + 4 + j % 16]
        let q = j < 16 ? byte & 0x0F : byte >> 4
        let product = d * Float(q)   // rounded to Float32
        return product + m           // rounded again
    case .q5_0:
        // gguf-py: qs = (ql | (qh >> i & 1) << 4) - 16; d * qs.
        let o = (r * (columns / 32) + c / 32) * 22
        let d = half(o)
        let qh = UInt32(bytes[o + 2]) | UInt32(bytes[o + 3]) << 8 | UInt32(bytes[o + 4]) << 16 | UInt32(bytes[o + 5]) << 24
        let j = c % 32
        let ql = j < 16 ? bytes[o + 6 + j] & 0x0F : bytes[o + 6 + j - 16] >> 4
        let q = Int(ql) + Int((qh >> UInt32(j)) & 1) * 16 - 16
        return d * Float(q)
    case .q4_K:
        // gguf-py Q4_K: sc/m from the 12 packed bytes (3 rows of 4), d·sc and dmin·m per
        // sub-block of 32, then (d·sc) * q - (dmin·m).
        let o = (r * (columns / 256) + c / 256) * 144
        let d = half(o), dmin = half(o + 2)
        let scales = Array(bytes[(o + 4)..<(o + 16)])
        let e = c % 256, s = e / 32
        let sc = s < 4 ? scales[s] & 63 : (scales[8 + s - 4] & 0x0F) | ((scales[s - 4] >> 2) & 0x30)
        let mn = s < 4 ? scales[4 + s] & 63 : (scales[8 + s - 4] >> 4) | ((scales[4 + s - 4] >> 2) & 0x30)
        let chunk = Array(bytes[(o + 16 + 32 * (s / 2))..<(o + 16 + 32 * (s / 2) + 32)])
        let q = (chunk[e % 32] >> (s % 2 == 0 ? 0 : 4)) & 0x0F
        let ds = d * Float(sc), dm = dmin * Float(mn)
        let product = ds * Float(q)
        return product - dm
    case .q6_K:
        // gguf-py Q6_K: ql (128), qh (64), int8 scales (16), d; q = (ql | qh << 4) - 32; (d·sc) * q.
        let o = (r * (columns / 256) + c / 256) * 210
        let e = c % 256, g = e / 32, l = e % 32
        let ql = (bytes[o + 64 * (g / 4) + 32 * (g % 2) + l] >> (4 * UInt8((g / 2) % 2))) & 0x0F
        let qh = (bytes[o + 128 + 32 * (g / 4) + l] >> (2 * UInt8(g % 4))) & 0x03
        let q = Int(ql | (qh << 4)) - 32
        let ds = half(o + 208) * Float(Int8(bitPattern: bytes[o + 192 + e / 16]))
        return ds * Float(q)
    }
}

/// Random row-major bytes of `encoding`: Float32 values for `.f32`; for quantized encodings ggml
/// blocks with finite half scales (d in a sane range, Q4_1 minimums mostly negative) and
/// uniformly random quant bytes.
func randomRowMajorBytes(_ encoding: WeightEncoding, rows: Int, columns: Int, rng: inout Xoshiro256StarStar) -> [UInt8] {
    var bytes: [UInt8] = []
    func appendHalf(_ h: UInt16) { bytes.append(UInt8(h & 0xFF)); bytes.append(UInt8(h >> 8)) }
    switch encoding {
    case .f32:
        bytes.reserveCapacity(rows * columns * 4)
        for _ in 0..<(rows * columns) {
            let bits = rng.nextWideFloat().bitPattern
            for k in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: bits >> (8 * UInt32(k)))) }
        }
    case .q8_0:
        for _ in 0..<(rows * columns / 32) {
            appendHalf(rng.nextHalfBits(exponents: -12 ... -3))
            for _ in 0..<32 { bytes.append(UInt8(truncatingIfNeeded: rng.next())) }
        }
    case .q4_1:
        for _ in 0..<(rows * columns / 32) {
            appendHalf(rng.nextHalfBits(exponents: -10 ... -4))
            appendHalf(rng.nextHalfBits(exponents: -8 ... -1, negativeProbability: 0.8))
            for _ in 0..<16 { bytes.append(UInt8(truncatingIfNeeded: rng.next())) }
        }
    case .q5_0:
        for _ in 0..<(rows * columns / 32) {
            appendHalf(rng.nextHalfBits(exponents: -12 ... -3))
            for _ in 0..<20 { bytes.append(UInt8(truncatingIfNeeded: rng.next())) }
        }
    case .q4_K:
        for _ in 0..<(rows * columns / 256) {
            appendHalf(rng.nextHalfBits(exponents: -14 ... -8))
            appendHalf(rng.nextHalfBits(exponents: -14 ... -8))
            for _ in 0..<(12 + 128) { bytes.append(UInt8(truncatingIfNeeded: rng.next())) }
        }
    case .q6_K:
        for _ in 0..<(rows * columns / 256) {
            for _ in 0..<(128 + 64 + 16) { bytes.append(UInt8(truncatingIfNeeded: rng.next())) }
            appendHalf(rng.nextHalfBits(exponents: -14 ... -8))
        }
    }
    return bytes
}

/// Builds a random matrix of `encoding` (f32 through `init(rows:columns:values:)`, quantized
/// through `init(rows:columns:encoding:rowMajorBytes:owner:)`) and decodes it with the test's
/// formulas.
func makeMatrix(_ encoding: WeightEncoding, rows: Int, columns: Int, rng: inout Xoshiro256StarStar) -> MatrixFixture {
    let bytes = randomRowMajorBytes(encoding, rows: rows, columns: columns, rng: &rng)
    var elements = [Float](repeating: 0, count: rows * columns)
    for r in 0..<rows {
        for c in 0..<columns { elements[r * columns + c] = referenceElement(encoding, bytes, columns: columns, row: r, column: c) }
    }
    let matrix: WeightMatrix
    if encoding == .f32 {
        matrix = WeightMatrix(rows: rows, columns: columns, values: elements)
    } else {
        let owned = OwnedBytes(bytes)
        matrix = WeightMatrix(rows: rows, columns: columns, encoding: encoding, rowMajorBytes: UnsafeRawPointer(owned.pointer), owner: owned)
    }
    return MatrixFixture(matrix: matrix, elements: elements, rows: rows, columns: columns, encoding: encoding)
}

// MARK: - Naive products and guarded calls

/// `y[t][r] = s` with `s = 0; s = s + w[r][c] * x[t][c]` for c strictly left to right.
/// `w`: `[rows, columns]`, `x`: `[tokens, columns]`, result `[tokens, rows]`.
func naiveProduct(_ w: [Float], rows: Int, columns: Int, _ x: [Float], tokens: Int) -> [Float] {
    var y = [Float](repeating: 0, count: tokens * rows)
    w.withUnsafeBufferPointer { wp in
        x.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { yp in
                for t in 0..<tokens {
                    for r in 0..<rows {
                        var s: Float = 0
                        for c in 0..<columns { s = s + wp[r * columns + c] * xp[t * columns + c] }
                        yp[t * rows + r] = s
                    }
                }
            }
        }
    }
    return y
}

/// The bit pattern written around output buffers; a kernel never produces it from finite data.
let guardBits: UInt32 = 0x7FA5_5A5A
let guardCount = 37

/// Runs `body` on a `[count]` Float buffer surrounded by `guardCount` guard words on both sides
/// and pre-filled with `guardBits`; fails if `body` writes outside `[0, count)`. Returns the
/// buffer's contents.
func withGuardedOutput(count: Int, file: StaticString = #filePath, line: UInt = #line, _ body: (UnsafeMutablePointer<Float>) -> Void) -> [Float] {
    let total = count + 2 * guardCount
    let raw = UnsafeMutablePointer<UInt32>.allocate(capacity: total)
    defer { raw.deallocate() }
    raw.initialize(repeating: guardBits, count: total)
    UnsafeMutableRawPointer(raw + guardCount).withMemoryRebound(to: Float.self, capacity: count) { y in
        body(y)
    }
    for i in 0..<guardCount where raw[i] != guardBits || raw[guardCount + count + i] != guardBits {
        XCTFail("write outside the output buffer (guard word \(i), count \(count))", file: file, line: line)
        break
    }
    return (0..<count).map { Float(bitPattern: raw[guardCount + $0]) }
}

/// `matrix.multiply` over the first `tokens` rows of `x` into a guarded buffer.
func guardedMultiply(_ matrix: WeightMatrix, _ x: [Float], tokens: Int, pool: ParallelFor, file: StaticString = #filePath, line: UInt = #line) -> [Float] {
    precondition(x.count >= tokens * matrix.columns)
    return withGuardedOutput(count: tokens * matrix.rows, file: file, line: line) { y in
        x.withUnsafeBufferPointer { matrix.multiply($0.baseAddress!, tokens: tokens, into: y, pool: pool) }
    }
}

/// Fails with the first differing index if `actual` and `expected` differ in any bit.
func assertBitIdentical(_ actual: [Float], _ expected: [Float], _ context: @autoclosure () -> String, file: StaticString = #filePath, line: UInt = #line) {
    guard actual.count == expected.count else {
        XCTFail("\(context()): count \(actual.count) != \(expected.count)", file: file, line: line)
        return
    }
    for i in actual.indices where actual[i].bitPattern != expected[i].bitPattern {
        let a = actual[i], e = expected[i]
        XCTFail("\(context()): index \(i): \(a) (0x\(String(a.bitPattern, radix: 16))) != \(e) (0x\(String(e.bitPattern, radix: 16)))", file: file, line: line)
        return
    }
}

func hex(_ x: Float) -> String { "0x" + String(x.bitPattern, radix: 16) }

/// Runs `body` with fresh pools of each thread count and shuts them down afterwards.
func withPools(_ threadCounts: [Int], _ body: (ParallelFor) throws -> Void) rethrows {
    for n in threadCounts {
        let pool = ParallelFor(threadCount: n)
        defer { pool.shutdown() }
        try body(pool)
    }
}

// MARK: - NaiveKernels: the documented orders, one scalar at a time

enum NaiveKernels {
    /// 16 lane sums: element i goes to lane i % 16 (chunks, then tail — the same thing), each
    /// lane summed in index order from +0; then ((lane0 + lane1) + lane2) + … + lane15.
    static func dot(_ a: [Float], _ b: [Float]) -> Float {
        var lanes = [Float](repeating: 0, count: 16)
        for i in a.indices { lanes[i % 16] = lanes[i % 16] + a[i] * b[i] }
        var s = lanes[0]
        for l in 1..<16 { s = s + lanes[l] }
        return s
    }

    static func rmsNorm(_ x: [Float], weight: [Float], epsilon: Float) -> [Float] {
        var ss: Float = 0
        for v in x { ss = ss + v * v }
        let mean = ss / Float(x.count)
        let root = (mean + epsilon).squareRoot()
        let r = 1 / root
        return x.indices.map { i in
            let scaled = x[i] * r
            return weight[i] * scaled
        }
    }

    static func softmax(_ x: [Float]) -> [Float] {
        if x.isEmpty { return [] }
        var m = -Float.infinity
        for v in x where v > m { m = v }
        if m == -.infinity { return x.map { _ in 0 } }
        let e = x.map { DeterministicMath.exp($0 - m) }
        var s: Float = 0
        for v in e { s = s + v }
        return e.map { $0 / s }
    }

    static func ropeAdjacentPairs(_ x: [Float], cos: [Float], sin: [Float]) -> [Float] {
        var y = x
        for i in 0..<(x.count / 2) {
            let a = x[2 * i] * cos[i], b = x[2 * i + 1] * sin[i]
            let c = x[2 * i] * sin[i], d = x[2 * i + 1] * cos[i]
            y[2 * i] = a - b
            y[2 * i + 1] = c + d
        }
        return y
    }

    static func swiGLU(gate: [Float], up: [Float]) -> [Float] {
        gate.indices.map { DeterministicMath.silu(gate[$0]) * up[$0] }
    }

    static func add(_ x: [Float], _ y: [Float]) -> [Float] {
        x.indices.map { x[$0] + y[$0] }
    }

    /// First index holding the largest non-NaN value; 0 if there is none.
    static func argmax(_ x: [Float]) -> Int {
        var best: Int? = nil
        for i in x.indices where !x[i].isNaN {
            if best == nil || x[i] > x[best!] { best = i }
        }
        return best ?? 0
    }

    /// Selection: repeatedly take the unpicked non-NaN entry with the largest value, lowest
    /// index among equals, `min(k, non-NaN count)` times.
    static func topK(_ x: [Float], k: Int) -> [(index: Int, value: Float)] {
        var picked = [Bool](repeating: false, count: x.count)
        var result: [(index: Int, value: Float)] = []
        while result.count < k {
            var best: Int? = nil
            for i in x.indices where !picked[i] && !x[i].isNaN {
                if best == nil || x[i] > x[best!] { best = i }
            }
            guard let b = best else { break }
            picked[b] = true
            result.append((b, x[b]))
        }
        return result
    }
}

import XCTest
import Tensors

/// `Kernels` against `NaiveKernels` (the documented orders, scalar by scalar), bit for bit, plus
/// hand-computed edge cases (empty input, signed zero, infinities, NaN, ties).
final class VectorKernelTests: XCTestCase {
    static let oddLengths = [0, 1, 7, 13, 15, 16, 17, 31, 1025]

    // MARK: dot

    func testDotIsBitIdenticalToTheDocumented16LaneOrder() {
        var rng = Xoshiro256StarStar(seed: 0xD07)
        var orderSensitive = 0
        for n in Self.oddLengths {
            for trial in 0..<8 {
                // One extra leading element, so the kernel also sees pointers that are not
                // 16-byte aligned (it must use unaligned loads).
                let a = rng.wideFloats(n + 1, exponents: -20...20), b = rng.wideFloats(n + 1, exponents: -20...20)
                let offset = trial % 2
                let aa = Array(a[offset..<(offset + n)]), bb = Array(b[offset..<(offset + n)])
                let expected = NaiveKernels.dot(aa, bb)
                let actual = a.withUnsafeBufferPointer { ap in
                    b.withUnsafeBufferPointer { bp in Kernels.dot(ap.baseAddress! + offset, bp.baseAddress! + offset, count: n) }
                }
                XCTAssertEqual(actual.bitPattern, expected.bitPattern, "n \(n) trial \(trial): \(actual) vs \(expected)")
                var leftToRight: Float = 0
                for i in 0..<n { leftToRight = leftToRight + aa[i] * bb[i] }
                if leftToRight.bitPattern != expected.bitPattern { orderSensitive += 1 }
            }
        }
        // The inputs must tell the 16-lane order from a plain left-to-right sum.
        XCTAssertGreaterThan(orderSensitive, 10)
    }

    func testDotOfEmptyOrNegativeZeroProductsIsPositiveZero() {
        let a: [Float] = [-0.0, 1, -1], b: [Float] = [1, -0.0, 0]
        for n in 0...3 {
            // Lanes start at +0 and +0 + -0 = +0.
            XCTAssertEqual(Kernels.dot(a, b, count: n).bitPattern, Float(0).bitPattern, "n \(n)")
        }
        // Hand-computed lane order: 2^24 at index 0 (lane 0) and 1 at indices 1 and 17 (both
        // lane 1): lane 1 = 2, and 2^24 + 2 is exact. A left-to-right sum adds each 1 to 2^24
        // separately and both round back to 2^24 (ties to even).
        var x = [Float](repeating: 0, count: 18), ones = [Float](repeating: 1, count: 18)
        x[0] = 0x1p24; x[1] = 1; x[17] = 1
        XCTAssertEqual(Kernels.dot(x, ones, count: 18), 0x1p24 + 2)
        var leftToRight: Float = 0
        for i in 0..<18 { leftToRight = leftToRight + x[i] }
        XCTAssertEqual(leftToRight, 0x1p24)  // 2^24 + 1 rounds to even twice
    }

    // MARK: rmsNorm

    func testRMSNormIsBitIdenticalToNaiveAndMayWorkInPlace() {
        var rng = Xoshiro256StarStar(seed: 0x125)
        let epsilon = Float(1e-5)
        for n in [1, 7, 16, 17, 576, 1025] {
            let x = rng.wideFloats(n, exponents: -6...6), w = rng.wideFloats(n, exponents: -2...2)
            let expected = NaiveKernels.rmsNorm(x, weight: w, epsilon: epsilon)
            let y = withGuardedOutput(count: n) { y in
                x.withUnsafeBufferPointer { Kernels.rmsNorm($0.baseAddress!, weight: w, epsilon: epsilon, count: n, into: y) }
            }
            assertBitIdentical(y, expected, "rmsNorm n \(n)")
            var inPlace = x
            inPlace.withUnsafeMutableBufferPointer { Kernels.rmsNorm($0.baseAddress!, weight: w, epsilon: epsilon, count: n, into: $0.baseAddress!) }
            assertBitIdentical(inPlace, expected, "rmsNorm in place n \(n)")
        }
        // Hand-computed: mean(x²) = 4, eps = 0 → r = 1/2 exactly.
        let y = withGuardedOutput(count: 4) { Kernels.rmsNorm([2, -2, 2, -2], weight: [1, 2, 3, 4], epsilon: 0, count: 4, into: $0) }
        XCTAssertEqual(y, [1, -2, 3, -4])
    }

    // MARK: softmax

    func testSoftmaxIsBitIdenticalToNaive() {
        var rng = Xoshiro256StarStar(seed: 0x50F7)
        for n in [1, 2, 7, 17, 1025] {
            for trial in 0..<4 {
                var x = (0..<n).map { _ in rng.nextWideFloat(exponents: -4...6) }
                if trial >= 2 { for i in 0..<n where rng.next() % 5 == 0 { x[i] = -.infinity } }
                if trial == 3 && n > 1 { x[Int(rng.next() % UInt64(n))] = 1e30 }
                let expected = NaiveKernels.softmax(x)
                var y = x
                y.withUnsafeMutableBufferPointer { Kernels.softmax($0.baseAddress!, count: n) }
                assertBitIdentical(y, expected, "softmax n \(n) trial \(trial)")
            }
        }
    }

    func testSoftmaxEdgeCases() {
        func softmax(_ x: [Float]) -> [Float] {
            var y = x
            y.withUnsafeMutableBufferPointer { Kernels.softmax($0.baseAddress!, count: $0.count) }
            return y
        }
        // n = 1 → exactly 1.
        XCTAssertEqual(softmax([-3.5]), [1])
        XCTAssertEqual(softmax([1e30]), [1])
        // -inf entries become +0 (not -0, not NaN).
        let withInfinity = softmax([-.infinity, 0, -.infinity, 0])
        XCTAssertEqual(withInfinity.map(\.bitPattern), [0, Float(0.5).bitPattern, 0, Float(0.5).bitPattern])
        // Every entry -inf → all +0, no NaN.
        XCTAssertEqual(softmax([-.infinity, -.infinity, -.infinity]).map(\.bitPattern), [0, 0, 0])
        // Large values do not overflow: the maximum is subtracted first.
        XCTAssertEqual(softmax([1e30, 1e30]), [0.5, 0.5])
        XCTAssertEqual(softmax([.greatestFiniteMagnitude, -.greatestFiniteMagnitude]), [1, 0])
        XCTAssertEqual(softmax([100, 100 - 200]).map(\.bitPattern), [Float(1).bitPattern, 0])
        // n = 0 touches nothing.
        var untouched: [Float] = [7]
        untouched.withUnsafeMutableBufferPointer { Kernels.softmax($0.baseAddress!, count: 0) }
        XCTAssertEqual(untouched, [7])
        // Sums to 1 within rounding, and a softmax of equal entries is exactly uniform.
        XCTAssertEqual(softmax([Float](repeating: 3, count: 8)), [Float](repeating: 0.125, count: 8))
    }

    // MARK: rope, swiGLU, add

    func testRopeAdjacentPairsIsBitIdenticalToNaive() {
        var rng = Xoshiro256StarStar(seed: 0x201E)
        for dimension in [2, 7, 8, 64, 65] {
            let x = rng.wideFloats(dimension, exponents: -4...4)
            let angles = (0..<(dimension / 2)).map { _ in Float(rng.nextUniformDouble() * 200 - 100) }
            let cos = angles.map { DeterministicMath.cos($0) }, sin = angles.map { DeterministicMath.sin($0) }
            let expected = NaiveKernels.ropeAdjacentPairs(x, cos: cos, sin: sin)
            let y = withGuardedOutput(count: dimension) { y in
                for i in 0..<dimension { y[i] = x[i] }
                Kernels.ropeAdjacentPairs(y, cos: cos, sin: sin, dimension: dimension)
            }
            assertBitIdentical(y, expected, "rope dimension \(dimension)")
            if dimension % 2 == 1 { XCTAssertEqual(y.last!.bitPattern, x.last!.bitPattern, "odd last element is left alone") }
        }
        // Hand-computed: a quarter turn maps (1, 2) to (-2, 1).
        var pair: [Float] = [1, 2]
        pair.withUnsafeMutableBufferPointer { Kernels.ropeAdjacentPairs($0.baseAddress!, cos: [0], sin: [1], dimension: 2) }
        XCTAssertEqual(pair, [-2, 1])
    }

    func testSwiGLUAndAddAreBitIdenticalToNaive() {
        var rng = Xoshiro256StarStar(seed: 0x5A1)
        for n in [1, 7, 17, 1536] {
            var gate = rng.wideFloats(n, exponents: -6...7), up = rng.wideFloats(n, exponents: -6...6)
            if n > 4 { gate[0] = -0.0; gate[1] = 0; gate[2] = -200; gate[3] = 200; up[3] = -0.0 }
            let expected = NaiveKernels.swiGLU(gate: gate, up: up)
            let y = withGuardedOutput(count: n) { Kernels.swiGLU(gate: gate, up: up, count: n, into: $0) }
            assertBitIdentical(y, expected, "swiGLU n \(n)")
            var x = gate
            x.withUnsafeMutableBufferPointer { Kernels.add(up, into: $0.baseAddress!, count: n) }
            assertBitIdentical(x, NaiveKernels.add(gate, up), "add n \(n)")
        }
        XCTAssertEqual(withGuardedOutput(count: 1) { Kernels.swiGLU(gate: [-0.0], up: [1], count: 1, into: $0) }[0].bitPattern,
                       (-Float(0)).bitPattern, "silu(-0) * 1 = -0")
    }

    // MARK: argmax

    func testArgmaxPicksTheLowestIndexAmongEqualMaximaAndSkipsNaN() {
        func argmax(_ x: [Float]) -> Int { Kernels.argmax(x, count: x.count) }
        XCTAssertEqual(argmax([]), 0)
        XCTAssertEqual(argmax([1, 3, 2, 3]), 1)
        XCTAssertEqual(argmax([.nan, 1, .nan, 5, 5]), 3)
        XCTAssertEqual(argmax([.nan, .nan, .nan]), 0)
        XCTAssertEqual(argmax([.nan, -.infinity, -.infinity]), 1)
        XCTAssertEqual(argmax([-.infinity, .nan, .infinity, .infinity]), 2)
        XCTAssertEqual(argmax([0, -0.0]), 0)
        XCTAssertEqual(argmax([-0.0, 0]), 0, "-0 == +0: a tie, lowest index")
        XCTAssertEqual(argmax([-5, -3, -4]), 1)
        var rng = Xoshiro256StarStar(seed: 0xA2)
        for n in [1, 7, 16, 17, 1025, 49152] {
            for _ in 0..<4 {
                // Few distinct values → many ties; some NaN.
                let x: [Float] = (0..<n).map { _ in rng.next() % 11 == 0 ? .nan : Float(rng.next() % 9) - 4 }
                XCTAssertEqual(argmax(x), NaiveKernels.argmax(x), "n \(n)")
            }
        }
    }

    // MARK: topK

    func testTopKOrdersByValueDescendingThenIndexAscendingOnBothPaths() {
        var rng = Xoshiro256StarStar(seed: 0x70B)
        let specials: [Float] = [.nan, .infinity, -.infinity, 0, -0.0]
        var smallPathCases = 0, sortPathCases = 0
        for n in [0, 1, 7, 8, 9, 100, 1000, 4099] {
            for trial in 0..<3 {
                let x: [Float] = (0..<n).map { _ in
                    switch rng.next() % 16 {
                    case 0: return specials[Int(rng.next() % UInt64(specials.count))]
                    default: return trial == 0 ? rng.nextWideFloat() : Float(rng.next() % 7) - 3  // ties
                    }
                }
                let ks = Set([0, 1, 2, 5, n / 8 - 1, n / 8, n / 8 + 1, n - 1, n, n + 5, -1]).sorted()
                for k in ks {
                    if k >= 1 && n > 0 { if k < n / 8 { smallPathCases += 1 } else { sortPathCases += 1 } }
                    let actual = x.withUnsafeBufferPointer { Kernels.topK($0.baseAddress!, count: n, k: k) }
                    let expected = NaiveKernels.topK(x, k: k)
                    XCTAssertEqual(actual.map(\.index), expected.map(\.index), "n \(n) k \(k) trial \(trial)")
                    XCTAssertEqual(actual.map(\.value.bitPattern), expected.map(\.value.bitPattern), "n \(n) k \(k) trial \(trial)")
                }
            }
        }
        XCTAssertGreaterThan(smallPathCases, 10, "the insertion path (k < n / 8) must be exercised")
        XCTAssertGreaterThan(sortPathCases, 10)
        // Hand-computed.
        let x: [Float] = [1, .nan, 3, 3, -.infinity, 2, 3]
        let top = Kernels.topK(x, count: x.count, k: 10)
        XCTAssertEqual(top.map(\.index), [2, 3, 6, 5, 0, 4])
        XCTAssertEqual(Kernels.topK(x, count: x.count, k: 0).count, 0)
        var many = [Float](repeating: 1, count: 64)
        many[40] = 2; many[10] = .nan; many[50] = 2
        XCTAssertEqual(Kernels.topK(many, count: 64, k: 3).map(\.index), [40, 50, 0], "small-k path (3 < 64 / 8)")
        XCTAssertEqual(Kernels.topK(many, count: 64, k: 63).map(\.index), [40, 50] + Array(0..<10) + Array(11..<40) + Array(41..<50) + Array(51..<64))
    }
}

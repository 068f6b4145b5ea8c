import XCTest
import Tensors
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// The platform libm (Glibc/Darwin double-precision exp, log, sin, cos, tanh, pow) is used here
// ONLY as the accuracy reference. Set TOUCHSTONE_FULL_SWEEP=1 for 64x denser sweeps (use
// `swift test -c release` for those).

private let fullSweep: Bool = {
    guard let v = getenv("TOUCHSTONE_FULL_SWEEP") else { return false }
    return String(cString: v) == "1"
}()

private typealias DM = DeterministicMath

/// |result - reference| in units of ulp(reference) in Float: ulp(y) = 2^max(exponent(y) - 23, -149).
private func ulpErrorFloat(_ result: Float, _ reference: Double) -> Double {
    if reference.isNaN { return result.isNaN ? 0 : .infinity }
    if result.isNaN { return .infinity }
    let rf = Float(reference)
    if rf.isInfinite || result.isInfinite { return result == rf ? 0 : .infinity }
    let e = reference == 0 ? -149 : max(Int(reference.exponent) - 23, -149)
    let ulp = Double(sign: .plus, exponent: e, significand: 1)
    return (Double(result) - reference).magnitude / ulp
}

/// Same in Double: ulp(y) = 2^max(exponent(y) - 52, -1074).
private func ulpErrorDouble(_ result: Double, _ reference: Double) -> Double {
    if reference.isNaN { return result.isNaN ? 0 : .infinity }
    if result.isNaN { return .infinity }
    if reference.isInfinite || result.isInfinite { return result == reference ? 0 : .infinity }
    let e = reference == 0 ? -1074 : max(Int(reference.exponent) - 52, -1074)
    let ulp = Double(sign: .plus, exponent: e, significand: 1)
    return (result - reference).magnitude / ulp
}

private struct Worst: CustomStringConvertible {
    var ulps: Double = 0
    var at: Double = 0
    var count = 0
    mutating func add(_ u: Double, _ x: Double) {
        count += 1
        if u > ulps || u.isNaN { ulps = u; at = x }
    }
    var description: String { "max \(ulps) ulp at x = \(at) (\(count) inputs)" }
}

/// Calls `body` on Float bit patterns lo, lo+stride, ... <= hi (an odd stride, so all low bits
/// vary), for both signs if `bothSigns`. `target` is the approximate number of inputs.
private func sweepFloats(_ lo: Float, _ hi: Float, bothSigns: Bool, target: Int, _ body: (Float) -> Void) {
    let a = lo.bitPattern, b = hi.bitPattern
    let span = UInt64(b - a) + 1
    let n = fullSweep ? target * 64 : target
    var stride = max(UInt64(1), span * (bothSigns ? 2 : 1) / UInt64(n))
    if stride > 1 && stride % 2 == 0 { stride -= 1 }
    var i = UInt64(a)
    while i <= UInt64(b) {
        let x = Float(bitPattern: UInt32(i))
        body(x)
        if bothSigns { body(-x) }
        i += stride
    }
    body(hi)
    if bothSigns { body(-hi) }
}

/// A fixed 64-bit LCG (Knuth MMIX constants) for reproducible Double test inputs.
private struct LCG {
    var s: UInt64
    mutating func next() -> UInt64 {
        s = s &* 6364136223846793005 &+ 1442695040888963407
        return s
    }
    /// Uniform in [0, 1) with 53 random bits.
    mutating func unit() -> Double { Double(next() >> 11) * 0x1p-53 }
}

private func bitsEqual(_ a: Float, _ b: Float) -> Bool { a.bitPattern == b.bitPattern }

final class DeterministicMathTests: XCTestCase {

    // MARK: accuracy of the Float functions

    func testExpFloatAccuracy() {
        var w = Worst()
        sweepFloats(0, 100, bothSigns: true, target: 4_000_000) { x in
            w.add(ulpErrorFloat(DM.exp(x), Glibc.exp(Double(x))), Double(x))
        }
        print("exp(Float) over [-100, 100]:", w)
        XCTAssertLessThanOrEqual(w.ulps, 0.5001)
    }

    func testLogFloatAccuracy() {
        var w = Worst()
        sweepFloats(Float.leastNonzeroMagnitude, Float.greatestFiniteMagnitude, bothSigns: false, target: 4_000_000) { x in
            w.add(ulpErrorFloat(DM.log(x), Glibc.log(Double(x))), Double(x))
        }
        print("log(Float) over all positive finite floats:", w)
        XCTAssertLessThanOrEqual(w.ulps, 0.5001)
    }

    func testSinCosFloatAccuracy() {
        var ws = Worst(), wc = Worst()
        sweepFloats(0, 10_000, bothSigns: true, target: 4_000_000) { x in
            ws.add(ulpErrorFloat(DM.sin(x), Glibc.sin(Double(x))), Double(x))
            wc.add(ulpErrorFloat(DM.cos(x), Glibc.cos(Double(x))), Double(x))
        }
        print("sin(Float) over [-1e4, 1e4]:", ws)
        print("cos(Float) over [-1e4, 1e4]:", wc)
        XCTAssertLessThanOrEqual(ws.ulps, 0.5001)
        XCTAssertLessThanOrEqual(wc.ulps, 0.5001)
        var ls = Worst(), lc = Worst()
        sweepFloats(10_000, Float.greatestFiniteMagnitude, bothSigns: true, target: 1_000_000) { x in
            ls.add(ulpErrorFloat(DM.sin(x), Glibc.sin(Double(x))), Double(x))
            lc.add(ulpErrorFloat(DM.cos(x), Glibc.cos(Double(x))), Double(x))
        }
        print("sin(Float) over 1e4 <= |x| <= FLT_MAX:", ls)
        print("cos(Float) over 1e4 <= |x| <= FLT_MAX:", lc)
        XCTAssertLessThanOrEqual(ls.ulps, 0.5001)
        XCTAssertLessThanOrEqual(lc.ulps, 0.5001)
    }

    func testTanhSigmoidSiluAccuracy() {
        var wt = Worst(), ws = Worst(), wu = Worst()
        sweepFloats(0, Float.greatestFiniteMagnitude, bothSigns: true, target: 4_000_000) { x in
            let d = Double(x)
            wt.add(ulpErrorFloat(DM.tanh(x), Glibc.tanh(d)), d)
            ws.add(ulpErrorFloat(DM.sigmoid(x), 1.0 / (1.0 + Glibc.exp(-d))), d)
            wu.add(ulpErrorFloat(DM.silu(x), d / (1.0 + Glibc.exp(-d))), d)
        }
        print("tanh(Float) over all finite floats:", wt)
        print("sigmoid(Float) over all finite floats:", ws)
        print("silu(Float) over all finite floats:", wu)
        XCTAssertLessThanOrEqual(wt.ulps, 0.5001)
        XCTAssertLessThanOrEqual(ws.ulps, 0.5001)
        XCTAssertLessThanOrEqual(wu.ulps, 0.5001)
    }

    // MARK: accuracy of the Double functions

    func testExpLogDoubleAccuracy() {
        var rng = LCG(s: 1)
        var we = Worst(), wl = Worst()
        let n = fullSweep ? 64_000_000 : 1_000_000
        for _ in 0..<n {
            let x = -745.0 + 1455.0 * rng.unit()
            we.add(ulpErrorDouble(DM.exp(x), Glibc.exp(x)), x)
            // log: random positive finite bit patterns (including subnormals)
            let y = Double(bitPattern: rng.next() % 0x7FF0_0000_0000_0000)
            if y > 0 { wl.add(ulpErrorDouble(DM.log(y), Glibc.log(y)), y) }
            let z = 0.5 + 1.5 * rng.unit()  // near 1, where log is small
            wl.add(ulpErrorDouble(DM.log(z), Glibc.log(z)), z)
        }
        print("exp(Double) over [-745, 710]:", we)
        print("log(Double) over positive doubles:", wl)
        XCTAssertLessThanOrEqual(we.ulps, 1.0)
        XCTAssertLessThanOrEqual(wl.ulps, 1.0)
    }

    func testSinCosDoubleAccuracy() {
        var rng = LCG(s: 2)
        var ws = Worst(), wc = Worst()
        let n = fullSweep ? 64_000_000 : 1_000_000
        for i in 0..<n {
            var x = (rng.unit() * 2 - 1) * 1e6
            if i % 4 == 1 {
                // near multiples of pi/2 (the hard cases for the reduction)
                let k = Double(rng.next() % 636_620)
                x = Double(bitPattern: (k * 0x1.921fb54442d18p+0).bitPattern &+ (rng.next() % 9) &- 4)
            }
            ws.add(ulpErrorDouble(DM.sin(x), Glibc.sin(x)), x)
            wc.add(ulpErrorDouble(DM.cos(x), Glibc.cos(x)), x)
        }
        print("sin(Double) over |x| <= 1e6:", ws)
        print("cos(Double) over |x| <= 1e6:", wc)
        XCTAssertLessThanOrEqual(ws.ulps, 1.0)
        XCTAssertLessThanOrEqual(wc.ulps, 1.0)
        var ls = Worst(), lc = Worst()
        for _ in 0..<(n / 4) {
            // random finite doubles with |x| >= 2^20 (exercises the Payne–Hanek path)
            let x = Double(bitPattern: 0x4130_0000_0000_0000 &+ rng.next() % (0x7FF0_0000_0000_0000 - 0x4130_0000_0000_0000))
            let sx = rng.next() & 1 == 0 ? x : -x
            ls.add(ulpErrorDouble(DM.sin(sx), Glibc.sin(sx)), sx)
            lc.add(ulpErrorDouble(DM.cos(sx), Glibc.cos(sx)), sx)
        }
        for x in [0x1.921fb54442d18p+0, 0x1.921fb54442d18p+1, 0x1.921fb54442d18p+20, 0x1.921fb54442d18p+23,
                  0x1p23, 0x1p23.nextDown, -0x1p23, 1e22, Double.greatestFiniteMagnitude] {
            ls.add(ulpErrorDouble(DM.sin(x), Glibc.sin(x)), x)
            lc.add(ulpErrorDouble(DM.cos(x), Glibc.cos(x)), x)
        }
        // The double closest to a multiple of pi/2 (x * 2/pi is within 2^-61.6 of an integer).
        // Reference values computed with mpmath at 4000 bits (glibc is 8 ulp off on this cos).
        let hard = 0x1.6ac5b262ca1ffp+849
        ls.add(ulpErrorDouble(DM.sin(hard), 0x1.0000000000000p+0), hard)
        lc.add(ulpErrorDouble(DM.cos(hard), -0x1.14ae72e6ba22fp-61), hard)
        lc.add(ulpErrorDouble(DM.cos(-hard), -0x1.14ae72e6ba22fp-61), -hard)
        print("sin(Double) over |x| >= 2^20:", ls)
        print("cos(Double) over |x| >= 2^20:", lc)
        XCTAssertLessThanOrEqual(ls.ulps, 1.0)
        XCTAssertLessThanOrEqual(lc.ulps, 1.0)
    }

    func testPowDoubleAccuracy() {
        var w = Worst(), wr = Worst()
        // RoPE inverse frequencies theta^(-2i/d).
        for theta in [10_000.0, 500_000.0, 1_000_000.0, 1_000.0, 100.0] {
            for d in [32, 64, 96, 128, 256] {
                for i in 0..<(d / 2) {
                    let y = -Double(2 * i) / Double(d)
                    w.add(ulpErrorDouble(DM.pow(theta, y), Glibc.pow(theta, y)), theta)
                }
            }
        }
        var rng = LCG(s: 3)
        for _ in 0..<(fullSweep ? 16_000_000 : 200_000) {
            let x = 1.0 + rng.unit() * 1e6
            let y = rng.unit() * 2 - 1
            wr.add(ulpErrorDouble(DM.pow(x, y), Glibc.pow(x, y)), x)
        }
        print("pow(Double) RoPE inverse frequencies:", w)
        print("pow(Double) x in [1, 1e6], y in [-1, 1]:", wr)
        XCTAssertLessThanOrEqual(w.ulps, 16)
        XCTAssertLessThanOrEqual(wr.ulps, 24)
    }

    // MARK: special values

    func testExpSpecials() {
        XCTAssertTrue(DM.exp(Float.nan).isNaN)
        XCTAssertEqual(DM.exp(Float.infinity), .infinity)
        XCTAssertTrue(bitsEqual(DM.exp(-Float.infinity), 0))
        XCTAssertEqual(DM.exp(Float(0)), 1)
        XCTAssertEqual(DM.exp(-Float(0)), 1)
        XCTAssertEqual(DM.exp(Float(1)), 2.7182817)
        XCTAssertEqual(DM.exp(Float(89)), .infinity)
        XCTAssertEqual(DM.exp(Float(88.72283)), Float(Glibc.exp(Double(Float(88.72283)))))
        XCTAssertTrue(DM.exp(Float(88.72283)).isFinite)
        XCTAssertEqual(DM.exp(Float(88.7229)), .infinity)
        let sub = DM.exp(Float(-100))
        XCTAssertTrue(sub.isSubnormal, "exp(-100) = \(sub)")
        XCTAssertEqual(sub, Float(Glibc.exp(-100.0)))
        XCTAssertTrue(bitsEqual(DM.exp(Float(-104)), 0))
        XCTAssertEqual(DM.exp(Float(-103.9)), Float.leastNonzeroMagnitude)
        XCTAssertTrue(bitsEqual(DM.exp(Float(-1e30)), 0))
        // Double
        XCTAssertTrue(DM.exp(Double.nan).isNaN)
        XCTAssertEqual(DM.exp(Double.infinity), .infinity)
        XCTAssertTrue(DM.exp(-Double.infinity) == 0 && DM.exp(-Double.infinity).sign == .plus)
        XCTAssertEqual(DM.exp(710.0), .infinity)
        XCTAssertEqual(DM.exp(709.78), Glibc.exp(709.78))
        XCTAssertEqual(DM.exp(-745.0), Double.leastNonzeroMagnitude)
        XCTAssertEqual(DM.exp(-746.0), 0)
        XCTAssertEqual(DM.exp(-740.0), Glibc.exp(-740.0))
        XCTAssertEqual(DM.exp(0.0), 1)
    }

    func testLogSpecials() {
        XCTAssertTrue(DM.log(Float.nan).isNaN)
        XCTAssertEqual(DM.log(Float(0)), -.infinity)
        XCTAssertEqual(DM.log(-Float(0)), -.infinity)
        XCTAssertTrue(DM.log(Float(-1)).isNaN)
        XCTAssertTrue(DM.log(-Float.infinity).isNaN)
        XCTAssertTrue(DM.log(-Float.leastNonzeroMagnitude).isNaN)
        XCTAssertEqual(DM.log(Float.infinity), .infinity)
        XCTAssertTrue(bitsEqual(DM.log(Float(1)), 0))
        XCTAssertEqual(DM.log(Float.leastNonzeroMagnitude), Float(-103.27893))
        XCTAssertEqual(DM.log(Float.leastNormalMagnitude.nextDown), Float(Glibc.log(Double(Float.leastNormalMagnitude.nextDown))))
        XCTAssertEqual(DM.log(Float.greatestFiniteMagnitude), Float(88.72284))
        XCTAssertTrue(DM.log(Double.nan).isNaN)
        XCTAssertEqual(DM.log(0.0), -.infinity)
        XCTAssertTrue(DM.log(-2.0).isNaN)
        XCTAssertEqual(DM.log(Double.leastNonzeroMagnitude), Glibc.log(Double.leastNonzeroMagnitude))
        XCTAssertEqual(DM.log(Double.greatestFiniteMagnitude), Glibc.log(Double.greatestFiniteMagnitude))
        XCTAssertEqual(DM.log(Double.infinity), .infinity)
    }

    func testSinCosTanhSpecials() {
        for f in [Float.nan, .infinity, -.infinity] {
            XCTAssertTrue(DM.sin(f).isNaN)
            XCTAssertTrue(DM.cos(f).isNaN)
        }
        XCTAssertTrue(bitsEqual(DM.sin(-Float(0)), -0.0))
        XCTAssertTrue(bitsEqual(DM.sin(Float(0)), 0.0))
        XCTAssertEqual(DM.cos(-Float(0)), 1)
        XCTAssertTrue(bitsEqual(DM.sin(-Float.leastNonzeroMagnitude), -Float.leastNonzeroMagnitude))
        XCTAssertTrue(DM.sin(-0.0 as Double).sign == .minus)
        XCTAssertTrue(DM.sin(Double.infinity).isNaN && DM.cos(-Double.infinity).isNaN && DM.sin(Double.nan).isNaN)
        XCTAssertEqual(DM.sin(Float.greatestFiniteMagnitude), Float(Glibc.sin(Double(Float.greatestFiniteMagnitude))))
        XCTAssertEqual(DM.cos(Float(1e4)), Float(Glibc.cos(1e4)))
        // tanh
        XCTAssertTrue(DM.tanh(Float.nan).isNaN)
        XCTAssertTrue(bitsEqual(DM.tanh(-Float(0)), -0.0))
        XCTAssertTrue(bitsEqual(DM.tanh(Float(0)), 0.0))
        XCTAssertEqual(DM.tanh(Float.infinity), 1)
        XCTAssertEqual(DM.tanh(-Float.infinity), -1)
        XCTAssertEqual(DM.tanh(Float(9.1)), 1)
        XCTAssertEqual(DM.tanh(Float(-20)), -1)
        XCTAssertEqual(DM.tanh(Float(8.9)), Float(Glibc.tanh(Double(Float(8.9)))))
        XCTAssertLessThan(DM.tanh(Float(8.9)), 1)
        XCTAssertTrue(bitsEqual(DM.tanh(Float.leastNonzeroMagnitude), Float.leastNonzeroMagnitude))
        XCTAssertTrue(bitsEqual(DM.tanh(-Float.leastNonzeroMagnitude), -Float.leastNonzeroMagnitude))
        // sigmoid / silu
        XCTAssertEqual(DM.sigmoid(Float(0)), 0.5)
        XCTAssertEqual(DM.sigmoid(-Float(0)), 0.5)
        XCTAssertEqual(DM.sigmoid(Float.infinity), 1)
        XCTAssertTrue(bitsEqual(DM.sigmoid(-Float.infinity), 0))
        XCTAssertTrue(DM.sigmoid(Float.nan).isNaN)
        XCTAssertTrue(DM.sigmoid(Float(-100)).isSubnormal)
        XCTAssertTrue(bitsEqual(DM.silu(-Float(0)), -0.0))
        XCTAssertEqual(DM.silu(Float.infinity), .infinity)
        XCTAssertTrue(DM.silu(-Float.infinity).isNaN)  // -inf / +inf, documented
        XCTAssertTrue(bitsEqual(DM.silu(-Float(1000)), -0.0))
        XCTAssertTrue(DM.silu(Float.nan).isNaN)
        XCTAssertEqual(DM.silu(Float(1)), Float(1.0 / (1.0 + Glibc.exp(-1.0))))
        // pow
        XCTAssertEqual(DM.pow(10_000, 0), 1)
        XCTAssertEqual(DM.pow(1, .nan), 1)
        XCTAssertEqual(DM.pow(0, 2), 0)
        XCTAssertEqual(DM.pow(0, -2), .infinity)
        XCTAssertTrue(DM.pow(-2, 0.5).isNaN)
        XCTAssertTrue(DM.pow(.nan, 2).isNaN)
        XCTAssertEqual(DM.pow(.infinity, 2), .infinity)
        XCTAssertEqual(DM.pow(.infinity, -2), 0)
        XCTAssertEqual(DM.pow(2, 10), 1024)
    }

    // MARK: SIMD and determinism

    func testSIMDExpMatchesScalarBitForBit() {
        // Every 1021st Float bit pattern (~4.2M inputs over the whole space, odd stride) plus
        // specials; with TOUCHSTONE_FULL_SWEEP=1 every 255th (~2^24 inputs, ~25 s in a debug
        // build, ~1 s in release).
        let stride: UInt64 = fullSweep ? 255 : 1021
        var lanes = SIMD16<Float>()
        var filled = 0
        var mismatches = 0
        var checked = 0
        func flush() {
            let v = DM.exp(lanes)
            for j in 0..<filled {
                let s = DM.exp(lanes[j])
                checked += 1
                if s.bitPattern != v[j].bitPattern {
                    if mismatches < 5 { print("mismatch at \(lanes[j]): scalar \(s) simd \(v[j])") }
                    mismatches += 1
                }
            }
            filled = 0
        }
        func push(_ x: Float) {
            lanes[filled] = x
            filled += 1
            if filled == 16 { flush() }
        }
        let specials: [Float] = [.nan, -.nan, .signalingNaN, .infinity, -.infinity, 0, -0, 89, 88.72283, -100, -104,
                                 -103.97, .leastNonzeroMagnitude, .greatestFiniteMagnitude, -.greatestFiniteMagnitude,
                                 Float(bitPattern: 0x7FC1_2345), Float(bitPattern: 0xFFA0_0001)]
        for x in specials { push(x) }
        var i: UInt64 = 0
        while i <= 0xFFFF_FFFF {
            push(Float(bitPattern: UInt32(i)))
            i += stride
        }
        if filled > 0 { flush() }
        print("SIMD16 exp vs scalar exp: \(checked) inputs, \(mismatches) mismatches")
        XCTAssertEqual(mismatches, 0)
        XCTAssertGreaterThan(checked, fullSweep ? 16_000_000 : 4_000_000)
    }

    /// FNV-1a over the output bit patterns of every function on a fixed input set. The expected
    /// values were recorded from this implementation; any other platform, compiler flag
    /// (e.g. -target-cpu native) or port must reproduce them exactly (D1).
    func testDeterminismChecksums() {
        func fnv(_ h: inout UInt64, _ v: UInt64) {
            for k in 0..<8 { h = (h ^ ((v >> (8 * UInt64(k))) & 0xFF)) &* 0x100000001b3 }
        }
        var inputs: [Float] = []
        var i: UInt64 = 12345
        while i <= 0xFFFF_FFFF { inputs.append(Float(bitPattern: UInt32(i))); i += 65_521 }
        let fs: [(String, (Float) -> Float)] = [
            ("exp", DM.exp), ("log", DM.log), ("sin", DM.sin), ("cos", DM.cos),
            ("tanh", DM.tanh), ("sigmoid", DM.sigmoid), ("silu", DM.silu),
        ]
        var sums: [String: UInt64] = [:]
        for (name, f) in fs {
            var h: UInt64 = 0xcbf29ce484222325
            var h2: UInt64 = 0xcbf29ce484222325
            for x in inputs {
                let a = f(x)
                let b = f(x)
                XCTAssertEqual(a.bitPattern, b.bitPattern, "\(name) not repeatable at \(x)")
                fnv(&h, UInt64(a.isNaN ? 0x7FC0_0000 : a.bitPattern))
                fnv(&h2, UInt64(b.isNaN ? 0x7FC0_0000 : b.bitPattern))
            }
            XCTAssertEqual(h, h2)
            sums[name] = h
        }
        var rng = LCG(s: 4)
        var hd: UInt64 = 0xcbf29ce484222325
        for _ in 0..<20_000 {
            let x = (rng.unit() * 2 - 1) * 1e6
            fnv(&hd, DM.sin(x).bitPattern)
            fnv(&hd, DM.cos(x).bitPattern)
            let y = (rng.unit() * 2 - 1) * 700
            fnv(&hd, DM.exp(y).bitPattern)
            fnv(&hd, DM.log(y.magnitude).bitPattern)
            fnv(&hd, DM.pow(1.0 + rng.unit() * 1e6, rng.unit() * 2 - 1).bitPattern)
        }
        sums["double"] = hd
        for name in sums.keys.sorted() { print("checksum \(name): 0x\(String(sums[name]!, radix: 16))") }
        let expected: [String: UInt64] = [
            "cos": 0x1b550a0c4d5a5b76, "double": 0xcfe238572952a464, "exp": 0xac5bf078f9a65433,
            "log": 0x366286028cb8711f, "sigmoid": 0x8e691aa7d9fb70f4, "silu": 0x2b4453eeea4d6975,
            "sin": 0x8c1f924ef9437569, "tanh": 0x4b8ea052dbcea6ba,
        ]
        XCTAssertEqual(Set(sums.keys), Set(expected.keys))
        for (name, value) in expected {
            XCTAssertEqual(sums[name], value, "checksum of \(name) changed")
        }
    }
}

// DeterministicMath — Touchstone's own transcendental functions (determinism contract D1).
//
// Every function here is built only from IEEE-754 binary64 add, subtract, multiply, divide,
// comparisons, conversions (Float <-> Double, integer <-> Double) and integer/bit manipulation.
// No libm, no Foundation, no fused multiply-add: every `a * b + c` below is a multiply rounded
// to Double followed by an add rounded to Double (Swift never contracts them). Operations are
// evaluated exactly in the order written (Swift evaluates `a + b + c` as `(a + b) + c` and never
// reassociates floating-point arithmetic), so a port that keeps the parenthesisation and the
// constants below reproduces every result bit for bit.
//
// INTERNAL PRECISION. All Float functions compute internally in binary64 (Double) and round to
// Float exactly once, at the very end (`Float(d)`, round-to-nearest-even; this single rounding
// also produces Float overflow to infinity, Float subnormals and underflow to zero). The Double
// kernels are accurate to about 1 ulp of Double, so the Float results are correctly rounded
// except in the astronomically rare cases where the exact value lies within ~2^-29 Float ulp of
// a rounding midpoint (none was found in the test sweeps; the measured worst error is 0.5 ulp).
// Porting note: C, C++, CUDA, Vulkan-with-float64 can port this bit for bit; Metal has no binary64,
// so a Metal kernel would need double-float emulation to match exactly.
//
// POLYNOMIALS are truncated Taylor series (coefficients 1/n!, 2/(2j+1), ...) each rounded to the
// nearest Double; they are written as exact hexadecimal literals. They are evaluated with Horner's
// rule in the order written. Truncation error is below 2^-60 relative on each reduced range.
//
// RANGE REDUCTION uses Cody–Waite constants: a constant C is split into a head with few
// significant bits (so that `n * head` is exact for every n that can occur) and one or more
// tails. sin/cos switch to an exact integer Payne–Hanek reduction for |x| >= 2^23, so the
// sin/cos error bound holds for every finite input.

public enum DeterministicMath {

    // MARK: - Float API (computed in Double, rounded once)

    /// e^x for Float. `Float(expKernel(Double(x)))`: one rounding to Float at the end.
    /// exp(NaN) = NaN, exp(+inf) = +inf, exp(-inf) = +0, exp(±0) = 1, exp(x) = +inf for
    /// x > 88.72283..., results below 2^-126 are Float subnormals and exp(x) = +0 for
    /// x < -103.972... (round-to-nearest of the exact value). Measured error <= 0.5 ulp.
    @inlinable
    public static func exp(_ x: Float) -> Float {
        return Float(expKernel(Double(x)))
    }

    /// Lane-wise e^x, bit-identical to `exp(_: Float)` in every lane (same operations, same
    /// order, no branches: the clamps are lane masks). Uses SIMD16<Double> internally.
    @inlinable
    public static func exp(_ x: SIMD16<Float>) -> SIMD16<Float> {
        var d = SIMD16<Double>()
        for i in 0..<16 { d[i] = Double(x[i]) }
        let e = expKernel(d)
        var out = SIMD16<Float>()
        for i in 0..<16 { out[i] = Float(e[i]) }
        return out
    }

    /// Natural logarithm for Float: `Float(logKernel(Double(x)))`. log(±0) = -inf,
    /// log(x < 0) = NaN (also log(-inf)), log(+inf) = +inf, log(NaN) = NaN, log(1) = +0.
    /// Float subnormals are normal Doubles, so they need no special case. Measured <= 0.5 ulp.
    @inlinable
    public static func log(_ x: Float) -> Float {
        return Float(logKernel(Double(x)))
    }

    /// sin for Float: `Float(sin(Double(x)))`. sin(±0) = ±0, sin(±inf) = NaN, sin(NaN) = NaN.
    /// The bound (measured <= 0.5 ulp) holds for every finite Float (exact reduction).
    @inlinable
    public static func sin(_ x: Float) -> Float {
        return Float(sin(Double(x)))
    }

    /// cos for Float: `Float(cos(Double(x)))`. cos(±0) = 1, cos(±inf) = NaN, cos(NaN) = NaN.
    @inlinable
    public static func cos(_ x: Float) -> Float {
        return Float(cos(Double(x)))
    }

    /// Hyperbolic tangent for Float, computed in Double on a = |Double(x)|:
    ///   - a > 9.5:            t = 1            (tanh(9.5) rounds to 1 in Float; also a = +inf)
    ///   - a < 2^-10:          z = a * a; t = a + a * (z * (T3 + z * T5)), T3 = -1/3, T5 = 2/15
    ///   - otherwise (and NaN): e = expKernel(2 * a); t = (e - 1) / (e + 1)
    /// then r = Float(t) and the result is -r if x has its sign bit set, else r. So tanh is odd
    /// exactly, tanh(-0) = -0, tanh(±inf) = ±1, tanh(NaN) = NaN. Measured <= 0.5 ulp.
    @inlinable
    public static func tanh(_ x: Float) -> Float {
        let a = Double(x).magnitude
        var t: Double
        if a > 9.5 {
            t = 1.0
        } else if a < 0x1p-10 {
            let z = a * a
            t = a + a * (z * (-0x1.5555555555555p-2 + z * 0x1.1111111111111p-3))
        } else {
            let e = expKernel(2.0 * a)
            t = (e - 1.0) / (e + 1.0)
        }
        let r = Float(t)
        return x.sign == .minus ? -r : r
    }

    /// Logistic sigmoid: `Float(1.0 / (1.0 + expKernel(-Double(x))))` — evaluated in Double,
    /// rounded once. sigmoid(+inf) = 1, sigmoid(-inf) = +0, sigmoid(±0) = 0.5, NaN -> NaN.
    @inlinable
    public static func sigmoid(_ x: Float) -> Float {
        let d = Double(x)
        return Float(1.0 / (1.0 + expKernel(-d)))
    }

    /// SiLU (swish): `Float(Double(x) / (1.0 + expKernel(-Double(x))))` — the form
    /// x / (1 + e^-x), evaluated in Double and rounded once (NOT x * sigmoid(x) in Float).
    /// silu(±0) = ±0, silu(+inf) = +inf, silu(NaN) = NaN, and silu(-inf) = -inf / +inf = NaN
    /// (the formula evaluated literally, as PyTorch does). For -inf < x < -709.78 the
    /// denominator is +inf and the result is -0.
    @inlinable
    public static func silu(_ x: Float) -> Float {
        let d = Double(x)
        return Float(d / (1.0 + expKernel(-d)))
    }

    // MARK: - Double API

    /// e^x for Double (the kernel below). Error <= ~1 ulp of Double (measured in the tests).
    /// Overflow to +inf for x > 709.78..., gradual underflow (single rounding) down to +0 for
    /// x < -745.13..., exp(-inf) = +0, exp(+inf) = +inf, exp(NaN) = NaN.
    @inlinable
    public static func exp(_ x: Double) -> Double {
        return expKernel(x)
    }

    /// Natural logarithm for Double (the kernel below). Error <= ~1 ulp of Double.
    @inlinable
    public static func log(_ x: Double) -> Double {
        return logKernel(x)
    }

    /// x^y for x > 0, defined as `expKernel(y * logKernel(x))` (product rounded to Double).
    /// Special cases, checked in this order: y == 0 -> 1; x == 1 -> 1; x or y NaN -> NaN;
    /// x < 0 -> NaN; x == +0 or -0 -> +0 if y > 0, +inf if y < 0; otherwise the formula
    /// (so pow(+inf, y) = +inf for y > 0, +0 for y < 0).
    /// Accuracy: relative error about (1 + 2|y ln x|) Double ulps, because the rounding of
    /// log(x) and of the product is amplified by |y ln x|. For RoPE inverse frequencies
    /// (x = theta <= 1e6, -1 <= y <= 0, |y ln x| <= 13.9) that is <= ~30 Double ulps
    /// (~4e-15 relative); the tests measure it against glibc pow.
    @inlinable
    public static func pow(_ x: Double, _ y: Double) -> Double {
        if y == 0 { return 1.0 }
        if x == 1 { return 1.0 }
        if x.isNaN || y.isNaN { return x + y }
        if x < 0 { return .nan }
        if x == 0 { return y > 0 ? 0.0 : .infinity }
        return expKernel(y * logKernel(x))
    }

    /// sine for Double.
    /// 1. |x| < 2^-26: return x (preserves -0; sin x rounds to x there).
    /// 2. x = ±inf or NaN: return x - x (NaN).
    /// 3. |x| <= pi/4 (0x1.921fb54442d18p-1): sinKernel(x, 0).
    /// 4. else (hi, lo, q) = reducePiOver2(x), x = (q + 4k) * pi/2 + hi + lo, and the result is
    ///    q&3 == 0: sinKernel(hi, lo), 1: cosKernel(hi, lo), 2: -sinKernel, 3: -cosKernel.
    /// Error <= ~1 ulp of Double for every finite x (measured in the tests over |x| <= 1e6 and
    /// beyond).
    @inlinable
    public static func sin(_ x: Double) -> Double {
        let a = x.magnitude
        if a < 0x1p-26 { return x }
        if !x.isFinite { return x - x }
        if a <= 0x1.921fb54442d18p-1 { return sinKernel(x, 0.0) }
        let (hi, lo, q) = reducePiOver2(x)
        switch q & 3 {
        case 0: return sinKernel(hi, lo)
        case 1: return cosKernel(hi, lo)
        case 2: return -sinKernel(hi, lo)
        default: return -cosKernel(hi, lo)
        }
    }

    /// cosine for Double. x = ±inf or NaN: NaN. |x| <= pi/4: cosKernel(x, 0). Otherwise
    /// (hi, lo, q) = reducePiOver2(x) and q&3 == 0: cosKernel, 1: -sinKernel, 2: -cosKernel,
    /// 3: sinKernel. cos(±0) = 1. Error <= ~1 ulp of Double for every finite x.
    @inlinable
    public static func cos(_ x: Double) -> Double {
        let a = x.magnitude
        if !x.isFinite { return x - x }
        if a <= 0x1.921fb54442d18p-1 { return cosKernel(x, 0.0) }
        let (hi, lo, q) = reducePiOver2(x)
        switch q & 3 {
        case 0: return cosKernel(hi, lo)
        case 1: return -sinKernel(hi, lo)
        case 2: return -cosKernel(hi, lo)
        default: return sinKernel(hi, lo)
        }
    }

    // MARK: - exp kernel

    /// e^x in Double. Algorithm (identical in the scalar and SIMD16 versions):
    /// 1. Clamp: if x > 1000 then x = 1000; if x < -1000 then x = -1000 (NaN is unchanged,
    ///    since comparisons with NaN are false). exp(±1000) over/underflows anyway; the clamp
    ///    keeps n small enough for step 5.
    /// 2. t = x * INVLN2 + MAGIC, n = t - MAGIC, with INVLN2 = 0x1.71547652b82fep+0 (1/ln 2)
    ///    and MAGIC = 0x1.8p52: n is the product x * INVLN2 rounded to the nearest integer
    ///    (ties to even), |n| <= 1443, and the integer n is also (bits of t) - (bits of MAGIC).
    /// 3. Cody–Waite: r = (x - n * LN2HI) - n * LN2LO with LN2HI = 0x1.62e42fefa2000p-1
    ///    (40 significant bits, so n * LN2HI and x - n * LN2HI are exact) and
    ///    LN2LO = 0x1.9ef35793c7673p-41. |r| <= ~0.3466.
    /// 4. Polynomial (Taylor, degree 13): q = C13; q = C12 + r * q; ... ; q = C2 + r * q
    ///    (Ck = 1/k! rounded), then p = 1 + (r + (r * r) * q).
    /// 5. Scale by 2^n in two exact power-of-two factors so that no intermediate overflows or
    ///    underflows early: h1 = n >> 1 (arithmetic shift), h2 = n - h1,
    ///    s_i = Double(bitPattern: ((h_i + 1023) & 0x7FF) << 52), result = (p * s1) * s2.
    ///    p * s1 is exact; the only rounding of the scaling is in `* s2`, which is where
    ///    overflow to +inf, subnormals and underflow to +0 happen (a single rounding).
    @inlinable
    internal static func expKernel(_ x0: Double) -> Double {
        var x = x0
        if x > 1000.0 { x = 1000.0 }
        if x < -1000.0 { x = -1000.0 }
        let t = x * 0x1.71547652b82fep+0 + 0x1.8p52
        let n = t - 0x1.8p52
        let rhi = x - n * 0x1.62e42fefa2000p-1
        let r = rhi - n * 0x1.9ef35793c7673p-41
        var q = 0x1.6124613a86d09p-33            // 1/13!
        q = 0x1.1eed8eff8d898p-29 + r * q        // 1/12!
        q = 0x1.ae64567f544e4p-26 + r * q        // 1/11!
        q = 0x1.27e4fb7789f5cp-22 + r * q        // 1/10!
        q = 0x1.71de3a556c734p-19 + r * q        // 1/9!
        q = 0x1.a01a01a01a01ap-16 + r * q        // 1/8!
        q = 0x1.a01a01a01a01ap-13 + r * q        // 1/7!
        q = 0x1.6c16c16c16c17p-10 + r * q        // 1/6!
        q = 0x1.1111111111111p-7 + r * q         // 1/5!
        q = 0x1.5555555555555p-5 + r * q         // 1/4!
        q = 0x1.5555555555555p-3 + r * q         // 1/3!
        q = 0x1.0000000000000p-1 + r * q         // 1/2!
        let p = 1.0 + (r + (r * r) * q)
        let ni = Int64(bitPattern: t.bitPattern) &- Int64(bitPattern: (0x1.8p52 as Double).bitPattern)
        let h1 = ni &>> 1
        let h2 = ni &- h1
        let s1 = Double(bitPattern: UInt64(bitPattern: ((h1 &+ 1023) & 0x7FF) &<< 52))
        let s2 = Double(bitPattern: UInt64(bitPattern: ((h2 &+ 1023) & 0x7FF) &<< 52))
        return (p * s1) * s2
    }

    /// Lane-wise `expKernel` with exactly the same operations; the clamps are masked
    /// replacements, so the code has no per-lane branches.
    @inlinable
    internal static func expKernel(_ x0: SIMD16<Double>) -> SIMD16<Double> {
        var x = x0
        x.replace(with: 1000.0, where: x .> 1000.0)
        x.replace(with: -1000.0, where: x .< -1000.0)
        let t = x * 0x1.71547652b82fep+0 + 0x1.8p52
        let n = t - 0x1.8p52
        let rhi = x - n * 0x1.62e42fefa2000p-1
        let r = rhi - n * 0x1.9ef35793c7673p-41
        var q = SIMD16<Double>(repeating: 0x1.6124613a86d09p-33)
        q = 0x1.1eed8eff8d898p-29 + r * q
        q = 0x1.ae64567f544e4p-26 + r * q
        q = 0x1.27e4fb7789f5cp-22 + r * q
        q = 0x1.71de3a556c734p-19 + r * q
        q = 0x1.a01a01a01a01ap-16 + r * q
        q = 0x1.a01a01a01a01ap-13 + r * q
        q = 0x1.6c16c16c16c17p-10 + r * q
        q = 0x1.1111111111111p-7 + r * q
        q = 0x1.5555555555555p-5 + r * q
        q = 0x1.5555555555555p-3 + r * q
        q = 0x1.0000000000000p-1 + r * q
        let p = 1.0 + (r + (r * r) * q)
        let ni = unsafeBitCast(t, to: SIMD16<Int64>.self) &- Int64(bitPattern: (0x1.8p52 as Double).bitPattern)
        let h1 = ni &>> 1
        let h2 = ni &- h1
        let s1 = unsafeBitCast(((h1 &+ 1023) & 0x7FF) &<< 52, to: SIMD16<Double>.self)
        let s2 = unsafeBitCast(((h2 &+ 1023) & 0x7FF) &<< 52, to: SIMD16<Double>.self)
        return (p * s1) * s2
    }

    // MARK: - log kernel

    /// Natural log in Double.
    /// 1. NaN -> NaN (returned unchanged); x < 0 -> NaN; x == 0 -> -inf; x == +inf -> +inf.
    /// 2. k = 0; if x < 2^-1022 (subnormal) { x = x * 2^54; k = -54 }.
    /// 3. k += biased exponent of x - 1023; m = x with its exponent field set to 1023
    ///    (m in [1, 2)); if m > SQRT2 (0x1.6a09e667f3bcdp+0) { m = m * 0.5; k += 1 }, so
    ///    m in (0.7071, 1.4143]. f = m - 1 (exact).
    /// 4. s = f / (2 + f), z = s * s, R = z * (L1 + z * (L2 + ... + z * L11)) with
    ///    Lj = 2/(2j+1) rounded (Taylor series of 2 atanh(s) = 2s + s R), hfsq = (0.5 * f) * f.
    /// 5. log(x) = k*LN2HI - ((hfsq - (s * (hfsq + R) + k*LN2LO)) - f), with dk = Double(k),
    ///    LN2HI / LN2LO as in expKernel (dk * LN2HI is exact).
    @inlinable
    internal static func logKernel(_ x0: Double) -> Double {
        if x0.isNaN { return x0 }
        if x0 < 0 { return .nan }
        if x0 == 0 { return -.infinity }
        if x0 == .infinity { return x0 }
        var x = x0
        var k: Int64 = 0
        if x < 0x1p-1022 {
            x = x * 0x1p54
            k = -54
        }
        let bits = x.bitPattern
        k = k &+ (Int64(bitPattern: bits >> 52) &- 1023)
        var m = Double(bitPattern: (bits & 0x000F_FFFF_FFFF_FFFF) | 0x3FF0_0000_0000_0000)
        if m > 0x1.6a09e667f3bcdp+0 {
            m = m * 0.5
            k = k &+ 1
        }
        let f = m - 1.0
        let s = f / (2.0 + f)
        let z = s * s
        var w = 0x1.642c8590b2164p-4             // 2/23
        w = 0x1.8618618618618p-4 + z * w         // 2/21
        w = 0x1.af286bca1af28p-4 + z * w         // 2/19
        w = 0x1.e1e1e1e1e1e1ep-4 + z * w         // 2/17
        w = 0x1.1111111111111p-3 + z * w         // 2/15
        w = 0x1.3b13b13b13b14p-3 + z * w         // 2/13
        w = 0x1.745d1745d1746p-3 + z * w         // 2/11
        w = 0x1.c71c71c71c71cp-3 + z * w         // 2/9
        w = 0x1.2492492492492p-2 + z * w         // 2/7
        w = 0x1.999999999999ap-2 + z * w         // 2/5
        w = 0x1.5555555555555p-1 + z * w         // 2/3
        let R = z * w
        let hfsq = (0.5 * f) * f
        let dk = Double(k)
        return dk * 0x1.62e42fefa2000p-1 - ((hfsq - (s * (hfsq + R) + dk * 0x1.9ef35793c7673p-41)) - f)
    }

    // MARK: - sin / cos kernels on [-pi/4, pi/4]

    /// sin(hi + lo) for |hi| <= ~pi/4, |lo| <= ulp(hi):
    /// z = hi * hi, v = z * hi, S = S1 + z * (S2 + ... + z * S8) with Sj = (-1)^j / (2j+1)!,
    /// result = hi + (v * S + (lo - (0.5 * z) * lo)).
    @inlinable
    internal static func sinKernel(_ hi: Double, _ lo: Double) -> Double {
        let z = hi * hi
        let v = z * hi
        var s = 0x1.952c77030ad4ap-49            // +1/17!
        s = -0x1.ae7f3e733b81fp-41 + z * s       // -1/15!
        s = 0x1.6124613a86d09p-33 + z * s        // +1/13!
        s = -0x1.ae64567f544e4p-26 + z * s       // -1/11!
        s = 0x1.71de3a556c734p-19 + z * s        // +1/9!
        s = -0x1.a01a01a01a01ap-13 + z * s       // -1/7!
        s = 0x1.1111111111111p-7 + z * s         // +1/5!
        s = -0x1.5555555555555p-3 + z * s        // -1/3!
        return hi + (v * s + (lo - (0.5 * z) * lo))
    }

    /// cos(hi + lo) for |hi| <= ~pi/4, |lo| <= ulp(hi):
    /// z = hi * hi, hz = 0.5 * z, w = 1 - hz, C = C2 + z * (C3 + ... + z * C8) with
    /// Cj = (-1)^j / (2j)!, result = w + (((1 - w) - hz) + ((z * z) * C - hi * lo)).
    /// ((1 - w) - hz recovers the rounding error of w.)
    @inlinable
    internal static func cosKernel(_ hi: Double, _ lo: Double) -> Double {
        let z = hi * hi
        let hz = 0.5 * z
        let w = 1.0 - hz
        var c = 0x1.ae7f3e733b81fp-45            // +1/16!
        c = -0x1.93974a8c07c9dp-37 + z * c       // -1/14!
        c = 0x1.1eed8eff8d898p-29 + z * c        // +1/12!
        c = -0x1.27e4fb7789f5cp-22 + z * c       // -1/10!
        c = 0x1.a01a01a01a01ap-16 + z * c        // +1/8!
        c = -0x1.6c16c16c16c17p-10 + z * c       // -1/6!
        c = 0x1.5555555555555p-5 + z * c         // +1/4!
        return w + (((1.0 - w) - hz) + ((z * z) * c - hi * lo))
    }

    // MARK: - reduction modulo pi/2

    /// Returns (hi, lo, q) with x = (q + 4k) * pi/2 + (hi + lo) for some integer k,
    /// |hi + lo| <= ~pi/4, hi = hi + lo rounded. Requires finite x with |x| > pi/4.
    ///
    /// |x| < 2^23 — Cody–Waite with pi/2 = P1 + P2 + P3 + P4,
    ///   P1 = 0x1.921fb54000000p+0, P2 = 0x1.10b4611800000p-30, P3 = 0x1.313198a000000p-61
    ///   (30 significant bits each, so n * Pi is exact for |n| < 2^23), P4 = 0x1.701b839a25205p-92:
    ///   t = x * TWO_OVER_PI + 0x1.8p52 (TWO_OVER_PI = 0x1.45f306dc9c883p-1), n = t - 0x1.8p52,
    ///   q = low 2 bits of t's bit pattern,
    ///   a = x - n * P1                         (exact)
    ///   (h1, l1) = twoDiff(a, n * P2)          (exact)
    ///   (h2, e2) = twoDiff(h1, n * P3)         (exact)
    ///   l2 = (l1 + e2) - n * P4
    ///   (hi, lo) = fastTwoSum(h2, l2)
    ///   where twoDiff(a, b): s = a - b, v = s - a, e = (a - (s - v)) - (b + v);
    ///   fastTwoSum(a, b): s = a + b, e = b - (s - a).
    /// |x| >= 2^23 — `reduceLarge` (exact integer Payne–Hanek).
    @inlinable
    internal static func reducePiOver2(_ x: Double) -> (Double, Double, Int) {
        if x.magnitude >= 0x1p23 { return reduceLarge(x) }
        let t = x * 0x1.45f306dc9c883p-1 + 0x1.8p52
        let n = t - 0x1.8p52
        let q = Int(truncatingIfNeeded: t.bitPattern & 3)
        let a = x - n * 0x1.921fb54000000p+0
        let b = n * 0x1.10b4611800000p-30
        let h1 = a - b
        let v1 = h1 - a
        let l1 = (a - (h1 - v1)) - (b + v1)
        let c = n * 0x1.313198a000000p-61
        let h2 = h1 - c
        let v2 = h2 - h1
        let e2 = (h1 - (h2 - v2)) - (c + v2)
        let l2 = (l1 + e2) - n * 0x1.701b839a25205p-92
        let hi = h2 + l2
        let lo = l2 - (hi - h2)
        return (hi, lo, q)
    }

    /// 2/pi in binary, as 64-bit words, most significant bit first, preceded by one zero word:
    /// bit number p (p = 0 is the top bit of word 0) is bit (p - 63) after the binary point of
    /// 2/pi (bits at positions < 64 are zero). 1280 bits of 2/pi.
    @usableFromInline
    static let twoOverPiBits: [UInt64] = [
        0x0000000000000000, 0xA2F9836E4E441529, 0xFC2757D1F534DDC0, 0xDB6295993C439041,
        0xFE5163ABDEBBC561, 0xB7246E3A424DD2E0, 0x06492EEA09D1921C, 0xFE1DEB1CB129A73E,
        0xE88235F52EBB4484, 0xE99C7026B45F7E41, 0x3991D639835339F4, 0x9C845F8BBDF9283B,
        0x1FF897FFDE05980F, 0xEF2F118B5A0A6D1F, 0x6D367ECF27CB09B7, 0x4F463F669E5FEA2D,
        0x7527BAC7EBE5F17B, 0x3D0739F78A5292EA, 0x6BFB5FB11F8D5D08, 0x56033046FC7B6BAB,
        0xF0CFBC209AF4361D, 0x0000000000000000,
    ]

    /// Payne–Hanek reduction for finite |x| >= 2^23, in integer arithmetic.
    /// |x| = M * 2^e with M the 53-bit integer significand. With o = e + 62, W = the 192 bits of
    /// `twoOverPiBits` starting at bit position o (three words W2:W1:W0), the product
    /// P = M * W mod 2^192 (from three 64x64->128-bit products, carries propagated) satisfies
    /// |x| * 2/pi = P / 2^190 (mod 4) up to < 2^-137. Bits 191..190 of P are the quadrant,
    /// bits 189..62 the fraction F (128 bits). If F >= 1/2 the quadrant is incremented and
    /// F = F - 1 (negative). |F| is normalised by shifting out its leading zeros (count s),
    /// split into two exact Doubles d1 (top 53 bits) and d2 (next 53 bits), and
    /// r = (d1 + d2) * pi/2 is formed in double-double arithmetic:
    /// (p, e) = twoProduct(d1, PIO2_HI) (Dekker/Veltkamp, no FMA), lo = e + (d1 * PIO2_LO + d2 * PIO2_HI),
    /// PIO2_HI = 0x1.921fb54442d18p+0, PIO2_LO = 0x1.1a62633145c07p-54; (hi, lo) = fastTwoSum(p, lo).
    /// For negative x, hi, lo and the quadrant are negated.
    @usableFromInline
    static func reduceLarge(_ x: Double) -> (Double, Double, Int) {
        let bits = x.bitPattern & 0x7FFF_FFFF_FFFF_FFFF
        let e = Int(bits >> 52) - 1075
        let mant = (bits & 0x000F_FFFF_FFFF_FFFF) | 0x0010_0000_0000_0000
        let o = e + 62
        let w = o >> 6
        let sh = UInt64(o & 63)
        let T = twoOverPiBits
        let W2 = (T[w] << sh) | (T[w + 1] >> (64 - sh))
        let W1 = (T[w + 1] << sh) | (T[w + 2] >> (64 - sh))
        let W0 = (T[w + 2] << sh) | (T[w + 3] >> (64 - sh))
        let p0 = mant.multipliedFullWidth(by: W0)
        let p1 = mant.multipliedFullWidth(by: W1)
        let l2 = mant &* W2
        let L0 = p0.low
        let (L1, carry) = p0.high.addingReportingOverflow(p1.low)
        let L2 = p1.high &+ l2 &+ (carry ? 1 : 0)
        var q = Int(L2 >> 62)
        var A = (L2 << 2) | (L1 >> 62)
        var B = (L1 << 2) | (L0 >> 62)
        var negative = false
        if A >> 63 == 1 {
            q += 1
            negative = true
            let borrow: UInt64 = B == 0 ? 1 : 0
            B = 0 &- B
            A = ~A &+ borrow
        }
        var shift = 0
        if A == 0 {
            A = B
            B = 0
            shift = 64
        }
        if A == 0 { return (0.0, 0.0, x < 0 ? (0 &- q) & 3 : q & 3) }
        let lz = A.leadingZeroBitCount
        A = (A << UInt64(lz)) | (B >> UInt64(64 - lz))
        B = B << UInt64(lz)
        shift += lz
        let d1 = Double(A >> 11) * Double(sign: .plus, exponent: -53 - shift, significand: 1.0)
        let d2 = Double(((A & 0x7FF) << 42) | (B >> 22)) * Double(sign: .plus, exponent: -106 - shift, significand: 1.0)
        let ph = 0x1.921fb54442d18p+0
        let pl = 0x1.1a62633145c07p-54
        let (p, pe) = twoProduct(d1, ph)
        let lo = pe + (d1 * pl + d2 * ph)
        var rhi = p + lo
        var rlo = lo - (rhi - p)
        if negative {
            rhi = -rhi
            rlo = -rlo
        }
        if x < 0 {
            return (-rhi, -rlo, (0 &- q) & 3)
        }
        return (rhi, rlo, q & 3)
    }

    /// Exact product a * b = p + e without FMA (Dekker; Veltkamp split with 2^27 + 1):
    /// split(a): c = 134217729 * a, ah = c - (c - a), al = a - ah;
    /// e = (((ah * bh - p) + ah * bl) + al * bh) + al * bl.
    @usableFromInline
    static func twoProduct(_ a: Double, _ b: Double) -> (Double, Double) {
        let p = a * b
        let ca = 134217729.0 * a
        let ah = ca - (ca - a)
        let al = a - ah
        let cb = 134217729.0 * b
        let bh = cb - (cb - b)
        let bl = b - bh
        let e = (((ah * bh - p) + ah * bl) + al * bh) + al * bl
        return (p, e)
    }
}

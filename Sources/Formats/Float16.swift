// Half-precision (IEEE binary16) and bfloat16 conversions written as bit manipulation, so they do
// not depend on the platform's `Float16` support or its conversion instructions.

/// Widens IEEE binary16 bits to Float32. Exact for every input: normals, subnormals (which become
/// Float32 normals), signed zeros and infinities. NaNs keep their sign and payload shifted into
/// the top of the Float32 mantissa (a signalling NaN stays signalling), as numpy's `astype`
/// does — so gguf-py's F16 dequantization is reproduced bit for bit.
@inlinable
public func float16ToFloat(_ bits: UInt16) -> Float {
    let sign = UInt32(bits & 0x8000) << 16
    let exponent = UInt32(bits >> 10) & 0x1F
    let mantissa = UInt32(bits & 0x03FF)
    if exponent == 0x1F {
        // Infinity (mantissa 0) or NaN (payload kept).
        return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
    }
    if exponent == 0 {
        if mantissa == 0 { return Float(bitPattern: sign) }
        // Subnormal: value = mantissa * 2^-24. Normalize: shift until the implicit bit (0x400) is set.
        var m = mantissa
        var e: UInt32 = 127 - 15 + 1
        while m & 0x0400 == 0 {
            m <<= 1
            e -= 1
        }
        return Float(bitPattern: sign | (e << 23) | ((m & 0x03FF) << 13))
    }
    return Float(bitPattern: sign | ((exponent + 127 - 15) << 23) | (mantissa << 13))
}

/// Rounds a Float32 to the nearest binary16 and returns its bits; ties go to the even mantissa.
/// Values whose magnitude rounds past 65504 become infinity; tiny values become subnormals or
/// signed zero with correct rounding. NaN stays NaN: sign and the top 10 payload bits are kept and
/// the quiet bit is set.
public func floatToFloat16Bits(_ x: Float) -> UInt16 {
    let bits = x.bitPattern
    let sign = UInt16((bits >> 16) & 0x8000)
    let exponent = Int((bits >> 23) & 0xFF)
    let mantissa = bits & 0x007F_FFFF
    if exponent == 0xFF {
        if mantissa == 0 { return sign | 0x7C00 }
        return sign | 0x7E00 | UInt16(mantissa >> 13)
    }
    let halfExponent = exponent - 127 + 15
    if halfExponent >= 0x1F { return sign | 0x7C00 }  // overflow to infinity
    if halfExponent <= 0 {
        // Subnormal or zero in binary16. Value = (1.mantissa) * 2^(exponent-127); the binary16
        // subnormal unit is 2^-24, so the integer result is full >> shift with rounding.
        if halfExponent < -10 { return sign }  // below half the smallest subnormal: rounds to 0
        let full = mantissa | 0x0080_0000      // 24-bit significand
        let shift = UInt32(14 - halfExponent)   // 14...24
        var result = full >> shift
        let remainder = full & ((1 << shift) - 1)
        let half = UInt32(1) << (shift - 1)
        if remainder > half || (remainder == half && (result & 1) == 1) { result += 1 }
        return sign | UInt16(result)  // a carry into bit 10 correctly yields the smallest normal
    }
    var result = UInt32(halfExponent) << 10 | (mantissa >> 13)
    let remainder = mantissa & 0x1FFF
    if remainder > 0x1000 || (remainder == 0x1000 && (result & 1) == 1) { result += 1 }
    // A carry may roll the mantissa into the exponent, up to 0x7C00 (infinity): both correct.
    return sign | UInt16(result)
}

/// Widens bfloat16 bits to Float32 (exact: the bits become the top half of the Float32). NaN
/// payloads, including signalling NaNs, are kept unchanged.
@inlinable
public func bfloat16ToFloat(_ bits: UInt16) -> Float {
    Float(bitPattern: UInt32(bits) << 16)
}

/// Rounds a Float32 to bfloat16 bits with ties to even, exactly as PyTorch's
/// `c10::BFloat16` (`round_to_nearest_even`): any NaN becomes the canonical quiet NaN `0x7FC0`;
/// finite values that round past the largest bfloat16 become infinity.
public func floatToBFloat16Bits(_ x: Float) -> UInt16 {
    if x.isNaN { return 0x7FC0 }
    let bits = x.bitPattern
    let roundingBias = ((bits >> 16) & 1) + 0x7FFF
    return UInt16(truncatingIfNeeded: (bits &+ roundingBias) >> 16)
}

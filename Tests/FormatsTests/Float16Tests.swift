import XCTest
@testable import Formats

final class Float16Tests: XCTestCase {
    /// float16ToFloat agrees with the platform's Float16 widening for all 65536 patterns (NaNs:
    /// same sign, still NaN, payload kept in the top mantissa bits as numpy does).
    func testFloat16WideningIsExactForAllPatterns() {
        for raw in 0...UInt16.max {
            let ours = float16ToFloat(raw)
            let reference = Float(Float16(bitPattern: raw))
            if reference.isNaN {
                XCTAssertTrue(ours.isNaN, "0x\(String(raw, radix: 16))")
                XCTAssertEqual(ours.bitPattern, 0x7F80_0000 | UInt32(raw & 0x8000) << 16 | UInt32(raw & 0x3FF) << 13)
            } else {
                XCTAssertEqual(ours.bitPattern, reference.bitPattern, "0x\(String(raw, radix: 16))")
            }
        }
    }

    /// Narrowing round-trips every non-NaN half exactly, and rounds ties (midpoints between
    /// adjacent halves) and random floats exactly as the platform's Float16 conversion.
    func testFloat16NarrowingRoundsToNearestEven() {
        for raw in 0...UInt16.max {
            let wide = float16ToFloat(raw)
            if wide.isNaN {
                XCTAssertTrue(float16ToFloat(floatToFloat16Bits(wide)).isNaN)
                continue
            }
            XCTAssertEqual(floatToFloat16Bits(wide), raw)
            // Midpoint to the next half (toward larger magnitude), and just around it.
            if raw & 0x7FFF < 0x7C00 {
                let next = float16ToFloat(raw + 1)
                if next.isFinite {
                    let mid = Float((Double(wide) + Double(next)) / 2)
                    for x in [mid, mid.nextDown, mid.nextUp] {
                        XCTAssertEqual(floatToFloat16Bits(x), Float16(x).bitPattern, "\(x)")
                    }
                }
            }
        }
        var generator = SplitMix64(seed: 16)
        for _ in 0..<200_000 {
            let x = Float(bitPattern: UInt32(truncatingIfNeeded: generator.next()))
            if x.isNaN { continue }
            XCTAssertEqual(floatToFloat16Bits(x), Float16(x).bitPattern, "\(x)")
        }
        XCTAssertEqual(floatToFloat16Bits(65520), 0x7C00)      // rounds up to infinity
        XCTAssertEqual(floatToFloat16Bits(65519.99), 0x7BFF)
        XCTAssertEqual(floatToFloat16Bits(-0.0), 0x8000)
        XCTAssertEqual(floatToFloat16Bits(0x1p-25), 0)           // tie to even: zero
        XCTAssertEqual(floatToFloat16Bits(0x1.8p-25), 1)
    }

    /// bfloat16 widening is a shift, and narrowing matches a naive round-half-even reference
    /// over all 65536 patterns, their midpoints, and random floats; NaN becomes 0x7FC0 (PyTorch).
    func testBFloat16ConversionsMatchNaiveReference() {
        func naive(_ x: Float) -> UInt16 {
            if x.isNaN { return 0x7FC0 }
            let bits = x.bitPattern
            let upper = bits >> 16, lower = bits & 0xFFFF
            let roundUp = lower > 0x8000 || (lower == 0x8000 && upper & 1 == 1)
            return UInt16(truncatingIfNeeded: roundUp ? upper + 1 : upper)
        }
        for raw in 0...UInt16.max {
            let wide = bfloat16ToFloat(raw)
            XCTAssertEqual(wide.bitPattern, UInt32(raw) << 16)
            XCTAssertEqual(floatToBFloat16Bits(wide), wide.isNaN ? 0x7FC0 : raw)
            let midpoint = Float(bitPattern: UInt32(raw) << 16 | 0x8000)
            for x in [midpoint, midpoint.nextDown, midpoint.nextUp] {
                XCTAssertEqual(floatToBFloat16Bits(x), naive(x))
            }
        }
        var generator = SplitMix64(seed: 30)
        for _ in 0..<200_000 {
            let x = Float(bitPattern: UInt32(truncatingIfNeeded: generator.next()))
            XCTAssertEqual(floatToBFloat16Bits(x), naive(x))
        }
        XCTAssertEqual(floatToBFloat16Bits(Float.greatestFiniteMagnitude), 0x7F80)
    }
}

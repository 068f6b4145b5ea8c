import XCTest
import Tensors

/// `halfToFloat` (WeightMatrix.swift), the exact binary16 → binary32 widening used by every
/// quantized format, over all 65536 bit patterns.
final class HalfToFloatTests: XCTestCase {
    func testHalfToFloatMatchesFloat16WideningForAll65536Patterns() {
        var nanCount = 0, subnormalCount = 0
        for bits in 0...UInt16.max {
            let actual = halfToFloat(bits)
            let expected = Float(Float16(bitPattern: bits))
            if expected.isNaN {
                nanCount += 1
                XCTAssert(actual.isNaN, "0x\(String(bits, radix: 16)) must be NaN")
                // Sign and payload: the 10 half mantissa bits land in the top of the 23 float
                // mantissa bits. The quiet bit is compared apart: a platform conversion may
                // quiet a signaling NaN, which halfToFloat documents that it does not do.
                let payloadMask: UInt32 = 0x003F_FFFF
                XCTAssertEqual(actual.bitPattern & 0x8000_0000, expected.bitPattern & 0x8000_0000, "sign of NaN 0x\(String(bits, radix: 16))")
                XCTAssertEqual(actual.bitPattern & payloadMask, expected.bitPattern & payloadMask, "payload of NaN 0x\(String(bits, radix: 16))")
                XCTAssertEqual(actual.bitPattern, 0x7F80_0000 | UInt32(bits & 0x8000) << 16 | UInt32(bits & 0x03FF) << 13,
                               "NaN 0x\(String(bits, radix: 16)) keeps its exact payload, quiet bit included")
            } else {
                if expected.bitPattern != actual.bitPattern {
                    XCTFail("0x\(String(bits, radix: 16)): \(actual) (\(hex(actual))) != \(expected) (\(hex(expected)))")
                    return
                }
                if bits & 0x7C00 == 0 && bits & 0x03FF != 0 { subnormalCount += 1 }
            }
        }
        XCTAssertEqual(nanCount, 2 * 1023)
        XCTAssertEqual(subnormalCount, 2 * 1023)
    }

    func testHalfToFloatHandComputedValues() {
        XCTAssertEqual(halfToFloat(0x3C00), 1)
        XCTAssertEqual(halfToFloat(0xC000), -2)
        XCTAssertEqual(halfToFloat(0x7BFF), 65504)
        XCTAssertEqual(halfToFloat(0x0400), 0x1p-14)            // smallest normal
        XCTAssertEqual(halfToFloat(0x0001), 0x1p-24)            // smallest subnormal
        XCTAssertEqual(halfToFloat(0x83FF), -1023 * 0x1p-24)    // largest negative subnormal
        XCTAssertEqual(halfToFloat(0x8000).bitPattern, 0x8000_0000)
        XCTAssertEqual(halfToFloat(0x7C00), .infinity)
        XCTAssertEqual(halfToFloat(0xFC00), -.infinity)
    }
}

import Foundation
import XCTest
@testable import Formats

final class DequantizeTests: XCTestCase {
    static let fixtureTypes: [GGMLType] = [.f32, .f16, .bf16, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K]

    /// Every supported type reproduces gguf-py's numpy dequantizer bit for bit on random blocks
    /// (including zero, subnormal and large scales).
    func testDequantizationMatchesGGUFPyBitForBit() throws {
        for type in Self.fixtureTypes {
            let blocks = try [UInt8](Data(contentsOf: FixturePaths.url("dequant/\(type.name).blocks")))
            let expectedBytes = try [UInt8](Data(contentsOf: FixturePaths.url("dequant/\(type.name).f32")))
            let count = expectedBytes.count / 4
            XCTAssertEqual(blocks.count, count / type.blockSize * type.blockBytes, type.name)
            let actual = try blocks.withUnsafeBytes { try dequantize(type, from: $0, count: count) }
            var mismatches = 0
            for i in 0..<count {
                let expected = UInt32(expectedBytes[4 * i]) | UInt32(expectedBytes[4 * i + 1]) << 8
                    | UInt32(expectedBytes[4 * i + 2]) << 16 | UInt32(expectedBytes[4 * i + 3]) << 24
                if actual[i].bitPattern != expected {
                    mismatches += 1
                    if mismatches <= 3 {
                        XCTFail("\(type.name)[\(i)]: got \(actual[i]) (0x\(String(actual[i].bitPattern, radix: 16))), gguf-py 0x\(String(expected, radix: 16))")
                    }
                }
            }
            XCTAssertEqual(mismatches, 0, "\(type.name): \(mismatches) of \(count) elements differ")
        }
    }

    /// Hand-computed Q4_1 block: d = 0.5, m = -1, nibbles 0...15 → 0.5 * q - 1.
    func testQ4_1HandComputedBlock() throws {
        var block: [UInt8] = [0x00, 0x38, 0x00, 0xBC]  // f16 0.5, f16 -1.0
        for j in 0..<16 { block.append(UInt8(j) | UInt8(15 - j) << 4) }
        let values = try block.withUnsafeBytes { try dequantize(.q4_1, from: $0, count: 32) }
        for j in 0..<16 {
            XCTAssertEqual(values[j], 0.5 * Float(j) - 1)
            XCTAssertEqual(values[j + 16], 0.5 * Float(15 - j) - 1)
        }
    }

    /// Hand-computed Q8_0 block: d = 0.25, q = -128...127 pattern.
    func testQ8_0HandComputedBlock() throws {
        var block: [UInt8] = [0x00, 0x34]  // f16 0.25
        let qs: [Int8] = (0..<32).map { Int8(truncatingIfNeeded: $0 * 9 - 128) }
        block += qs.map { UInt8(bitPattern: $0) }
        let values = try block.withUnsafeBytes { try dequantize(.q8_0, from: $0, count: 32) }
        XCTAssertEqual(values, qs.map { Float($0) * 0.25 })
    }

    func testUnsupportedTypeThrowsNamingType() {
        let bytes = [UInt8](repeating: 0, count: GGMLType.iq2_XXS.blockBytes)
        XCTAssertThrowsError(try bytes.withUnsafeBytes { try dequantize(.iq2_XXS, from: $0, count: 256) }) { error in
            guard case FormatError.unsupportedType(_, let type) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(type, "IQ2_XXS")
        }
    }

    func testShortBufferAndPartialBlockThrowSizeMismatch() {
        let bytes = [UInt8](repeating: 0, count: 33)
        XCTAssertThrowsError(try bytes.withUnsafeBytes { try dequantize(.q8_0, from: $0, count: 32) }) { error in
            XCTAssertEqual((error as? FormatError)?.caseName, "sizeMismatch")
        }
        XCTAssertThrowsError(try bytes.withUnsafeBytes { try dequantize(.q8_0, from: $0, count: 31) }) { error in
            XCTAssertEqual((error as? FormatError)?.caseName, "sizeMismatch")
        }
    }

    func testBlockGeometryMatchesGGUFPy() {
        let expected: [GGMLType: (Int, Int)] = [
            .f32: (1, 4), .f16: (1, 2), .bf16: (1, 2), .q4_0: (32, 18), .q4_1: (32, 20), .q5_0: (32, 22),
            .q5_1: (32, 24), .q8_0: (32, 34), .q8_1: (32, 40), .q2_K: (256, 84), .q3_K: (256, 110),
            .q4_K: (256, 144), .q5_K: (256, 176), .q6_K: (256, 210), .q8_K: (256, 292),
        ]
        for (type, geometry) in expected {
            XCTAssertEqual(type.blockSize, geometry.0, type.name)
            XCTAssertEqual(type.blockBytes, geometry.1, type.name)
        }
        XCTAssertEqual(GGMLType(name: "Q4_1"), .q4_1)
    }
}

import XCTest
@testable import Formats

final class GGUFRoundTripTests: XCTestCase {
    static let everyValueType: [(String, GGUFValue)] = [
        ("t.uint8", .uint8(200)), ("t.int8", .int8(-100)), ("t.uint16", .uint16(65000)),
        ("t.int16", .int16(-32000)), ("t.uint32", .uint32(4_000_000_000)), ("t.int32", .int32(-2_000_000_000)),
        ("t.float32", .float32(-1.5e-7)), ("t.bool.true", .bool(true)), ("t.bool.false", .bool(false)),
        ("t.string", .string("héllo ✓ \u{0}")), ("t.string.empty", .string("")),
        ("t.uint64", .uint64(UInt64.max)), ("t.int64", .int64(Int64.min)), ("t.float64", .float64(9.999999747378752e-06)),
        ("t.array.strings", .array([.string("a"), .string("ĠThe"), .string("")])),
        ("t.array.int32", .array([.int32(1), .int32(-2), .int32(3)])),
        ("t.array.empty", .array([])),
        ("t.array.nested", .array([.array([.float32(1), .float32(2)]), .array([.float32(3)])])),
        ("t.array.bool", .array([.bool(true), .bool(false)])),
    ]

    /// Every metadata value type survives writer → reader unchanged and in order; tensors of
    /// several types keep name, shape, type and bytes; offsets are aligned.
    func testWriterOutputReadsBackIdentically() throws {
        for alignment in [32, 64, 1] {
            var writer = GGUFWriter(alignment: alignment)
            for (key, value) in Self.everyValueType { try writer.addMetadata(key, value) }
            var generator = SplitMix64(seed: 7)
            let specs: [(String, GGMLType, [Int])] = [
                ("a.f32", .f32, [7, 13]), ("b.f16", .f16, [1]), ("c.q4_1", .q4_1, [64, 3]),
                ("d.q8_0", .q8_0, [32]), ("e.q6_K", .q6_K, [256, 2]), ("f.bf16", .bf16, [5, 1, 3, 2]),
            ]
            var payloads: [String: [UInt8]] = [:]
            for (name, type, shape) in specs {
                let count = shape.reduce(1, *) / type.blockSize * type.blockBytes
                let bytes = (0..<count).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
                payloads[name] = bytes
                try writer.addTensor(name: name, type: type, shape: shape, bytes: bytes)
            }
            let image = writer.bytes()
            let file = try GGUFFile(bytes: image)
            XCTAssertEqual(file.version, 3)
            XCTAssertEqual(file.alignment, alignment)
            let expectedKeys = Self.everyValueType.map(\.0) + (alignment == 32 ? [] : ["general.alignment"])
            XCTAssertEqual(file.metadataKeys, expectedKeys)
            for (key, value) in Self.everyValueType { XCTAssertEqual(file.metadata[key], value, key) }
            XCTAssertEqual(file.tensors.map(\.name), specs.map(\.0))
            for (name, type, shape) in specs {
                let info = try XCTUnwrap(file.tensor(named: name))
                XCTAssertEqual(info.type, type)
                XCTAssertEqual(info.shape, shape)
                XCTAssertEqual(info.offset % alignment, 0)
                XCTAssertEqual(Array(file.data(for: info)), payloads[name])
            }
            // The same image through the memory-mapped path.
            let path = FixturePaths.temporaryFile(".gguf")
            try writer.write(to: path)
            defer { try? FileManager.default.removeItem(atPath: path) }
            let mapped = try GGUFFile(path: path)
            XCTAssertEqual(mapped.path, path)
            XCTAssertEqual(mapped.tensors, file.tensors)
            for info in mapped.tensors { XCTAssertEqual(Array(mapped.data(for: info)), payloads[info.name]) }
        }
    }

    func testFloatTensorDequantizesToItsValues() throws {
        var writer = GGUFWriter()
        let values: [Float] = (0..<91).map { Float($0) * 0.37 - 11 }
        try writer.addTensor(name: "w", shape: [7, 13], values: values)
        let file = try GGUFFile(bytes: writer.bytes())
        XCTAssertEqual(try file.dequantize(named: "w"), values)
    }

    func testGGUFValueAccessors() {
        XCTAssertEqual(GGUFValue.uint16(7).int, 7)
        XCTAssertNil(GGUFValue.uint64(UInt64.max).int)
        XCTAssertEqual(GGUFValue.float32(0.5).double, 0.5)
        XCTAssertEqual(GGUFValue.int8(-3).double, -3)
        XCTAssertNil(GGUFValue.string("x").int)
        XCTAssertEqual(GGUFValue.array([.string("a"), .string("b")]).strings, ["a", "b"])
        XCTAssertNil(GGUFValue.array([.string("a"), .int32(1)]).strings)
        XCTAssertEqual(GGUFValue.array([.uint8(1), .int64(-2)]).ints, [1, -2])
        XCTAssertEqual(GGUFValue.array([]).ints, [])
    }

    func testWriterRejectsMixedArraysDuplicatesAndWrongSizes() {
        var writer = GGUFWriter()
        XCTAssertThrowsError(try writer.addMetadata("k", .array([.int32(1), .uint32(2)])))
        XCTAssertNoThrow(try writer.addMetadata("k", .int32(1)))
        XCTAssertThrowsError(try writer.addMetadata("k", .int32(2))) { XCTAssertEqual($0 as? FormatError, .duplicateKey("k")) }
        XCTAssertThrowsError(try writer.addTensor(name: "t", type: .q4_0, shape: [32], bytes: [0])) {
            XCTAssertEqual(($0 as? FormatError)?.caseName, "sizeMismatch")
        }
        XCTAssertThrowsError(try writer.addTensor(name: "t", type: .q4_0, shape: [31], bytes: [])) {
            XCTAssertEqual(($0 as? FormatError)?.caseName, "invalidShape")
        }
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny deterministic generator for test data.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

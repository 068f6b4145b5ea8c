import Foundation
import XCTest
@testable import Formats

final class SafetensorsTests: XCTestCase {
    /// The values Scripts/make_safetensors_fixtures.py writes: `i * 0.1 - 3` in Float32.
    static func referenceValues(_ count: Int) -> [Float] {
        (0..<count).map { Float($0) * Float(0.1) - Float(3) }
    }

    static let referenceSpecs: [(String, SafetensorsDType, [Int])] = [
        ("a.f32", .f32, [7, 13]), ("b.f16", .f16, [1]), ("c.bf16", .bf16, [31, 5]),
        ("Z.upper", .f32, [3]), ("model.layers.0.weight", .f16, [2, 3, 4]),
    ]

    /// Writer → reader keeps names, shapes and values (F16/BF16 values are the nearest-even
    /// narrowing, widened back exactly) on odd shapes, through the memory-mapped path.
    func testWriterOutputReadsBack() throws {
        var generator = SplitMix64(seed: 11)
        var tensors: [(name: String, dtype: SafetensorsDType, shape: [Int], values: [Float])] = []
        for (index, shape) in [[1], [7, 13], [31, 1025], [2, 3, 5, 7], [0, 4]].enumerated() {
            for dtype in SafetensorsDType.allCases {
                let count = shape.reduce(1, *)
                let values = (0..<count).map { _ in Float(Int64(bitPattern: generator.next()) % 100_000) / 977 }
                tensors.append(("t\(index).\(dtype.rawValue)", dtype, shape, values))
            }
        }
        let path = FixturePaths.temporaryFile(".safetensors")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try SafetensorsWriter.write(tensors, metadata: ["format": "pt", "seed": "11"], to: path)
        let file = try SafetensorsFile(path: path)
        XCTAssertEqual(file.metadata, ["format": "pt", "seed": "11"])
        XCTAssertEqual(file.tensors.map(\.name), tensors.map(\.name).sorted())
        for tensor in tensors {
            let info = try XCTUnwrap(file.tensor(named: tensor.name))
            XCTAssertEqual(info.dtype, tensor.dtype)
            XCTAssertEqual(info.shape, tensor.shape)
            let expected: [Float]
            switch tensor.dtype {
            case .f32: expected = tensor.values
            case .f16: expected = tensor.values.map { float16ToFloat(floatToFloat16Bits($0)) }
            case .bf16: expected = tensor.values.map { bfloat16ToFloat(floatToBFloat16Bits($0)) }
            }
            XCTAssertEqual(try file.floats(named: tensor.name).map(\.bitPattern), expected.map(\.bitPattern), tensor.name)
        }
        let image = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        let headerLength = image[0..<8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        XCTAssertEqual(headerLength % 8, 0)
        XCTAssertTrue([UInt8(ascii: " "), UInt8(ascii: "}")].contains(image[8 + headerLength - 1]))
    }

    /// A file written by the reference `safetensors` library reads with the expected values.
    func testReadsReferenceLibraryOutput() throws {
        let file = try SafetensorsFile(path: FixturePaths.url("safetensors/reference.safetensors").path)
        XCTAssertEqual(file.metadata, ["format": "pt", "note": "touchstone \"q\""])
        XCTAssertEqual(file.tensors.map(\.name), Self.referenceSpecs.map(\.0).sorted())
        for (name, dtype, shape) in Self.referenceSpecs {
            let info = try XCTUnwrap(file.tensor(named: name))
            XCTAssertEqual(info.dtype, dtype)
            XCTAssertEqual(info.shape, shape)
            let values = Self.referenceValues(shape.reduce(1, *))
            let expected: [Float]
            switch dtype {
            case .f32: expected = values
            case .f16: expected = values.map { float16ToFloat(floatToFloat16Bits($0)) }
            case .bf16: expected = values.map { bfloat16ToFloat(floatToBFloat16Bits($0)) }
            }
            XCTAssertEqual(try file.floats(named: name).map(\.bitPattern), expected.map(\.bitPattern), name)
        }
    }

    /// For a single-dtype file the writer is byte-identical to the reference library.
    func testWriterIsByteIdenticalToReferenceForSingleDType() throws {
        let reference = try [UInt8](Data(contentsOf: FixturePaths.url("safetensors/reference_f32.safetensors")))
        let tensors = Self.referenceSpecs.map { (name: $0.0, dtype: SafetensorsDType.f32, shape: $0.2, values: Self.referenceValues($0.2.reduce(1, *))) }
        let ours = try SafetensorsWriter.bytes(tensors, metadata: ["format": "pt"])
        XCTAssertEqual(ours.count, reference.count)
        XCTAssertTrue(ours == reference, "writer output differs from the reference safetensors library")
    }

    func testWriterRejectsDuplicateNamesAndWrongCounts() {
        XCTAssertThrowsError(try SafetensorsWriter.bytes([("a", .f32, [2], [1, 2]), ("a", .f32, [1], [1])], metadata: [:])) {
            XCTAssertEqual($0 as? FormatError, .duplicateName("a"))
        }
        XCTAssertThrowsError(try SafetensorsWriter.bytes([("a", .f32, [2, 2], [1, 2])], metadata: [:])) {
            XCTAssertEqual(($0 as? FormatError)?.caseName, "sizeMismatch")
        }
    }
}

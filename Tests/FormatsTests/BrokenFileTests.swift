import Foundation
import XCTest
@testable import Formats

/// Runs the broken-file corpus (Scripts/make_broken_files.py): every file must be rejected
/// quickly with the FormatError case named in manifest.json — never a crash, hang, or success.
final class BrokenFileTests: XCTestCase {
    func testEveryBrokenFileThrowsItsExpectedErrorQuickly() throws {
        let manifestURL = FixturePaths.url("broken/manifest.json")
        let manifest = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: manifestURL)) as? [String: String])
        XCTAssertGreaterThan(manifest.count, 40)
        for name in manifest.keys.sorted() {
            let expected = manifest[name]!
            let path = FixturePaths.url("broken/\(name)").path
            let start = Date()
            do {
                if name.hasSuffix(".gguf") {
                    _ = try GGUFFile(path: path)
                } else {
                    _ = try SafetensorsFile(path: path)
                }
                XCTFail("\(name): loaded without error, expected \(expected)")
            } catch let error as FormatError {
                XCTAssertEqual(error.caseName, expected, "\(name): \(error)")
                XCTAssertFalse(error.description.isEmpty)
            } catch {
                XCTFail("\(name): threw a non-FormatError \(error)")
            }
            XCTAssertLessThan(Date().timeIntervalSince(start), 1.0, "\(name) took too long to reject")
        }
    }

    /// The same corpus through the in-memory initializers gives the same errors.
    func testInMemoryReadersAgreeWithMappedReaders() throws {
        let manifestURL = FixturePaths.url("broken/manifest.json")
        let manifest = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: manifestURL)) as? [String: String])
        for name in manifest.keys.sorted() {
            let bytes = try [UInt8](Data(contentsOf: FixturePaths.url("broken/\(name)")))
            XCTAssertThrowsError(try name.hasSuffix(".gguf") ? { _ = try GGUFFile(bytes: bytes) }() : { _ = try SafetensorsFile(bytes: bytes) }()) {
                XCTAssertEqual(($0 as? FormatError)?.caseName, manifest[name], name)
            }
        }
    }

    /// Every prefix of a valid GGUF is rejected with an error (no prefix parses, none crashes).
    func testEveryTruncationOfAValidFileIsRejected() throws {
        var writer = GGUFWriter()
        try writer.addMetadata("general.architecture", .string("llama"))
        try writer.addMetadata("tokenizer.ggml.tokens", .array([.string("a"), .string("bc")]))
        try writer.addTensor(name: "w", shape: [3, 2], values: [1, 2, 3, 4, 5, 6])
        let image = writer.bytes()
        XCTAssertNoThrow(try GGUFFile(bytes: image))
        let dataEnd = image.count - 8  // the last tensor's padding is not needed
        for length in 0..<dataEnd {
            XCTAssertThrowsError(try GGUFFile(bytes: Array(image[0..<length])), "prefix \(length)")
        }
    }

    func testErrorMessageNamesTensorAndSizes() throws {
        let path = FixturePaths.url("broken/gguf_tensor_data_past_end.gguf").path
        XCTAssertThrowsError(try GGUFFile(path: path)) { error in
            let message = (error as? FormatError)?.description ?? ""
            XCTAssertTrue(message.hasPrefix("tensor w: expected 1600 bytes at offset"), message)
            XCTAssertTrue(message.hasSuffix("the file is truncated"), message)
        }
        XCTAssertThrowsError(try GGUFFile(path: "/nonexistent/model.gguf")) {
            XCTAssertEqual(($0 as? FormatError)?.caseName, "io")
        }
    }
}

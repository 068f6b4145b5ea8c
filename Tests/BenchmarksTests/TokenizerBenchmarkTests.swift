import Foundation
import XCTest
@testable import Benchmarks

final class TokenizerBenchmarkTests: XCTestCase {
    func testParagraphsConcatenateToTheTextByteForByte() {
        for text in ["", "one", "a\n\nb", "a\n\n\nb\n\n", "\n\n\n\n", "x\r\n\r\ny\n\nz", "Über\n\n😀👩‍💻\n\n\n東京", "tail\n"] {
            let pieces = TokenizerBenchmark.paragraphs(of: text)
            XCTAssertEqual(Array(pieces.joined().utf8), Array(text.utf8), text.debugDescription)
            XCTAssertFalse(pieces.contains(""), text.debugDescription)
        }
        XCTAssertEqual(TokenizerBenchmark.paragraphs(of: "a\n\n\nb\n\nc"), ["a\n\n", "\nb\n\n", "c"])
    }

    func testPlainTextFileBytesEncodedEqualTheFileSize() throws {
        // Paragraph breaks, runs of newlines, CRLF, a byte-order mark and non-ASCII text.
        let text = "\u{FEFF}First paragraph.\n\nSecond, after a break.\n\n\n\nThird\r\n\r\nfourth — déjà vu 東京\n\n"
        let url = try BenchmarkFixtures.temporaryFile("plain.txt", Data(text.utf8))
        defer { try? FileManager.default.removeItem(at: url) }
        let size = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int)
        let texts = try TokenizerBenchmark.texts(contentsOfFile: url.path)
        XCTAssertGreaterThan(texts.count, 1)
        XCTAssertEqual(texts.reduce(0) { $0 + $1.utf8.count }, size)
        XCTAssertEqual(Data(texts.joined().utf8), try Data(contentsOf: url))
        let report = TokenizerBenchmark.run(tokenizer: try BenchmarkFixtures.tinyTokenizer(), texts: texts, warmPasses: 1)
        XCTAssertEqual(report.throughput.bytes, size)
        XCTAssertTrue(report.line().hasPrefix("encoded \(size) bytes → \(report.throughput.tokens) tokens: "), report.line())
        guard case .object(let fields) = report.json() else { return XCTFail("not an object") }
        XCTAssertEqual(fields.map(\.0), ["bytes", "tokens", "cold_mb_per_second", "warm_mb_per_second"])
    }

    func testJSONArrayFileGivesItsStringsAndOtherFilesAreTypedErrors() throws {
        let json = try BenchmarkFixtures.temporaryFile("texts.json", Data(#"["a b", "", "c\n\nd"]"#.utf8))
        defer { try? FileManager.default.removeItem(at: json) }
        XCTAssertEqual(try TokenizerBenchmark.texts(contentsOfFile: json.path), ["a b", "", "c\n\nd"])
        let binary = try BenchmarkFixtures.temporaryFile("binary.bin", Data([0x66, 0xFF, 0xFE, 0x80]))
        defer { try? FileManager.default.removeItem(at: binary) }
        XCTAssertThrowsError(try TokenizerBenchmark.texts(contentsOfFile: binary.path)) {
            XCTAssertEqual($0 as? BenchmarkError, .textFileNotText(path: binary.path))
        }
        XCTAssertThrowsError(try TokenizerBenchmark.texts(contentsOfFile: "/nonexistent.txt")) {
            XCTAssertEqual($0 as? BenchmarkError, .textFileUnreadable(path: "/nonexistent.txt"))
        }
    }

    func testSyntheticCorpusIsDeterministicAndAtLeastTheSizeAsked() {
        let corpus = TokenizerBenchmark.syntheticCorpus(bytes: 1 << 20)
        XCTAssertEqual(corpus, TokenizerBenchmark.syntheticCorpus(bytes: 1 << 20))
        // The corpus `bench --tokenizer` has always measured: 1,049,873 bytes from seed 2024.
        XCTAssertEqual(corpus.reduce(0) { $0 + $1.utf8.count }, 1_049_873)
        XCTAssertEqual(TokenizerBenchmark.syntheticCorpus(bytes: 0), [])
    }
}

import XCTest
@testable import Tokenization

final class DecodingTests: XCTestCase {
    private func allTexts() throws -> [String] {
        try TokenizerFixtures.entries("peer-corpus.json").map(\.text) + TokenizerFixtures.entries("peer-fuzz.json").map(\.text)
    }

    /// SmolLM2's vocabulary has no token for 21 bytes (0x04, 0x06, 0x13, 0x14, 0x16, 0x1D, 0xC0,
    /// 0xC1, 0xF1, 0xF2, 0xF5…0xFF); like Hugging Face we emit the unknown token for them, so
    /// texts containing U+0004, U+0006, U+0013, U+0014, U+0016, U+001D or a code point in
    /// U+40000…U+BFFFF cannot round-trip. Every other text must.
    func testDecodeOfEncodeIsIdentityOnCorpusAndFuzz() throws {
        let tok = try TokenizerFixtures.smolLM2()
        var failures: [String] = []
        var representable = 0
        var unrepresentable = 0
        for text in try allTexts() {
            if text.utf8.allSatisfy({ tok.byteSymbol($0) != nil }) {
                representable += 1
                for parse in [true, false] where try tok.decode(tok.encode(text, parseSpecialTokens: parse)) != text {
                    failures.append(text.debugDescription)
                }
            } else {
                unrepresentable += 1
                XCTAssertTrue(tok.encode(text).contains(0), "a byte without a token must become <|endoftext|> (unk)")
            }
        }
        XCTAssertEqual(failures, [])
        XCTAssertGreaterThan(representable, 1300)
        print("round trip: \(representable) representable texts identical; \(unrepresentable) contain bytes without a token")
    }

    func testToyRoundTripOnRandomUnicode() throws {
        let tok = try makeToyTokenizer()
        var rng = SplitMix64(seed: 3)
        for _ in 0..<500 {
            var scalars = String.UnicodeScalarView()
            for _ in 0..<Int(rng.next() % 30) {
                var value = UInt32(rng.next() % 0x110000)
                if rng.next() % 2 == 0 { value %= 0x80 }
                if let scalar = Unicode.Scalar(value) { scalars.append(scalar) }
            }
            let text = String(scalars)
            XCTAssertEqual(try tok.decode(tok.encode(text)), text)
        }
    }

    func testStreamingConcatenationEqualsFullDecodeAndNeverInventsReplacementCharacters() throws {
        let tok = try TokenizerFixtures.smolLM2()
        for text in try allTexts() {
            let ids = tok.encode(text)
            let full = try tok.decode(ids)
            var decoder = tok.makeStreamingDecoder()
            var streamed = ""
            for id in ids {
                let piece = try decoder.append(id)
                if piece.unicodeScalars.contains("\u{FFFD}") {
                    XCTAssertTrue(full.unicodeScalars.contains("\u{FFFD}"), "stream printed U+FFFD for \(text.debugDescription)")
                }
                streamed += piece
            }
            streamed += decoder.finish()
            XCTAssertEqual(streamed, full)
        }
    }

    func testStreamingOfArbitraryBytesMatchesLossyDecode() throws {
        // Byte tokens of the toy vocabulary are single bytes, so any byte sequence can be streamed,
        // including invalid and truncated UTF-8.
        let tok = try makeToyTokenizer()
        var rng = SplitMix64(seed: 5)
        let interesting: [UInt8] = [0x41, 0x80, 0xBF, 0xC0, 0xC2, 0xDF, 0xE0, 0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF, 0x9F, 0xA0, 0x90, 0x8F]
        for _ in 0..<3000 {
            let ids = (0..<Int(rng.next() % 9)).map { _ in Int(interesting[Int(rng.next() % UInt64(interesting.count))]) }
            let full = try tok.decode(ids)
            var decoder = tok.makeStreamingDecoder()
            var streamed = ""
            for id in ids { streamed += try decoder.append(id) }
            streamed += decoder.finish()
            XCTAssertEqual(Array(streamed.unicodeScalars), Array(full.unicodeScalars), "\(ids)")
        }
    }

    func testStreamingHoldsBackASplitEmojiUntilComplete() throws {
        let tok = try makeToyTokenizer()
        var decoder = tok.makeStreamingDecoder()
        let bytes = Array("😀".utf8).map(Int.init)
        XCTAssertEqual(try decoder.append(bytes[0]), "")
        XCTAssertEqual(try decoder.append(bytes[1]), "")
        XCTAssertEqual(try decoder.append(bytes[2]), "")
        XCTAssertEqual(decoder.heldBackByteCount, 3)
        XCTAssertEqual(try decoder.append(bytes[3]), "😀")
        XCTAssertEqual(try decoder.append(Int(UInt8(ascii: "a"))), "a")
        XCTAssertEqual(decoder.finish(), "")
        XCTAssertThrowsError(try decoder.append(100_000))
    }
}

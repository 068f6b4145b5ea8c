import XCTest
@testable import Tokenization

final class ToyBPETests: XCTestCase {
    func testByteLevelMappingMatchesGPT2Alphabet() {
        XCTAssertEqual(ByteLevel.characterForByte[0x20], "Ġ")
        XCTAssertEqual(ByteLevel.characterForByte[0x0A], "Ċ")
        XCTAssertEqual(ByteLevel.characterForByte[0x21], "!")
        XCTAssertEqual(ByteLevel.characterForByte[0xAD], "Ń")
        XCTAssertEqual(Set(ByteLevel.characterForByte).count, 256)
        XCTAssertEqual(ByteLevel.encode(Array("hi there\n".utf8)), "hiĠthereĊ")
        XCTAssertEqual(ByteLevel.decode("hiĠthereĊ"), Array("hi there\n".utf8))
        XCTAssertNil(ByteLevel.decode("▁hello"))
    }

    func testMergesApplyLowestRankFirst() throws {
        let tok = try makeToyTokenizer()
        XCTAssertEqual(tok.encode("abc"), [257])        // a b c → ab c → abc
        XCTAssertEqual(tok.encode("bca"), [259, 97])    // only (b,c) has a rule
        XCTAssertEqual(tok.encode(" abc ab"), [32, 257, 32, 256])  // (a,b) rank 0 beats (Ġ,a) rank 2
        XCTAssertEqual(tok.encode(" ac"), [258, 99])
        XCTAssertEqual(tok.encode(""), [])
    }

    func testEqualPairsMergeLeftmostFirst() throws {
        let tok = try makeToyTokenizer()
        XCTAssertEqual(tok.encode("aaa"), [260, 97])
        XCTAssertEqual(tok.encode("aaaa"), [260, 260])
        XCTAssertEqual(tok.encode("aaaaa"), [260, 260, 97])
    }

    func testAddedTokensAreMatchedAndSpecialOnesCanBePlainText() throws {
        let tok = try makeToyTokenizer()
        XCTAssertEqual(tok.encode("<|x|>abc<t>"), [261, 257, 262])
        // Special token as text: "<|" "x" "|>" are pre-tokenizer words; the non-special <t> stays.
        XCTAssertEqual(tok.encode("<|x|>abc<t>", parseSpecialTokens: false), [60, 124, 120, 124, 62, 257, 262])
        XCTAssertEqual(tok.encode("<|x|"), [60, 124, 120, 124])
    }

    func testDecodeIsByteExactAndRejectsUnknownIDs() throws {
        let tok = try makeToyTokenizer()
        XCTAssertEqual(try tok.decode([32, 257, 261, 262]), " abc<|x|><t>")
        XCTAssertEqual(try tok.decode([32, 257, 261, 262], skipSpecialTokens: true), " abc<t>")
        XCTAssertEqual(try tok.tokenString(for: 258), "Ġa")
        XCTAssertEqual(tok.tokenID(for: "Ġa"), 258)
        XCTAssertEqual(tok.tokenID(for: "<|x|>"), 261)
        XCTAssertEqual(tok.vocabularySize, 263)
        XCTAssertThrowsError(try tok.decode([263])) { error in
            XCTAssertEqual(error as? TokenizerError, .tokenIDOutOfRange(id: 263, vocabularySize: 263))
        }
        XCTAssertThrowsError(try tok.decode([-1]))
        XCTAssertThrowsError(try tok.tokenString(for: 1 << 40))
        // A lone continuation byte decodes to U+FFFD, never crashes.
        XCTAssertEqual(try tok.decode([0x80]), "\u{FFFD}")
    }

    func testInconsistentMergesThrowActionableErrors() {
        let vocabulary = (0..<256).map { String(ByteLevel.characterForByte[$0]) }
        XCTAssertThrowsError(try BPETokenizer(vocabulary: vocabulary, merges: [("a", "b")])) { error in
            XCTAssertEqual(error as? TokenizerError, .mergeTokenMissing(merge: "a b", missing: "ab"))
            XCTAssertTrue("\(error)".contains("inconsistent"))
        }
        XCTAssertThrowsError(try BPETokenizer(vocabulary: vocabulary, mergeRules: ["ab"])) { error in
            XCTAssertEqual(error as? TokenizerError, .malformedMerge(index: 0, text: "ab"))
        }
        XCTAssertThrowsError(try BPETokenizer(vocabulary: [], merges: []))
    }

    func testScanAndHeapMergesAgreeOnRandomWords() throws {
        let tok = try makeToyTokenizer()
        var rng = SplitMix64(seed: 7)
        let alphabet: [UInt8] = Array("aabbc Ġ".utf8)
        for length in [0, 1, 2, 3, 5, 17, 64, 300, 1000] {
            for _ in 0..<20 {
                let symbols = (0..<length).map { _ in Int32(alphabet[Int(rng.next() % UInt64(alphabet.count))]) }
                let result = tok.mergeBothWays(symbols)
                XCTAssertEqual(result.scan, result.heap, "length \(length)")
            }
        }
    }

    func testIgnoreMergesUsesWholeWordToken() throws {
        var vocabulary = (0..<256).map { String(ByteLevel.characterForByte[$0]) }
        vocabulary += ["ab", "bc", "abc"]
        // Merges reach "ab" + "c"? No: (a,b) then nothing; but "abc" is a token.
        let plain = try BPETokenizer(vocabulary: vocabulary, merges: [("a", "b"), ("b", "c")])
        let ignoring = try BPETokenizer(vocabulary: vocabulary, merges: [("a", "b"), ("b", "c")], ignoresMerges: true)
        XCTAssertEqual(plain.encode("abc"), [256, 99])
        XCTAssertEqual(ignoring.encode("abc"), [258])
    }
}

import Foundation
import XCTest
import Formats
@testable import Tokenization

/// Hand-computed cases and properties of the SentencePiece, WordPiece and rule-list
/// pre-tokenizer implementations (no files needed).
final class TokenizerFamilyTests: XCTestCase {
    // MARK: SentencePiece

    /// Pieces: scalars, "▁a", "ab", "bc", "abc", byte tokens for 'x'. Scores favour "bc" over "ab".
    func makeSPM(bcScore: Float = -1) throws -> SentencePieceTokenizer {
        var pieces = ["<unk>", "<s>", "</s>", "▁", "a", "b", "c", "ab", "bc", "abc", "▁a"]
        var scores: [Float] = [0, 0, 0, -5, -6, -6, -6, -2, bcScore, -0.5, -3]
        var types = [2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1]
        for byte in 0..<256 {
            pieces.append(String(format: "<0x%02X>", byte)); scores.append(0); types.append(6)
        }
        return try SentencePieceTokenizer(pieces: pieces, tokenTypes: types, priority: .scores(scores), addsSpacePrefix: true,
                                          bosID: 1, eosID: 2, unknownID: 0, addsBOS: true)
    }

    func testSentencePieceMergesHighestScoreFirstAndFallsBackToBytes() throws {
        let spm = try makeSPM()
        // " abc" → "▁abc": pairs ▁a(-3), ab(-2), bc(-1) → bc first, then "abc"? "a"+"bc" = "abc" (-0.5) → ▁ + abc.
        XCTAssertEqual(spm.encode("abc", parseSpecialTokens: false), [3, 9])
        // 'x' is not a piece: one byte token <0x78> = 11 + 0x78.
        XCTAssertEqual(spm.encode("x", parseSpecialTokens: false), [3, 11 + 0x78])
        XCTAssertEqual(spm.encode("", parseSpecialTokens: false), [])
    }

    func testSentencePieceTieGoesToTheLeftmostPair() throws {
        // "ab" and "bc" both score -2: in "abc" the leftmost pair (ab) merges first; "ab"+"c" is
        // not a piece, so the result is ▁, ab, c.
        let spm = try makeSPM(bcScore: -2)
        var pieces = (0..<spm.vocabularySize).map { try! spm.tokenString(for: $0) }
        pieces[9] = "zzz"  // remove "abc"
        let types = spm.tokenTypes
        let scores: [Float] = [0, 0, 0, -5, -6, -6, -6, -2, -2, -0.5, -3] + Array(repeating: 0, count: 256)
        let tie = try SentencePieceTokenizer(pieces: pieces, tokenTypes: types, priority: .scores(scores), addsSpacePrefix: false)
        XCTAssertEqual(tie.encode("abc", parseSpecialTokens: false), [7, 6])
        XCTAssertEqual(tie.encode("bcab", parseSpecialTokens: false), [8, 7])
    }

    func testSentencePieceDecodeRemovesTheDummyPrefixAndRoundTrips() throws {
        let spm = try makeSPM()
        for text in ["abc", "a b c", " x", "abc\n", "ü"] {
            XCTAssertEqual(try spm.decode(spm.encode(text, parseSpecialTokens: false)), text)
        }
        XCTAssertEqual(spm.encode("x", parseSpecialTokens: false, addSpecialTokens: true).first, 1)
    }

    func testSentencePieceSpecialTokensNeedParseSpecialAndRestartThePrefix() throws {
        let spm = try makeSPM()
        XCTAssertEqual(spm.encode("a</s>a", parseSpecialTokens: true), [10, 2, 10])
        XCTAssertNotEqual(spm.encode("a</s>a", parseSpecialTokens: false), [10, 2, 10])
    }

    // MARK: WordPiece

    func testWordPieceLowercasesStripsAccentsAndSplitsPunctuation() throws {
        let pieces = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "▁apfel", "▁hello", "▁,", "▁world", "▁wor", "ld", "▁!"]
        let types = [3, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1]
        let wpm = try WordPieceTokenizer(pieces: pieces, tokenTypes: types, unknownID: 1)
        XCTAssertEqual(wpm.encode("Äpfel", parseSpecialTokens: false), [4])
        XCTAssertEqual(wpm.encode("Hello, WORLD!", parseSpecialTokens: false), [5, 6, 7, 10])
        XCTAssertEqual(wpm.encode("unknown hello", parseSpecialTokens: false), [1, 5])
        XCTAssertEqual(try wpm.decode([5, 8, 9]), " hello world")
    }

    // MARK: Rule-list pre-tokenizers

    func testFalconCutsDigitRunsIntoTriplesAfterGPT2() {
        let falcon = PreTokenizer(pattern: .falcon)
        XCTAssertEqual(falcon.split("33333"), ["333", "33"])
        XCTAssertEqual(falcon.split("a, b!!"), ["a", ",", " b", "!!"])
    }

    func testDeepSeekCoderIsolatesDigitsAndLineBreaks() {
        let coder = PreTokenizer(pattern: .deepseekCoder)
        XCTAssertEqual(coder.split("ab12\ncd"), ["ab", "1", "2", "\n", "cd"])
        // `\s?\p{L}+` takes " 你好" (ideographs are Lo); the later CJK rule re-splits that piece.
        XCTAssertEqual(coder.split(" 你好 x"), [" ", "你好", " x"])
        XCTAssertEqual(coder.split("x\u{3000}中"), ["x", "\u{3000}", "中"])
    }

    func testDeepSeekLLMGroupsNumbersAndKeepsTrailingWhitespace() {
        let llm = PreTokenizer(pattern: .deepseekLLM)
        XCTAssertEqual(llm.split("Hello world 123  "), ["Hello", " world", " ", "123", "  "])
    }

    func testQwen35JoinsMarksToLetterRuns() {
        XCTAssertEqual(PreTokenizer(pattern: .qwen35).split("e\u{301}x"), ["e\u{301}x"])
        XCTAssertEqual(PreTokenizer.qwen2.split("e\u{301}x"), ["e", "\u{301}x"])
    }

    /// Seeded fuzz: every pattern's pieces are non-empty and concatenate to the input.
    func testEverySplitterIsLosslessAndHasNoEmptyPieces() {
        let alphabet: [String] = ["a", "Z", "é", "ж", "中", "가", "1", "٣", "½", " ", "  ", "\t", "\n", "\r", "\u{3000}", "\u{a0}",
                                  "'", "s", "!", "$", "~", "😀", "\u{200d}", "\u{301}", "’", "（", "．"]
        var state: UInt64 = 0x9E3779B97F4A7C15
        func next() -> Int { state = state &* 6364136223846793005 &+ 1442695040888963407; return Int(state >> 33) }
        let patterns: [PreTokenizer] = [.gpt2, .smolLM, .llama3, .qwen2, PreTokenizer(pattern: .qwen35), PreTokenizer(pattern: .falcon),
                                        PreTokenizer(pattern: .deepseekCoder), PreTokenizer(pattern: .deepseekLLM)]
        for _ in 0..<300 {
            let text = (0..<(1 + next() % 20)).map { _ in alphabet[next() % alphabet.count] }.joined()
            for pattern in patterns {
                let pieces = pattern.split(text)
                XCTAssertEqual(pieces.joined(), text, "\(pattern)")
                XCTAssertFalse(pieces.contains(""), "\(pattern)")
            }
        }
    }

    // MARK: Loading

    func testUnknownModelTypeAndPreTokenizerAreTypedErrorsNamingThem() throws {
        func file(_ entries: [(String, GGUFValue)]) throws -> String {
            var writer = GGUFWriter()
            for (key, value) in entries { try writer.addMetadata(key, value) }
            let path = NSTemporaryDirectory() + "touchstone-tok-\(UUID().uuidString).gguf"
            try writer.write(to: path)
            return path
        }
        let tokens: GGUFValue = .array([.string("a"), .string("b"), .string("ab")])
        let t5 = try file([("tokenizer.ggml.model", .string("t5")), ("tokenizer.ggml.tokens", tokens)])
        defer { try? FileManager.default.removeItem(atPath: t5) }
        XCTAssertThrowsError(try TokenizerLoader.load(path: t5)) { error in
            guard case .unknownModelType(let name, _, _)? = error as? TokenizerError else { return XCTFail("\(error)") }
            XCTAssertEqual(name, "t5")
        }
        let odd = try file([("tokenizer.ggml.model", .string("gpt2")), ("tokenizer.ggml.pre", .string("made-up")),
                            ("tokenizer.ggml.tokens", tokens), ("tokenizer.ggml.merges", .array([.string("a b")]))])
        defer { try? FileManager.default.removeItem(atPath: odd) }
        XCTAssertThrowsError(try TokenizerLoader.load(path: odd, convention: .llamaCpp)) { error in
            XCTAssertEqual(error as? TokenizerError, .unknownPreTokenizer("made-up", known: BPETokenizer.llamaCppPreTokenizerNames))
        }
        XCTAssertEqual(try TokenizerLoader.load(path: odd, convention: .transformers).encode("ab", parseSpecialTokens: false), [2])
    }

    /// Encoding from two threads at once gives what one thread gives (the word cache is shared).
    func testConcurrentEncodingEqualsSequentialEncoding() throws {
        let spm: any Tokenizer = try makeSPM()
        let texts = (0..<64).map { "abc x \($0) ab bc" }
        let sequential = texts.map { spm.encode($0, parseSpecialTokens: false) }
        var results = [[Int]](repeating: [], count: texts.count)
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: texts.count) { i in
            let ids = spm.encode(texts[i], parseSpecialTokens: false)
            lock.lock(); results[i] = ids; lock.unlock()
        }
        XCTAssertEqual(results, sequential)
    }
}

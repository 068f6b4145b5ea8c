import Foundation
import XCTest
@testable import Tokenization

/// Detokenization of llama.cpp's vocabulary-suite inputs (`encode` with parse_special = false,
/// then `decode`), per family, stating exactly what comes back (DOCS 5.1):
/// - byte-level BPE and Gemma 4: the text itself, byte for byte;
/// - SentencePiece with `add_space_prefix` (llama-spm, phi-3): the text itself, because the one
///   space the encoder prepends is removed from the first non-special piece on decode;
/// - WordPiece (bert-bge): the normalized words (lowercased, accents and controls dropped,
///   punctuation split off), each preceded by one space, and a word without a match as the bare
///   text `[UNK]` (no space before it).
/// Skips when the suite's files are absent (see `LlamaCppVocabularySuiteTests`).
final class LlamaCppVocabularyRoundTripTests: XCTestCase {
    func suite(families include: (String) -> Bool = { _ in true }) throws -> [(name: String, tokenizer: any Tokenizer, texts: [String])] {
        guard let directory = LlamaCppVocabularySuiteTests.directory else {
            throw XCTSkip("llama.cpp's vocabulary suite not found: set TOUCHSTONE_LLAMA_VOCAB_DIR to llama.cpp's models/ directory, or run Scripts/fetch_llama_vocab_suite.sh")
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: directory)
            .filter { $0.hasPrefix("ggml-vocab-") && $0.hasSuffix(".gguf.inp") }
            .map { String($0.dropLast(4)) }
            .filter(include)
            .sorted()
        return try names.map { name in
            let base = directory + "/" + name
            return (name, try TokenizerLoader.load(path: base, convention: .llamaCpp), try LlamaCppVocabularySuiteTests.cases(base).map(\.text))
        }
    }

    /// One vocabulary of the suite, e.g. `"llama-spm"`.
    func vocabulary(_ name: String) throws -> any Tokenizer {
        guard let directory = LlamaCppVocabularySuiteTests.directory,
              FileManager.default.fileExists(atPath: directory + "/ggml-vocab-\(name).gguf") else {
            throw XCTSkip("ggml-vocab-\(name).gguf not found: set TOUCHSTONE_LLAMA_VOCAB_DIR or run Scripts/fetch_llama_vocab_suite.sh")
        }
        return try TokenizerLoader.load(path: directory + "/ggml-vocab-\(name).gguf", convention: .llamaCpp)
    }

    func testByteLevelAndSentencePieceVocabulariesDecodeEverySuiteInputBackToItself() throws {
        var checked = 0
        for (name, tokenizer, texts) in try suite() where !(tokenizer is WordPieceTokenizer) {
            for text in texts {
                let ids = tokenizer.encode(text, parseSpecialTokens: false)
                XCTAssertEqual(try tokenizer.decode(ids), text, "\(name): \(text.debugDescription) → \(ids)")
                XCTAssertEqual(try tokenizer.decodeBytes(ids), Array(text.utf8), "\(name): bytes of \(text.debugDescription)")
            }
            checked += 1
        }
        XCTAssertGreaterThanOrEqual(checked, 14)
    }

    func testWordPieceDecodesToSpacePrefixedNormalizedWordsWithBareUnknowns() throws {
        var checked = 0
        for (name, tokenizer, texts) in try suite(families: { $0.hasPrefix("ggml-vocab-bert") }) {
            guard let wordPiece = tokenizer as? WordPieceTokenizer, let unknown = wordPiece.unknownID else { continue }
            let unknownText = try wordPiece.tokenString(for: unknown)
            for text in texts {
                var expected = ""
                for word in wordPiece.words(text) {
                    let wordText = String(decoding: word, as: UTF8.self)
                    expected += wordPiece.encode(wordText, parseSpecialTokens: false) == [unknown] ? unknownText : " " + wordText
                }
                let ids = wordPiece.encode(text, parseSpecialTokens: false)
                XCTAssertEqual(try wordPiece.decode(ids), expected, "\(name): \(text.debugDescription)")
                // Skipping special tokens drops the unknowns as well.
                XCTAssertEqual(try wordPiece.decode(ids, skipSpecialTokens: true),
                               expected.replacingOccurrences(of: unknownText, with: ""), "\(name): \(text.debugDescription)")
            }
            checked += 1
        }
        XCTAssertEqual(checked, 1)
    }

    /// Hand-computed: what bert-bge's decode gives for accented, cased, punctuated and CJK text.
    func testWordPieceDecodeIsLowercasedUnaccentedAndSplitAtPunctuation() throws {
        let bert = try vocabulary("bert-bge")
        func roundTrip(_ text: String) throws -> String { try bert.decode(bert.encode(text, parseSpecialTokens: false)) }
        XCTAssertEqual(try roundTrip("Hello World!"), " hello world !")
        XCTAssertEqual(try roundTrip("Déjà  VU,\tcafé"), " deja vu , cafe")
        XCTAssertEqual(try roundTrip("東京"), " 東 京")
        XCTAssertEqual(try roundTrip("   "), "")
    }

    /// Hand-computed: the SentencePiece leading-space rule on llama-spm (`add_space_prefix`).
    func testSentencePieceRemovesOneLeadingSpaceFromTheFirstNonSpecialPieceOnly() throws {
        guard let spm = try vocabulary("llama-spm") as? SentencePieceTokenizer else { return XCTFail("llama-spm is not read as SentencePiece") }
        XCTAssertTrue(spm.addsSpacePrefix)
        guard let hello = spm.tokenID(for: "▁Hello"), let world = spm.tokenID(for: "▁world"), let bos = spm.bosID else {
            return XCTFail("llama-spm lacks ▁Hello, ▁world or BOS")
        }
        XCTAssertEqual(spm.encode("Hello world", parseSpecialTokens: false), [hello, world])
        XCTAssertEqual(try spm.decode([hello, world]), "Hello world")
        XCTAssertEqual(try spm.decode([world, hello]), "world Hello")
        // A special token before it does not use up the rule; skipping it changes nothing else.
        let bosText = try spm.tokenString(for: bos)
        XCTAssertEqual(try spm.decode([bos, hello, world]), bosText + "Hello world")
        XCTAssertEqual(try spm.decode([bos, hello, world], skipSpecialTokens: true), "Hello world")
        // A text that starts with a space keeps it: "▁▁Hello" loses only the prepended one.
        XCTAssertEqual(try spm.decode(spm.encode(" Hello", parseSpecialTokens: false)), " Hello")
    }
}

/// WordPiece normalization of ASCII (served from a table built at init): hand-stated rules, every
/// scalar 0...127, alone and after a letter.
final class WordPieceASCIINormalizationTests: XCTestCase {
    func testEveryASCIIScalarIsDroppedBreaksLowercasesOrSplitsOffAsBERTSays() throws {
        for (lowercases, stripsAccents) in [(true, true), (false, false)] {
            let wpm = try WordPieceTokenizer(pieces: ["[UNK]", "▁a"], tokenTypes: [3, 1], lowercases: lowercases,
                                             stripsAccents: stripsAccents, unknownID: 0)
            for v in UInt8(0)..<0x80 {
                let c = Character(Unicode.Scalar(v))
                let isSpace = v == 0x20 || (0x09...0x0D).contains(v)
                let isControl = v < 0x20 || v == 0x7F
                let isAlphanumeric = c.isASCII && (c.isLetter || c.isNumber)
                let normalized = lowercases && (0x41...0x5A).contains(v) ? v + 32 : v
                let alone = wpm.words(String(c)), afterLetter = wpm.words("a" + String(c))
                if isSpace || isControl {
                    XCTAssertEqual(alone, [], "\(v)")
                    XCTAssertEqual(afterLetter, [[0x61]], "\(v)")
                } else if isAlphanumeric {
                    XCTAssertEqual(alone, [[normalized]], "\(v)")
                    XCTAssertEqual(afterLetter, [[0x61, normalized]], "\(v)")
                } else {  // ASCII punctuation and symbols are words of their own
                    XCTAssertEqual(alone, [[v]], "\(v)")
                    XCTAssertEqual(afterLetter, [[0x61], [v]], "\(v)")
                }
            }
        }
    }
}

import Foundation
import XCTest
@testable import Tokenization

/// The SentencePiece encoder merges space-boundary chunks one at a time and caches them; the
/// whole-fragment merge (`encodeReference`) is the reference it must equal, on vocabularies where
/// a merge can cross a `▁` and on the real ones.
final class SentencePieceChunkTests: XCTestCase {
    /// Pieces `▁ a b ab ▁a` plus, when `joining`, `b▁` with the best score: then `b` joins a
    /// following `▁`, so no cut may be made after it.
    func makeSPM(joining: Bool) throws -> SentencePieceTokenizer {
        var pieces = ["<unk>", "▁", "a", "b", "ab", "▁a", "▁ab"]
        var scores: [Float] = [0, -5, -6, -6, -2, -3, -1]
        if joining { pieces.append("b▁"); scores.append(-0.5) }
        return try SentencePieceTokenizer(pieces: pieces, tokenTypes: nil, priority: .scores(scores), addsSpacePrefix: true, unknownID: 0)
    }

    func testAMergeAcrossTheSpaceIsNotCutAway() throws {
        let spm = try makeSPM(joining: true)
        XCTAssertEqual(SentencePieceTokenizer.scalarsJoiningSpace(pieces: ["▁", "b▁", "x▁▁", "▁▁y"], priority: .scores([0, 0, 0, 0])),
                       [UInt32(UInt8(ascii: "b")), UInt32(UInt8(ascii: "x")), 0x81_96_E2])
        // "▁ab▁ab": b▁ (-0.5) merges first, so the whole-fragment result holds the crossing piece.
        let reference = spm.encodeReference("ab ab", parseSpecialTokens: false)
        XCTAssertTrue(reference.contains(7), "\(reference)")
        for text in ["ab ab", "ab ab ab", "b a", "ab  ab", " ab", "ab "] {
            XCTAssertEqual(spm.encode(text, parseSpecialTokens: false), spm.encodeReference(text, parseSpecialTokens: false), text)
            XCTAssertEqual(spm.encode(text, parseSpecialTokens: false), spm.encodeReference(text, parseSpecialTokens: false), "cached: \(text)")
        }
        // Without `b▁` the cut is made and the result is the same as the whole-fragment merge.
        let plain = try makeSPM(joining: false)
        XCTAssertTrue(SentencePieceTokenizer.scalarsJoiningSpace(pieces: ["▁", "a", "b", "ab", "▁a", "▁ab"], priority: .scores([0, 0, 0, 0, 0, 0])).isEmpty)
        XCTAssertEqual(plain.encode("ab ab", parseSpecialTokens: false), [6, 6])
        XCTAssertEqual(plain.encode("ab ab", parseSpecialTokens: false), plain.encodeReference("ab ab", parseSpecialTokens: false))
    }

    func testRankRulesJoiningASpaceKeepTheirLeftScalar() {
        let joining = SentencePieceTokenizer.scalarsJoiningSpace(pieces: [], priority: .mergeRanks(["▁ a", "b ▁", "é ▁x", "c d"]))
        XCTAssertEqual(joining, [UInt32(UInt8(ascii: "b")), 0xA9_C3])
    }

    /// Random texts of words, space runs, newlines, digits, punctuation and non-Latin scripts.
    static func fuzzTexts(count: Int, seed: UInt64) -> [String] {
        var rng = SplitMix64(seed: seed)
        let atoms = ["the", "The", " ", "  ", "   ", "\n", "\n\n", "\t", "ing", "a", "1", "23", "456", ",", ".", "!", "'s",
                     "café", "naïve", "日本語", "中文", "Привет", "مرحبا", "🙂", "👍🏽", "\u{2581}", "__", "x", "def", "():", "<s>", "é"]
        return (0..<count).map { _ in
            let n = Int(rng.next() % 40) + 1
            return (0..<n).map { _ in atoms[Int(rng.next() % UInt64(atoms.count))] }.joined()
        }
    }

    func testChunkedEncodingEqualsTheWholeFragmentMergeOnTheRealVocabularies() throws {
        var vocabularies: [(String, SentencePieceTokenizer)] = []
        if let directory = LlamaCppVocabularySuiteTests.directory {
            for name in ["llama-spm", "phi-3", "gemma-4"] {
                let path = directory + "/ggml-vocab-\(name).gguf"
                guard FileManager.default.fileExists(atPath: path) else { continue }
                if let spm = try TokenizerLoader.load(path: path, convention: .llamaCpp) as? SentencePieceTokenizer { vocabularies.append((name, spm)) }
            }
        }
        if let gemma = try? GemmaTokenizerTests.gemma() as? SentencePieceTokenizer { vocabularies.append(("gemma3", gemma)) }
        guard !vocabularies.isEmpty else {
            throw XCTSkip("no SentencePiece vocabulary found: run Scripts/fetch_llama_vocab_suite.sh or touchstone fetch gemma3-270m")
        }
        let texts = Self.fuzzTexts(count: 400, seed: 29)
        for (name, spm) in vocabularies {
            for text in texts {
                for special in [false, true] {
                    XCTAssertEqual(spm.encode(text, parseSpecialTokens: special), spm.encodeReference(text, parseSpecialTokens: special),
                                   "\(name) special=\(special): \(text.debugDescription)")
                }
            }
        }
    }

    /// Word and chunk caches never change a result: every suite vocabulary gives the same ids for
    /// fuzz texts encoded in a row (warm caches) and each after `clearCache()` (cold).
    func testCachedEncodingEqualsAColdEncodingOnEverySuiteVocabulary() throws {
        guard let directory = LlamaCppVocabularySuiteTests.directory else {
            throw XCTSkip("llama.cpp's vocabulary suite not found: run Scripts/fetch_llama_vocab_suite.sh")
        }
        let texts = Self.fuzzTexts(count: 150, seed: 31)
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix("ggml-vocab-") && $0.hasSuffix(".gguf.inp") }
            .map { String($0.dropLast(4)) }  // the vocabularies of the suite (those with inputs)
        XCTAssertGreaterThanOrEqual(names.count, 15)
        for name in names.sorted() {
            let tokenizer = try TokenizerLoader.load(path: directory + "/" + name, convention: .llamaCpp)
            let warm = (texts + texts).map { tokenizer.encode($0, parseSpecialTokens: true) }
            for (i, text) in texts.enumerated() {
                tokenizer.clearCache()
                let cold = tokenizer.encode(text, parseSpecialTokens: true)
                XCTAssertEqual(cold, warm[i], "\(name): \(text.debugDescription)")
                XCTAssertEqual(cold, warm[i + texts.count], "\(name), second pass: \(text.debugDescription)")
            }
        }
    }
}

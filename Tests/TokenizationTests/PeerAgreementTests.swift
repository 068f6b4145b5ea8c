import Foundation
import XCTest
import Formats
@testable import Tokenization

/// Differential tests against Hugging Face tokenizers (fixtures written by
/// Scripts/make_tokenizer_fixtures.py).
final class PeerAgreementTests: XCTestCase {
    private func assertAgreement(_ tok: BPETokenizer, _ fixture: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let entries = try TokenizerFixtures.entries(fixture)
        XCTAssertGreaterThan(entries.count, 0)
        var mismatches: [String] = []
        for (index, entry) in entries.enumerated() {
            let ids = tok.encode(entry.text)
            if ids != entry.ids {
                mismatches.append("#\(index) \(entry.text.debugDescription.prefix(80)): got \(ids.prefix(20)) want \(entry.ids.prefix(20))")
            }
            if let expected = entry.idsSpecialAsText {
                let plain = tok.encode(entry.text, parseSpecialTokens: false)
                if plain != expected { mismatches.append("#\(index) special-as-text: got \(plain.prefix(20)) want \(expected.prefix(20))") }
            }
            if let decoded = entry.decoded {
                let ours = try tok.decode(entry.ids)
                if ours != decoded { mismatches.append("#\(index) decode: got \(ours.debugDescription.prefix(80))") }
            }
        }
        XCTAssertEqual(mismatches, [], "\(mismatches.count) of \(entries.count) \(fixture) entries disagree", file: file, line: line)
    }

    func testCorpusIDsEqualHuggingFace() throws {
        try assertAgreement(try TokenizerFixtures.smolLM2(), "peer-corpus.json")
    }

    func testFuzzIDsEqualHuggingFace() throws {
        try assertAgreement(try TokenizerFixtures.smolLM2(), "peer-fuzz.json")
    }

    func testCorpusFixtureHoldsEveryCorpusText() throws {
        let data = try Data(contentsOf: TokenizerFixtures.directory.appendingPathComponent("corpus.json"))
        let corpus = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String])
        XCTAssertEqual(try TokenizerFixtures.entries("peer-corpus.json").map(\.text), corpus)
        XCTAssertTrue(corpus.contains(""))
        XCTAssertTrue(corpus.contains { $0.utf8.count >= 10_000 })
    }

    func testTokenizerJSONLoaderAgreesWithTokenizersOnTinyModel() throws {
        let data = try Data(contentsOf: TokenizerFixtures.directory.appendingPathComponent("tiny-tokenizer.json"))
        let tok = try BPETokenizer(tokenizerJSON: data, eosToken: "<|endoftext|>")
        XCTAssertEqual(tok.preTokenizer, .smolLM)
        XCTAssertEqual(tok.eosID, 0)
        try assertAgreement(tok, "peer-tiny.json")
    }

    func testLlama3SplitPatternAgreesWithTokenizers() throws {
        let data = try Data(contentsOf: TokenizerFixtures.directory.appendingPathComponent("tiny-llama3-tokenizer.json"))
        let tok = try BPETokenizer(tokenizerJSON: data)
        XCTAssertEqual(tok.preTokenizer, .llama3)
        try assertAgreement(tok, "peer-tiny-llama3.json")
    }

    func testQwen2SplitPatternWithNFCAgreesWithTokenizers() throws {
        let data = try Data(contentsOf: TokenizerFixtures.directory.appendingPathComponent("tiny-qwen2-tokenizer.json"))
        let tok = try BPETokenizer(tokenizerJSON: data)
        XCTAssertEqual(tok.preTokenizer, .qwen2)
        XCTAssertEqual(tok.normalizer, .nfc)
        try assertAgreement(tok, "peer-tiny-qwen2.json")
    }

    func testGGUFMetadataGivesSmolLM2SpecialIDs() throws {
        let tok = try TokenizerFixtures.smolLM2()
        XCTAssertEqual(tok.vocabularySize, 49152)
        XCTAssertEqual(tok.bosID, 1)
        XCTAssertEqual(tok.eosID, 2)
        XCTAssertEqual(tok.unknownID, 0)
        XCTAssertEqual(tok.paddingID, 2)
        XCTAssertEqual(tok.addedTokens.count, 17)
        XCTAssertEqual(try tok.tokenString(for: 1), "<|im_start|>")
        XCTAssertEqual(tok.preTokenizer, .gpt2)
        let gguf = try GGUFFile(path: TokenizerFixtures.modelPath)
        XCTAssertEqual(gguf.metadata["tokenizer.ggml.pre"]?.string, "smollm")
        XCTAssertEqual(BPETokenizer.llamaCppPreTokenizer(named: "smollm"), .smolLM)
    }

    func testRealVocabularyScanAndHeapMergesAgree() throws {
        let tok = try TokenizerFixtures.smolLM2()
        let corpus = try TokenizerFixtures.entries("peer-corpus.json").map(\.text)
        var rng = SplitMix64(seed: 11)
        for text in corpus {
            for word in PreTokenizer.gpt2.split(text) {
                let symbols = word.utf8.compactMap { tok.byteSymbol($0) }
                let result = tok.mergeBothWays(symbols)
                XCTAssertEqual(result.scan, result.heap, word.debugDescription)
            }
        }
        // Random byte words, including long ones.
        for length in [2, 7, 40, 257, 900] {
            let bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: rng.next() % 128) }
            let symbols = bytes.compactMap { tok.byteSymbol($0) }
            let result = tok.mergeBothWays(symbols)
            XCTAssertEqual(result.scan, result.heap)
        }
    }
}

final class ConcurrencyTests: XCTestCase {
    /// Concurrent callers either share the word cache or use a private one; ids never differ.
    func testConcurrentEncodingGivesTheSameIDs() throws {
        let tok = try TokenizerFixtures.smolLM2()
        let entries = try TokenizerFixtures.entries("peer-corpus.json")
        let results = UnsafeMutableBufferPointer<Bool>.allocate(capacity: 8)
        defer { results.deallocate() }
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            var ok = true
            for entry in entries where tok.encode(entry.text) != entry.ids { ok = false }
            results[worker] = ok
        }
        XCTAssertEqual(Array(results), Array(repeating: true, count: 8))
    }
}

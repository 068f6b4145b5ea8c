import Foundation
import XCTest
import Formats
@testable import Tokenization

/// Found by the tokenizer-text fuzzer (`Fixtures/fuzz/regressions/tokenizer-text/`): SmolLM2's
/// byte-level vocabulary has no token for some bytes. Each run of them becomes the unknown token
/// `<|endoftext|>` (id 0, a special token), as transformers 4.52.4's GGUF tokenizer does
/// (`Fixtures/tokenizer/peer-fuzz.json`); every other byte survives `decode(encode(text))`.
final class BytesWithoutTokenTests: XCTestCase {
    /// Read from the GGUF with gguf-py (the byte-level character of each byte looked up in
    /// `tokenizer.ggml.tokens`), independently of this package.
    static let smolLM2BytesWithoutToken: Set<UInt8> = Set([4, 6, 19, 20, 22, 29, 192, 193, 241, 242] + Array(245...255))

    func testSmolLM2VocabularyLacksExactlyTheseByteTokens() throws {
        let tokenizer = try TokenizerFixtures.smolLM2()
        let missing = Set((0...255).map(UInt8.init).filter {
            tokenizer.tokenID(for: String(Character(ByteLevel.characterForByte[Int($0)]))) == nil
        })
        XCTAssertEqual(missing, Self.smolLM2BytesWithoutToken)
    }

    func testBytesWithoutATokenBecomeTheUnknownTokenAndEveryOtherByteRoundTrips() throws {
        let tokenizer = try TokenizerFixtures.smolLM2()
        let unknown = try XCTUnwrap(tokenizer.unknownID)
        XCTAssertTrue(tokenizer.isSpecial(unknown))
        XCTAssertEqual(tokenizer.encode("hello\u{06}"), tokenizer.encode("hello") + [unknown])
        let directory = TokenizerFixtures.directory.deletingLastPathComponent().appendingPathComponent("fuzz/regressions/tokenizer-text")
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
        XCTAssertFalse(names.isEmpty)
        for name in names {
            // The harness's format: one mode byte, then the text.
            let bytes = try [UInt8](Data(contentsOf: directory.appendingPathComponent(name))).dropFirst()
            let text = String(decoding: bytes, as: UTF8.self)
            let ids = tokenizer.encode(text, parseSpecialTokens: false)
            XCTAssertTrue(ids.contains(unknown), name)
            let decoded = try tokenizer.decodeBytes(ids, skipSpecialTokens: true)
            XCTAssertEqual(decoded, text.utf8.filter { !Self.smolLM2BytesWithoutToken.contains($0) }, name)
        }
    }
}

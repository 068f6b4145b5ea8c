// libFuzzer harness: encode and decode arbitrary bytes with a real tokenizer.
//
// The tokenizer is read once from $TOUCHSTONE_FUZZ_TOKENIZER (a `.gguf` or a `tokenizer.json`);
// Scripts/fuzz.sh points it at the cached SmolLM2 GGUF when there is one, else at
// Fixtures/tokenizer/tiny-tokenizer.json. The first input byte picks the mode:
//   0, 1: the rest as text (invalid UTF-8 replaced), encoded with / without special-token parsing;
//         the ids decode; without special-token parsing and with no normalizer, decoding them
//         with special tokens skipped gives back the text's bytes exactly, less the bytes the
//         vocabulary has no token for (SmolLM2 has none for 4, 6, 19, 20, 22, 29, 192, 193, 241,
//         242, 245-255; each run of them becomes the unknown token <|endoftext|>, a special token);
//   2:    the rest as 16-bit ids (some negative, some past the vocabulary) decoded in one piece
//         and streamed; out-of-range ids must be a thrown error, never a crash;
//   3:    encoded, then streamed back one id at a time: the streamed text equals `decode` of the
//         ids (StreamingDecoder's invariant).
import Foundation
import Formats
import FuzzSupport
import Tokenization

let tokenizer: BPETokenizer = {
    let path = ProcessInfo.processInfo.environment["TOUCHSTONE_FUZZ_TOKENIZER"] ?? "Fixtures/tokenizer/tiny-tokenizer.json"
    do {
        if path.hasSuffix(".gguf") { return try BPETokenizer(gguf: GGUFFile(path: path)) }
        return try BPETokenizer(tokenizerJSON: Data(contentsOf: URL(fileURLWithPath: path)))
    } catch {
        invariantFailed("cannot load the tokenizer \(path) (set TOUCHSTONE_FUZZ_TOKENIZER): \(error)")
    }
}()

/// Bytes without a vocabulary token (neither the byte-level character nor `<0xHH>`).
let bytesWithoutToken: Set<UInt8> = Set((0...255).map(UInt8.init).filter { b in
    tokenizer.tokenID(for: String(Character(ByteLevel.characterForByte[Int(b)]))) == nil
        && tokenizer.tokenID(for: "<0x" + String(b, radix: 16, uppercase: true).leftPadded(to: 2) + ">") == nil
})

extension String {
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}

/// The bytes `decode(encode(text), skipSpecialTokens: true)` must give when special tokens are
/// not parsed: the text's bytes less those without a token (which become the unknown token, a
/// special token, as transformers 4.52's GGUF tokenizer does; or are dropped without one).
func expectedRoundTrip(_ text: String) -> [UInt8]? {
    guard tokenizer.normalizer == .none else { return nil }
    if let unknown = tokenizer.unknownID, !tokenizer.isSpecial(unknown) { return nil }
    return text.utf8.filter { !bytesWithoutToken.contains($0) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTokenizerText(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = fuzzBytes(data, size)
    guard let mode = bytes.first else { return 0 }
    let rest = Array(bytes.dropFirst())
    switch mode % 4 {
    case 0, 1:
        let text = String(decoding: rest, as: UTF8.self)
        let ids = tokenizer.encode(text, parseSpecialTokens: mode % 4 == 0)
        guard ids.allSatisfy({ $0 >= 0 && $0 < tokenizer.vocabularySize }) else { invariantFailed("encode produced an id outside the vocabulary") }
        do { _ = try tokenizer.decodeBytes(ids) } catch { invariantFailed("ids from encode do not decode: \(error)") }
        if mode % 4 == 1, let expected = expectedRoundTrip(text) {
            guard let decoded = try? tokenizer.decodeBytes(ids, skipSpecialTokens: true), decoded == expected else {
                invariantFailed("decode(encode(text)) without special tokens is not the text's bytes less those without a token")
            }
        }
    case 2:
        var ids: [Int] = []
        var i = 0
        while i + 1 < rest.count {
            ids.append(Int(UInt16(rest[i]) | UInt16(rest[i + 1]) << 8) - 8)
            i += 2
        }
        let inRange = ids.allSatisfy { $0 >= 0 && $0 < tokenizer.vocabularySize }
        switch (try? tokenizer.decodeBytes(ids), inRange) {
        case (nil, true): invariantFailed("in-range ids failed to decode")
        case (.some, false): invariantFailed("out-of-range ids decoded without an error")
        default: break
        }
        _ = try? tokenizer.decode(ids, skipSpecialTokens: true)
        var stream = tokenizer.makeStreamingDecoder()
        for id in ids { _ = try? stream.append(id) }
        _ = stream.finish()
    default:
        let text = String(decoding: rest, as: UTF8.self)
        let ids = tokenizer.encode(text)
        var stream = tokenizer.makeStreamingDecoder()
        var streamed = ""
        do { for id in ids { streamed += try stream.append(id) } } catch { invariantFailed("streaming decode failed: \(error)") }
        streamed += stream.finish()
        let whole: String
        do { whole = try tokenizer.decode(ids) } catch { invariantFailed("ids from encode do not decode: \(error)") }
        if Array(streamed.utf8) != Array(whole.utf8) { invariantFailed("streamed text != decode(ids)") }
    }
    return 0
}

/// SwiftPM names an executable target's entry point `<Module>_main`; libFuzzer's driver runs here.
@_cdecl("FuzzTokenizerText_main")
public func FuzzTokenizerTextMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzzTokenizerText)
}

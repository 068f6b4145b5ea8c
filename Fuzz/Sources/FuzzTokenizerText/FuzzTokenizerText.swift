// libFuzzer harness: encode and decode arbitrary bytes with a real tokenizer.
//
// The tokenizer is read once from $TOUCHSTONE_FUZZ_TOKENIZER (a `.gguf` or a `tokenizer.json`);
// Scripts/fuzz.sh points it at the cached SmolLM2 GGUF when there is one, else at
// Fixtures/tokenizer/tiny-tokenizer.json. The first input byte picks the mode:
//   0, 1: the rest as text (invalid UTF-8 replaced), encoded with / without special-token parsing;
//         with no normalizer, decoding the ids must give the text back exactly (byte-level BPE);
//   2:    the rest as 16-bit ids (some negative, some past the vocabulary) decoded in one piece
//         and streamed; out-of-range ids must be a thrown error, never a crash;
//   3:    encoded, then streamed back one id at a time: the streamed text equals the text.
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
        let decoded: String
        do { decoded = try tokenizer.decode(ids) } catch { invariantFailed("ids from encode do not decode: \(error)") }
        if tokenizer.normalizer == .none, decoded != text { invariantFailed("decode(encode(text)) != text") }
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
        if tokenizer.normalizer == .none, streamed != text { invariantFailed("streamed decode(encode(text)) != text") }
    }
    return 0
}

/// SwiftPM names an executable target's entry point `<Module>_main`; libFuzzer's driver runs here.
@_cdecl("FuzzTokenizerText_main")
public func FuzzTokenizerTextMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzzTokenizerText)
}

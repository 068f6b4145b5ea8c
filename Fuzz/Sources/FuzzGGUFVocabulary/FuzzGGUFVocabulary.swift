// libFuzzer harness: a tokenizer built from a GGUF file's `tokenizer.ggml.*` metadata (and its
// chat template), then used on a fixed text. A thrown error is the expected outcome for bad input.
import Formats
import FuzzSupport
import Tokenization

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGGUFVocabulary(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = fuzzBytes(data, size)
    guard let file = try? GGUFFile(bytes: bytes) else { return 0 }
    if let source = BPETokenizer.chatTemplateSource(in: file) { _ = ChatTemplate.recognizing(source) }
    guard let tokenizer = try? BPETokenizer(gguf: file) else { return 0 }
    let text = "Hello world! <|im_start|>user\n  tabs\tand ünïcödé 123 🦙<|im_end|>"
    for parse in [true, false] {
        let ids = tokenizer.encode(text, parseSpecialTokens: parse)
        _ = try? tokenizer.decode(ids)
        _ = try? tokenizer.decode(ids, skipSpecialTokens: true)
        var stream = tokenizer.makeStreamingDecoder()
        for id in ids { _ = try? stream.append(id) }
        _ = stream.finish()
    }
    for id in [-1, 0, 1, 255, 256, 1_000_000] {
        _ = try? tokenizer.tokenString(for: id)
        _ = tokenizer.isSpecial(id)
    }
    return 0
}

/// SwiftPM names an executable target's entry point `<Module>_main`; libFuzzer's driver runs here.
@_cdecl("FuzzGGUFVocabulary_main")
public func FuzzGGUFVocabularyMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzzGGUFVocabulary)
}

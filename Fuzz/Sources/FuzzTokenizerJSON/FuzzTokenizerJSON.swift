// libFuzzer harness: a tokenizer loaded from an arbitrary `tokenizer.json`, then used on a fixed
// text. A thrown `TokenizerError` is the expected outcome for bad input.
import Foundation
import FuzzSupport
import Tokenization

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTokenizerJSON(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = fuzzBytes(data, size)
    guard let tokenizer = try? BPETokenizer(tokenizerJSON: Data(bytes), bosToken: "<|im_start|>", eosToken: "<|im_end|>") else { return 0 }
    let text = "Hello world! <|im_start|>user\n  tabs\tand ünïcödé 123 🦙<|im_end|>"
    for parse in [true, false] {
        let ids = tokenizer.encode(text, parseSpecialTokens: parse)
        _ = try? tokenizer.decode(ids)
        var stream = tokenizer.makeStreamingDecoder(skipSpecialTokens: true)
        for id in ids { _ = try? stream.append(id) }
        _ = stream.finish()
    }
    for id in [-1, 0, 1, 255, 256, 1_000_000] { _ = try? tokenizer.tokenBytes(for: id) }
    return 0
}

/// SwiftPM names an executable target's entry point `<Module>_main`; libFuzzer's driver runs here.
@_cdecl("FuzzTokenizerJSON_main")
public func FuzzTokenizerJSONMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzzTokenizerJSON)
}

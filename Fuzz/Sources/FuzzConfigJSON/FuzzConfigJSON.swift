// libFuzzer harness: a Hugging Face `config.json` parsed and turned into a validated model
// configuration.
import Formats
import Foundation
import FuzzSupport
import Transformer

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfigJSON(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = fuzzBytes(data, size)
    guard let config = try? LlamaHFConfig(jsonData: Data(bytes)) else { return 0 }
    let configuration = LlamaConfiguration(config)
    guard (try? configuration.validate()) != nil else { return 0 }
    // A configuration that validated survives its own JSON round trip.
    guard let reread = try? LlamaHFConfig(jsonData: config.jsonData()) else {
        invariantFailed("a config accepted once is rejected after jsonData()")
    }
    _ = reread
    return 0
}

/// SwiftPM names an executable target's entry point `<Module>_main`; libFuzzer's driver runs here.
@_cdecl("FuzzConfigJSON_main")
public func FuzzConfigJSONMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzzConfigJSON)
}

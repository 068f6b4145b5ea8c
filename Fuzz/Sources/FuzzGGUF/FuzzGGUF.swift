// libFuzzer harness: the GGUF reader and the Llama loader on arbitrary bytes.
// Every input must end in a value or a thrown error; a trap, sanitizer report or timeout is a bug.
import Formats
import FuzzSupport
import Transformer

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGGUF(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = fuzzBytes(data, size)
    guard let file = try? GGUFFile(bytes: bytes) else { return 0 }
    for key in file.metadataKeys where file.metadata[key] == nil {
        invariantFailed("metadata key \(key) is listed but has no value")
    }
    for info in file.tensors {
        guard file.tensor(named: info.name) == info else { invariantFailed("tensor \(info.name) is not found by name") }
        guard info.offset >= file.dataOffset, info.offset + info.byteCount <= file.fileSize else {
            invariantFailed("tensor \(info.name) lies outside the file")
        }
        guard info.byteCount <= fuzzMaximumTensorBytes else { continue }
        if let values = try? file.dequantize(info), values.count != info.elementCount {
            invariantFailed("tensor \(info.name) dequantized to \(values.count) values, expected \(info.elementCount)")
        }
    }
    _ = try? LlamaModel(gguf: file)
    _ = try? LlamaModel(gguf: file, float32Weights: true)
    return 0
}

/// SwiftPM names an executable target's entry point `<Module>_main`; libFuzzer's driver runs here.
@_cdecl("FuzzGGUF_main")
public func FuzzGGUFMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzzGGUF)
}

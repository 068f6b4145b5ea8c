// libFuzzer harness: the safetensors reader on arbitrary bytes, and every tensor it accepts
// converted to Float32.
import Formats
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafetensors(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = fuzzBytes(data, size)
    guard let file = try? SafetensorsFile(bytes: bytes) else { return 0 }
    for info in file.tensors {
        guard file.tensor(named: info.name) == info else { invariantFailed("tensor \(info.name) is not found by name") }
        guard info.offset >= 8, info.offset + info.byteCount <= bytes.count else {
            invariantFailed("tensor \(info.name) lies outside the file")
        }
        guard info.byteCount <= fuzzMaximumTensorBytes else { continue }
        if let values = try? file.floats(named: info.name), values.count != info.elementCount {
            invariantFailed("tensor \(info.name) gave \(values.count) values, expected \(info.elementCount)")
        }
    }
    return 0
}

/// SwiftPM names an executable target's entry point `<Module>_main`; libFuzzer's driver runs here.
@_cdecl("FuzzSafetensors_main")
public func FuzzSafetensorsMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzzSafetensors)
}

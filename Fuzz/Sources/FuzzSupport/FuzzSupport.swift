import CFuzzDriver
import Foundation

/// The bytes libFuzzer hands to `LLVMFuzzerTestOneInput`, copied into an array.
public func fuzzBytes(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
    guard let data, size > 0 else { return [] }
    return Array(UnsafeBufferPointer(start: data, count: size))
}

/// Reports a broken invariant (not a thrown error: those are the expected outcome for bad input)
/// and aborts, so libFuzzer records the input as a crash.
public func invariantFailed(_ message: String) -> Never {
    FileHandle.standardError.write(Data(("fuzz invariant failed: " + message + "\n").utf8))
    abort()
}

/// Tensors at most this many bytes are decoded by the harnesses (bounded work per input).
public let fuzzMaximumTensorBytes = 1 << 20

/// A harness's entry point: runs libFuzzer's driver (with the process's arguments: corpus
/// directories, `-max_total_time`, …) on `callback`.
public func runFuzzer(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
                      _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt {
    var count = argc
    var vector = argv
    return LLVMFuzzerRunDriver(&count, &vector, callback)
}

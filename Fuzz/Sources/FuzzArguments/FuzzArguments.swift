// libFuzzer harness: the CLI's argument parser (`Sources/touchstone/Arguments.swift`, compiled
// into this target through a symlink). The input is split at NUL bytes into argv; the first byte
// picks how many positional arguments are allowed (0...2, as the commands use). Every value is
// then read as an integer, a bounded integer, a number, an id list and a comma-separated list.
// Each must give a value or a `CLIError`.
import FuzzSupport

let valueOptions: Set<String> = ["prompt", "prompt-ids", "max-new-tokens", "temperature", "top-p", "seed", "ids", "stop-strings", "threads"]
let flagOptions: Set<String> = ["json", "chat", "ignore-eos", "no-special"]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzArguments(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = fuzzBytes(data, size)
    guard let first = bytes.first else { return 0 }
    let raw = bytes.dropFirst().split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
    let arguments: Arguments
    do {
        arguments = try Arguments(command: "generate", raw, valueOptions: valueOptions, flagOptions: flagOptions,
                                  positionalLimit: Int(first % 3))
    } catch is CLIError {
        return 0
    } catch {
        invariantFailed("Arguments threw \(error), not a CLIError")
    }
    guard arguments.positional.count <= Int(first % 3) else { invariantFailed("more positional arguments than allowed") }
    for name in valueOptions.sorted() {
        _ = try? arguments.int(name)
        _ = try? arguments.int(name, default: 1, range: 1...8192)
        if let v = try? arguments.double(name), !v.isFinite { invariantFailed("--\(name) read as a non-finite number") }
        if let ids = try? arguments.ids(name), ids.isEmpty || ids.contains(where: { $0 < 0 }) { invariantFailed("--\(name) read as an empty or negative id list") }
        if let text = arguments.string(name) { _ = Arguments.commaSeparated(text) }
    }
    for name in flagOptions.sorted() { _ = arguments.has(name) }
    return 0
}

/// SwiftPM names an executable target's entry point `<Module>_main`; libFuzzer's driver runs here.
@_cdecl("FuzzArguments_main")
public func FuzzArgumentsMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzzArguments)
}

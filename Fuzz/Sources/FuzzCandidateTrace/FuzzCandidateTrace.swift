// libFuzzer harness: `touchstone verify`'s inputs. The bytes are read as a candidate trace and as
// a fixture (strict and lenient); whatever parses is verified against a fixed reference fixture
// and against itself (a fixture always matches itself).
import Foundation
import FuzzSupport
import Golden

/// A small reference: two prompt ids, three output tokens with logits and top lists.
let reference: Fixture? = {
    let path = ProcessInfo.processInfo.environment["TOUCHSTONE_FUZZ_FIXTURE"] ?? "Fixtures/golden/tiny-a/beam-0.json"
    guard let data = FileManager.default.contents(atPath: path) else { return nil }
    return try? Fixture(jsonData: data)
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCandidateTrace(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = Data(fuzzBytes(data, size))
    if let candidate = try? CandidateTrace(jsonData: bytes) {
        guard let reference else { invariantFailed("cannot read the reference fixture (set TOUCHSTONE_FUZZ_FIXTURE)") }
        _ = Verifier.verify(candidate: candidate, against: reference)
        _ = Verifier.verify(candidate: candidate, against: reference, tolerance: 0)
    }
    for lenient in [false, true] {
        guard let fixture = try? Fixture(jsonData: bytes, lenient: lenient) else { continue }
        let report = Verifier.verify(reference: fixture, candidate: fixture)
        if !report.matches {
            invariantFailed("a fixture does not match itself")
        }
        _ = fixture.json()
        _ = Verifier.verify(candidate: CandidateTrace(fixture: fixture), against: fixture)
    }
    return 0
}

/// SwiftPM names an executable target's entry point `<Module>_main`; libFuzzer's driver runs here.
@_cdecl("FuzzCandidateTrace_main")
public func FuzzCandidateTraceMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzzCandidateTrace)
}

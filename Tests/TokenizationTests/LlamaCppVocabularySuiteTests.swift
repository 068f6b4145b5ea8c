import Foundation
import XCTest
import Formats
@testable import Tokenization

/// llama.cpp's tokenizer conformance suite (`models/ggml-vocab-*.gguf` with `.inp`/`.out`, run by
/// `tests/test-tokenizer-0.cpp` with add_special = false, parse_special = false), read with the
/// llama.cpp convention (the file's `tokenizer.ggml.pre`).
///
/// The files (75 MB) are not committed: the test looks in `$TOUCHSTONE_LLAMA_VOCAB_DIR`, then in
/// `<cache>/llama-vocab` (what `.ci/run` and `Scripts/fetch_llama_vocab_suite.sh` fill), and skips
/// when neither holds them.
final class LlamaCppVocabularySuiteTests: XCTestCase {
    static var directory: String? {
        let environment = ProcessInfo.processInfo.environment
        var candidates: [String] = []
        if let path = environment["TOUCHSTONE_LLAMA_VOCAB_DIR"], !path.isEmpty { candidates.append(path) }
        let cache = environment["TOUCHSTONE_CACHE"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory() + "/.cache/touchstone"
        candidates.append(cache + "/llama-vocab")
        return candidates.first { FileManager.default.fileExists(atPath: $0 + "/ggml-vocab-gpt-2.gguf.inp") }
    }

    struct Case {
        var text: String
        var ids: [Int]
    }

    /// The cases of one vocabulary, paired as `read_tests` pairs them (inputs split on
    /// `"\n__ggml_vocab_test__\n"`, outputs one stripped line each).
    static func cases(_ base: String) throws -> [Case] {
        let input = try Data(contentsOf: URL(fileURLWithPath: base + ".inp"))
        let output = try String(decoding: Data(contentsOf: URL(fileURLWithPath: base + ".out")), as: UTF8.self)
        let separator = Array("\n__ggml_vocab_test__\n".utf8)
        let bytes = Array(input)
        var texts: [String] = []
        var position = 0
        while position < bytes.count {
            var next = -1
            var i = position
            while i + separator.count <= bytes.count {
                if bytes[i] == separator[0] && Array(bytes[i..<(i + separator.count)]) == separator { next = i; break }
                i += 1
            }
            if next < 0 { texts.append(String(decoding: bytes[position...], as: UTF8.self)); break }
            texts.append(String(decoding: bytes[position..<next], as: UTF8.self))
            position = next + separator.count
        }
        var lines = output.components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }
        XCTAssertEqual(texts.count, lines.count, "\(base): inputs and outputs differ in number")
        return zip(texts, lines).map { text, line in
            Case(text: text, ids: line.split(separator: " ").compactMap { Int($0) })
        }
    }

    func testEveryVocabularyOfTheSuiteReproducesItsExpectedIDs() throws {
        guard let directory = Self.directory else {
            throw XCTSkip("llama.cpp's vocabulary suite not found: set TOUCHSTONE_LLAMA_VOCAB_DIR to llama.cpp's models/ directory, or run Scripts/fetch_llama_vocab_suite.sh")
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: directory)
            .filter { $0.hasPrefix("ggml-vocab-") && $0.hasSuffix(".gguf.inp") }
            .map { String($0.dropLast(4)) }
            .sorted()
        XCTAssertGreaterThanOrEqual(names.count, 15)
        var passedTotal = 0, casesTotal = 0
        var report: [String] = []
        for name in names {
            let base = directory + "/" + name
            let tokenizer = try TokenizerLoader.load(path: base, convention: .llamaCpp)
            let cases = try Self.cases(base)
            var passed = 0
            for item in cases {
                let ids = tokenizer.encode(item.text, parseSpecialTokens: false)
                if ids == item.ids {
                    passed += 1
                } else {
                    XCTFail("\(name): \(item.text.debugDescription) → \(ids), expected \(item.ids)")
                }
            }
            report.append("\(name): \(passed)/\(cases.count)")
            passedTotal += passed
            casesTotal += cases.count
        }
        print("llama.cpp vocabulary suite: \(passedTotal)/\(casesTotal)\n  " + report.joined(separator: "\n  "))
    }
}

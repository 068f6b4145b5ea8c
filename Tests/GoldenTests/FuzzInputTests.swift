import Foundation
import XCTest
import Formats
import Golden
import Tokenization
import Transformer

/// Every input the fuzzers found (`Fixtures/fuzz/regressions/<harness>/`) and every seed
/// (`Fixtures/fuzz/<harness>/`) fed through the library entry points that the libFuzzer harnesses
/// in `Fuzz/` call: each must end in a value or one of the project's typed errors, never a crash
/// (a crash here ends the test process). DOCS.md section 8.2.
final class FuzzInputTests: XCTestCase {
    static let fuzzDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/fuzz")

    /// The harnesses whose inputs are fed here (`arguments` is the CLI's parser: CLITests).
    static let harnesses = ["gguf", "gguf-vocabulary", "safetensors", "config-json", "tokenizer-json", "tokenizer-text", "candidate-trace"]

    /// The files of `Fixtures/fuzz/<harness>/` and `Fixtures/fuzz/regressions/<harness>/`, sorted.
    static func inputs(_ harness: String) -> [URL] {
        ["", "regressions/"].flatMap { prefix -> [URL] in
            let directory = fuzzDirectory.appendingPathComponent(prefix + harness)
            let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
            return names.sorted().map { directory.appendingPathComponent($0) }
        }
    }

    /// An error is expected for bad input only if it is one of the project's typed errors.
    static func isTyped(_ error: Error) -> Bool {
        error is FormatError || error is TokenizerError || error is ModelError || error is CandidateError || error is GoldenError
    }

    static let tinyTokenizer: BPETokenizer? = {
        let url = fuzzDirectory.deletingLastPathComponent().appendingPathComponent("tokenizer/tiny-tokenizer.json")
        return (try? Data(contentsOf: url)).flatMap { try? BPETokenizer(tokenizerJSON: $0) }
    }()

    static let reference: Fixture? = {
        let url = fuzzDirectory.deletingLastPathComponent().appendingPathComponent("golden/tiny-a/beam-0.json")
        return (try? Data(contentsOf: url)).flatMap { try? Fixture(jsonData: $0) }
    }()

    /// What the harness of `harness` does with `bytes`, as one throwing call.
    static func exercise(_ harness: String, _ bytes: [UInt8]) throws {
        switch harness {
        case "gguf":
            let file = try GGUFFile(bytes: bytes)
            for info in file.tensors where info.byteCount <= 1 << 20 { _ = try file.dequantize(info) }
            _ = try LlamaModel(gguf: file)
            _ = try LlamaModel(gguf: file, float32Weights: true)
        case "gguf-vocabulary":
            let tokenizer = try BPETokenizer(gguf: GGUFFile(bytes: bytes))
            _ = try tokenizer.decode(tokenizer.encode("Hello world! <|im_start|>user\n 123 🦙<|im_end|>"))
        case "safetensors":
            let file = try SafetensorsFile(bytes: bytes)
            for info in file.tensors where info.byteCount <= 1 << 20 { _ = try file.floats(named: info.name) }
        case "config-json":
            try LlamaConfiguration(LlamaHFConfig(jsonData: Data(bytes))).validate()
        case "tokenizer-json":
            let tokenizer = try BPETokenizer(tokenizerJSON: Data(bytes), bosToken: "<|im_start|>", eosToken: "<|im_end|>")
            _ = try tokenizer.decode(tokenizer.encode("Hello world! <|im_start|>user\n 123 🦙<|im_end|>"))
        case "tokenizer-text":
            guard let tokenizer = tinyTokenizer, let mode = bytes.first else { return }
            let text = String(decoding: bytes.dropFirst(), as: UTF8.self)
            if mode % 4 == 2 {
                let rest = Array(bytes.dropFirst())
                let ids = stride(from: 0, to: rest.count - 1, by: 2).map { Int(UInt16(rest[$0]) | UInt16(rest[$0 + 1]) << 8) - 8 }
                _ = try tokenizer.decode(ids)
            } else {
                // Bytes without a vocabulary token are dropped (as Hugging Face drops them);
                // every other byte comes back.
                let missing = Set((0...255).map(UInt8.init).filter {
                    tokenizer.tokenID(for: String(Character(ByteLevel.characterForByte[Int($0)]))) == nil
                })
                let decoded = try tokenizer.decodeBytes(tokenizer.encode(text, parseSpecialTokens: mode % 4 != 1))
                XCTAssertEqual(decoded, text.utf8.filter { !missing.contains($0) }, "decode(encode(text)) gives the text's bytes back")
            }
        case "candidate-trace":
            do {
                let candidate = try CandidateTrace(jsonData: Data(bytes))
                if let reference { _ = Verifier.verify(candidate: candidate, against: reference) }
            } catch where isTyped(error) {}
            let fixture = try Fixture(jsonData: Data(bytes), lenient: true)
            XCTAssertTrue(Verifier.verify(reference: fixture, candidate: fixture).matches, "a fixture matches itself")
        default:
            XCTFail("unknown harness \(harness)")
        }
    }

    func testEveryFuzzSeedAndRegressionInputEndsInAValueOrATypedError() throws {
        var fed = 0
        for harness in Self.harnesses {
            let inputs = Self.inputs(harness)
            XCTAssertFalse(inputs.isEmpty, "Fixtures/fuzz/\(harness)/ has seeds")
            for url in inputs {
                let bytes = try [UInt8](Data(contentsOf: url))
                do { try Self.exercise(harness, bytes) } catch {
                    XCTAssertTrue(Self.isTyped(error), "\(harness)/\(url.lastPathComponent): untyped error \(type(of: error)): \(error)")
                }
                fed += 1
            }
        }
        XCTAssertGreaterThan(fed, 0)
    }

    /// The candidate-trace findings: a fixture whose trace contradicts its `output_ids`, repeats
    /// an id in a top list, or has a negative seed is rejected with a `GoldenError` (before the
    /// fix the first two were accepted and the seeds trapped in `UInt64(_:)`).
    func testFixturesThatContradictThemselvesOrHaveNegativeSeedsAreRejected() throws {
        let directory = Self.fuzzDirectory.appendingPathComponent("regressions/candidate-trace")
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
        XCTAssertEqual(names.count, 4)
        for name in names {
            let data = try Data(contentsOf: directory.appendingPathComponent(name))
            for lenient in [false, true] {
                XCTAssertThrowsError(try Fixture(jsonData: data, lenient: lenient), name) { XCTAssertTrue($0 is GoldenError, "\($0)") }
            }
        }
    }

    /// The valid seeds are valid: the tiny GGUF models load (F32 and Q8_0) and give the same
    /// configuration, and each vocabulary-only GGUF loads as a tokenizer. (A seed corpus of only
    /// rejected inputs would keep the fuzzers away from the code behind the parsers.)
    func testValidSeedsLoad() throws {
        let gguf = Self.fuzzDirectory.appendingPathComponent("gguf")
        let f32 = try LlamaModel(gguf: GGUFFile(path: gguf.appendingPathComponent("tiny-llama-f32.gguf").path))
        let q8 = try LlamaModel(gguf: GGUFFile(path: gguf.appendingPathComponent("tiny-llama-q8_0.gguf").path))
        XCTAssertEqual(f32.configuration, q8.configuration)
        XCTAssertEqual(f32.configuration.vocabularySize, Self.tinyTokenizer?.vocabularySize)
        for name in ["tiny-smollm.gguf", "tiny-llama3.gguf", "tiny-qwen2.gguf"] {
            let path = Self.fuzzDirectory.appendingPathComponent("gguf-vocabulary/" + name).path
            let tokenizer = try BPETokenizer(gguf: GGUFFile(path: path))
            XCTAssertEqual(try tokenizer.decode(tokenizer.encode("Hello <|im_start|> 123")), "Hello <|im_start|> 123", name)
        }
    }
}

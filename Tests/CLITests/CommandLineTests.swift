import Foundation
import XCTest

/// Black-box tests of the `touchstone` executable built beside the test bundle.
final class CommandLineTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    struct Run {
        let status: Int32
        let stdout: String
        let stderr: String
        let stdoutData: Data
    }

    static var executable: URL {
        // The test bundle lives in .build/<configuration>/; the executable is built beside it.
        // On Linux the test bundle is an executable in .build/<configuration>/.
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<3 {
            let candidate = dir.appendingPathComponent("touchstone")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return Bundle(for: CommandLineTests.self).bundleURL.deletingLastPathComponent().appendingPathComponent("touchstone")
    }

    /// Runs the executable with `arguments`, in `directory` (default: the test's own).
    func run(_ arguments: [String], in directory: URL? = nil) throws -> Run {
        guard FileManager.default.isExecutableFile(atPath: Self.executable.path) else {
            throw XCTSkip("touchstone executable not found beside the test bundle")
        }
        return try Self.runProcess(Self.executable, arguments, in: directory)
    }

    /// Runs `executable` with `arguments` (in `directory`, with `environment` when given) and
    /// captures its exit status, stdout and stderr. Shared by the CLI test classes.
    static func runProcess(_ executable: URL, _ arguments: [String], in directory: URL? = nil,
                           environment: [String: String]? = nil) throws -> Run {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = directory }
        if let environment { process.environment = environment }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                   stderr: String(decoding: errData, as: UTF8.self), stdoutData: outData)
    }

    var tinyModel: String { Self.root.appendingPathComponent("Fixtures/models/tiny-a").path }

    /// The fetched SmolLM2 GGUF ($TOUCHSTONE_MODEL, or the cache); skips the test when absent.
    /// Runs `arguments` and asserts a usage error (exit status 2) whose message contains `message`;
    /// returns the run for further checks.
    @discardableResult
    func assertUsageError(_ arguments: [String], mentions message: String, file: StaticString = #filePath, line: UInt = #line) throws -> Run {
        let r = try run(arguments)
        XCTAssertEqual(r.status, 2, file: file, line: line)
        XCTAssertTrue(r.stderr.contains(message), r.stderr, file: file, line: line)
        return r
    }

    static func fetchedSmolLM2() throws -> String {
        let model = ProcessInfo.processInfo.environment["TOUCHSTONE_MODEL"]
            ?? ((ProcessInfo.processInfo.environment["TOUCHSTONE_CACHE"] ?? NSHomeDirectory() + "/.cache/touchstone") + "/SmolLM2-135M-Instruct.Q4_1.gguf")
        guard FileManager.default.fileExists(atPath: model) else { throw XCTSkip("SmolLM2 not fetched") }
        return model
    }

    func testUnknownCommandExitsWithUsageErrorOnStderr() throws {
        let r = try assertUsageError(["frobnicate"], mentions: "unknown command 'frobnicate'")
        XCTAssertTrue(r.stdout.isEmpty)
    }

    func testUnknownOptionNamesTheOptionAndListsValidOnes() throws {
        let r = try assertUsageError(["generate", "--prompt-ids", "1,2", "--frobs", "3"], mentions: "--frobs")
        XCTAssertTrue(r.stderr.contains("--max-new-tokens"), r.stderr)
    }

    func testMalformedPromptIDsAreRejected() throws {
        try assertUsageError(["generate", "--model", tinyModel, "--prompt-ids", "1,x,3"], mentions: "'x' is not a token id")
    }

    func testMissingModelPathIsARuntimeErrorThatSaysWhy() throws {
        let r = try run(["generate", "--model", "/nonexistent/model.gguf", "--prompt-ids", "1"])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("neither a file, a directory, nor a known model name"), r.stderr)
    }

    func testGenerateJSONOnSyntheticModelIsOneDocumentWithTheContractKeys() throws {
        guard FileManager.default.fileExists(atPath: tinyModel + "/model.safetensors") else { throw XCTSkip("tiny-a fixture missing") }
        let r = try run(["generate", "--model", tinyModel, "--prompt-ids", "1,2,3", "--max-new-tokens", "7", "--json", "--threads", "1"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let doc = try XCTUnwrap(JSONSerialization.jsonObject(with: r.stdoutData) as? [String: Any])
        XCTAssertEqual(doc["prompt_ids"] as? [Int], [1, 2, 3])
        let output = try XCTUnwrap(doc["output_ids"] as? [Int])
        XCTAssertTrue((1...7).contains(output.count))
        XCTAssertNotNil(doc["stats"] as? [String: Any])
        XCTAssertTrue(doc.keys.contains("text"))
        // Thread count does not change the tokens (D2).
        let r2 = try run(["generate", "--model", tinyModel, "--prompt-ids", "1,2,3", "--max-new-tokens", "7", "--json", "--threads", "2"])
        let doc2 = try XCTUnwrap(JSONSerialization.jsonObject(with: r2.stdoutData) as? [String: Any])
        XCTAssertEqual(doc2["output_ids"] as? [Int], output)
    }

    func testCompactTokenRecyclingTreeMatchesGreedyAndBadTreeShapeOrWeightsAreUsageErrors() throws {
        guard FileManager.default.fileExists(atPath: tinyModel + "/model.safetensors") else { throw XCTSkip("tiny-a fixture missing") }
        let base = ["generate", "--model", tinyModel, "--prompt-ids", "5,6,5,6,5", "--max-new-tokens", "12", "--json", "--ignore-eos"]
        let greedy = try run(base)
        XCTAssertEqual(greedy.status, 0, greedy.stderr)
        let recycled = try run(base + ["--strategy", "token-recycling", "--tree-shape", "compact", "--tree", "2"])
        XCTAssertEqual(recycled.status, 0, recycled.stderr)
        let g = try XCTUnwrap(JSONSerialization.jsonObject(with: greedy.stdoutData) as? [String: Any])
        let t = try XCTUnwrap(JSONSerialization.jsonObject(with: recycled.stdoutData) as? [String: Any])
        XCTAssertEqual(t["output_ids"] as? [Int], g["output_ids"] as? [Int])
        let stats = try XCTUnwrap(t["stats"] as? [String: Any])
        XCTAssertEqual(stats["tree_nodes"] as? Int, 2)
        XCTAssertEqual(stats["tree_shape"] as? String, "compact")
        XCTAssertEqual(stats["draft_threshold"] as? Double, 0)
        XCTAssertEqual(stats["empty_drafts"] as? Int, 0, "without a threshold every step drafts the whole tree")
        let gated = try run(base + ["--strategy", "token-recycling", "--tree-shape", "chain", "--tree", "3", "--draft-threshold", "0.9"])
        XCTAssertEqual(gated.status, 0, gated.stderr)
        let gd = try XCTUnwrap(JSONSerialization.jsonObject(with: gated.stdoutData) as? [String: Any])
        XCTAssertEqual(gd["output_ids"] as? [Int], g["output_ids"] as? [Int])
        let gatedStats = try XCTUnwrap(gd["stats"] as? [String: Any])
        XCTAssertEqual(gatedStats["draft_threshold"] as? Double, 0.9)
        XCTAssertEqual(gatedStats["tree_shape"] as? String, "chain")
        let steps = try XCTUnwrap(gatedStats["verification_steps"] as? Int)
        let drafted = try XCTUnwrap(gatedStats["drafted_tokens"] as? Int), empty = try XCTUnwrap(gatedStats["empty_drafts"] as? Int)
        XCTAssertGreaterThan(empty, 0, "cold, every estimate is 1/2 < 0.9: the first step drafts nothing")
        XCTAssertLessThanOrEqual(drafted, 3 * (steps - empty))
        try assertUsageError(base + ["--strategy", "token-recycling", "--draft-threshold", "-0.1"], mentions: "--draft-threshold must be a probability in [0, 1)")
        try assertUsageError(base + ["--strategy", "token-recycling", "--tree-shape", "bushy"], mentions: "--tree-shape must be reference")
        try assertUsageError(base + ["--weights", "f16"], mentions: "--weights must be native")
    }

    func testBatchSweepMeasuresTheSizesAskedFor() throws {
        guard FileManager.default.fileExists(atPath: tinyModel + "/model.safetensors") else { throw XCTSkip("tiny-a fixture missing") }
        let base = ["bench", "--batch-sweep", "--model", tinyModel, "--prompt-length", "8", "--runs", "1"]
        let r = try run(base + ["--sizes", "3,2", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let doc = try XCTUnwrap(JSONSerialization.jsonObject(with: r.stdoutData) as? [String: Any])
        let passes = try XCTUnwrap(doc["passes"] as? [[String: Any]])
        XCTAssertEqual(passes.map { $0["tokens"] as? Int }, [1, 3, 2], "the one-token baseline first, then the list in order")
        XCTAssertEqual(passes[0]["cost_ratio"] as? Double, 1)
        try assertUsageError(base + ["--sizes", "2,0"], mentions: "--sizes takes a comma-separated list of token counts in 1...512")
    }

    func testSpecBenchComparesSeveralTokenRecyclingTreesInOneRun() throws {
        let model = try Self.fetchedSmolLM2()
        let questions = FileManager.default.temporaryDirectory.appendingPathComponent("touchstone-cli-questions-\(getpid()).jsonl")
        defer { try? FileManager.default.removeItem(at: questions) }
        try """
        {"question_id": 1, "category": "writing", "turns": ["Write one sentence about the sea."]}
        {"question_id": 2, "category": "math", "turns": ["What is 12 times 12?"]}

        """.write(to: questions, atomically: true, encoding: .utf8)
        let base = ["bench", "--spec-bench", "--model", model, "--questions", questions.path, "--per-category", "1",
                    "--max-new-tokens", "12", "--methods", "greedy,token-recycling", "--json"]
        let r = try run(base + ["--tree-nodes", "1,3,4", "--tree-shape", "compact,reference,chain", "--draft-threshold", "0,0,0.3"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let doc = try XCTUnwrap(JSONSerialization.jsonObject(with: r.stdoutData) as? [String: Any])
        let categories = try XCTUnwrap(doc["categories"] as? [String: Any])
        for category in ["writing", "math"] {
            let methods = try XCTUnwrap(categories[category] as? [String: Any], category)
            XCTAssertEqual(Set(methods.keys), ["greedy", "token-recycling@1-compact", "token-recycling@3", "token-recycling@4-chain-p0.3"])
            for (name, value) in methods {
                let row = try XCTUnwrap(value as? [String: Any])
                XCTAssertEqual(row["identical_to_greedy"] as? Bool, true, "\(category) \(name)")
            }
        }
        // Without tree options: the paper's tree and the CPU setting; one tree alone is `token-recycling`.
        for (extra, expected) in [([String](), ["greedy", "token-recycling", "token-recycling@6-chain-p0.3"]),
                                  (["--tree-nodes", "3", "--tree-shape", "compact"], ["greedy", "token-recycling"])] {
            let d = try run(base + extra + ["--categories", "math"])
            XCTAssertEqual(d.status, 0, d.stderr)
            let dd = try XCTUnwrap(JSONSerialization.jsonObject(with: d.stdoutData) as? [String: Any])
            let math = try XCTUnwrap((dd["categories"] as? [String: Any])?["math"] as? [String: Any])
            XCTAssertEqual(Set(math.keys), Set(expected), "\(extra)")
        }
        try assertUsageError(base + ["--tree-nodes", "1,3", "--tree-shape", "compact,reference,compact"], mentions: "--tree-shape needs one value, or one per --tree-nodes value")
        try assertUsageError(base + ["--tree-nodes", "1,3", "--draft-threshold", "0.2,1"], mentions: "--draft-threshold must be a probability in [0, 1)")
        try assertUsageError(base + ["--tree-nodes", "1,81"], mentions: "--tree-nodes must be a node count in 1…80")
    }

    func testSpecBenchWithoutQuestionsRunsTheShippedQuestionSetFromAnyDirectory() throws {
        let model = try Self.fetchedSmolLM2()
        let arguments = ["bench", "--spec-bench", "--model", model, "--categories", "math", "--max-new-tokens", "2", "--methods", "greedy", "--json"]
        // From the package root (the current directory) and from elsewhere (found above the executable).
        for directory in [Self.root, FileManager.default.temporaryDirectory] {
            let r = try run(arguments, in: directory)
            XCTAssertEqual(r.status, 0, r.stderr)
            let doc = try XCTUnwrap(JSONSerialization.jsonObject(with: r.stdoutData) as? [String: Any])
            XCTAssertEqual(doc["questions"] as? Int, 1)
            XCTAssertNotNil((doc["categories"] as? [String: Any])?["math"], "\(directory.path)")
        }
    }

    func testTokenizerBenchEncodesEveryByteOfAPlainTextFile() throws {
        let model = try Self.fetchedSmolLM2()
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("touchstone-cli-text-\(getpid()).txt")
        defer { try? FileManager.default.removeItem(at: file) }
        let text = String(repeating: "A paragraph of prose.\n\nAnother one, then a longer break.\n\n\n\n", count: 50) + "The end.\n"
        try text.write(to: file, atomically: true, encoding: .utf8)
        let r = try run(["bench", "--tokenizer", "--model", model, "--text-file", file.path, "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let doc = try XCTUnwrap(JSONSerialization.jsonObject(with: r.stdoutData) as? [String: Any])
        XCTAssertEqual(doc["bytes"] as? Int, text.utf8.count, "every byte of the file, paragraph breaks included")
    }

    func testLogitsFileHasPositionsTimesVocabFloatsAndTheLastRowMatchesGreedy() throws {
        guard FileManager.default.fileExists(atPath: tinyModel + "/model.safetensors") else { throw XCTSkip("tiny-a fixture missing") }
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("touchstone-logits-\(getpid()).f32")
        defer { try? FileManager.default.removeItem(at: out) }
        let r = try run(["logits", "--model", tinyModel, "--prompt-ids", "5,6,7,8", "--out", out.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let data = try Data(contentsOf: out)
        let config = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: tinyModel + "/config.json"))) as? [String: Any])
        let vocab = try XCTUnwrap(config["vocab_size"] as? Int)
        XCTAssertEqual(data.count, 4 * vocab * 4)
        let logits = data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        let last = Array(logits[(3 * vocab)...])
        var best = 0
        for i in 1..<vocab where last[i] > last[best] { best = i }
        let g = try run(["generate", "--model", tinyModel, "--prompt-ids", "5,6,7,8", "--max-new-tokens", "1", "--json", "--ignore-eos"])
        let doc = try XCTUnwrap(JSONSerialization.jsonObject(with: g.stdoutData) as? [String: Any])
        XCTAssertEqual(doc["output_ids"] as? [Int], [best])
    }

    func testTokenOutOfRangeIsARuntimeError() throws {
        guard FileManager.default.fileExists(atPath: tinyModel + "/model.safetensors") else { throw XCTSkip("tiny-a fixture missing") }
        let r = try run(["generate", "--model", tinyModel, "--prompt-ids", "1,999999", "--max-new-tokens", "2"])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("outside the vocabulary"), r.stderr)
    }

    func testTokenizeTextsFilePrintsOneIDLinePerTextEqualToTokenizeText() throws {
        let model = try Self.fetchedSmolLM2()
        let texts = ["Hello world", "", "déjà vu\n\n東京 👩‍💻", "<|im_start|>user", "  x  "]
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("touchstone-cli-texts-\(getpid()).json")
        defer { try? FileManager.default.removeItem(at: file) }
        try JSONSerialization.data(withJSONObject: texts).write(to: file)
        for flags in [[], ["--no-special"]] {
            let batch = try run(["tokenize", "--model", model, "--texts-file", file.path] + flags)
            XCTAssertEqual(batch.status, 0, batch.stderr)
            var lines = batch.stdout.components(separatedBy: "\n")
            XCTAssertEqual(lines.removeLast(), "", "the output ends with a newline")
            XCTAssertEqual(lines.count, texts.count)
            for (text, line) in zip(texts, lines) {
                let single = try run(["tokenize", "--model", model, "--text", text] + flags)
                XCTAssertEqual(single.status, 0, single.stderr)
                XCTAssertEqual(line, single.stdout.trimmingCharacters(in: .newlines), "\(text.debugDescription) \(flags)")
            }
        }
        let bad = FileManager.default.temporaryDirectory.appendingPathComponent("touchstone-cli-texts-bad-\(getpid()).json")
        defer { try? FileManager.default.removeItem(at: bad) }
        try Data("{\"a\": 1}".utf8).write(to: bad)
        let r = try run(["tokenize", "--model", model, "--texts-file", bad.path])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("JSON array of strings"), r.stderr)
    }

    func testTokenizeDetokenizeRoundTripOnTheRealModel() throws {
        let model = try Self.fetchedSmolLM2()
        let text = "Touchstone: déjà vu, 東京 👩‍💻\n\tdef f(x): return x**2"
        let t = try run(["tokenize", "--model", model, "--text", text, "--json"])
        XCTAssertEqual(t.status, 0, t.stderr)
        let doc = try XCTUnwrap(JSONSerialization.jsonObject(with: t.stdoutData) as? [String: Any])
        let ids = try XCTUnwrap(doc["ids"] as? [Int])
        XCTAssertEqual((doc["tokens"] as? [String])?.count, ids.count)
        let d = try run(["detokenize", "--model", model, "--ids", ids.map(String.init).joined(separator: ",")])
        XCTAssertEqual(d.status, 0, d.stderr)
        XCTAssertEqual(d.stdout, text)
        // --add-special-tokens prepends BOS as the GGUF-loaded peer does ("Hello world" → [1, 19556, 905] from the peer).
        let b = try run(["tokenize", "--model", model, "--text", "Hello world", "--add-special-tokens"])
        XCTAssertEqual(b.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "1,19556,905")
    }
}

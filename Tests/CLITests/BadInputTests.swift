import Foundation
import XCTest

/// The CLI under hostile conditions: failed output streams, malformed and contradictory
/// arguments, corrupt models. Each test names the behaviour DOCS.md section 8 ("Bad input")
/// promises.
final class BadInputTests: XCTestCase {
    struct ShellRun {
        let status: Int32
        let stderr: String
        let stdout: String
    }

    var tinyModel: String { CommandLineTests.root.appendingPathComponent("Fixtures/models/tiny-a").path }

    /// Runs `script` with /bin/sh, `$T` set to the touchstone executable; stdout and stderr are
    /// captured unless the script redirects them.
    func shell(_ script: String, environment: [String: String] = [:]) throws -> ShellRun {
        let exe = CommandLineTests.executable
        guard FileManager.default.isExecutableFile(atPath: exe.path) else { throw XCTSkip("touchstone executable not found beside the test bundle") }
        var env = ProcessInfo.processInfo.environment
        env["T"] = exe.path
        env["M"] = tinyModel
        for (k, v) in environment { env[k] = v }
        let r = try CommandLineTests.runProcess(URL(fileURLWithPath: "/bin/sh"), ["-c", script], environment: env)
        return ShellRun(status: r.status, stderr: r.stderr, stdout: r.stdout)
    }

    func requireTinyModel() throws {
        guard FileManager.default.fileExists(atPath: tinyModel + "/model.safetensors") else { throw XCTSkip("tiny-a fixture missing") }
    }

    // MARK: output streams

    func testWritingToAFullDeviceFailsWithAMessageInsteadOfSucceedingSilently() throws {
        try requireTinyModel()
        for command in ["$T tokenize --model \"$M\" --text hi 2>/dev/null >/dev/full; echo $? >&2",
                        "$T generate --model \"$M\" --prompt-ids 1,2,3 --max-new-tokens 4 >/dev/full",
                        "$T generate --model \"$M\" --prompt-ids 1,2,3 --max-new-tokens 4 --json >/dev/full",
                        "$T help generate >/dev/full"] {
            let r = try shell(command)
            if command.contains("echo $?") {
                XCTAssertEqual(r.stderr.trimmingCharacters(in: .whitespacesAndNewlines), "1", command)
                continue
            }
            XCTAssertEqual(r.status, 1, "\(command): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("cannot write to stdout: No space left on device"), "\(command): \(r.stderr)")
            XCTAssertFalse(r.stderr.contains("Fatal error"), r.stderr)
        }
    }

    func testBrokenPipeWithSIGPIPEIgnoredEndsWithAMessageAndNonZeroStatus() throws {
        try requireTinyModel()
        // The reader is gone before touchstone starts (`exec 1>&-` of the reader side), so every write fails with EPIPE.
        let r = try shell("""
            trap '' PIPE
            mkfifo "$TMPDIR_/p"
            ( exec 0<"$TMPDIR_/p"; exec 0<&- ) &
            { $T generate --model "$M" --prompt-ids 1,2,3 --max-new-tokens 40 --ignore-eos; echo $? > "$TMPDIR_/status"; } > "$TMPDIR_/p"
            wait
            cat "$TMPDIR_/status"
            """, environment: ["TMPDIR_": try temporaryDirectory()])
        XCTAssertEqual(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "1", r.stderr)
        XCTAssertTrue(r.stderr.contains("cannot write to stdout: Broken pipe"), r.stderr)
        XCTAssertFalse(r.stderr.contains("Fatal error"), r.stderr)
    }

    func testClosedStdoutOrStderrIsANonZeroExitNotACrash() throws {
        try requireTinyModel()
        let closedOut = try shell("$T generate --model \"$M\" --prompt-ids 1,2,3 --max-new-tokens 2 >&-")
        XCTAssertEqual(closedOut.status, 1, closedOut.stderr)
        XCTAssertTrue(closedOut.stderr.contains("cannot write to stdout: Bad file descriptor"), closedOut.stderr)
        // stderr closed: the usage error cannot be printed; the status is the only report.
        let closedErr = try shell("$T tokenize --model \"$M\" --text-file /nonexistent 2>&-; echo $?")
        XCTAssertNotEqual(closedErr.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "0")
        XCTAssertFalse(closedErr.stdout.isEmpty)
        // stderr closed on a successful run that logs to stderr: stdout is complete, the status says stderr failed.
        let logs = try shell("$T generate --model \"$M\" --prompt-ids 1,2,3 --max-new-tokens 2 2>&-; echo \" status=$?\"")
        XCTAssertTrue(logs.stdout.hasSuffix(" status=1\n"), logs.stdout)
    }

    func temporaryDirectory() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("touchstone-badinput-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return dir
    }

    // MARK: arguments

    func testPositionalJunkRepeatedOptionsAndContradictoryPromptFlagsAreUsageErrors() throws {
        try requireTinyModel()
        let cases: [(String, String)] = [
            ("$T generate --model \"$M\" --prompt-ids 1,2 extra", "unexpected argument 'extra'"),
            ("$T generate --model \"$M\" --prompt-ids 1,2 --max-new-tokens 3 --max-new-tokens 4", "--max-new-tokens is given more than once"),
            ("$T generate --model \"$M\" --prompt-ids 1,2 --json --json", "--json is given more than once"),
            ("$T generate --model \"$M\" --prompt-ids 1,2 --chat", "--chat and --system apply the chat template to --prompt TEXT"),
            ("$T generate --model \"$M\" --prompt-ids 1,2 --system hi", "--chat and --system apply the chat template"),
            ("$T generate --model \"$M\" --prompt hi --chat --no-special", "chat template's markers"),
            ("$T tokenize --model \"$M\" --text a b", "unexpected argument 'b'"),
            ("$T generate --model \"$M\" --prompt-ids 1,2 --stop-strings '[\"a\",'", "is not a JSON array of strings"),
            ("$T generate --model \"$M\" --prompt-ids 1,2 --num-beams 2", "--num-beams does not apply to --strategy greedy"),
        ]
        for (command, message) in cases {
            let r = try shell(command)
            XCTAssertEqual(r.status, 2, "\(command): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(message), "\(command): \(r.stderr)")
            XCTAssertTrue(r.stdout.isEmpty, command)
        }
    }

    func testHelpForAnUnknownCommandFailsAndListsTheCommands() throws {
        let r = try shell("$T help frobnicate")
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("unknown command 'frobnicate'"), r.stderr)
        XCTAssertTrue(r.stderr.contains("generate") && r.stderr.contains("vocab-table"), r.stderr)
        XCTAssertEqual(try shell("$T help generate").status, 0)
        XCTAssertEqual(try shell("$T help").status, 0)
    }

    // MARK: messages

    func testContextOverflowCountsThePromptTheSameWayInLogitsAndGenerate() throws {
        try requireTinyModel()  // context 256
        let ids = Array(repeating: "5", count: 300).joined(separator: ",")
        let dir = try temporaryDirectory()
        let logits = try shell("$T logits --model \"$M\" --prompt-ids \(ids) --out \(dir)/l.bin")
        let generate = try shell("$T generate --model \"$M\" --prompt-ids \(ids) --max-new-tokens 7")
        XCTAssertEqual(logits.status, 1)
        XCTAssertEqual(generate.status, 1)
        XCTAssertTrue(logits.stderr.contains("the prompt has 300 tokens (300 positions), but the model's context is 256"), logits.stderr)
        XCTAssertTrue(generate.stderr.contains("the prompt has 300 tokens and 7 new tokens were asked (307 positions), but the model's context is 256"), generate.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/l.bin"))
        // A prompt that fills the context exactly is fine for logits, one short of it for generate.
        let full = Array(repeating: "5", count: 256).joined(separator: ",")
        XCTAssertEqual(try shell("$T logits --model \"$M\" --prompt-ids \(full) --out \(dir)/l.bin 2>&1").status, 0)
        XCTAssertEqual(try shell("$T generate --model \"$M\" --prompt-ids \(full) --max-new-tokens 1").status, 1)
    }

    func testLogitsToADirectorySaysItIsADirectory() throws {
        try requireTinyModel()
        let dir = try temporaryDirectory()
        let r = try shell("$T logits --model \"$M\" --prompt-ids 1,2 --out \(dir)")
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("cannot write \(dir): is a directory"), r.stderr)
        XCTAssertFalse(r.stderr.contains("NSCocoaErrorDomain"), r.stderr)
    }

    func testOutOfVocabularyIDInAVocabTableIsBlamedOnTheTableNotThePrompt() throws {
        try requireTinyModel()
        let dir = try temporaryDirectory()
        try Data(#"{"ranking": [3, 9999, 4]}"#.utf8).write(to: URL(fileURLWithPath: dir + "/table.json"))
        let r = try shell("$T generate --model \"$M\" --prompt-ids 1,2 --strategy speculative --draft-model \"$M\" --vocab-trim 2 --vocab-table \(dir)/table.json --max-new-tokens 2")
        XCTAssertNotEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("table.json"), r.stderr)
        XCTAssertTrue(r.stderr.contains("9999"), r.stderr)
        XCTAssertFalse(r.stderr.contains("check the prompt ids"), r.stderr)
    }

    func testAnEmptyVocabTableRankingIsRejected() throws {
        try requireTinyModel()
        let dir = try temporaryDirectory()
        try Data(#"{"ranking": []}"#.utf8).write(to: URL(fileURLWithPath: dir + "/table.json"))
        let r = try shell("$T generate --model \"$M\" --prompt-ids 1,2 --strategy speculative --draft-model \"$M\" --vocab-trim 2 --vocab-table \(dir)/table.json --max-new-tokens 2")
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("ranking is empty"), r.stderr)
    }

    // MARK: models

    /// A copy of tiny-a whose `tensor` is all NaN (Float32 0x7FC00000), patched in the safetensors bytes.
    func nanModel(poisoning tensor: String) throws -> String {
        let dir = try temporaryDirectory() + "/nan"
        try FileManager.default.copyItem(atPath: tinyModel, toPath: dir)
        let path = dir + "/model.safetensors"
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let headerLength = bytes[0..<8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        let header = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + headerLength)])) as? [String: Any])
        let entry = try XCTUnwrap(header[tensor] as? [String: Any])
        let offsets = try XCTUnwrap(entry["data_offsets"] as? [Int])
        var i = 8 + headerLength + offsets[0]
        while i < 8 + headerLength + offsets[1] {
            bytes[i] = 0x00; bytes[i + 1] = 0x00; bytes[i + 2] = 0xC0; bytes[i + 3] = 0x7F
            i += 4
        }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return dir
    }

    func testNaNWeightsAreAnErrorNamingTheFirstLayerNotAResult() throws {
        try requireTinyModel()
        let model = try nanModel(poisoning: "model.layers.1.mlp.down_proj.weight")
        let dir = try temporaryDirectory()
        for command in ["$T generate --model \"\(model)\" --prompt-ids 1,2,3 --max-new-tokens 3 --json",
                        "$T generate --model \"\(model)\" --prompt-ids 1,2,3 --max-new-tokens 3 --strategy beam --num-beams 2 --json",
                        "$T generate --model \"\(model)\" --prompt-ids 1,2,3 --max-new-tokens 3 --strategy lookahead --json",
                        "$T generate --model \"\(model)\" --prompt-ids 1,2,3 --max-new-tokens 3 --strategy speculative-sampling --draft-layers 1 --seed 1 --json",
                        "$T distribution --model \"\(model)\" --prompt-ids 1,2,3 --json",
                        "$T logits --model \"\(model)\" --prompt-ids 1,2,3 --out \(dir)/l.bin --json"] {
            let r = try shell(command)
            XCTAssertEqual(r.status, 1, "\(command): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("NaN or infinite values, first in the output of layer 1") && r.stderr.contains("at position 0"), "\(command): \(r.stderr)")
            XCTAssertTrue(r.stdout.isEmpty, "\(command): \(r.stdout)")
        }
        // Only the output norm poisoned: every layer is finite, the logits are not.
        let head = try nanModel(poisoning: "model.norm.weight")
        let r = try shell("$T generate --model \"\(head)\" --prompt-ids 1,2,3 --max-new-tokens 3")
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("first in the logits"), r.stderr)
    }

    func testBeamSummaryReportsTheThreadCountAndPassesNotShiftedFields() throws {
        try requireTinyModel()
        let r = try shell("$T generate --model \"$M\" --prompt-ids 1,2,3 --max-new-tokens 4 --ignore-eos --strategy beam --num-beams 2 --threads 2")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains(", 2 threads]"), r.stderr)
        XCTAssertTrue(r.stderr.contains("4 passes"), r.stderr)  // one pass per new token (the first is the prompt's)
    }

    func testSelfDraftedSpeculativeMATCountsOnlyTheTokensEmitted() throws {
        try requireTinyModel()
        let r = try shell("$T generate --model \"$M\" --prompt-ids 1,2,3 --max-new-tokens 4 --ignore-eos --strategy speculative --draft-model \"$M\" --json")
        XCTAssertEqual(r.status, 0, r.stderr)
        let doc = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let stats = try XCTUnwrap(doc["stats"] as? [String: Any])
        // 4 new tokens: 1 from the prompt's pass, 3 from one verification step (5 drafted and accepted, 3 emitted).
        XCTAssertEqual(stats["verification_steps"] as? Int, 1)
        XCTAssertEqual(stats["mean_accepted_tokens"] as? Double, 3.0)
    }

    func testStreamedChatTextLeavesOutSpecialTokensAndJSONKeepsThem() throws {
        let model = try CommandLineTests.fetchedSmolLM2()
        let text = try shell("$T generate --model \"\(model)\" --prompt 'Say hi.' --chat --max-new-tokens 40")
        let json = try shell("$T generate --model \"\(model)\" --prompt 'Say hi.' --chat --max-new-tokens 40 --json")
        XCTAssertEqual(text.status, 0, text.stderr)
        let doc = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let full = try XCTUnwrap(doc["text"] as? String)
        XCTAssertEqual(doc["stop_reason"] as? String, "eos")
        XCTAssertTrue(full.hasSuffix("<|im_end|>"), full)
        XCTAssertFalse(text.stdout.contains("<|im_end|>"), text.stdout)
        XCTAssertEqual(text.stdout, full.replacingOccurrences(of: "<|im_end|>", with: "") + "\n")
    }
}

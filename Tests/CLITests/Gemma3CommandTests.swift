import Foundation
import XCTest

/// The CLI on Gemma 3 270M, from prompt ids and from text (SentencePiece tokenizer, BOS as the file says). Skips when the model is not cached.
final class Gemma3CommandTests: XCTestCase {
    static var modelPath: String {
        let cache = ProcessInfo.processInfo.environment["TOUCHSTONE_CACHE"] ?? NSHomeDirectory() + "/.cache/touchstone"
        return cache + "/gemma-3-270m-q4_k_m.gguf"
    }

    func run(_ arguments: [String]) throws -> CommandLineTests.Run {
        guard FileManager.default.fileExists(atPath: Self.modelPath) else {
            throw XCTSkip("Gemma 3 GGUF not cached at \(Self.modelPath); run `touchstone fetch --model gemma3-270m` (CI does)")
        }
        guard FileManager.default.isExecutableFile(atPath: CommandLineTests.executable.path) else {
            throw XCTSkip("touchstone executable not found beside the test bundle")
        }
        return try CommandLineTests.runProcess(CommandLineTests.executable, arguments)
    }

    func testGreedyFromPromptIDsContinuesTheCapitalOfFranceLikeThePeer() throws {
        // <bos>The capital of France is → " the capital of the country" (Hugging Face's greedy ids).
        let r = try run(["generate", "--model", "gemma3-270m", "--prompt-ids", "2,818,5279,529,7001,563",
                         "--max-new-tokens", "5", "--threads", "2", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let doc = try XCTUnwrap(JSONSerialization.jsonObject(with: r.stdoutData) as? [String: Any])
        XCTAssertEqual(doc["output_ids"] as? [Int], [506, 5279, 529, 506, 2891])
    }

    func testTextPromptEncodesWithBOSAndGivesThePeersGreedyIDs() throws {
        // Hugging Face's tokenizer: "The capital of France is" → 2,818,5279,529,7001,563 (BOS from the
        // file's add_bos_token); the continuation is the peer's greedy one, as from the ids above.
        let r = try run(["generate", "--model", "gemma3-270m", "--prompt", "The capital of France is",
                         "--max-new-tokens", "5", "--threads", "2", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let doc = try XCTUnwrap(JSONSerialization.jsonObject(with: r.stdoutData) as? [String: Any])
        XCTAssertEqual(doc["prompt_ids"] as? [Int], [2, 818, 5279, 529, 7001, 563])
        XCTAssertEqual(doc["output_ids"] as? [Int], [506, 5279, 529, 506, 2891])
    }
}

import Foundation
import XCTest
import Formats
@testable import Tokenization

/// Shared fixtures: the real SmolLM2 tokenizer (loaded once) and peer fixture files.
enum TokenizerFixtures {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/tokenizer")

    static var modelPath: String {
        if let path = ProcessInfo.processInfo.environment["TOUCHSTONE_MODEL"], !path.isEmpty { return path }
        // The cache `touchstone fetch` fills, resolved as `ModelStore` does (this target does not
        // link `Transformer`).
        let cache = ProcessInfo.processInfo.environment["TOUCHSTONE_CACHE"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory() + "/.cache/touchstone"
        return cache + "/SmolLM2-135M-Instruct.Q4_1.gguf"
    }

    private static let loaded: Result<BPETokenizer, Error>? = {
        guard FileManager.default.fileExists(atPath: modelPath) else { return nil }
        return Result { try BPETokenizer(gguf: GGUFFile(path: modelPath)) }
    }()

    /// The SmolLM2 tokenizer from the GGUF, or XCTSkip when the model file is absent.
    static func smolLM2() throws -> BPETokenizer {
        guard let loaded else {
            throw XCTSkip("SmolLM2 GGUF not found at \(modelPath); set TOUCHSTONE_MODEL or fetch it (see ARCHITECTURE.md)")
        }
        return try loaded.get()
    }

    static func json(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: directory.appendingPathComponent(name))
        return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any], name)
    }

    struct Entry {
        var text: String
        var ids: [Int]
        var idsSpecialAsText: [Int]?
        var decoded: String?
    }

    static func entries(_ name: String) throws -> [Entry] {
        let root = try json(name)
        let list = try XCTUnwrap(root["entries"] as? [[String: Any]], "\(name): entries")
        return try list.map { item in
            Entry(text: try XCTUnwrap(item["text"] as? String), ids: try XCTUnwrap(item["ids"] as? [Int]),
                  idsSpecialAsText: item["ids_special_as_text"] as? [Int], decoded: item["decoded"] as? String)
        }
    }
}

/// SplitMix64: a fixed-seed generator for reproducible randomized tests.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A toy byte-level BPE: ids 0…255 are the byte tokens in byte order, then five merges.
func makeToyTokenizer() throws -> BPETokenizer {
    var vocabulary = (0..<256).map { String(ByteLevel.characterForByte[$0]) }
    vocabulary += ["ab", "abc", "Ġa", "bc", "aa"]  // 256…260
    let merges = [("a", "b"), ("ab", "c"), ("Ġ", "a"), ("b", "c"), ("a", "a")]
    return try BPETokenizer(vocabulary: vocabulary, merges: merges,
                            addedTokens: [AddedToken(id: 261, content: "<|x|>", isSpecial: true),
                                          AddedToken(id: 262, content: "<t>", isSpecial: false)],
                            eosID: 261)
}

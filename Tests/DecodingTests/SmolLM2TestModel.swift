import Foundation
import XCTest
import Transformer
import Loader

/// SmolLM2-135M-Instruct for the decoding tests that need the real model: the file named by
/// `TOUCHSTONE_MODEL`, else the one `touchstone fetch` puts in the cache (CI fetches it). Tests
/// skip when it is absent. Loaded once per test process and shared.
enum SmolLM2TestModel {
    nonisolated(unsafe) private static var cached: ModelStore.Loaded?

    static func load() throws -> ModelStore.Loaded {
        if let loaded = cached { return loaded }
        let path = ProcessInfo.processInfo.environment["TOUCHSTONE_MODEL"] ?? ModelStore.cachedPath(of: ModelStore.smolLM2)
        guard FileManager.default.fileExists(atPath: path) else {
            throw XCTSkip("SmolLM2 GGUF not found at \(path); run `touchstone fetch` (CI does) or set TOUCHSTONE_MODEL")
        }
        let loaded = try ModelStore.load(path: path)
        cached = loaded
        return loaded
    }
}

import Foundation
import XCTest
import Tensors
import Transformer
import Loader

enum ProbingTestSupport {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    nonisolated(unsafe) private static var smolLM2: ModelStore.Loaded?

    /// SmolLM2-135M-Instruct from the cache (or `TOUCHSTONE_MODEL`); skips when absent.
    static func realModel() throws -> ModelStore.Loaded {
        if let loaded = smolLM2 { return loaded }
        let path = ProcessInfo.processInfo.environment["TOUCHSTONE_MODEL"] ?? ModelStore.cachedPath(of: ModelStore.smolLM2)
        guard FileManager.default.fileExists(atPath: path) else {
            throw XCTSkip("SmolLM2 GGUF not found at \(path); run `touchstone fetch` or set TOUCHSTONE_MODEL")
        }
        let loaded = try ModelStore.load(path: path)
        smolLM2 = loaded
        return loaded
    }

    /// A fresh synthetic model (clamps are per model object, so tests do not share one).
    static func tiny(_ preset: SyntheticModels.Preset = SyntheticModels.tinyA) throws -> LlamaModel {
        try SyntheticModels.model(preset)
    }

    static func logits(_ model: any CausalLanguageModel, _ tokens: [Int], pool: ParallelFor = .shared, taps: ForwardTaps = .none) throws -> ForwardResult {
        try model.forward(tokens: tokens, cache: model.makeCache(), logitRows: .all, taps: taps, pool: pool)
    }

    static func bits(_ x: [Float]) -> [UInt32] { x.map(\.bitPattern) }
}

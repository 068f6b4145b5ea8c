import Foundation
import XCTest
import Tensors
import Transformer
import Loader

/// Fixture locations relative to this file, so the tests work both in the development package
/// and in the main repository (`Tests/TransformerTests` → `Fixtures/models`).
enum ModelFixtures {
    static let models: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // TransformerTests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()  // package root
        .appendingPathComponent("Fixtures/models")

    static func directory(_ preset: SyntheticModels.Preset) -> String { models.appendingPathComponent(preset.name).path }

    /// The real SmolLM2 model, if present (env TOUCHSTONE_MODEL overrides the cache `touchstone
    /// fetch` fills).
    static var realModel: String? {
        let path = ProcessInfo.processInfo.environment["TOUCHSTONE_MODEL"] ?? ModelStore.cachedPath(of: ModelStore.smolLM2)
        return FileManager.default.fileExists(atPath: path) ? path : nil
    }

    /// A fresh temporary directory path (not created).
    static func temporaryDirectory() -> String {
        NSTemporaryDirectory() + "touchstone-transformer-\(UUID().uuidString)"
    }
}

/// Built once per test process: the synthetic models are deterministic and immutable.
enum TinyModels {
    static let a: LlamaModel = try! SyntheticModels.model(SyntheticModels.tinyA)
    static let b: LlamaModel = try! SyntheticModels.model(SyntheticModels.tinyB)
    static var both: [LlamaModel] { [a, b] }
}

/// Prefill of 19 seeded tokens (all rows), a tree batch, a `keep` and two decode steps, their
/// logits concatenated: what the D2 tests compare across thread counts and kernel paths.
func invarianceTrace(_ model: any CausalLanguageModel, pool: ParallelFor) throws -> [Float] {
    let prompt = seededTokens(19, vocabularySize: model.shape.vocabularySize, seed: 31)
    let cache = KVCache(shape: model.shape)
    var out = try model.forward(tokens: prompt, cache: cache, logitRows: .all, pool: pool).logits
    out += try model.forward(tokens: [5, 6, 7, 8], mask: .tree(parents: [-1, 0, -1, 2]), cache: cache, logitRows: .all, pool: pool).logits
    cache.keep(slots: [prompt.count + 2, prompt.count + 3], after: prompt.count)
    out += try model.forward(tokens: [9], cache: cache, pool: pool).logits
    out += try model.forward(tokens: [10], cache: cache, pool: pool).logits
    return out
}

/// `count` token ids in `0..<vocabularySize` from a fixed seed.
func seededTokens(_ count: Int, vocabularySize: Int, seed: UInt64) -> [Int] {
    var g = Xoshiro256StarStar(seed: seed)
    return (0..<count).map { _ in Int(g.next() % UInt64(vocabularySize)) }
}

/// Fails with the first differing index (and both values) unless `a` and `b` have the same
/// length and identical bit patterns.
func assertBitIdentical<A: Collection, B: Collection>(_ a: A, _ b: B, _ message: @autoclosure () -> String = "",
                                                      file: StaticString = #filePath, line: UInt = #line)
where A.Element == Float, B.Element == Float {
    let x = Array(a), y = Array(b)
    guard x.count == y.count else {
        XCTFail("lengths differ: \(x.count) vs \(y.count) \(message())", file: file, line: line)
        return
    }
    if let i = x.indices.first(where: { x[$0].bitPattern != y[$0].bitPattern }) {
        XCTFail("first difference at \(i): \(x[i]) vs \(y[i]) (max abs diff \(maxAbsDifference(x, y))) \(message())", file: file, line: line)
    }
}

func maxAbsDifference(_ a: [Float], _ b: [Float]) -> Float {
    zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
}

extension LlamaModel {
    /// Logits of the last token after feeding `tokens` to a fresh cache in one pass.
    func lastLogits(_ tokens: [Int], pool: ParallelFor = .shared) throws -> [Float] {
        try forward(tokens: tokens, cache: KVCache(shape: configuration.shape), pool: pool).logits
    }

    /// Feeds `tokens` one at a time into `cache`; returns each step's logits.
    func decodeOneByOne(_ tokens: [Int], cache: KVCache, pool: ParallelFor = .shared) throws -> [[Float]] {
        try tokens.map { try forward(tokens: [$0], cache: cache, pool: pool).logits }
    }

    /// Greedy continuation (argmax, lowest id on ties) of `prompt` for `count` tokens.
    func greedy(_ prompt: [Int], count: Int) throws -> [Int] {
        let cache = KVCache(shape: configuration.shape)
        var logits = try forward(tokens: prompt, cache: cache).logits
        var out: [Int] = []
        for step in 0..<count {
            let next = logits.withUnsafeBufferPointer { Kernels.argmax($0.baseAddress!, count: $0.count) }
            out.append(next)
            if step + 1 < count { logits = try forward(tokens: [next], cache: cache).logits }
        }
        return out
    }
}

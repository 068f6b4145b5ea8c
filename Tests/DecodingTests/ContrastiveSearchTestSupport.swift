import Foundation
import XCTest
import Decoding
import Formats
import Tensors
import Transformer

/// Shared by the contrastive-search and DoLa tests: a small seeded Llama model built in process
/// and the SmolLM2 peer-fixture plumbing.
enum ContrastiveDoLaSupport {
    /// A small Llama-family model from the project's synthetic recipe (`SyntheticModels`).
    static func syntheticModel(seed: UInt64, layers: Int = 4, vocabulary: Int = 97, hidden: Int = 32,
                               tied: Bool = true, context: Int = 96) throws -> LlamaModel {
        let c = LlamaConfiguration(hiddenSize: hidden, intermediateSize: 48, layerCount: layers, headCount: 4, kvHeadCount: 2,
                                   vocabularySize: vocabulary, contextLength: context, rmsNormEpsilon: 1e-5,
                                   ropeTheta: 10000, tiedEmbeddings: tied)
        return try SyntheticModels.model(configuration: c, seed: seed)
    }

    /// A full forward over `ids` from an empty cache (the "simplest path" oracle).
    static func fullForward(_ model: any CausalLanguageModel, _ ids: [Int], pool: ParallelFor = .shared) throws -> ForwardResult {
        let cache = KVCache(shape: model.shape, initialCapacity: ids.count)
        return try model.forward(tokens: ids, cache: cache, logitRows: .all, tapLayers: true, pool: pool)
    }

    /// Seeded random prompt of `count` ids below `vocabulary`.
    static func prompt(seed: UInt64, count: Int, vocabulary: Int) -> [Int] {
        var rng = Xoshiro256StarStar(seed: seed)
        return (0..<count).map { _ in Int(rng.next() % UInt64(vocabulary)) }
    }

    // MARK: SmolLM2 peer fixtures

    static let fixtureRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/peer")

    static func fixture(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: fixtureRoot.appendingPathComponent(name).appendingPathComponent("reference.json"))
        return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    static func smolLM2() throws -> any CausalLanguageModel { try SmolLM2TestModel.load().model }
}

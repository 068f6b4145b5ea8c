import XCTest
import Tensors
import Transformer

/// Shapes the presets do not reach: head dimensions 8 and 24 (the scalar tails of the dot
/// product and the attention sum), row counts that are not multiples of 16 (partial panels, an
/// odd panel count), a single KV head, one layer.
final class OddShapeTests: XCTestCase {
    static let configurations = [
        LlamaConfiguration(hiddenSize: 40, intermediateSize: 72, layerCount: 1, headCount: 5, kvHeadCount: 1,
                           vocabularySize: 37, contextLength: 64, rmsNormEpsilon: 1e-5, ropeTheta: 10000, tiedEmbeddings: false),
        LlamaConfiguration(hiddenSize: 72, intermediateSize: 50, layerCount: 2, headCount: 3, kvHeadCount: 3,
                           vocabularySize: 101, contextLength: 64, rmsNormEpsilon: 1e-5, ropeTheta: 10000, tiedEmbeddings: true),
    ]

    func testOddShapesKeepBatchAndThreadInvarianceAndMatchTheNaiveKernels() throws {
        for (n, c) in Self.configurations.enumerated() {
            let model = try SyntheticModels.model(configuration: c, seed: 9)
            let naive = try SyntheticModels.model(configuration: c, seed: 9)
            naive.useNaiveKernels = true
            // 40 tokens: two whole 16-slot key tiles and a partial one.
            let prompt = seededTokens(40, vocabularySize: c.vocabularySize, seed: 60 + UInt64(n))
            let one = ParallelFor(threadCount: 1), three = ParallelFor(threadCount: 3)
            defer { one.shutdown(); three.shutdown() }
            let prefill = try model.forward(tokens: prompt, cache: KVCache(shape: c.shape), logitRows: .all, pool: three)
            let stepwise = try model.decodeOneByOne(prompt, cache: KVCache(shape: c.shape, initialCapacity: 2), pool: one)
            let reference = try naive.forward(tokens: prompt, cache: KVCache(shape: c.shape), logitRows: .all, pool: one)
            assertBitIdentical(prefill.logits, reference.logits, "configuration \(n): fast vs naive")
            for i in prompt.indices { assertBitIdentical(prefill.logits(row: i), stepwise[i], "configuration \(n) position \(i)") }
        }
    }
}

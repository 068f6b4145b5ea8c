import Foundation
import XCTest
import Formats
import Tensors
import Transformer

/// D3 and D2 on SmolLM2-135M-Instruct Q4_1, when the file is present.
final class RealModelInvarianceTests: XCTestCase {
    func testRealModelPrefillRowsEqualTokenByTokenDecodingForAnyThreadCount() throws {
        guard let path = ModelFixtures.realModel else {
            throw XCTSkip("SmolLM2-135M-Instruct.Q4_1.gguf not found (set TOUCHSTONE_MODEL or fetch it into ~/.cache/touchstone)")
        }
        let full = try LlamaModel(gguf: try GGUFFile(path: path))
        #if DEBUG
        // Unoptimized kernels run a few million multiply-adds per second, so a debug build checks
        // the first 2 of the 30 layers (same Q4_1 kernels and data) and the real Q8_0 tied head.
        let layerCount = 2
        let prompt = [1, 9690, 198, 2683]
        #else
        let layerCount = full.shape.layerCount
        let prompt = [1, 9690, 198, 2683, 359, 253]
        #endif
        var c = full.configuration
        c.layerCount = layerCount
        let model = try LlamaModel(configuration: c, tokenEmbedding: full.tokenEmbedding, layers: Array(full.layers.prefix(layerCount)),
                                   outputNorm: full.outputNorm, output: c.tiedEmbeddings ? nil : full.output,
                                   origin: full.origin)
        let one = ParallelFor(threadCount: 1), two = ParallelFor(threadCount: 2)
        defer { one.shutdown(); two.shutdown() }
        let prefill = try model.forward(tokens: prompt, cache: KVCache(shape: c.shape, initialCapacity: 8), logitRows: .all, pool: two)
        let stepwise = try model.decodeOneByOne(prompt, cache: KVCache(shape: c.shape, initialCapacity: 8), pool: one)
        for i in prompt.indices { assertBitIdentical(prefill.logits(row: i), stepwise[i], "position \(i)") }
        let prefillOneThread = try model.forward(tokens: prompt, cache: KVCache(shape: c.shape, initialCapacity: 8), logitRows: .all, pool: one)
        assertBitIdentical(prefill.logits, prefillOneThread.logits, "1 vs 2 threads")
        withExtendedLifetime(full) {}  // keeps the memory-mapped file that `model`'s matrices read
    }
}

/// `--weights f32`: dequantizing every matrix at load is exact, so the logits equal the native
/// Q4_1/Q8_0 kernels' bit for bit.
final class Float32WeightsTests: XCTestCase {
    func testFloat32WeightsGiveBitIdenticalLogits() throws {
        guard let path = ModelFixtures.realModel else {
            throw XCTSkip("SmolLM2-135M-Instruct.Q4_1.gguf not found (set TOUCHSTONE_MODEL or fetch it into ~/.cache/touchstone)")
        }
        #if DEBUG
        throw XCTSkip("a full 30-layer pass on unoptimized kernels is too slow; run with -c release")
        #else
        let file = try GGUFFile(path: path)
        let native = try LlamaModel(gguf: file)
        let dense = try LlamaModel(gguf: file, float32Weights: true)
        XCTAssertEqual(dense.layers[0].wq.encoding, .f32)
        XCTAssertEqual(native.layers[0].wq.encoding, .q4_1)
        let prompt = [1, 9690, 198, 2683, 359]
        let a = try native.forward(tokens: prompt, cache: KVCache(shape: native.shape, initialCapacity: 8), logitRows: .all)
        let b = try dense.forward(tokens: prompt, cache: KVCache(shape: dense.shape, initialCapacity: 8), logitRows: .all)
        assertBitIdentical(a.logits, b.logits, "native vs float32 weights")
        #endif
    }
}

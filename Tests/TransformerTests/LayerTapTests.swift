import XCTest
import Tensors
import Transformer

final class LayerTapTests: XCTestCase {
    func testTapsReturnEveryLayerAndTheLastLayerThroughRMSNormIsTheFinalNormOutput() throws {
        for model in TinyModels.both {
            let c = model.configuration
            let prompt = seededTokens(6, vocabularySize: c.vocabularySize, seed: 51)
            let tapped = try model.forward(tokens: prompt, cache: KVCache(shape: c.shape), logitRows: .all, tapLayers: true)
            let layers = try XCTUnwrap(tapped.layerOutputs)
            XCTAssertEqual(layers.count, c.layerCount)
            for l in layers { XCTAssertEqual(l.count, prompt.count * c.hiddenSize) }
            let finalNorm = try XCTUnwrap(tapped.finalNormOutput)
            var expected = [Float](repeating: 0, count: prompt.count * c.hiddenSize)
            for t in prompt.indices {
                layers.last!.withUnsafeBufferPointer { x in
                    model.outputNorm.withUnsafeBufferPointer { w in
                        expected.withUnsafeMutableBufferPointer { y in
                            Kernels.rmsNorm(x.baseAddress! + t * c.hiddenSize, weight: w.baseAddress!, epsilon: c.rmsNormEpsilon,
                                            count: c.hiddenSize, into: y.baseAddress! + t * c.hiddenSize)
                        }
                    }
                }
            }
            assertBitIdentical(finalNorm, expected)
            // The head applied to the final-norm output gives the logits.
            assertBitIdentical(model.output.multiply(finalNorm, tokens: prompt.count), tapped.logits)
            // Tapping does not change the logits, and untapped passes return no taps.
            let plain = try model.forward(tokens: prompt, cache: KVCache(shape: c.shape), logitRows: .all)
            XCTAssertNil(plain.layerOutputs)
            XCTAssertNil(plain.finalNormOutput)
            assertBitIdentical(plain.logits, tapped.logits)
        }
    }

    func testLayerTapsAreBatchInvariant() throws {
        let model = TinyModels.b
        let c = model.configuration
        let prompt = seededTokens(5, vocabularySize: c.vocabularySize, seed: 52)
        let whole = try XCTUnwrap(try model.forward(tokens: prompt, cache: KVCache(shape: c.shape), tapLayers: true).layerOutputs)
        let cache = KVCache(shape: c.shape)
        _ = try model.forward(tokens: Array(prompt.dropLast()), cache: cache, logitRows: .none)
        let step = try XCTUnwrap(try model.forward(tokens: [prompt.last!], cache: cache, tapLayers: true).layerOutputs)
        for l in 0..<c.layerCount { assertBitIdentical(whole[l].suffix(c.hiddenSize), step[l], "layer \(l)") }
    }
}

final class RoPEPermutationTests: XCTestCase {
    func testHalfRoPEPermutationInvertsTheAdjacentPairPermutation() {
        for (heads, hd, columns) in [(4, 16, 3), (3, 8, 5), (1, 2, 1), (2, 64, 7)] {
            var g = Xoshiro256StarStar(seed: UInt64(heads * 1000 + hd))
            let x = (0..<(heads * hd * columns)).map { _ in g.nextUniformFloat() }
            let adjacent = LlamaModel.permuteForAdjacentPairRoPE(x, heads: heads, headDimension: hd, columns: columns)
            assertBitIdentical(LlamaModel.permuteForHalfRoPE(adjacent, heads: heads, headDimension: hd, columns: columns), x)
            assertBitIdentical(LlamaModel.permuteForAdjacentPairRoPE(LlamaModel.permuteForHalfRoPE(x, heads: heads, headDimension: hd, columns: columns),
                                                                     heads: heads, headDimension: hd, columns: columns), x)
            if hd > 2 { XCTAssertNotEqual(adjacent, x, "the permutation must move rows") }
        }
    }

    func testAdjacentPairPermutationMatchesTheDocumentedRowMap() {
        // GGUF row h*hd + 2i + p is HF row h*hd + p*hd/2 + i; one column holds the row index.
        let heads = 2, hd = 8
        let x = (0..<(heads * hd)).map(Float.init)
        let adjacent = LlamaModel.permuteForAdjacentPairRoPE(x, heads: heads, headDimension: hd, columns: 1)
        XCTAssertEqual(adjacent, [0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15])
    }
}

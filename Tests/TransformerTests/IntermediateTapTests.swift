import XCTest
import Tensors
import Transformer

/// `forward(…taps: ForwardTaps(intermediatesOfLayer:)…)`: the named intermediates of one layer.
final class IntermediateTapTests: XCTestCase {
    func intermediates(_ model: LlamaModel, _ prompt: [Int], layer: Int, pool: ParallelFor = .shared) throws -> [String: Intermediate] {
        let r = try model.forward(tokens: prompt, cache: KVCache(shape: model.configuration.shape), logitRows: .all,
                                  taps: ForwardTaps(intermediatesOfLayer: layer), pool: pool)
        let list = try XCTUnwrap(r.intermediates)
        return Dictionary(uniqueKeysWithValues: list.map { ($0.name, $0) })
    }

    func testTapsChangeNoResultBitForBitWithTapsOnOrOffForEveryLayer() throws {
        for model in TinyModels.both {
            let c = model.configuration
            let prompt = seededTokens(7, vocabularySize: c.vocabularySize, seed: 61)
            let plain = try model.forward(tokens: prompt, cache: KVCache(shape: c.shape), logitRows: .all)
            let layerTaps = try model.forward(tokens: prompt, cache: KVCache(shape: c.shape), logitRows: .all, tapLayers: true)
            XCTAssertNil(plain.intermediates, "no taps, no intermediates")
            XCTAssertNil(layerTaps.intermediates)
            for layer in 0..<c.layerCount {
                let all = try model.forward(tokens: prompt, cache: KVCache(shape: c.shape), logitRows: .all,
                                            taps: ForwardTaps(layerOutputs: true, intermediatesOfLayer: layer))
                assertBitIdentical(all.logits, plain.logits, "layer \(layer)")
                let outputs = try XCTUnwrap(all.layerOutputs), expected = try XCTUnwrap(layerTaps.layerOutputs)
                for l in 0..<c.layerCount { assertBitIdentical(outputs[l], expected[l], "layer output \(l) with layer \(layer) tapped") }
                assertBitIdentical(try XCTUnwrap(all.finalNormOutput), try XCTUnwrap(layerTaps.finalNormOutput))
                let only = try model.forward(tokens: prompt, cache: KVCache(shape: c.shape), logitRows: .all,
                                             taps: ForwardTaps(intermediatesOfLayer: layer))
                assertBitIdentical(only.logits, plain.logits)
                XCTAssertNil(only.layerOutputs)
            }
        }
    }

    func testIntermediatesAreTheDocumentedNamesInForwardOrderWithTheirShapes() throws {
        let model = TinyModels.b
        let c = model.configuration
        let T = 4
        let r = try model.forward(tokens: seededTokens(T, vocabularySize: c.vocabularySize, seed: 62), cache: KVCache(shape: c.shape),
                                  taps: ForwardTaps(intermediatesOfLayer: 1))
        let list = try XCTUnwrap(r.intermediates)
        XCTAssertEqual(list.map(\.name), model.intermediateDescriptions.map(\.name))
        XCTAssertEqual(list.map(\.name), ["attn_norm", "q_proj", "k_proj", "v", "q", "k", "attn_output", "attn_projection",
                                          "attn_residual", "ffn_norm", "gate", "up", "swiglu", "mlp_output"])
        let C = c.hiddenSize, q = c.headCount * c.headDimension, kv = c.kvHeadCount * c.headDimension, F = c.intermediateSize
        let widths = [C, q, kv, kv, q, kv, q, C, C, C, F, F, F, C]
        for (m, w) in zip(list, widths) {
            XCTAssertEqual(m.shape, [T, w], m.name)
            XCTAssertEqual(m.values.count, T * w, m.name)
        }
        let protocolView: any CausalLanguageModel = model
        XCTAssertEqual(protocolView.intermediateDescriptions, LlamaModel.intermediateDescriptions)
    }

    /// Each intermediate recomputed from the previous ones and the weights with the same kernels.
    func testIntermediatesChainThroughTheLayersOperations() throws {
        let model = TinyModels.a
        let c = model.configuration
        let prompt = seededTokens(5, vocabularySize: c.vocabularySize, seed: 63)
        let T = prompt.count, C = c.hiddenSize
        let outputs = try XCTUnwrap(try model.forward(tokens: prompt, cache: KVCache(shape: c.shape), tapLayers: true).layerOutputs)
        for layer in 0..<c.layerCount {
            let m = try intermediates(model, prompt, layer: layer)
            let w = model.layers[layer]
            // The layer's input: embeddings for layer 0, the previous layer's output otherwise.
            var input = [Float](repeating: 0, count: T * C)
            if layer == 0 {
                input.withUnsafeMutableBufferPointer { p in for t in 0..<T { model.embed(token: prompt[t], into: p.baseAddress! + t * C) } }
            } else {
                input = outputs[layer - 1]
            }
            func norm(_ x: [Float], _ weight: [Float]) -> [Float] {
                var y = [Float](repeating: 0, count: x.count)
                for t in 0..<T {
                    x.withUnsafeBufferPointer { xp in weight.withUnsafeBufferPointer { wp in y.withUnsafeMutableBufferPointer { yp in
                        Kernels.rmsNorm(xp.baseAddress! + t * C, weight: wp.baseAddress!, epsilon: c.rmsNormEpsilon, count: C, into: yp.baseAddress! + t * C)
                    } } }
                }
                return y
            }
            assertBitIdentical(m["attn_norm"]!.values, norm(input, w.attentionNorm), "attn_norm \(layer)")
            assertBitIdentical(m["q_proj"]!.values, w.wq.multiply(m["attn_norm"]!.values, tokens: T), "q_proj \(layer)")
            assertBitIdentical(m["k_proj"]!.values, w.wk.multiply(m["attn_norm"]!.values, tokens: T), "k_proj \(layer)")
            assertBitIdentical(m["v"]!.values, w.wv.multiply(m["attn_norm"]!.values, tokens: T), "v \(layer)")
            // Position 0 is not rotated; later positions are.
            let qWidth = c.headCount * c.headDimension
            assertBitIdentical(m["q"]!.values.prefix(qWidth), m["q_proj"]!.values.prefix(qWidth), "q at position 0")
            XCTAssertNotEqual(Array(m["q"]!.values.suffix(qWidth)), Array(m["q_proj"]!.values.suffix(qWidth)))
            assertBitIdentical(m["attn_projection"]!.values, w.wo.multiply(m["attn_output"]!.values, tokens: T), "attn_projection \(layer)")
            assertBitIdentical(m["attn_residual"]!.values, zip(input, m["attn_projection"]!.values).map { $0 + $1 }, "attn_residual \(layer)")
            assertBitIdentical(m["ffn_norm"]!.values, norm(m["attn_residual"]!.values, w.ffnNorm), "ffn_norm \(layer)")
            assertBitIdentical(m["gate"]!.values, w.wGate.multiply(m["ffn_norm"]!.values, tokens: T), "gate \(layer)")
            assertBitIdentical(m["up"]!.values, w.wUp.multiply(m["ffn_norm"]!.values, tokens: T), "up \(layer)")
            var swiglu = [Float](repeating: 0, count: m["gate"]!.values.count)
            m["gate"]!.values.withUnsafeBufferPointer { g in m["up"]!.values.withUnsafeBufferPointer { u in swiglu.withUnsafeMutableBufferPointer { s in
                Kernels.swiGLU(gate: g.baseAddress!, up: u.baseAddress!, count: s.count, into: s.baseAddress!)
            } } }
            assertBitIdentical(m["swiglu"]!.values, swiglu, "swiglu \(layer)")
            assertBitIdentical(m["mlp_output"]!.values, w.wDown.multiply(m["swiglu"]!.values, tokens: T), "mlp_output \(layer)")
            assertBitIdentical(outputs[layer], zip(m["attn_residual"]!.values, m["mlp_output"]!.values).map { $0 + $1 }, "output \(layer)")
        }
    }

    func testIntermediatesAreThreadCountAndBatchInvariant() throws {
        let model = TinyModels.b
        let c = model.configuration
        let prompt = seededTokens(6, vocabularySize: c.vocabularySize, seed: 64)
        let one = try intermediates(model, prompt, layer: 2, pool: ParallelFor(threadCount: 1))
        let two = try intermediates(model, prompt, layer: 2, pool: ParallelFor(threadCount: 2))
        for (name, m) in one { assertBitIdentical(m.values, two[name]!.values, "\(name): 1 vs 2 threads") }
        // The last token's row is the same when it is computed alone after a prefill.
        let cache = KVCache(shape: c.shape)
        _ = try model.forward(tokens: Array(prompt.dropLast()), cache: cache, logitRows: .none)
        let step = try XCTUnwrap(try model.forward(tokens: [prompt.last!], cache: cache, taps: ForwardTaps(intermediatesOfLayer: 2)).intermediates)
        for m in step {
            let width = m.shape[1]
            XCTAssertEqual(m.shape, [1, width])
            assertBitIdentical(m.values, one[m.name]!.values.suffix(width), "\(m.name): decode step vs prefill")
        }
    }

    func testALayerOutsideTheModelIsATypedError() throws {
        let model = TinyModels.a
        for bad in [-1, model.configuration.layerCount] {
            XCTAssertThrowsError(try model.forward(tokens: [1, 2], cache: KVCache(shape: model.configuration.shape),
                                                   taps: ForwardTaps(intermediatesOfLayer: bad))) { error in
                guard case ModelError.invalidInput(let m) = error else { return XCTFail("\(error)") }
                XCTAssertTrue(m.contains("layer \(bad)"), m)
            }
        }
    }
}

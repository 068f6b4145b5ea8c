import Foundation
import XCTest
import Tensors
import Transformer
@testable import Probing

final class LogitLensTests: XCTestCase {
    let prompt = [3, 17, 200, 5, 99, 42, 7]

    func testFinalLayerReproducesTheModelsLogitsBitForBit() throws {
        for preset in SyntheticModels.presets {
            let model = try ProbingTestSupport.tiny(preset)
            let (states, logits) = try LogitLens.hiddenStates(model: model, prompt: prompt)
            let L = model.shape.layerCount
            XCTAssertEqual(states.count, L + 1)
            for norm in [true, false] {
                let lens = try LogitLens.logits(model: model, hidden: states[L], rows: prompt.count, layer: L, applyNorm: norm)
                XCTAssertEqual(ProbingTestSupport.bits(lens), ProbingTestSupport.bits(logits), "\(preset.name) norm \(norm)")
            }
        }
    }

    func testFinalLayerReproducesSmolLM2LogitsBitForBit() throws {
        let model = try ProbingTestSupport.realModel().model
        let ids = [504, 3575, 282, 4649, 314]
        let (states, logits) = try LogitLens.hiddenStates(model: model, prompt: ids)
        let lens = try LogitLens.logits(model: model, hidden: states[model.shape.layerCount], rows: ids.count, layer: model.shape.layerCount, applyNorm: true)
        XCTAssertEqual(ProbingTestSupport.bits(lens), ProbingTestSupport.bits(logits))
    }

    /// The oracle: every layer's lens logits from the scalar path (RMSNorm written out, the head's
    /// naive product), bit for bit, with and without the norm.
    func testEveryLayerEqualsANaiveNormAndHeadProduct() throws {
        let model = try ProbingTestSupport.tiny(SyntheticModels.tinyB)
        let c = model.configuration, C = c.hiddenSize, T = prompt.count
        let ids = prompt.map { $0 % c.vocabularySize }
        let (states, _) = try LogitLens.hiddenStates(model: model, prompt: ids)
        for layer in 0...c.layerCount {
            for norm in [true, false] {
                var x = states[layer]
                if norm && layer < c.layerCount {
                    for t in 0..<T {
                        var ss: Float = 0
                        for j in 0..<C { ss = ss + x[t * C + j] * x[t * C + j] }
                        let r = 1 / (ss / Float(C) + c.rmsNormEpsilon).squareRoot()
                        for j in 0..<C { x[t * C + j] = model.outputNorm[j] * (x[t * C + j] * r) }
                    }
                }
                var expected = [Float](repeating: 0, count: T * c.vocabularySize)
                x.withUnsafeBufferPointer { xp in expected.withUnsafeMutableBufferPointer { model.outputHead.multiplyNaive(xp.baseAddress!, tokens: T, into: $0.baseAddress!) } }
                let lens = try LogitLens.logits(model: model, hidden: states[layer], rows: T, layer: layer, applyNorm: norm)
                XCTAssertEqual(ProbingTestSupport.bits(lens), ProbingTestSupport.bits(expected), "layer \(layer) norm \(norm)")
            }
        }
        // Layer 0 is the embedding; layers 1..<L are the block outputs.
        var e = [Float](repeating: 0, count: C)
        e.withUnsafeMutableBufferPointer { model.embed(token: ids[2], into: $0.baseAddress!) }
        XCTAssertEqual(Array(states[0][(2 * C)..<(3 * C)]), e)
        let taps = try ProbingTestSupport.logits(model, ids, taps: ForwardTaps(layerOutputs: true))
        XCTAssertEqual(states[1], taps.layerOutputs![0])
        XCTAssertEqual(states[c.layerCount], taps.finalNormOutput!)
    }

    func testLensIsThreadCountInvariantAndKLIsZeroOnlyAtTheFinalLayer() throws {
        let model = try ProbingTestSupport.tiny()
        let one = ParallelFor(threadCount: 1), three = ParallelFor(threadCount: 3)
        defer { one.shutdown(); three.shutdown() }
        for norm in [true, false] {
            let a = try LogitLens.run(model: model, prompt: prompt, top: 4, applyNorm: norm, pool: one)
            let b = try LogitLens.run(model: model, prompt: prompt, top: 4, applyNorm: norm, pool: three)
            XCTAssertEqual(a, b)
            for p in a.positions {
                XCTAssertEqual(p.layers.map(\.layer), Array(0...model.shape.layerCount))
                XCTAssertEqual(p.layers.last!.klToFinal, 0)
                for l in p.layers.dropLast() { XCTAssertGreaterThan(l.klToFinal, 0) }
                for l in p.layers {
                    XCTAssertEqual(l.top.count, 4)
                    for (x, y) in zip(l.top, l.top.dropFirst()) { XCTAssert(x.logit > y.logit || (x.logit == y.logit && x.id < y.id)) }
                    let total = l.top.reduce(0) { $0 + $1.probability }
                    XCTAssertLessThanOrEqual(total, 1 + 1e-12)
                }
            }
        }
    }

    func testKLDivergenceMatchesAHandComputedCase() {
        // p = (0.5, 0.5), q = (0.25, 0.75): KL = 0.5 ln 2 + 0.5 ln(2/3).
        let logP = LogitLens.logProbabilities([0, 0][...])
        let logQ = LogitLens.logProbabilities([0, Float(log(3.0))][...])
        XCTAssertEqual(LogitLens.klDivergence(logP: logP, logQ: logQ), 0.5 * log(2.0) + 0.5 * log(2.0 / 3.0), accuracy: 1e-7)
    }

    func testLayersOutsideZeroThroughLAreRejected() throws {
        let model = try ProbingTestSupport.tiny()
        XCTAssertThrowsError(try LogitLens.run(model: model, prompt: prompt, layers: [model.shape.layerCount + 1]))
        XCTAssertThrowsError(try LogitLens.run(model: model, prompt: prompt, layers: [-1]))
        XCTAssertThrowsError(try LogitLens.run(model: model, prompt: prompt, top: 0))
    }
}

import Foundation
import XCTest
import Tensors
import Transformer

final class NeuronClampTests: XCTestCase {
    func intermediates(_ r: ForwardResult, _ name: String) -> [Float] { r.intermediates!.first { $0.name == name }!.values }

    /// With one position a neuron has one value; writing that value back changes nothing.
    func testClampingANeuronToTheValueItAlreadyHasIsANoOp() throws {
        let model = try ProbingTestSupport.tiny()
        let F = model.configuration.intermediateSize
        let layer = 1, neuron = 37
        let plain = try ProbingTestSupport.logits(model, [11], taps: ForwardTaps(layerOutputs: true, intermediatesOfLayer: layer))
        let up = intermediates(plain, "up")[neuron], gated = intermediates(plain, "swiglu")[neuron]
        XCTAssertEqual(intermediates(plain, "up").count, F)
        for clamp in [NeuronClamp(layer: layer, neuron: neuron, value: up, site: .up),
                      NeuronClamp(layer: layer, neuron: neuron, value: gated, site: .gated)] {
            try model.setNeuronClamps([clamp])
            let clamped = try ProbingTestSupport.logits(model, [11], taps: ForwardTaps(layerOutputs: true))
            XCTAssertEqual(ProbingTestSupport.bits(clamped.logits), ProbingTestSupport.bits(plain.logits), "\(clamp)")
            XCTAssertEqual(clamped.layerOutputs!, plain.layerOutputs!)
        }
    }

    func testClampWritesItsValueAtEveryPositionAndLeavesLayersBelowUnchanged() throws {
        let model = try ProbingTestSupport.tiny(SyntheticModels.tinyB)
        let F = model.configuration.intermediateSize, L = model.configuration.layerCount
        let tokens = [5, 80, 300, 2, 17]
        let layer = 1
        let plain = try ProbingTestSupport.logits(model, tokens, taps: ForwardTaps(layerOutputs: true))
        for site in NeuronClampSite.allCases {
            try model.setNeuronClamps([NeuronClamp(layer: layer, neuron: 9, value: 6.5, site: site)])
            let clamped = try ProbingTestSupport.logits(model, tokens, taps: ForwardTaps(layerOutputs: true, intermediatesOfLayer: layer))
            let values = intermediates(clamped, site == .up ? "up" : "swiglu")
            for t in 0..<tokens.count { XCTAssertEqual(values[t * F + 9], 6.5, "\(site) position \(t)") }
            for l in 0..<layer { XCTAssertEqual(clamped.layerOutputs![l], plain.layerOutputs![l], "layer \(l) below the clamp") }
            for l in layer..<L { XCTAssertNotEqual(clamped.layerOutputs![l], plain.layerOutputs![l], "layer \(l) at or above the clamp") }
            XCTAssertNotEqual(clamped.logits, plain.logits)
        }
        try model.setNeuronClamps([])
        XCTAssertEqual(try ProbingTestSupport.logits(model, tokens).logits, plain.logits, "removing the clamps restores the model")
    }

    func testClampedForwardIsThreadCountInvariant() throws {
        let model = try ProbingTestSupport.tiny()
        try model.setNeuronClamps([NeuronClamp(layer: 0, neuron: 3, value: -4, site: .up), NeuronClamp(layer: 1, neuron: 100, value: 2.25, site: .gated)])
        let one = ParallelFor(threadCount: 1), three = ParallelFor(threadCount: 3)
        defer { one.shutdown(); three.shutdown() }
        let tokens = [1, 2, 3, 400, 5, 6, 7, 8, 9]
        XCTAssertEqual(ProbingTestSupport.bits(try ProbingTestSupport.logits(model, tokens, pool: one).logits),
                       ProbingTestSupport.bits(try ProbingTestSupport.logits(model, tokens, pool: three).logits))
    }

    /// Decode steps see the clamp as the prefill does: one-token steps give the logits of one
    /// whole-sequence pass bit for bit (D3 with a clamp).
    func testClampAppliesInDecodeStepsAsInPrefill() throws {
        let model = try ProbingTestSupport.tiny()
        try model.setNeuronClamps([NeuronClamp(layer: 1, neuron: 64, value: 9, site: .up)])
        let tokens = [4, 8, 15, 16, 23, 42]
        let whole = try ProbingTestSupport.logits(model, tokens)
        let cache = model.makeCache()
        _ = try model.forward(tokens: Array(tokens.prefix(2)), cache: cache, logitRows: .none)
        let V = model.shape.vocabularySize
        for t in 2..<tokens.count {
            let step = try model.forward(tokens: [tokens[t]], cache: cache, logitRows: .last)
            XCTAssertEqual(ProbingTestSupport.bits(step.logits), ProbingTestSupport.bits(Array(whole.logits[(t * V)..<((t + 1) * V)])), "position \(t)")
        }
        // The clamp is not a no-op here, so the test can fail.
        try model.setNeuronClamps([])
        XCTAssertNotEqual(try ProbingTestSupport.logits(model, tokens).logits, whole.logits)
    }

    func testTruncatedModelKeepsTheClampsOfItsLayers() throws {
        let model = try ProbingTestSupport.tiny(SyntheticModels.tinyB)
        let clamps = [NeuronClamp(layer: 0, neuron: 1, value: 3), NeuronClamp(layer: 2, neuron: 1, value: 3)]
        try model.setNeuronClamps(clamps)
        XCTAssertEqual(try model.truncated(toLayers: 2).neuronClamps, [clamps[0]])
    }

    func testParseAndValidateRejectOutOfRangeAndMalformedClamps() throws {
        XCTAssertEqual(try NeuronClamp.parse("3:17:5,4:2:-1.5:gated"),
                       [NeuronClamp(layer: 3, neuron: 17, value: 5, site: .up), NeuronClamp(layer: 4, neuron: 2, value: -1.5, site: .gated)])
        for bad in ["3:17", "3:17:x", "3:17:5:down", "-1:2:3", "1:2:inf", "a:2:3", ""] {
            XCTAssertThrowsError(try NeuronClamp.parse(bad), bad)
        }
        let model = try ProbingTestSupport.tiny()
        let F = model.configuration.intermediateSize, L = model.configuration.layerCount
        XCTAssertThrowsError(try model.setNeuronClamps([NeuronClamp(layer: L, neuron: 0, value: 1)]))
        XCTAssertThrowsError(try model.setNeuronClamps([NeuronClamp(layer: 0, neuron: F, value: 1)]))
        XCTAssertThrowsError(try model.setNeuronClamps([NeuronClamp(layer: 0, neuron: 1, value: 1), NeuronClamp(layer: 0, neuron: 1, value: 2)]))
        XCTAssertEqual(model.neuronClamps, [], "a rejected list leaves the clamps as they were")
        try model.setNeuronClamps([NeuronClamp(layer: L - 1, neuron: F - 1, value: 1)])
        XCTAssertEqual(model.neuronClamps.count, 1)
    }
}

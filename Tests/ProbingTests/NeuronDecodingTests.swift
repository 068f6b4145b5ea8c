import Foundation
import XCTest
import Tensors
import Transformer
@testable import Probing

final class NeuronDecodingTests: XCTestCase {
    /// The oracle: each direction's scores from the head's naive product (after the final-norm
    /// variant written out), ranked by sorting all of them, probabilities from a Float64 softmax.
    func testEveryNeuronsTopTokensEqualANaiveHeadProductOfItsDirection() throws {
        let model = try ProbingTestSupport.tiny(SyntheticModels.tinyB)
        let c = model.configuration, C = c.hiddenSize, V = c.vocabularySize, F = c.intermediateSize
        for matrix in NeuronDecoding.Matrix.allCases {
            for mode in NeuronDecoding.FinalNorm.allCases {
                let layer = 1
                let d = try NeuronDecoding.directions(model: model, layer: layer, matrix: matrix)
                let decoded = try NeuronDecoding.decode(directions: d, count: F, model: model, finalNorm: mode, top: 3, chunkSize: 7)
                for i in stride(from: 0, to: F, by: 13) {
                    // The direction itself, read element by element.
                    var w = [Float](repeating: 0, count: C)
                    for j in 0..<C {
                        switch matrix {
                        case .up: w[j] = model.layers[layer].wUp.element(row: i, column: j)
                        case .gate: w[j] = model.layers[layer].wGate.element(row: i, column: j)
                        case .down: w[j] = model.layers[layer].wDown.element(row: j, column: i)
                        }
                    }
                    XCTAssertEqual(Array(d[(i * C)..<((i + 1) * C)]), w)
                    switch mode {
                    case .none: break
                    case .gain: for j in 0..<C { w[j] = model.outputNorm[j] * w[j] }
                    case .rms:
                        var ss: Float = 0
                        for j in 0..<C { ss = ss + w[j] * w[j] }
                        let r = 1 / (ss / Float(C) + c.rmsNormEpsilon).squareRoot()
                        for j in 0..<C { w[j] = model.outputNorm[j] * (w[j] * r) }
                    }
                    var s = [Float](repeating: 0, count: V)
                    w.withUnsafeBufferPointer { wp in s.withUnsafeMutableBufferPointer { model.outputHead.multiplyNaive(wp.baseAddress!, tokens: 1, into: $0.baseAddress!) } }
                    let ranked = (0..<V).sorted { s[$0] > s[$1] || (s[$0] == s[$1] && $0 < $1) }
                    let m = Double(s[ranked[0]])
                    let z = s.reduce(0.0) { $0 + Foundation.exp(Double($1) - m) }
                    let got = decoded[i]
                    XCTAssertEqual(got.map(\.id), Array(ranked.prefix(3)), "\(matrix) \(mode) neuron \(i)")
                    XCTAssertEqual(got.map(\.score), ranked.prefix(3).map { s[$0] })
                    for (g, id) in zip(got, ranked) {
                        XCTAssertEqual(g.probability, Foundation.exp(Double(s[id]) - m) / z, accuracy: 1e-6 * max(1e-3, g.probability))
                    }
                }
            }
        }
    }

    func testDecodingIsThreadCountAndChunkSizeInvariant() throws {
        let model = try ProbingTestSupport.tiny()
        let one = ParallelFor(threadCount: 1), three = ParallelFor(threadCount: 3)
        defer { one.shutdown(); three.shutdown() }
        for matrix in NeuronDecoding.Matrix.allCases {
            let a = try NeuronDecoding.decode(model: model, layers: [0, 1], matrix: matrix, finalNorm: .rms, top: 4, chunkSize: 32, pool: one)
            let b = try NeuronDecoding.decode(model: model, layers: [0, 1], matrix: matrix, finalNorm: .rms, top: 4, chunkSize: 5, pool: three)
            let c = try NeuronDecoding.decode(model: model, layers: [0, 1], matrix: matrix, finalNorm: .rms, top: 4, chunkSize: 1, pool: three)
            XCTAssertEqual(a, b)
            XCTAssertEqual(a, c)
            XCTAssertEqual(a.count, 2 * model.configuration.intermediateSize)
        }
    }

    func testFindListsExactlyTheNeuronsWhoseTopTokenIsTheTargetByProbability() throws {
        let model = try ProbingTestSupport.tiny()
        let all = try NeuronDecoding.decode(model: model, layers: [0, 1], matrix: .up, finalNorm: .none, top: 2)
        // The most frequent top token, so the list has several entries.
        var counts: [Int: Int] = [:]
        for r in all { counts[r.top[0].id, default: 0] += 1 }
        let target = counts.max { $0.value < $1.value || ($0.value == $1.value && $0.key > $1.key) }!.key
        let found = NeuronDecoding.neurons(withTopToken: target, in: all)
        XCTAssertEqual(found.count, counts[target])
        XCTAssertGreaterThan(found.count, 1)
        XCTAssert(found.allSatisfy { $0.top[0].id == target })
        for (x, y) in zip(found, found.dropFirst()) { XCTAssertGreaterThanOrEqual(x.top[0].probability, y.top[0].probability) }
    }

    func testOutOfRangeLayerAndTopAreRejected() throws {
        let model = try ProbingTestSupport.tiny()
        XCTAssertThrowsError(try NeuronDecoding.directions(model: model, layer: model.configuration.layerCount, matrix: .up))
        let d = try NeuronDecoding.directions(model: model, layer: 0, matrix: .up)
        XCTAssertThrowsError(try NeuronDecoding.decode(directions: d, count: model.configuration.intermediateSize, model: model, finalNorm: .none, top: 0))
    }
}

import Foundation
import XCTest
import Formats
import Tensors
import Transformer
@testable import Probing

final class InformationSurplusTests: XCTestCase {
    typealias IS = InformationSurplus

    /// Seeded uniform values in [−scale, scale).
    static func random(_ count: Int, scale: Float, rng: inout Xoshiro256StarStar) -> [Float] {
        (0..<count).map { _ in (rng.nextUniformFloat() * 2 - 1) * scale }
    }

    /// A probe set for `model` with random A, a, c and, for each layer, the baseline's A, a, c
    /// with a random B (or zeros with `zeroB`).
    static func probes(for model: any CausalLanguageModel, layers: [Int], zeroB: Bool, seed: UInt64 = 7) throws -> IS.ProbeSet {
        let C = model.shape.hiddenSize, V = model.shape.vocabularySize
        var rng = Xoshiro256StarStar(seed: seed)
        let base = IS.Probe(A: random(C * C, scale: 0.2, rng: &rng), a: random(C, scale: 0.1, rng: &rng), c: random(V, scale: 0.5, rng: &rng))
        let full = layers.map { l -> (layer: Int, probe: IS.Probe) in
            var p = base
            p.B = zeroB ? [Float](repeating: 0, count: C * C) : random(C * C, scale: 0.2, rng: &rng)
            return (l, p)
        }
        return try IS.ProbeSet(hiddenSize: C, vocabularySize: V, epsilon: 1e-5, baseline: base, layers: full)
    }

    static let sequences: [IS.ScoredSequence] = [
        IS.ScoredSequence(ids: [3, 17, 200, 5, 99, 42, 7]),
        IS.ScoredSequence(ids: [11, 12, 13, 14, 15, 16, 17, 18, 19], firstPosition: 2),
        IS.ScoredSequence(ids: [1, 2]),  // too short: no position
        IS.ScoredSequence(ids: [300, 301, 5, 5, 5, 250]),
    ]

    // MARK: hand-computed cases

    func testCrossEntropyOfAHandBuiltProbeEqualsTheHandCalculation() throws {
        // C = 2, V = 3; head rows (1,0), (0,1), (1,1); every value exact in Float32.
        let head = WeightMatrix(rows: 3, columns: 2, values: [1, 0, 0, 1, 1, 1])
        let baseline = IS.Probe(A: [1, 0, 0, 1], a: [0, 0], c: [0, 0, 0.5])
        // e = (1, 0): u = (1, 0), logits = (1, 0, 1.5); target 2.
        let ce = try IS.crossEntropies(probe: baseline, embeddings: [1, 0], hidden: nil, targets: [2], head: head)
        XCTAssertEqual(ce[0], log(M_E + 1 + exp(1.5)) - 1.5, accuracy: 1e-12)
        // With B = diag(0, 0.5) and hidden (0, 2): u = (1, 1), logits = (1, 1, 2.5); target 0.
        var full = baseline
        full.B = [0, 0, 0, 0.5]
        let ceFull = try IS.crossEntropies(probe: full, embeddings: [1, 0], hidden: [0, 2], targets: [0], head: head)
        XCTAssertEqual(ceFull[0], log(2 * M_E + exp(2.5)) - 1, accuracy: 1e-12)
        // The probe's a shifts u: a = (0, −1) with the baseline gives logits (1, −1, 0.5); target 1.
        var shifted = baseline
        shifted.a = [0, -1]
        let ceShifted = try IS.crossEntropies(probe: shifted, embeddings: [1, 0], hidden: nil, targets: [1], head: head)
        XCTAssertEqual(ceShifted[0], log(M_E + exp(-1) + exp(0.5)) + 1, accuracy: 1e-12)
    }

    func testRMSNormalisationHasNoGainAndTheDocumentedEpsilon() {
        let n = IS.rmsNormalized([3, 4, 0, 0], rows: 2, hiddenSize: 2, epsilon: 0)
        let r = 1 / Float(12.5).squareRoot()
        XCTAssertEqual(n[0], 3 * r)
        XCTAssertEqual(n[1], 4 * r)
        let withEps = IS.rmsNormalized([0, 0], rows: 1, hiddenSize: 2, epsilon: 1e-5)
        XCTAssertEqual(withEps, [0, 0])  // a zero vector stays zero, no NaN
    }

    // MARK: properties on synthetic models

    func testProbeWithZeroBGivesSurplusExactlyZero() throws {
        let model = try ProbingTestSupport.tiny(SyntheticModels.tinyA)
        let L = model.shape.layerCount
        let probes = try Self.probes(for: model, layers: Array(0...L), zeroB: true)
        let results = try IS.run(model: model, probes: probes, sequences: Self.sequences, resamples: 200, seed: 3)
        XCTAssertEqual(results.map(\.layer), Array(0...L))
        for r in results {
            XCTAssertEqual(r.surplus, 0, "layer \(r.layer)")
            XCTAssertEqual(r.ceWithHidden, r.ceNextOnly, "layer \(r.layer)")
            XCTAssertEqual(r.ci95.lower, 0)
            XCTAssertEqual(r.ci95.upper, 0)
            XCTAssertEqual(r.positions, 5 + 5 + 0 + 4)
        }
    }

    func testNonZeroBReadsTheHiddenStateOfItsLayer() throws {
        let model = try ProbingTestSupport.tiny(SyntheticModels.tinyB)
        let L = model.shape.layerCount
        let probes = try Self.probes(for: model, layers: [0, L], zeroB: false)
        let ce = try IS.crossEntropies(model: model, probes: probes, sequences: Self.sequences)
        XCTAssertNotEqual(ce.full[0], ce.baseline)
        XCTAssertNotEqual(ce.full[0], ce.full[1])
        // The same probe at two layers differs only through the hidden state it reads.
        var same = probes
        same.layers[1].probe = same.layers[0].probe
        let ce2 = try IS.crossEntropies(model: model, probes: same, sequences: Self.sequences)
        XCTAssertEqual(ce2.full[0], ce.full[0])
        XCTAssertNotEqual(ce2.full[1], ce2.full[0])
    }

    /// The oracle: every position's CE from a direct per-position computation (the hidden state
    /// of a one-layer-at-a-time forward, the naive head product, the log-sum-exp written out).
    func testCrossEntropiesEqualANaivePerPositionComputation() throws {
        let model = try ProbingTestSupport.tiny(SyntheticModels.tinyA)
        let C = model.shape.hiddenSize, V = model.shape.vocabularySize, L = model.shape.layerCount
        let probes = try Self.probes(for: model, layers: [1], zeroB: false)
        let s = Self.sequences[0]
        let ce = try IS.crossEntropies(model: model, probes: probes, sequences: [s])
        let (states, _) = try LogitLens.hiddenStates(model: model, prompt: s.ids)
        XCTAssertEqual(states.count, L + 1)
        let p = probes.layers[0].probe
        for (k, t) in s.positions.enumerated() {
            var e = [Float](repeating: 0, count: C)
            e.withUnsafeMutableBufferPointer { model.embed(token: s.ids[t + 1], into: $0.baseAddress!) }
            var h = Array(states[1][(t * C)..<((t + 1) * C)])
            var ss: Float = 0
            for x in h { ss = ss + x * x }
            let r = 1 / (ss / Float(C) + probes.epsilon).squareRoot()
            h = h.map { 1 * ($0 * r) }
            var u = [Float](repeating: 0, count: C)
            for i in 0..<C {
                var d: Float = 0, dB: Float = 0
                for j in 0..<C { d = d + p.A[i * C + j] * e[j] }
                for j in 0..<C { dB = dB + p.B![i * C + j] * h[j] }
                u[i] = (d + p.a[i]) + dB
            }
            var logits = [Float](repeating: 0, count: V)
            u.withUnsafeBufferPointer { x in logits.withUnsafeMutableBufferPointer { model.outputHead.multiplyNaive(x.baseAddress!, tokens: 1, into: $0.baseAddress!) } }
            let z = zip(logits, p.c).map { $0 + $1 }
            let m = z.max()!
            let lse = log(z.reduce(0.0) { $0 + exp(Double($1) - Double(m)) })
            let expected = lse - (Double(z[s.ids[t + 2]]) - Double(m))
            // The naive sums run left to right; the kernels' dot products use SIMD lanes, so the
            // Float32 logits (magnitude ~20, ulp ~2e-6) may differ in their last bits. An indexing
            // mistake (wrong position, layer or target) would move the CE by O(1).
            XCTAssertEqual(ce.full[0][0][k], expected, accuracy: 1e-5 * max(1, expected), "position \(t)")
        }
    }

    func testResultsDoNotDependOnTheThreadCount() throws {
        let model = try ProbingTestSupport.tiny(SyntheticModels.tinyB)
        let probes = try Self.probes(for: model, layers: [0, 2, model.shape.layerCount], zeroB: false)
        let one = try IS.crossEntropies(model: model, probes: probes, sequences: Self.sequences, pool: ParallelFor(threadCount: 1))
        let three = try IS.crossEntropies(model: model, probes: probes, sequences: Self.sequences, pool: ParallelFor(threadCount: 3))
        XCTAssertEqual(one, three)  // Double equality: bit for bit (no NaN here)
        XCTAssertEqual(try IS.summarize(one, resamples: 100, seed: 1), try IS.summarize(three, resamples: 100, seed: 1))
    }

    func testCrossEntropyOfARowDoesNotDependOnTheBatch() throws {
        let model = try ProbingTestSupport.tiny(SyntheticModels.tinyA)
        let C = model.shape.hiddenSize
        let probes = try Self.probes(for: model, layers: [1], zeroB: false)
        var rng = Xoshiro256StarStar(seed: 11)
        let rows = 9
        let e = Self.random(rows * C, scale: 1, rng: &rng), h = Self.random(rows * C, scale: 1, rng: &rng)
        let targets = (0..<rows).map { ($0 * 37) % model.shape.vocabularySize }
        let p = probes.layers[0].probe
        let batch = try IS.crossEntropies(probe: p, embeddings: e, hidden: h, targets: targets, head: model.outputHead)
        for r in 0..<rows {
            let single = try IS.crossEntropies(probe: p, embeddings: Array(e[(r * C)..<((r + 1) * C)]), hidden: Array(h[(r * C)..<((r + 1) * C)]),
                                               targets: [targets[r]], head: model.outputHead)
            XCTAssertEqual(single[0].bitPattern, batch[r].bitPattern, "row \(r)")
        }
    }

    // MARK: bootstrap

    func testBootstrapIsDeterministicAndItsIntervalContainsTheMean() throws {
        var rng = Xoshiro256StarStar(seed: 5)
        let counts = (0..<40).map { _ in 1 + Int(rng.next() % 50) }
        let diffs = counts.map { Double($0) * (0.3 + Double(rng.nextUniformDouble()) - 0.5) }
        let mean = diffs.reduce(0, +) / Double(counts.reduce(0, +))
        let a = try IS.bootstrap(differenceSums: diffs, counts: counts, resamples: 1000, seed: 20)
        let b = try IS.bootstrap(differenceSums: diffs, counts: counts, resamples: 1000, seed: 20)
        let c = try IS.bootstrap(differenceSums: diffs, counts: counts, resamples: 1000, seed: 21)
        XCTAssertEqual(a.lower.bitPattern, b.lower.bitPattern)
        XCTAssertEqual(a.upper.bitPattern, b.upper.bitPattern)
        XCTAssertNotEqual(a.lower, c.lower)
        XCTAssertLessThan(a.lower, mean)
        XCTAssertGreaterThan(a.upper, mean)
        XCTAssertLessThan(a.upper - a.lower, 0.5)
    }

    func testBootstrapOfEqualSequencesIsTheirCommonRatio() throws {
        let ci = try IS.bootstrap(differenceSums: [1.5, 1.5, 1.5], counts: [3, 3, 3], resamples: 50, seed: 1)
        XCTAssertEqual(ci.lower, 0.5)
        XCTAssertEqual(ci.upper, 0.5)
    }

    /// The draws are the documented ones: index ⌊u · n⌋ from the project's generator, so the first
    /// resample of a one-draw bootstrap picks the index the generator's first uniform gives.
    func testBootstrapDrawsTheDocumentedIndices() throws {
        let n = 7
        var rng = Xoshiro256StarStar(seed: 99)
        var picked: [Int] = []
        for _ in 0..<n { picked.append(Int(rng.nextUniformDouble() * Double(n))) }
        let diffs = (0..<n).map { Double(1 << $0) }  // distinct values
        let ci = try IS.bootstrap(differenceSums: diffs, counts: Array(repeating: 1, count: n), resamples: 1, seed: 99)
        XCTAssertEqual(ci.lower, picked.map { diffs[$0] }.reduce(0, +) / Double(n))
    }

    func testBootstrapRejectsBadInput() {
        XCTAssertThrowsError(try IS.bootstrap(differenceSums: [1], counts: [1], resamples: 0, seed: 1))
        XCTAssertThrowsError(try IS.bootstrap(differenceSums: [], counts: [], resamples: 10, seed: 1))
        XCTAssertThrowsError(try IS.bootstrap(differenceSums: [1, 2], counts: [1], resamples: 10, seed: 1))
    }

    // MARK: the probe file

    func file(_ probes: IS.ProbeSet, metadata: [String: String]? = nil, drop: String? = nil,
              reshape: (String, [Int])? = nil) throws -> SafetensorsFile {
        var tensors: [(name: String, dtype: SafetensorsDType, shape: [Int], values: [Float])] = []
        let C = probes.hiddenSize, V = probes.vocabularySize
        func add(_ name: String, _ shape: [Int], _ v: [Float]) {
            if name == drop { return }
            if let (n, s) = reshape, n == name {
                tensors.append((name, .f32, s, Array(v.prefix(s.reduce(1, *)))))
            } else {
                tensors.append((name, .f32, shape, v))
            }
        }
        add("baseline.A", [C, C], probes.baseline.A)
        add("baseline.a", [C], probes.baseline.a)
        add("baseline.c", [V], probes.baseline.c)
        for (l, p) in probes.layers {
            add("layer.\(l).A", [C, C], p.A)
            add("layer.\(l).B", [C, C], p.B!)
            add("layer.\(l).a", [C], p.a)
            add("layer.\(l).c", [V], p.c)
        }
        let meta = metadata ?? ["hidden_norm": "rms", "epsilon": "1e-05", "layers": probes.layers.map { String($0.layer) }.joined(separator: ",")]
        return try SafetensorsFile(bytes: SafetensorsWriter.bytes(tensors, metadata: meta))
    }

    func testProbeFileRoundTrips() throws {
        let model = try ProbingTestSupport.tiny(SyntheticModels.tinyA)
        let probes = try Self.probes(for: model, layers: [2, 0], zeroB: false)
        let loaded = try IS.loadProbes(file(probes))
        XCTAssertEqual(loaded, probes)
        XCTAssertEqual(loaded.layers.map(\.layer), [0, 2])
    }

    func testLoaderErrorsNameTheKeyOrTensor() throws {
        let model = try ProbingTestSupport.tiny(SyntheticModels.tinyA)
        let probes = try Self.probes(for: model, layers: [1], zeroB: false)
        let C = probes.hiddenSize
        XCTAssertThrowsError(try IS.loadProbes(file(probes, drop: "layer.1.B"))) {
            XCTAssertEqual($0 as? IS.ProbeFileError, .missingTensor("layer.1.B"))
            XCTAssertTrue("\($0)".contains("layer.1.B"))
        }
        XCTAssertThrowsError(try IS.loadProbes(file(probes, reshape: ("layer.1.a", [C - 1])))) {
            XCTAssertEqual($0 as? IS.ProbeFileError, .shape(tensor: "layer.1.a", expected: [C], found: [C - 1]))
        }
        XCTAssertThrowsError(try IS.loadProbes(file(probes, metadata: ["layers": "1", "hidden_norm": "layer"]))) {
            XCTAssertEqual($0 as? IS.ProbeFileError, .badMetadata(key: "hidden_norm", value: "layer"))
        }
        XCTAssertThrowsError(try IS.loadProbes(file(probes, metadata: ["hidden_norm": "rms"]))) {
            XCTAssertEqual($0 as? IS.ProbeFileError, .badMetadata(key: "layers", value: "(missing)"))
        }
        XCTAssertThrowsError(try IS.loadProbes(file(probes, metadata: ["layers": "1", "epsilon": "tiny"]))) {
            XCTAssertEqual($0 as? IS.ProbeFileError, .badMetadata(key: "epsilon", value: "tiny"))
        }
        XCTAssertThrowsError(try IS.loadProbes(file(probes, metadata: ["layers": "1,3"]))) {
            XCTAssertEqual($0 as? IS.ProbeFileError, .missingTensor("layer.3.A"))
        }
        XCTAssertThrowsError(try SafetensorsFile(bytes: Array(SafetensorsWriter.bytes([("baseline.A", .f32, [2, 2], [1, 2, 3, 4])], metadata: [:]).dropLast(3)))) {
            XCTAssertTrue($0 is FormatError)
        }
        // Fitting the model and the requested layers.
        XCTAssertThrowsError(try IS.run(model: model, probes: probes, layers: [0], sequences: Self.sequences)) {
            XCTAssertEqual($0 as? IS.ProbeFileError, .layerNotInFile(layer: 0, available: [1]))
        }
        let other = try ProbingTestSupport.tiny(SyntheticModels.tinyB)
        XCTAssertThrowsError(try IS.run(model: other, probes: probes, sequences: Self.sequences)) {
            guard case .modelMismatch = $0 as? IS.ProbeFileError else { return XCTFail("\($0)") }
        }
        XCTAssertThrowsError(try IS.run(model: model, probes: probes, sequences: [IS.ScoredSequence(ids: [1, 2])])) {
            XCTAssertTrue("\($0)".contains("no position"))
        }
    }

    // MARK: SmolLM2 against the Python peer's figures

    /// Fixtures/surplus/heldout.json holds held-out sequences and the figures
    /// Scripts/information_surplus.py (Hugging Face transformers, Float32, the same dequantised
    /// Q4_1 weights) got on them with the shipped probes. Touchstone's forward differs from
    /// PyTorch's only in summation order (the project's peer target is logits within 2e-3
    /// absolute), which moves a mean cross-entropy of ~3.5–4.5 nats over 2,010 positions far
    /// less than 1e-4 relative (measured when the fixture was made: at most 7e-9); the bootstrap
    /// uses the same generator and draws, so its bounds agree within the same tolerance.
    func testSmolLM2CrossEntropiesAgreeWithThePythonReport() throws {
        let loaded = try ProbingTestSupport.realModel()
        let root = ProbingTestSupport.root
        let heldoutURL = root.appendingPathComponent("Fixtures/surplus/heldout.json")
        let probesPath = root.appendingPathComponent("Weights/smollm2-135m-instruct/surplus-probes.safetensors").path
        let doc = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: heldoutURL)) as? [String: Any])
        let sequences = try XCTUnwrap(doc["sequences"] as? [[String: Any]]).map {
            IS.ScoredSequence(ids: ($0["ids"] as! [NSNumber]).map(\.intValue), firstPosition: ($0["first_position"] as! NSNumber).intValue)
        }
        let expected = try XCTUnwrap(doc["layers"] as? [[String: Any]])
        let probes = try IS.loadProbes(path: probesPath)
        let results = try IS.run(model: loaded.model, probes: probes, sequences: sequences,
                                 resamples: (doc["bootstrap"] as! NSNumber).intValue, seed: (doc["seed"] as! NSNumber).uint64Value)
        XCTAssertEqual(results.map(\.layer), expected.map { ($0["layer"] as! NSNumber).intValue })
        for (r, e) in zip(results, expected) {
            let base = (e["ce_next_only"] as! NSNumber).doubleValue, full = (e["ce_with_hidden"] as! NSNumber).doubleValue
            let ci = (e["ci95"] as! [NSNumber]).map(\.doubleValue)
            XCTAssertEqual(r.positions, (e["positions"] as! NSNumber).intValue)
            XCTAssertEqual(r.ceNextOnly, base, accuracy: 1e-4 * base, "layer \(r.layer)")
            XCTAssertEqual(r.ceWithHidden, full, accuracy: 1e-4 * full, "layer \(r.layer)")
            let tolerance = 1e-4 * (base + full)
            XCTAssertEqual(r.surplus, (e["surplus"] as! NSNumber).doubleValue, accuracy: tolerance, "layer \(r.layer)")
            XCTAssertEqual(r.ci95.lower, ci[0], accuracy: tolerance, "layer \(r.layer)")
            XCTAssertEqual(r.ci95.upper, ci[1], accuracy: tolerance, "layer \(r.layer)")
        }
    }
}

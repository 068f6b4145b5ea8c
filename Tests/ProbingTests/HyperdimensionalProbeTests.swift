import Foundation
import XCTest
import Formats
import Tensors
import Transformer
@testable import Probing

final class HyperdimensionalProbeTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func random(_ seed: UInt64, _ d: Int = 4096) -> Hypervector {
        var rng = Xoshiro256StarStar(seed: seed)
        return Hypervector((0..<d).map { _ in rng.next() >> 63 == 1 ? -1 : 1 })
    }

    // MARK: MAP algebra on random hypervectors

    func testBindingIsSelfInverseAndCommutative() {
        let a = random(1), b = random(2), c = random(3)
        XCTAssertEqual(a.bound(with: b).bound(with: b), a)
        XCTAssertEqual(a.bound(with: b), b.bound(with: a))
        XCTAssertEqual(a.bound(with: b).unbound(by: [c, b, c]), a)
        XCTAssertEqual(a.cosine(a), 1, accuracy: 1e-12)
        XCTAssertEqual(a.cosine(Hypervector(a.components.map { -$0 })), -1, accuracy: 1e-12)
    }

    func testRandomHypervectorsAreNearlyOrthogonal() {
        // |cos| of independent random bipolar vectors has standard deviation 1/√D = 0.0156 at D = 4096;
        // 45 pairs all within 5 standard deviations.
        let vs = (0..<10).map { random(UInt64(100 + $0)) }
        for i in 0..<10 { for j in (i + 1)..<10 { XCTAssertLessThan(abs(vs[i].cosine(vs[j])), 0.08) } }
        // Binding gives a vector dissimilar to its factors.
        XCTAssertLessThan(abs(vs[0].bound(with: vs[1]).cosine(vs[0])), 0.08)
    }

    func testBundleOfTwoPairsStaysSimilarToEachPair() {
        let a = random(11), b = random(12), c = random(13), d = random(14)
        let v = Hypervector.bundle([a.bound(with: b), c.bound(with: d)])
        // With two items, a component is +1 only where both are +1, so cos ≈ 0.5 with each.
        for pair in [a.bound(with: b), c.bound(with: d)] {
            XCTAssertGreaterThan(v.cosine(pair), 0.4)
            XCTAssertLessThan(v.cosine(pair), 0.7)
        }
        // Unbinding by c recovers d well above chance.
        XCTAssertGreaterThan(v.bound(with: c).cosine(d), 0.4)
    }

    func testBundleTieRuleGivesMinusOne() {
        // torchhd MAPTensor.normalize: positive → +1, zero and negative → −1.
        let x = Hypervector([1, 1, -1, -1]), y = Hypervector([1, -1, 1, -1])
        XCTAssertEqual(Hypervector.bundle([x, y]).components, [1, -1, -1, -1])
        XCTAssertEqual(Hypervector.bundle([x, y, y]).components, [1, -1, 1, -1])
        XCTAssertEqual(Hypervector.sign(of: [0.5, -0.25, 0, -0]).components, [1, -1, 0, 0])
    }

    func testCodebookSortsLowercasesAndIsReproducible() throws {
        let book = try Codebook(concepts: ["Paris", "athens", "paris", "Zebra", "ápple"], dimension: 64, seed: 101)
        XCTAssertEqual(book.concepts, ["athens", "paris", "zebra", "ápple"])
        // Rows come from one xoshiro256** stream in row order: row 1 is draws 64..<128.
        var rng = Xoshiro256StarStar(seed: 101)
        let draws = (0..<256).map { _ in rng.next() >> 63 == 1 ? Int8(-1) : 1 }
        XCTAssertEqual(book.vector(for: "PARIS")?.components, Array(draws[64..<128]))
        XCTAssertEqual(try Codebook(concepts: ["paris", "athens", "zebra", "ápple"], dimension: 64).vectors, book.vectors)
        XCTAssertThrowsError(try book.analogyEncoding("athens", "paris", "zebra", "missing"))
    }

    // MARK: k-means

    func testKMeansOnAHandCase() throws {
        // Two clear clusters on a line; started from rows 0 and 1 (both in the first cluster) the
        // second centroid moves to the far cluster: {0, 1, 2} → 1, {10, 11, 12} → 11.
        let rows: [[Float]] = [[0], [1], [2], [10], [11], [12]]
        let c = try ProbeKMeans.centroids(rows: rows, initialRows: [0, 1])
        // Step 1: assign to 0 → {0}, to 1 → {1,2,10,11,12} mean 7.2; step 2: centroids 0, 7.2 → {0,1,2} and
        // {10,11,12}; step 3: 1 and 11, stable.
        XCTAssertEqual(c, [[1], [11]])
        XCTAssertEqual(try ProbeKMeans.inputVector(rows: rows, initialRows: [0, 1]), [12])
        XCTAssertThrowsError(try ProbeKMeans.centroids(rows: rows, initialRows: [0, 0]))
        XCTAssertThrowsError(try ProbeKMeans.centroids(rows: rows, initialRows: [9]))
        XCTAssertEqual(ProbeKMeans.defaultInitialRows(count: 16), [15, 8, 5, 0, 11])
        XCTAssertEqual(ProbeKMeans.defaultInitialRows(count: 7), [0, 1, 2, 3, 4])
    }

    // MARK: encoder

    func testEncoderMatchesANaiveComputationAndIsThreadInvariant() throws {
        var rng = Xoshiro256StarStar(seed: 5)
        func values(_ n: Int) -> [Float] { (0..<n).map { _ in rng.nextUniformFloat() - 0.5 } }
        let w0 = values(24 * 10), b0 = values(24), w1 = values(40 * 24), b1 = values(40)
        let encoder = try VSAEncoder(layers: [(w0, b0, 24, 10), (w1, b1, 40, 24)])
        let x = values(10)
        var h = [Double](repeating: 0, count: 24)
        for i in 0..<24 { h[i] = max(0, (0..<10).reduce(Double(b0[i])) { $0 + Double(w0[i * 10 + $1]) * Double(x[$1]) }) }
        let naive = (0..<40).map { i in (0..<24).reduce(Double(b1[i])) { $0 + Double(w1[i * 24 + $1]) * h[$1] } }
        let out = try encoder.forward(x)
        for i in 0..<40 { XCTAssertEqual(Double(out[i]), naive[i], accuracy: 1e-5) }
        XCTAssertEqual(try encoder.forward(x, pool: ParallelFor(threadCount: 1)), try encoder.forward(x, pool: ParallelFor(threadCount: 3)))
        XCTAssertThrowsError(try VSAEncoder(layers: [(w0, b0, 24, 10), (w1, b1, 40, 23)]))
        XCTAssertThrowsError(try encoder.forward(values(9)))
    }

    func testEncoderFileErrorsNameTheProblem() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vsa-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent("bad.safetensors").path
        try SafetensorsWriter.write([(name: "layers.0.weight", dtype: .f32, shape: [2, 3], values: [Float](repeating: 0, count: 6))], metadata: [:], to: path)
        XCTAssertThrowsError(try VSAEncoder(path: path)) { XCTAssertTrue("\($0)".contains("layers.0.bias"), "\($0)") }
        try SafetensorsWriter.write([(name: "other", dtype: .f32, shape: [1], values: [0])], metadata: [:], to: path)
        XCTAssertThrowsError(try VSAEncoder(path: path)) { XCTAssertTrue("\($0)".contains("layers.0.weight"), "\($0)") }
    }

    // MARK: read-out

    func testReadoutsRecoverTheAnswerOfAnExactEncoding() throws {
        let words = ["athens", "greece", "baghdad", "iraq", "paris", "france", "tokyo", "japan"]
        let book = try Codebook(concepts: words, dimension: 4096)
        let probe = try VSAProbe(encoder: try VSAEncoder(layers: [([Float](repeating: 0, count: 4096 * 2), [Float](repeating: 0, count: 4096), 4096, 2)]),
                                 codebook: book, layers: 0...4, kmeansK: 2)
        let vsa = try book.analogyEncoding("athens", "greece", "baghdad", "iraq")
        let reference = probe.referenceReadout(vsa, context: ["athens", "greece", "baghdad"], target: "iraq")
        XCTAssertEqual(reference.extracted, "iraq")
        XCTAssertEqual(probe.blindReadout(vsa, context: ["athens", "greece", "baghdad"]).extracted, "iraq")
        // The raw encoding is near none of the single concepts, so the chosen query unbinds something.
        XCTAssertFalse(reference.query.isEmpty)
    }

    func testCombinationsFollowItertoolsOrder() {
        XCTAssertEqual(combinations(4, 2), [[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]])
        XCTAssertEqual(combinations(3, 0), [[]])
        XCTAssertEqual(combinations(2, 3), [])
    }

    // MARK: the shipped encoder against the training script (SmolLM2)

    func testShippedEncoderAgreesWithThePythonPeer() throws {
        let weights = Self.root.appendingPathComponent("Weights/smollm2-135m-instruct/vsa-probe.safetensors").path
        let peerPath = Self.root.appendingPathComponent("Fixtures/vsa/peer.json")
        guard FileManager.default.fileExists(atPath: weights) else { throw XCTSkip("no shipped VSA encoder") }
        let loaded = try ProbingTestSupport.realModel()
        let probe = try VSAProbe(path: weights, model: loaded.model)
        let peer = try JSONSerialization.jsonObject(with: Data(contentsOf: peerPath)) as! [String: Any]
        let cases = peer["cases"] as! [[String: Any]]
        XCTAssertGreaterThanOrEqual(cases.count, 10)
        var maxInputDifference: Float = 0
        for c in cases {
            let ids = c["prompt_ids"] as! [Int]
            let (input, _) = try probe.inputVector(model: loaded.model, prompt: ids)
            let expected = (c["input"] as! [Double]).map(Float.init)
            let scale = expected.map(abs).max()!
            for (a, b) in zip(input, expected) { maxInputDifference = max(maxInputDifference, abs(a - b) / scale) }
            let vsa = try probe.encoder.encode(input)
            // Components whose pre-sign value is this close to 0 could flip between the two backends.
            let sum = vsa.components.reduce(0) { $0 + Int($1) }
            XCTAssertEqual(Double(sum), Double(c["hypervector_sign_sum"] as! Int), accuracy: 8, "\(c["prompt"]!)")
            let context = c["context"] as! [String], target = c["target"] as! String
            XCTAssertEqual(probe.referenceReadout(vsa, context: context, target: target).extracted, c["reference_readout"] as! String, "\(c["prompt"]!)")
            XCTAssertEqual(probe.blindReadout(vsa, context: context).extracted, c["blind_readout"] as! String, "\(c["prompt"]!)")
        }
        // Hidden states agree with transformers' to about 1e-5 relative; k-means and the sum keep that.
        XCTAssertLessThan(maxInputDifference, 1e-3)
    }
}

import Foundation
import XCTest
import Formats
import Tensors
import Transformer
@testable import Probing

final class SparseAutoencoderTests: XCTestCase {
    /// A seeded random autoencoder with odd sizes.
    static func random(d: Int = 37, n: Int = 53, activation: SparseAutoencoder.Activation, seed: UInt64 = 7,
                       aip: AtomicInnerProduct? = nil) throws -> SparseAutoencoder {
        var g = Xoshiro256StarStar(seed: seed)
        func values(_ count: Int, _ scale: Float) -> [Float] { (0..<count).map { _ in (g.nextUniformFloat() * 2 - 1) * scale } }
        return try SparseAutoencoder(inputSize: d, atomCount: n, activation: activation, encoder: values(n * d, 0.5), encoderBias: values(n, 0.2),
                                     decoder: values(d * n, 0.5), decoderBias: values(d, 0.3), threshold: values(n, 0.4).map { abs($0) },
                                     innerProduct: aip, metadata: ["layer": "1"])
    }

    /// The scalar oracle: every formula written out, sums left to right.
    static func naive(_ sae: SparseAutoencoder, _ x: [Float], rows: Int) -> (z: [Float], xHat: [Float]) {
        let d = sae.inputSize, n = sae.atomCount
        var z = [Float](repeating: 0, count: rows * n), xHat = [Float](repeating: 0, count: rows * d)
        for t in 0..<rows {
            for i in 0..<n {
                var s: Float = 0
                for j in 0..<d { s = s + sae.encoder.element(row: i, column: j) * (x[t * d + j] - sae.decoderBias[j]) }
                let a = s + sae.encoderBias[i], theta = sae.threshold[i]
                switch sae.activation {
                case .jumprelu: z[t * n + i] = a > theta ? a : 0
                case .shiftedReLU: z[t * n + i] = a - theta > 0 ? a - theta : 0
                case .relu: z[t * n + i] = a > 0 ? a : 0
                }
            }
            for j in 0..<d {
                var s: Float = 0
                for i in 0..<n { s = s + sae.decoder.element(row: j, column: i) * z[t * n + i] }
                xHat[t * d + j] = s + sae.decoderBias[j]
            }
        }
        return (z, xHat)
    }

    func testForwardEqualsANaiveScalarImplementationBitForBitAndIsThreadCountInvariant() throws {
        let one = ParallelFor(threadCount: 1), three = ParallelFor(threadCount: 3)
        defer { one.shutdown(); three.shutdown() }
        var g = Xoshiro256StarStar(seed: 11)
        for activation in SparseAutoencoder.Activation.allCases {
            let sae = try Self.random(activation: activation)
            for rows in [1, 5, 17] {
                let x = (0..<(rows * sae.inputSize)).map { _ in g.nextUniformFloat() * 4 - 2 }
                let a = try sae.forward(x, rows: rows, pool: one), b = try sae.forward(x, rows: rows, pool: three)
                XCTAssertEqual(a, b, "\(activation) rows \(rows)")
                let (z, xHat) = Self.naive(sae, x, rows: rows)
                XCTAssertEqual(a.activations.map(\.bitPattern), z.map(\.bitPattern), "\(activation) rows \(rows)")
                XCTAssertEqual(a.reconstruction.map(\.bitPattern), xHat.map(\.bitPattern), "\(activation) rows \(rows)")
                // Batch invariance: each row alone gives the same values.
                let last = try sae.forward(Array(x[((rows - 1) * sae.inputSize)...]), rows: 1, pool: one)
                XCTAssertEqual(last.reconstruction, Array(a.reconstruction[((rows - 1) * sae.inputSize)...]))
                XCTAssertGreaterThan(z.filter { $0 > 0 }.count, 0)
                XCTAssertGreaterThan(z.filter { $0 == 0 }.count, 0)
            }
        }
    }

    /// Hand-checked: one atom, d = 1, W_e = 1, b_e = 0, b_d = 0, θ = 1: a = x.
    func testThresholdsBehaveAsNamed() throws {
        func z(_ activation: SparseAutoencoder.Activation, _ x: Float) throws -> Float {
            let sae = try SparseAutoencoder(inputSize: 1, atomCount: 1, activation: activation, encoder: [1], encoderBias: [0],
                                            decoder: [2], decoderBias: [0], threshold: [1])
            return try sae.forward([x], rows: 1).activations[0]
        }
        XCTAssertEqual(try z(.jumprelu, 0.5), 0); XCTAssertEqual(try z(.jumprelu, 1), 0); XCTAssertEqual(try z(.jumprelu, 1.5), 1.5)
        XCTAssertEqual(try z(.shiftedReLU, 0.5), 0); XCTAssertEqual(try z(.shiftedReLU, 1), 0); XCTAssertEqual(try z(.shiftedReLU, 1.5), 0.5)
        XCTAssertEqual(try z(.relu, 0.5), 0.5); XCTAssertEqual(try z(.relu, -0.5), 0); XCTAssertEqual(try z(.relu, 1.5), 1.5)
        // Atoms: z > 0, by z descending, ties to the lower index.
        let atoms = SparseAutoencoder.atoms([0, 2, 0.5, 2, -1][...])
        XCTAssertEqual(atoms.map(\.index), [1, 3, 2])
    }

    func testAtomicInnerProductWithIdentityAndNoShiftIsTheDotProduct() throws {
        var g = Xoshiro256StarStar(seed: 3)
        let d = 41
        let x = (0..<d).map { _ in g.nextUniformFloat() - 0.5 }, y = (0..<d).map { _ in g.nextUniformFloat() - 0.5 }
        let dot = x.withUnsafeBufferPointer { a in y.withUnsafeBufferPointer { b in Kernels.dot(a.baseAddress!, b.baseAddress!, count: d) } }
        var identity = [Float](repeating: 0, count: d * d)
        for j in 0..<d { identity[j * d + j] = 1 }
        for form in [AtomicInnerProduct.Form.identity, .full(identity), .diagonalPlusLowRank(diagonal: [Float](repeating: 1, count: d), factor: nil, rank: 0)] {
            XCTAssertEqual(AtomicInnerProduct(dimension: d, form: form)(x, y).bitPattern, dot.bitPattern, "\(form)")
            XCTAssertEqual(AtomicInnerProduct(dimension: d, shift: [Float](repeating: 0, count: d), form: form)(x, y).bitPattern, dot.bitPattern)
        }
        // A non-trivial form: μ shifts, and A = FᵀF with F = 2·e_0 gives 4 (x_0 − μ_0)(y_0 − μ_0).
        var f = [Float](repeating: 0, count: d); f[0] = 2
        let mu = [Float](repeating: 0.25, count: d)
        let aip = AtomicInnerProduct(dimension: d, shift: mu, form: .diagonalPlusLowRank(diagonal: nil, factor: f, rank: 1))
        XCTAssertEqual(aip(x, y), (2 * (x[0] - 0.25)) * (2 * (y[0] - 0.25)))
    }

    func testFileRoundTripsAndLoaderErrorsNameTheKeyOrShape() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sae-tests-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let sae = try Self.random(activation: .shiftedReLU, aip: AtomicInnerProduct(dimension: 37, shift: [Float](repeating: 0.5, count: 37)))
        let path = dir.appendingPathComponent("ok.safetensors").path
        try sae.write(to: path)
        let back = try SparseAutoencoder.load(path: path)
        XCTAssertEqual(back.activation, .shiftedReLU)
        XCTAssertEqual(back.layer, 1)
        XCTAssertEqual(back.innerProduct, sae.innerProduct)
        let x = [Float](repeating: 0.3, count: 37)
        XCTAssertEqual(try back.forward(x, rows: 1), try sae.forward(x, rows: 1))

        var tensors = sae.tensors()
        func expectError(_ tensors: [(name: String, dtype: SafetensorsDType, shape: [Int], values: [Float])], _ metadata: [String: String],
                         _ message: String, line: UInt = #line) throws {
            let p = dir.appendingPathComponent("bad.safetensors").path
            try SafetensorsWriter.write(tensors, metadata: metadata, to: p)
            XCTAssertThrowsError(try SparseAutoencoder.load(path: p), line: line) { e in
                XCTAssert(String(describing: e).contains(message), "\(e)", line: line)
            }
        }
        let meta = ["activation": "shifted-relu"]
        try expectError(tensors, [:], "no \"activation\"")
        try expectError(tensors, ["activation": "gelu"], "expected jumprelu, shifted-relu, relu")
        try expectError(tensors, ["activation": "relu", "layer": "-2"], "\"layer\"")
        try expectError(tensors.filter { $0.name != "theta" }, meta, "no tensor theta (expected shape [53])")
        try expectError(tensors.filter { $0.name != "W_d" }, meta, "no tensor W_d")
        tensors[tensors.firstIndex { $0.name == "b_d" }!].shape = [1, 37]
        try expectError(tensors, meta, "tensor b_d has shape [1, 37], expected [37]")
        tensors = sae.tensors()
        try expectError(tensors + [("aip_a", .f32, [1], [1])], meta, "unexpected tensor aip_a")
        try expectError(tensors + [("aip_A", .f32, [37, 37], [Float](repeating: 0, count: 37 * 37)), ("aip_diag", .f32, [37], [Float](repeating: 1, count: 37))],
                        meta, "cannot be combined")
        var nan = tensors; nan[0].values[3] = .nan
        try expectError(nan, meta, "non-finite value")
        XCTAssertThrowsError(try SparseAutoencoder.load(path: dir.appendingPathComponent("missing.safetensors").path))
        XCTAssertThrowsError(try sae.forward([Float](repeating: .infinity, count: 37), rows: 1))
    }

    /// The shipped TSAE on SmolLM2: Touchstone's R² on the peer prompt matches the figure
    /// `Scripts/train_sae.py peer` computed from Hugging Face's hidden states (a peer fixture).
    func testShippedAutoencoderReconstructsThePeerPromptAsThePeerMeasured() throws {
        let root = ProbingTestSupport.root
        let file = root.appendingPathComponent("Weights/smollm2-135m-instruct/tsae-layer15.safetensors").path
        let reference = try JSONSerialization.jsonObject(with: Data(contentsOf: root.appendingPathComponent("Fixtures/peer/atoms/reference.json"))) as! [String: Any]
        let model = try ProbingTestSupport.realModel().model
        let sae = try SparseAutoencoder.load(path: file)
        let ids = reference["prompt_ids"] as! [Int]
        let report = try AtomReadout.run(model: model, autoencoder: sae, prompt: ids, layer: sae.layer!, top: 1, lensTop: 1)
        let peer = reference["r2_from_position_1"] as! Double
        let r2 = try XCTUnwrap(report.r2)
        XCTAssertEqual(r2, peer, accuracy: 1e-3)
        XCTAssertGreaterThan(r2, 0.3)     // the peer's figure is 0.3406 (one short prompt, R² about its own mean)
        XCTAssertEqual(report.positions.map(\.l0), reference["l0"] as! [Int])
    }
}

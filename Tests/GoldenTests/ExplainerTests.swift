import Foundation
import XCTest
import Formats
import Transformer
@testable import Golden

/// `.npy` files: written like `numpy.save`, read back bit for bit.
final class NPYTests: XCTestCase {
    /// `numpy.save(f, (numpy.arange(12, dtype=numpy.float32) * 0.5).reshape(3, 4))` and
    /// `numpy.save(f, numpy.array([1.5, -2], dtype=numpy.float32))`, written by numpy 2.4.6.
    static let numpyMatrix = "934e554d5059010076007b276465736372273a20273c6634272c2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a2028332c2034292c207d202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020200a000000000000003f0000803f0000c03f0000004000002040000040400000604000008040000090400000a0400000b040"
    static let numpyVector = "934e554d5059010076007b276465736372273a20273c6634272c2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a2028322c292c207d2020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020200a0000c03f000000c0"

    static func bytes(_ hex: String) -> Data {
        var data = Data()
        var i = hex.startIndex
        while i < hex.endIndex {
            let j = hex.index(i, offsetBy: 2)
            data.append(UInt8(hex[i..<j], radix: 16)!)
            i = j
        }
        return data
    }

    func testEncodingIsByteIdenticalToNumpySave() {
        XCTAssertEqual(NPY.encode((0..<12).map { Float($0) * 0.5 }, shape: [3, 4]), Self.bytes(Self.numpyMatrix))
        XCTAssertEqual(NPY.encode([1.5, -2], shape: [2]), Self.bytes(Self.numpyVector))
    }

    func testDecodingReadsNumpysFiles() throws {
        let m = try NPY.decode(Self.bytes(Self.numpyMatrix), name: "m.npy")
        XCTAssertEqual(m.shape, [3, 4])
        XCTAssertEqual(m.values, (0..<12).map { Float($0) * 0.5 })
        let v = try NPY.decode(Self.bytes(Self.numpyVector), name: "v.npy")
        XCTAssertEqual(v.shape, [2])
        XCTAssertEqual(v.values, [1.5, -2])
    }

    func testRoundTripKeepsEveryBitPatternAndShapeWithAlignedHeaders() throws {
        var state: UInt64 = 71  // SplitMix64: arbitrary bit patterns, fixed seed
        func next() -> UInt64 {
            state &+= 0x9E3779B97F4A7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
            z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
            return z ^ (z >> 31)
        }
        let specials: [Float] = [.nan, -.nan, .infinity, -.infinity, -0.0, 0, .leastNonzeroMagnitude, .greatestFiniteMagnitude, -1e-40]
        for shape in [[], [1], [7], [3, 5], [1, 1025], [2, 3, 4], [0, 4]] {
            let count = shape.reduce(1, *)
            var values = (0..<count).map { _ in Float(bitPattern: UInt32(truncatingIfNeeded: next())) }
            for (i, s) in specials.enumerated() where i < count { values[i] = s }
            let data = NPY.encode(values, shape: shape)
            let headerLength = Int(data[8]) | Int(data[9]) << 8
            XCTAssertEqual((10 + headerLength) % 64, 0, "header of \(shape) is 64-byte aligned")
            XCTAssertEqual(data[10 + headerLength - 1], UInt8(ascii: "\n"))
            XCTAssertEqual(data.count, 10 + headerLength + 4 * count)
            let back = try NPY.decode(data, name: "x.npy")
            XCTAssertEqual(back.shape, shape)
            XCTAssertEqual(back.values.map(\.bitPattern), values.map(\.bitPattern), "\(shape)")
        }
    }

    func testMalformedFilesAreErrorsThatSayWhatIsWrong() {
        func message(_ data: Data) -> String {
            do { _ = try NPY.decode(data, name: "bad.npy"); return "no error" } catch { return "\(error)" }
        }
        let good = NPY.encode([1, 2, 3], shape: [3])
        XCTAssertTrue(message(Data("hello".utf8)).contains("not a .npy file"))
        XCTAssertTrue(message(good.dropLast(2)).contains("truncated"))
        func editHeader(_ from: String, _ to: String) -> Data {
            var bytes = [UInt8](good)
            let header = String(decoding: bytes[10..<128], as: UTF8.self).replacingOccurrences(of: from, with: to)
            bytes.replaceSubrange(10..<128, with: Array(header.utf8))
            return Data(bytes)
        }
        XCTAssertTrue(message(editHeader("<f4", "<f8")).contains("'<f8'"), message(editHeader("<f4", "<f8")))
        XCTAssertTrue(message(editHeader("False", "True ")).contains("Fortran"), message(editHeader("False", "True ")))
    }
}

/// The dump format and the explainer, on synthetic models with injected faults.
final class ExplainerTests: XCTestCase {
    static let identity: JSONValue = .object([("origin", .string("test"))])

    /// tiny-a's configuration with `change` applied, built from tiny-a's seed, and with
    /// `edit` applied to its Hugging Face tensors.
    func model(_ change: (inout LlamaConfiguration) -> Void = { _ in },
               edit: (String, inout [Float]) -> Void = { _, _ in }) throws -> LlamaModel {
        var c = SyntheticModels.tinyA.configuration
        change(&c)
        var tensors: [String: (shape: [Int], values: [Float])] = [:]
        // The weights do not depend on RoPE theta or epsilon; a changed layer count changes them.
        for t in SyntheticModels.huggingFaceTensors(configuration: c, seed: SyntheticModels.tinyA.seed) {
            var v = t.values
            edit(t.name, &v)
            tensors[t.name] = (t.shape, v)
        }
        return try LlamaModel(configuration: c, huggingFaceTensors: { name in
            guard let t = tensors[name] else { throw ModelError.missingTensor(name) }
            return t
        }, origin: "test")
    }

    let prompt = [5, 17, 300, 42, 9, 128, 77]

    func dump(_ m: LlamaModel, layer: Int? = 0) throws -> ActivationDump {
        try ActivationDump.record(model: m, prompt: prompt, identity: Self.identity, intermediatesOfLayer: layer)
    }

    func jump(_ r: Explainer.Report) -> String? { r.firstJump.map { r.comparisons[$0].name } }
    func firstDifference(_ r: Explainer.Report) -> String? { r.firstDifference.map { r.comparisons[$0].name } }

    func testDumpListsEveryLayerAndOneLayersIntermediatesInForwardOrder() throws {
        let m = try model()
        let d = try dump(m, layer: 1)
        var expected = ["embeddings", "blk.0.output"]
        expected += LlamaModel.intermediateDescriptions.map { "blk.1.\($0.name)" }
        expected += ["blk.1.output", "final_norm", "logits"]
        XCTAssertEqual(d.entries.map(\.name), expected)
        XCTAssertEqual(d.entry(named: "blk.1.q")?.layer, 1)
        XCTAssertEqual(d.entry(named: "embeddings")?.hiddenStateIndex, 0)
        XCTAssertEqual(d.entry(named: "blk.0.output")?.hiddenStateIndex, 1)
        XCTAssertNil(d.entry(named: "blk.1.output")?.hiddenStateIndex, "transformers' last hidden state is normalized")
        XCTAssertEqual(d.entry(named: "final_norm")?.hiddenStateIndex, 2)
        // The logits in the dump are the model's logits for every position.
        let direct = try m.forward(tokens: prompt, cache: m.makeCache(), logitRows: .all)
        XCTAssertEqual(d.entry(named: "logits")?.values.map(\.bitPattern), direct.logits.map(\.bitPattern))
        XCTAssertEqual(d.entry(named: "logits")?.shape, [prompt.count, m.configuration.vocabularySize])
    }

    func testWrittenDumpReadsBackBitForBit() throws {
        let d = try dump(try model(), layer: 1)
        let dir = NSTemporaryDirectory() + "touchstone-activations-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try d.write(to: dir)
        let back = try ActivationDump(directory: dir)
        XCTAssertEqual(back.promptIDs, prompt)
        XCTAssertEqual(back.intermediatesLayer, 1)
        XCTAssertEqual(back.model, Self.identity)
        XCTAssertEqual(back.entries.count, d.entries.count)
        for (a, b) in zip(d.entries, back.entries) {
            XCTAssertEqual(a.name, b.name)
            XCTAssertEqual(a.shape, b.shape)
            XCTAssertEqual(a.layer, b.layer)
            XCTAssertEqual(a.hiddenStateIndex, b.hiddenStateIndex)
            XCTAssertEqual(a.operation, b.operation)
            XCTAssertEqual(a.values.map(\.bitPattern), b.values.map(\.bitPattern), a.name)
        }
    }

    func testAMinimalManifestFromAnotherBackendIsReadAndAWrongShapeIsAnError() throws {
        let dir = NSTemporaryDirectory() + "touchstone-activations-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try NPY.encode([1, 2, 3, 4, 5, 6], shape: [2, 3]).write(to: URL(fileURLWithPath: dir + "/e.npy"))
        try Data(#"{"arrays": [{"name": "embeddings", "file": "e.npy", "shape": [2, 3]}]}"#.utf8).write(to: URL(fileURLWithPath: dir + "/manifest.json"))
        let d = try ActivationDump(directory: dir)
        XCTAssertEqual(d.entries.map(\.name), ["embeddings"])
        XCTAssertEqual(d.entries[0].values, [1, 2, 3, 4, 5, 6])
        try Data(#"{"arrays": [{"name": "embeddings", "file": "e.npy", "shape": [3, 2]}]}"#.utf8).write(to: URL(fileURLWithPath: dir + "/manifest.json"))
        XCTAssertThrowsError(try ActivationDump(directory: dir)) { XCTAssertTrue("\($0)".contains("arrays[0].shape"), "\($0)") }
        try Data(#"{"arrays": [{"name": "embeddings", "file": "e.npy"}]}"#.utf8).write(to: URL(fileURLWithPath: dir + "/manifest.json"))
        XCTAssertThrowsError(try ActivationDump(directory: dir)) { XCTAssertTrue("\($0)".contains("arrays[0].shape"), "\($0)") }
        XCTAssertThrowsError(try ActivationDump(directory: dir + "/nowhere")) { XCTAssertTrue("\($0)".contains("manifest.json"), "\($0)") }
    }

    func testErrorsAreMaxAbsAndNormalizedMSEByHand() {
        let e = Explainer.errors(reference: [3, 4], candidate: [3, 5])
        XCTAssertEqual(e.maxAbs, 1)
        XCTAssertEqual(e.normalizedMSE, 1.0 / 25.0)
        XCTAssertEqual(e.worstIndex, 1)
        let same = Explainer.errors(reference: [1, .nan, -0.0], candidate: [1, .nan, -0.0])
        XCTAssertEqual(same.maxAbs, 0)
        XCTAssertEqual(same.normalizedMSE, 0)
        XCTAssertNil(same.worstIndex)
        XCTAssertEqual(Explainer.errors(reference: [1, 2], candidate: [1, .nan]).normalizedMSE, .infinity)
        XCTAssertEqual(Explainer.errors(reference: [0, 0], candidate: [0, 1e-30]).normalizedMSE, .infinity)
        XCTAssertEqual(Explainer.errors(reference: [0, 0], candidate: [0, 0]).normalizedMSE, 0)
    }

    /// Hand-made dumps: one array per normalized MSE in `errors` (reference [1, 0, 0, 0]).
    func handMade(_ errors: [Double]) -> (ActivationDump, ActivationDump) {
        var r: [ActivationDump.Entry] = [], c: [ActivationDump.Entry] = []
        for (i, e) in errors.enumerated() {
            r.append(.init(name: "a\(i)", shape: [1, 4], values: [1, 0, 0, 0]))
            c.append(.init(name: "a\(i)", shape: [1, 4], values: [1, Float(e.squareRoot()), 0, 0]))
        }
        return (ActivationDump(model: .null, promptIDs: [], intermediatesLayer: nil, entries: r),
                ActivationDump(model: .null, promptIDs: [], intermediatesLayer: nil, entries: c))
    }

    func testJumpRuleNeedsTheFloorAndTheRatioAndIgnoresGradualGrowth() {
        func jumpIndex(_ errors: [Double], _ rule: Explainer.Rule = .init()) -> Int? {
            let (r, c) = handMade(errors)
            return Explainer.explain(reference: r, candidate: c, rule: rule).firstJump
        }
        XCTAssertNil(jumpIndex((2...14).reversed().map { pow(10, -Double($0)) }), "10× per array never jumps")
        XCTAssertEqual(jumpIndex([1e-14, 1e-12, 1e-10, 1e-8, 1.5e-6]), 4, "150× the one before, above the floor")
        XCTAssertEqual(jumpIndex([0, 0, 1e-3, 1e-2]), 2, "from exact to 1e-3")
        XCTAssertEqual(jumpIndex([1e-14, 1e-13, 1e-4, 1e-3]), 2)
        XCTAssertNil(jumpIndex([0, 1e-7, 0]), "below the floor")
        XCTAssertEqual(jumpIndex([0, 1e-7, 0], Explainer.Rule(floor: 1e-8)), 1)
        XCTAssertEqual(jumpIndex([1e-5, 1e-4]), 0, "the first array is measured against 0")
        XCTAssertEqual(jumpIndex([1e-7, 5e-6, 1e-3]), 2, "5e-6 is above the floor but only 50× the one before")
    }

    func testIdenticalDumpsReportZeroErrorAndNoJump() throws {
        let d = try dump(try model())
        let report = Explainer.explain(reference: d, candidate: try dump(try model()))
        XCTAssertEqual(report.comparedCount, d.entries.count)
        XCTAssertTrue(report.comparisons.allSatisfy { $0.maxAbsError == 0 && $0.normalizedMSE == 0 })
        XCTAssertNil(report.firstJump)
        XCTAssertNil(report.firstDifference)
        XCTAssertTrue(report.passes)
        XCTAssertTrue(report.notes.isEmpty, "\(report.notes)")
    }

    func testWrongRoPEBaseJumpsAtQAfterRoPEOfTheFirstLayer() throws {
        let reference = try dump(try model())
        let candidate = try dump(try model { $0.ropeTheta = 1000 })
        let report = Explainer.explain(reference: reference, candidate: candidate)
        XCTAssertEqual(jump(report), "blk.0.q", report.lines.joined(separator: "\n"))
        XCTAssertEqual(firstDifference(report), "blk.0.q")
        XCTAssertFalse(report.passes)
        XCTAssertTrue(report.jumpSummary.contains("RoPE"), report.jumpSummary)
        // Every array before it is exact: the projections feed RoPE unchanged.
        for c in report.comparisons.prefix(report.firstJump!) { XCTAssertEqual(c.maxAbsError, 0, c.name) }
        // Position 0 is not rotated, so the worst element is in a later token.
        let q = report.comparisons[report.firstJump!]
        XCTAssertGreaterThanOrEqual(q.worstIndex! / q.shape[1], 1)
    }

    func testWrongRMSNormEpsilonJumpsAtTheAttentionNormOfLayer0() throws {
        let reference = try dump(try model())
        let report = Explainer.explain(reference: reference, candidate: try dump(try model { $0.rmsNormEpsilon = 1e-2 }))
        XCTAssertEqual(jump(report), "blk.0.attn_norm", report.lines.joined(separator: "\n"))
        XCTAssertEqual(report.comparisons[0].name, "embeddings")
        XCTAssertEqual(report.comparisons[0].maxAbsError, 0)
    }

    /// `validate()` refuses an epsilon of 0, so "missing" is the least positive Float, which
    /// adds nothing to mean(x²). The change (ε/(2·mean x²) ≈ 1.5e-5 relative for unit-scale
    /// activations, normalized MSE ≈ 2e-10) is below the default floor: the first difference
    /// names it, and so does the jump rule with a floor for bit-exact ports.
    func testMissingRMSNormEpsilonIsTheFirstDifferenceAndJumpsAboveALowFloor() throws {
        let reference = try dump(try model())
        let candidate = try dump(try model { $0.rmsNormEpsilon = .leastNonzeroMagnitude })
        let report = Explainer.explain(reference: reference, candidate: candidate)
        XCTAssertEqual(firstDifference(report), "blk.0.attn_norm", report.lines.joined(separator: "\n"))
        let strict = Explainer.explain(reference: reference, candidate: candidate, rule: .init(floor: 1e-12))
        XCTAssertEqual(jump(strict), "blk.0.attn_norm", strict.lines.joined(separator: "\n"))
    }

    func testPerturbedLayer3GateWeightJumpsAtGateOrAtLayer3sOutput() throws {
        let fiveLayers: (inout LlamaConfiguration) -> Void = { $0.layerCount = 5 }
        let reference = try model(fiveLayers)
        let faulty = try model(fiveLayers) { name, values in
            // A quarter of the gate rows 10% too large, as a wrong scale of one block would be.
            if name == "model.layers.3.mlp.gate_proj.weight" { for i in 0..<(values.count / 4) { values[i] *= 1.1 } }
        }
        let atLayer3 = Explainer.explain(reference: try dump(reference, layer: 3), candidate: try dump(faulty, layer: 3))
        XCTAssertEqual(jump(atLayer3), "blk.3.gate", atLayer3.lines.joined(separator: "\n"))
        XCTAssertEqual(firstDifference(atLayer3), "blk.3.gate")
        let perLayer = Explainer.explain(reference: try dump(reference, layer: 0), candidate: try dump(faulty, layer: 0))
        XCTAssertEqual(jump(perLayer), "blk.3.output", perLayer.lines.joined(separator: "\n"))
        let onlyLayers = Explainer.explain(reference: try dump(reference, layer: nil), candidate: try dump(faulty, layer: nil))
        XCTAssertEqual(jump(onlyLayers), "blk.3.output")
    }

    func testMissingArraysAreSkippedAndNotedAndAShapeMismatchFails() throws {
        let reference = try dump(try model())
        var partial = try dump(try model { $0.ropeTheta = 1000 })
        partial.entries.removeAll { $0.name.hasPrefix("blk.0.") && $0.name != "blk.0.output" }
        let report = Explainer.explain(reference: reference, candidate: partial)
        XCTAssertEqual(jump(report), "blk.0.output", "without intermediates the fault shows in the layer's output")
        XCTAssertTrue(report.notes.contains { $0.contains("missing from the candidate") }, "\(report.notes)")
        var reshaped = reference
        reshaped.entries[1].shape = [1, reshaped.entries[1].values.count]
        let mismatch = Explainer.explain(reference: reference, candidate: reshaped)
        XCTAssertEqual(mismatch.comparisons[1].status, .shapeMismatch)
        XCTAssertNil(mismatch.firstJump)
        XCTAssertFalse(mismatch.passes)
    }
}

import Foundation
import XCTest
import Formats
import Tensors
import Transformer

/// Gemma 3 on seeded tiny models (no download): the sliding window, the embedding scale, the
/// norm multiplier, and D2/D3 with local and global layers.
final class Gemma3Tests: XCTestCase {
    /// C 32, F 64, H 2, KVH 1, hd 24 (H·hd = 48 ≠ C), V 96, window 4; with `pattern` 2 layer 0 is
    /// local and layer 1 global.
    static func configuration(layers: Int = 2, window: Int = 4, pattern: Int = 2, localTheta: Double = 10_000) -> Gemma3Configuration {
        Gemma3Configuration(hiddenSize: 32, intermediateSize: 64, layerCount: layers, headCount: 2, kvHeadCount: 1, headDimension: 24,
                            vocabularySize: 96, contextLength: 128, rmsNormEpsilon: 1e-6, globalRopeTheta: 1_000_000,
                            localRopeTheta: localTheta, slidingWindow: window, slidingWindowPattern: pattern)
    }

    /// Weights from one seeded generator, in the order of `Gemma3Model.Layer`'s fields; norms
    /// are GGUF-style multipliers `1 + w` with `w` in ±1/4.
    static func model(_ c: Gemma3Configuration, seed: UInt64 = 7) throws -> Gemma3Model {
        var rng = Xoshiro256StarStar(seed: seed)
        func matrix(_ rows: Int, _ columns: Int, gain: Float = 1) -> WeightMatrix {
            let bound = gain * Float((3.0 / Double(columns)).squareRoot())
            return WeightMatrix(rows: rows, columns: columns, values: (0..<(rows * columns)).map { _ in (rng.nextUniformFloat() * 2 - 1) * bound })
        }
        func norm(_ n: Int) -> [Float] { Gemma3Model.normMultiplier((0..<n).map { _ in 1 + (rng.nextUniformFloat() * 2 - 1) * 0.25 }) }
        let embedding = WeightMatrix(rows: c.vocabularySize, columns: c.hiddenSize,
                                     values: (0..<(c.vocabularySize * c.hiddenSize)).map { _ in (rng.nextUniformFloat() * 2 - 1) * 0.2 })
        let q = c.headCount * c.headDimension, kv = c.kvHeadCount * c.headDimension
        let layers = (0..<c.layerCount).map { _ in
            Gemma3Model.Layer(attentionNorm: norm(c.hiddenSize), wq: matrix(q, c.hiddenSize), wk: matrix(kv, c.hiddenSize),
                              wv: matrix(kv, c.hiddenSize), queryNorm: norm(c.headDimension), keyNorm: norm(c.headDimension),
                              wo: matrix(c.hiddenSize, q, gain: 4), postAttentionNorm: norm(c.hiddenSize), preFeedForwardNorm: norm(c.hiddenSize),
                              wGate: matrix(c.intermediateSize, c.hiddenSize), wUp: matrix(c.intermediateSize, c.hiddenSize),
                              wDown: matrix(c.hiddenSize, c.intermediateSize, gain: 4), postFeedForwardNorm: norm(c.hiddenSize))
        }
        return try Gemma3Model(configuration: c, tokenEmbedding: embedding, layers: layers, outputNorm: norm(c.hiddenSize),
                               output: nil, origin: "synthetic gemma3 seed \(seed)")
    }

    func allLogits(_ m: Gemma3Model, _ tokens: [Int], pool: ParallelFor = .shared) throws -> [Float] {
        try m.forward(tokens: tokens, cache: m.makeCache(), logitRows: .all, pool: pool).logits
    }

    /// The logit lens's norm on Gemma: `applyFinalNorm` of the last layer's residual is the
    /// forward pass's own final-norm output, bit for bit.
    func testApplyFinalNormOfTheLastLayerEqualsTheForwardPassesFinalNorm() throws {
        let m = try Self.model(Self.configuration())
        let tokens = [3, 17, 50, 5, 90, 42]
        let r = try m.forward(tokens: tokens, cache: m.makeCache(), logitRows: .all, tapLayers: true)
        let last = try XCTUnwrap(r.layerOutputs?.last)
        var y = [Float](repeating: .nan, count: last.count)
        try last.withUnsafeBufferPointer { x in
            try y.withUnsafeMutableBufferPointer { try m.applyFinalNorm(x.baseAddress!, rows: tokens.count, into: $0.baseAddress!) }
        }
        XCTAssertEqual(y.map(\.bitPattern), try XCTUnwrap(r.finalNormOutput).map(\.bitPattern))
    }

    func testSparseAttentionModeIsATypedErrorOnGemma() throws {
        let m = try Self.model(Self.configuration())
        m.attentionMode = .tidal(TidalDecode(tokenBudget: 2, selectionLayer: 0, reselectionLayer: 1))
        XCTAssertThrowsError(try m.forward(tokens: [1, 2], cache: m.makeCache())) { error in
            XCTAssertTrue("\(error)".contains("sparse attention"), "\(error)")
        }
    }

    func testLayerTypesFollowThePatternOfSixWithGlobalLayers5And11And17() {
        let c = Gemma3Configuration(hiddenSize: 640, intermediateSize: 2048, layerCount: 18, headCount: 4, kvHeadCount: 1, headDimension: 256,
                                    vocabularySize: 262_144, contextLength: 32_768, rmsNormEpsilon: 1e-6, slidingWindow: 512)
        XCTAssertEqual((0..<18).filter { !c.isLocal(layer: $0) }, [5, 11, 17])
        XCTAssertEqual(c.embeddingScale.bitPattern, 0x41CA_62C2)  // Float(√640) = 25.298222
        XCTAssertEqual(c.embeddingScale, Float(640).squareRoot())
        XCTAssertEqual(c.attentionScale, 0.0625)
    }

    func testEmbedIsTheEmbeddingRowTimesTheScale() throws {
        let m = try Self.model(Self.configuration())
        var row = [Float](repeating: 0, count: 32), embedded = row
        row.withUnsafeMutableBufferPointer { m.tokenEmbedding.decodeRow(17, into: $0.baseAddress!) }
        embedded.withUnsafeMutableBufferPointer { m.embed(token: 17, into: $0.baseAddress!) }
        let scale = Float(Double(32).squareRoot())
        assertBitIdentical(embedded, row.map { $0 * scale })
        XCTAssertNotEqual(embedded, row)
        // The first layer's input is the scaled row: layer-0 intermediates start from it.
        let r = try m.forward(tokens: [17], cache: m.makeCache(), taps: ForwardTaps(intermediatesOfLayer: 0))
        var expected = [Float](repeating: 0, count: 32)
        embedded.withUnsafeBufferPointer { e in
            m.layers[0].attentionNorm.withUnsafeBufferPointer { w in
                expected.withUnsafeMutableBufferPointer { Kernels.rmsNorm(e.baseAddress!, weight: w.baseAddress!, epsilon: 1e-6, count: 32, into: $0.baseAddress!) }
            }
        }
        assertBitIdentical(try XCTUnwrap(r.intermediates?.first { $0.name == "attn_norm" }).values, expected)
    }

    func testNormMultiplierIsOnePlusStoredMinusOne() {
        XCTAssertEqual(Gemma3Model.normMultiplier([16.875, 1, 0, -2.5]), [16.875, 1, 0, -2.5])
        // Where g − 1 is not exact the formula differs from g: 2^-30 − 1 rounds to −1 in Float32,
        // so the multiplier of g = 2^-30 is 0 (Hugging Face's result), not 2^-30.
        XCTAssertEqual(Gemma3Model.normMultiplier([0x1p-30]), [0])
    }

    /// Spec invariant: a local layer equals a global one for every query position below the
    /// window; past it they differ.
    func testLocalLayerEqualsGlobalLayerBelowTheWindowAndDiffersPastIt() throws {
        // All layers local (pattern larger than the layer count) vs all global, same RoPE base.
        let local = try Self.model(Self.configuration(layers: 2, window: 4, pattern: 99, localTheta: 1_000_000))
        let global = try Self.model(Self.configuration(layers: 2, window: 4, pattern: 1, localTheta: 1_000_000))
        XCTAssertTrue(local.configuration.isLocal(layer: 1))
        XCTAssertFalse(global.configuration.isLocal(layer: 0))
        let tokens = seededTokens(7, vocabularySize: 96, seed: 3)
        let a = try allLogits(local, tokens), b = try allLogits(global, tokens)
        for p in 0..<4 { assertBitIdentical(a[(p * 96)..<((p + 1) * 96)], b[(p * 96)..<((p + 1) * 96)], "position \(p)") }
        for p in 4..<7 { XCTAssertNotEqual(Array(a[(p * 96)..<((p + 1) * 96)]), Array(b[(p * 96)..<((p + 1) * 96)]), "position \(p)") }
    }

    /// Spec invariant: a local query at position p sees exactly keys p − W + 1 … p. With one
    /// local layer, the token at p − W does not reach position p; the one at p − W + 1 does.
    func testLocalQuerySeesExactlyTheLastWindowPositions() throws {
        let m = try Self.model(Self.configuration(layers: 1, window: 4, pattern: 99))
        var tokens = seededTokens(9, vocabularySize: 96, seed: 5)
        let p = 8
        let base = Array(try allLogits(m, tokens).suffix(96))
        tokens[p - 4] = (tokens[p - 4] + 1) % 96
        assertBitIdentical(Array(try allLogits(m, tokens).suffix(96)), base, "token at p − W changed the logits at p")
        tokens[p - 3] = (tokens[p - 3] + 1) % 96
        XCTAssertNotEqual(Array(try allLogits(m, tokens).suffix(96)), base, "token at p − W + 1 must be seen")
    }

    /// D3 with the window: a prompt three windows long, prefilled whole, in chunks, or one token
    /// at a time, gives the same logits at every position, bit for bit; so does a tree batch.
    func testPrefillChunksAndDecodeStepsAgreeBitForBitPastTheWindow() throws {
        let m = try Self.model(Self.configuration(layers: 3, window: 4, pattern: 3))
        let tokens = seededTokens(13, vocabularySize: 96, seed: 9)
        let whole = try allLogits(m, tokens)
        let cache = m.makeCache()
        var chunked = try m.forward(tokens: Array(tokens[0..<5]), cache: cache, logitRows: .all).logits
        chunked += try m.forward(tokens: Array(tokens[5..<11]), cache: cache, logitRows: .all).logits
        for t in tokens[11...] { chunked += try m.forward(tokens: [t], cache: cache).logits }
        assertBitIdentical(chunked, whole, "chunked prefill vs whole")
        // A chain given as a tree batch after a cached prefix of 9.
        let tree = m.makeCache()
        _ = try m.forward(tokens: Array(tokens[0..<9]), cache: tree, logitRows: .none)
        let chain = try m.forward(tokens: Array(tokens[9...]), mask: .tree(parents: [-1, 0, 1, 2]), cache: tree, logitRows: .all).logits
        assertBitIdentical(chain, whole[(9 * 96)...], "tree-mask chain vs whole")
    }

    func testLogitsAreIdenticalForOneTwoAndThreeThreadsAndTheNaiveKernels() throws {
        let tokens = seededTokens(11, vocabularySize: 96, seed: 13)
        var traces: [[Float]] = []
        let m = try Self.model(Self.configuration(layers: 3, window: 4, pattern: 3))
        for threads in [1, 2, 3] {
            let pool = ParallelFor(threadCount: threads)
            defer { pool.shutdown() }
            traces.append(try allLogits(m, tokens, pool: pool))
        }
        let naive = try Self.model(Self.configuration(layers: 3, window: 4, pattern: 3))
        naive.useNaiveKernels = true
        traces.append(try allLogits(naive, tokens))
        for (i, name) in ["2 threads", "3 threads", "naive kernels"].enumerated() { assertBitIdentical(traces[i + 1], traces[0], name) }
    }

    func testTapsChangeNoLogitsAndRecordEveryDescribedIntermediate() throws {
        let m = try Self.model(Self.configuration())
        let tokens = seededTokens(6, vocabularySize: 96, seed: 17)
        let plain = try m.forward(tokens: tokens, cache: m.makeCache(), logitRows: .all)
        let tapped = try m.forward(tokens: tokens, cache: m.makeCache(), logitRows: .all, taps: ForwardTaps(layerOutputs: true, intermediatesOfLayer: 1))
        assertBitIdentical(tapped.logits, plain.logits)
        XCTAssertEqual(tapped.intermediates?.map(\.name), Gemma3Model.intermediateDescriptions.map(\.name))
        XCTAssertEqual(tapped.layerOutputs?.count, 2)
        // The layer's output is attn_residual + post_ffw_norm.
        let named = Dictionary(uniqueKeysWithValues: (tapped.intermediates ?? []).map { ($0.name, $0.values) })
        let residual = try XCTUnwrap(named["attn_residual"]), branch = try XCTUnwrap(named["post_ffw_norm"])
        assertBitIdentical(try XCTUnwrap(tapped.layerOutputs?[1]), zip(residual, branch).map { $0 + $1 })
        XCTAssertThrowsError(try m.forward(tokens: tokens, cache: m.makeCache(), taps: ForwardTaps(intermediatesOfLayer: 2)))
    }

    func testTruncatedModelEqualsAModelBuiltWithFewerLayers() throws {
        let full = try Self.model(Self.configuration(layers: 3, pattern: 3))
        let cut = try full.truncated(toLayers: 2)
        let tokens = seededTokens(8, vocabularySize: 96, seed: 19)
        let expected = try full.forward(tokens: tokens, cache: full.makeCache(), logitRows: .all, tapLayers: true)
        let got = try cut.forward(tokens: tokens, cache: cut.makeCache(), logitRows: .all, tapLayers: true)
        XCTAssertEqual(cut.shape.layerCount, 2)
        assertBitIdentical(try XCTUnwrap(got.layerOutputs?[1]), try XCTUnwrap(expected.layerOutputs?[1]))
        XCTAssertThrowsError(try full.truncated(toLayers: 4))
    }

    func testHalvesRoPERotatesPairsIAndIPlusHalf() {
        var x: [Float] = [1, 2, 3, 4]  // pairs (1, 3) and (2, 4)
        let c: [Float] = [0, 0.5], s: [Float] = [1, 0.25]
        Kernels.ropeHalves(&x, cos: c, sin: s, dimension: 4)
        // x'[i] = x[i]·c − x[i+2]·s, x'[i+2] = x[i+2]·c + x[i]·s: [0 − 3, 1 − 1, 0 + 1, 2 + 0.5].
        let expected: [Float] = [-3, 0, 1, 2.5]
        XCTAssertEqual(x, expected)
    }

    func testGELUTanhMatchesTheFormulaInDoubleWithinAFewUlp() {
        var rng = Xoshiro256StarStar(seed: 23)
        for _ in 0..<2000 {
            let x = (rng.nextUniformFloat() * 2 - 1) * 8
            let d = Double(x)
            let exact = 0.5 * d * (1 + Foundation.tanh((2 / Double.pi).squareRoot() * (d + 0.044715 * d * d * d)))
            XCTAssertLessThanOrEqual(abs(Double(Kernels.geluTanh(x)) - exact), 4 * Double(Float(exact).ulp) + 1e-7, "x = \(x)")
        }
        XCTAssertEqual(Kernels.geluTanh(0), 0)
        XCTAssertEqual(Kernels.geluTanh(20), 20)
    }

    func testGGUFWithAnotherArchitectureIsRejectedWithATypedError() throws {
        let path = NSTemporaryDirectory() + "touchstone-gemma3-\(UUID().uuidString).gguf"
        defer { try? FileManager.default.removeItem(atPath: path) }
        var w = GGUFWriter()
        try w.addMetadata("general.architecture", .string("llama"))
        try w.write(to: path)
        let file = try GGUFFile(path: path)
        XCTAssertThrowsError(try Gemma3Model(gguf: file)) { XCTAssertEqual($0 as? ModelError, .unsupportedArchitecture("llama")) }
    }
}

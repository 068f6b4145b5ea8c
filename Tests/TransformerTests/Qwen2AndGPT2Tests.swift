import Foundation
import XCTest
import Formats
import Tensors
import Transformer
import Loader

/// Qwen2 and GPT-2 on their seeded synthetic models (`SyntheticArchitectures`): the committed
/// files, GGUF against safetensors, D2 and D3, the architecture-specific arithmetic, and typed
/// errors on bad files and configs.
final class Qwen2AndGPT2Tests: XCTestCase {
    static let qwen2 = try! SyntheticModels.model(SyntheticArchitectures.qwen2)
    static let gpt2 = try! SyntheticArchitectures.gpt2Model(SyntheticArchitectures.gpt2)
    static var both: [any CausalLanguageModel] { [qwen2, gpt2] }

    static func directory(_ name: String) -> String { ModelFixtures.models.appendingPathComponent(name).path }

    func allLogits(_ m: any CausalLanguageModel, _ tokens: [Int], pool: ParallelFor = .shared) throws -> [Float] {
        try m.forward(tokens: tokens, cache: m.makeCache(), logitRows: .all, pool: pool).logits
    }

    // MARK: files

    func testCheckedInFilesEqualRegeneratedBytes() throws {
        let regenerate = ProcessInfo.processInfo.environment["TOUCHSTONE_REGENERATE_FIXTURES"] == "1"
        for name in SyntheticArchitectures.names {
            let fixture = Self.directory(name)
            if regenerate { try SyntheticArchitectures.write(named: name, to: fixture) }
            let fresh = ModelFixtures.temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: fresh) }
            try SyntheticArchitectures.write(named: name, to: fresh)
            for file in ["model.safetensors", "config.json", "model.gguf"] {
                let expected = try Data(contentsOf: URL(fileURLWithPath: fixture + "/" + file))
                let actual = try Data(contentsOf: URL(fileURLWithPath: fresh + "/" + file))
                XCTAssertTrue(expected == actual, "\(name)/\(file) differs from the regenerated file; if the recipe changed on purpose, rerun with TOUCHSTONE_REGENERATE_FIXTURES=1 and Scripts/peer_qwen2_gpt2.py")
            }
        }
    }

    /// The safetensors directory, the GGUF file and the in-process model give the same logits,
    /// bit for bit (all Float32; GPT-2's Conv1D weights transposed on one path and not the other).
    func testSafetensorsGGUFAndInProcessModelsAgreeBitForBit() throws {
        for (name, inProcess) in zip(SyntheticArchitectures.names, Self.both) {
            let directory = Self.directory(name)
            let fromSafetensors = try ModelStore.load(path: directory).model
            let fromGGUF = try ModelStore.load(path: directory + "/model.gguf").model
            XCTAssertEqual(fromSafetensors.shape, inProcess.shape, name)
            XCTAssertEqual(fromGGUF.shape, inProcess.shape, name)
            let prompt = seededTokens(11, vocabularySize: inProcess.shape.vocabularySize, seed: 41)
            let expected = try allLogits(inProcess, prompt)
            assertBitIdentical(try allLogits(fromSafetensors, prompt), expected, "\(name) safetensors")
            assertBitIdentical(try allLogits(fromGGUF, prompt), expected, "\(name) gguf")
        }
        XCTAssertTrue(try ModelStore.load(path: Self.directory("tiny-qwen2")).model is LlamaModel)
        XCTAssertTrue(try ModelStore.load(path: Self.directory("tiny-gpt2") + "/model.gguf").model is GPT2Model)
    }

    func testConfigJSONRoundTripsThePresets() throws {
        let q = SyntheticArchitectures.qwen2.configuration
        XCTAssertEqual(LlamaConfiguration(qwen2: try Qwen2HFConfig(jsonData: q.qwen2HuggingFaceConfig().jsonData())), q)
        let g = SyntheticArchitectures.gpt2.configuration
        XCTAssertEqual(GPT2Configuration(try GPT2HFConfig(jsonData: g.huggingFaceConfig().jsonData())), g)
    }

    // MARK: D2 and D3

    func testLogitsAreIdenticalForOneTwoAndThreeThreadsAndTheNaiveKernels() throws {
        for name in SyntheticArchitectures.names {
            var traces: [[Float]] = []
            let model = try SyntheticArchitectures.anyModel(named: name)
            for threads in [1, 2, 3] {
                let pool = ParallelFor(threadCount: threads)
                defer { pool.shutdown() }
                traces.append(try invarianceTrace(model, pool: pool))
            }
            let naive = try SyntheticArchitectures.anyModel(named: name)
            naive.useNaiveKernels = true
            traces.append(try invarianceTrace(naive, pool: .shared))
            for (i, label) in ["2 threads", "3 threads", "naive kernels"].enumerated() { assertBitIdentical(traces[i + 1], traces[0], "\(name) \(label)") }
        }
    }

    /// D3: every row of a whole-prompt prefill equals one-token-at-a-time decoding and a chunked
    /// prefill (chunks of 8, 4, 1, 5, 3 exercise every panel width), bit for bit.
    func testPrefillChunksAndDecodeStepsAgreeBitForBit() throws {
        for model in Self.both {
            let prompt = seededTokens(21, vocabularySize: model.shape.vocabularySize, seed: 22)
            let whole = try allLogits(model, prompt)
            let stepCache = model.makeCache()
            var stepwise: [Float] = []
            for t in prompt { stepwise += try model.forward(tokens: [t], cache: stepCache).logits }
            assertBitIdentical(stepwise, whole, "\(model.origin) one token at a time")
            let cache = model.makeCache()
            var chunked: [Float] = []
            var start = 0
            for size in [8, 4, 1, 5, 3] {
                chunked += try model.forward(tokens: Array(prompt[start..<(start + size)]), cache: cache, logitRows: .all).logits
                start += size
            }
            assertBitIdentical(chunked, whole, "\(model.origin) chunked")
        }
    }

    /// D3 for trees: each node of a draft tree gets the logits of decoding its path.
    func testTreeNodesGetTheLogitsOfDecodingTheirPath() throws {
        let parents = [-1, 0, 1, 0, 3, -1]
        for model in Self.both {
            let V = model.shape.vocabularySize
            let prefix = seededTokens(5, vocabularySize: V, seed: 24), nodes = seededTokens(parents.count, vocabularySize: V, seed: 25)
            let cache = model.makeCache()
            _ = try model.forward(tokens: prefix, cache: cache, logitRows: .none)
            let tree = try model.forward(tokens: nodes, mask: .tree(parents: parents), cache: cache, logitRows: .all)
            for node in nodes.indices {
                var path: [Int] = []
                var n = node
                while n >= 0 { path.insert(nodes[n], at: 0); n = parents[n] }
                let sequential = try allLogits(model, prefix + path)
                assertBitIdentical(tree.logits(row: node), sequential.suffix(V), "\(model.origin) node \(node)")
            }
        }
    }

    func testTapsChangeNoLogitsAndRecordEveryDescribedIntermediate() throws {
        for model in Self.both {
            let tokens = seededTokens(6, vocabularySize: model.shape.vocabularySize, seed: 17)
            let plain = try allLogits(model, tokens)
            let tapped = try model.forward(tokens: tokens, cache: model.makeCache(), logitRows: .all,
                                           taps: ForwardTaps(layerOutputs: true, intermediatesOfLayer: 1))
            assertBitIdentical(tapped.logits, plain)
            XCTAssertEqual(tapped.intermediates?.map(\.name), model.intermediateDescriptions.map(\.name))
            XCTAssertEqual(tapped.layerOutputs?.count, 2)
            // The logit lens's norm is the forward pass's own final norm.
            let last = try XCTUnwrap(tapped.layerOutputs?.last)
            var y = [Float](repeating: .nan, count: last.count)
            try last.withUnsafeBufferPointer { x in
                try y.withUnsafeMutableBufferPointer { try model.applyFinalNorm(x.baseAddress!, rows: tokens.count, into: $0.baseAddress!) }
            }
            assertBitIdentical(y, try XCTUnwrap(tapped.finalNormOutput))
        }
    }

    func testTruncatedModelsKeepTheirFirstLayersOutputs() throws {
        for model in Self.both {
            let cut = try model.truncated(toLayers: 1)
            let tokens = seededTokens(7, vocabularySize: model.shape.vocabularySize, seed: 19)
            let full = try model.forward(tokens: tokens, cache: model.makeCache(), logitRows: .all, tapLayers: true)
            let draft = try cut.forward(tokens: tokens, cache: cut.makeCache(), logitRows: .all, tapLayers: true)
            assertBitIdentical(try XCTUnwrap(draft.layerOutputs?[0]), try XCTUnwrap(full.layerOutputs?[0]))
            XCTAssertThrowsError(try model.truncated(toLayers: 3))
        }
    }

    // MARK: Qwen2

    /// The biases are used: zeroing them changes the logits, and the q/k/v intermediates are the
    /// product plus the bias.
    func testQwen2AddsItsQKVBiasesAfterTheProducts() throws {
        let m = Self.qwen2
        let tokens = [3, 100, 7]
        let r = try m.forward(tokens: tokens, cache: m.makeCache(), logitRows: .all, taps: ForwardTaps(intermediatesOfLayer: 0))
        let named = Dictionary(uniqueKeysWithValues: try XCTUnwrap(r.intermediates).map { ($0.name, $0.values) })
        let xn = try XCTUnwrap(named["attn_norm"])
        let layer = m.layers[0]
        for (matrix, bias, name) in [(layer.wq, layer.qBias, "q_proj"), (layer.wk, layer.kBias, "k_proj"), (layer.wv, layer.vBias, "v")] {
            var product = [Float](repeating: 0, count: tokens.count * matrix.rows)
            xn.withUnsafeBufferPointer { x in product.withUnsafeMutableBufferPointer { matrix.multiplyNaive(x.baseAddress!, tokens: tokens.count, into: $0.baseAddress!) } }
            let b = try XCTUnwrap(bias)
            let expected = product.indices.map { product[$0] + b[$0 % matrix.rows] }
            assertBitIdentical(try XCTUnwrap(named[name]), expected, name)
        }
        var c = m.configuration
        c.attentionBiases = false
        let layers = m.layers.map { l -> LlamaModel.Layer in
            var l = l
            l.qBias = nil; l.kBias = nil; l.vBias = nil
            return l
        }
        let noBias = try LlamaModel(configuration: c, tokenEmbedding: m.tokenEmbedding, layers: layers, outputNorm: m.outputNorm, output: m.output, origin: "no bias")
        XCTAssertNotEqual(try allLogits(noBias, tokens), try allLogits(m, tokens))
    }

    /// Qwen2 rotates halves with rows as stored: the same weights with adjacent-pair RoPE and Q/K
    /// rows permuted into adjacent-pair order (biases too) compute the same attention up to the
    /// order of the q·k sum.
    func testQwen2HalvesRoPEEqualsAdjacentPairsOnPermutedRows() throws {
        let m = Self.qwen2, c = m.configuration
        func permute(_ v: [Float], heads: Int, columns: Int) -> [Float] {
            LlamaModel.permuteForAdjacentPairRoPE(v, heads: heads, headDimension: c.headDimension, columns: columns)
        }
        func permuted(_ w: WeightMatrix, heads: Int) -> WeightMatrix {
            var values = [Float](repeating: 0, count: w.rows * w.columns)
            for r in 0..<w.rows { values.withUnsafeMutableBufferPointer { w.decodeRow(r, into: $0.baseAddress! + r * w.columns) } }
            return WeightMatrix(rows: w.rows, columns: w.columns, values: permute(values, heads: heads, columns: w.columns))
        }
        let layers = m.layers.map { l -> LlamaModel.Layer in
            var p = LlamaModel.Layer(attentionNorm: l.attentionNorm, wq: permuted(l.wq, heads: c.headCount), wk: permuted(l.wk, heads: c.kvHeadCount),
                                     wv: l.wv, wo: l.wo, ffnNorm: l.ffnNorm, wGate: l.wGate, wUp: l.wUp, wDown: l.wDown)
            p.qBias = permute(l.qBias!, heads: c.headCount, columns: 1)
            p.kBias = permute(l.kBias!, heads: c.kvHeadCount, columns: 1)
            p.vBias = l.vBias
            return p
        }
        var adjacent = c
        adjacent.ropeLayout = .adjacentPairs
        let other = try LlamaModel(configuration: adjacent, tokenEmbedding: m.tokenEmbedding, layers: layers, outputNorm: m.outputNorm, output: m.output, origin: "adjacent")
        let tokens = seededTokens(9, vocabularySize: c.vocabularySize, seed: 43)
        let a = try allLogits(m, tokens), b = try allLogits(other, tokens)
        XCTAssertLessThan(maxAbsDifference(a, b), 1e-4)
        XCTAssertGreaterThan(a.map(abs).max()!, 1, "logits of a few units, so 1e-4 is a tight bound")
    }

    /// A tied Qwen2 model is the untied one whose `lm_head` is the embedding matrix.
    func testTiedQwen2HeadIsTheEmbeddingMatrix() throws {
        let m = Self.qwen2
        var c = m.configuration
        c.tiedEmbeddings = true
        let tied = try LlamaModel(configuration: c, tokenEmbedding: m.tokenEmbedding, layers: m.layers, outputNorm: m.outputNorm, output: nil, origin: "tied")
        let explicit = try LlamaModel(configuration: m.configuration, tokenEmbedding: m.tokenEmbedding, layers: m.layers, outputNorm: m.outputNorm,
                                      output: m.tokenEmbedding, origin: "explicit")
        let tokens = [1, 2, 3, 200]
        assertBitIdentical(try allLogits(tied, tokens), try allLogits(explicit, tokens))
        XCTAssertNotEqual(try allLogits(tied, tokens), try allLogits(m, tokens), "the preset's own lm_head differs from the embedding")
        XCTAssertTrue(tied.shape.tiedEmbeddings)
    }

    func testQwen2ConfigRejectsSlidingWindowAndReadsBothRoPEForms() throws {
        func config(_ extra: String) -> Data {
            Data(#"{"model_type": "qwen2", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 384\#(extra)}"#.utf8)
        }
        XCTAssertThrowsError(try Qwen2HFConfig(jsonData: config(#", "use_sliding_window": true"#))) { error in
            XCTAssertEqual(error as? FormatError, .unsupported("config.json use_sliding_window is true — Qwen2's sliding-window layers are not implemented (every layer attends fully); set it to false only if the model was trained without the window"))
        }
        XCTAssertThrowsError(try Qwen2HFConfig(jsonData: config(#", "layer_types": ["full_attention", "sliding_attention"]"#))) { error in
            XCTAssertTrue("\(error)".contains("sliding_attention"), "\(error)")
        }
        XCTAssertThrowsError(try Qwen2HFConfig(jsonData: config(#", "rope_parameters": {"rope_type": "yarn", "rope_theta": 1e6}"#)))
        XCTAssertThrowsError(try Qwen2HFConfig(jsonData: config(#", "hidden_act": "gelu""#)))
        XCTAssertEqual(try Qwen2HFConfig(jsonData: config(#", "rope_theta": 500000.0"#)).ropeTheta, 500000)
        XCTAssertEqual(try Qwen2HFConfig(jsonData: config(#", "rope_parameters": {"rope_type": "default", "rope_theta": 1e6}"#)).ropeTheta, 1_000_000)
        // transformers' Qwen2Config defaults: 32 KV heads, eps 1e-6, theta 10000, untied, 32768 positions.
        let defaults = try Qwen2HFConfig(jsonData: config(#", "num_key_value_heads": 2, "use_sliding_window": false"#))
        XCTAssertEqual([defaults.numKeyValueHeads, defaults.maxPositionEmbeddings], [2, 32768])
        XCTAssertEqual(defaults.rmsNormEps, 1e-6)
        XCTAssertEqual(defaults.ropeTheta, 10000)
        XCTAssertFalse(defaults.tieWordEmbeddings)
        XCTAssertEqual(try Qwen2HFConfig(jsonData: config("")).numKeyValueHeads, 32)
    }

    // MARK: GPT-2

    func testLayerNormMatchesAHandComputedRow() {
        // x = [1, 2, 3, 6]: mean 3, deviations [-2, -1, 0, 3], variance 14/4 = 3.5.
        let x: [Float] = [1, 2, 3, 6], w: [Float] = [1, 2, 0.5, 1], b: [Float] = [0, 1, 0, -1]
        var y = [Float](repeating: 0, count: 4)
        Kernels.layerNorm(x, weight: w, bias: b, epsilon: 0.5, count: 4, into: &y)
        let r = 1 / Float(4).squareRoot()  // 1 / sqrt(3.5 + 0.5) = 0.5
        XCTAssertEqual(y, [-2 * r, (-1 * r) * 2 + 1, 0, 3 * r - 1])
        // A constant row has variance 0: the output is the bias.
        Kernels.layerNorm([7, 7, 7, 7], weight: w, bias: b, epsilon: 1e-5, count: 4, into: &y)
        XCTAssertEqual(y, b)
    }

    func testGPT2LayerNormAgreesWithAFloat64ComputationOnRandomRows() {
        var rng = Xoshiro256StarStar(seed: 7)
        for n in [1, 5, 64, 97] {
            let x = (0..<n).map { _ in (rng.nextUniformFloat() * 2 - 1) * 10 }
            let w = (0..<n).map { _ in rng.nextUniformFloat() + 0.5 }, b = (0..<n).map { _ in rng.nextUniformFloat() - 0.5 }
            var y = [Float](repeating: 0, count: n)
            Kernels.layerNorm(x, weight: w, bias: b, epsilon: 1e-5, count: n, into: &y)
            let mean = x.reduce(0.0) { $0 + Double($1) } / Double(n)
            let variance = x.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(n)
            for i in 0..<n {
                let expected = (Double(x[i]) - mean) / (variance + 1e-5).squareRoot() * Double(w[i]) + Double(b[i])
                XCTAssertEqual(Double(y[i]), expected, accuracy: 1e-5 * max(1, abs(expected)), "n \(n) i \(i)")
            }
        }
    }

    /// The position embedding is learned and added to the token's row: the same token at two
    /// positions has different layer-0 inputs, and the input is `wte[id] + wpe[p]`.
    func testGPT2LayerZeroInputIsTokenPlusPositionEmbedding() throws {
        let m = Self.gpt2
        let C = m.shape.hiddenSize
        var token = [Float](repeating: 0, count: C), position = token, input = token
        token.withUnsafeMutableBufferPointer { m.tokenEmbedding.decodeRow(42, into: $0.baseAddress!) }
        position.withUnsafeMutableBufferPointer { m.positionEmbedding.decodeRow(5, into: $0.baseAddress!) }
        input.withUnsafeMutableBufferPointer { m.embed(token: 42, position: 5, into: $0.baseAddress!) }
        assertBitIdentical(input, zip(token, position).map { $0 + $1 })
        var alone = [Float](repeating: 0, count: C)
        alone.withUnsafeMutableBufferPointer { m.embed(token: 42, into: $0.baseAddress!) }
        assertBitIdentical(alone, token)
        // Repeating one token: each position's logits differ (no RoPE, so only wpe tells them apart).
        let rows = try allLogits(m, [42, 42, 42])
        let V = m.shape.vocabularySize
        XCTAssertNotEqual(Array(rows[0..<V]), Array(rows[V..<(2 * V)]))
    }

    /// GGUF `attn_qkv` rows 0…C−1 are Q: the first C rows of the fused matrix are the first C
    /// columns of Hugging Face's Conv1D `c_attn.weight` `[C, 3C]`.
    func testGPT2FusedQKVRowsAreTheConv1DColumnsQThenKThenV() throws {
        let file = try GGUFFile(path: Self.directory("tiny-gpt2") + "/model.gguf")
        let info = try XCTUnwrap(file.tensor(named: "blk.0.attn_qkv.weight"))
        XCTAssertEqual(info.shape, [64, 192], "ggml shape [in, out]")
        let gguf = try file.dequantize(info)  // row-major [3C, C]
        let st = try SafetensorsFile(path: Self.directory("tiny-gpt2") + "/model.safetensors")
        let conv = try st.floats(named: "transformer.h.0.attn.c_attn.weight")  // [C, 3C]
        XCTAssertEqual(st.tensor(named: "transformer.h.0.attn.c_attn.weight")?.shape, [64, 192])
        for (row, column) in [(0, 0), (63, 63), (64, 64), (130, 130), (191, 191)] {
            for input in [0, 17, 63] { XCTAssertEqual(gguf[row * 64 + input], conv[input * 192 + column]) }
        }
    }

    /// A GPT-2 GGUF with an `output.weight` is untied and uses it: a copy of `token_embd` gives
    /// the tied logits bit for bit, a changed copy changes them.
    func testGPT2GGUFWithAnOutputWeightIsUntiedAndUsesIt() throws {
        let original = try GGUFFile(path: Self.directory("tiny-gpt2") + "/model.gguf")
        func withHead(_ scale: Float) throws -> any CausalLanguageModel {
            var w = GGUFWriter()
            for key in original.metadata.keys.sorted() { try w.addMetadata(key, original.metadata[key]!) }
            for t in original.tensors { try w.addTensor(name: t.name, shape: t.shape, values: try original.dequantize(t)) }
            let e = try XCTUnwrap(original.tensor(named: "token_embd.weight"))
            try w.addTensor(name: "output.weight", shape: e.shape, values: try original.dequantize(e).map { $0 * scale })
            return try ModelStore.architecture(of: try GGUFFile(bytes: w.bytes()))
        }
        let copy = try withHead(1), doubled = try withHead(2)
        XCTAssertFalse(copy.shape.tiedEmbeddings)
        let tokens = [3, 100, 250]
        let tied = try allLogits(Self.gpt2, tokens)
        assertBitIdentical(try allLogits(copy, tokens), tied)
        assertBitIdentical(try allLogits(doubled, tokens), tied.map { $0 * 2 }, "scaling the head by 2 scales every logit exactly")
    }

    func testGPT2ContextLimitIsNPositions() throws {
        let m = Self.gpt2
        XCTAssertEqual(m.shape.contextLength, 128)
        XCTAssertThrowsError(try m.forward(tokens: [1], positions: [128], cache: m.makeCache())) { error in
            XCTAssertEqual(error as? ModelError, .contextOverflow(needed: 129, limit: 128))
        }
        XCTAssertNoThrow(try m.forward(tokens: [1], positions: [127], cache: m.makeCache()))
    }

    func testGPT2ConfigDefaultsAndRejections() throws {
        func config(_ extra: String) -> Data {
            Data(#"{"model_type": "gpt2", "n_embd": 64, "n_layer": 2, "n_head": 4, "vocab_size": 384\#(extra)}"#.utf8)
        }
        let d = try GPT2HFConfig(jsonData: config(""))
        XCTAssertEqual([d.nPositions, d.resolvedInner], [1024, 256])
        XCTAssertEqual(d.layerNormEpsilon, 1e-5)
        XCTAssertTrue(d.tieWordEmbeddings)
        XCTAssertNil(d.eosTokenId, "50256 is outside a 384-token vocabulary")
        XCTAssertEqual(try GPT2HFConfig(jsonData: Data(#"{"model_type": "gpt2", "n_embd": 64, "n_layer": 2, "n_head": 4, "vocab_size": 50257}"#.utf8)).eosTokenId, 50256)
        for bad in [#", "activation_function": "relu""#, #", "reorder_and_upcast_attn": true"#, #", "scale_attn_weights": false"#,
                    #", "add_cross_attention": true"#, #", "scale_attn_by_inverse_layer_idx": true"#] {
            XCTAssertThrowsError(try GPT2HFConfig(jsonData: config(bad)), bad) { XCTAssertTrue($0 is FormatError, "\($0)") }
        }
        XCTAssertThrowsError(try GPT2HFConfig(jsonData: Data(#"{"model_type": "gpt2", "n_layer": 2, "n_head": 4, "vocab_size": 384}"#.utf8))) { error in
            XCTAssertEqual(error as? FormatError, .missingKey("n_embd"))
        }
    }

    // MARK: typed errors on bad files

    /// A GGUF missing a tensor, or holding one of the wrong shape, is rejected naming the tensor.
    func testGGUFWithAMissingOrIllShapedTensorIsRejectedNamingIt() throws {
        for (name, dropped, reshaped) in [("tiny-qwen2", "blk.1.attn_k.bias", "blk.0.attn_q.weight"),
                                          ("tiny-gpt2", "blk.1.attn_qkv.bias", "position_embd.weight")] {
            let original = try GGUFFile(path: Self.directory(name) + "/model.gguf")
            func rewritten(drop: String? = nil, reshape: String? = nil) throws -> GGUFFile {
                var w = GGUFWriter()
                for key in original.metadata.keys.sorted() { try w.addMetadata(key, original.metadata[key]!) }
                for t in original.tensors where t.name != drop {
                    var values = try original.dequantize(t)
                    var shape = t.shape
                    if t.name == reshape { shape[1] -= 1; values.removeLast(shape[0]) }
                    try w.addTensor(name: t.name, shape: shape, values: values)
                }
                return try GGUFFile(bytes: w.bytes())
            }
            XCTAssertThrowsError(try ModelStore.architecture(of: try rewritten(drop: dropped))) { error in
                XCTAssertEqual(error as? ModelError, .missingTensor(dropped), name)
            }
            XCTAssertThrowsError(try ModelStore.architecture(of: try rewritten(reshape: reshaped))) { error in
                guard case .tensorShape(let n, _, _)? = error as? ModelError else { return XCTFail("\(error)") }
                XCTAssertEqual(n, reshaped)
            }
        }
    }

    func testSafetensorsWithAMissingOrIllShapedTensorIsRejectedNamingIt() throws {
        for (name, dropped, reshaped) in [("tiny-qwen2", "model.layers.0.self_attn.v_proj.bias", "model.layers.1.mlp.up_proj.weight"),
                                          ("tiny-gpt2", "transformer.h.1.mlp.c_fc.bias", "transformer.h.0.attn.c_attn.weight")] {
            let source = Self.directory(name)
            let st = try SafetensorsFile(path: source + "/model.safetensors")
            func directory(drop: String? = nil, reshape: String? = nil) throws -> String {
                let d = ModelFixtures.temporaryDirectory()
                try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
                try FileManager.default.copyItem(atPath: source + "/config.json", toPath: d + "/config.json")
                let tensors = try st.tensors.filter { $0.name != drop }.map { t -> (name: String, dtype: SafetensorsDType, shape: [Int], values: [Float]) in
                    var values = try st.floats(named: t.name), shape = t.shape
                    if t.name == reshape { shape[0] -= 1; values.removeLast(shape[1]) }
                    return (t.name, .f32, shape, values)
                }
                try SafetensorsWriter.write(tensors, metadata: [:], to: d + "/model.safetensors")
                return d
            }
            let missing = try directory(drop: dropped), wrong = try directory(reshape: reshaped)
            defer { for d in [missing, wrong] { try? FileManager.default.removeItem(atPath: d) } }
            XCTAssertThrowsError(try ModelStore.load(path: missing)) { error in
                XCTAssertTrue("\(error)".contains(dropped), "\(error)")
                XCTAssertTrue(error is ModelError, "\(error)")
            }
            XCTAssertThrowsError(try ModelStore.load(path: wrong)) { error in
                guard case .tensorShape(let n, _, _)? = error as? ModelError else { return XCTFail("\(error)") }
                XCTAssertEqual(n, reshaped)
            }
        }
    }
}

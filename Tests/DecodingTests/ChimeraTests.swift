import Foundation
import XCTest
@testable import Decoding
import Formats
import Tensors
import Tokenization
import Transformer

final class ChimeraTests: XCTestCase {
    // MARK: - Helpers

    /// Every synthetic architecture: the Llama presets, Qwen2, GPT-2 and a tiny Gemma 3.
    func allModels() throws -> [(name: String, model: any CausalLanguageModel)] {
        var result: [(name: String, model: any CausalLanguageModel)] = SyntheticModels.presets.map { ($0.name, try! SyntheticModels.model($0)) }
        for name in SyntheticArchitectures.names { result.append((name, try SyntheticArchitectures.anyModel(named: name))) }
        result.append(("tiny-gemma3", try TinyGemma3.model()))
        return result
    }

    func greedy(_ model: any CausalLanguageModel, _ prompt: [Int], _ n: Int) throws -> Generation {
        try GreedyDecoding.generate(model: model, prompt: prompt, stopping: StoppingCriteria(maxNewTokens: n))
    }

    func matrixValues(_ m: WeightMatrix) -> [Float] {
        var v = [Float](repeating: 0, count: m.rows * m.columns)
        v.withUnsafeMutableBufferPointer { p in for r in 0..<m.rows { m.decodeRow(r, into: p.baseAddress! + r * m.columns) } }
        return v
    }

    /// `W x` by a scalar loop, each output summed left to right.
    func naiveProduct(_ w: [Float], rows: Int, columns: Int, _ x: [Float]) -> [Float] {
        (0..<rows).map { r in
            var s: Float = 0
            for j in 0..<columns { s = s + w[r * columns + j] * x[j] }
            return s
        }
    }

    func embedding(_ model: any CausalLanguageModel, _ token: Int) -> [Float] {
        var e = [Float](repeating: 0, count: model.shape.hiddenSize)
        e.withUnsafeMutableBufferPointer { model.embed(token: token, into: $0.baseAddress!) }
        return e
    }

    func temporaryPath(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("chimera-tests-\(ProcessInfo.processInfo.processIdentifier)-\(name)").path
    }

    /// The prompt's final-norm states `[P, C]` from a plain prefill.
    func hiddenStates(_ model: any CausalLanguageModel, _ tokens: [Int]) throws -> [Float] {
        try model.forward(tokens: tokens, cache: model.makeCache(), logitRows: .none, taps: ForwardTaps(finalNormOutput: true)).finalNormOutput!
    }

    // MARK: - Trigram encoder (spec invariant 3)

    func testTrigramBoundaryRuleUsesTheFirstTokenTwiceAtPositionOneAndThriceAtZero() {
        XCTAssertTrue(ChimeraDraft.trigramPositions(0) == (0, 0, 0))
        XCTAssertTrue(ChimeraDraft.trigramPositions(1) == (0, 1, 1))
        XCTAssertTrue(ChimeraDraft.trigramPositions(2) == (0, 1, 2))
        XCTAssertTrue(ChimeraDraft.trigramPositions(7) == (5, 6, 7))
    }

    /// The encoder against a scalar loop written from the formula, on every position of a short
    /// sequence (so j = 0 and j = 1 take the boundary rule): `u = [e_a; e_b; e_c]`,
    /// `z = u + SiLU(W_r u + b_r)`, `g = W_p z`; and with zero `W_r` and `b_r` (SiLU(0) = 0) the
    /// encoder is `W_p u` exactly.
    func testTrigramEncoderEqualsANaiveComputationAndIsTheProjectionWithAZeroResBlock() throws {
        let model = try SyntheticModels.model(SyntheticModels.tinyA)
        let C = model.shape.hiddenSize, C3 = 3 * C
        let tokens = [11, 3, 250, 250, 7]
        let random = ChimeraDraft.random(seed: 5, model: model)
        let zero = ChimeraDraft(trigram: .init(residualWeight: WeightMatrix(rows: C3, columns: C3, values: [Float](repeating: 0, count: C3 * C3)),
                                               residualBias: [Float](repeating: 0, count: C3), projection: random.trigram.projection),
                                layer: random.layer, untiedHeads: nil, headCount: 4, origin: "zero ResBlock")
        let e = tokens.map { embedding(model, $0) }
        let expectedInputs: [[Float]] = [e[0] + e[0] + e[0], e[0] + e[1] + e[1], e[0] + e[1] + e[2], e[1] + e[2] + e[3], e[2] + e[3] + e[4]]
        let wp = matrixValues(random.trigram.projection), wr = matrixValues(random.trigram.residualWeight)
        let g = random.encodeTrigrams(tokens: tokens, positions: Array(0..<5), model: model)
        let g0 = zero.encodeTrigrams(tokens: tokens, positions: Array(0..<5), model: model)
        for j in 0..<5 {
            let u = expectedInputs[j]
            XCTAssertEqual(Array(g0[(j * C)..<((j + 1) * C)]), naiveProduct(wp, rows: C, columns: C3, u), "zero ResBlock: W_p u at j = \(j)")
            let y = naiveProduct(wr, rows: C3, columns: C3, u)
            let z = (0..<C3).map { u[$0] + DeterministicMath.silu(y[$0] + random.trigram.residualBias[$0]) }
            XCTAssertEqual(Array(g[(j * C)..<((j + 1) * C)]), naiveProduct(wp, rows: C, columns: C3, z), "trimlp at j = \(j)")
        }
        // The boundary rule is visible: position 1 is not [e_0; e_0; e_1].
        XCTAssertNotEqual(Array(g0[C..<(2 * C)]), naiveProduct(wp, rows: C, columns: C3, e[0] + e[0] + e[1]))
    }

    // MARK: - Heads (spec invariant 2)

    /// Tied heads are `W_lm h + W_lm f` exactly (two scalar-loop products, one addition per logit);
    /// untied heads are `U [h; f]`, and untied copies of `[W_lm | W_lm]` agree with the tied heads
    /// to rounding.
    func testTiedHeadIsTheLMHeadOfHPlusTheLMHeadOfFExactly() throws {
        for (name, model) in try allModels() {
            let C = model.shape.hiddenSize, V = model.shape.vocabularySize
            let h = Array(try hiddenStates(model, [1, 2, 3]).suffix(C))
            var rng = Xoshiro256StarStar(seed: 3)
            let f = (0..<C).map { _ in rng.nextUniformFloat() * 2 - 1 }
            let tied = ChimeraDraft.random(seed: 1, model: model)
            let lm = matrixValues(model.outputHead)
            let wh = naiveProduct(lm, rows: V, columns: C, h), wf = naiveProduct(lm, rows: V, columns: C, f)
            let base = tied.baseLogits(hidden: h, model: model)
            XCTAssertEqual(base, wh, name)
            // The loop reuses the target's own logits row as W_lm h: the protocol's outputHead
            // contract, bit for bit on every architecture.
            let logits = try model.forward(tokens: [1, 2, 3], cache: model.makeCache(), logitRows: .last).logits
            XCTAssertEqual(logits.map(\.bitPattern), base.map(\.bitPattern), "\(name): logits are W_lm times the final-norm state")
            for i in 0..<tied.headCount {
                XCTAssertEqual(tied.headLogits(i, hidden: h, base: base, draft: f, model: model), (0..<V).map { wh[$0] + wf[$0] }, "\(name) head \(i)")
            }
            var doubled = [Float](repeating: 0, count: V * 2 * C)
            for v in 0..<V { for j in 0..<C { doubled[v * 2 * C + j] = lm[v * C + j]; doubled[v * 2 * C + C + j] = lm[v * C + j] } }
            let untied = ChimeraDraft(trigram: tied.trigram, layer: tied.layer, untiedHeads: [WeightMatrix(rows: V, columns: 2 * C, values: doubled)],
                                      headCount: 1, origin: "untied copy")
            let u = untied.headLogits(0, hidden: h, base: base, draft: f, model: model)
            XCTAssertEqual(u, naiveProduct(doubled, rows: V, columns: 2 * C, h + f), name)
            for v in 0..<V { XCTAssertEqual(u[v], wh[v] + wf[v], accuracy: 1e-4 * max(1, abs(wh[v]) + abs(wf[v])), "\(name) token \(v)") }
        }
    }

    // MARK: - Draft layer

    /// The cached draft (slots `h_0, g_1, h_1, g_2, …`) computes `f_n` as the spec's training
    /// forward does on the concatenated sequence `[h_0 … h_{n-1} | g_1 … g_n]` at positions
    /// `[0 … n-1 | 1 … n]` with the query of `g_n` seeing everything before it in both blocks:
    /// a scalar re-implementation (separate q/k/v, RoPE on halves, softmax in Double) agrees to
    /// rounding on every architecture, including Gemma 3's head dimension ≠ C/H.
    func testDraftStepOneEqualsTheSpecsConcatenatedSequenceComputedNaively() throws {
        for (name, model) in try allModels() {
            let s = model.shape, C = s.hiddenSize, H = s.headCount, KVH = s.kvHeadCount, hd = s.headDimension
            let draft = ChimeraDraft.random(seed: 9, model: model)
            let prompt = [5, 9, 2, 77, 31, 5].map { $0 % s.vocabularySize }
            let hidden = try hiddenStates(model, prompt)
            let n = prompt.count, pending = 4
            let state = ChimeraDraftState(draft: draft, model: model, firstToken: prompt[0], capacity: 8)
            state.commit(hidden: hidden, tokens: Array(prompt.dropFirst()) + [pending], pool: .shared)
            let f = state.chain(heads: 1, pool: .shared).drafts[0]
            XCTAssertEqual(state.cache.length, 2 * n)
            XCTAssertEqual(state.cache.positions, (0..<n).flatMap { [$0, $0 + 1] })

            // Naive: the spec's sequence.
            let sequence = prompt + [pending]
            let g = draft.encodeTrigrams(tokens: sequence, positions: Array(1...n), model: model)
            let rows: [[Float]] = (0..<n).map { Array(hidden[($0 * C)..<(($0 + 1) * C)]) } + (0..<n).map { Array(g[($0 * C)..<(($0 + 1) * C)]) }
            let positions = Array(0..<n) + Array(1...n)
            let L = draft.layer
            func rms(_ x: [Float], _ w: [Float]) -> [Float] {
                var ss: Double = 0
                for v in x { ss += Double(v) * Double(v) }
                let r = 1 / (ss / Double(x.count) + Double(draft.rmsNormEpsilon)).squareRoot()
                return (0..<x.count).map { Float(Double(w[$0]) * Double(x[$0]) * r) }
            }
            func rope(_ x: [Float], heads: Int, position p: Int) -> [Float] {
                var y = x
                for h in 0..<heads {
                    for i in 0..<(hd / 2) {
                        let angle = Double(p) / pow(draft.ropeTheta, Double(2 * i) / Double(hd))
                        let a = Double(x[h * hd + i]), b = Double(x[h * hd + i + hd / 2])
                        y[h * hd + i] = Float(a * cos(angle) - b * sin(angle))
                        y[h * hd + i + hd / 2] = Float(b * cos(angle) + a * sin(angle))
                    }
                }
                return y
            }
            func mul(_ w: WeightMatrix, _ x: [Float]) -> [Float] { naiveProduct(matrixValues(w), rows: w.rows, columns: w.columns, x) }
            let keys = rows.enumerated().map { rope(mul(L.wk, rms($0.element, L.inputNorm)), heads: KVH, position: positions[$0.offset]) }
            let values = rows.map { mul(L.wv, rms($0, L.inputNorm)) }
            let query = rows[2 * n - 1]
            let q = rope(mul(L.wq, rms(query, L.inputNorm)), heads: H, position: n)
            var attention = [Float](repeating: 0, count: H * hd)
            for h in 0..<H {
                let kvh = h / (H / KVH)
                // Visible: h_0 … h_{n-1} (all of the first block) and g_1 … g_n (all of the second).
                let scores: [Double] = (0..<(2 * n)).map { j in
                    var d = 0.0
                    for c in 0..<hd { d += Double(q[h * hd + c]) * Double(keys[j][kvh * hd + c]) }
                    return d / Double(hd).squareRoot()
                }
                let m = scores.max()!
                let e = scores.map { exp($0 - m) }, sum = e.reduce(0, +)
                for c in 0..<hd {
                    var acc = 0.0
                    for j in 0..<(2 * n) { acc += e[j] / sum * Double(values[j][kvh * hd + c]) }
                    attention[h * hd + c] = Float(acc)
                }
            }
            let o = mul(L.wo, attention)
            let x1 = (0..<C).map { query[$0] + o[$0] }
            let xn = rms(x1, L.postAttentionNorm)
            let gate = mul(L.wGate, xn), up = mul(L.wUp, xn)
            var act = [Float](repeating: 0, count: gate.count)
            for i in 0..<gate.count {
                let a = Double(gate[i]), b = Double(up[i])
                let silu: Double = a / (1 + exp(-a))
                act[i] = Float(silu * b)
            }
            let down = mul(L.wDown, act)
            let expected = (0..<C).map { x1[$0] + down[$0] }
            let scale = expected.map { abs($0) }.max()!
            for c in 0..<C { XCTAssertEqual(f[c], expected[c], accuracy: 2e-4 * max(1, scale), "\(name) element \(c)") }
        }
    }

    /// Spec invariant 4: after every step the draft cache holds exactly the keys and values that
    /// one commit of the plain forward pass's final-norm states of the committed tokens gives
    /// (bit for bit), and nothing of rejected tree nodes; its slots are `h_i` at position `i`
    /// and `g_{i+1}` at `i + 1`.
    func testDraftCacheAfterEveryStepHoldsOnlyTheCommittedTokensStates() throws {
        for (name, model) in try allModels() {
            let prompt = [17, 300, 17, 300, 17].map { $0 % model.shape.vocabularySize }
            let draft = ChimeraDraft.random(seed: 2, model: model)
            var checked = 0
            _ = try ChimeraDecoding.run(model: model, prompt: prompt, draft: draft, tree: try ChimeraDecoding.tree(named: "chimera-23"),
                                        stopping: StoppingCriteria(maxNewTokens: 30), traceTopK: 0, pool: .shared, onToken: nil) { state, output in
                let committed = prompt + output.dropLast()
                XCTAssertEqual(state.tokens, committed + [output.last!], name)
                let plain = ChimeraDraftState(draft: draft, model: model, firstToken: prompt[0], capacity: 4)
                plain.commit(hidden: (try? self.hiddenStates(model, committed)) ?? [], tokens: Array(committed.dropFirst()) + [output.last!], pool: .shared)
                XCTAssertEqual(state.cache.length, 2 * committed.count, name)
                XCTAssertEqual(state.cache.positions, plain.cache.positions, name)
                XCTAssertEqual(state.lastHidden, plain.lastHidden, name)
                XCTAssertEqual(state.lastTrigram, plain.lastTrigram, name)
                XCTAssertEqual(state.lastLogits, draft.baseLogits(hidden: plain.lastHidden, model: model), "\(name): the reused logits row is W_lm h_{n-1}")
                for slot in 0..<plain.cache.length {
                    for c in 0..<plain.cache.rowWidth where state.cache.element(slot: slot, c) != plain.cache.element(slot: slot, c) {
                        XCTFail("\(name): slot \(slot) element \(c) differs after \(output.count) tokens"); return
                    }
                }
                checked += 1
            }
            XCTAssertGreaterThan(checked, 3, name)
        }
    }

    // MARK: - Decoding (spec invariant 1)

    func testGreedyChimeraEqualsGreedyForRandomWeightsOnEveryArchitecture() throws {
        let tables = ["chimera-23", "chain-1", "chain-4", "tree-10", "chimera-25:12", "[[3], [3, 9], [0], [0, 5, 2], [0, 5]]"]
        var accepted = 0
        for (name, model) in try allModels() {
            let V = model.shape.vocabularySize
            for (p, raw) in [[1, 2, 3, 4, 5], [17, 300, 17, 300, 17], [250], [9, 8, 7, 6, 5, 4, 3, 2]].enumerated() {
                let prompt = raw.map { $0 % V }
                let reference = try greedy(model, prompt, 32)
                for (t, table) in tables.enumerated() {
                    let tree = try ChimeraDecoding.tree(named: table)
                    for tied in [true, false] where tied || t == 0 {
                        let draft = ChimeraDraft.random(seed: UInt64(10 * p + t), model: model, tied: tied)
                        let (g, run) = try ChimeraDecoding.generate(model: model, prompt: prompt, draft: draft, tree: tree,
                                                                    stopping: StoppingCriteria(maxNewTokens: 32))
                        let label = "\(name) prompt \(p) \(table) tied \(tied)"
                        XCTAssertEqual(g.outputIDs, reference.outputIDs, label)
                        XCTAssertEqual(g.trace.map(\.logit), reference.trace.map(\.logit), label)
                        XCTAssertEqual(g.trace.map(\.topLogits), reference.trace.map(\.topLogits), label)
                        let steps = g.trace.compactMap(\.accepted)
                        XCTAssertEqual(steps.count, g.statistics.verificationSteps, label)
                        XCTAssertTrue(steps.allSatisfy { $0 >= 0 && $0 <= tree.depth }, label)
                        XCTAssertEqual(run.acceptedLengths.reduce(0, +), steps.count, label)
                        XCTAssertTrue(g.trace.compactMap(\.drafted).allSatisfy { $0.count == tree.count - 1 }, label)
                        XCTAssertEqual(g.statistics.meanAcceptedTokens, Double(g.statistics.tokensFromVerification) / Double(steps.count), accuracy: 1e-12, label)
                        accepted += g.statistics.acceptedDraftTokens
                    }
                }
            }
        }
        XCTAssertGreaterThan(accepted, 100, "the random drafts were accepted often enough to exercise the update")
    }

    func testOutputAndDraftsAreIdenticalForOneTwoAndThreeThreads() throws {
        var results: [[Int]] = []
        var traces: [[TraceStep]] = []
        for threads in [1, 2, 3] {
            let pool = ParallelFor(threadCount: threads)
            defer { pool.shutdown() }
            var out: [Int] = [], trace: [TraceStep] = []
            for (name, model) in try allModels() where name != "tiny-gemma3" {
                for tied in [true, false] {
                    let draft = ChimeraDraft.random(seed: 8, model: model, tied: tied)
                    let (g, run) = try ChimeraDecoding.generate(model: model, prompt: [5, 6, 7], draft: draft, tree: try ChimeraDecoding.tree(named: "chimera-23"),
                                                                stopping: StoppingCriteria(maxNewTokens: 24), pool: pool)
                    out += g.outputIDs + run.acceptedLengths
                    trace += g.trace
                }
            }
            results.append(out)
            traces.append(trace)
        }
        XCTAssertEqual(results[1], results[0])
        XCTAssertEqual(results[2], results[0])
        XCTAssertEqual(traces[1], traces[0], "the drafted tokens too")
        XCTAssertEqual(traces[2], traces[0])
    }

    /// The naive kernels give the same drafts and output as the fast ones.
    func testNaiveKernelsGiveTheSameDrafts() throws {
        var model = try SyntheticModels.model(SyntheticModels.tinyB)
        let draft = ChimeraDraft.random(seed: 6, model: model)
        let tree = try ChimeraDecoding.tree(named: "chimera-23")
        let fast = try ChimeraDecoding.generate(model: model, prompt: [3, 4, 5], draft: draft, tree: tree, stopping: StoppingCriteria(maxNewTokens: 20)).generation
        model.useNaiveKernels = true
        let naive = try ChimeraDecoding.generate(model: model, prompt: [3, 4, 5], draft: draft, tree: tree, stopping: StoppingCriteria(maxNewTokens: 20)).generation
        XCTAssertEqual(naive.trace, fast.trace)
    }

    func testContextLimitAndEndOfSequenceMatchGreedy() throws {
        let model = try SyntheticModels.model(SyntheticModels.tinyB)  // context 128
        let draft = ChimeraDraft.random(seed: 4, model: model)
        let tree = try ChimeraDecoding.tree(named: "chimera-23")
        let prompt = Array(1...100)
        let (g, _) = try ChimeraDecoding.generate(model: model, prompt: prompt, draft: draft, tree: tree, stopping: StoppingCriteria(maxNewTokens: 60))
        let reference = try greedy(model, prompt, 60)
        XCTAssertEqual(g.outputIDs, reference.outputIDs)
        XCTAssertEqual(g.stopReason, reference.stopReason)
        let long = try greedy(model, [5, 6, 7], 40)
        for cut in [3, 10, 25] {
            let eos = long.outputIDs[cut]
            let first = long.outputIDs.firstIndex(of: eos)!
            let (e, _) = try ChimeraDecoding.generate(model: model, prompt: [5, 6, 7], draft: draft, tree: tree,
                                                      stopping: StoppingCriteria(maxNewTokens: 40, endOfSequenceIDs: [eos]))
            XCTAssertEqual(e.outputIDs, Array(long.outputIDs[...first]))
            XCTAssertEqual(e.stopReason, .endOfSequence)
        }
    }

    // MARK: - Files

    func testWrittenWeightsLoadBackAndDraftTheSameTokensTiedAndUntied() throws {
        let model = try SyntheticModels.model(SyntheticModels.tinyB)
        let tree = try ChimeraDecoding.tree(named: "chimera-23")
        for tied in [true, false] {
            let draft = ChimeraDraft.random(seed: 3, model: model, tied: tied)
            let path = temporaryPath("weights-\(tied).safetensors")
            defer { try? FileManager.default.removeItem(atPath: path) }
            try draft.write(to: path)
            let loaded = try ChimeraDraft.load(path: path)
            XCTAssertEqual(loaded.isTied, tied)
            XCTAssertEqual(loaded.headCount, 4)
            XCTAssertEqual(loaded.metadata["chimera_num_heads"], "4")
            XCTAssertEqual(loaded.metadata["tied"], tied ? "true" : "false")
            XCTAssertEqual(loaded.tensors.map(\.name), draft.tensors.map(\.name))
            XCTAssertTrue(loaded.tensors.map(\.name).contains("fast_layer1.0.self_attn.q_proj.weight"))
            try loaded.check(against: model)
            let a = try ChimeraDecoding.generate(model: model, prompt: [1, 2, 3], draft: draft, tree: tree, stopping: StoppingCriteria(maxNewTokens: 16)).generation
            let b = try ChimeraDecoding.generate(model: model, prompt: [1, 2, 3], draft: loaded, tree: tree, stopping: StoppingCriteria(maxNewTokens: 16)).generation
            XCTAssertEqual(a.trace, b.trace)
            let strategy = try ChimeraDecoding.Strategy(weights: path, choices: "chain-2")
            XCTAssertEqual(strategy.parameters.map(\.0), ["chimera_weights", "chimera_weights_sha256", "chimera_choices"])
        }
    }

    func testBadWeightFilesAreTypedErrorsNamingTheKey() throws {
        let model = try SyntheticModels.model(SyntheticModels.tinyA)
        let good = ChimeraDraft.random(seed: 1, model: model, heads: 2, tied: false).tensors
        let C = model.shape.hiddenSize
        typealias T = (name: String, dtype: SafetensorsDType, shape: [Int], values: [Float])
        let tensors: [T] = good.map { ($0.name, .f32, $0.shape, $0.values) }
        func message(_ t: [T], metadata: [String: String] = [:]) -> String {
            do {
                let d = try ChimeraDraft.load(file: SafetensorsFile(bytes: SafetensorsWriter.bytes(t, metadata: metadata)), origin: "f")
                try d.check(against: model)
                return ""
            } catch let e as ChimeraError { return e.description } catch { return "untyped \(error)" }
        }
        func replacing(_ name: String, shape: [Int]) -> [T] {
            tensors.map { $0.name == name ? ($0.name, .f32, shape, [Float](repeating: 0.01, count: shape.reduce(1, *))) : $0 }
        }
        XCTAssertEqual(message(tensors), "")
        let tiedOnly = tensors.filter { !$0.name.hasPrefix("chimera_head") }
        XCTAssertEqual(message(tiedOnly, metadata: ["chimera_num_heads": "4", "tied": "true"]), "")
        XCTAssertTrue(message(tiedOnly).contains("needs metadata chimera_num_heads"))
        XCTAssertTrue(message(tensors, metadata: ["tied": "true"]).contains("tied = true, but the file has 'chimera_head.0.0.weight'"))
        XCTAssertTrue(message(tensors, metadata: ["chimera_num_heads": "3"]).contains("chimera_num_heads = 3 but the file has 2 heads"))
        XCTAssertTrue(message(tiedOnly, metadata: ["tied": "false"]).contains("missing tensor 'chimera_head.0.0.weight'"))
        XCTAssertTrue(message(tensors.filter { $0.name != "trimlp.0.linear.bias" }).contains("missing tensor 'trimlp.0.linear.bias'"))
        XCTAssertTrue(message(replacing("trimlp.0.linear.bias", shape: [3 * C + 1])).contains("'trimlp.0.linear.bias' has shape [\(3 * C + 1)]"))
        XCTAssertTrue(message(replacing("trimlp.0.linear.weight", shape: [3 * C, C])).contains("'trimlp.0.linear.weight' has shape [\(3 * C), \(C)]"))
        XCTAssertTrue(message(replacing("fast_layer1.0.self_attn.o_proj.weight", shape: [C, C + 2])).contains("'fast_layer1.0.self_attn.o_proj.weight'"))
        XCTAssertTrue(message(replacing("chimera_head.1.0.weight", shape: [7, 2 * C])).contains("'chimera_head.1.0.weight' has shape [7, \(2 * C)]"))
        XCTAssertTrue(message(tensors.filter { $0.name != "chimera_head.0.0.weight" }).contains("without gaps"))
        XCTAssertTrue(message(tensors + [("lm_head.weight", .f32, [2], [0, 0])]).contains("unexpected tensor 'lm_head.weight'"))
        XCTAssertTrue(message(tensors + [("chimera_head.0.1.linear.weight", .f32, [2], [0, 0])]).contains("unexpected tensor 'chimera_head.0.1.linear.weight'"))
        // Shapes that load but do not fit the model.
        let other = ChimeraDraft.random(seed: 1, model: try SyntheticModels.model(SyntheticModels.tinyB), heads: 1).tensors.map { T($0.name, .f32, $0.shape, $0.values) }
        if try SyntheticModels.model(SyntheticModels.tinyB).shape.hiddenSize != C {
            XCTAssertTrue(message(other, metadata: ["chimera_num_heads": "1"]).contains("hidden size is \(C)"))
        }
        let gemma = try TinyGemma3.model()
        let gemmaDraft = ChimeraDraft.random(seed: 1, model: gemma, heads: 1)
        XCTAssertThrowsError(try gemmaDraft.check(against: SyntheticArchitectures.anyModel(named: "tiny-qwen2"))) { XCTAssertTrue($0 is ChimeraError) }
        do { _ = try ChimeraDraft.load(path: temporaryPath("absent.safetensors")); XCTFail("loaded a missing file") } catch let e as ChimeraError {
            XCTAssertTrue(e.description.contains("no Chimera weights file"))
        }
    }

    // MARK: - Strategy

    func testStrategyNeedsWeightsRecordsItsOptionsAndRejectsTreesDeeperThanTheHeads() throws {
        let model = try SyntheticModels.model(SyntheticModels.tinyA)
        // The default is the shipped SmolLM2 draft: loaded and named (with the file's SHA-256) when
        // the file is there, a message saying where it was looked for otherwise.
        if ShippedWeights.find(ChimeraDraft.shippedRelativePath) != nil {
            let shipped = try DecodingStrategies.make("chimera", arguments: StrategyArguments([:]))
            XCTAssertEqual(shipped.parameters.first?.1, .string("shipped"))
            XCTAssertTrue(shipped.parameters.contains { $0.0 == "chimera_weights_sha256" })
            XCTAssertThrowsError(try shipped.generate(model: model, prompt: [1, 2, 3], stopping: StoppingCriteria(maxNewTokens: 2))) {
                XCTAssertTrue("\($0)".contains("hidden size"), "\($0)")
            }
        } else {
            XCTAssertThrowsError(try DecodingStrategies.make("chimera", arguments: StrategyArguments([:]))) {
                XCTAssertTrue("\($0)".contains("was not found"), "\($0)")
            }
        }
        XCTAssertThrowsError(try ChimeraDecoding.Strategy(weights: "random:x")) { XCTAssertTrue("\($0)".contains("random:SEED")) }
        XCTAssertThrowsError(try ChimeraDecoding.Strategy(weights: "random:1", choices: "chimera-25")) {
            XCTAssertEqual($0 as? ChimeraError, .treeTooDeep(depth: 5, heads: 4))
        }
        XCTAssertNoThrow(try ChimeraDecoding.Strategy(weights: "random:1:5", choices: "chimera-25"))
        XCTAssertThrowsError(try ChimeraDecoding.Strategy(weights: "random:1", choices: "nonesuch")) { XCTAssertTrue("\($0)".contains("chimera-23")) }
        let s = try DecodingStrategies.make("chimera", arguments: StrategyArguments(["chimera-weights": "random:3"]))
        XCTAssertEqual(JSONValue.object(s.parameters).serialized(), #"{"chimera_weights":"random:3","chimera_choices":"chain-3"}"#)
        let rebuilt = try DecodingStrategies.make(algorithm: "chimera", record: s.parameters, seed: nil)
        XCTAssertEqual(JSONValue.object(rebuilt.parameters).serialized(), JSONValue.object(s.parameters).serialized())
        let out = try s.generate(model: model, prompt: [1, 2, 3], stopping: StoppingCriteria(maxNewTokens: 20))
        let again = try rebuilt.generate(model: model, prompt: [1, 2, 3], stopping: StoppingCriteria(maxNewTokens: 20))
        XCTAssertEqual(out.generation.trace, again.generation.trace)
        let stats = Dictionary(uniqueKeysWithValues: out.statistics.map { ($0.0, $0.1) })
        XCTAssertEqual(stats["tree_nodes"], .int(3))
        XCTAssertEqual(stats["tree_depth"], .int(3))
        XCTAssertEqual(stats["chimera_head_count"], .int(4))
        XCTAssertEqual(stats["chimera_tied_heads"], .bool(true))
        XCTAssertEqual(stats["drafted_tokens"], .int(3 * out.generation.statistics.verificationSteps))
        let tree = try ChimeraDecoding.tree(named: "chimera-23")
        XCTAssertEqual(tree.count, 24)
        XCTAssertEqual(tree.depthCounts, [4, 8, 8, 3])
        XCTAssertEqual(try ChimeraDecoding.tree(named: "chimera-25").depthCounts, [4, 8, 8, 3, 2])
    }

    // MARK: - Real model

    func testSmolLM2GreedyChimeraEqualsGreedyWithRandomWeights() throws {
        let loaded = try SmolLM2TestModel.load()
        let model = loaded.model, tokenizer = try XCTUnwrap(loaded.tokenizer)
        let prompt = tokenizer.encode(ChatTemplate.chatML.apply(messages: [("user", "Write a Python function that reverses a list.")], addGenerationPrompt: true))
        let reference = try greedy(model, prompt, 24)
        let draft = ChimeraDraft.random(seed: 1, model: model)
        let (g, _) = try ChimeraDecoding.generate(model: model, prompt: prompt, draft: draft, tree: try ChimeraDecoding.tree(named: "chimera-23"),
                                                  stopping: StoppingCriteria(maxNewTokens: 24))
        XCTAssertEqual(g.outputIDs, reference.outputIDs)
        XCTAssertEqual(g.trace.map(\.logit), reference.trace.map(\.logit))
    }
}

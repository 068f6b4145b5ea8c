import Foundation
import XCTest
@testable import Decoding
import Formats
import Tensors
import Tokenization
@testable import Transformer

final class MedusaTests: XCTestCase {
    func greedy(_ model: any CausalLanguageModel, _ prompt: [Int], _ n: Int, pool: ParallelFor = .shared) throws -> Generation {
        try GreedyDecoding.generate(model: model, prompt: prompt, stopping: StoppingCriteria(maxNewTokens: n), pool: pool)
    }

    /// The final-norm output and logits of the last prompt position.
    func lastPosition(_ model: any CausalLanguageModel, _ prompt: [Int]) throws -> (hidden: [Float], logits: [Float]) {
        let r = try model.forward(tokens: prompt, cache: model.makeCache(), logitRows: .last, taps: ForwardTaps(finalNormOutput: true))
        let C = model.shape.hiddenSize
        return (Array(r.finalNormOutput![((prompt.count - 1) * C)..<(prompt.count * C)]), r.logits)
    }

    func matrixValues(_ m: WeightMatrix) -> [Float] {
        var v = [Float](repeating: 0, count: m.rows * m.columns)
        v.withUnsafeMutableBufferPointer { p in for r in 0..<m.rows { m.decodeRow(r, into: p.baseAddress! + r * m.columns) } }
        return v
    }

    /// Heads with zero ResBlock weights and biases; `untied` copies the model's head into each.
    func zeroHeads(_ model: any CausalLanguageModel, count: Int, untied: Bool) -> MedusaHeads {
        let C = model.shape.hiddenSize, V = model.shape.vocabularySize
        let lm = untied ? matrixValues(model.outputHead) : []
        let heads = (0..<count).map { _ in
            MedusaHeads.Head(blocks: [.init(weight: WeightMatrix(rows: C, columns: C, values: [Float](repeating: 0, count: C * C)),
                                            bias: [Float](repeating: 0, count: C))],
                             vocabulary: untied ? WeightMatrix(rows: V, columns: C, values: lm) : nil)
        }
        return MedusaHeads(heads: heads, hiddenSize: C, origin: "zero")
    }

    // MARK: - Heads

    /// Spec invariant 5: ResBlock weight and bias zero (SiLU(0) = 0) and the vocabulary projection
    /// copied from the LM head (or tied to it) make every head's logits the model's own, bit for bit.
    func testZeroResBlocksWithTheLMHeadGiveTheModelsLogits() throws {
        for preset in SyntheticModels.presets {
            let model = try SyntheticModels.model(preset)
            let (h, logits) = try lastPosition(model, [3, 1, 4, 1, 5])
            for untied in [false, true] {
                let heads = zeroHeads(model, count: 3, untied: untied)
                XCTAssertEqual(heads.isTied, !untied)
                let out = h.withUnsafeBufferPointer { heads.logits(hidden: $0.baseAddress!, heads: 3, model: model) }
                for k in 0..<3 { XCTAssertEqual(Array(out[(k * logits.count)..<((k + 1) * logits.count)]), logits, "\(preset.name) untied \(untied) head \(k)") }
            }
        }
    }

    /// The heads' arithmetic against a scalar loop written from the formula:
    /// `z = h + SiLU(W h + b)` (sums left to right), then `U z` or the model's head.
    func testHeadLogitsEqualANaiveScalarComputation() throws {
        let model = try SyntheticModels.model(SyntheticModels.tinyB)
        let C = model.shape.hiddenSize, V = model.shape.vocabularySize
        let (h, _) = try lastPosition(model, [7, 8, 9])
        for tied in [true, false] {
            let heads = MedusaHeads.random(seed: 11, heads: 2, model: model, tied: tied)
            let out = h.withUnsafeBufferPointer { heads.logits(hidden: $0.baseAddress!, heads: 2, model: model) }
            for k in 0..<2 {
                let w = matrixValues(heads.heads[k].blocks[0].weight), b = heads.heads[k].blocks[0].bias
                var z = h
                for i in 0..<C {
                    var s: Float = 0
                    for j in 0..<C { s = s + w[i * C + j] * h[j] }
                    z[i] = h[i] + DeterministicMath.silu(s + b[i])
                }
                let u = matrixValues(tied ? model.outputHead : heads.heads[k].vocabulary!)
                for v in 0..<V {
                    var s: Float = 0
                    for j in 0..<C { s = s + u[v * C + j] * z[j] }
                    XCTAssertEqual(out[k * V + v], s, "tied \(tied) head \(k) token \(v)")
                }
            }
        }
    }

    func testSeededRandomHeadsAreReproducibleAndDifferBySeed() throws {
        let model = try SyntheticModels.model(SyntheticModels.tinyA)
        let a = MedusaHeads.random(seed: 5, heads: 2, model: model), b = MedusaHeads.random(seed: 5, heads: 2, model: model)
        let c = MedusaHeads.random(seed: 6, heads: 2, model: model)
        XCTAssertEqual(a.tensors.map(\.values), b.tensors.map(\.values))
        XCTAssertNotEqual(a.tensors.map(\.values), c.tensors.map(\.values))
        XCTAssertEqual(a.tensors.map(\.name), ["0.0.linear.weight", "0.0.linear.bias", "1.0.linear.weight", "1.0.linear.bias"])
    }

    // MARK: - Loader

    func temporaryPath(_ name: String) -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("medusa-tests-\(ProcessInfo.processInfo.processIdentifier)")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.appendingPathComponent(name).path
    }

    func testWrittenHeadsLoadBackWithIdenticalLogitsTiedAndUntied() throws {
        let model = try SyntheticModels.model(SyntheticModels.tinyB)
        let (h, _) = try lastPosition(model, [1, 2])
        for tied in [true, false] {
            let heads = MedusaHeads.random(seed: 3, heads: 3, model: model, tied: tied)
            let path = temporaryPath("heads-\(tied).safetensors")
            try heads.write(to: path)
            let loaded = try MedusaHeads.load(path: path)
            XCTAssertEqual(loaded.count, 3)
            XCTAssertEqual(loaded.isTied, tied)
            XCTAssertEqual(loaded.metadata["tied_lm_head"], tied ? "true" : "false")
            try loaded.check(against: model)
            let a = h.withUnsafeBufferPointer { heads.logits(hidden: $0.baseAddress!, heads: 3, model: model) }
            let b = h.withUnsafeBufferPointer { loaded.logits(hidden: $0.baseAddress!, heads: 3, model: model) }
            XCTAssertEqual(a, b)
        }
    }

    /// F16 and BF16 tensors widen exactly: the loaded weights are the narrowed values.
    func testHalfPrecisionHeadFilesLoadAsTheirWidenedValues() throws {
        let C = 64
        var g = Xoshiro256StarStar(seed: 9)
        let w = (0..<(C * C)).map { _ in g.nextUniformFloat() - 0.5 }, b = (0..<C).map { _ in g.nextUniformFloat() - 0.5 }
        for dtype in [SafetensorsDType.f16, .bf16] {
            let bytes = try SafetensorsWriter.bytes([("0.0.linear.weight", dtype, [C, C], w), ("0.0.linear.bias", dtype, [C], b)], metadata: [:])
            let heads = try MedusaHeads.load(file: SafetensorsFile(bytes: bytes), origin: "mem")
            let narrowed = try SafetensorsFile(bytes: bytes).floats(named: "0.0.linear.weight")
            XCTAssertEqual(matrixValues(heads.heads[0].blocks[0].weight), narrowed)
            XCTAssertNotEqual(narrowed, w, "\(dtype) rounds")
            XCTAssertTrue(heads.isTied)
        }
    }

    func testBadHeadFilesAreTypedErrorsNamingTheKey() throws {
        let C = 64, V = 512
        func tensor(_ name: String, _ shape: [Int]) -> (name: String, dtype: SafetensorsDType, shape: [Int], values: [Float]) {
            (name, .f32, shape, [Float](repeating: 0.01, count: shape.reduce(1, *)))
        }
        func message(_ tensors: [(name: String, dtype: SafetensorsDType, shape: [Int], values: [Float])], metadata: [String: String] = [:]) -> String {
            do {
                let heads = try MedusaHeads.load(file: SafetensorsFile(bytes: SafetensorsWriter.bytes(tensors, metadata: metadata)), origin: "f")
                try heads.check(against: SyntheticModels.model(SyntheticModels.tinyA))
                return ""
            } catch let e as MedusaError { return e.description } catch { return "untyped \(error)" }
        }
        let ok = [tensor("0.0.linear.weight", [C, C]), tensor("0.0.linear.bias", [C])]
        XCTAssertEqual(message(ok), "")
        XCTAssertEqual(message(ok + [tensor("0.1.weight", [V, C])]), "")
        XCTAssertTrue(message([tensor("0.0.linear.weight", [C, C])]).contains("missing tensor '0.0.linear.bias'"))
        XCTAssertTrue(message([tensor("0.0.linear.weight", [C, C]), tensor("0.0.linear.bias", [C + 1])]).contains("'0.0.linear.bias' has shape [65]"))
        XCTAssertTrue(message(ok + [tensor("1.0.linear.weight", [C, C - 1]), tensor("1.0.linear.bias", [C])]).contains("'1.0.linear.weight' has shape [64, 63]"))
        XCTAssertTrue(message(ok + [tensor("2.0.linear.weight", [C, C]), tensor("2.0.linear.bias", [C])]).contains("missing tensor '1.0.linear.weight'"))
        XCTAssertTrue(message(ok + [tensor("lm_head.weight", [V, C])]).contains("unexpected tensor 'lm_head.weight'"))
        XCTAssertTrue(message(ok + [tensor("0.3.weight", [V, C])]).contains("unexpected tensor '0.3.weight'"))
        XCTAssertTrue(message(ok + [tensor("0.1.weight", [V, C])], metadata: ["tied_lm_head": "true"]).contains("tied_lm_head = true"))
        XCTAssertTrue(message(ok, metadata: ["tied_lm_head": "false"]).contains("missing tensor '0.1.weight'"))
        XCTAssertTrue(message(ok + [tensor("0.1.weight", [V, C]), tensor("1.0.linear.weight", [C, C]), tensor("1.0.linear.bias", [C])])
            .contains("missing tensor '1.1.weight'"))
        XCTAssertTrue(message([tensor("0.0.linear.weight", [32, 32]), tensor("0.0.linear.bias", [32])]).contains("hidden size is 64"))
        XCTAssertTrue(message(ok + [tensor("0.1.weight", [V + 1, C])]).contains("vocabulary has 512"))
        XCTAssertTrue(message([]).contains("no tensors"))
        do { _ = try MedusaHeads.load(path: temporaryPath("absent.safetensors")); XCTFail("loaded a missing file") } catch let e as MedusaError {
            XCTAssertTrue(e.description.contains("no Medusa heads file"))
        }
        let searched = MedusaHeads.shippedCandidates(currentDirectory: "/nonexistent/dir")
        XCTAssertTrue(searched.allSatisfy { $0.hasSuffix("Weights/smollm2-135m-instruct/medusa-heads.safetensors") })
        XCTAssertTrue(MedusaError.shippedHeadsNotFound(searched: searched).description.contains("give --medusa-heads FILE"))
    }

    func testStrategyRejectsBadOptionsAndTreesDeeperThanTheHeads() throws {
        let model = try SyntheticModels.model(SyntheticModels.tinyA)
        let s = try MedusaDecoding.Strategy(heads: "random:1:2", choices: "chain-3")
        XCTAssertThrowsError(try s.generate(model: model, prompt: [1], stopping: StoppingCriteria(maxNewTokens: 4))) { e in
            XCTAssertEqual(e as? MedusaError, .treeTooDeep(depth: 3, heads: 2))
        }
        XCTAssertThrowsError(try MedusaDecoding.Strategy(heads: "random:x:2")) { e in XCTAssertTrue("\(e)".contains("random:SEED:K")) }
        XCTAssertThrowsError(try DecodingStrategies.make("medusa", arguments: StrategyArguments(["temperature": "-1"]))) { e in
            XCTAssertTrue("\(e)".contains("--temperature must be in"))
        }
        let big = try MedusaDecoding.Strategy(heads: "random:1:4", choices: "chain-2")
        let other = try SyntheticModels.model(SyntheticModels.tinyB)
        let heads = MedusaHeads.random(seed: 1, heads: 2, model: other)
        XCTAssertThrowsError(try MedusaDecoding.generate(model: model, prompt: [1], heads: heads, tree: big.tree, stopping: StoppingCriteria(maxNewTokens: 4))) { e in
            XCTAssertTrue("\(e)".contains("hidden size is 64"))
        }
    }

    // MARK: - Acceptance

    /// Typical acceptance on a 3-token vocabulary, worked by hand. Tree `[[0], [1], [0, 0]]`:
    /// tree indices 0 (root), 1 = [0], 2 = [1], 3 = [0, 0]; rows [0, 1, 3] and [0, 2, -1].
    func testTypicalAcceptanceWorkedByHand() throws {
        let tree = try MedusaTree(choices: [[0], [1], [0, 0]])
        let ln = { (x: Float) in Float(Foundation.log(Double(x))) }
        // Root logits = log([0.5, 0.3, 0.2]) (temperature 1 → P = those): H = −Σ p log(p + 1e-5)
        // ≈ 1.0297, exp(−H) · 0.3 ≈ 0.1071, threshold = min(0.09, 0.1071) = 0.09.
        // Node 1 = token 1 (p 0.3 > 0.09) and node 2 = token 2 (p 0.2 > 0.09) are both accepted.
        // Node 1's logits = log([0.05, 0.9, 0.05]): H ≈ 0.394, 0.3·exp(−H) ≈ 0.2023, threshold 0.09;
        // node 3 = token 0 has p 0.05 < 0.09: rejected. Both rows accept 1 token; likelihoods log 0.3
        // (row 0) > log 0.2 (row 1): row 0 wins.
        let rows: [[Float]] = [[0.5, 0.3, 0.2], [0.05, 0.9, 0.05], [0.2, 0.2, 0.6], [1, 1, 1]].map { $0.map(ln) }
        let logits = rows.flatMap { $0 }
        let tokens = [0, 1, 2, 0]
        let typical = MedusaDecoding.Acceptance.typical(temperature: 1, posteriorThreshold: 0.09, posteriorAlpha: 0.3)
        func run(_ t: [Int], _ a: MedusaDecoding.Acceptance, _ l: [Float] = logits) -> (Int, Int) {
            let r = l.withUnsafeBufferPointer { MedusaDecoding.accept(tree: tree, tokens: t, logits: $0.baseAddress!, vocabularySize: 3, acceptance: a) }
            return (r.row, r.length)
        }
        XCTAssertTrue(run(tokens, typical) == (0, 1))
        // Swap the two first-level tokens: node 1 = token 2 (0.2), node 2 = token 1 (0.3): row 1 wins.
        XCTAssertTrue(run([0, 2, 1, 0], typical) == (1, 1))
        // Node 3 = token 1 (p 0.9): row 0 accepts two.
        XCTAssertTrue(run([0, 1, 2, 1], typical) == (0, 2))
        // The threshold binds through alpha: with δ = 0.05, node 1's threshold is 0.05·exp(−0.394) ≈ 0.0337
        // < 0.05, so node 3 = token 0 passes; with δ = 0.1 it is ≈ 0.0674 > 0.05 and node 3 fails.
        XCTAssertTrue(run(tokens, .typical(temperature: 1, posteriorThreshold: 0.09, posteriorAlpha: 0.05)) == (0, 2))
        XCTAssertTrue(run(tokens, .typical(temperature: 1, posteriorThreshold: 0.09, posteriorAlpha: 0.1)) == (0, 1))
        // A high threshold and alpha reject everything: row 0, length 0.
        XCTAssertTrue(run(tokens, .typical(temperature: 1, posteriorThreshold: 0.9, posteriorAlpha: 1)) == (0, 0))
        // Temperature 0.5 sharpens the root: P ∝ p² = [0.658, 0.237, 0.105]; H ≈ 0.851,
        // 0.3·exp(−H) ≈ 0.128 → threshold 0.09: token 2 (0.105) still passes, token 1 too.
        XCTAssertTrue(run([0, 2, 1, 0], .typical(temperature: 0.5, posteriorThreshold: 0.09, posteriorAlpha: 0.3)) == (1, 1))
        // Greedy: the root's argmax is token 0; only a node carrying 0 is accepted.
        XCTAssertTrue(run(tokens, .greedy) == (0, 0))
        XCTAssertTrue(run([0, 2, 0, 1], .greedy) == (1, 1), "node 2 = token 0 is accepted: row 1")
        XCTAssertTrue(run([0, 0, 2, 1], .greedy) == (0, 2), "node 1 = 0, then node 3 = 1 = argmax of node 1's logits")
    }

    /// A padded retrieve slot is never accepted, even when the target's argmax is token 0 (the
    /// token the reference compares the padding with).
    func testPaddingIsNeverAccepted() throws {
        let tree = try MedusaTree(choices: [[0], [1], [0, 0]])
        // Every row's argmax is token 0.
        let logits: [Float] = [1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0]
        let r = logits.withUnsafeBufferPointer { MedusaDecoding.accept(tree: tree, tokens: [0, 1, 0, 0], logits: $0.baseAddress!, vocabularySize: 3, acceptance: .greedy) }
        // Row 0 = [0, 1, 3]: node 1 carries 1 ≠ 0 → 0; row 1 = [0, 2, -1]: node 2 = 0 accepted, padding not: 1.
        XCTAssertEqual(r.row, 1)
        XCTAssertEqual(r.length, 1)
    }

    // MARK: - Decoding

    func testGreedyMedusaEqualsGreedyForRandomHeadsAndEveryTable() throws {
        let tables = ["mc_sim_7b_63", "chain-1", "chain-4", "tree-6", "tree-10", "mc_sim_7b_63:20", "[[3], [3, 9], [0], [0, 5, 2], [0, 5]]"]
        var accepted = 0
        for preset in SyntheticModels.presets {
            let model = try SyntheticModels.model(preset)
            for (p, prompt) in [[1, 2, 3, 4, 5], [17, 300, 17, 300, 17], [250], [9, 8, 7, 6, 5, 4, 3, 2]].enumerated() {
                let reference = try greedy(model, prompt, 40)
                for (t, table) in tables.enumerated() {
                    let tree = try MedusaTree.named(table)
                    for tied in [true, false] where tied || t == 0 {
                        let heads = MedusaHeads.random(seed: UInt64(10 * p + t), heads: 4, model: model, tied: tied)
                        let (g, run) = try MedusaDecoding.generate(model: model, prompt: prompt, heads: heads, tree: tree,
                                                                   stopping: StoppingCriteria(maxNewTokens: 40))
                        let label = "\(preset.name) prompt \(p) \(table) tied \(tied)"
                        XCTAssertEqual(g.outputIDs, reference.outputIDs, label)
                        XCTAssertEqual(g.trace.map(\.logit), reference.trace.map(\.logit), label)
                        XCTAssertEqual(g.trace.map(\.topLogits), reference.trace.map(\.topLogits), label)
                        // Per step 1 ≤ emitted ≤ depth + 1: the accepted count is at most the depth, and the
                        // steps' emitted tokens (accepted + 1, the last step possibly cut) add up to the output.
                        let steps = g.trace.compactMap(\.accepted)
                        XCTAssertEqual(steps.count, g.statistics.verificationSteps)
                        XCTAssertTrue(steps.allSatisfy { $0 >= 0 && $0 <= tree.depth }, label)
                        XCTAssertEqual(run.acceptedLengths.reduce(0, +), steps.count)
                        let beforeLast = 1 + steps.dropLast().reduce(0) { $0 + $1 + 1 }
                        XCTAssertLessThan(beforeLast, 40, label)
                        XCTAssertGreaterThanOrEqual(beforeLast + steps.last! + 1, 40, "the last step emitted the rest: \(label)")
                        XCTAssertTrue(g.trace.compactMap(\.drafted).allSatisfy { $0.count == tree.count - 1 })
                        accepted += g.statistics.acceptedDraftTokens
                    }
                }
            }
        }
        XCTAssertGreaterThan(accepted, 200, "the random heads' drafts were accepted often enough to exercise the update")
    }

    /// Spec invariant 4: after every step the cache holds the prompt and every emitted token but
    /// the pending one, with exactly the keys and values a plain forward pass over them computes.
    func testKVCacheAfterEveryStepEqualsAPlainForwardOverTheIDs() throws {
        for preset in SyntheticModels.presets {
            let model = try SyntheticModels.model(preset)
            let prompt = [17, 300, 17, 300, 17].map { $0 % model.shape.vocabularySize }
            let heads = MedusaHeads.random(seed: 2, heads: 4, model: model)
            var checkedSteps = 0
            _ = try MedusaDecoding.run(model: model, prompt: prompt, heads: heads, tree: try MedusaTree.named("mc_sim_7b_63"), acceptance: .greedy,
                                       stopping: StoppingCriteria(maxNewTokens: 30), traceTopK: 0, pool: .shared, onToken: nil) { cache, output in
                let ids = prompt + output.dropLast()
                XCTAssertEqual(cache.length, ids.count)
                XCTAssertEqual(cache.positions, Array(0..<ids.count))
                let plain = model.makeCache()
                _ = try? model.forward(tokens: ids, cache: plain, logitRows: .none)
                for l in 0..<cache.layerCount {
                    for slot in 0..<ids.count {
                        for c in 0..<cache.rowWidth {
                            if cache.keyTiles[l][cache.tileIndex(slot, c)] != plain.keyTiles[l][plain.tileIndex(slot, c)]
                                || cache.valueTiles[l][cache.valueIndex(slot, c)] != plain.valueTiles[l][plain.valueIndex(slot, c)] {
                                XCTFail("\(preset.name): layer \(l) slot \(slot) element \(c) differs after \(output.count) tokens"); return
                            }
                        }
                    }
                }
                checkedSteps += 1
            }
            XCTAssertGreaterThan(checkedSteps, 3)
        }
    }

    func testTypicalAcceptanceIsDeterministicAndEmitsTheTargetsArgmaxAfterEachAcceptedRun() throws {
        let model = try SyntheticModels.model(SyntheticModels.tinyA)
        let heads = MedusaHeads.random(seed: 4, heads: 4, model: model)
        let tree = try MedusaTree.named("mc_sim_7b_63")
        let typical = MedusaDecoding.Acceptance.typical(temperature: 0.7, posteriorThreshold: 0.09, posteriorAlpha: 0.3)
        let a = try MedusaDecoding.generate(model: model, prompt: [9, 8, 7], heads: heads, tree: tree, acceptance: typical, stopping: StoppingCriteria(maxNewTokens: 48))
        let b = try MedusaDecoding.generate(model: model, prompt: [9, 8, 7], heads: heads, tree: tree, acceptance: typical, stopping: StoppingCriteria(maxNewTokens: 48))
        XCTAssertEqual(a.generation.outputIDs, b.generation.outputIDs)
        XCTAssertEqual(a.generation.outputIDs.count, 48)
        // The last token of each step (the one after the accepted run) is the argmax of its row.
        var i = 1
        for step in a.generation.trace.compactMap(\.accepted) {
            i += step
            guard i < a.generation.trace.count else { break }
            let t = a.generation.trace[i]
            XCTAssertEqual(t.token, t.topLogits[0].id)
            i += 1
        }
    }

    func testOutputIsIdenticalForOneTwoAndThreeThreads() throws {
        let model = try SyntheticModels.model(SyntheticModels.tinyB)
        var results: [[Int]] = []
        var traces: [[TraceStep]] = []
        for threads in [1, 2, 3] {
            let pool = ParallelFor(threadCount: threads)
            defer { pool.shutdown() }
            var out: [Int] = []
            var trace: [TraceStep] = []
            for (tied, acceptance) in [(true, MedusaDecoding.Acceptance.greedy), (false, .typical(temperature: 0.8, posteriorThreshold: 0.09, posteriorAlpha: 0.3))] {
                let heads = MedusaHeads.random(seed: 8, heads: 4, model: model, tied: tied)
                let (g, run) = try MedusaDecoding.generate(model: model, prompt: [5, 6, 7], heads: heads, tree: try MedusaTree.named("mc_sim_7b_63"),
                                                           acceptance: acceptance, stopping: StoppingCriteria(maxNewTokens: 32), pool: pool)
                out += g.outputIDs + run.acceptedLengths
                trace += g.trace
            }
            results.append(out)
            traces.append(trace)
        }
        XCTAssertEqual(results[1], results[0])
        XCTAssertEqual(results[2], results[0])
        XCTAssertEqual(traces[1], traces[0])
        XCTAssertEqual(traces[2], traces[0])
    }

    /// At the context limit the tree is cut to the room left; the output still equals greedy up to
    /// the limit. EOS inside an accepted run ends the output there.
    func testContextLimitAndEndOfSequenceMatchGreedy() throws {
        let model = try SyntheticModels.model(SyntheticModels.tinyB)  // context 128
        let limit = model.shape.contextLength
        let prompt = Array(1...100)
        let heads = MedusaHeads.random(seed: 1, heads: 4, model: model)
        let tree = try MedusaTree.named("mc_sim_7b_63")
        let reference = try greedy(model, prompt, 100)
        let (g, _) = try MedusaDecoding.generate(model: model, prompt: prompt, heads: heads, tree: tree, stopping: StoppingCriteria(maxNewTokens: 100))
        XCTAssertEqual(g.outputIDs, reference.outputIDs)
        XCTAssertEqual(g.stopReason, reference.stopReason)
        XCTAssertEqual(g.stopReason, .contextLimit)
        XCTAssertEqual(prompt.count + g.outputIDs.count, limit + 1, "the last token is emitted without being fed")
        // EOS: pick a token greedy emits later, where Medusa accepted a run through it.
        let long = try greedy(model, [5, 6, 7], 40)
        let (free, _) = try MedusaDecoding.generate(model: model, prompt: [5, 6, 7], heads: heads, tree: tree, stopping: StoppingCriteria(maxNewTokens: 40))
        XCTAssertEqual(free.outputIDs, long.outputIDs)
        for cut in [3, 10, 25] {
            let eos = long.outputIDs[cut]
            let first = long.outputIDs.firstIndex(of: eos)!
            let stopping = StoppingCriteria(maxNewTokens: 40, endOfSequenceIDs: [eos])
            let (e, _) = try MedusaDecoding.generate(model: model, prompt: [5, 6, 7], heads: heads, tree: tree, stopping: stopping)
            XCTAssertEqual(e.outputIDs, Array(long.outputIDs[...first]))
            XCTAssertEqual(e.stopReason, .endOfSequence)
        }
    }

    func testStrategyRecordsItsParametersAndStatistics() throws {
        let model = try SyntheticModels.model(SyntheticModels.tinyA)
        let s = try MedusaDecoding.Strategy(heads: "random:3:4", choices: "tree-6")
        XCTAssertEqual(JSONValue.object(s.parameters).serialized(), #"{"medusa_heads":"random:3:4","medusa_choices":"tree-6","temperature":0.0}"#)
        let out = try s.generate(model: model, prompt: [1, 2, 3], stopping: StoppingCriteria(maxNewTokens: 20))
        let stats = Dictionary(uniqueKeysWithValues: out.statistics.map { ($0.0, $0.1) })
        XCTAssertEqual(stats["tree_nodes"], .int(6))
        XCTAssertEqual(stats["tree_depth"], .int(3))
        XCTAssertEqual(stats["medusa_head_count"], .int(4))
        XCTAssertEqual(stats["drafted_tokens"], .int(6 * out.generation.statistics.verificationSteps))
        let typical = try MedusaDecoding.Strategy(heads: "random:3:4", choices: "tree-6", temperature: 0.7)
        XCTAssertEqual(JSONValue.object(typical.parameters).serialized(),
                       #"{"medusa_heads":"random:3:4","medusa_choices":"tree-6","temperature":0.7,"posterior_threshold":0.09,"posterior_alpha":0.3}"#)
    }

    // MARK: - Real model

    func testSmolLM2GreedyMedusaEqualsGreedyWithRandomHeads() throws {
        let loaded = try SmolLM2TestModel.load()
        let model = loaded.model, tokenizer = try XCTUnwrap(loaded.tokenizer)
        let prompts = [
            tokenizer.encode(ChatTemplate.chatML.apply(messages: [("user", "Write a Python function that reverses a list.")], addGenerationPrompt: true)),
            tokenizer.encode("The history of the city of Paris"),
        ]
        // Zero ResBlocks (head = the LM head: predicts the next token's neighbours) and seeded random ones.
        for (p, prompt) in prompts.enumerated() {
            let reference = try greedy(model, prompt, 40)
            for (heads, table) in [(zeroHeads(model, count: 4, untied: false), "mc_sim_7b_63"), (MedusaHeads.random(seed: 1, heads: 4, model: model), "tree-10"),
                                   (MedusaHeads.random(seed: 2, heads: 4, model: model), "chain-3")] {
                let (g, _) = try MedusaDecoding.generate(model: model, prompt: prompt, heads: heads, tree: try MedusaTree.named(table),
                                                         stopping: StoppingCriteria(maxNewTokens: 40))
                XCTAssertEqual(g.outputIDs, reference.outputIDs, "prompt \(p) \(table) \(heads.origin)")
                XCTAssertEqual(g.trace.map(\.logit), reference.trace.map(\.logit))
            }
        }
    }
}

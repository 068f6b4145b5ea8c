import Foundation
import XCTest
import Formats
import Tensors
import Transformer
import Loader

/// Gemma 3 270M (Q4_K_M GGUF) against the independent peer (Hugging Face transformers, Float32,
/// eager attention, weights dequantized from the same file): fixtures made by
/// Scripts/peer_gemma3.py. CI fetches the model (`touchstone fetch --model gemma3-270m`);
/// locally the tests skip when it is absent.
final class Gemma3PeerAgreementTests: XCTestCase {
    static let fixtureDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/peer/gemma3")

    struct Position {
        let position: Int
        let topIDs: [Int]
        let topLogits: [Float]
        let strided: [Float]
        let minimum: Float
        let maximum: Float
    }

    struct Prompt {
        let ids: [Int]
        let lastLogitsFile: String
        let positions: [Position]
        let greedy: [Int]
        let margins: [Double]
    }

    struct Reference {
        let vocab: Int
        let stride: Int
        let sha256: String
        let prompts: [Prompt]
    }

    static func loadReference() throws -> Reference {
        let data = try Data(contentsOf: fixtureDirectory.appendingPathComponent("reference.json"))
        let doc = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        func floats(_ v: Any?) throws -> [Float] { try XCTUnwrap(v as? [Double]).map { Float($0) } }
        let prompts = try XCTUnwrap(doc["prompts"] as? [[String: Any]]).map { p -> Prompt in
            let positions = try XCTUnwrap(p["positions"] as? [[String: Any]]).map { q in
                Position(position: try XCTUnwrap(q["position"] as? Int), topIDs: try XCTUnwrap(q["top_ids"] as? [Int]), topLogits: try floats(q["top_logits"]),
                         strided: try floats(q["strided_logits"]), minimum: Float(try XCTUnwrap(q["min"] as? Double)),
                         maximum: Float(try XCTUnwrap(q["max"] as? Double)))
            }
            return Prompt(ids: try XCTUnwrap(p["prompt_ids"] as? [Int]), lastLogitsFile: try XCTUnwrap(p["last_logits_file"] as? String),
                          positions: positions, greedy: try XCTUnwrap(p["greedy_output_ids"] as? [Int]),
                          margins: try XCTUnwrap(p["greedy_top2_margins"] as? [Double]))
        }
        let model = try XCTUnwrap(doc["model"] as? [String: Any])
        return Reference(vocab: try XCTUnwrap(doc["vocab_size"] as? Int), stride: try XCTUnwrap(doc["strided_every"] as? Int),
                         sha256: try XCTUnwrap(model["sha256"] as? String), prompts: prompts)
    }

    static func modelPath() throws -> String {
        let path = ProcessInfo.processInfo.environment["TOUCHSTONE_GEMMA3_MODEL"] ?? ModelStore.cachedPath(of: ModelStore.gemma3_270m)
        guard FileManager.default.fileExists(atPath: path) else {
            throw XCTSkip("Gemma 3 GGUF not found at \(path); run `touchstone fetch --model gemma3-270m` (CI does)")
        }
        return path
    }

    nonisolated(unsafe) static var cached: (file: GGUFFile, model: Gemma3Model)?
    static func model() throws -> (file: GGUFFile, model: Gemma3Model) {
        if let m = cached { return m }
        let file = try GGUFFile(path: try modelPath())
        let m = (file, try Gemma3Model(gguf: file))
        cached = m
        return m
    }

    /// Logits of `rows` of `tokens`, prefilled in chunks of 64 (D3 makes chunking invisible;
    /// the vocabulary is 262,144, so whole-prompt logits would not fit a test's memory).
    static func logits(_ model: Gemma3Model, _ tokens: [Int], rows: [Int]) throws -> [Int: [Float]] {
        let cache = model.makeCache(initialCapacity: tokens.count)
        var out: [Int: [Float]] = [:]
        var start = 0
        while start < tokens.count {
            let end = min(tokens.count, start + 64)
            let wanted = rows.filter { $0 >= start && $0 < end }.map { $0 - start }
            let r = try model.forward(tokens: Array(tokens[start..<end]), cache: cache, logitRows: wanted.isEmpty ? .none : .rows(wanted))
            for (i, row) in wanted.enumerated() { out[start + row] = Array(r.logits(row: i)) }
            start = end
        }
        return out
    }

    func testLogitsAreWithin2e3OfThePeerAtEveryComparedPosition() throws {
        let (_, model) = try Self.model()
        let reference = try Self.loadReference()
        XCTAssertEqual(reference.sha256, ModelStore.gemma3_270m.sha256, "fixtures were made from a different model file")
        XCTAssertEqual(reference.vocab, model.shape.vocabularySize)
        XCTAssertGreaterThanOrEqual(reference.prompts.count, 4)
        XCTAssertTrue(reference.prompts.contains { $0.ids.count > model.configuration.slidingWindow }, "no prompt passes the sliding window")
        var worst: Float = 0, worstRelative: Float = 0, compared = 0
        for prompt in reference.prompts {
            let n = prompt.ids.count
            // The fixture keeps every position of a short prompt; past 128 ids every 16th and the last 4.
            let rows = prompt.positions.map(\.position)
            XCTAssertEqual(rows, (0..<n).filter { n <= 128 || $0 % 16 == 0 || $0 >= n - 4 })
            let ours = try Self.logits(model, prompt.ids, rows: rows)
            let last = try Data(contentsOf: Self.fixtureDirectory.appendingPathComponent(prompt.lastLogitsFile))
            XCTAssertEqual(last.count, reference.vocab * 4)
            let lastLogits = last.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            for peer in prompt.positions {
                let row = peer.position
                let mine = try XCTUnwrap(ours[row])
                var maxDiff: Float = 0
                func compare(_ id: Int, _ value: Float) {
                    let d = abs(mine[id] - value)
                    if !(d <= maxDiff) { maxDiff = d }  // NaN propagates as a failure
                }
                for (i, value) in peer.strided.enumerated() { compare(i * reference.stride, value) }
                for (id, value) in zip(peer.topIDs, peer.topLogits) { compare(id, value) }
                if row == n - 1 { for (id, value) in lastLogits.enumerated() { compare(id, value) } }
                XCTAssertLessThanOrEqual(maxDiff, 2e-3, "prompt of \(n) ids, position \(row)")
                worst = max(worst, maxDiff)
                worstRelative = max(worstRelative, maxDiff / (peer.maximum - peer.minimum))
                compared += 1
            }
        }
        print("Gemma 3 peer agreement: \(compared) positions, worst max-abs logit difference \(worst), relative to the logit range \(worstRelative)")
    }

    func testGreedyContinuationsOf64TokensMatchThePeer() throws {
        let (_, model) = try Self.model()
        let reference = try Self.loadReference()
        for prompt in reference.prompts {
            let cache = model.makeCache(initialCapacity: prompt.ids.count + 64)
            var last = try model.forward(tokens: prompt.ids, cache: cache).logits
            var generated: [Int] = []
            for _ in 0..<prompt.greedy.count {
                let next = last.withUnsafeBufferPointer { Kernels.argmax($0.baseAddress!, count: $0.count) }
                generated.append(next)
                last = try model.forward(tokens: [next], cache: cache).logits
            }
            if let i = zip(generated, prompt.greedy).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset {
                XCTFail("prompt of \(prompt.ids.count) ids: step \(i) gives \(generated[i]), the peer \(prompt.greedy[i]) (peer top-2 margin \(prompt.margins[i]))")
            }
        }
    }

    /// D2 and D3 on the real model past the 512-token window: the last logits of the longest
    /// prompt are the same bits from a whole prefill on 2 threads and from a 1-thread prefill of
    /// all but 3 tokens followed by 3 one-token steps.
    func testLongPromptLogitsAreBitIdenticalAcrossThreadCountsAndBatchings() throws {
        let (_, model) = try Self.model()
        let reference = try Self.loadReference()
        let prompt = try XCTUnwrap(reference.prompts.max { $0.ids.count < $1.ids.count }).ids
        XCTAssertGreaterThan(prompt.count, model.configuration.slidingWindow + 3)
        let two = ParallelFor(threadCount: 2), one = ParallelFor(threadCount: 1)
        defer { two.shutdown(); one.shutdown() }
        let whole = try model.forward(tokens: prompt, cache: model.makeCache(initialCapacity: prompt.count), pool: two).logits
        let cache = model.makeCache(initialCapacity: prompt.count)
        _ = try model.forward(tokens: Array(prompt.dropLast(3)), cache: cache, logitRows: .none, pool: one)
        var stepped: [Float] = []
        for t in prompt.suffix(3) { stepped = try model.forward(tokens: [t], cache: cache, pool: one).logits }
        XCTAssertEqual(whole.count, stepped.count)
        XCTAssertTrue(zip(whole, stepped).allSatisfy { $0.bitPattern == $1.bitPattern }, "whole 2-thread prefill vs 1-thread prefill + 3 steps")
    }

    /// The file as the spec describes it, and every quantized matrix type decoded inside the
    /// kernels equal to Formats' dequantization (itself checked against gguf-py) and to the
    /// naive product.
    func testQuantizedMatricesOfTheFileDecodeExactlyAndMultiplyLikeTheNaivePath() throws {
        let (file, model) = try Self.model()
        XCTAssertEqual(file.tensors.count, 236)
        var types: [String: Int] = [:]
        for t in file.tensors { types[t.type.name, default: 0] += 1 }
        XCTAssertEqual(types, ["F32": 109, "Q5_0": 81, "Q4_K": 27, "Q8_0": 10, "Q6_K": 9])
        // Spec invariant: the norm multiplier 1 + (g − 1) is g for every norm of this file.
        for t in file.tensors where t.name.hasSuffix("norm.weight") {
            let g = try file.dequantize(t)
            XCTAssertTrue(zip(Gemma3Model.normMultiplier(g), g).allSatisfy { $0.bitPattern == $1.bitPattern }, t.name)
        }
        XCTAssertEqual((0..<18).filter { !model.configuration.isLocal(layer: $0) }, [5, 11, 17])
        let pool = ParallelFor(threadCount: 2)
        defer { pool.shutdown() }
        // The first matrix of each type among the layers' projections (token_embd, Q8_0 too, is 262,144 rows).
        var chosen: [(String, WeightMatrix)] = []
        var seen: Set<String> = []
        for (i, l) in model.layers.enumerated() {
            for (suffix, matrix) in [("attn_q", l.wq), ("attn_v", l.wv), ("attn_output", l.wo), ("ffn_down", l.wDown)] {
                let name = "blk.\(i).\(suffix).weight"
                if let t = file.tensor(named: name), !seen.contains(t.type.name) { seen.insert(t.type.name); chosen.append((name, matrix)) }
            }
        }
        XCTAssertEqual(seen, ["Q5_0", "Q4_K", "Q6_K", "Q8_0"])
        for (name, matrix) in chosen {
            let t = try XCTUnwrap(file.tensor(named: name))
            let reference = try file.dequantize(t)
            var row = [Float](repeating: 0, count: matrix.columns)
            for r in [0, 1, 17, matrix.rows - 1] {
                row.withUnsafeMutableBufferPointer { matrix.decodeRow(r, into: $0.baseAddress!) }
                XCTAssertTrue(zip(row, reference[(r * matrix.columns)..<((r + 1) * matrix.columns)]).allSatisfy { $0.bitPattern == $1.bitPattern }, "\(name) row \(r)")
            }
            var rng = Xoshiro256StarStar(seed: 29)
            let x = (0..<(3 * matrix.columns)).map { _ in rng.nextUniformFloat() * 2 - 1 }
            var naive = [Float](repeating: 0, count: 3 * matrix.rows)
            x.withUnsafeBufferPointer { xp in naive.withUnsafeMutableBufferPointer { matrix.multiplyNaive(xp.baseAddress!, tokens: 3, into: $0.baseAddress!) } }
            let fast = matrix.multiply(x, tokens: 3, pool: pool)
            XCTAssertTrue(zip(fast, naive).allSatisfy { $0.bitPattern == $1.bitPattern }, "\(name) (\(t.type.name)) fast vs naive")
        }
    }
}

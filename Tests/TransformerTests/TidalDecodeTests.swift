import XCTest
import Tensors
@testable import Transformer

/// TidalDecode as a model attention mode (`AttentionMode.tidal`, `SparseAttentionPass`) on
/// synthetic models: the spec's invariants (prefill unchanged, a budget covering the context
/// equals full attention bit for bit), the masked reference and the gathered fast path bit for
/// bit, a sparse layer's output against attention restricted to a naive top-K of the selection
/// layer's scores, per-row selection in multi-token passes (D3 outside prefill), thread-count
/// invariance (D2) and the typed errors of a mode that does not fit the model.
final class TidalDecodeTests: XCTestCase {
    /// Six layers, so that s = 1, r = 3 leaves full (0), selection (1, 3) and sparse (2, 4, 5)
    /// layers; 4 query heads over 2 KV heads.
    static let sixLayers = LlamaConfiguration(hiddenSize: 64, intermediateSize: 96, layerCount: 6, headCount: 4, kvHeadCount: 2,
                                              vocabularySize: 256, contextLength: 256, rmsNormEpsilon: 1e-5,
                                              ropeTheta: 10000, tiedEmbeddings: true)

    static func model(_ mode: AttentionMode, path: TidalDecode.Path? = nil) throws -> LlamaModel {
        let m = try SyntheticModels.model(configuration: sixLayers, seed: 7)
        if case .tidal(var t) = mode, let path { t.path = path; m.attentionMode = .tidal(t) } else { m.attentionMode = mode }
        return m
    }

    static let tidal = AttentionMode.tidal(TidalDecode(tokenBudget: 5, selectionLayer: 1, reselectionLayer: 3))

    /// Prefill of a 40-token prompt (all rows), then 6 greedy one-token steps: the logits of
    /// every pass, concatenated, and the tokens chosen.
    static func greedyTrace(_ model: LlamaModel, pool: ParallelFor = .shared) throws -> (logits: [Float], tokens: [Int]) {
        let prompt = seededTokens(40, vocabularySize: sixLayers.vocabularySize, seed: 11)
        let cache = model.makeCache()
        var result = try model.forward(tokens: prompt, cache: cache, logitRows: .all, pool: pool)
        var logits = result.logits, tokens: [Int] = []
        for _ in 0..<6 {
            let next = result.logits(row: result.logitRows.count - 1).withUnsafeBufferPointer { Kernels.argmax($0.baseAddress!, count: $0.count) }
            tokens.append(next)
            result = try model.forward(tokens: [next], cache: cache, pool: pool)
            logits += result.logits
        }
        return (logits, tokens)
    }

    func testPrefillLogitsEqualFullAttentionForAnyBudget() throws {
        let prompt = seededTokens(40, vocabularySize: Self.sixLayers.vocabularySize, seed: 11)
        let full = try Self.model(.full).forward(tokens: prompt, cache: Self.model(.full).makeCache(), logitRows: .all).logits
        let sparse = try Self.model(Self.tidal)
        assertBitIdentical(try sparse.forward(tokens: prompt, cache: sparse.makeCache(), logitRows: .all).logits, full)
    }

    func testBudgetCoveringTheContextEqualsFullAttentionBitForBit() throws {
        let full = try Self.greedyTrace(try Self.model(.full))
        for path in TidalDecode.Path.allCases {
            for (s, r) in [(1, 3), (0, 5), (2, 2)] {
                let covering = AttentionMode.tidal(TidalDecode(tokenBudget: 46, selectionLayer: s, reselectionLayer: r, path: path))
                let sparse = try Self.greedyTrace(try Self.model(covering))
                assertBitIdentical(sparse.logits, full.logits, "\(path) s \(s) r \(r)")
            }
        }
    }

    func testMaskedReferenceAndGatheredFastPathAreBitIdentical() throws {
        let full = try Self.greedyTrace(try Self.model(.full))
        for (K, s, r) in [(5, 1, 3), (1, 0, 5), (12, 2, 0), (3, 5, 5)] {
            let mode = AttentionMode.tidal(TidalDecode(tokenBudget: K, selectionLayer: s, reselectionLayer: r))
            let masked = try Self.greedyTrace(try Self.model(mode, path: .masked))
            let gathered = try Self.greedyTrace(try Self.model(mode, path: .gathered))
            assertBitIdentical(gathered.logits, masked.logits, "K \(K) s \(s) r \(r)")
            XCTAssertEqual(gathered.tokens, masked.tokens)
            if s < 5 {
                // The mode changes something (else the comparison above proves nothing).
                XCTAssertNotEqual(gathered.logits, full.logits, "K \(K) s \(s) r \(r) left the logits unchanged")
            } else {
                assertBitIdentical(gathered.logits, full.logits, "s = L − 1: no layer after the selection layer")
            }
        }
    }

    /// Layer s + 1's attention output (tapped) equals attention over the naive top-K of layer s's
    /// scores (q·k/√d per head, sorted by score descending then slot ascending), computed here
    /// from the tapped q and the cache's keys and values.
    func testSparseLayerAttendsToTheNaiveTopKOfTheSelectionLayer() throws {
        let c = Self.sixLayers, hd = c.headDimension, H = c.headCount, groupSize = c.headCount / c.kvHeadCount
        let K = 7, s = 1
        for path in TidalDecode.Path.allCases {
            let model = try Self.model(.tidal(TidalDecode(tokenBudget: K, selectionLayer: s, reselectionLayer: 4, path: path)))
            let prompt = seededTokens(40, vocabularySize: c.vocabularySize, seed: 12)
            let cache = model.makeCache()
            _ = try model.forward(tokens: prompt, cache: cache)
            let n = prompt.count + 1
            func tapped(_ layer: Int) throws -> (q: [Float], attention: [Float]) {
                cache.rollback(to: prompt.count)
                let r = try model.forward(tokens: [17], cache: cache, taps: ForwardTaps(intermediatesOfLayer: layer))
                let found = r.intermediates ?? []
                return (found.first { $0.name == "q" }!.values, found.first { $0.name == "attn_output" }!.values)
            }
            func key(_ layer: Int, _ slot: Int, _ head: Int) -> [Float] {
                let kv = cache.keysAndValues(layer: layer)
                return (0..<hd).map { d in kv.keys[kv.keyIndex(slot, (head / groupSize) * hd + d)] }
            }
            func value(_ layer: Int, _ slot: Int, _ head: Int, _ d: Int) -> Float {
                let kv = cache.keysAndValues(layer: layer)
                return kv.values[kv.valueIndex(slot, (head / groupSize) * hd + d)]
            }
            let scale = 1 / Float(hd).squareRoot()
            let atS = try tapped(s)
            var selected: [[Int]] = []
            for h in 0..<H {
                let q = Array(atS.q[h * hd ..< (h + 1) * hd])
                let scored = (0..<n).map { j in (slot: j, score: Kernels.dot(q, key(s, j, h), count: hd) * scale) }
                selected.append(scored.sorted { $0.score > $1.score || ($0.score == $1.score && $0.slot < $1.slot) }.prefix(K).map(\.slot).sorted())
            }
            XCTAssertNotEqual(Set(selected.map { $0 }).count, 1, "every head chose the same slots: the test cannot tell heads apart")
            let next = try tapped(s + 1)
            var expected = [Float](repeating: 0, count: H * hd)
            for h in 0..<H {
                let q = Array(next.q[h * hd ..< (h + 1) * hd])
                var p = selected[h].map { j in Kernels.dot(q, key(s + 1, j, h), count: hd) * scale }
                Kernels.softmax(&p, count: p.count)
                for d in 0..<hd {
                    var sum: Float = 0
                    for (i, j) in selected[h].enumerated() { sum = sum + p[i] * value(s + 1, j, h, d) }
                    expected[h * hd + d] = sum
                }
            }
            assertBitIdentical(next.attention, expected, "\(path)")
        }
    }

    /// A verification pass of 4 tokens after the prompt gives each row the logits it gets when
    /// decoded alone: selection is per query row over the slots the row sees.
    func testMultiTokenPassSelectsPerRowLikeOneTokenSteps() throws {
        let model = try Self.model(Self.tidal)
        let prompt = seededTokens(30, vocabularySize: Self.sixLayers.vocabularySize, seed: 13)
        let draft = [3, 141, 59, 26]
        let batched = model.makeCache()
        _ = try model.forward(tokens: prompt, cache: batched)
        let together = try model.forward(tokens: draft, cache: batched, logitRows: .all).logits
        let stepped = model.makeCache()
        _ = try model.forward(tokens: prompt, cache: stepped)
        var alone: [Float] = []
        for t in draft { alone += try model.forward(tokens: [t], cache: stepped).logits }
        assertBitIdentical(together, alone)
    }

    func testLogitsDoNotDependOnThreadCount() throws {
        for path in TidalDecode.Path.allCases {
            var traces: [[Float]] = []
            for threads in [1, 2, 3] {
                let pool = ParallelFor(threadCount: threads)
                defer { pool.shutdown() }
                traces.append(try Self.greedyTrace(try Self.model(Self.tidal, path: path), pool: pool).logits)
            }
            assertBitIdentical(traces[1], traces[0], "\(path) 2 vs 1 threads")
            assertBitIdentical(traces[2], traces[0], "\(path) 3 vs 1 threads")
        }
    }

    func testAModeThatDoesNotFitTheModelThrowsAndLeavesTheCacheUnchanged() throws {
        for (K, s, r, says) in [(0, 1, 3, "token budget"), (5, 6, 3, "selection layer 6"), (5, -1, 3, "selection layer -1"),
                                (5, 1, 6, "re-selection layer 6")] {
            let model = try Self.model(.tidal(TidalDecode(tokenBudget: K, selectionLayer: s, reselectionLayer: r)))
            let cache = model.makeCache()
            XCTAssertThrowsError(try model.forward(tokens: [1, 2, 3], cache: cache)) { error in
                guard case ModelError.invalidInput(let message) = error else { return XCTFail("\(error)") }
                XCTAssertTrue(message.contains(says), message)
            }
            XCTAssertEqual(cache.length, 0)
        }
    }

    /// `KVCache.copy` (how the benchmark runs every mode from one prefill): a copy continues
    /// exactly like the original, and appending to or rolling back one leaves the other intact.
    func testCacheCopyContinuesLikeTheOriginalAndIsIndependent() throws {
        let model = try Self.model(Self.tidal)
        let prompt = seededTokens(37, vocabularySize: Self.sixLayers.vocabularySize, seed: 14)
        let original = model.makeCache(initialCapacity: 8)  // grows during the prefill
        _ = try model.forward(tokens: prompt, cache: original)
        let copy = original.copy(capacity: 64)
        XCTAssertEqual(copy.length, original.length)
        XCTAssertEqual(copy.positions, original.positions)
        let fromCopy = try model.forward(tokens: [9, 10], cache: copy, logitRows: .all).logits
        XCTAssertEqual(original.length, prompt.count)
        let fromOriginal = try model.forward(tokens: [9, 10], cache: original, logitRows: .all).logits
        assertBitIdentical(fromCopy, fromOriginal)
        copy.rollback(to: 3)
        let second = original.copy()
        assertBitIdentical(try model.forward(tokens: [11], cache: original).logits, try model.forward(tokens: [11], cache: second).logits)
    }

    func testDefaultsScaleTheReferenceLayersToTheModelDepth() {
        XCTAssertEqual(TidalDecode.defaults(layerCount: 32), TidalDecode(tokenBudget: 256, selectionLayer: 2, reselectionLayer: 13))
        XCTAssertEqual(TidalDecode.defaults(layerCount: 30), TidalDecode(tokenBudget: 256, selectionLayer: 2, reselectionLayer: 12))
        XCTAssertNoThrow(try AttentionMode.tidal(TidalDecode.defaults(layerCount: 2)).validate(layerCount: 2))
        XCTAssertTrue(AttentionMode.full.record.isEmpty)
        XCTAssertEqual(AttentionMode.tidal(TidalDecode.defaults(layerCount: 30)).record.map(\.0),
                       ["sparse_attention", "token_budget", "selection_layer", "reselection_layer"])
    }
}

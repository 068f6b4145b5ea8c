import XCTest
import Tensors
import Transformer

final class KVCacheTests: XCTestCase {
    func testRollbackThenRerunningGivesIdenticalLogits() throws {
        for model in TinyModels.both {
            let c = model.configuration
            let prompt = seededTokens(9, vocabularySize: c.vocabularySize, seed: 41)
            let continuation = seededTokens(6, vocabularySize: c.vocabularySize, seed: 42)
            let cache = KVCache(shape: c.shape)
            _ = try model.forward(tokens: prompt, cache: cache, logitRows: .none)
            let first = try model.forward(tokens: continuation, cache: cache, logitRows: .all).logits
            // A rejected draft of other tokens, then rollback and the original continuation.
            cache.rollback(to: prompt.count)
            _ = try model.forward(tokens: [1, 2, 3], cache: cache, logitRows: .all)
            cache.rollback(to: prompt.count)
            XCTAssertEqual(cache.length, prompt.count)
            XCTAssertEqual(cache.positions, Array(0..<prompt.count))
            let again = try model.forward(tokens: continuation, cache: cache, logitRows: .all).logits
            assertBitIdentical(first, again, model.origin)
            cache.reset()
            XCTAssertEqual(cache.length, 0)
            assertBitIdentical(try model.forward(tokens: prompt, cache: cache).logits, try model.lastLogits(prompt))
        }
    }

    func testCacheGrowsPastItsInitialCapacityWithoutChangingLogits() throws {
        let model = TinyModels.a
        let c = model.configuration
        XCTAssertEqual(c.contextLength, 256)
        let prompt = seededTokens(200, vocabularySize: c.vocabularySize, seed: 43)
        let reference = try model.forward(tokens: prompt, cache: KVCache(shape: c.shape), logitRows: .rows([0, 99, 199])).logits
        // Start small so the cache reallocates several times, in one pass and step by step.
        let small = KVCache(shape: c.shape, initialCapacity: 3)
        let grown = try model.forward(tokens: prompt, cache: small, logitRows: .rows([0, 99, 199])).logits
        assertBitIdentical(reference, grown)
        XCTAssertEqual(small.length, 200)
        let stepwise = KVCache(shape: c.shape, initialCapacity: 1)
        _ = try model.forward(tokens: Array(prompt[..<150]), cache: stepwise, logitRows: .none)
        var last: [Float] = []
        for t in prompt[150...] { last = try model.forward(tokens: [t], cache: stepwise).logits }
        assertBitIdentical(reference.suffix(c.vocabularySize), last)
        // Fill to the context limit exactly, then one more token overflows.
        let filler = seededTokens(56, vocabularySize: c.vocabularySize, seed: 44)
        _ = try model.forward(tokens: filler, cache: stepwise, logitRows: .none)
        XCTAssertEqual(stepwise.length, 256)
        XCTAssertThrowsError(try model.forward(tokens: [1], cache: stepwise)) {
            XCTAssertEqual($0 as? ModelError, .contextOverflow(needed: 257, limit: 256))
        }
    }

    /// Attention scores whole 16-slot tiles from the cache's tiled copy of the keys; keep()
    /// and growth must move that copy with the rows. A tree is verified across a tile boundary
    /// in a cache that starts at 3 slots, a path whose slots move is kept, and decoding goes on
    /// past two more boundaries; every step must equal the naive model (every slot scored on its
    /// own) decoding the same tokens from scratch.
    func testKeyTilesFollowKeepAndGrowthAndMatchPerSlotScoring() throws {
        for preset in [SyntheticModels.tinyA, SyntheticModels.tinyB] {
            let model = try SyntheticModels.model(preset)
            let naive = try SyntheticModels.model(preset)
            naive.useNaiveKernels = true
            let c = model.configuration
            let prefix = seededTokens(29, vocabularySize: c.vocabularySize, seed: 45)
            let parents = BatchInvarianceTests.treeParents
            let nodes = seededTokens(parents.count, vocabularySize: c.vocabularySize, seed: 46)
            let next = seededTokens(20, vocabularySize: c.vocabularySize, seed: 47)
            let accepted = BatchInvarianceTests.path(to: 6)  // slots 29 + [0, 3, 4, 6] → 29…32
            let cache = KVCache(shape: c.shape, initialCapacity: 3)
            _ = try model.forward(tokens: prefix, cache: cache, logitRows: .none)
            let tree = try model.forward(tokens: nodes, mask: .tree(parents: parents), cache: cache, logitRows: .all)
            cache.keep(slots: accepted.map { prefix.count + $0 }, after: prefix.count)
            let continued = try model.decodeOneByOne(next, cache: cache)
            let fromScratch = try naive.decodeOneByOne(prefix + accepted.map { nodes[$0] } + next, cache: KVCache(shape: c.shape))
            for i in next.indices {
                assertBitIdentical(continued[i], fromScratch[prefix.count + accepted.count + i], "\(model.origin) step \(i)")
            }
            // The tree's own rows against the naive model's tree pass.
            let naiveCache = KVCache(shape: c.shape)
            _ = try naive.forward(tokens: prefix, cache: naiveCache, logitRows: .none)
            let naiveNodes = try naive.forward(tokens: nodes, mask: .tree(parents: parents), cache: naiveCache, logitRows: .all)
            assertBitIdentical(tree.logits, naiveNodes.logits, "\(model.origin) tree")
        }
    }
}

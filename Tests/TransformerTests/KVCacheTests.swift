import XCTest
import Tensors
import Transformer

final class KVCacheTests: XCTestCase {
    func testRollbackThenRerunningGivesIdenticalLogits() throws {
        for model in TinyModels.both {
            let c = model.configuration
            let prompt = seededTokens(9, vocabularySize: c.vocabularySize, seed: 41)
            let continuation = seededTokens(6, vocabularySize: c.vocabularySize, seed: 42)
            let cache = KVCache(configuration: c)
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
        let reference = try model.forward(tokens: prompt, cache: KVCache(configuration: c), logitRows: .rows([0, 99, 199])).logits
        // Start small so the cache reallocates several times, in one pass and step by step.
        let small = KVCache(configuration: c, initialCapacity: 3)
        let grown = try model.forward(tokens: prompt, cache: small, logitRows: .rows([0, 99, 199])).logits
        assertBitIdentical(reference, grown)
        XCTAssertEqual(small.length, 200)
        let stepwise = KVCache(configuration: c, initialCapacity: 1)
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
}

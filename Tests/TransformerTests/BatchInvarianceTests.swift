import XCTest
import Tensors
import Transformer

/// D3: a position's logits are bit-identical however it was batched.
final class BatchInvarianceTests: XCTestCase {
    func testEveryPrefillRowEqualsAFreshPassOverItsPrefixAndTokenByTokenDecoding() throws {
        for model in TinyModels.both {
            let c = model.configuration
            let prompt = seededTokens(13, vocabularySize: c.vocabularySize, seed: 21)
            let prefill = try model.forward(tokens: prompt, cache: KVCache(shape: c.shape), logitRows: .all)
            XCTAssertEqual(prefill.logitRows, Array(0..<prompt.count))
            let stepwise = try model.decodeOneByOne(prompt, cache: KVCache(shape: c.shape))
            for i in prompt.indices {
                let row = prefill.logits(row: i)
                assertBitIdentical(row, try model.lastLogits(Array(prompt[...i])), "\(model.origin) prefix \(i)")
                assertBitIdentical(row, stepwise[i], "\(model.origin) step \(i)")
            }
        }
    }

    func testChunkedPrefillEqualsWholePrefill() throws {
        // Chunks of 8, 4 and 1 tokens exercise every kernel path (8-, 4- and 1-token panels).
        let model = TinyModels.b
        let c = model.configuration
        let prompt = seededTokens(21, vocabularySize: c.vocabularySize, seed: 22)
        let whole = try model.forward(tokens: prompt, cache: KVCache(shape: c.shape), logitRows: .all).logits
        let cache = KVCache(shape: c.shape)
        var chunked: [Float] = []
        var start = 0
        for size in [8, 4, 1, 5, 3] {
            chunked += try model.forward(tokens: Array(prompt[start..<(start + size)]), cache: cache, logitRows: .all).logits
            start += size
        }
        XCTAssertEqual(start, prompt.count)
        assertBitIdentical(whole, chunked)
    }

    func testLogitRowsSelectionDoesNotChangeTheSelectedRows() throws {
        let model = TinyModels.a
        let prompt = seededTokens(10, vocabularySize: model.shape.vocabularySize, seed: 23)
        let all = try model.forward(tokens: prompt, cache: KVCache(shape: model.shape), logitRows: .all)
        let some = try model.forward(tokens: prompt, cache: KVCache(shape: model.shape), logitRows: .rows([7, 2, 9]))
        XCTAssertEqual(some.logitRows, [7, 2, 9])
        for (i, r) in [7, 2, 9].enumerated() { assertBitIdentical(some.logits(row: i), all.logits(row: r)) }
        let none = try model.forward(tokens: prompt, cache: KVCache(shape: model.shape), logitRows: .none)
        XCTAssertTrue(none.logits.isEmpty)
    }

    /// A draft tree after a 5-token prefix:
    ///
    ///     root 0 ─ 1 ─ 2
    ///          └ 3 ─ 4 ─ 6
    ///     root 5 ─ 7
    static let treeParents = [-1, 0, 1, 0, 3, -1, 4, 5]

    static func path(to node: Int) -> [Int] {
        var path: [Int] = []
        var n = node
        while n >= 0 { path.insert(n, at: 0); n = treeParents[n] }
        return path
    }

    func testTreeVerificationGivesEachNodeTheLogitsOfDecodingItsPath() throws {
        for model in TinyModels.both {
            let c = model.configuration
            let prefix = seededTokens(5, vocabularySize: c.vocabularySize, seed: 24)
            let nodes = seededTokens(Self.treeParents.count, vocabularySize: c.vocabularySize, seed: 25)
            let cache = KVCache(shape: c.shape)
            _ = try model.forward(tokens: prefix, cache: cache, logitRows: .none)
            let tree = try model.forward(tokens: nodes, mask: .tree(parents: Self.treeParents), cache: cache, logitRows: .all)
            XCTAssertEqual(cache.length, prefix.count + nodes.count)
            XCTAssertEqual(Array(cache.positions.suffix(nodes.count)), [5, 6, 7, 6, 7, 5, 8, 6])
            for node in nodes.indices {
                let pathTokens = Self.path(to: node).map { nodes[$0] }
                let sequential = try model.decodeOneByOne(prefix + pathTokens, cache: KVCache(shape: c.shape))
                assertBitIdentical(tree.logits(row: node), sequential.last!, "\(model.origin) node \(node)")
            }
        }
    }

    func testExplicitMaskEqualToTheTreeGivesTheTreesLogits() throws {
        let model = TinyModels.a
        let c = model.configuration
        let prefix = seededTokens(4, vocabularySize: c.vocabularySize, seed: 26)
        let nodes = seededTokens(Self.treeParents.count, vocabularySize: c.vocabularySize, seed: 27)
        let treeCache = KVCache(shape: c.shape)
        _ = try model.forward(tokens: prefix, cache: treeCache, logitRows: .none)
        let tree = try model.forward(tokens: nodes, mask: .tree(parents: Self.treeParents), cache: treeCache, logitRows: .all)
        let allowed: [[Bool]] = nodes.indices.map { i in
            let ancestors = Set(Self.path(to: i))
            return (0..<(prefix.count + nodes.count)).map { j in j < prefix.count || ancestors.contains(j - prefix.count) }
        }
        let explicitCache = KVCache(shape: c.shape)
        _ = try model.forward(tokens: prefix, cache: explicitCache, logitRows: .none)
        let positions = Array(treeCache.positions.suffix(nodes.count))
        let explicit = try model.forward(tokens: nodes, positions: positions, mask: .explicit(allowed), cache: explicitCache, logitRows: .all)
        assertBitIdentical(tree.logits, explicit.logits)
    }

    func testKeepingAnAcceptedTreePathThenDecodingEqualsDecodingThePathFromScratch() throws {
        for model in TinyModels.both {
            let c = model.configuration
            let prefix = seededTokens(5, vocabularySize: c.vocabularySize, seed: 28)
            let nodes = seededTokens(Self.treeParents.count, vocabularySize: c.vocabularySize, seed: 29)
            let next = seededTokens(3, vocabularySize: c.vocabularySize, seed: 30)
            // Accept root 0 → 3 → 4 → 6: slots move (8 → 6 → …), so keep must copy rows.
            let accepted = Self.path(to: 6)
            XCTAssertEqual(accepted, [0, 3, 4, 6])
            let cache = KVCache(shape: c.shape)
            _ = try model.forward(tokens: prefix, cache: cache, logitRows: .none)
            _ = try model.forward(tokens: nodes, mask: .tree(parents: Self.treeParents), cache: cache, logitRows: .all)
            cache.keep(slots: accepted.map { prefix.count + $0 }, after: prefix.count)
            XCTAssertEqual(cache.length, prefix.count + accepted.count)
            XCTAssertEqual(cache.positions, Array(0..<(prefix.count + accepted.count)))
            let continued = try model.decodeOneByOne(next, cache: cache)
            let fromScratch = try model.decodeOneByOne(prefix + accepted.map { nodes[$0] } + next, cache: KVCache(shape: c.shape))
            for i in next.indices {
                assertBitIdentical(continued[i], fromScratch[prefix.count + accepted.count + i], "\(model.origin) step \(i)")
            }
        }
    }
}

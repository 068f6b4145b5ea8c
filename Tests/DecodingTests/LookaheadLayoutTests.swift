import XCTest
import Decoding
import Transformer

final class LookaheadLayoutTests: XCTestCase {
    /// W = 3, N = 4, G = 2 by hand: c = 100 at P = 10, level 0 = [1, 2], level 1 = [3, 4, 5],
    /// level 2 = [6, 7, 8], guesses (20, 21, 22) and (30, 31, 32).
    func testLayoutOfATinyWindowMatchesTheHandDrawnMask() {
        let layout = LookaheadLayout(pending: 100, position: 10, level0: [1, 2], upperLevels: [[3, 4, 5], [6, 7, 8]],
                                     guesses: [[20, 21, 22], [30, 31, 32]])
        XCTAssertEqual(layout.tokens, [100, 1, 2, 3, 4, 5, 6, 7, 8, 20, 21, 22, 30, 31, 32])
        XCTAssertEqual(layout.positions, [10, 11, 12, 11, 12, 13, 12, 13, 14, 11, 12, 13, 11, 12, 13])
        let expected: [[Int]] = [
            [0], [0, 1], [0, 1, 2],             // block 0: causal
            [0, 3], [0, 1, 4], [0, 1, 2, 5],    // level 1, column j: block 0 up to j, itself
            [0, 3, 6], [0, 1, 4, 7], [0, 1, 2, 5, 8],  // level 2: plus level 1's column j
            [0, 9], [0, 9, 10], [0, 9, 10, 11],        // guess 0: c and its own prefix
            [0, 12], [0, 12, 13], [0, 12, 13, 14],     // guess 1
        ]
        XCTAssertEqual(layout.visible, expected)
        XCTAssertEqual(layout.lastLevelRows, [6, 7, 8])
        XCTAssertEqual(layout.guessRows, [[9, 10, 11], [12, 13, 14]])
        // Invariant 4: level l ≥ 1, column i sees l + i + 1 in-step tokens at positions P ... P + l + i.
        for l in 1...2 {
            for i in 0..<3 {
                let row = 3 * l + i
                XCTAssertEqual(layout.visible[row].map { layout.positions[$0] }, Array(10...(10 + l + i)))
            }
        }
        // The explicit mask: 4 cached slots visible to all, then the batch pattern.
        guard case .explicit(let rows) = layout.attentionMask(cacheLength: 4) else { return XCTFail("explicit mask expected") }
        XCTAssertEqual(rows.count, 15)
        for (i, row) in rows.enumerated() {
            XCTAssertEqual(row.count, 19)
            XCTAssertEqual(Array(row[0..<4]), [true, true, true, true])
            XCTAssertEqual(row[4...].indices.filter { row[$0] }.map { $0 - 4 }, expected[i])
        }
    }

    func testTwoGramLayoutUsesBlockZeroAsTheLastLevel() {
        let layout = LookaheadLayout(pending: 9, position: 0, level0: [1, 2, 3], upperLevels: [], guesses: [[4]])
        XCTAssertEqual(layout.tokens, [9, 1, 2, 3, 4])
        XCTAssertEqual(layout.positions, [0, 1, 2, 3, 1])
        XCTAssertEqual(layout.visible, [[0], [0, 1], [0, 1, 2], [0, 1, 2, 3], [0, 4]])
        XCTAssertEqual(layout.lastLevelRows, [0, 1, 2, 3])
    }

    /// Each window row's logits equal the causal logits of its Jacobi trajectory (D3), and each
    /// guess row's equal those of c followed by the guess prefix.
    func testWindowRowsReproduceTheirTrajectoriesDecodedCausally() throws {
        let model = try SyntheticModels.model(SyntheticModels.tinyB)
        let prompt = [5, 17, 33, 2]
        let layout = LookaheadLayout(pending: 60, position: prompt.count, level0: [61, 62], upperLevels: [[70, 71, 72], [80, 81, 82]],
                                     guesses: [[90, 91, 92]])
        let cache = KVCache(shape: model.shape)
        _ = try model.forward(tokens: prompt, cache: cache, logitRows: .none)
        let batch = try model.forward(tokens: layout.tokens, positions: layout.positions, mask: layout.attentionMask(cacheLength: prompt.count),
                                      cache: cache, logitRows: .all)
        let vocab = model.shape.vocabularySize
        for row in [5, 7, 8, 11] {
            let sequence = prompt + layout.visible[row].map { layout.tokens[$0] }
            let fresh = KVCache(shape: model.shape)
            let causal = try model.forward(tokens: sequence, cache: fresh, logitRows: .last)
            XCTAssertEqual(Array(batch.logits[(row * vocab)..<((row + 1) * vocab)]), causal.logits, "row \(row)")
        }
    }
}

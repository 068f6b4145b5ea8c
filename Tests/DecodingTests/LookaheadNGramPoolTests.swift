import XCTest
import Decoding

final class LookaheadNGramPoolTests: XCTestCase {
    func testInsertionFollowsTheReferenceLRURule() {
        var pool = LookaheadNGramPool(capacity: 2, continuationLength: 2)
        pool.insert(key: 1, continuation: [2, 3])
        pool.insert(key: 1, continuation: [4, 5])
        XCTAssertEqual(pool.continuations(of: 1), [[2, 3], [4, 5]])
        pool.insert(key: 1, continuation: [2, 3])           // present: moves to the end
        XCTAssertEqual(pool.continuations(of: 1), [[4, 5], [2, 3]])
        pool.insert(key: 1, continuation: [6, 7])           // full: oldest dropped
        XCTAssertEqual(pool.continuations(of: 1), [[2, 3], [6, 7]])
        XCTAssertEqual(pool.continuations(of: 9), [])
        var empty = LookaheadNGramPool(capacity: 0, continuationLength: 1)
        empty.insert(key: 1, continuation: [2])
        XCTAssertEqual(empty.keyCount, 0)
    }

    func testPromptNGramsAreInsertedLeftToRight() {
        var pool = LookaheadNGramPool(capacity: 3, continuationLength: 2)
        pool.insertNGrams(of: [1, 2, 3, 1, 2, 4, 1, 2, 3])
        XCTAssertEqual(pool.continuations(of: 1), [[2, 4], [2, 3]])
        XCTAssertEqual(pool.continuations(of: 2), [[3, 1], [4, 1]])
        XCTAssertEqual(pool.continuations(of: 3), [[1, 2]])
        XCTAssertEqual(pool.continuations(of: 4), [[1, 2]])
    }
}

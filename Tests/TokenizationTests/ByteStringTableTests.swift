import XCTest
@testable import Tokenization

final class ByteStringTableTests: XCTestCase {
    /// Seeded random byte strings (many short ones, so there are repeats and shared prefixes).
    func randomKeys(count: Int, seed: UInt64) -> [[UInt8]] {
        var state = seed
        func next() -> UInt64 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return state >> 33
        }
        return (0..<count).map { _ in (0..<Int(next() % 5)).map { _ in UInt8(next() % 4) + 0x61 } }
    }

    func testLookupsEqualADictionaryFilledInIDOrderWithTheLastIDWinningForRepeats() {
        let keys = randomKeys(count: 3_000, seed: 7)
        var reference: [[UInt8]: Int32] = [:]
        for (id, key) in keys.enumerated() { reference[key] = Int32(id) }
        XCTAssertLessThan(reference.count, keys.count, "the keys must repeat for this test to mean anything")
        let table = ByteStringTable(keys)
        for probe in keys + randomKeys(count: 3_000, seed: 8) + [[], [0x61, 0x61, 0x61, 0x61, 0x61, 0x61]] {
            let id = probe.withUnsafeBufferPointer { table.id($0.baseAddress, $0.count) }
            XCTAssertEqual(id, reference[probe], "\(probe)")
        }
    }

    func testAnEmptyTableFindsNothing() {
        let table = ByteStringTable([])
        XCTAssertNil([UInt8]().withUnsafeBufferPointer { table.id($0.baseAddress, $0.count) })
        XCTAssertNil([UInt8](arrayLiteral: 1, 2).withUnsafeBufferPointer { table.id($0.baseAddress, $0.count) })
    }
}

import XCTest
@testable import Tokenization

final class ScalarClassTests: XCTestCase {
    /// Every Unicode scalar gets the class Oniguruma (inside Hugging Face tokenizers) gives it.
    func testEveryScalarClassEqualsThePeerRegexEngine() throws {
        let root = try TokenizerFixtures.json("peer-scalar-classes.json")
        let ranges = try XCTUnwrap(root["ranges"] as? [[Int]])
        var expected = [UInt8](repeating: 0, count: 0x110000)
        for range in ranges {
            for value in range[0]...range[1] { expected[value] = UInt8(range[2]) }
        }
        var mismatches: [String] = []
        for value in 0..<0x110000 {
            guard let scalar = Unicode.Scalar(UInt32(value)) else { continue }
            let ours: UInt8
            switch ScalarClass.compute(scalar) {
            case ScalarClass.letter: ours = 2
            case ScalarClass.number: ours = 4
            case ScalarClass.whitespace, ScalarClass.space: ours = 8
            default: ours = 0
            }
            let table = value < 0x10000 ? ScalarClass.basicPlane[value] : ScalarClass.compute(scalar)
            XCTAssertEqual(table, ScalarClass.compute(scalar))
            if ours != expected[value] && mismatches.count < 20 {
                mismatches.append(String(format: "U+%04X ours %d peer %d", value, ours, expected[value]))
            }
        }
        XCTAssertEqual(mismatches, [])
    }
}

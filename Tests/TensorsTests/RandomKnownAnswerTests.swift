import XCTest
import Tensors

/// The generators (D5) against known-answer vectors from an independent implementation:
/// Scripts/random_vectors.py (Python, written from the published reference C code of
/// SplitMix64 and xoshiro256** 1.0). Re-run it with `python3 Scripts/random_vectors.py`.
final class RandomKnownAnswerTests: XCTestCase {
    // Output of Scripts/random_vectors.py: the first 8 outputs for seeds 0, 1, 42.
    static let splitMix64: [UInt64: [UInt64]] = [
        0: [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F, 0xF88BB8A8724C81EC,
            0x1B39896A51A8749B, 0x53CB9F0C747EA2EA, 0x2C829ABE1F4532E1, 0xC584133AC916AB3C],
        1: [0x910A2DEC89025CC1, 0xBEEB8DA1658EEC67, 0xF893A2EEFB32555E, 0x71C18690EE42C90B,
            0x71BB54D8D101B5B9, 0xC34D0BFF90150280, 0xE099EC6CD7363CA5, 0x85E7BB0F12278575],
        42: [0xBDD732262FEB6E95, 0x28EFE333B266F103, 0x47526757130F9F52, 0x581CE1FF0E4AE394,
             0x09BC585A244823F2, 0xDE4431FA3C80DB06, 0x37E9671C45376D5D, 0xCCF635EE9E9E2FA4],
    ]

    static let xoshiro256StarStar: [UInt64: [UInt64]] = [
        0: [0x99EC5F36CB75F2B4, 0xBF6E1F784956452A, 0x1A5F849D4933E6E0, 0x6AA594F1262D2D2C,
            0xBBA5AD4A1F842E59, 0xFFEF8375D9EBCACA, 0x6C160DEED2F54C98, 0x8920AD648FC30A3F],
        1: [0xB3F2AF6D0FC710C5, 0x853B559647364CEA, 0x92F89756082A4514, 0x642E1C7BC266A3A7,
            0xB27A48E29A233673, 0x24C123126FFDA722, 0x123004EF8DF510E6, 0x61954DCC47B1E89D],
        42: [0x15780B2E0C2EC716, 0x6104D9866D113A7E, 0xAE17533239E499A1, 0xECB8AD4703B360A1,
             0xFDE6DC7FE2EC5E64, 0xC50DA53101795238, 0xB82154855A65DDB2, 0xD99A2743EBE60087],
    ]

    // The first 4 uniform draws of a fresh generator (each consumes one output).
    static let uniformFloat: [UInt64: [Float]] = [
        0: [0x1.33d8bep-1, 0x1.7edc3ep-1, 0x1.a5f84p-4, 0x1.aa965p-2],
        1: [0x1.67e55ep-1, 0x1.0a76aap-1, 0x1.25f12ep-1, 0x1.90b87p-2],
        42: [0x1.5780bp-4, 0x1.841364p-2, 0x1.5c2ea6p-1, 0x1.d9715ap-1],
    ]

    static let uniformDouble: [UInt64: [Double]] = [
        0: [0x1.33d8be6d96ebep-1, 0x1.7edc3ef092ac8p-1, 0x1.a5f849d4933e0p-4, 0x1.aa9653c498b4ap-2],
        1: [0x1.67e55eda1f8e2p-1, 0x1.0a76ab2c8e6c9p-1, 0x1.25f12eac10548p-1, 0x1.90b871ef099a8p-2],
        42: [0x1.5780b2e0c2ec0p-4, 0x1.84136619b444ep-2, 0x1.5c2ea66473c93p-1, 0x1.d9715a8e0766cp-1],
    ]

    func testSplitMix64MatchesKnownAnswers() {
        for (seed, expected) in Self.splitMix64 {
            var g = SplitMix64(seed: seed)
            XCTAssertEqual((0..<expected.count).map { _ in g.next() }, expected, "seed \(seed)")
        }
    }

    func testXoshiro256StarStarMatchesKnownAnswers() {
        for (seed, expected) in Self.xoshiro256StarStar {
            var g = Xoshiro256StarStar(seed: seed)
            XCTAssertEqual((0..<expected.count).map { _ in g.next() }, expected, "seed \(seed)")
        }
    }

    func testXoshiroStateIsSeededWithFourSplitMix64Outputs() {
        let g = Xoshiro256StarStar(seed: 42)
        let e = Self.splitMix64[42]!
        XCTAssertEqual([g.s.0, g.s.1, g.s.2, g.s.3], Array(e.prefix(4)))
    }

    func testUniformDrawsMatchKnownAnswers() {
        for seed: UInt64 in [0, 1, 42] {
            var f = Xoshiro256StarStar(seed: seed), d = Xoshiro256StarStar(seed: seed)
            XCTAssertEqual((0..<4).map { _ in f.nextUniformFloat().bitPattern }, Self.uniformFloat[seed]!.map(\.bitPattern), "seed \(seed)")
            XCTAssertEqual((0..<4).map { _ in d.nextUniformDouble().bitPattern }, Self.uniformDouble[seed]!.map(\.bitPattern), "seed \(seed)")
        }
    }

    func testUniformDrawsAreTheTopBitsOfOneOutputScaledExactly() {
        // nextUniformFloat = (next() >> 40) · 2^-24, nextUniformDouble = (next() >> 11) · 2^-53:
        // each consumes exactly one output, lies in [0, 1), and scales back to that integer.
        var g = Xoshiro256StarStar(seed: 7), raw = Xoshiro256StarStar(seed: 7)
        for i in 0..<20_000 {
            if i % 2 == 0 {
                let u = g.nextUniformFloat(), bits = raw.next() >> 40
                XCTAssert(u >= 0 && u < 1)
                if UInt64(u * 0x1p24) != bits { XCTFail("draw \(i): \(u) is not \(bits) · 2^-24"); return }
            } else {
                let u = g.nextUniformDouble(), bits = raw.next() >> 11
                XCTAssert(u >= 0 && u < 1)
                if UInt64(u * 0x1p53) != bits { XCTFail("draw \(i): \(u) is not \(bits) · 2^-53"); return }
            }
        }
        // Extremes of the formula: the largest draw is 1 - 2^-24 (resp. 1 - 2^-53), never 1.
        XCTAssertEqual(Float(UInt64.max >> 40) * 0x1p-24, 1 - 0x1p-24)
        XCTAssertEqual(Double(UInt64.max >> 11) * 0x1p-53, 1 - 0x1p-53)
    }
}

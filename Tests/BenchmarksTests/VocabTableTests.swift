import Foundation
import XCTest
import Decoding
import Formats
import Transformer
@testable import Benchmarks

final class VocabTableTests: XCTestCase {
    func testRankingIsCountDescendingThenIdAscending() {
        let table = VocabTable(sequences: [[9, 2, 5], [2, 9, 4, 5], [7]])
        // 2: 2, 5: 2, 9: 2, 4: 1, 7: 1.
        XCTAssertEqual(table.ranking, [2, 5, 9, 4, 7])
        XCTAssertEqual(table.counts.map(\.count), [2, 2, 2, 1, 1])
        XCTAssertEqual(table.generatedTokens, 8)
        XCTAssertEqual(table.distinctTokens, 5)
        XCTAssertEqual(VocabTable(sequences: [[], []]).ranking, [])
    }

    func testCalibrationRanksTheGreedyGenerationsAsAHandCountDoes() throws {
        let model = try SyntheticModels.model(SyntheticModels.tinyA)
        let prompts = [[5, 6, 5, 6], [10, 11, 12], [100, 7, 100]]
        var progress: [(Int, Int)] = []
        let table = try VocabTable.calibrate(model: model, prompts: prompts, maxNewTokens: 12, endOfSequenceIDs: []) { progress.append(($0, $1)) }
        XCTAssertEqual(progress.map(\.0), [1, 2, 3])
        XCTAssertTrue(progress.allSatisfy { $0.1 == 3 })
        // By hand: greedy continuations, tokens counted, sorted by (count desc, id asc).
        var counts: [Int: Int] = [:]
        for prompt in prompts {
            let g = try GreedyDecoding.generate(model: model, prompt: prompt, stopping: StoppingCriteria(maxNewTokens: 12), traceTopK: 0)
            XCTAssertEqual(g.outputIDs.count, 12)
            for t in g.outputIDs { counts[t, default: 0] += 1 }
        }
        let expected = counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
        XCTAssertEqual(table.ranking, expected.map(\.key))
        XCTAssertEqual(table.counts.map(\.count), expected.map(\.value))
        XCTAssertEqual(table.generatedTokens, 36)
        XCTAssertGreaterThan(expected.first!.value, 1, "a repeated token, so the order is tested")
    }

    func testDocumentRoundTripsThroughReadRanking() throws {
        let table = VocabTable(sequences: [[3, 1, 3]])
        let doc = table.document(model: "m.gguf", source: "hand")
        guard case .object(let fields) = doc else { return XCTFail("not an object") }
        XCTAssertEqual(fields.map(\.0), ["model", "source", "generated_tokens", "distinct_tokens", "ranking"])
        let url = try BenchmarkFixtures.temporaryFile("vocab.json", Data(doc.serialized().utf8))
        defer { try? FileManager.default.removeItem(at: url) }
        XCTAssertEqual(try VocabTrim.readRanking(url.path), [3, 1])
        XCTAssertThrowsError(try VocabTrim.readRanking("/nonexistent.json")) {
            XCTAssertTrue("\($0)".contains("cannot read the vocab table /nonexistent.json"), "\($0)")
        }
    }
}

import Foundation
import XCTest
import Decoding
import Formats
import Transformer

final class LookaheadRealModelTests: XCTestCase {
    func testLookaheadEqualsGreedyOnSmolLM2() throws {
        let model = try SmolLM2TestModel.load().model
        // Two fixed ChatML-shaped token sequences (ids only, so the test needs no tokenizer; the
        // identity with greedy holds for any ids).
        let prompts: [[Int]] = [
            [1, 9690, 198, 2683, 359, 253, 5356, 5646, 11173, 3365, 3511, 308, 34519, 28, 7018, 411, 407, 19712, 8182, 2, 198, 1, 4093, 198, 23407, 1673, 14105, 7263, 281, 216, 35, 9227, 30, 2, 198, 1, 520, 9531, 198],
            [1, 4093, 198, 7213, 253, 1975, 1067, 282, 260, 4153, 9781, 47, 2, 198, 1, 520, 9531, 198],
        ]
        for prompt in prompts {
            let reference = try GreedyDecoding.generate(model: model, prompt: prompt, stopping: StoppingCriteria(maxNewTokens: 48))
            let g = try LookaheadDecoding.generate(model: model, prompt: prompt, windowSize: 5, ngramSize: 4, guessSetSize: 5,
                                                   stopping: StoppingCriteria(maxNewTokens: 48))
            XCTAssertEqual(g.outputIDs, reference.outputIDs)
            XCTAssertEqual(g.trace.map(\.logit), reference.trace.map(\.logit))
            XCTAssertLessThan(g.statistics.forwardPasses, reference.statistics.forwardPasses + 1)
        }
    }
}

import Foundation
import XCTest
import Decoding
import Formats
import Tensors
import Transformer

final class LookaheadDecodingTests: XCTestCase {
    private func greedy(_ model: any CausalLanguageModel, _ prompt: [Int], _ n: Int, eos: Set<Int> = [], pool: ParallelFor = .shared) throws -> Generation {
        try GreedyDecoding.generate(model: model, prompt: prompt, stopping: StoppingCriteria(maxNewTokens: n, endOfSequenceIDs: eos), pool: pool)
    }

    private func lookahead(_ model: any CausalLanguageModel, _ prompt: [Int], _ n: Int, W: Int, N: Int, G: Int, eos: Set<Int> = [],
                           poolFromPrompt: Bool = false, initialWindow: [Int]? = nil, bonus: Bool = true,
                           pool: ParallelFor = .shared) throws -> Generation {
        try LookaheadDecoding.generate(model: model, prompt: prompt, windowSize: W, ngramSize: N, guessSetSize: G,
                                       poolFromPrompt: poolFromPrompt, initialWindow: initialWindow, emitsBonusAfterFullMatch: bonus,
                                       stopping: StoppingCriteria(maxNewTokens: n, endOfSequenceIDs: eos), pool: pool)
    }

    /// Per-step emitted counts, read off the trace (each pass marks its first token).
    private func emittedPerStep(_ g: Generation) -> [Int] {
        var counts: [Int] = []
        for step in g.trace.dropFirst() {
            if step.accepted != nil { counts.append(1) } else { counts[counts.count - 1] += 1 }
        }
        return counts
    }

    // Repetitive prompts make the synthetic models fall into cycles the pool can predict.
    private let prompts: [[Int]] = [[1, 2, 3], [40, 41, 40, 41, 40], [9], [7, 8, 9, 10, 7, 8, 9, 10, 7, 8]]
    private let settings: [(W: Int, N: Int, G: Int)] = [(5, 4, 5), (3, 3, 3), (4, 2, 4), (1, 2, 1), (2, 5, 2), (5, 3, 0), (6, 3, 1), (7, 5, 7)]

    func testLookaheadEqualsGreedyForEveryWindowNGramAndGuessSize() throws {
        var acceptedSomewhere = 0
        for preset in SyntheticModels.presets {
            let model = try SyntheticModels.model(preset)
            for prompt in prompts {
                let reference = try greedy(model, prompt, 40)
                for s in settings {
                    for bonus in [true, false] where bonus || s.N == 4 {
                        let g = try lookahead(model, prompt, 40, W: s.W, N: s.N, G: s.G, bonus: bonus)
                        let label = "\(preset.name) \(prompt) W=\(s.W) N=\(s.N) G=\(s.G) bonus=\(bonus)"
                        XCTAssertEqual(g.outputIDs, reference.outputIDs, label)
                        XCTAssertEqual(g.trace.map(\.logit), reference.trace.map(\.logit), label)
                        XCTAssertEqual(g.trace.map(\.topLogits), reference.trace.map(\.topLogits), label)
                        XCTAssertEqual(g.stopReason, reference.stopReason, label)
                        // Emitted per pass: 1 ... N (N − 1 with the reference quirk), ≤ 1 + accepted.
                        for count in emittedPerStep(g) { XCTAssertTrue((1...(bonus ? s.N : max(1, s.N - 1))).contains(count), label) }
                        for step in g.trace where step.accepted != nil {
                            XCTAssertEqual(step.drafted!.count % (s.N - 1), 0, label)
                            XCTAssertLessThanOrEqual(step.drafted!.count, s.G * (s.N - 1), label)
                        }
                        XCTAssertEqual(g.statistics.forwardPasses, 1 + g.statistics.verificationSteps)
                        if s.G == 0 { XCTAssertEqual(g.statistics.acceptedDraftTokens, 0, label) }
                        acceptedSomewhere += g.statistics.acceptedDraftTokens
                    }
                }
            }
        }
        // The test must exercise multi-token acceptance, not only one-token steps.
        XCTAssertGreaterThan(acceptedSomewhere, 100)
    }

    func testEmptyPoolGivesExactlyGreedyStepCount() throws {
        let model = try SyntheticModels.model(SyntheticModels.tinyA)
        let g = try lookahead(model, [1, 2, 3], 25, W: 5, N: 4, G: 0)
        XCTAssertEqual(g.statistics.forwardPasses, 25)  // prefill + one pass per further token
        XCTAssertEqual(g.statistics.meanAcceptedTokens, 1, accuracy: 0)
        XCTAssertEqual(g.outputIDs, try greedy(model, [1, 2, 3], 25).outputIDs)
    }

    func testOutputDoesNotDependOnWindowInitialisationOrPromptPool() throws {
        let model = try SyntheticModels.model(SyntheticModels.tinyB)
        let prompt = [5, 6, 7, 5, 6, 7, 5]
        let reference = try greedy(model, prompt, 36).outputIDs
        var rng = Xoshiro256StarStar(seed: 42)
        for _ in 0..<4 {
            let window = (0..<(4 + 4 - 3)).map { _ in Int(rng.next() % 384) }
            for fromPrompt in [false, true] {
                let g = try lookahead(model, prompt, 36, W: 4, N: 4, G: 4, poolFromPrompt: fromPrompt, initialWindow: window)
                XCTAssertEqual(g.outputIDs, reference, "\(window) \(fromPrompt)")
            }
        }
    }

    func testEndOfSequenceInsideAnAcceptedSpanStopsThere() throws {
        let model = try SyntheticModels.model(SyntheticModels.tinyA)
        for prompt in prompts {
            let truth = try greedy(model, prompt, 40).outputIDs
            let plain = try lookahead(model, prompt, 40, W: 5, N: 4, G: 5)
            // Pick an EOS that lands inside a multi-token step (not its first token).
            let found = plain.trace.indices.first { $0 > 0 && $0 < 39 && plain.trace[$0].accepted == nil } ?? -1
            guard found > 0, !truth[..<found].contains(truth[found]) else { continue }
            let eos = truth[found]
            let reference = try greedy(model, prompt, 40, eos: [eos])
            let g = try lookahead(model, prompt, 40, W: 5, N: 4, G: 5, eos: [eos])
            XCTAssertEqual(g.outputIDs, reference.outputIDs)
            XCTAssertEqual(g.outputIDs.count, found + 1)
            XCTAssertEqual(g.stopReason, .endOfSequence)
            return
        }
        XCTFail("no prompt produced an accepted span to place the EOS in")
    }

    func testMaxNewTokensTruncatesAnAcceptedSpan() throws {
        let model = try SyntheticModels.model(SyntheticModels.tinyA)
        let prompt = [7, 8, 9, 10, 7, 8, 9, 10, 7, 8]
        for n in [0, 1, 2, 7, 13, 22, 31] {
            let g = try lookahead(model, prompt, n, W: 5, N: 4, G: 5)
            XCTAssertEqual(g.outputIDs, try greedy(model, prompt, n).outputIDs, "n = \(n)")
            XCTAssertEqual(g.outputIDs.count, n)
            XCTAssertEqual(g.stopReason, .maxNewTokens)
        }
    }

    func testContextLimitStopsWhereGreedyStops() throws {
        let model = try SyntheticModels.model(SyntheticModels.tinyB)  // context 128
        for (promptLength, s) in [(100, (W: 5, N: 4, G: 5)), (120, (W: 3, N: 3, G: 2)), (126, (W: 4, N: 2, G: 4)), (127, (W: 5, N: 4, G: 5))] {
            let prompt = (0..<promptLength).map { [3, 4, 5][$0 % 3] }
            let reference = try greedy(model, prompt, 60)
            XCTAssertEqual(reference.stopReason, .contextLimit)
            let g = try lookahead(model, prompt, 60, W: s.W, N: s.N, G: s.G)
            XCTAssertEqual(g.outputIDs, reference.outputIDs, "prompt \(promptLength)")
            XCTAssertEqual(g.stopReason, .contextLimit)
        }
    }

    func testDeterministicAndThreadCountInvariant() throws {
        let model = try SyntheticModels.model(SyntheticModels.tinyA)
        let prompt = [40, 41, 40, 41, 40]
        let one = ParallelFor(threadCount: 1), three = ParallelFor(threadCount: 3)
        let a = try lookahead(model, prompt, 30, W: 5, N: 4, G: 5, pool: one)
        let b = try lookahead(model, prompt, 30, W: 5, N: 4, G: 5, pool: three)
        let c = try lookahead(model, prompt, 30, W: 5, N: 4, G: 5)
        for other in [b, c] {
            XCTAssertEqual(a.outputIDs, other.outputIDs)
            XCTAssertEqual(a.trace, other.trace)  // drafted candidates and accepted counts included
            XCTAssertEqual(a.statistics.forwardPasses, other.statistics.forwardPasses)
        }
    }

    func testInvalidSizesAreRejected() throws {
        let model = try SyntheticModels.model(SyntheticModels.tinyA)
        for (w, n, g) in [(0, 3, 1), (3, 1, 1), (3, 3, -1)] {
            XCTAssertThrowsError(try lookahead(model, [1], 3, W: w, N: n, G: g))
        }
        XCTAssertThrowsError(try lookahead(model, [1], 3, W: 3, N: 3, G: 1, initialWindow: [1, 2]))
        XCTAssertThrowsError(try lookahead(model, [1], 3, W: 3, N: 3, G: 1, initialWindow: [1, 2, 9999]))
        XCTAssertThrowsError(try lookahead(model, [], 3, W: 3, N: 3, G: 1))
    }
}

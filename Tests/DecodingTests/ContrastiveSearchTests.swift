import XCTest
import Decoding
import Tensors
import Transformer

final class ContrastiveSearchTests: XCTestCase {
    typealias Support = ContrastiveDoLaSupport

    // MARK: Hand-computed ranking

    func testScoreIsOneMinusAlphaTimesProbabilityMinusAlphaTimesPenalty() {
        // α = 0.6: 0.4·0.5 − 0.6·0.9 = −0.34; 0.4·0.3 − 0.6·0.1 = 0.06; 0.4·0.2 − 0.6·0.5 = −0.22.
        let probabilities: [Float] = [0.5, 0.3, 0.2], penalties = [0.9, 0.1, 0.5]
        let scores = zip(probabilities, penalties).map { ContrastiveSearch.score(probability: $0, penalty: $1, alpha: 0.6) }
        XCTAssertEqual(scores[0], -0.34, accuracy: 1e-7)
        XCTAssertEqual(scores[1], 0.06, accuracy: 1e-7)
        XCTAssertEqual(scores[2], -0.22, accuracy: 1e-7)
        XCTAssertEqual(ContrastiveSearch.selectIndex(scores: scores), 1)
        // The probability, not its logarithm: with α = 0.5 a 0.1 gain in p outweighs a 0.09 penalty.
        let a = ContrastiveSearch.score(probability: 0.6, penalty: 0.50, alpha: 0.5)
        let b = ContrastiveSearch.score(probability: 0.5, penalty: 0.41, alpha: 0.5)
        XCTAssertGreaterThan(a, b)
    }

    func testSelectionTakesTheFirstOfEqualScoresAndNeverNaN() {
        XCTAssertEqual(ContrastiveSearch.selectIndex(scores: [0.25, 0.5, 0.5]), 1)
        XCTAssertEqual(ContrastiveSearch.selectIndex(scores: [.nan, -1, -2]), 1)
        XCTAssertEqual(ContrastiveSearch.selectIndex(scores: [.nan, .nan]), 0)
        XCTAssertEqual(ContrastiveSearch.selectIndex(scores: [-.infinity, -.infinity]), 0)
    }

    func testCosineSimilarityAndPenaltyOnHandVectors() {
        let a: [Float] = [1, 0, 0], b: [Float] = [1, 1, 0], z: [Float] = [0, 0, 0]
        XCTAssertEqual(ContrastiveSearch.cosineSimilarity(a, b, count: 3), 1 / 2.0.squareRoot(), accuracy: 1e-15)
        XCTAssertEqual(ContrastiveSearch.cosineSimilarity(a, [-2, 0, 0], count: 3), -1)
        XCTAssertTrue(ContrastiveSearch.cosineSimilarity(a, z, count: 3).isNaN, "no epsilon: a zero vector gives NaN")
        // Penalty = maximum over the context rows: rows (1,0,0), (0,1,0), (−1,0,0) against (3,4,0):
        // cosines 0.6, 0.8, −0.6 → 0.8.
        let context: [Float] = [1, 0, 0, 0, 1, 0, -1, 0, 0]
        XCTAssertEqual(ContrastiveSearch.degenerationPenalty(context: context, rows: 3, candidate: [3, 4, 0]), 0.8, accuracy: 1e-15)
        XCTAssertTrue(ContrastiveSearch.degenerationPenalty(context: context + z, rows: 4, candidate: [3, 4, 0]).isNaN)
    }

    // MARK: Invariants on a synthetic model

    func testAlphaZeroEqualsGreedy() throws {
        let model = try Support.syntheticModel(seed: 11)
        for s in 0..<3 {
            let prompt = Support.prompt(seed: 100 + UInt64(s), count: 5 + s, vocabulary: 97)
            let greedy = try GreedyDecoding.generate(model: model, prompt: prompt, stopping: StoppingCriteria(maxNewTokens: 20))
            let cs = try ContrastiveSearch.generate(model: model, prompt: prompt, penaltyAlpha: 0, topK: 4, stopping: StoppingCriteria(maxNewTokens: 20))
            XCTAssertEqual(cs.outputIDs, greedy.outputIDs)
        }
    }

    func testTopKOfOneEqualsGreedyForAnyAlpha() throws {
        let model = try Support.syntheticModel(seed: 12)
        let prompt = Support.prompt(seed: 7, count: 6, vocabulary: 97)
        let greedy = try GreedyDecoding.generate(model: model, prompt: prompt, stopping: StoppingCriteria(maxNewTokens: 16))
        for alpha in [0.3, 0.6, 1.0] {
            let cs = try ContrastiveSearch.generate(model: model, prompt: prompt, penaltyAlpha: alpha, topK: 1, stopping: StoppingCriteria(maxNewTokens: 16))
            XCTAssertEqual(cs.outputIDs, greedy.outputIDs, "alpha \(alpha)")
        }
    }

    func testAlphaOnePicksTheLeastSimilarCandidate() throws {
        let model = try Support.syntheticModel(seed: 13)
        let prompt = Support.prompt(seed: 8, count: 6, vocabulary: 97)
        let (generation, steps) = try ContrastiveSearch.generateWithSteps(model: model, prompt: prompt, penaltyAlpha: 1, topK: 5,
                                                                          stopping: StoppingCriteria(maxNewTokens: 16))
        XCTAssertEqual(steps.count, 16)
        var differsFromGreedyChoice = false
        for (t, step) in steps.enumerated() {
            let least = step.candidates.map(\.penalty).min()!
            XCTAssertEqual(step.selected.penalty, least, "step \(t)")
            XCTAssertEqual(generation.outputIDs[t], step.selected.id)
            if step.selectedIndex != 0 { differsFromGreedyChoice = true }
        }
        XCTAssertTrue(differsFromGreedyChoice, "with α = 1 some step should pass over the most probable token")
    }

    /// Invariants 4–6 of the spec: each candidate's penalty equals the one recomputed from a
    /// full forward over prompt + emitted tokens + candidate (bit for bit, by D3: the hidden
    /// states H of the context and the batched look-ahead both agree with the plain path), the
    /// step's processed scores are the full forward's logits (the cache holds exactly the chosen
    /// prefix), and candidates are the top-k of the softmax in (p desc, id asc) order.
    func testPenaltiesAndScoresEqualAFullForwardOverTheSameIDs() throws {
        let model = try Support.syntheticModel(seed: 14)
        let prompt = Support.prompt(seed: 9, count: 7, vocabulary: 97)
        let (generation, steps) = try ContrastiveSearch.generateWithSteps(model: model, prompt: prompt, penaltyAlpha: 0.6, topK: 3,
                                                                          stopping: StoppingCriteria(maxNewTokens: 10), traceTopK: 97)
        let C = model.shape.hiddenSize, V = model.shape.vocabularySize
        for (t, step) in steps.enumerated() {
            let ids = prompt + generation.outputIDs.prefix(t)
            let full = try Support.fullForward(model, ids)
            let lastLogits = Array(full.logits[((ids.count - 1) * V)..<(ids.count * V)])
            // Trace scores (no processors) are the plain logits of the last position.
            for e in generation.trace[t].topLogits { XCTAssertEqual(e.logit, lastLogits[e.id], "step \(t) id \(e.id)") }
            var p = lastLogits
            p.withUnsafeMutableBufferPointer { Kernels.softmax($0.baseAddress!, count: V) }
            let top = p.withUnsafeBufferPointer { Kernels.topK($0.baseAddress!, count: V, k: 3) }
            XCTAssertEqual(step.candidates.map(\.id), top.map(\.index), "step \(t)")
            XCTAssertEqual(step.candidates.map(\.probability), top.map(\.value), "step \(t)")
            for candidate in step.candidates {
                let withCandidate = try Support.fullForward(model, ids + [candidate.id])
                let hidden = withCandidate.finalNormOutput!
                let penalty = ContrastiveSearch.degenerationPenalty(context: Array(hidden[0..<(ids.count * C)]), rows: ids.count,
                                                                    candidate: Array(hidden[(ids.count * C)...]))
                XCTAssertEqual(candidate.penalty, penalty, "step \(t) candidate \(candidate.id)")
                XCTAssertEqual(candidate.score, ContrastiveSearch.score(probability: candidate.probability, penalty: penalty, alpha: 0.6))
            }
            XCTAssertEqual(step.selectedIndex, ContrastiveSearch.selectIndex(scores: step.candidates.map(\.score)))
        }
    }

    func testOutputsAndScoresAreIdenticalOnOneAndTwoThreads() throws {
        let model = try Support.syntheticModel(seed: 15, vocabulary: 211, hidden: 64)
        let prompt = Support.prompt(seed: 10, count: 9, vocabulary: 211)
        let one = ParallelFor(threadCount: 1), two = ParallelFor(threadCount: 2)
        defer { one.shutdown(); two.shutdown() }
        let a = try ContrastiveSearch.generateWithSteps(model: model, prompt: prompt, penaltyAlpha: 0.6, topK: 4,
                                                        stopping: StoppingCriteria(maxNewTokens: 24), pool: one)
        let b = try ContrastiveSearch.generateWithSteps(model: model, prompt: prompt, penaltyAlpha: 0.6, topK: 4,
                                                        stopping: StoppingCriteria(maxNewTokens: 24), pool: two)
        XCTAssertEqual(a.generation.outputIDs, b.generation.outputIDs)
        XCTAssertEqual(a.steps, b.steps)
        XCTAssertEqual(a.generation.trace, b.generation.trace)
    }

    func testLookAheadNearTheContextLimitFallsBackToSeparatePassesWithTheSameResult() throws {
        // Context 24: a 16-token prompt leaves fewer than k = 6 free slots for the last steps, so
        // those steps run the candidates one by one; a roomy model with the same weights batches.
        let tight = try Support.syntheticModel(seed: 16, context: 24)
        let roomy = try Support.syntheticModel(seed: 16, context: 96)
        let prompt = Support.prompt(seed: 11, count: 16, vocabulary: 97)
        let a = try ContrastiveSearch.generateWithSteps(model: tight, prompt: prompt, penaltyAlpha: 0.6, topK: 6, stopping: StoppingCriteria(maxNewTokens: 30))
        let b = try ContrastiveSearch.generateWithSteps(model: roomy, prompt: prompt, penaltyAlpha: 0.6, topK: 6, stopping: StoppingCriteria(maxNewTokens: 8))
        XCTAssertEqual(a.generation.stopReason, .contextLimit)
        XCTAssertEqual(a.generation.outputIDs, b.generation.outputIDs)
        XCTAssertEqual(a.steps, b.steps)
    }

    func testProcessorsActBeforeTheSoftmaxAndEndOfSequenceStops() throws {
        let model = try Support.syntheticModel(seed: 17)
        let prompt = Support.prompt(seed: 12, count: 5, vocabulary: 97)
        let plain = try ContrastiveSearch.generate(model: model, prompt: prompt, penaltyAlpha: 0.6, topK: 4, stopping: StoppingCriteria(maxNewTokens: 12))
        // Stopping at the plain run's third token gives its first three tokens.
        let eos = plain.outputIDs[2]
        let firstEOS = plain.outputIDs.firstIndex(of: eos)!
        let stopped = try ContrastiveSearch.generate(model: model, prompt: prompt, penaltyAlpha: 0.6, topK: 4,
                                                     stopping: StoppingCriteria(maxNewTokens: 12, endOfSequenceIDs: [eos]))
        XCTAssertEqual(stopped.outputIDs, Array(plain.outputIDs.prefix(firstEOS + 1)))
        XCTAssertEqual(stopped.stopReason, .endOfSequence)
        // A repetition penalty changes the distribution every candidate is drawn from.
        let penalized = try ContrastiveSearch.generateWithSteps(model: model, prompt: prompt, penaltyAlpha: 0.6, topK: 4,
                                                                stopping: StoppingCriteria(maxNewTokens: 12),
                                                                processors: [RepetitionPenalty(penalty: 3)])
        for (t, step) in penalized.steps.enumerated() {
            XCTAssertEqual(penalized.generation.trace[t].probability, step.selected.probability)
        }
        XCTAssertNotEqual(penalized.steps.map(\.candidates), try ContrastiveSearch.generateWithSteps(
            model: model, prompt: prompt, penaltyAlpha: 0.6, topK: 4, stopping: StoppingCriteria(maxNewTokens: 12)).steps.map(\.candidates))
    }

    func testInvalidParametersThrowTypedErrors() throws {
        let model = try Support.syntheticModel(seed: 18)
        let stop = StoppingCriteria(maxNewTokens: 2)
        XCTAssertThrowsError(try ContrastiveSearch.generate(model: model, prompt: [], penaltyAlpha: 0.6, topK: 4, stopping: stop))
        XCTAssertThrowsError(try ContrastiveSearch.generate(model: model, prompt: [1], penaltyAlpha: 1.5, topK: 4, stopping: stop))
        XCTAssertThrowsError(try ContrastiveSearch.generate(model: model, prompt: [1], penaltyAlpha: .nan, topK: 4, stopping: stop))
        XCTAssertThrowsError(try ContrastiveSearch.generate(model: model, prompt: [1], penaltyAlpha: 0.6, topK: 0, stopping: stop))
        XCTAssertThrowsError(try ContrastiveSearch.generate(model: model, prompt: [1000], penaltyAlpha: 0.6, topK: 4, stopping: stop))
    }
}

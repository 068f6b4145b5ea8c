import Foundation
import XCTest
import Decoding
import Tensors
import Transformer

/// A fake "model": fixed next-token probabilities per generated prefix (logits = ln p).
struct ProbabilityTable {
    let vocabularySize: Int
    var rows: [[Int]: [Double]]
    var fallback: [Double]

    var logits: BeamSearch.LogitsFunction {
        { continuations in continuations.map { (rows[$0] ?? fallback).map { Float(Foundation.log($0)) } } }
    }
}

/// Seeded random logits per prefix: the prefix is folded into a seed, so the table is a pure
/// function of the sequence (like a model).
func randomLogits(vocabularySize V: Int, seed: UInt64, spread: Float = 6) -> BeamSearch.LogitsFunction {
    { continuations in
        continuations.map { tokens in
            var h = seed
            for t in tokens { h = h &* 1_000_003 &+ UInt64(t) &+ 1 }
            var g = Xoshiro256StarStar(seed: h)
            return (0..<V).map { _ in g.nextUniformFloat() * spread }
        }
    }
}

final class BeamSearchTests: XCTestCase {
    let ln = { (p: Double) in Foundation.log(p) }

    // MARK: hand-computed cases

    /// root [.5 .4 .1]; after [0]: [.4 .3 .3]; after [1]: [.9 .05 .05]. Greedy takes 0 then 0
    /// (p = .2); two beams find [1, 0] (p = .36).
    func testTwoBeamsFindTheSequenceGreedyMisses() throws {
        let table = ProbabilityTable(vocabularySize: 3, rows: [[]: [0.5, 0.4, 0.1], [0]: [0.4, 0.3, 0.3], [1]: [0.9, 0.05, 0.05]],
                                     fallback: [1.0 / 3, 1.0 / 3, 1.0 / 3])
        let hyps = try BeamSearch.search(prompt: [9], vocabularySize: 3, numBeams: 2, numReturnSequences: 2,
                                         stopping: StoppingCriteria(maxNewTokens: 2), logits: table.logits)
        XCTAssertEqual(hyps.map(\.tokens), [[1, 0], [0, 0]])
        XCTAssertEqual(Double(hyps[0].score), (ln(0.4) + ln(0.9)) / 2, accuracy: 1e-6)
        XCTAssertEqual(Double(hyps[1].score), (ln(0.5) + ln(0.4)) / 2, accuracy: 1e-6)
        XCTAssertEqual(Double(hyps[0].sumLogProbability), ln(0.4) + ln(0.9), accuracy: 1e-6)
        XCTAssertEqual(hyps[0].trace.map(\.token), [1, 0])
        XCTAssertEqual(Double(hyps[0].trace[1].probability!), 0.9, accuracy: 1e-6)
    }

    /// Equal scores are ranked by flattened index `beam * V + token`, lowest first (D4).
    func testTiesGoToTheLowestFlattenedIndex() throws {
        let table = ProbabilityTable(vocabularySize: 4, rows: [:], fallback: [0.25, 0.25, 0.25, 0.25])
        let hyps = try BeamSearch.search(prompt: [1], vocabularySize: 4, numBeams: 3, numReturnSequences: 3,
                                         stopping: StoppingCriteria(maxNewTokens: 2), logits: table.logits)
        XCTAssertEqual(hyps.map(\.tokens), [[0, 0], [0, 1], [0, 2]])
        XCTAssertEqual(hyps[0].score, hyps[2].score)
    }

    // Two tables on which the three early-stopping modes differ (N = 2, eos = 2, maxNewTokens = 3).
    // Step 0 finishes [2] (ln .4); step 1 finishes [0, 2] (score (ln .32 + ln .9) / 2 = -0.622).
    static func earlyStoppingTable(afterOne: [Double]) -> ProbabilityTable {
        ProbabilityTable(vocabularySize: 3, rows: [[]: [0.32, 0.28, 0.40], [0]: [0.05, 0.05, 0.9], [1]: afterOne],
                         fallback: [0.98, 0.01, 0.01])
    }

    func run(_ table: ProbabilityTable, _ mode: BeamEarlyStopping, lengthPenalty: Double = 1) throws -> [BeamHypothesis] {
        try BeamSearch.search(prompt: [5], vocabularySize: 3, numBeams: 2, lengthPenalty: lengthPenalty, earlyStopping: mode,
                              numReturnSequences: 2, stopping: StoppingCriteria(maxNewTokens: 3, endOfSequenceIDs: [2]),
                              logits: table.logits)
    }

    /// After step 1 both slots are finished: `.enabled` stops; the heuristic sees the running
    /// beam [1, 0] at (ln .28 + ln .98) / 2 = -0.647 > -0.916 and continues to [1, 0, 0].
    func testEarlyStoppingEnabledStopsOnceNumBeamsHypothesesAreFinished() throws {
        let table = Self.earlyStoppingTable(afterOne: [0.98, 0.01, 0.01])
        let enabled = try run(table, .enabled)
        XCTAssertEqual(enabled.map(\.tokens), [[0, 2], [2]])
        XCTAssertEqual(Double(enabled[0].score), (ln(0.32) + ln(0.9)) / 2, accuracy: 1e-6)
        XCTAssertEqual(Double(enabled[1].score), ln(0.4), accuracy: 1e-6)
        let heuristic = try run(table, .heuristic)
        XCTAssertEqual(heuristic.map(\.tokens), [[1, 0, 0], [0, 2]])
        XCTAssertEqual(Double(heuristic[0].score), (ln(0.28) + 2 * ln(0.98)) / 3, accuracy: 1e-6)
    }

    /// With [1] → [.5 .25 .25] the running beam scores (ln .28 + ln .5) / 2 = -0.983 < -0.916:
    /// the heuristic stops, while `.never` bounds it by maxNewTokens (-1.966 / 3 = -0.655) and
    /// goes on to find [1, 0, 0] at -0.662.
    func testEarlyStoppingNeverKeepsSearchingWhileTheBoundAtMaxLengthCouldWin() throws {
        let table = Self.earlyStoppingTable(afterOne: [0.5, 0.25, 0.25])
        XCTAssertEqual(try run(table, .enabled).map(\.tokens), [[0, 2], [2]])
        XCTAssertEqual(try run(table, .heuristic).map(\.tokens), [[0, 2], [2]])
        let never = try run(table, .never)
        XCTAssertEqual(never.map(\.tokens), [[0, 2], [1, 0, 0]])
        XCTAssertEqual(Double(never[1].score), (ln(0.28) + ln(0.5) + ln(0.98)) / 3, accuracy: 1e-6)
    }

    /// The length counts generated tokens including EOS; lengthPenalty 0 ranks by the raw sum
    /// (shortest wins here), 2 divides by length².
    func testLengthPenaltyScalesTheScoreByGeneratedLengthToThePower() throws {
        let table = Self.earlyStoppingTable(afterOne: [0.98, 0.01, 0.01])
        let raw = try run(table, .heuristic, lengthPenalty: 0)
        XCTAssertEqual(raw.map(\.tokens), [[2], [0, 2]])
        for h in raw { XCTAssertEqual(h.score, h.sumLogProbability) }
        let squared = try run(table, .heuristic, lengthPenalty: 2)
        XCTAssertEqual(squared.map(\.tokens), [[1, 0, 0], [0, 2]])
        for h in squared {
            XCTAssertEqual(h.score, Float(Double(h.sumLogProbability) / Double(h.tokens.count * h.tokens.count)))
        }
    }

    func testEndOfSequenceTokenIsKeptAndCountsInTheLength() throws {
        let table = Self.earlyStoppingTable(afterOne: [0.98, 0.01, 0.01])
        let h = try run(table, .enabled)[1]
        XCTAssertEqual(h.tokens, [2])
        let g = Generation(prompt: [5], hypothesis: h, stopping: StoppingCriteria(maxNewTokens: 3, endOfSequenceIDs: [2]))
        XCTAssertEqual(g.stopReason, .endOfSequence)
        XCTAssertEqual(g.outputIDs, [2])
    }

    func testInvalidParametersThrowTypedErrors() {
        let table = ProbabilityTable(vocabularySize: 3, rows: [:], fallback: [0.2, 0.3, 0.5])
        XCTAssertThrowsError(try BeamSearch.search(prompt: [1], vocabularySize: 3, numBeams: 2, numReturnSequences: 3,
                                                   stopping: StoppingCriteria(maxNewTokens: 2), logits: table.logits))
        XCTAssertThrowsError(try BeamSearch.search(prompt: [1], vocabularySize: 3, numBeams: 2,
                                                   stopping: StoppingCriteria(maxNewTokens: 2, endOfSequenceIDs: [0, 1, 2]), logits: table.logits))
        XCTAssertThrowsError(try GroupBeamSearch.search(prompt: [1], vocabularySize: 3, numBeams: 4, numBeamGroups: 3, diversityPenalty: 1,
                                                        stopping: StoppingCriteria(maxNewTokens: 2), logits: table.logits))
    }

    // MARK: properties

    /// With one beam and no end-of-sequence id, beam search is greedy decoding.
    func testOneBeamEqualsGreedyOnRandomTables() throws {
        for seed in UInt64(1)...20 {
            let f = randomLogits(vocabularySize: 17, seed: seed)
            let hyp = try BeamSearch.search(prompt: [3], vocabularySize: 17, numBeams: 1, stopping: StoppingCriteria(maxNewTokens: 8), logits: f)[0]
            var greedy: [Int] = []
            for _ in 0..<8 {
                let row = try f([greedy])[0]
                greedy.append(row.withUnsafeBufferPointer { Kernels.argmax($0.baseAddress!, count: 17) })
            }
            XCTAssertEqual(hyp.tokens, greedy, "seed \(seed)")
        }
    }

    /// Each mode stops no earlier than the one before it, and the finished list only improves,
    /// so slot by slot: score(.enabled) ≤ score(.heuristic) ≤ score(.never).
    func testLaterStoppingModesNeverReturnWorseHypotheses() throws {
        for seed in UInt64(1)...30 {
            let f = randomLogits(vocabularySize: 7, seed: seed, spread: 3)
            func scores(_ mode: BeamEarlyStopping) throws -> [Float] {
                try BeamSearch.search(prompt: [0], vocabularySize: 7, numBeams: 3, earlyStopping: mode, numReturnSequences: 3,
                                      stopping: StoppingCriteria(maxNewTokens: 9, endOfSequenceIDs: [6]), logits: f).map(\.score)
            }
            let (e, h, n) = (try scores(.enabled), try scores(.heuristic), try scores(.never))
            for i in 0..<3 {
                XCTAssertLessThanOrEqual(e[i], h[i], "seed \(seed)")
                XCTAssertLessThanOrEqual(h[i], n[i], "seed \(seed)")
            }
        }
    }

    /// Without end-of-sequence ids, one group with no diversity penalty (HF's legacy scorer)
    /// returns exactly what the vectorized beam search returns.
    func testOneGroupWithoutEOSEqualsVectorizedBeamSearch() throws {
        for seed in UInt64(1)...20 {
            let f = randomLogits(vocabularySize: 11, seed: seed, spread: 4)
            let stopping = StoppingCriteria(maxNewTokens: 6)
            let a = try BeamSearch.search(prompt: [2], vocabularySize: 11, numBeams: 4, numReturnSequences: 4, stopping: stopping, logits: f)
            let b = try GroupBeamSearch.search(prompt: [2], vocabularySize: 11, numBeams: 4, numBeamGroups: 1, diversityPenalty: 0,
                                               numReturnSequences: 4, stopping: stopping, logits: f)
            XCTAssertEqual(a.map(\.tokens), b.map(\.tokens), "seed \(seed)")
            XCTAssertEqual(a.map(\.score), b.map(\.score), "seed \(seed)")
        }
    }

    // MARK: group beam search, hand-computed

    /// One beam per group, root [.5 .3 .2]: group 0 takes 0; group 1 sees ln .5 − λ for token 0.
    func testDiversityPenaltyPushesLaterGroupsOffEarlierGroupsTokens() throws {
        let table = ProbabilityTable(vocabularySize: 3, rows: [:], fallback: [0.5, 0.3, 0.2])
        func run(_ lambda: Double) throws -> [BeamHypothesis] {
            try GroupBeamSearch.search(prompt: [4], vocabularySize: 3, numBeams: 2, numBeamGroups: 2, diversityPenalty: lambda,
                                       numReturnSequences: 2, stopping: StoppingCriteria(maxNewTokens: 1), logits: table.logits)
        }
        XCTAssertEqual(try run(0).map(\.tokens), [[0], [0]])
        let mild = try run(0.1)
        XCTAssertEqual(mild.map(\.tokens), [[0], [0]])
        XCTAssertEqual(Double(mild[1].score), ln(0.5) - 0.1, accuracy: 1e-6)
        let strong = try run(1)
        XCTAssertEqual(strong.map(\.tokens), [[0], [1]])
        XCTAssertEqual(Double(strong[1].score), ln(0.3), accuracy: 1e-6)
    }

    /// Equal final scores: Python's stable sort + pop() returns the later list entry first, so
    /// group 1's hypothesis precedes group 0's.
    func testGroupTiesReturnTheLaterGroupFirst() throws {
        let table = ProbabilityTable(vocabularySize: 3, rows: [[]: [0.4, 0.4, 0.2]], fallback: [0.5, 0.3, 0.2])
        let hyps = try GroupBeamSearch.search(prompt: [4], vocabularySize: 3, numBeams: 2, numBeamGroups: 2, diversityPenalty: 1,
                                              numReturnSequences: 2, stopping: StoppingCriteria(maxNewTokens: 1), logits: table.logits)
        XCTAssertEqual(hyps.map(\.tokens), [[1], [0]])
        XCTAssertEqual(hyps[0].score, hyps[1].score)
    }

    // MARK: the model adapter

    /// The shared prefix-tree cache gives the same hypotheses, bit for bit (scores and trace
    /// logits), as recomputing every beam from scratch each step — also when the cache overflows
    /// the context (tiny-a has 256) and is rebuilt.
    func testSharedPrefixCacheEqualsRecomputingEveryBeamFromScratch() throws {
        let model = try SyntheticModels.model(SyntheticModels.tinyA)
        let V = model.shape.vocabularySize
        for prompt in [[3, 1, 4, 1, 5], (0..<200).map { ($0 * 37) % 500 }] {
            let scratch: BeamSearch.LogitsFunction = { continuations in
                try continuations.map { c in
                    Array(try model.forward(tokens: prompt + c, cache: KVCache(shape: model.shape), logitRows: .last).logits)
                }
            }
            let stopping = StoppingCriteria(maxNewTokens: 16, endOfSequenceIDs: [7])
            let fast = try BeamSearch.generate(model: model, prompt: prompt, numBeams: 4, numReturnSequences: 4, stopping: stopping)
            let slow = try BeamSearch.search(prompt: prompt, vocabularySize: V, numBeams: 4, numReturnSequences: 4, stopping: stopping, logits: scratch)
            XCTAssertEqual(fast, slow, "prompt length \(prompt.count)")
            let groupFast = try GroupBeamSearch.generate(model: model, prompt: prompt, numBeams: 4, numBeamGroups: 2, diversityPenalty: 0.5,
                                                         numReturnSequences: 4, stopping: stopping)
            let groupSlow = try GroupBeamSearch.search(prompt: prompt, vocabularySize: V, numBeams: 4, numBeamGroups: 2, diversityPenalty: 0.5,
                                                       numReturnSequences: 4, stopping: stopping, logits: scratch)
            XCTAssertEqual(groupFast, groupSlow, "prompt length \(prompt.count)")
        }
    }

    func testOneBeamOnAModelEqualsGreedyDecoding() throws {
        for preset in SyntheticModels.presets {
            let model = try SyntheticModels.model(preset)
            let stopping = StoppingCriteria(maxNewTokens: 12)
            let greedy = try GreedyDecoding.generate(model: model, prompt: [3, 1, 4], stopping: stopping)
            let beam = try BeamSearch.generation(model: model, prompt: [3, 1, 4], numBeams: 1, stopping: stopping)
            XCTAssertEqual(beam.outputIDs, greedy.outputIDs, preset.name)
            XCTAssertEqual(beam.trace.map(\.logit), greedy.trace.map(\.logit), preset.name)
            XCTAssertEqual(beam.trace.map(\.topLogits), greedy.trace.map(\.topLogits), preset.name)
        }
    }

    func testHypothesesAreBitIdenticalForOneAndTwoThreads() throws {
        let model = try SyntheticModels.model(SyntheticModels.tinyB)
        let stopping = StoppingCriteria(maxNewTokens: 10, endOfSequenceIDs: [5])
        var results: [[BeamHypothesis]] = []
        var groups: [[BeamHypothesis]] = []
        for threads in [1, 2, 3] {
            let pool = ParallelFor(threadCount: threads)
            defer { pool.shutdown() }
            results.append(try BeamSearch.generate(model: model, prompt: [2, 7, 1, 8], numBeams: 3, numReturnSequences: 3,
                                                   stopping: stopping, pool: pool))
            groups.append(try GroupBeamSearch.generate(model: model, prompt: [2, 7, 1, 8], numBeams: 4, numBeamGroups: 2,
                                                       diversityPenalty: 0.5, numReturnSequences: 4, stopping: stopping, pool: pool))
        }
        XCTAssertEqual(results[0], results[1])
        XCTAssertEqual(results[0], results[2])
        XCTAssertEqual(groups[0], groups[1])
        XCTAssertEqual(groups[0], groups[2])
    }
}

import XCTest
import Decoding
import Tensors

/// Hand-computed cases in the style of llama.cpp's `tests/test-sampling.cpp`, computed for
/// Touchstone's documented semantics. `P` = logits of {0.1, 0.2, 0.3, 0.4}.
final class ProcessorHandComputedTests: XCTestCase {
    typealias S = ProcessorTestSupport
    let P = ProcessorTestSupport.logits([0.1, 0.2, 0.3, 0.4])

    // MARK: temperature

    func testTemperatureDividesLogitsUnderHuggingFaceAndLlamaCpp() {
        for sem in [ProcessorSemantics.huggingFace, .llamaCpp] {
            var s: [Float] = [1, -2, 0.5, 3]
            Temperature(0.7, semantics: sem).process(&s, context: S.context())
            XCTAssertEqual(s, [1 / Float(0.7), -2 / Float(0.7), 0.5 / Float(0.7), 3 / Float(0.7)])
        }
    }

    func testTemperatureMultipliesByReciprocalUnderMLX() {
        var s: [Float] = [1, -2, 0.5, 3]
        Temperature(0.7, semantics: .mlx).process(&s, context: S.context())
        let inv = Float(1 / 0.7)
        XCTAssertEqual(s, [1 * inv, -2 * inv, 0.5 * inv, 3 * inv])
    }

    func testTemperatureZeroIsRejectedUnderHuggingFaceAndIsGreedyElsewhere() {
        XCTAssertThrowsError(try ProcessorChain.make(SamplingParameters(temperature: 0), order: .hf))
        for order in [ProcessorOrder.llamaCpp, .mlx] {
            let chain = try! ProcessorChain.make(SamplingParameters(temperature: 0), order: order)
            var s: [Float] = [1, 3, 3, 2]
            chain.process(&s, context: S.context())
            XCTAssertEqual(s.map { $0 > -.infinity }, [false, true, false, false], "ties at the max keep the lowest id (D4)")
        }
    }

    // MARK: top-k

    func testTopKHuggingFaceKeepsEveryTieAtTheKthValue() {
        var s: [Float] = [1, 3, 2, 2, 0]
        TopK(2).process(&s, context: S.context())
        XCTAssertEqual(s, [-.infinity, 3, 2, 2, -.infinity])
    }

    func testTopKLlamaCppAndMLXKeepExactlyKWithLowestIDsAmongTies() {
        for sem in [ProcessorSemantics.llamaCpp, .mlx] {
            var s: [Float] = [1, 3, 2, 2, 0]
            TopK(2, semantics: sem).process(&s, context: S.context())
            XCTAssertEqual(s, [-.infinity, 3, 2, -.infinity, -.infinity])
        }
    }

    func testTopKOnQuarterTenthsKeepsTheTwoLargest() {
        XCTAssertProbabilities(S.processed(TopK(2), P), [0, 0, 3.0 / 7, 4.0 / 7])
        XCTAssertProbabilities(S.processed(TopK(1), P), [0, 0, 0, 1])
    }

    func testTopKAtLeastVocabularyKeepsEverything() {
        for sem in ProcessorSemantics.allCases {
            XCTAssertProbabilities(S.processed(TopK(4, semantics: sem), P), [0.1, 0.2, 0.3, 0.4])
            XCTAssertProbabilities(S.processed(TopK(100, semantics: sem), P), [0.1, 0.2, 0.3, 0.4])
        }
    }

    func testTopKHonoursMinTokensToKeep() {
        XCTAssertProbabilities(S.processed(TopK(1, minTokensToKeep: 3), P), [0, 0.2 / 0.9, 0.3 / 0.9, 0.4 / 0.9])
    }

    // MARK: top-p

    func testTopPSeventyPercentKeepsTheTwoLargestUnderEverySemantics() {
        // llama.cpp's own case: p = 0.7 on {0.1, 0.2, 0.3, 0.4} → {0.571429, 0.428571}.
        XCTAssertProbabilities(S.processed(TopP(0.7, semantics: .llamaCpp), P), [0, 0, 0.428571, 0.571429])
        // Hugging Face removes cumulative-from-below ≤ 0.3: 0.1 and 0.1 + 0.2 (here 0.3 rounds ≤ 0.3).
        XCTAssertProbabilities(S.processed(TopP(0.7), P), [0, 0, 0.428571, 0.571429])
        let lp = ProcessorMath.logSoftmax(P)
        XCTAssertProbabilities(S.processed(TopP(0.65, semantics: .mlx), lp), [0, 0, 0.428571, 0.571429])
    }

    func testTopPSeventyFivePercentKeepsThreeTokens() {
        for sem in [ProcessorSemantics.huggingFace, .llamaCpp] {
            XCTAssertProbabilities(S.processed(TopP(0.75, semantics: sem), P), [0, 0.2 / 0.9, 0.3 / 0.9, 0.4 / 0.9])
        }
        XCTAssertProbabilities(S.processed(TopP(0.75, semantics: .mlx), ProcessorMath.logSoftmax(P)), [0, 0.2 / 0.9, 0.3 / 0.9, 0.4 / 0.9])
    }

    func testTopPSmallKeepsOnlyTheBestUnlessMinTokensToKeep() {
        XCTAssertProbabilities(S.processed(TopP(0.1), P), [0, 0, 0, 1])
        XCTAssertProbabilities(S.processed(TopP(0.1, semantics: .llamaCpp), P), [0, 0, 0, 1])
        XCTAssertProbabilities(S.processed(TopP(0.1, minTokensToKeep: 3), P), [0, 0.2 / 0.9, 0.3 / 0.9, 0.4 / 0.9])
        XCTAssertProbabilities(S.processed(TopP(0.1, minTokensToKeep: 3, semantics: .llamaCpp), P), [0, 0.2 / 0.9, 0.3 / 0.9, 0.4 / 0.9])
    }

    func testTopPAmongTiedScoresKeepsLowestIDs() {
        let flat: [Float] = [0, 0, 0, 0]
        for sem in ProcessorSemantics.allCases {
            let input = sem == .mlx ? ProcessorMath.logSoftmax(flat) : flat
            XCTAssertProbabilities(S.processed(TopP(0.5, semantics: sem), input), [0.5, 0.5, 0, 0], "\(sem)")
            XCTAssertProbabilities(S.processed(TopP(0.6, semantics: sem), input), [1.0 / 3, 1.0 / 3, 1.0 / 3, 0], "\(sem)")
        }
    }

    func testTopPMLXUsesUnrenormalisedLogProbabilitiesAfterEarlierFilters() {
        // Log-probabilities of {0.1, 0.2, 0.3, 0.4} with id 3 already removed (mass left: 0.6).
        var lp = ProcessorMath.logSoftmax(P)
        lp[3] = -.infinity
        // MLX: cumulative 0.1, 0.3, 0.6 (not renormalised) > 0.4 only at id 2.
        XCTAssertProbabilities(S.processed(TopP(0.6, semantics: .mlx), lp), [0, 0, 1, 0])
        // Hugging Face renormalises: 1/6, 1/2, 1 → removes only id 0.
        XCTAssertProbabilities(S.processed(TopP(0.6), lp), [0, 0.4, 0.6, 0])
    }

    func testTopPOneKeepsEverything() {
        for sem in ProcessorSemantics.allCases {
            XCTAssertProbabilities(S.processed(TopP(1, semantics: sem), P), [0.1, 0.2, 0.3, 0.4])
        }
        XCTAssertEqual(try ProcessorChain.make(SamplingParameters(topP: 1)).count, 0)
    }

    // MARK: min-p

    func testMinPRemovesTokensBelowScaledMaximumUnderEverySemantics() {
        // 0.6 · 0.4 = 0.24: keep {0.3, 0.4}.
        for sem in ProcessorSemantics.allCases {
            XCTAssertProbabilities(S.processed(MinP(0.6, semantics: sem), P), [0, 0, 3.0 / 7, 4.0 / 7], "\(sem)")
            // 0.3 · 0.4 = 0.12: keep {0.2, 0.3, 0.4}.
            XCTAssertProbabilities(S.processed(MinP(0.3, semantics: sem), P), [0, 0.2 / 0.9, 0.3 / 0.9, 0.4 / 0.9], "\(sem)")
            XCTAssertProbabilities(S.processed(MinP(0.99, minTokensToKeep: 2, semantics: sem), P), [0, 0, 3.0 / 7, 4.0 / 7], "\(sem)")
        }
    }

    func testMinPKeepsEveryTokenTiedWithTheMaximum() {
        for sem in ProcessorSemantics.allCases {
            XCTAssertProbabilities(S.processed(MinP(1, semantics: sem), [2, 2, 1, 2]), [1.0 / 3, 1.0 / 3, 0, 1.0 / 3], "\(sem)")
        }
    }

    // MARK: typical-p

    func testTypicalPKeepsTokensClosestToTheEntropy() {
        // H = 1.27985; |−log p − H| = 1.0227, 0.3296, 0.0759, 0.3636 → order 0.3, 0.2, 0.4, 0.1;
        // cumulative 0.3, 0.5, 0.9, 1.0.
        for sem in [ProcessorSemantics.huggingFace, .llamaCpp] {
            XCTAssertProbabilities(S.processed(TypicalP(0.45, semantics: sem), P), [0, 0.4, 0.6, 0], "\(sem)")
            XCTAssertProbabilities(S.processed(TypicalP(0.55, semantics: sem), P), [0, 0.2 / 0.9, 0.3 / 0.9, 0.4 / 0.9], "\(sem)")
        }
    }

    func testTypicalPMatchesLlamaCppCases() {
        // llama.cpp test-sampling: {0.97, 0.01, 0.01, 0.01}, 0.5 → {0.97}; {0.4, 0.2, 0.2, 0.2}, 0.5 → {0.2, 0.2, 0.2}.
        for sem in [ProcessorSemantics.huggingFace, .llamaCpp] {
            XCTAssertProbabilities(S.processed(TypicalP(0.5, semantics: sem), S.logits([0.97, 0.01, 0.01, 0.01])), [1, 0, 0, 0], "\(sem)")
            XCTAssertProbabilities(S.processed(TypicalP(0.5, semantics: sem), S.logits([0.4, 0.2, 0.2, 0.2])), [0, 1.0 / 3, 1.0 / 3, 1.0 / 3], "\(sem)")
        }
    }

    func testTypicalPHuggingFaceKeepsTiesAtTheCutLlamaCppDoesNot() {
        // {0.4, 0.2, 0.2, 0.2}, mass 0.3: Hugging Face cuts at the first 0.2 (c = 0.2 < 0.3 → L = 1,
        // i.e. the second 0.2) and keeps every token tied with it; llama.cpp keeps the first two.
        let s = S.logits([0.4, 0.2, 0.2, 0.2])
        XCTAssertProbabilities(S.processed(TypicalP(0.3), s), [0, 1.0 / 3, 1.0 / 3, 1.0 / 3])
        XCTAssertProbabilities(S.processed(TypicalP(0.3, semantics: .llamaCpp), s), [0, 0.5, 0.5, 0])
    }

    // MARK: epsilon / eta

    func testEpsilonRemovesProbabilitiesBelowEpsilon() {
        XCTAssertProbabilities(S.processed(EpsilonCutoff(0.15), P), [0, 0.2 / 0.9, 0.3 / 0.9, 0.4 / 0.9])
        XCTAssertProbabilities(S.processed(EpsilonCutoff(0.5), P), [0, 0, 0, 1])
        XCTAssertProbabilities(S.processed(EpsilonCutoff(0.5, minTokensToKeep: 2), P), [0, 0, 3.0 / 7, 4.0 / 7])
    }

    func testEtaUsesTheSmallerOfEpsilonAndEntropyScaledRoot() {
        // η = min(0.2, sqrt(0.2)·exp(−1.27985)) = 0.12436: removes 0.1 only.
        XCTAssertProbabilities(S.processed(EtaCutoff(0.2), P), [0, 0.2 / 0.9, 0.3 / 0.9, 0.4 / 0.9])
        // η = min(0.9, 0.94868·0.27807 = 0.2638): removes 0.1 and 0.2.
        XCTAssertProbabilities(S.processed(EtaCutoff(0.9), P), [0, 0, 3.0 / 7, 4.0 / 7])
    }

    // MARK: penalties

    func testRepetitionPenaltyDividesPositiveAndMultipliesNegativeOncePerDistinctToken() {
        var s: [Float] = [2, -2, 1, 0.5]
        RepetitionPenalty(penalty: 2).process(&s, context: S.context([0, 1, 1, 1]))
        XCTAssertEqual(s, [1, -4, 1, 0.5])
    }

    func testRepetitionPenaltyScopeSelectsTheWindow() {
        var s: [Float] = [2, -2, 1, 0.5]
        RepetitionPenalty(penalty: 2, scope: .lastN(1)).process(&s, context: S.context([0, 1]))
        XCTAssertEqual(s, [2, -4, 1, 0.5])
        s = [2, -2, 1, 0.5]
        RepetitionPenalty(penalty: 2, scope: .generated).process(&s, context: S.context([0, 1, 2], promptLength: 2))
        XCTAssertEqual(s, [2, -2, 0.5, 0.5])
    }

    func testFrequencyPenaltyScalesWithCountAndPresenceDoesNot() {
        let ctx = S.context([0, 1, 1, 2], promptLength: 1)   // generated: 1, 1, 2
        var s: [Float] = [1, 1, 1, 1]
        FrequencyPenalty(penalty: 0.5).process(&s, context: ctx)
        XCTAssertEqual(s, [1, 0, 0.5, 1])
        s = [1, 1, 1, 1]
        PresencePenalty(penalty: 0.5).process(&s, context: ctx)
        XCTAssertEqual(s, [1, 0.5, 0.5, 1])
        s = [1, 1, 1, 1]
        FrequencyPenalty(penalty: 0.5, scope: .context).process(&s, context: ctx)
        XCTAssertEqual(s, [0.5, 0, 0.5, 1])
    }

    func testLlamaCppPenaltiesCombineRepeatFrequencyAndPresenceOverTheLastN() {
        var s: [Float] = [2, -2, 1, 3]
        // Window = last 3 of [3, 0, 1, 1]: 0 once, 1 twice; 3 is outside.
        LlamaCppPenalties(repetition: 2, frequency: 0.25, presence: 0.5, lastN: 3).process(&s, context: S.context([3, 0, 1, 1]))
        let a: Float = 2 / 2 - (0.25 + 0.5)
        let b: Float = -2 * 2 - (2 * 0.25 + 0.5)
        XCTAssertEqual(s, [a, b, 1, 3])
    }

    // MARK: masks

    func testNoRepeatNGramBansTokensThatCompleteASeenNGram() {
        let ctx = S.context([1, 2, 3, 1, 2])
        var s = [Float](repeating: 0, count: 5)
        NoRepeatNGram(size: 3).process(&s, context: ctx)
        XCTAssertEqual(s, [0, 0, 0, -.infinity, 0])
        s = [Float](repeating: 0, count: 5)
        NoRepeatNGram(size: 2).process(&s, context: ctx)   // prefix [2]: seen 2→3
        XCTAssertEqual(s, [0, 0, 0, -.infinity, 0])
        s = [Float](repeating: 0, count: 5)
        NoRepeatNGram(size: 1).process(&s, context: ctx)
        XCTAssertEqual(s, [0, -.infinity, -.infinity, -.infinity, 0])
        s = [Float](repeating: 0, count: 5)
        NoRepeatNGram(size: 6).process(&s, context: ctx)
        XCTAssertEqual(s, [0, 0, 0, 0, 0], "no n-gram of size 6 exists yet")
    }

    func testMinNewTokensSuppressesEndOfSequenceUntilEnoughTokens() {
        let p = MinNewTokens(2, eosTokenIDs: [3, 0])
        var s: [Float] = [1, 1, 1, 1]
        p.process(&s, context: S.context([5, 6, 7], promptLength: 2))
        XCTAssertEqual(s, [-.infinity, 1, 1, -.infinity])
        s = [1, 1, 1, 1]
        p.process(&s, context: S.context([5, 6, 7, 8], promptLength: 2))
        XCTAssertEqual(s, [1, 1, 1, 1])
    }

    func testBadWordsBansSingleTokensAlwaysAndSequencesOnlyAfterTheirPrefix() {
        let p = BadWords([[4], [1, 2], [0], [9, 1, 3]], eosTokenIDs: [0])
        var s = [Float](repeating: 1, count: 5)
        p.process(&s, context: S.context([3, 1]))
        XCTAssertEqual(s, [1, 1, -.infinity, 1, -.infinity], "EOS single-token bad word is dropped, [1,2] fires")
        s = [Float](repeating: 1, count: 5)
        p.process(&s, context: S.context([1, 3]))
        XCTAssertEqual(s, [1, 1, 1, 1, -.infinity])
        s = [Float](repeating: 1, count: 5)
        p.process(&s, context: S.context([5, 9, 1]))
        XCTAssertEqual(s, [1, 1, -.infinity, -.infinity, -.infinity])
        s = [Float](repeating: 1, count: 5)
        p.process(&s, context: S.context([9, 1]))
        XCTAssertEqual(s, [1, 1, -.infinity, 1, -.infinity], "[9, 1, 3] is longer than the context [9, 1]: ignored, as in Hugging Face")
        s = [Float](repeating: 1, count: 5)
        BadWords([[1, 2, 3, 4, 0]]).process(&s, context: S.context([1, 2]))
        XCTAssertEqual(s, [1, 1, 1, 1, 1], "a sequence longer than the context is ignored")
    }

    func testLogitBiasAddsAndSuppressTokensRemoves() {
        var s: [Float] = [1, 1, 1, 1]
        LogitBias([1: 0.5, 3: -.infinity, 99: 5]).process(&s, context: S.context())
        XCTAssertEqual(s, [1, 1.5, 1, -.infinity])
        s = [1, 1, 1, 1]
        SuppressTokens([2, 0, 2, 77]).process(&s, context: S.context())
        XCTAssertEqual(s, [-.infinity, 1, -.infinity, 1])
    }

    // MARK: edge cases

    func testEveryProcessorKeepsAnAllNegativeInfinityRowWithoutNaN() {
        let all: [any LogitsProcessor] = ProcessorSemantics.allCases.flatMap { sem -> [any LogitsProcessor] in
            [Temperature(0.5, semantics: sem), Temperature(0, semantics: sem), TopK(2, semantics: sem), TopP(0.5, semantics: sem),
             MinP(0.2, semantics: sem), TypicalP(0.5, semantics: sem)]
        } + [EpsilonCutoff(0.1), EtaCutoff(0.1), RepetitionPenalty(penalty: 1.3), FrequencyPenalty(penalty: 1),
             PresencePenalty(penalty: 1), LlamaCppPenalties(repetition: 2, frequency: 1, presence: 1), NoRepeatNGram(size: 2),
             MinNewTokens(3, eosTokenIDs: [1]), BadWords([[1], [0, 2]]), LogitBias([1: 2]), SuppressTokens([0]), LogSoftmax()]
        for p in all {
            var s = [Float](repeating: -.infinity, count: 5)
            p.process(&s, context: S.context([0, 1, 0], promptLength: 1))
            XCTAssertFalse(s.contains { $0.isNaN }, p.name)
            XCTAssertTrue(s.allSatisfy { $0 == -.infinity }, p.name)
        }
        XCTAssertNil(Sampler.draw(probabilities: Sampler.probabilities(from: [-.infinity, -.infinity]), uniform: 0.5))
    }

    func testTypicalPCanRemoveTheMostLikelyTokenButNeverEverything() {
        // [1.5, 0, 1]: p = 0.547, 0.122, 0.331; H = 0.963; |−log p − H| = 0.360, 1.141, 0.143:
        // the most typical token is id 2, not the argmax.
        for sem in [ProcessorSemantics.huggingFace, .llamaCpp] {
            XCTAssertProbabilities(S.processed(TypicalP(0.2, semantics: sem), [1.5, 0, 1]), [0, 0, 1], "\(sem)")
        }
        var rng = Xoshiro256StarStar(seed: 5)
        for _ in 0..<200 {
            let s = (0..<7).map { _ in Float(Int(rng.nextUniformFloat() * 6)) * 0.5 }
            for sem in [ProcessorSemantics.huggingFace, .llamaCpp] {
                XCTAssertGreaterThan(S.processed(TypicalP(0.3, semantics: sem), s).filter { $0 > 0 }.count, 0)
            }
        }
    }

    func testTruncatingWarpersNeverRemoveTheBestToken() {
        var rng = Xoshiro256StarStar(seed: 11)
        for trial in 0..<200 {
            let n = 1 + trial % 13
            let s = (0..<n).map { _ in Float(Int(rng.nextUniformFloat() * 8)) * 0.5 }   // many ties
            let best = s.withUnsafeBufferPointer { Kernels.argmax($0.baseAddress!, count: n) }
            let warpers: [any LogitsProcessor] = ProcessorSemantics.allCases.flatMap { sem -> [any LogitsProcessor] in
                [TopK(1 + trial % 3, semantics: sem), TopP(0.01 + Double(trial % 9) * 0.1, semantics: sem == .mlx ? .huggingFace : sem),
                 MinP(0.9, semantics: sem)]
            } + [EpsilonCutoff(0.5), EtaCutoff(0.9)]
            for w in warpers {
                var t = s
                w.process(&t, context: S.context())
                XCTAssertEqual(t[best], s[best], "\(w) removed the argmax of \(s)")
            }
        }
    }
}

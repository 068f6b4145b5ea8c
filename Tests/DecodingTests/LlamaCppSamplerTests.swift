import Foundation
import XCTest
import Decoding
import Tensors
import Transformer

/// DRY, XTC, top-nσ and Mirostat (llama.cpp semantics): hand-computed cases on tiny
/// vocabularies, the draw order of the loop-state samplers, the chain rules, and seeded runs.
final class LlamaCppSamplerTests: XCTestCase {
    typealias S = ProcessorTestSupport
    /// Probabilities {0.1, 0.2, 0.3, 0.4} for ids 0…3.
    let P = ProcessorTestSupport.logits([0.1, 0.2, 0.3, 0.4])

    // MARK: DRY

    /// `0 − multiplier · base^e`, computed the way the doc comment states (binary64 product).
    func penalty(_ multiplier: Double, _ base: Double, _ e: Int) -> Float {
        Float(0 - Double(Float(multiplier)) * Foundation.pow(Double(Float(base)), Double(e)))
    }

    func testDryPenalisesTheTokenThatWouldExtendARepeatOfAllowedLength() {
        // a b c a b: emitting c would repeat "a b c"; the repeat so far has length 2 = allowed,
        // so the penalty is 0.8 · 1.75^0.
        var s = [Float](repeating: 0, count: 5)
        Dry(multiplier: 0.8, base: 1.75, allowedLength: 2).process(&s, context: S.context([1, 2, 3, 1, 2]))
        XCTAssertEqual(s, [0, 0, 0, -0.8, 0])
    }

    func testDryPenaltyGrowsAsBaseToTheRepeatLengthBeyondTheAllowed() {
        // a b c d a b c: emitting d repeats "a b c d"; length 3 → 0.8 · 1.75^(3−2) = 1.4.
        var s = [Float](repeating: 0, count: 6)
        Dry(multiplier: 0.8, base: 1.75, allowedLength: 2).process(&s, context: S.context([1, 2, 3, 4, 1, 2, 3]))
        XCTAssertEqual(s, [0, 0, 0, 0, penalty(0.8, 1.75, 1), 0])
        XCTAssertEqual(Double(s[4]), -1.4, accuracy: 1e-6)
        // allowed length 1: the same repeat of length 3 is two past the allowance: 1.75^2.
        var t = [Float](repeating: 0, count: 6)
        Dry(multiplier: 0.8, base: 1.75, allowedLength: 1).process(&t, context: S.context([1, 2, 3, 4, 1, 2, 3]))
        XCTAssertEqual(t, [0, 0, 0, 0, penalty(0.8, 1.75, 2), 0])
    }

    func testDryTakesTheLongestRepeatPerTokenAcrossOccurrences() {
        // b e a b e z a b (a=1 b=2 e=5 z=9): e follows "b" (a repeat of length 1 of the suffix)
        // and "a b" (length 2); with allowed 1 the longer counts: 0.8 · 1.75^(2−1), not 1.75^0.
        var s = [Float](repeating: 0, count: 10)
        Dry(multiplier: 0.8, base: 1.75, allowedLength: 1).process(&s, context: S.context([2, 5, 1, 2, 5, 9, 1, 2]))
        var expected = [Float](repeating: 0, count: 10)
        expected[5] = penalty(0.8, 1.75, 1)
        XCTAssertEqual(s, expected)
    }

    func testDrySingleTokenBreakerInsideTheRepeatCapsItsLength() {
        // a b c d a b c with "a" a breaker: the repeat may not reach back past the latest "a",
        // so the limit is 2 (b c) and d gets 0.8 · 1.75^0 instead of 1.75^1.
        var s = [Float](repeating: 0, count: 6)
        Dry(multiplier: 0.8, base: 1.75, allowedLength: 2, sequenceBreakers: [[1]]).process(&s, context: S.context([1, 2, 3, 4, 1, 2, 3]))
        XCTAssertEqual(s, [0, 0, 0, 0, -0.8, 0])
        // "b" a breaker: only "c" is left after it, 1 < allowed 2 → no penalty at all.
        var t = [Float](repeating: 0, count: 6)
        Dry(multiplier: 0.8, base: 1.75, allowedLength: 2, sequenceBreakers: [[2]]).process(&t, context: S.context([1, 2, 3, 4, 1, 2, 3]))
        XCTAssertEqual(t, [Float](repeating: 0, count: 6))
    }

    func testDryMultiTokenBreakerMustMatchCompletely() {
        // breaker "a b" (head a, tail [b]) ends 1 token before the end → limit 1 → no penalty.
        var s = [Float](repeating: 0, count: 6)
        Dry(multiplier: 0.8, base: 1.75, allowedLength: 2, sequenceBreakers: [[1, 2]]).process(&s, context: S.context([1, 2, 3, 4, 1, 2, 3]))
        XCTAssertEqual(s, [Float](repeating: 0, count: 6))
        // breaker "a 9" never occurs completely → the full 1.4 penalty.
        var t = [Float](repeating: 0, count: 6)
        Dry(multiplier: 0.8, base: 1.75, allowedLength: 2, sequenceBreakers: [[1, 5]]).process(&t, context: S.context([1, 2, 3, 4, 1, 2, 3]))
        XCTAssertEqual(t, [0, 0, 0, 0, penalty(0.8, 1.75, 1), 0])
    }

    func testDryNeverPenalisesASingleTokenBreakerItself() {
        // a b c d a b c with d a breaker: d occurs 3 back, limit 3, the repeat is long enough,
        // but d is a one-token breaker, which llama.cpp exempts.
        var s = [Float](repeating: 0, count: 6)
        Dry(multiplier: 0.8, base: 1.75, allowedLength: 2, sequenceBreakers: [[4]]).process(&s, context: S.context([1, 2, 3, 4, 1, 2, 3]))
        XCTAssertEqual(s, [Float](repeating: 0, count: 6))
    }

    func testDryWindowAndOffSwitches() {
        let ctx = S.context([1, 2, 3, 4, 1, 2, 3])
        for dry in [Dry(multiplier: 0.8, lastN: 3), Dry(multiplier: 0.8, lastN: 5), Dry(multiplier: 0), Dry(multiplier: 0.8, base: 0.9), Dry(multiplier: 0.8, lastN: 0),
                    Dry(multiplier: 0.8, allowedLength: 7)] {
            var s = [Float](repeating: 0, count: 6)
            dry.process(&s, context: ctx)
            XCTAssertEqual(s, [Float](repeating: 0, count: 6), "\(dry)")
        }
        // A window of 5 (c d a b c → the suffix "c" recurs, followed by d, length 1 < 2): nothing;
        // window 6 (b c d a b c): "b c" recurs followed by d: 0.8.
        var s = [Float](repeating: 0, count: 6)
        Dry(multiplier: 0.8, lastN: 6).process(&s, context: ctx)
        XCTAssertEqual(s, [0, 0, 0, 0, -0.8, 0])
    }

    func testDryExponentIsClampedSoThePenaltyStaysFinite() {
        // 200 equal tokens: emitting another repeats 199 tokens, exponent 197 > maxExponent =
        // Int(88.7228391 / log 1.75) = 158.
        var s: [Float] = [0, 0]
        Dry(multiplier: 0.8, base: 1.75, allowedLength: 2).process(&s, context: S.context([Int](repeating: 1, count: 200)))
        XCTAssertEqual(Int(Float(88.7228391) / Float(Foundation.log(1.75))), 158)
        XCTAssertTrue(s[1].isFinite)
        XCTAssertEqual(Double(s[1]) / -(0.8 * Foundation.pow(1.75, 158)), 1, accuracy: 1e-6)
        XCTAssertEqual(s[0], 0)
    }

    func testDryLeavesNegativeInfinityAndUnrelatedTokensAlone() {
        var s: [Float] = [1, 2, 3, 4, -.infinity, 6]
        Dry(multiplier: 0.8).process(&s, context: S.context([1, 2, 3, 1, 2]))
        XCTAssertEqual(s, [1, 2, 3, Float(4 - Double(Float(0.8))), -.infinity, 6])
        var t: [Float] = [1, 2, 3, 4, -.infinity, 6]
        Dry(multiplier: 0.8).process(&t, context: S.context([1, 2, 4, 1, 2]))
        XCTAssertEqual(t, [1, 2, 3, 4, -.infinity, 6], "a removed token stays removed")
    }

    func testDryTextBreakersResolveLikeLlamaCpp() {
        // bytes of each toy token; the encoder maps "b" to 7 and anything else byte by byte to 100+byte.
        let words: [[UInt8]] = [Array("a".utf8), Array("\n".utf8), Array("b:".utf8), Array("x*y".utf8), Array("c".utf8),
                                Array(":".utf8), Array("ab".utf8), Array("b".utf8), Array("za".utf8)]
        let vocabulary = DryVocabulary(count: words.count, tokenBytes: { words[$0] },
                                       encode: { bytes in bytes == Array("b".utf8) ? [7] : bytes.map { 100 + Int($0) } })
        XCTAssertEqual(Dry.sequenceBreakers(["\n", ":"], vocabulary: vocabulary), [[1], [2], [5]])
        // "ab": token 6 contains it; tokens 0 ("a") and 8 ("za") end with its prefix "a" → tail encode("b").
        XCTAssertEqual(Dry.sequenceBreakers(["ab"], vocabulary: vocabulary), [[0, 7], [6], [8, 7]])
        XCTAssertEqual(Dry.sequenceBreakers(["", "*"], vocabulary: vocabulary), [[3]])
    }

    // MARK: XTC

    func testXTCRemovesEveryTopChoiceButTheLeastLikelyAboveTheThreshold() {
        // p = {0.1, 0.2, 0.3, 0.4}; threshold 0.25: 0.4 and 0.3 are above, 0.4 goes.
        var s = P
        XTC(probability: 0.5, threshold: 0.25).apply(&s, uniform: 0.1)
        XCTAssertProbabilities(Sampler.probabilities(from: s), [1.0 / 6, 2.0 / 6, 3.0 / 6, 0])
        // threshold 0.09: all four are above; only the least likely (id 0) stays.
        var t = P
        XTC(probability: 0.5, threshold: 0.09).apply(&t, uniform: 0.1)
        XCTAssertProbabilities(Sampler.probabilities(from: t), [1, 0, 0, 0])
    }

    func testXTCDoesNothingWhenTheCoinIsAboveTheProbabilityOrOneTokenIsAbove() {
        let cases: [(XTC, Double)] = [(XTC(probability: 0.5, threshold: 0.25), 0.6), (XTC(probability: 0.5, threshold: 0.35), 0.0),
                       (XTC(probability: 0.5, threshold: 0.45), 0.0), (XTC(probability: 0.5, threshold: 0.09, minTokensToKeep: 2), 0.0)]
        for (x, u) in cases {
            var s = P
            x.apply(&s, uniform: u)
            XCTAssertEqual(s, P, "\(x) u=\(u)")
        }
        // The coin equal to the probability still applies (llama.cpp: `chance > probability` skips).
        var s = P
        XTC(probability: 0.5, threshold: 0.25).apply(&s, uniform: 0.5)
        XCTAssertEqual(s[3], -.infinity)
    }

    func testXTCOnEqualLogitsRemovesAllButTheHighestID() {
        // four ties at 0.25 ≥ 0.2: D4 order is by id, so ids 0…2 go and id 3 stays.
        var s: [Float] = [1, 1, 1, 1, -.infinity]
        XTC(probability: 1, threshold: 0.2).apply(&s, uniform: 0.3)
        XCTAssertEqual(s, [-.infinity, -.infinity, -.infinity, 1, -.infinity])
        var one: [Float] = [2]
        XTC(probability: 1, threshold: 0.2).apply(&one, uniform: 0)
        XCTAssertEqual(one, [2])
    }

    func testXTCTakesOneUniformBeforeTheFinalDrawAndOnlyWhenOn() throws {
        let on = try ProcessorChain.make(SamplingParameters(xtcProbability: 0.5, xtcThreshold: 0.25), order: .llamaCpp, loopState: true)
        var state = SamplingLoopState(seed: 7)
        var s = P
        on.process(&s, context: S.context(), state: &state)
        var reference = Xoshiro256StarStar(seed: 7)
        let coin = reference.nextUniformDouble()
        XCTAssertEqual(state.nextUniform(), reference.nextUniformDouble(), "the final draw is the second uniform")
        var expected = P
        XTC(probability: 0.5, threshold: 0.25).apply(&expected, uniform: coin)
        XCTAssertEqual(s, expected)
        // probability 0, or threshold above 0.5: no XTC, no draw.
        for p in [SamplingParameters(xtcProbability: 0), SamplingParameters(xtcProbability: 0.5, xtcThreshold: 0.6)] {
            let chain = try ProcessorChain.make(p, order: .llamaCpp, loopState: true)
            XCTAssertTrue(chain.isEmpty)
        }
    }

    // MARK: top-nσ

    func testTopNSigmaKeepsLogitsWithinNPopulationDeviationsOfTheMax() {
        // logits 1 2 3 4: mean 2.5, σ = sqrt(1.25) = 1.1180.
        let cases: [(Double, [Bool])] = [(1.0, [false, false, true, true]), (2.0, [false, true, true, true]), (3.0, [true, true, true, true]),
                                         (0.9, [false, false, true, true]), (0.8, [false, false, false, true]), (0.1, [false, false, false, true])]
        for (n, kept) in cases {
            var s: [Float] = [1, 2, 3, 4, -.infinity]
            TopNSigma(n).process(&s, context: S.context())
            XCTAssertEqual(s.map { $0 > -.infinity }, kept + [false], "n = \(n)")
            XCTAssertEqual(s.filter { $0 > -.infinity }, [Float(1), 2, 3, 4].enumerated().filter { kept[$0.offset] }.map(\.element))
        }
    }

    func testTopNSigmaKeepsEverythingForEqualLogitsOneTokenOrNonPositiveN() {
        var equal: [Float] = [2, 2, 2, -.infinity]
        TopNSigma(1).process(&equal, context: S.context())
        XCTAssertEqual(equal, [2, 2, 2, -.infinity])
        var one: [Float] = [5]
        TopNSigma(0.5).process(&one, context: S.context())
        XCTAssertEqual(one, [5])
        var s: [Float] = [1, 2, 3, 4]
        TopNSigma(0).process(&s, context: S.context())
        XCTAssertEqual(s, [1, 2, 3, 4])
        var none: [Float] = [-.infinity, -.infinity]
        TopNSigma(1).process(&none, context: S.context())
        XCTAssertEqual(none, [-.infinity, -.infinity])
    }

    func testTopNSigmaKeptSetDoesNotDependOnTemperature() {
        var rng = Xoshiro256StarStar(seed: 3)
        for _ in 0..<50 {
            let raw = (0..<31).map { _ in Float(rng.nextUniformDouble() * 8 - 4) }
            var a = raw, b = raw.map { $0 / Float(0.7) }
            TopNSigma(1.5).process(&a, context: S.context())
            TopNSigma(1.5).process(&b, context: S.context())
            XCTAssertEqual(a.map { $0 > -.infinity }, b.map { $0 > -.infinity })
        }
    }

    // MARK: Mirostat

    func testMirostatV2TruncatesAtSurpriseAboveMu() {
        // surprises −log2 p: 0.4 → 1.32, 0.3 → 1.74, 0.2 → 2.32, 0.1 → 3.32.
        let m = Mirostat(version: .v2)
        let cases: [(Float, [Double])] = [(2, [0, 0, 3.0 / 7, 4.0 / 7]), (2.5, [0, 2.0 / 9, 3.0 / 9, 4.0 / 9]), (10, [0.1, 0.2, 0.3, 0.4]),
                                          (1, [0, 0, 0, 1]), (-3, [0, 0, 0, 1])]
        for (mu, expected) in cases {
            var s = P
            m.truncate(&s, mu: mu)
            XCTAssertProbabilities(Sampler.probabilities(from: s), expected, "mu \(mu)")
        }
    }

    func testMirostatUpdatesMuByEtaTimesTheSurpriseError() {
        let m = Mirostat(version: .v2, tau: 5, eta: 0.1)
        XCTAssertEqual(m.initialMu, 10)
        // chosen with probability 4/7: s = log2(7/4) = 0.807355, μ = 10 − 0.1 · (0.807355 − 5).
        XCTAssertEqual(Double(m.updatedMu(10, probability: 4.0 / 7)), 10 + 0.1 * (5 - 0.8073549220576041), accuracy: 1e-5)
        XCTAssertEqual(Double(Mirostat.surprise(0.25)), 2, accuracy: 1e-7)
    }

    func testMirostatV1EstimatesKFromAZipfDistribution() {
        // p ∝ 1/(i+1)^2 over V = 4: ŝ = 2, ε = 1, k = (2^μ / (1 − 1/4))^(1/2):
        // μ = 1 → 1.63 → 1 token; μ = 2 → 2.31 → 2; μ = 3 → 3.27 → 3; μ = 4 → 4.62 → all 4.
        let z = [1.0, 1.0 / 4, 1.0 / 9, 1.0 / 16]
        let total = z.reduce(0, +)
        let logits = S.logits(z.map { $0 / total })
        let m = Mirostat(version: .v1)
        let cases: [(Float, Int)] = [(1, 1), (2, 2), (3, 3), (4, 4)]
        for (mu, count) in cases {
            var s = logits
            m.truncate(&s, mu: mu)
            XCTAssertEqual(s.filter { $0 > -.infinity }.count, count, "mu \(mu)")
        }
        var s = logits
        m.truncate(&s, mu: 2)
        XCTAssertProbabilities(Sampler.probabilities(from: s), [0.8, 0.2, 0, 0])
        // One candidate: ŝ = 0/0 → k NaN → one token; equal logits: b = 0, ŝ = 0, k = pow(…, inf).
        var one: [Float] = [-.infinity, 3]
        m.truncate(&one, mu: 10)
        XCTAssertEqual(one, [-.infinity, 3])
        var equal: [Float] = [1, 1, 1]
        m.truncate(&equal, mu: 10)
        XCTAssertEqual(equal.filter { $0 > -.infinity }.count, 1, "ŝ = 0 gives an infinite k, which x86 truncates to Int32.min → 1")
    }

    func testMirostatInTheLoopTruncatesWithMuAndUpdatesItAfterTheDraw() throws {
        let chain = try ProcessorChain.make(SamplingParameters(mirostat: 2, mirostatTau: 1, mirostatEta: 0.5), order: .llamaCpp, loopState: true)
        XCTAssertEqual(chain.map(\.name), ["mirostat"])
        var state = SamplingLoopState(seed: 1)
        var s = P
        chain.process(&s, context: S.context(), state: &state)
        XCTAssertEqual(state.mirostatMu, 2)
        XCTAssertProbabilities(Sampler.probabilities(from: s), [0, 0, 3.0 / 7, 4.0 / 7])
        chain.accept(token: 2, probability: 3.0 / 7, state: &state)
        XCTAssertEqual(Double(state.mirostatMu!), 2 - 0.5 * (Foundation.log2(7.0 / 3) - 1), accuracy: 1e-5)
    }

    // MARK: chain rules

    func testLlamaCppProfilePlacesTheNewSamplersWhereCommonSamplerDoes() throws {
        let p = SamplingParameters(temperature: 0.8, topK: 40, topP: 0.9, minP: 0.05, typicalP: 0.9, repetitionPenalty: 1.1,
                                   dryMultiplier: 0.8, drySequenceBreakers: [], xtcProbability: 0.5, topNSigma: 1)
        let chain = try ProcessorChain.make(p, order: .llamaCpp, loopState: true)
        XCTAssertEqual(chain.map(\.name), ["penalties", "dry", "top_n_sigma", "top_k", "typical_p", "top_p", "min_p", "xtc", "temperature"])
        // Non-sampling use (greedy, beams) keeps DRY, drops the warpers.
        XCTAssertEqual(try ProcessorChain.make(p, order: .llamaCpp, sampling: false).map(\.name), ["penalties", "dry"])
    }

    func testMirostatInTheLlamaCppProfileRunsOnlyAfterTemperatureAndRejectsIgnoredSamplers() throws {
        let chain = try ProcessorChain.make(SamplingParameters(temperature: 0.7, logitBias: [1: -1], mirostat: 1), order: .llamaCpp, loopState: true)
        XCTAssertEqual(chain.map(\.name), ["logit_bias", "temperature", "mirostat"])
        XCTAssertThrowsError(try ProcessorChain.make(SamplingParameters(topK: 40, mirostat: 2), order: .llamaCpp, loopState: true)) {
            XCTAssertTrue("\($0)".contains("--top-k with --mirostat"), "\($0)")
        }
        // An explicit list may combine them, with mirostat last.
        let custom = try ProcessorOrder(parsing: "llama.cpp:top_k,temperature,mirostat")
        XCTAssertEqual(try ProcessorChain.make(SamplingParameters(temperature: 0.7, topK: 40, mirostat: 2), order: custom, loopState: true).map(\.name),
                       ["top_k", "temperature", "mirostat"])
        let wrong = try ProcessorOrder(parsing: "llama.cpp:mirostat,top_k")
        XCTAssertThrowsError(try ProcessorChain.make(SamplingParameters(topK: 40, mirostat: 2), order: wrong, loopState: true))
    }

    func testNewSamplersAreErrorsWhereTheyCannotRun() {
        // Not in the Hugging Face or MLX profile.
        for order in [ProcessorOrder.hf, .mlx] {
            XCTAssertThrowsError(try ProcessorChain.make(SamplingParameters(topNSigma: 1), order: order))
            XCTAssertThrowsError(try ProcessorChain.make(SamplingParameters(dryMultiplier: 0.8, drySequenceBreakers: []), order: order))
        }
        // Draws without a sampling loop (speculative sampling, `distribution`).
        XCTAssertThrowsError(try ProcessorChain.make(SamplingParameters(xtcProbability: 0.5), order: .llamaCpp))
        XCTAssertThrowsError(try ProcessorChain.make(SamplingParameters(mirostat: 2), order: .llamaCpp))
        XCTAssertThrowsError(try ProcessorChain.make(SamplingParameters(mirostat: 3), order: .llamaCpp, loopState: true))
        // DRY with unresolved text breakers.
        XCTAssertThrowsError(try ProcessorChain.make(SamplingParameters(dryMultiplier: 0.8), order: .llamaCpp)) {
            XCTAssertTrue("\($0)".contains("sequence breakers"))
        }
    }

    func testProcessorSettingsParseRecordAndRebuildTheNewOptions() throws {
        let a = StrategyArguments(["dry-multiplier": "0.8", "dry-allowed-length": "3", "dry-sequence-breaker-ids": "5;6,7",
                                   "xtc-probability": "0.5", "xtc-threshold": "0.2", "top-n-sigma": "1.5", "processor-order": "llama.cpp"])
        let settings = try ProcessorSettings(arguments: a)
        XCTAssertEqual(settings.parameters.drySequenceBreakers, [[5], [6, 7]])
        XCTAssertFalse(settings.needsVocabulary)
        let record = settings.recorded
        XCTAssertEqual(record.map(\.0), ["dry_multiplier", "dry_allowed_length", "dry_sequence_breaker_ids", "xtc_probability", "xtc_threshold",
                                         "top_n_sigma", "processor_order"])
        let rebuilt = try ProcessorSettings(arguments: StrategyArguments.fromRecord(record, options: ProcessorSettings.options))
        XCTAssertEqual(rebuilt, settings)
        // Text breakers: resolved with a vocabulary, recorded as given and as ids.
        let words: [[UInt8]] = [Array("x".utf8), Array("\n".utf8), Array(":".utf8)]
        let vocabulary = DryVocabulary(count: 3, tokenBytes: { words[$0] }, encode: { _ in [] })
        let text = StrategyArguments(["dry-multiplier": "0.8", "processor-order": "llama.cpp"])
        XCTAssertTrue(try ProcessorSettings(arguments: text).needsVocabulary)
        let resolved = try ProcessorSettings(arguments: text, vocabulary: vocabulary)
        XCTAssertEqual(resolved.parameters.drySequenceBreakers, [[1], [2]], "llama.cpp's default breakers \\n : \" *")
        // Options without their main option, and malformed JSON, are errors.
        XCTAssertThrowsError(try ProcessorSettings(arguments: StrategyArguments(["dry-base": "2"])))
        XCTAssertThrowsError(try ProcessorSettings(arguments: StrategyArguments(["mirostat-tau": "3"])))
        XCTAssertThrowsError(try ProcessorSettings(arguments: StrategyArguments(["dry-multiplier": "1", "dry-sequence-breakers": "[\"a\""])))
        XCTAssertEqual(try ProcessorSettings(arguments: StrategyArguments(["dry-multiplier": "1", "dry-sequence-breakers": "[]"])).parameters.drySequenceBreakers, [])
        // Unset, nothing new is recorded (existing fixtures keep their records).
        XCTAssertTrue(try ProcessorSettings(arguments: StrategyArguments([:])).recorded.isEmpty)
        XCTAssertTrue(ProcessorSettings.warperNames.isSuperset(of: ["xtc-probability", "mirostat", "top-n-sigma"]))
        XCTAssertFalse(ProcessorSettings.warperNames.contains("dry-multiplier"))
    }

    // MARK: seeded runs on a synthetic model

    func testSamplingWithTheNewSamplersReplaysTheDocumentedDrawOrder() throws {
        let preset = SyntheticModels.tinyA
        let model = try SyntheticModels.model(configuration: preset.configuration, seed: preset.seed)
        let prompt = [3, 4, 3, 4, 3]
        for p in [SamplingParameters(temperature: 1.3, dryMultiplier: 0.8, drySequenceBreakers: [[4]], xtcProbability: 0.6, xtcThreshold: 0.02, topNSigma: 2),
                  SamplingParameters(temperature: 1.5, mirostat: 2, mirostatTau: 3),
                  SamplingParameters(temperature: 1.5, mirostat: 1, mirostatTau: 3)] {
            let g = try SampleDecoding.generate(model: model, prompt: prompt, parameters: p, order: .llamaCpp, seed: 77,
                                                stopping: StoppingCriteria(maxNewTokens: 12))
            var rng = Xoshiro256StarStar(seed: 77)
            var mu: Float? = nil
            var ids = prompt
            for (i, step) in g.trace.enumerated() {
                var scores = Array(try model.forward(tokens: ids, cache: KVCache(shape: model.shape), logitRows: .last).logits(row: 0))
                let ctx = ProcessorContext(inputIDs: ids, promptLength: prompt.count)
                if let version = p.mirostat {
                    Temperature(p.temperature!, semantics: .llamaCpp).process(&scores, context: ctx)
                    let m = Mirostat(version: Mirostat.Version(rawValue: version)!, tau: p.mirostatTau!)
                    m.truncate(&scores, mu: mu ?? m.initialMu)
                    let q = Sampler.probabilities(from: scores)
                    let token = Sampler.draw(probabilities: q, uniform: rng.nextUniformDouble())!
                    mu = m.updatedMu(mu ?? m.initialMu, probability: q[token])
                    XCTAssertEqual(step.token, token, "step \(i)")
                } else {
                    Dry(multiplier: 0.8, sequenceBreakers: [[4]]).process(&scores, context: ctx)
                    TopNSigma(2).process(&scores, context: ctx)
                    XTC(probability: 0.6, threshold: 0.02).apply(&scores, uniform: rng.nextUniformDouble())
                    Temperature(1.3, semantics: .llamaCpp).process(&scores, context: ctx)
                    let token = Sampler.draw(probabilities: Sampler.probabilities(from: scores), uniform: rng.nextUniformDouble())!
                    XCTAssertEqual(step.token, token, "step \(i)")
                }
                ids.append(step.token)
            }
            XCTAssertEqual(g.outputIDs.count, 12)
        }
    }

    func testNewSamplersGiveTheSameTokensAtOneAndTwoThreads() throws {
        let preset = SyntheticModels.tinyA
        let model = try SyntheticModels.model(configuration: preset.configuration, seed: preset.seed)
        let one = ParallelFor(threadCount: 1), two = ParallelFor(threadCount: 2)
        defer { one.shutdown(); two.shutdown() }
        for p in [SamplingParameters(dryMultiplier: 1, drySequenceBreakers: [], xtcProbability: 0.5, topNSigma: 1.5), SamplingParameters(mirostat: 1),
                  SamplingParameters(mirostat: 2)] {
            let a = try SampleDecoding.generate(model: model, prompt: [1, 17, 17, 300, 5, 17], parameters: p, order: .llamaCpp, seed: 5,
                                                stopping: StoppingCriteria(maxNewTokens: 16), pool: one)
            let b = try SampleDecoding.generate(model: model, prompt: [1, 17, 17, 300, 5, 17], parameters: p, order: .llamaCpp, seed: 5,
                                                stopping: StoppingCriteria(maxNewTokens: 16), pool: two)
            XCTAssertEqual(a.trace, b.trace)
        }
    }
}

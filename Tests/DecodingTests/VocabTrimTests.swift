import XCTest
@testable import Decoding
import Tensors
import Transformer

final class VocabTrimTests: XCTestCase {
    typealias Support = SpeculativeSamplingTestSupport

    // MARK: calibration and mapping

    func testFrequencyTableRanksByCountDescendingThenIdAscending() {
        XCTAssertEqual(VocabTrim.frequencyTable(fromTokenSequences: [[3, 1, 3, 2], [1, 3, 5], [9, 2, 5]]), [3, 1, 2, 5, 9])
        XCTAssertEqual(VocabTrim.frequencyTable(fromTokenSequences: [[7, 7, 0, 0, 4]]), [0, 7, 4])
        XCTAssertEqual(VocabTrim.frequencyTable(fromTokenSequences: [[], []]), [])
        let counts = VocabTrim.tokenCounts(fromTokenSequences: [[2, 2, 8]])
        XCTAssertEqual(counts.map(\.id), [2, 8])
        XCTAssertEqual(counts.map(\.count), [2, 1])
    }

    func testKeepSetMappingInvariantsAndPadding() throws {
        // Forced ids first, then the ranking, then the smallest unused ids.
        let trim = try VocabTrim(ranking: [9, 4, 9, 6], count: 6, vocabularySize: 12, alwaysKeep: [11])
        XCTAssertEqual(trim.keep, [0, 1, 4, 6, 9, 11])
        XCTAssertEqual(try VocabTrim(ranking: [9, 4, 6], count: 2, vocabularySize: 12, alwaysKeep: [11]).keep, [9, 11])
        var rng = Xoshiro256StarStar(seed: 3)
        for _ in 0..<50 {
            let V = 5 + Int(rng.next() % 60)
            let ranking = (0..<Int(rng.next() % 40)).map { _ in Int(rng.next() % UInt64(V)) }
            let k = 1 + Int(rng.next() % UInt64(V))
            let t = try VocabTrim(ranking: ranking, count: k, vocabularySize: V)
            XCTAssertEqual(t.count, k)
            XCTAssertTrue(zip(t.keep, t.keep.dropFirst()).allSatisfy { $0 < $1 }, "keep strictly increasing")
            for (i, d) in t.d2t.enumerated() { XCTAssertEqual(t.keep[i], i + d) }
            XCTAssertEqual(t.t2d.filter { $0 }.count, k)
            for v in 0..<V { XCTAssertEqual(t.draftIndex[v] >= 0, t.t2d[v]); if t.t2d[v] { XCTAssertEqual(t.keep[t.draftIndex[v]], v) } }
        }
        XCTAssertThrowsError(try VocabTrim(keep: [3, 12], vocabularySize: 12))
        XCTAssertThrowsError(try VocabTrim(keep: [], vocabularySize: 12))
        XCTAssertEqual(try VocabTrim(keep: [5, 1, 5], vocabularySize: 12).keep, [1, 5])
        XCTAssertEqual(trim.coverage(of: [[0, 2, 4], [11]]), 0.75)
    }

    // MARK: trimmed head

    /// K = V reproduces the untrimmed logits bit for bit; in general trimmed logit i is the full
    /// logit of keep[i] (so the trimmed argmax equals the untrimmed one whenever that is kept).
    func testTrimmedLogitsAreTheKeptRowsOfTheFullLogitsBitForBit() throws {
        for preset in SyntheticModels.presets {
            let model = try SyntheticModels.model(preset)
            let V = model.shape.vocabularySize
            var rng = Xoshiro256StarStar(seed: preset.seed)
            let random = (0..<(V / 5)).map { _ in Int(rng.next() % UInt64(V)) }
            for trim in [try VocabTrim(keep: Array(0..<V), vocabularySize: V), try VocabTrim(keep: random, vocabularySize: V)] {
                let trimmed = try TrimmedHeadModel(model: model, trim: trim)
                let tokens = [3, 1, 4, 1, 5, 9, 2, 6]
                let full = try model.forward(tokens: tokens, cache: KVCache(shape: model.shape), logitRows: .last).logits
                let z = try trimmed.trimmedLogits(after: tokens, cache: KVCache(shape: model.shape))
                XCTAssertEqual(z.map(\.bitPattern), trim.keep.map { full[$0].bitPattern }, "\(preset.name) K \(trim.count)")
                let padded = try trimmed.nextTokenLogits(after: tokens, cache: KVCache(shape: model.shape), pool: .shared)
                for v in 0..<V { XCTAssertEqual(padded[v], trim.t2d[v] ? full[v] : -.infinity) }
                if trim.count == V { XCTAssertEqual(padded.map(\.bitPattern), full.map(\.bitPattern)) }
                // The naive path agrees too.
                model.useNaiveKernels = true
                let naive = try trimmed.trimmedLogits(after: tokens, cache: KVCache(shape: model.shape))
                model.useNaiveKernels = false
                XCTAssertEqual(naive.map(\.bitPattern), z.map(\.bitPattern))
            }
        }
    }

    // MARK: lossless with greedy verification

    func testGreedySpeculativeWithTrimmedDraftEqualsGreedyForAnyKeepSet() throws {
        for preset in SyntheticModels.presets {
            let target = try SyntheticModels.model(preset)
            let V = target.shape.vocabularySize
            let calibration = try VocabTrim.targetGeneratedSequences(model: target, prompts: [[1, 2], [7], [30, 31, 32]], maxNewTokens: 24)
            let ranking = VocabTrim.frequencyTable(fromTokenSequences: calibration)
            for k in [1, 8, V / 4, V] {
                let trim = try VocabTrim(ranking: ranking, count: k, vocabularySize: V)
                let draft = try TrimmedHeadModel(model: try target.truncated(toLayers: 1), trim: trim)
                for prompt in [[1, 2, 3], [40, 41, 40, 41, 40], [9]] {
                    let reference = try GreedyDecoding.generate(model: target, prompt: prompt, stopping: StoppingCriteria(maxNewTokens: 20))
                    var drafter = VocabTrimDrafter(draft: draft, numTokens: 4)
                    let g = try SpeculativeDecoding.generate(model: target, prompt: prompt, drafter: &drafter, maxDraftTokens: 4,
                                                             stopping: StoppingCriteria(maxNewTokens: 20))
                    XCTAssertEqual(g.outputIDs, reference.outputIDs, "\(preset.name) K \(k) \(prompt)")
                    for step in g.trace { for t in step.drafted ?? [] { XCTAssertTrue(trim.t2d[t], "drafted id \(t) outside keep") } }
                }
            }
            // Full keep set: exactly the untrimmed drafter's drafts, so the same acceptance.
            let fullTrim = try VocabTrim(keep: Array(0..<V), vocabularySize: V)
            var trimmed = VocabTrimDrafter(draft: try TrimmedHeadModel(model: try target.truncated(toLayers: 1), trim: fullTrim), numTokens: 4)
            var plain = DraftModelDrafter(model: try target.truncated(toLayers: 1), numTokens: 4)
            let a = try SpeculativeDecoding.generate(model: target, prompt: [5, 6], drafter: &trimmed, maxDraftTokens: 4, stopping: StoppingCriteria(maxNewTokens: 24))
            let b = try SpeculativeDecoding.generate(model: target, prompt: [5, 6], drafter: &plain, maxDraftTokens: 4, stopping: StoppingCriteria(maxNewTokens: 24))
            XCTAssertEqual(a.trace.map(\.drafted), b.trace.map(\.drafted))
            XCTAssertEqual(a.statistics.acceptedDraftTokens, b.statistics.acceptedDraftTokens)
        }
    }

    // MARK: lossless with speculative sampling

    /// q is 0 outside keep; the emitted tokens still follow the target (invariant 2, Monte
    /// Carlo over 20 000 seeds, first three tokens).
    func testSpeculativeSamplingWithTrimmedDraftFollowsTheTargetDistribution() throws {
        let (target, draft) = try Support.tinyModels()
        let trim = try VocabTrim(keep: [0, 2, 3, 5, 8, 11], vocabularySize: 12)
        let trimmed = try TrimmedHeadModel(model: draft, trim: trim)
        let prompt = [4, 4]
        let parameters = SamplingParameters(temperature: 1.2)
        let exact = try Support.exactJointDistribution(target, prompt: prompt, parameters: parameters, length: 3)
        var outside = 0
        let counts = try Support.empiricalCounts(runs: 20_000, length: 3, vocabularySize: 12) { seed in
            let g = try SpeculativeSampling.generate(target: target, draft: trimmed, prompt: prompt, parameters: parameters, numDraftTokens: 3,
                                                     seed: seed, stopping: StoppingCriteria(maxNewTokens: 4), pool: Support.singleThread)
            for step in g.trace { for t in step.drafted ?? [] where !trim.t2d[t] { outside += 1 } }
            return g.outputIDs
        }
        XCTAssertEqual(outside, 0, "a trimmed draft proposed an id outside keep")
        let fit = Support.goodnessOfFit(counts: counts, probabilities: exact)
        print("speculative sampling with VocabTrim (K 6 of 12): \(fit)")
        XCTAssertTrue(fit.passes, "\(fit)")
        // Target tokens outside keep do get emitted (through the residual).
        let outsideMass = (0..<exact.count).filter { counts[$0] > 0 && !trim.t2d[$0 % 12] }.count
        XCTAssertGreaterThan(outsideMass, 0)
    }
}

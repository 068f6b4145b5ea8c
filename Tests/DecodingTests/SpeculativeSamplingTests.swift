import XCTest
@testable import Decoding
import Tensors
import Transformer

final class SpeculativeSamplingTests: XCTestCase {
    typealias Support = SpeculativeSamplingTestSupport

    func run(_ target: any CausalLanguageModel, _ draft: some SamplingDraftModel, _ prompt: [Int], _ parameters: SamplingParameters, gamma: Int,
             seed: UInt64, maxNewTokens: Int, eos: Set<Int> = [], pool: ParallelFor = Support.singleThread,
             rule: SpeculativeSampling.RejectionRule = .residual) throws -> Generation {
        try SpeculativeSampling.generate(target: target, draft: draft, prompt: prompt, parameters: parameters, order: .hf,
                                         numDraftTokens: gamma, seed: seed, stopping: StoppingCriteria(maxNewTokens: maxNewTokens, endOfSequenceIDs: eos),
                                         traceTopK: 3, pool: pool, rule: rule, onToken: nil)
    }

    func run(_ target: any CausalLanguageModel, _ draft: any CausalLanguageModel, _ prompt: [Int], _ parameters: SamplingParameters, gamma: Int,
             seed: UInt64, maxNewTokens: Int, eos: Set<Int> = [], pool: ParallelFor = Support.singleThread,
             rule: SpeculativeSampling.RejectionRule = .residual) throws -> Generation {
        try run(target, FullHeadDraft(model: draft), prompt, parameters, gamma: gamma, seed: seed, maxNewTokens: maxNewTokens, eos: eos,
                pool: pool, rule: rule)
    }

    // MARK: exact one-step check (no Monte Carlo)

    /// P(emit y) = min(p, q)(y) + (1 − Σ min(p, q)) · residual(y) / Σ residual must equal p(y),
    /// including q with zeros (a trimmed draft) and p with zeros (target filters).
    func testOneStepEmissionDistributionEqualsTargetExactly() {
        var rng = Xoshiro256StarStar(seed: 5)
        for trial in 0..<200 {
            let V = 2 + trial % 11
            func random(zeroFraction: Double) -> [Float] {
                var w = (0..<V).map { _ in rng.nextUniformDouble() < zeroFraction ? 0 : rng.nextUniformDouble() }
                if w.allSatisfy({ $0 == 0 }) { w[trial % V] = 1 }
                let s = w.reduce(0, +)
                return w.map { Float($0 / s) }
            }
            let p = random(zeroFraction: trial % 3 == 0 ? 0.3 : 0)
            let q = random(zeroFraction: trial % 2 == 0 ? 0.4 : 0)
            let residual = SpeculativeSampling.rejectionWeights(p: p, q: q, rule: .residual).map(Double.init)
            let rs = residual.reduce(0, +)
            // Acceptance probability of drafted x is min(1, p/q); emission of y by acceptance is q(y)·min(1, p/q) = min(p, q).
            let accept = (0..<V).reduce(0.0) { $0 + min(Double(p[$1]), Double(q[$1])) }
            for y in 0..<V {
                let emitted = min(Double(p[y]), Double(q[y])) + (rs > 0 ? (1 - accept) * residual[y] / rs : 0)
                XCTAssertEqual(emitted, Double(p[y]), accuracy: 1e-6, "trial \(trial) token \(y)")
            }
        }
    }

    // MARK: distribution preservation (Monte Carlo against exact enumeration)

    /// Plain temperature-1 sampling, γ = 2, first three tokens (one token from the prefill, then
    /// accepted drafts, residual corrections and bonus tokens) over 30 000 seeds.
    func testFirstTokensFollowTheTargetDistributionWithoutFilters() throws {
        let (target, poorDraft) = try Support.tinyModels()
        let prompt = [3, 7, 1]
        let parameters = SamplingParameters()
        let exact = try Support.exactJointDistribution(target, prompt: prompt, parameters: parameters, length: 3)
        // A separate poor model (mostly residual corrections) and the target's first layer
        // (a mix of accepted drafts, corrections and bonus tokens).
        for draft in [poorDraft, try target.truncated(toLayers: 1)] {
            var steps = 0, accepted = 0
            let counts = try Support.empiricalCounts(runs: 30_000, length: 3, vocabularySize: 12) { seed in
                let g = try run(target, draft, prompt, parameters, gamma: 2, seed: seed, maxNewTokens: 4)
                steps += g.statistics.verificationSteps
                accepted += g.statistics.acceptedDraftTokens
                return g.outputIDs
            }
            let fit = Support.goodnessOfFit(counts: counts, probabilities: exact)
            let acceptance = Double(accepted) / Double(2 * steps)
            print("speculative sampling, no filters, draft \(draft.origin): \(fit); acceptance \(acceptance)")
            XCTAssertTrue(fit.passes, "\(fit)")
            XCTAssertLessThan(acceptance, 0.95, "the residual path must be exercised")
        }
    }

    /// Temperature 0.7 + top-k 4 (different supports for p and q: zero-probability edges), γ = 3,
    /// first four tokens over 20 000 seeds; the two wrong rejection rules fail the same bound.
    func testFilteredSamplingFollowsTheTargetAndWrongResidualRulesAreCaught() throws {
        let (target, draft) = try Support.tinyModels()
        let prompt = [5]
        let parameters = SamplingParameters(temperature: 0.7, topK: 4)
        let exact = try Support.exactJointDistribution(target, prompt: prompt, parameters: parameters, length: 4)
        var fits: [SpeculativeSampling.RejectionRule: Support.GoodnessOfFit] = [:]
        for rule in [SpeculativeSampling.RejectionRule.residual, .targetDistribution, .absoluteDifference] {
            let counts = try Support.empiricalCounts(runs: 20_000, length: 4, vocabularySize: 12) { seed in
                try run(target, draft, prompt, parameters, gamma: 3, seed: seed, maxNewTokens: 4, rule: rule).outputIDs
            }
            fits[rule] = Support.goodnessOfFit(counts: counts, probabilities: exact)
            print("speculative sampling, T 0.7 top-k 4, rule \(rule): \(fits[rule]!)")
        }
        XCTAssertTrue(fits[.residual]!.passes, "\(fits[.residual]!)")
        XCTAssertFalse(fits[.targetDistribution]!.passes, "sampling p after a rejection must be caught: \(fits[.targetDistribution]!)")
        XCTAssertFalse(fits[.absoluteDifference]!.passes, "|p − q| without max(0, ·) must be caught: \(fits[.absoluteDifference]!)")
    }

    // MARK: greedy special case

    /// With top-k 1 both distributions are one-hot: acceptance means "draft == target argmax" and
    /// the residual is the target argmax, so the output is greedy decoding's, for any seed.
    func testOneHotDistributionsReduceToGreedyDecoding() throws {
        let target = try SyntheticModels.model(SyntheticModels.tinyA)
        let drafts: [any CausalLanguageModel] = [try target.truncated(toLayers: 1),
                                    try SyntheticModels.model(configuration: SyntheticModels.tinyA.configuration, seed: 77)]
        for prompt in [[1, 2, 3], [40, 41, 40, 41], [9]] {
            let greedy = try GreedyDecoding.generate(model: target, prompt: prompt, stopping: StoppingCriteria(maxNewTokens: 24))
            for draft in drafts {
                for (seed, gamma) in [(UInt64(1), 1), (2, 4), (3, 7)] {
                    for parameters in [SamplingParameters(topK: 1), SamplingParameters(temperature: 0.5, topK: 1)] {
                        let g = try run(target, draft, prompt, parameters, gamma: gamma, seed: seed, maxNewTokens: 24)
                        XCTAssertEqual(g.outputIDs, greedy.outputIDs, "prompt \(prompt) draft \(draft.origin) γ \(gamma)")
                    }
                }
            }
        }
    }

    // MARK: uniform order

    /// With the target as its own draft, p == q bit for bit (D3), so every draft is accepted and
    /// the tokens can be replayed by hand from the documented order: one uniform for the first
    /// token, then per step k draft uniforms, k (unused) acceptance uniforms and one bonus uniform.
    func testSelfDraftAcceptsEverythingAndReplaysFromTheDocumentedUniformOrder() throws {
        let target = try SyntheticModels.model(SyntheticModels.tinyB)
        let prompt = [4, 8, 15]
        let parameters = SamplingParameters(temperature: 1.3, topP: 0.95)
        let gamma = 3, maxNew = 13
        let g = try run(target, target, prompt, parameters, gamma: gamma, seed: 99, maxNewTokens: maxNew)
        XCTAssertEqual(g.statistics.acceptedDraftTokens, g.statistics.tokensFromVerification - g.statistics.verificationSteps)
        for step in g.trace where step.drafted != nil { XCTAssertEqual(step.accepted, step.drafted!.count) }

        var rng = Xoshiro256StarStar(seed: 99)
        var ids = prompt
        func next() throws -> Int {
            let p = try Support.processedDistribution(target, ids: ids, promptLength: prompt.count, parameters: parameters)
            return Sampler.draw(probabilities: p, uniform: rng.nextUniformDouble())!
        }
        ids.append(try next())
        while ids.count - prompt.count < maxNew {
            let k = min(gamma, maxNew - (ids.count - prompt.count) - 1)
            var drafted: [Int] = []
            for _ in 0..<k { let t = try next(); drafted.append(t); ids.append(t) }
            for _ in 0..<k { _ = rng.nextUniformDouble() }
            ids.append(try next())
        }
        XCTAssertEqual(g.outputIDs, Array(ids.dropFirst(prompt.count)))
        // 1 + (3+1) + (3+1) + (3+1): three verification steps, MAT 4.
        XCTAssertEqual(g.statistics.verificationSteps, 3)
        XCTAssertEqual(g.statistics.meanAcceptedTokens, 4)
    }

    // MARK: properties

    func testAcceptedLengthsStatisticsAndStoppingAreConsistent() throws {
        let (target, draft) = try Support.tinyModels()
        for seed in UInt64(0)..<40 {
            let gamma = 1 + Int(seed % 5)
            let g = try run(target, draft, [1, 2], SamplingParameters(temperature: 0.9), gamma: gamma, seed: seed, maxNewTokens: 17)
            XCTAssertEqual(g.outputIDs.count, 17)
            var emitted = 1, accepted = 0, steps = 0, plain = 0
            var i = 1
            while i < g.trace.count {
                let step = g.trace[i]
                guard let drafted = step.drafted else {
                    // k = 0 only when one token remains: a plain target step.
                    XCTAssertEqual(i, 16)
                    emitted += 1; plain += 1; i += 1
                    continue
                }
                let n = try XCTUnwrap(step.accepted)
                XCTAssertTrue((1...gamma).contains(drafted.count))
                XCTAssertTrue((0...drafted.count).contains(n))
                XCTAssertEqual(Array(g.outputIDs[i..<min(i + n, 17)]), Array(drafted.prefix(min(n, 17 - i))), "accepted tokens are the drafts")
                let run = min(n + 1, 17 - i)
                for j in 1..<run { XCTAssertNil(g.trace[i + j].drafted) }
                emitted += run; accepted += n; steps += 1
                i += run
            }
            XCTAssertEqual(emitted, 17)
            XCTAssertEqual(g.statistics.verificationSteps, steps)
            XCTAssertEqual(g.statistics.acceptedDraftTokens, accepted)
            XCTAssertEqual(g.statistics.forwardPasses, 1 + steps + plain)
            XCTAssertGreaterThanOrEqual(g.statistics.draftForwardPasses, steps)
        }
        // End of sequence stops at once; nothing after it.
        let free = try run(target, draft, [1, 2], SamplingParameters(), gamma: 4, seed: 3, maxNewTokens: 30)
        let eos = free.outputIDs[5]
        let stopped = try run(target, draft, [1, 2], SamplingParameters(), gamma: 4, seed: 3, maxNewTokens: 30, eos: [eos])
        XCTAssertEqual(stopped.stopReason, .endOfSequence)
        XCTAssertEqual(stopped.outputIDs.last, eos)
        XCTAssertEqual(stopped.outputIDs, Array(free.outputIDs.prefix(stopped.outputIDs.count)))
    }

    func testSameSeedSameTokensAndThreadCountDoesNotMatter() throws {
        let target = try SyntheticModels.model(SyntheticModels.tinyA)
        let draft = try target.truncated(toLayers: 1)
        let parameters = SamplingParameters(temperature: 0.8, topK: 40, topP: 0.9, repetitionPenalty: 1.2)
        let two = ParallelFor(threadCount: 2)
        defer { two.shutdown() }
        var outputs: Set<[Int]> = []
        for seed in UInt64(10)..<14 {
            let a = try run(target, draft, [1, 2, 3], parameters, gamma: 4, seed: seed, maxNewTokens: 32)
            let b = try run(target, draft, [1, 2, 3], parameters, gamma: 4, seed: seed, maxNewTokens: 32)
            let c = try run(target, draft, [1, 2, 3], parameters, gamma: 4, seed: seed, maxNewTokens: 32, pool: two)
            XCTAssertEqual(a.outputIDs, b.outputIDs)
            XCTAssertEqual(a.trace, b.trace)
            XCTAssertEqual(a.outputIDs, c.outputIDs)
            XCTAssertEqual(a.trace, c.trace)
            outputs.insert(a.outputIDs)
        }
        XCTAssertGreaterThan(outputs.count, 1, "different seeds should give different samples")
    }

    func testContextLimitAndInvalidInputs() throws {
        let (target, draft) = try Support.tinyModels()
        // Context 64: a 60-token prompt leaves room for 4 tokens, whatever γ.
        let g = try run(target, draft, Array(repeating: 1, count: 60), SamplingParameters(), gamma: 6, seed: 1, maxNewTokens: 20)
        XCTAssertEqual(g.stopReason, .contextLimit)
        XCTAssertEqual(g.outputIDs.count, 5)  // 4 cached + the pending last token
        let other = try SyntheticModels.model(SyntheticModels.tinyA)
        XCTAssertThrowsError(try run(target, other, [1], SamplingParameters(), gamma: 2, seed: 1, maxNewTokens: 4))
        XCTAssertThrowsError(try run(target, draft, [], SamplingParameters(), gamma: 2, seed: 1, maxNewTokens: 4))
        // γ = 0 is plain sampling with one uniform per token: SampleDecoding exactly.
        let plain = try run(target, draft, [2, 3], SamplingParameters(temperature: 1.1), gamma: 0, seed: 8, maxNewTokens: 12)
        let reference = try SampleDecoding.generate(model: target, prompt: [2, 3], parameters: SamplingParameters(temperature: 1.1), seed: 8,
                                                    stopping: StoppingCriteria(maxNewTokens: 12), pool: Support.singleThread)
        XCTAssertEqual(plain.outputIDs, reference.outputIDs)
        XCTAssertEqual(plain.statistics.verificationSteps, 0)
    }
}

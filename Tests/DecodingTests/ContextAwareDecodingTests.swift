import XCTest
import Decoding
import Formats
import Tensors
import Transformer

final class ContextAwareDecodingTests: XCTestCase {
    typealias Support = ContrastiveDoLaSupport
    typealias CAD = ContextAwareDecoding

    /// The last row of a full forward over `ids` from an empty cache (the simplest path).
    private func lastLogits(_ model: any CausalLanguageModel, _ ids: [Int], pool: ParallelFor = .shared) throws -> [Float] {
        let cache = KVCache(shape: model.shape, initialCapacity: ids.count)
        return try model.forward(tokens: ids, cache: cache, logitRows: .last, pool: pool).logits
    }

    // MARK: Invariants on synthetic models

    func testAlphaZeroEqualsGreedyOnTheContextStreamBitForBit() throws {
        for seed in [31, 32] as [UInt64] {
            let model = try Support.syntheticModel(seed: seed)
            let evidence = Support.prompt(seed: seed + 100, count: 7, vocabulary: 97)
            let query = Support.prompt(seed: seed + 200, count: 4, vocabulary: 97)
            let stopping = StoppingCriteria(maxNewTokens: 14)
            let cad = try CAD.generate(model: model, contextPrompt: evidence + query, nullPrompt: query, alpha: 0, stopping: stopping, traceTopK: 97)
            let greedy = try GreedyDecoding.generate(model: model, prompt: evidence + query, stopping: stopping, traceTopK: 97)
            XCTAssertEqual(cad.outputIDs, greedy.outputIDs, "seed \(seed)")
            XCTAssertEqual(cad.trace, greedy.trace, "α = 0: the combined score is 1·l_ctx − 0·l_null, every bit")
        }
    }

    /// Two full re-forwards per step without caches, combined by hand, argmax by hand: the
    /// cached two-stream loop gives the same tokens and the same scores (D3), in both modes.
    func testCachedStreamsEqualTwoFullReforwardsPerStep() throws {
        var differsFromGreedy = false
        for (seed, alpha, official) in [(41, 0.5, false), (42, 1.0, false), (43, 1.0, true), (44, 2.5, false)] as [(UInt64, Double, Bool)] {
            let model = try Support.syntheticModel(seed: seed, layers: 3)
            let evidence = Support.prompt(seed: seed + 100, count: 9, vocabulary: 97)
            let query = Support.prompt(seed: seed + 200, count: 5, vocabulary: 97)
            let filter = official ? CAD.OfficialFilter(contextTopP: 0.9, nullTopP: 0.95) : nil
            let g = try CAD.generate(model: model, contextPrompt: evidence + query, nullPrompt: query, alpha: alpha, filter: filter,
                                     stopping: StoppingCriteria(maxNewTokens: 12), traceTopK: 3)
            XCTAssertEqual(g.outputIDs.count, 12)
            XCTAssertEqual(g.promptIDs, query)
            XCTAssertEqual(g.statistics.forwardPasses, 2 + 2 * 11)
            var out: [Int] = []
            for t in 0..<12 {
                var c = try lastLogits(model, evidence + query + out), n = try lastLogits(model, query + out)
                if official {
                    c = CAD.officialPrefilter(c, topP: 0.9, fill: -1000)
                    n = CAD.officialPrefilter(n, topP: 0.95, fill: 1000)
                }
                let w = Float(1 + alpha), a = Float(alpha)
                let z = (0..<c.count).map { v -> Float in
                    let x = w * c[v]
                    let y = a * n[v]
                    return x - y
                }
                var best = 0
                for v in 1..<z.count where z[v] > z[best] { best = v }
                XCTAssertEqual(g.outputIDs[t], best, "seed \(seed) step \(t)")
                XCTAssertEqual(g.trace[t].logit, z[best], "seed \(seed) step \(t)")
                let plain = try lastLogits(model, evidence + query + out)
                if best != plain.indices.max(by: { plain[$0] < plain[$1] || (plain[$0] == plain[$1] && $0 > $1) }) { differsFromGreedy = true }
                out.append(g.outputIDs[t])
            }
        }
        XCTAssertTrue(differsFromGreedy, "the test must exercise steps where CAD changes the choice")
    }

    func testOutputsAreIdenticalOnOneAndTwoThreads() throws {
        let model = try Support.syntheticModel(seed: 51, layers: 4, vocabulary: 211, hidden: 64)
        let evidence = Support.prompt(seed: 52, count: 11, vocabulary: 211)
        let query = Support.prompt(seed: 53, count: 6, vocabulary: 211)
        let one = ParallelFor(threadCount: 1), two = ParallelFor(threadCount: 2)
        defer { one.shutdown(); two.shutdown() }
        var p = SamplingParameters()
        p.temperature = 1.3
        p.topK = 40
        let chain = try ProcessorChain.make(p, sampling: true, loopState: true)
        for (seed, filter) in [(nil, nil), (7, nil), (nil, CAD.OfficialFilter(contextTopP: 0.8, nullTopP: 0.9))] as [(UInt64?, CAD.OfficialFilter?)] {
            let run = { (pool: ParallelFor) in
                try CAD.generate(model: model, contextPrompt: evidence + query, nullPrompt: query, alpha: 0.5, filter: filter,
                                 processors: seed == nil ? [] : chain, seed: seed, stopping: StoppingCriteria(maxNewTokens: 16), pool: pool)
            }
            let a = try run(one), b = try run(two)
            XCTAssertEqual(a.outputIDs, b.outputIDs)
            XCTAssertEqual(a.trace, b.trace)
        }
    }

    func testNullStreamEqualToContextStreamGivesPlainGreedy() throws {
        // Invariant 2: with the same input on both streams, z = (1+α)l − αl, which for α = 1
        // (products exact, 2l − l = l exactly in binary) is l itself.
        let model = try Support.syntheticModel(seed: 61)
        let prompt = Support.prompt(seed: 62, count: 8, vocabulary: 97)
        let stopping = StoppingCriteria(maxNewTokens: 10)
        let cad = try CAD.generate(model: model, contextPrompt: prompt, nullPrompt: prompt, alpha: 1, stopping: stopping, traceTopK: 97)
        let greedy = try GreedyDecoding.generate(model: model, prompt: prompt, stopping: stopping, traceTopK: 97)
        XCTAssertEqual(cad.outputIDs, greedy.outputIDs)
        XCTAssertEqual(cad.trace, greedy.trace)
    }

    // MARK: Sampling

    func testSamplingIsSeedDeterministicAndTopKOneEqualsGreedyCAD() throws {
        let model = try Support.syntheticModel(seed: 71)
        let evidence = Support.prompt(seed: 72, count: 6, vocabulary: 97)
        let query = Support.prompt(seed: 73, count: 4, vocabulary: 97)
        let stopping = StoppingCriteria(maxNewTokens: 16)
        let greedy = try CAD.generate(model: model, contextPrompt: evidence + query, nullPrompt: query, alpha: 0.5, stopping: stopping)
        var k1 = SamplingParameters()
        k1.topK = 1
        let top1 = try CAD.generate(model: model, contextPrompt: evidence + query, nullPrompt: query, alpha: 0.5,
                                    processors: try ProcessorChain.make(k1, sampling: true, loopState: true), seed: 3, stopping: stopping)
        XCTAssertEqual(top1.outputIDs, greedy.outputIDs)
        var warm = SamplingParameters()
        warm.temperature = 2
        let chain = try ProcessorChain.make(warm, sampling: true, loopState: true)
        let runs = try [5, 5, 6].map { seed in
            try CAD.generate(model: model, contextPrompt: evidence + query, nullPrompt: query, alpha: 0.5, processors: chain, seed: UInt64(seed), stopping: stopping).outputIDs
        }
        XCTAssertEqual(runs[0], runs[1])
        XCTAssertNotEqual(runs[0], runs[2], "T = 2 over 16 tokens: seeds 5 and 6 draw different sequences")
    }

    /// Each sampled token is the portable draw (`Sampler.draw` with the generator's next
    /// uniform) from softmax of the temperature-scaled combined scores, recomputed naively.
    func testSampledTokensAreThePortableDrawFromTheCombinedDistribution() throws {
        let model = try Support.syntheticModel(seed: 81)
        let evidence = Support.prompt(seed: 82, count: 6, vocabulary: 97)
        let query = Support.prompt(seed: 83, count: 4, vocabulary: 97)
        var p = SamplingParameters()
        p.temperature = 0.7
        let g = try CAD.generate(model: model, contextPrompt: evidence + query, nullPrompt: query, alpha: 1,
                                 processors: try ProcessorChain.make(p, sampling: true, loopState: true), seed: 99,
                                 stopping: StoppingCriteria(maxNewTokens: 10))
        var rng = Xoshiro256StarStar(seed: 99)
        var out: [Int] = []
        for t in 0..<10 {
            let z = CAD.combine(contextLogits: try lastLogits(model, evidence + query + out), nullLogits: try lastLogits(model, query + out), alpha: 1)
            let probabilities = Sampler.probabilities(from: z.map { $0 / Float(0.7) })
            XCTAssertEqual(g.outputIDs[t], Sampler.draw(probabilities: probabilities, uniform: rng.nextUniformDouble()), "step \(t)")
            XCTAssertEqual(g.trace[t].probability, probabilities[g.outputIDs[t]])
            out.append(g.outputIDs[t])
        }
    }

    // MARK: The official pre-filter, by hand

    func testOfficialPrefilterKeepsEntriesWhosePrecedingCumulativeMassIsBelowTopP() {
        // Probabilities 0.5, 0.3, 0.2 (ids 1, 0, 2): cumulative 0.5, 0.8, 1.0. With top_p 0.7:
        // id 1 kept (first), id 0 kept (0.5 < 0.7), id 2 dropped (0.8 ≥ 0.7).
        let logits: [Float] = [log(0.3), log(0.5), log(0.2)].map { Float($0) + 3 }
        XCTAssertEqual(CAD.officialPrefilter(logits, topP: 0.7, fill: -1000), [logits[0], logits[1], -1000])
        // The null stream's fill is +1000; with weight −α it becomes −1000·α.
        XCTAssertEqual(CAD.officialPrefilter(logits, topP: 0.7, fill: 1000), [logits[0], logits[1], 1000])
        // top_p 0.5: the preceding mass of id 0 is 0.5, not < 0.5, so only the first survives.
        XCTAssertEqual(CAD.officialPrefilter(logits, topP: 0.5, fill: -1000), [-1000, logits[1], -1000])
        // top_p 0 keeps the first entry only (it is always kept).
        XCTAssertEqual(CAD.officialPrefilter(logits, topP: 0, fill: -1000), [-1000, logits[1], -1000])
        // Ties by id: probabilities (0.4, 0.4, 0.2), top_p 0.3: id 0 first, id 1 dropped.
        let tied: [Float] = [log(0.4), log(0.4), log(0.2)].map { Float($0) }
        XCTAssertEqual(CAD.officialPrefilter(tied, topP: 0.3, fill: -1000), [tied[0], -1000, -1000])
    }

    func testOfficialPrefilterWithTopPOneDropsTheTailOnceTheCumulativeSumRoundsToOne() {
        // Probabilities ≈ (1 − 2e-9, 1e-9, 1e-9): the first prefix is 1 − 2e-9, which rounds to
        // 1.0 in Float32, so "C < 1.0" fails and both tail entries are dropped — the quirk.
        let small = Float(log(1e-9))
        let logits: [Float] = [0, small, small]
        let filtered = CAD.officialPrefilter(logits, topP: 1.0, fill: -1000)
        XCTAssertEqual(filtered, [0, -1000, -1000])
        // A flat distribution never reaches 1.0 early: nothing is dropped.
        XCTAssertEqual(CAD.officialPrefilter([0, 0, 0, 0], topP: 1.0, fill: -1000), [0, 0, 0, 0])
        // Combined with α = 1: context −1000 → 2·(−1000), null +1000 → −1000 each.
        let z = CAD.scores(contextLogits: logits, nullLogits: logits, alpha: 1, filter: CAD.OfficialFilter())
        XCTAssertEqual(z, [0, -3000, -3000])
    }

    func testCombineIsTwoRoundedProductsAndOneSubtraction() {
        let c: [Float] = [1.5, -2, 0.1, -.infinity], n: [Float] = [0.5, 3, 0.3, 0]
        let z = CAD.combine(contextLogits: c, nullLogits: n, alpha: 0.5)
        XCTAssertEqual(z[0], 1.5 * 1.5 - 0.5 * 0.5)
        XCTAssertEqual(z[1], -3 - 1.5)
        XCTAssertEqual(z[2], Float(1.5) * Float(0.1) - Float(0.5) * Float(0.3))
        XCTAssertEqual(z[3], -.infinity)
    }

    // MARK: Evidence placement

    func testPlaceEvidenceRecoversTheInsertedRunAndRefusesAnythingElse() throws {
        let null = [1, 2, 3, 9, 9, 4]
        let placed = try CAD.placeEvidence(contextStream: [1, 2, 3, 7, 8, 9, 9, 4], nullStream: null)
        XCTAssertEqual(placed.ids, [7, 8])
        XCTAssertEqual(placed.position, 3)
        XCTAssertEqual(Array(null[..<placed.position]) + placed.ids + Array(null[placed.position...]), [1, 2, 3, 7, 8, 9, 9, 4])
        // Before the prompt (no template).
        XCTAssertEqual(try CAD.placeEvidence(contextStream: [5, 6, 1, 2], nullStream: [1, 2]).position, 0)
        // A merged boundary (3 became 33) is not an insertion.
        XCTAssertThrowsError(try CAD.placeEvidence(contextStream: [1, 2, 7, 33, 9, 9, 4], nullStream: null))
        XCTAssertThrowsError(try CAD.placeEvidence(contextStream: null, nullStream: null), "no evidence added")
    }

    // MARK: The registered strategy

    private func strategy(_ values: [String: String], processors: [String: String] = [:],
                          context: StrategyContext = StrategyContext()) throws -> any DecodingStrategy {
        let settings = try ProcessorSettings(arguments: StrategyArguments(processors))
        return try DecodingStrategies.make("cad", arguments: StrategyArguments(values), processors: settings, context: context)
    }

    private func message(_ values: [String: String], processors: [String: String] = [:]) -> String {
        do { _ = try strategy(values, processors: processors); return "" } catch { return "\(error)" }
    }

    func testStrategyOptionErrorsSayWhatToGive() {
        XCTAssertTrue(message([:]).contains("needs the evidence"))
        XCTAssertTrue(message(["context": "a", "context-ids": "1"]).contains("not both"))
        XCTAssertTrue(message(["context-ids": "1", "cad-alpha": "-1"]).contains("--cad-alpha must be in"))
        XCTAssertTrue(message(["context-ids": "1", "cad-alpha": "x"]).contains("--cad-alpha must be a number"))
        XCTAssertTrue(message(["context-ids": "1,x"]).contains("'x' is not a token id"))
        XCTAssertTrue(message(["context-ids": "1", "cad-mode": "paper"]).contains("--cad-mode must be standard or official"))
        XCTAssertTrue(message(["context-ids": "1", "cad-filter-top-p": "0.9"]).contains("add --cad-mode official"))
        XCTAssertTrue(message(["context-ids": "1"], processors: ["temperature": "0.7"]).contains("add --seed N"))
        XCTAssertEqual(message(["context-ids": "1", "seed": "3"], processors: ["temperature": "0.7"]), "")
    }

    func testRecordedParametersRebuildTheSameRun() throws {
        let model = try Support.syntheticModel(seed: 91)
        let query = Support.prompt(seed: 92, count: 5, vocabulary: 97)
        let runs: [([String: String], [String: String])] = [
            (["context-ids": "3,14,15,92", "cad-alpha": "1"], [:]),
            (["context-ids": "2,7,1,8", "context-position": "2", "cad-mode": "official", "cad-filter-top-p": "0.9", "seed": "11"], ["top-k": "20"]),
        ]
        for (values, processors) in runs {
            let s = try strategy(values, processors: processors)
            let keys = s.parameters.map(\.0)
            XCTAssertEqual(keys.contains("rng"), s.seed != nil, "rng recorded exactly when sampling ran")
            XCTAssertEqual(keys.contains("cad_filter_top_p"), values["cad-mode"] == "official")
            let rebuilt = try DecodingStrategies.make(algorithm: "cad", record: s.parameters, seed: s.seed)
            let stopping = StoppingCriteria(maxNewTokens: 8)
            XCTAssertEqual(try s.generate(model: model, prompt: query, stopping: stopping).generation.outputIDs,
                           try rebuilt.generate(model: model, prompt: query, stopping: stopping).generation.outputIDs)
            XCTAssertEqual(rebuilt.parameters.map(\.0), keys)
        }
        // --context-position puts the evidence inside the prompt.
        let inside = try XCTUnwrap(try strategy(["context-ids": "7,8", "context-position": "2"]) as? CAD.Strategy)
        XCTAssertEqual(try inside.contextStream(prompt: [1, 2, 3]), [1, 2, 7, 8, 3])
        XCTAssertThrowsError(try inside.contextStream(prompt: [1]))
    }

    func testTextEvidenceWaitsForTheTokenizerAndUsesItsPlacement() throws {
        let pending = try XCTUnwrap(try strategy(["context": "Lyon."]) as? CAD.Strategy)
        XCTAssertTrue(pending.needsTokenizer)
        XCTAssertThrowsError(try pending.contextStream(prompt: [1]))
        let context = StrategyContext(encodeEvidence: { text in (Array(text.utf8).map(Int.init), 1) })
        let ready = try XCTUnwrap(try strategy(["context": "ab"], context: context) as? CAD.Strategy)
        XCTAssertFalse(ready.needsTokenizer)
        XCTAssertEqual(try ready.contextStream(prompt: [1, 2]), [1, 97, 98, 2])
        XCTAssertEqual(ready.parameters.first?.1, .string("97,98"))
    }
}

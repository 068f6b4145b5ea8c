import XCTest
import Decoding
import Tensors
import Transformer

/// DoLa with `--seed` (Hugging Face's `_dola_decoding` with `do_sample=True`): the contrast goes
/// through the processors and warpers, then one portable draw (D5).
final class DoLaSamplingTests: XCTestCase {
    typealias Support = ContrastiveDoLaSupport

    private func chain(_ configure: (inout SamplingParameters) -> Void) throws -> [any LogitsProcessor] {
        var p = SamplingParameters()
        configure(&p)
        return try ProcessorChain.make(p, sampling: true, loopState: true)
    }

    func testTopKOneSamplingEqualsDoLaGreedy() throws {
        let model = try Support.syntheticModel(seed: 121, layers: 6)
        let prompt = Support.prompt(seed: 122, count: 6, vocabulary: 97)
        let stopping = StoppingCriteria(maxNewTokens: 16)
        let greedy = try DoLa.generateWithSteps(model: model, prompt: prompt, layers: .layers([0, 2, 4]), stopping: stopping,
                                                processors: [RepetitionPenalty(penalty: 1.2)])
        for seed in [1, 2] as [UInt64] {
            let sampled = try DoLa.generateWithSteps(model: model, prompt: prompt, layers: .layers([0, 2, 4]), stopping: stopping,
                                                     processors: try chain { $0.repetitionPenalty = 1.2; $0.topK = 1 }, seed: seed)
            XCTAssertEqual(sampled.generation.outputIDs, greedy.generation.outputIDs, "seed \(seed)")
            XCTAssertEqual(sampled.steps, greedy.steps)
        }
    }

    func testSameSeedSameTokensAndThreadCountNeverChangesThem() throws {
        let model = try Support.syntheticModel(seed: 125, layers: 6)
        let prompt = Support.prompt(seed: 126, count: 5, vocabulary: 97)
        let processors = try chain { $0.temperature = 1.5 }
        let one = ParallelFor(threadCount: 1), two = ParallelFor(threadCount: 2)
        defer { one.shutdown(); two.shutdown() }
        func run(_ seed: UInt64, _ pool: ParallelFor) throws -> Generation {
            try DoLa.generate(model: model, prompt: prompt, layers: .layers([1, 3, 5]), stopping: StoppingCriteria(maxNewTokens: 20),
                              processors: processors, seed: seed, pool: pool)
        }
        let a = try run(9, one), b = try run(9, two)
        XCTAssertEqual(a.outputIDs, b.outputIDs)
        XCTAssertEqual(a.trace, b.trace)
        let outputs = Set(try (10..<16).map { try run(UInt64($0), two).outputIDs } + [a.outputIDs])
        XCTAssertGreaterThan(outputs.count, 1, "T = 1.5 over 20 tokens: seven seeds cannot all draw the same sequence")
    }

    /// Every step's distribution, recomputed naively from a full forward (premature logits of
    /// the un-normed residual, JSD layer choice, relative-top contrast, temperature, top-p by
    /// hand), gives the sampled token from the generator's next uniform and its probability.
    func testSampledTokensAreDrawnFromTheWarpedContrast() throws {
        let model = try Support.syntheticModel(seed: 125, layers: 6)
        let prompt = Support.prompt(seed: 126, count: 5, vocabulary: 97)
        let candidates = [1, 3, 5], T: Float = 0.8, topP = 0.9
        let g = try DoLa.generate(model: model, prompt: prompt, layers: .layers(candidates), stopping: StoppingCriteria(maxNewTokens: 12),
                                  processors: try chain { $0.temperature = Double(T); $0.topP = topP }, seed: 2024, traceTopK: 97)
        let C = model.shape.hiddenSize, V = model.shape.vocabularySize
        var rng = Xoshiro256StarStar(seed: 2024)
        var supports: [Int] = []
        for t in 0..<g.outputIDs.count {
            let ids = prompt + g.outputIDs.prefix(t)
            let full = try Support.fullForward(model, ids)
            let last = ids.count - 1
            let final = Array(full.logits[(last * V)..<((last + 1) * V)])
            let premature = candidates.map { j in model.outputHead.multiply(Array(full.layerOutputs![j - 1][(last * C)..<((last + 1) * C)])) }
            let jsd = premature.map { DoLa.jensenShannonDivergence(finalLogits: final, prematureLogits: $0) }
            let chosen = jsd.firstIndex(of: jsd.max()!)!
            let scaled = DoLa.relativeTopContrast(finalLogits: final, prematureLogits: premature[chosen]).map { $0 / T }
            // Hugging Face top-p: sort ascending, remove the prefix whose cumulative mass ≤ 1 − p
            // (never the most probable token).
            let p0 = Sampler.probabilities(from: scaled)
            let ascending = p0.indices.sorted { p0[$0] < p0[$1] || (p0[$0] == p0[$1] && $0 > $1) }
            var cumulative = 0.0
            var warped = scaled
            for (rank, id) in ascending.enumerated() {
                cumulative += Double(p0[id])
                if Float(cumulative) <= Float(1 - topP) && rank < V - 1 { warped[id] = -.infinity }
            }
            let p = Sampler.probabilities(from: warped)
            supports.append(p.filter { $0 > 0 }.count)
            XCTAssertEqual(g.outputIDs[t], Sampler.draw(probabilities: p, uniform: rng.nextUniformDouble()), "step \(t)")
            XCTAssertEqual(Double(g.trace[t].probability ?? -1), Double(p[g.outputIDs[t]]), accuracy: 2e-6, "step \(t)")
        }
        XCTAssertTrue(supports.contains { $0 > 1 }, "some step must sample from more than one token")
    }

    func testWarpersNeedASeedAndTheRecordOnlyChangesWhenSampling() throws {
        let temperature = try ProcessorSettings(arguments: StrategyArguments(["temperature": "0.7"]))
        XCTAssertThrowsError(try DoLa.Strategy(layers: "high", processors: temperature)) { error in
            XCTAssertTrue("\(error)".contains("add --seed N"), "\(error)")
        }
        let greedy = try DoLa.Strategy(layers: "high")
        XCTAssertEqual(greedy.parameters.map(\.0), ["dola_layers"])
        XCTAssertNil(greedy.seed)
        let sampled = try DecodingStrategies.make("dola", arguments: StrategyArguments(["seed": "5"]), processors: temperature)
        XCTAssertEqual(sampled.seed, 5)
        XCTAssertEqual(sampled.parameters.map(\.0), ["dola_layers", "temperature", "rng"])
        let rebuilt = try DecodingStrategies.make(algorithm: "dola", record: sampled.parameters, seed: sampled.seed)
        let model = try Support.syntheticModel(seed: 127, layers: 4)
        let prompt = Support.prompt(seed: 128, count: 4, vocabulary: 97)
        XCTAssertEqual(try sampled.generate(model: model, prompt: prompt, stopping: StoppingCriteria(maxNewTokens: 8)).generation.outputIDs,
                       try rebuilt.generate(model: model, prompt: prompt, stopping: StoppingCriteria(maxNewTokens: 8)).generation.outputIDs)
    }
}

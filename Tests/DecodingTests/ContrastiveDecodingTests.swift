import XCTest
import Formats
import Tensors
import Transformer
@testable import Decoding

/// Contrastive decoding (Li et al. 2023; logit mode of O'Brien & Lewis 2023) on synthetic models:
/// spec invariants, a cache-free naive reimplementation, thread-count and batch invariance, and
/// the strategy's option errors.
final class ContrastiveDecodingTests: XCTestCase {
    typealias CD = ContrastiveDecoding
    static let V = 61

    static func expert(seed: UInt64 = 11, layers: Int = 4) throws -> LlamaModel {
        try ContrastiveDoLaSupport.syntheticModel(seed: seed, layers: layers, vocabulary: V, hidden: 32, context: 80)
    }

    static func lastLogits(_ model: any CausalLanguageModel, _ ids: [Int]) throws -> [Float] {
        let r = try ContrastiveDoLaSupport.fullForward(model, ids)
        return Array(r.logits[((ids.count - 1) * V)..<(ids.count * V)])
    }

    // MARK: hand-computed pieces

    func testRelativeTopKeepsTokensWithinAlphaOfTheMaximumAndAtLeastTwo() {
        // Probabilities 0.5, 0.3, 0.12, 0.06, 0.02 as log-probabilities.
        let p: [Float] = [0.5, 0.3, 0.12, 0.06, 0.02]
        let e = p.map { DeterministicMath.log($0) }
        func kept(_ alpha: Double) -> [Int] { CD.relativeTop(e, alpha: alpha).indices.filter { CD.relativeTop(e, alpha: alpha)[$0] > -.infinity } }
        XCTAssertEqual(kept(0.1), [0, 1, 2, 3])    // 0.06 ≥ 0.05, 0.02 < 0.05
        XCTAssertEqual(kept(0.5), [0, 1, 2, 3].filter { p[$0] >= 0.25 })
        XCTAssertEqual(kept(1.0), [0, 1])          // only the argmax passes α = 1; two are kept
        XCTAssertEqual(kept(0), [0, 1, 2, 3, 4])
    }

    func testLogitScoresAreOnePlusBetaExpertMinusBetaAmateurInsideThePlausibleSet() {
        let s: [Float] = [2, 1, -3, 0.5], a: [Float] = [1, 3, 0, -1]
        let out = CD.logitScores(expert: s, amateur: a, alpha: 0.1, beta: 0.5, amateurTemperature: 1)
        // ln 0.1 ≈ −2.3026: token 2 (−3 < 2 − 2.3026) is excluded.
        let expected: [Float] = [2.5, 0, -.infinity, 1.25]  // 1.5·2 − 0.5·1, 1.5·1 − 0.5·3, masked, 1.5·0.5 + 0.5·1
        XCTAssertEqual(out, expected)
    }

    func testAmateurEqualToExpertGivesEqualScoresInsideTheHeadWithUnitTemperatureAndBeta() throws {
        // Spec invariant 2: S = e' − e is a per-step constant over V_head (up to rounding).
        let model = try Self.expert()
        let logits = try Self.lastLogits(model, [3, 9, 27])
        let e = ProcessorMath.logSoftmax(logits)
        let head = CD.relativeTop(e, alpha: 0.1)
        let a = CD.amateurScores(logits, temperature: 1)
        let s = head.indices.filter { head[$0] > -.infinity }.map { head[$0] - a[$0] }
        XCTAssertGreaterThanOrEqual(s.count, 2)
        XCTAssertLessThan(s.max()! - s.min()!, 1e-5)
    }

    // MARK: invariants on models

    func testLogitModeWithZeroBetaAndZeroAlphaEqualsGreedy() throws {
        let model = try Self.expert()
        let prompt = [4, 8, 15, 16]
        let stopping = StoppingCriteria(maxNewTokens: 12, endOfSequenceIDs: [])
        let greedy = try GreedyDecoding.generate(model: model, prompt: prompt, stopping: stopping)
        let cd = try CD.generate(expert: model, amateur: .layers(1), prompt: prompt,
                                 parameters: .init(mode: .logit, alpha: 0, beta: 0), stopping: stopping)
        XCTAssertEqual(cd.generation.outputIDs, greedy.outputIDs)
    }

    func testCodeModeWithZeroBetaAndOneBeamEqualsGreedy() throws {
        let model = try Self.expert(seed: 5)
        let prompt = [1, 2, 3]
        let stopping = StoppingCriteria(maxNewTokens: 10, endOfSequenceIDs: [])
        let greedy = try GreedyDecoding.generate(model: model, prompt: prompt, stopping: stopping)
        let cd = try CD.generate(expert: model, amateur: .layers(2), prompt: prompt,
                                 parameters: .init(mode: .code, numBeams: 1, beta: 0), stopping: stopping)
        XCTAssertEqual(cd.generation.outputIDs, greedy.outputIDs)
    }

    func testChosenTokensAreNeverOutsideThePlausibilitySet() throws {
        let model = try Self.expert(seed: 21)
        let prompt = [7, 7, 30]
        let stopping = StoppingCriteria(maxNewTokens: 10, endOfSequenceIDs: [])
        for alpha in [0.3, 0.8] {
            for mode in CD.Mode.allCases {
                // A large β pulls towards tokens the amateur dislikes; the mask must still hold.
                let run = try CD.generate(expert: model, amateur: .layers(1), prompt: prompt,
                                          parameters: .init(mode: mode, numBeams: 3, alpha: alpha, beta: 8), stopping: stopping)
                var ids = prompt
                for token in run.generation.outputIDs {
                    let p = ProcessorMath.softmax(try Self.lastLogits(model, ids))
                    // Code mode keeps at least two tokens (min_tokens_to_keep = 2, spec invariant 3).
                    let sorted = p.sorted(by: >)
                    let bound = mode == .code ? min(alpha * Double(sorted[0]), Double(sorted[1])) : alpha * Double(sorted[0])
                    XCTAssertGreaterThanOrEqual(Double(p[token]), bound * (1 - 1e-5),
                                                "mode \(mode), α \(alpha): token \(token) is outside V_head")
                    ids.append(token)
                }
            }
        }
    }

    func testCodeModeKeepsTheTwoMostProbableTokensWhenAlphaIsOne() throws {
        // α = 1: V_head is the top two expert tokens of each beam (min_tokens_to_keep = 2).
        let model = try Self.expert(seed: 3)
        let prompt = [10, 20]
        let run = try CD.generate(expert: model, amateur: .layers(1), prompt: prompt,
                                  parameters: .init(mode: .code, numBeams: 2, alpha: 1), stopping: StoppingCriteria(maxNewTokens: 8, endOfSequenceIDs: []))
        var ids = prompt
        for token in run.generation.outputIDs {
            let top2 = BeamMath.topK(try Self.lastLogits(model, ids), 2).map(\.index)
            XCTAssertTrue(top2.contains(token), "token \(token) not among the expert's top two \(top2)")
            ids.append(token)
        }
    }

    // MARK: naive reimplementation (no caches, each beam alone)

    /// The `.code` objective recomputed from scratch: every beam's logits from a full forward over
    /// its own sequence on an empty cache (no prefix tree, no batching), Hugging Face's legacy
    /// beam scorer written out again.
    static func naiveCode(expert: any CausalLanguageModel, amateur: any CausalLanguageModel, prompt: [Int], p: CD.Parameters,
                          maxNew: Int, eos: Set<Int>) throws -> [Int] {
        let N = p.numBeams
        var beams = [[Int]](repeating: [], count: N)
        var scores = [Float](repeating: -1e9, count: N); scores[0] = 0
        var finished: [(score: Double, tokens: [Int])] = []
        var done = false
        let lnAlpha = Float(DeterministicMath.log(p.alpha))
        for t in 0..<maxNew {
            var e: [(Float, Int)] = [], E: [Float] = [], a: [Float] = []
            for b in 0..<N {
                let lp = ProcessorMath.logSoftmax(try lastLogits(expert, prompt + beams[b]))
                var ep = ProcessorMath.logSoftmax(lp)
                let sorted = ep.sorted(by: >)
                let theta = min(sorted[1], sorted[0] + lnAlpha)
                for v in 0..<V where ep[v] < theta { ep[v] = -.infinity }
                let ap = ProcessorMath.logSoftmax(try lastLogits(amateur, (p.ignorePrefix ? [prompt.last!] : prompt) + beams[b]))
                for v in 0..<V {
                    e.append((lp[v], b * V + v))
                    E.append(ep[v] + scores[b])
                    a.append(ap[v] / Float(p.amateurTemperature))
                }
            }
            let keyed = t == 0 ? E.indices.map { (E[$0], $0) } : e
            let ranked = keyed.sorted { ($0.0, -$0.1) > ($1.0, -$1.1) }.prefix(2 * N).map(\.1)
            let candidates = ranked.enumerated().map { (r, i) in (r, i, E[i] - Float(p.beta) * a[i]) }
                .sorted { ($0.2, -$0.0) > ($1.2, -$1.0) }
            var next: [([Int], Float)] = []
            for (position, c) in candidates.enumerated() {
                let b = c.1 / V, v = c.1 % V
                if eos.contains(v) {
                    if position < N { finished.append((Double(c.2) / Double(t + 1), beams[b] + [v])) }
                } else {
                    next.append((beams[b] + [v], c.2))
                }
                if next.count == N { break }
            }
            if finished.count > N {
                finished = Array(finished.enumerated().sorted { ($0.element.score, $0.offset) > ($1.element.score, $1.offset) }.prefix(N).sorted { $0.offset < $1.offset }.map(\.element))
            }
            if finished.count == N, finished.map(\.score).min()! >= Double(candidates[0].2) / Double(t + 1) { done = true }
            beams = next.map(\.0)
            scores = next.map(\.1)
            if done { break }
        }
        if !done { for b in 0..<N { finished.append((Double(scores[b]) / Double(beams[b].count), beams[b])) } }
        let best = finished.enumerated().max { ($0.element.score, $0.offset) < ($1.element.score, $1.offset) }!
        return best.element.tokens
    }

    static func naiveLogit(expert: any CausalLanguageModel, amateur: any CausalLanguageModel, prompt: [Int], p: CD.Parameters, maxNew: Int) throws -> [Int] {
        var out: [Int] = []
        for _ in 0..<maxNew {
            let s = try lastLogits(expert, prompt + out)
            let a = try lastLogits(amateur, (p.ignorePrefix ? [prompt.last!] : prompt) + out)
            let threshold = s.max()! + Float(DeterministicMath.log(p.alpha))
            var best = -1, bestScore = -Float.infinity
            for v in 0..<V where s[v] >= threshold {
                let score = Float(1 + p.beta) * s[v] - Float(p.beta) * (a[v] / Float(p.amateurTemperature))
                if best < 0 || score > bestScore { best = v; bestScore = score }
            }
            out.append(best)
        }
        return out
    }

    func testCachedBatchedBeamsEqualANaiveReimplementationRunningEachBeamAlone() throws {
        let expert = try Self.expert(seed: 31), other = try Self.expert(seed: 32, layers: 2)
        let cases: [(CD.Amateur, CD.Parameters, Set<Int>)] = [
            (.layers(2), .init(mode: .code, numBeams: 3), []),
            (.layers(1), .init(mode: .code, numBeams: 4, alpha: 0.05, beta: 0.8, amateurTemperature: 1, ignorePrefix: false), [5, 9]),
            (.model(other), .init(mode: .code, numBeams: 2, ignorePrefix: true), [0]),
        ]
        for (i, (amateur, p, eos)) in cases.enumerated() {
            let prompt = ContrastiveDoLaSupport.prompt(seed: UInt64(40 + i), count: 5, vocabulary: Self.V)
            let run = try CD.generate(expert: expert, amateur: amateur, prompt: prompt, parameters: p,
                                      stopping: StoppingCriteria(maxNewTokens: 9, endOfSequenceIDs: eos))
            let naive = try Self.naiveCode(expert: expert, amateur: try amateur.model(for: expert), prompt: prompt, p: p, maxNew: 9, eos: eos)
            XCTAssertEqual(run.generation.outputIDs, naive, "case \(i)")
        }
    }

    func testLogitModeEqualsANaiveReimplementationWithoutCaches() throws {
        let expert = try Self.expert(seed: 41)
        for (i, p) in [CD.Parameters(mode: .logit), CD.Parameters(mode: .logit, alpha: 0.02, beta: 2, amateurTemperature: 0.7, ignorePrefix: true)].enumerated() {
            let prompt = ContrastiveDoLaSupport.prompt(seed: UInt64(50 + i), count: 6, vocabulary: Self.V)
            let run = try CD.generate(expert: expert, amateur: .layers(2), prompt: prompt, parameters: p,
                                      stopping: StoppingCriteria(maxNewTokens: 12, endOfSequenceIDs: []))
            XCTAssertEqual(run.generation.outputIDs, try Self.naiveLogit(expert: expert, amateur: try expert.truncated(toLayers: 2),
                                                                         prompt: prompt, p: p, maxNew: 12), "case \(i)")
        }
    }

    func testOutputsAndTracesDoNotDependOnTheThreadCount() throws {
        let expert = try Self.expert(seed: 61)
        let one = ParallelFor(threadCount: 1), two = ParallelFor(threadCount: 2)
        let prompt = [2, 4, 6, 8]
        for mode in CD.Mode.allCases {
            let stopping = StoppingCriteria(maxNewTokens: 8, endOfSequenceIDs: [])
            let a = try CD.generate(expert: expert, amateur: .layers(2), prompt: prompt, parameters: .init(mode: mode, numBeams: 3),
                                    stopping: stopping, pool: one)
            let b = try CD.generate(expert: expert, amateur: .layers(2), prompt: prompt, parameters: .init(mode: mode, numBeams: 3),
                                    stopping: stopping, pool: two)
            XCTAssertEqual(a.generation.outputIDs, b.generation.outputIDs)
            XCTAssertEqual(a.generation.trace, b.generation.trace)
            XCTAssertEqual(a.hypotheses, b.hypotheses)
        }
    }

    // MARK: strategy options

    func testStrategyRejectsBothAmateursAndDefaultsToHalfTheLayers() throws {
        XCTAssertThrowsError(try DecodingStrategies.make("contrastive-decoding", arguments: StrategyArguments(["amateur-layers": "2", "amateur-model": "x"]))) {
            XCTAssertTrue("\($0)".contains("not both"), "\($0)")
        }
        let s = try DecodingStrategies.make("contrastive-decoding", arguments: StrategyArguments())
        let out = try s.generate(model: try Self.expert(), prompt: [1, 2], stopping: StoppingCriteria(maxNewTokens: 3, endOfSequenceIDs: []))
        XCTAssertEqual(out.statistics.first { $0.0 == "amateur_layer_count" }?.1, .int(2))
        XCTAssertEqual(s.parameters.first { $0.0 == "cd_beta" }?.1, .double(1.0))
        XCTAssertEqual(s.parameters.first { $0.0 == "num_beams" }?.1, .int(5))
    }

    func testAmateurLayersOutsideTheExpertAreAnError() throws {
        let s = try DecodingStrategies.make("contrastive-decoding", arguments: StrategyArguments(["amateur-layers": "5"]))
        XCTAssertThrowsError(try s.generate(model: try Self.expert(layers: 4), prompt: [1], stopping: StoppingCriteria(maxNewTokens: 2))) {
            XCTAssertTrue("\($0)".contains("1...4"), "\($0)")
        }
        XCTAssertThrowsError(try DecodingStrategies.make("contrastive-decoding", arguments: StrategyArguments(["amateur-layers": "0"])))
        XCTAssertThrowsError(try DecodingStrategies.make("contrastive-decoding", arguments: StrategyArguments(["cd-mode": "logit", "num-beams": "3"])))
    }

    func testAnAmateurWithAnotherTokenizerIsRefused() throws {
        let other = try Self.expert(seed: 99)
        let context = StrategyContext(loadModel: { _ in other }, vocabularyDigest: { $0 == nil ? "aaaa" : "bbbb" })
        XCTAssertThrowsError(try DecodingStrategies.make("contrastive-decoding", arguments: StrategyArguments(["amateur-model": "m"]), context: context)) {
            XCTAssertTrue("\($0)".contains("tokenizer"), "\($0)")
        }
        let same = StrategyContext(loadModel: { _ in other }, vocabularyDigest: { _ in "aaaa" })
        XCTAssertNoThrow(try DecodingStrategies.make("contrastive-decoding", arguments: StrategyArguments(["amateur-model": "m"]), context: same))
    }

    func testRecordedParametersRebuildTheSameStrategy() throws {
        let model = try Self.expert(seed: 71)
        for args in [["cd-mode": "logit", "amateur-layers": "1", "cd-beta": "0.7"], ["amateur-layers": "3", "num-beams": "2", "ignore-prefix": "no"]] {
            let s = try DecodingStrategies.make("contrastive-decoding", arguments: StrategyArguments(args))
            let rebuilt = try DecodingStrategies.make(algorithm: s.name, record: s.parameters, seed: nil)
            let stopping = StoppingCriteria(maxNewTokens: 6, endOfSequenceIDs: [])
            XCTAssertEqual(try s.generate(model: model, prompt: [3, 1], stopping: stopping).generation.outputIDs,
                           try rebuilt.generate(model: model, prompt: [3, 1], stopping: stopping).generation.outputIDs)
            XCTAssertEqual(rebuilt.parameters.map(\.0), s.parameters.map(\.0))
        }
    }
}

import XCTest
import Tensors
import Decoding

final class ProcessorChainTests: XCTestCase {
    let all = SamplingParameters(temperature: 0.7, topK: 40, topP: 0.9, minP: 0.05, typicalP: 0.95, epsilonCutoff: 0.001,
                                 etaCutoff: 0.002, repetitionPenalty: 1.3, frequencyPenalty: 0.1, presencePenalty: 0.2,
                                 noRepeatNgramSize: 3, minNewTokens: 2, badWordsIDs: [[5]], logitBias: [1: 1],
                                 suppressTokens: [7], eosTokenIDs: [2])

    func testHuggingFaceOrderPutsWarpersAfterProcessorsInGenerationMixinOrder() throws {
        XCTAssertEqual(try ProcessorChain.make(all, order: .hf).map(\.name),
                       ["logit_bias", "repetition_penalty", "frequency_penalty", "presence_penalty", "no_repeat_ngram", "bad_words",
                        "min_new_tokens", "suppress_tokens", "temperature", "top_k", "top_p", "min_p", "typical_p",
                        "epsilon_cutoff", "eta_cutoff"])
    }

    func testHuggingFaceWithoutSamplingDropsEveryWarper() throws {
        XCTAssertEqual(try ProcessorChain.make(all, order: .hf, sampling: false).map(\.name),
                       ["logit_bias", "repetition_penalty", "frequency_penalty", "presence_penalty", "no_repeat_ngram", "bad_words",
                        "min_new_tokens", "suppress_tokens"])
    }

    func testLlamaCppOrderAppliesTemperatureLastAndCombinesPenalties() throws {
        let chain = try ProcessorChain.make(all, order: .llamaCpp)
        XCTAssertEqual(chain.map(\.name),
                       ["logit_bias", "no_repeat_ngram", "bad_words", "min_new_tokens", "suppress_tokens", "penalties",
                        "top_k", "typical_p", "top_p", "min_p", "epsilon_cutoff", "eta_cutoff", "temperature"])
        XCTAssertEqual((chain[5] as! LlamaCppPenalties).lastN, 64)
        XCTAssertEqual((chain[6] as! TopK).semantics, .llamaCpp)
    }

    func testMLXOrderIsPenaltiesLogSoftmaxTopPMinPTopKTemperature() throws {
        let p = SamplingParameters(temperature: 0.7, topK: 40, topP: 0.9, minP: 0.05, repetitionPenalty: 1.3)
        let chain = try ProcessorChain.make(p, order: .mlx)
        XCTAssertEqual(chain.map(\.name), ["repetition_penalty", "log_softmax", "top_p", "min_p", "top_k", "temperature"])
        XCTAssertEqual((chain[0] as! RepetitionPenalty).scope, .lastN(20))
    }

    func testTheSameParametersGiveDifferentDistributionsInTheThreeProfiles() throws {
        let p = SamplingParameters(temperature: 0.7, topK: 3, topP: 0.8)
        let scores: [Float] = [2.0, 1.6, 1.2, 0.9, 0.3, -0.5]
        var results: [[Float]] = []
        for order in [ProcessorOrder.hf, .llamaCpp, .mlx] {
            var s = scores
            try ProcessorChain.make(p, order: order).process(&s, context: ProcessorContext(inputIDs: [], promptLength: 0))
            results.append(Sampler.probabilities(from: s))
        }
        // Hugging Face: T first sharpens, so top-p 0.8 keeps 2; llama.cpp: top-p on T = 1 keeps 3.
        XCTAssertEqual(results[0].filter { $0 > 0 }.count, 2)
        XCTAssertEqual(results[1].filter { $0 > 0 }.count, 3)
        XCTAssertNotEqual(results[0], results[1])
    }

    func testCustomOrderIsFollowedAndUnknownNamesAreRejected() throws {
        let order = try ProcessorOrder(parsing: "top_p, temperature,top_k")
        XCTAssertEqual(order, .custom(["top_p", "temperature", "top_k"], semantics: .huggingFace))
        XCTAssertEqual(try ProcessorChain.make(all, order: order).map(\.name), ["top_p", "temperature", "top_k"])
        XCTAssertEqual(try ProcessorOrder(parsing: "llama.cpp:top_k,top_p").semantics, .llamaCpp)
        XCTAssertEqual(try ProcessorOrder(parsing: "mlx"), .mlx)
        XCTAssertThrowsError(try ProcessorOrder(parsing: "top_p,nucleus"))
    }

    func testNeutralParametersBuildAnEmptyChain() throws {
        let neutral = SamplingParameters(temperature: 1, topK: 0, topP: 1, minP: 0, typicalP: 1, repetitionPenalty: 1,
                                         frequencyPenalty: 0, presencePenalty: 0, noRepeatNgramSize: 0, minNewTokens: 0)
        for order in [ProcessorOrder.hf, .llamaCpp] { XCTAssertEqual(try ProcessorChain.make(neutral, order: order).count, 0) }
        XCTAssertEqual(try ProcessorChain.make(neutral, order: .mlx).map(\.name), ["log_softmax"])
    }

    func testInvalidParametersThrowWithAdvice() {
        XCTAssertThrowsError(try ProcessorChain.make(SamplingParameters(topP: 1.5)))
        XCTAssertThrowsError(try ProcessorChain.make(SamplingParameters(topK: -1)))
        XCTAssertThrowsError(try ProcessorChain.make(SamplingParameters(repetitionPenalty: 0)))
        XCTAssertThrowsError(try ProcessorChain.make(SamplingParameters(minNewTokens: 3)))
        XCTAssertThrowsError(try ProcessorChain.make(SamplingParameters(minTokensToKeep: 0)))
    }
}

final class ProcessorOrderingTests: XCTestCase {
    func testDescendingOrderIsScoreDescendingThenIDAscendingLikeAComparatorSort() {
        var rng = Xoshiro256StarStar(seed: 99)
        let specials: [Float] = [0, -0.0, .infinity, -.infinity, .leastNonzeroMagnitude, -.leastNonzeroMagnitude, .greatestFiniteMagnitude, -1, 1]
        for trial in 0..<200 {
            let n = 1 + trial % 37
            let scores = (0..<n).map { _ -> Float in
                let r = rng.nextUniformFloat()
                return r < 0.3 ? specials[Int(r * 30) % specials.count] : Float(Int(r * 10)) - 5
            }
            let naive = (0..<n).sorted { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }
            XCTAssertEqual(ProcessorMath.descendingOrder(scores), naive, "\(scores)")
            XCTAssertEqual(ProcessorMath.descendingOrder(scores, includeNegativeInfinity: false), naive.filter { scores[$0] > -.infinity })
            let p = scores.map { max($0, 0) }
            XCTAssertEqual(Sampler.candidateOrder(p), naive.filter { p[$0] > 0 }.sorted { p[$0] > p[$1] || (p[$0] == p[$1] && $0 < $1) })
        }
    }
}

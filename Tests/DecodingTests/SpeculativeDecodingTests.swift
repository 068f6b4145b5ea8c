import XCTest
import Decoding
import Tensors
import Transformer

/// Drafts that test the verifier: the greedy answer itself, always-wrong tokens, and seeded
/// random trees that mix right and wrong branches.
private struct ScriptedDrafter: Drafter {
    enum Kind { case oracle([Int]), wrong(vocab: Int), randomTree(seed: UInt64, vocab: Int, truth: [Int], nodes: Int) }
    var kind: Kind
    var promptLength: Int
    var forwardPasses: Int { 0 }
    var rng = Xoshiro256StarStar(seed: 0)

    init(_ kind: Kind, promptLength: Int) {
        self.kind = kind
        self.promptLength = promptLength
        if case .randomTree(let seed, _, _, _) = kind { rng = Xoshiro256StarStar(seed: seed) }
    }

    mutating func draft(sequence: [Int], maxTokens: Int) throws -> DraftTree {
        let emitted = sequence.count - promptLength
        switch kind {
        case .oracle(let truth):
            // The exact greedy continuation, even past the end (a draft may run past max-new-tokens).
            let next = Array(truth.dropFirst(emitted).prefix(maxTokens))
            return DraftTree(chain: next + Array(repeating: 7, count: max(0, min(maxTokens, 6) - next.count)))
        case .wrong(let vocab):
            return DraftTree(chain: (0..<min(maxTokens, 4)).map { (sequence.last! + 1 + $0) % vocab })
        case .randomTree(_, let vocab, let truth, let nodes):
            var tokens: [Int] = [], parents: [Int] = []
            for i in 0..<min(nodes, maxTokens) {
                let parent = i == 0 ? -1 : Int(rng.next() % UInt64(i + 1)) - 1
                var depth = 0, p = parent
                while p >= 0 { depth += 1; p = parents[p] }
                let truthIndex = emitted + depth
                let right = truthIndex < truth.count && rng.next() % 3 != 0
                tokens.append(right ? truth[truthIndex] : Int(rng.next() % UInt64(vocab)))
                parents.append(parent)
            }
            return DraftTree(tokens: tokens, parents: parents)
        }
    }
}

final class SpeculativeDecodingTests: XCTestCase {
    func greedy(_ model: any CausalLanguageModel, _ prompt: [Int], _ n: Int, eos: Set<Int> = []) throws -> Generation {
        try GreedyDecoding.generate(model: model, prompt: prompt, stopping: StoppingCriteria(maxNewTokens: n, endOfSequenceIDs: eos))
    }

    func testGreedySpeculativeEqualsGreedyForAnyDraft() throws {
        for preset in SyntheticModels.presets {
            let model = try SyntheticModels.model(preset)
            let vocab = model.shape.vocabularySize
            for prompt in [[1, 2, 3], [40, 41, 40, 41, 40], [9]] {
                let reference = try greedy(model, prompt, 20)
                let truth = try greedy(model, prompt, 40).outputIDs
                var drafters: [ScriptedDrafter] = [
                    ScriptedDrafter(.oracle(truth), promptLength: prompt.count),
                    ScriptedDrafter(.wrong(vocab: vocab), promptLength: prompt.count),
                ]
                for seed in 0..<4 { drafters.append(ScriptedDrafter(.randomTree(seed: UInt64(seed), vocab: vocab, truth: truth, nodes: 12), promptLength: prompt.count)) }
                for var drafter in drafters {
                    let g = try SpeculativeDecoding.generate(model: model, prompt: prompt, drafter: &drafter, maxDraftTokens: 12,
                                                             stopping: StoppingCriteria(maxNewTokens: 20))
                    XCTAssertEqual(g.outputIDs, reference.outputIDs, "\(preset.name) \(prompt) \(drafter.kind)")
                    XCTAssertEqual(g.trace.map(\.logit), reference.trace.map(\.logit))
                    // Accepted length per step is within [1, depth + 1].
                    for step in g.trace where step.drafted != nil {
                        XCTAssertLessThanOrEqual(step.accepted!, step.drafted!.count)
                    }
                }
            }
        }
    }

    func testAllRightDraftsAcceptEverythingAndAllWrongAcceptNothing() throws {
        let model = try SyntheticModels.model(SyntheticModels.tinyB)
        let prompt = [5, 6, 7]
        let truth = try greedy(model, prompt, 40).outputIDs
        var oracle = ScriptedDrafter(.oracle(truth), promptLength: prompt.count)
        let right = try SpeculativeDecoding.generate(model: model, prompt: prompt, drafter: &oracle, maxDraftTokens: 6, stopping: StoppingCriteria(maxNewTokens: 29))
        // 1 token from the prefill, then 4 steps of 6 accepted + 1 = 28 more.
        XCTAssertEqual(right.statistics.verificationSteps, 4)
        XCTAssertEqual(right.statistics.meanAcceptedTokens, 7)
        var wrong = ScriptedDrafter(.wrong(vocab: model.shape.vocabularySize), promptLength: prompt.count)
        let none = try SpeculativeDecoding.generate(model: model, prompt: prompt, drafter: &wrong, maxDraftTokens: 6, stopping: StoppingCriteria(maxNewTokens: 10))
        XCTAssertEqual(none.statistics.acceptedDraftTokens, none.outputIDs.filter { _ in false }.count + (none.statistics.acceptedDraftTokens))
        XCTAssertEqual(none.statistics.meanAcceptedTokens, 1, accuracy: 1e-9)
        XCTAssertEqual(none.outputIDs, truth.prefix(10).map { $0 })
    }

    func testEndOfSequenceInsideAnAcceptedSpanStopsThere() throws {
        let model = try SyntheticModels.model(SyntheticModels.tinyA)
        let prompt = [11, 12, 13]
        let truth = try greedy(model, prompt, 30).outputIDs
        let eos = truth[6]
        let reference = try greedy(model, prompt, 30, eos: [eos])
        var oracle = ScriptedDrafter(.oracle(truth), promptLength: prompt.count)
        let g = try SpeculativeDecoding.generate(model: model, prompt: prompt, drafter: &oracle, maxDraftTokens: 10,
                                                 stopping: StoppingCriteria(maxNewTokens: 30, endOfSequenceIDs: [eos]))
        XCTAssertEqual(g.outputIDs, reference.outputIDs)
        XCTAssertEqual(g.stopReason, .endOfSequence)
    }

    func testDraftsRunningPastTheContextLimitStillMatchGreedy() throws {
        let model = try SyntheticModels.model(SyntheticModels.tinyB)  // context 128
        let prompt = Array(repeating: 3, count: 120)
        let reference = try greedy(model, prompt, 50)
        XCTAssertEqual(reference.stopReason, .contextLimit)
        let truth = reference.outputIDs
        var oracle = ScriptedDrafter(.oracle(truth), promptLength: prompt.count)
        let g = try SpeculativeDecoding.generate(model: model, prompt: prompt, drafter: &oracle, maxDraftTokens: 10, stopping: StoppingCriteria(maxNewTokens: 50))
        XCTAssertEqual(g.outputIDs, reference.outputIDs)
        XCTAssertEqual(g.stopReason, .contextLimit)
    }

    func testPromptLookupAndSelfSpeculativeEqualGreedy() throws {
        for preset in SyntheticModels.presets {
            let model = try SyntheticModels.model(preset)
            let prompt = [5, 9, 5, 9, 5, 9, 5, 30, 31, 5, 9]
            let reference = try greedy(model, prompt, 24)
            var lookup = PromptLookupDrafter(numTokens: 5, maxMatchingNgramSize: 2)
            let a = try SpeculativeDecoding.generate(model: model, prompt: prompt, drafter: &lookup, maxDraftTokens: 5, stopping: StoppingCriteria(maxNewTokens: 24))
            XCTAssertEqual(a.outputIDs, reference.outputIDs, preset.name)
            var layerSkip = DraftModelDrafter(model: try model.truncated(toLayers: 1), numTokens: 4)
            let b = try SpeculativeDecoding.generate(model: model, prompt: prompt, drafter: &layerSkip, maxDraftTokens: 4, stopping: StoppingCriteria(maxNewTokens: 24))
            XCTAssertEqual(b.outputIDs, reference.outputIDs, preset.name)
            XCTAssertGreaterThan(b.statistics.draftForwardPasses, 0)
            // The full model as its own draft accepts every drafted token.
            var selfDraft = DraftModelDrafter(model: model, numTokens: 4)
            let c = try SpeculativeDecoding.generate(model: model, prompt: prompt, drafter: &selfDraft, maxDraftTokens: 4, stopping: StoppingCriteria(maxNewTokens: 21))
            XCTAssertEqual(c.outputIDs, Array(reference.outputIDs.prefix(21)))
            XCTAssertEqual(c.statistics.meanAcceptedTokens, 5)
        }
    }

    func testPromptLookupFollowsHuggingFacesMatchRule() throws {
        var d = PromptLookupDrafter(numTokens: 3, maxMatchingNgramSize: 2, endOfSequenceIDs: [99])
        // Last bigram (1, 2) first occurs at 0, followed by 3, 4, 99 → cut before EOS.
        XCTAssertEqual(try d.draft(sequence: [1, 2, 3, 4, 99, 1, 2], maxTokens: 10).tokens, [3, 4])
        // No bigram match: fall back to the unigram 7, earliest occurrence with a continuation.
        XCTAssertEqual(try d.draft(sequence: [7, 8, 9, 7, 5, 6, 7], maxTokens: 10).tokens, [8, 9, 7])
        // maxTokens bounds the draft; a continuation never runs past the sequence.
        XCTAssertEqual(try d.draft(sequence: [7, 8, 9, 7, 5, 6, 7], maxTokens: 1).tokens, [8])
        XCTAssertEqual(try d.draft(sequence: [4, 4], maxTokens: 10).tokens, [4])
        XCTAssertTrue(try d.draft(sequence: [1, 2, 3], maxTokens: 10).isEmpty)
    }

    func testTreeVerificationKeepsOnlyTheAcceptedPathInTheCache() throws {
        let model = try SyntheticModels.model(SyntheticModels.tinyA)
        let prompt = [2, 4, 6]
        let truth = try greedy(model, prompt, 6).outputIDs
        let cache = KVCache(shape: model.shape)
        _ = try model.forward(tokens: prompt, cache: cache, logitRows: .last)
        // Root children: a wrong token, then the right one; the right one has a right child.
        let wrongToken = (truth[1] + 1) % model.shape.vocabularySize
        let tree = DraftTree(tokens: [wrongToken, truth[1], truth[2], wrongToken], parents: [-1, -1, 1, 1])
        let r = try TreeVerification.verifyGreedy(model: model, cache: cache, pendingToken: truth[0], draft: tree)
        XCTAssertEqual(r.acceptedTokens, [truth[1], truth[2]])
        XCTAssertEqual(r.acceptedNodes, [1, 2])
        XCTAssertEqual(r.nextToken, truth[3])
        XCTAssertEqual(cache.length, prompt.count + 3)
        // Continuing from the compacted cache equals fresh greedy.
        let next = try model.forward(tokens: [r.nextToken], cache: cache, logitRows: .last)
        let fresh = try model.forward(tokens: prompt + Array(truth.prefix(4)), cache: KVCache(shape: model.shape), logitRows: .last)
        XCTAssertEqual(next.logits, fresh.logits)
    }
}

import XCTest
import Decoding
import Tensors
import Transformer

final class GreedyDecodingTests: XCTestCase {
    /// Greedy with a KV cache equals the naive procedure: recompute the whole sequence from
    /// scratch at every step and take the argmax (lowest id on ties) of the last row.
    func testGreedyWithCacheEqualsRecomputingTheWholeSequenceEachStep() throws {
        for preset in SyntheticModels.presets {
            let model = try SyntheticModels.model(preset)
            let prompt = [3, 1, 4, 1, 5]
            let generation = try GreedyDecoding.generate(model: model, prompt: prompt, stopping: StoppingCriteria(maxNewTokens: 12))
            var sequence = prompt
            for step in 0..<12 {
                let result = try model.forward(tokens: sequence, cache: KVCache(shape: model.shape), logitRows: .last)
                var best = 0
                for i in 1..<result.logits.count where result.logits[i] > result.logits[best] { best = i }
                XCTAssertEqual(generation.outputIDs[step], best, "\(preset.name) step \(step)")
                XCTAssertEqual(generation.trace[step].logit, result.logits[best])
                sequence.append(best)
            }
            XCTAssertEqual(generation.stopReason, .maxNewTokens)
            XCTAssertEqual(generation.statistics.forwardPasses, 12)
        }
    }

    func testStopsAtEndOfSequenceAndIncludesIt() throws {
        let model = try SyntheticModels.model(SyntheticModels.tinyA)
        let free = try GreedyDecoding.generate(model: model, prompt: [7, 8, 9], stopping: StoppingCriteria(maxNewTokens: 10))
        let eos = free.outputIDs[3]
        let stopped = try GreedyDecoding.generate(model: model, prompt: [7, 8, 9], stopping: StoppingCriteria(maxNewTokens: 10, endOfSequenceIDs: [eos]))
        let firstEOS = free.outputIDs.firstIndex(of: eos)!
        XCTAssertEqual(stopped.outputIDs, Array(free.outputIDs[...firstEOS]))
        XCTAssertEqual(stopped.stopReason, .endOfSequence)
    }

    func testTraceTopLogitsAreSortedByLogitThenId() throws {
        let model = try SyntheticModels.model(SyntheticModels.tinyB)
        let g = try GreedyDecoding.generate(model: model, prompt: [1, 2], stopping: StoppingCriteria(maxNewTokens: 5), traceTopK: 8)
        for step in g.trace {
            XCTAssertEqual(step.topLogits.count, 8)
            XCTAssertEqual(step.topLogits.first?.id, step.token)
            for (a, b) in zip(step.topLogits, step.topLogits.dropFirst()) {
                XCTAssertTrue(a.logit > b.logit || (a.logit == b.logit && a.id < b.id))
            }
        }
    }

    func testEmptyPromptAndContextOverflowAreTypedErrors() throws {
        let model = try SyntheticModels.model(SyntheticModels.tinyA)
        XCTAssertThrowsError(try GreedyDecoding.generate(model: model, prompt: [], stopping: StoppingCriteria(maxNewTokens: 1)))
        let long = Array(repeating: 1, count: model.shape.contextLength)
        XCTAssertThrowsError(try GreedyDecoding.generate(model: model, prompt: long, stopping: StoppingCriteria(maxNewTokens: 1))) { error in
            guard case .contextOverflow = error as? ModelError else { return XCTFail("\(error)") }
        }
        // Generation stops cleanly at the context limit.
        let nearlyFull = Array(repeating: 1, count: model.shape.contextLength - 3)
        let g = try GreedyDecoding.generate(model: model, prompt: nearlyFull, stopping: StoppingCriteria(maxNewTokens: 10))
        XCTAssertEqual(g.stopReason, .contextLimit)
        XCTAssertEqual(g.outputIDs.count, 4)
    }

    func testThreadCountDoesNotChangeTheTokens() throws {
        let model = try SyntheticModels.model(SyntheticModels.tinyB)
        let pools = [ParallelFor(threadCount: 1), ParallelFor(threadCount: 3)]
        defer { pools.forEach { $0.shutdown() } }
        let a = try GreedyDecoding.generate(model: model, prompt: [9, 8, 7], stopping: StoppingCriteria(maxNewTokens: 10), pool: pools[0])
        let b = try GreedyDecoding.generate(model: model, prompt: [9, 8, 7], stopping: StoppingCriteria(maxNewTokens: 10), pool: pools[1])
        XCTAssertEqual(a.outputIDs, b.outputIDs)
        XCTAssertEqual(a.trace, b.trace)
    }
}

final class StopStringTests: XCTestCase {
    /// A "decoder" that spells every token id as a letter: id 0 → "a", 1 → "b", …
    static let letters: @Sendable ([Int]) -> String = { ids in String(ids.map { Character(UnicodeScalar(UInt8(97 + $0 % 26))) }) }

    func testStopsAtTheFirstTokenThatCompletesAStopString() throws {
        let model = try SyntheticModels.model(SyntheticModels.tinyB)
        let free = try GreedyDecoding.generate(model: model, prompt: [4, 5, 6], stopping: StoppingCriteria(maxNewTokens: 16))
        let text = Self.letters(free.outputIDs)
        // A stop string spanning tokens 3 and 4 of the free continuation.
        let stop = String(Array(text)[3...4])
        let firstEnd = (0..<text.count).first { String(Array(text)[0...$0]).contains(stop) }!
        let stopping = StoppingCriteria(maxNewTokens: 16, stopStrings: [stop], decode: Self.letters)
        let g = try GreedyDecoding.generate(model: model, prompt: [4, 5, 6], stopping: stopping)
        XCTAssertEqual(g.outputIDs, Array(free.outputIDs[...firstEnd]))
        XCTAssertEqual(g.stopReason, .stopString)
        // Speculative decoding honours the same stop.
        var lookup = PromptLookupDrafter()
        let s = try SpeculativeDecoding.generate(model: model, prompt: [4, 5, 6], drafter: &lookup, maxDraftTokens: 10, stopping: stopping)
        XCTAssertEqual(s.outputIDs, g.outputIDs)
        XCTAssertEqual(s.stopReason, .stopString)
    }

    func testWithoutADecoderOrStringsNothingStops() {
        XCTAssertFalse(StoppingCriteria(maxNewTokens: 4, stopStrings: ["a"]).hitsStopString([0]))
        XCTAssertFalse(StoppingCriteria(maxNewTokens: 4, decode: Self.letters).hitsStopString([0]))
        XCTAssertTrue(StoppingCriteria(maxNewTokens: 4, stopStrings: ["ab"], decode: Self.letters).hitsStopString([0, 1]))
        XCTAssertFalse(StoppingCriteria(maxNewTokens: 4, stopStrings: ["ba"], decode: Self.letters).hitsStopString([0, 1]))
    }
}

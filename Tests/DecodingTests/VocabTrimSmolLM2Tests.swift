import Foundation
import XCTest
import Decoding
import Tensors
import Tokenization
import Transformer

/// VocabTrim on SmolLM2-135M-Instruct with a layer-skip draft (the target's first layers, shared
/// weights). Skips when the model is absent (set TOUCHSTONE_MODEL, or `touchstone fetch`). The
/// measurement (calibration on 8 prompts, MAT with and without trimming) runs only with
/// TOUCHSTONE_VOCABTRIM_BENCH=1 (about two minutes on 2 cores).
final class VocabTrimSmolLM2Tests: XCTestCase {

    static func chat(_ tokenizer: any Tokenizer, _ text: String) -> [Int] {
        tokenizer.encode(ChatTemplate.chatML.apply(messages: [(role: "user", content: text)], addGenerationPrompt: true))
    }

    static let calibrationPrompts = [
        "Explain how a bicycle works.", "Write a short story about a dragon who learns to cook.",
        "What are the benefits of drinking water?", "Describe the water cycle for a ten-year-old.",
        "Give me three tips for learning a new language.", "Why is the sky blue?",
        "Write a polite email asking for a meeting next week.", "What is machine learning?",
    ]
    static let evaluationPrompts = [
        "What is the capital of France, and what is it famous for?",
        "Write a haiku about autumn leaves and explain it.",
        "How do I make a cup of tea?",
    ]

    func testGreedySpeculativeWithTrimmedLayerSkipDraftEqualsGreedyOnSmolLM2() throws {
        let l = try SmolLM2TestModel.load()
        let tokenizer = try XCTUnwrap(l.tokenizer)
        let target = l.model
        let prompt = Self.chat(tokenizer, Self.evaluationPrompts[0])
        let reference = try GreedyDecoding.generate(model: target, prompt: prompt, stopping: StoppingCriteria(maxNewTokens: 16))
        let calibration = try VocabTrim.targetGeneratedSequences(model: target, prompts: [Self.chat(tokenizer, Self.calibrationPrompts[0])], maxNewTokens: 16)
        let trim = try VocabTrim(ranking: VocabTrim.frequencyTable(fromTokenSequences: calibration), count: 4096,
                                 vocabularySize: target.shape.vocabularySize, alwaysKeep: l.endOfSequenceIDs.sorted())
        var drafter = VocabTrimDrafter(draft: try TrimmedHeadModel(model: try target.truncated(toLayers: 12), trim: trim), numTokens: 4)
        let g = try SpeculativeDecoding.generate(model: target, prompt: prompt, drafter: &drafter, maxDraftTokens: 4, stopping: StoppingCriteria(maxNewTokens: 16))
        XCTAssertEqual(g.outputIDs, reference.outputIDs)
    }

    func testMeasureVocabTrimOnSmolLM2() throws {
        guard ProcessInfo.processInfo.environment["TOUCHSTONE_VOCABTRIM_BENCH"] == "1" else {
            throw XCTSkip("set TOUCHSTONE_VOCABTRIM_BENCH=1 to run the SmolLM2 VocabTrim measurement")
        }
        let l = try SmolLM2TestModel.load()
        let tokenizer = try XCTUnwrap(l.tokenizer)
        let target = l.model
        let V = target.shape.vocabularySize
        let eos = l.endOfSequenceIDs
        let newTokens = 64
        let layers = Int(ProcessInfo.processInfo.environment["TOUCHSTONE_VOCABTRIM_LAYERS"] ?? "12") ?? 12
        let gamma = 4

        var start = monotonicSeconds()
        let calibration = try VocabTrim.targetGeneratedSequences(model: target, prompts: Self.calibrationPrompts.map { Self.chat(tokenizer, $0) },
                                                                 maxNewTokens: newTokens, endOfSequenceIDs: eos)
        let ranking = VocabTrim.frequencyTable(fromTokenSequences: calibration)
        print("calibration: \(calibration.map(\.count).reduce(0, +)) target tokens, \(ranking.count) distinct ids, \(String(format: "%.1f", monotonicSeconds() - start)) s")

        let body = try target.truncated(toLayers: layers)
        let prompts = Self.evaluationPrompts.map { Self.chat(tokenizer, $0) }
        let references = try prompts.map { try GreedyDecoding.generate(model: target, prompt: $0, stopping: StoppingCriteria(maxNewTokens: newTokens, endOfSequenceIDs: eos)) }
        let evalCoverage = { (t: VocabTrim) in t.coverage(of: references.map(\.outputIDs)) }

        // Draft forward cost, single token after a 40-token context, averaged over 20 passes.
        func timePass(_ f: (KVCache) throws -> Void) throws -> Double {
            let cache = KVCache(shape: body.shape)
            _ = try body.forward(tokens: Array(prompts[0].prefix(40)), cache: cache, logitRows: .none)
            var total = 0.0
            for _ in 0..<20 {
                let s = monotonicSeconds()
                try f(cache)
                total += monotonicSeconds() - s
                cache.rollback(to: 40)
            }
            return total / 20 * 1000
        }
        let untrimmedMs = try timePass { _ = try body.forward(tokens: [42], cache: $0, logitRows: .last) }
        print("layer-skip draft (\(layers) of 30 layers), untrimmed: \(String(format: "%.2f", untrimmedMs)) ms/pass, head \(body.outputHead.packedByteCount / 1024) KiB (\(body.outputHead.encoding))")

        for k in [0, 16384, 8192, 4096, 2048] {
            var drafterGreedyMAT: [Double] = [], samplingMAT: [Double] = [], seconds = 0.0, identical = 0
            var label = "no trim"
            if k == 0 {
                for (i, prompt) in prompts.enumerated() {
                    var drafter = DraftModelDrafter(model: body, numTokens: gamma)
                    start = monotonicSeconds()
                    let g = try SpeculativeDecoding.generate(model: target, prompt: prompt, drafter: &drafter, maxDraftTokens: gamma,
                                                             stopping: StoppingCriteria(maxNewTokens: newTokens, endOfSequenceIDs: eos))
                    seconds += monotonicSeconds() - start
                    drafterGreedyMAT.append(g.statistics.meanAcceptedTokens)
                    if g.outputIDs == references[i].outputIDs { identical += 1 }
                    let s = try SpeculativeSampling.generate(target: target, draft: body, prompt: prompt, parameters: SamplingParameters(temperature: 0.7),
                                                             numDraftTokens: gamma, seed: UInt64(i), stopping: StoppingCriteria(maxNewTokens: newTokens, endOfSequenceIDs: eos))
                    samplingMAT.append(s.statistics.meanAcceptedTokens)
                }
            } else {
                let trim = try VocabTrim(ranking: ranking, count: k, vocabularySize: V, alwaysKeep: eos.sorted())
                let trimmed = try TrimmedHeadModel(model: body, trim: trim)
                let ms = try timePass { _ = try trimmed.trimmedLogits(after: [42], cache: $0) }
                label = "K \(k) (\(String(format: "%.1f", 100 * trim.headRowsSaved))% rows saved, head \(trimmed.headBytesPerToken.trimmed / 1024) KiB f32, eval coverage \(String(format: "%.3f", evalCoverage(trim))), \(String(format: "%.2f", ms)) ms/pass)"
                for (i, prompt) in prompts.enumerated() {
                    var drafter = VocabTrimDrafter(draft: trimmed, numTokens: gamma)
                    start = monotonicSeconds()
                    let g = try SpeculativeDecoding.generate(model: target, prompt: prompt, drafter: &drafter, maxDraftTokens: gamma,
                                                             stopping: StoppingCriteria(maxNewTokens: newTokens, endOfSequenceIDs: eos))
                    seconds += monotonicSeconds() - start
                    drafterGreedyMAT.append(g.statistics.meanAcceptedTokens)
                    if g.outputIDs == references[i].outputIDs { identical += 1 }
                    let s = try SpeculativeSampling.generate(target: target, draft: trimmed, prompt: prompt, parameters: SamplingParameters(temperature: 0.7),
                                                             numDraftTokens: gamma, seed: UInt64(i), stopping: StoppingCriteria(maxNewTokens: newTokens, endOfSequenceIDs: eos))
                    samplingMAT.append(s.statistics.meanAcceptedTokens)
                }
            }
            XCTAssertEqual(identical, prompts.count, "greedy speculative decoding must equal greedy decoding")
            func fmt(_ v: [Double]) -> String { v.map { String(format: "%.2f", $0) }.joined(separator: "/") }
            print("\(label): greedy MAT \(fmt(drafterGreedyMAT)), sampling T0.7 MAT \(fmt(samplingMAT)), greedy spec wall \(String(format: "%.1f", seconds)) s, identical \(identical)/\(prompts.count)")
        }
    }
}

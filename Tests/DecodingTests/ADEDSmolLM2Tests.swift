import XCTest
import Foundation
import Decoding
import Formats
import Tensors
import Tokenization
import Transformer

/// ADED on the real SmolLM2-135M-Instruct (skipped when the GGUF is absent). The benchmark runs
/// only with `ADED_BENCH=1` (release build): `ADED_BENCH=1 swift test -c release --filter ADEDSmolLM2Tests`.
final class ADEDSmolLM2Tests: XCTestCase {
    static func smolLM2() throws -> (any CausalLanguageModel, any Tokenizer) {
        let loaded = try SmolLM2TestModel.load()
        return (loaded.model, try XCTUnwrap(loaded.tokenizer))
    }

    static func chat(_ tokenizer: any Tokenizer, _ question: String) -> [Int] {
        tokenizer.encode(ChatTemplate.chatML.apply(messages: [(role: "user", content: question)], addGenerationPrompt: true))
    }

    func testADEDEqualsGreedyOnSmolLM2() throws {
        let (model, tokenizer) = try Self.smolLM2()
        for question in ["What is the capital of France? Answer in one sentence.",
                         "Write a Python function that returns the sum of a list of numbers."] {
            let prompt = Self.chat(tokenizer, question)
            let stopping = StoppingCriteria(maxNewTokens: 48)
            let reference = try GreedyDecoding.generate(model: model, prompt: prompt, stopping: stopping)
            // The table starts from the prompt itself (no external corpus here).
            var drafter = ADEDDrafter(table: ADEDDrafter.buildTable(fromTokenSequences: [prompt]), seed: 1)
            let g = try SpeculativeDecoding.generate(model: model, prompt: prompt, drafter: &drafter, maxDraftTokens: 64, stopping: stopping)
            XCTAssertEqual(g.outputIDs, reference.outputIDs, question)
            XCTAssertEqual(g.trace.map(\.logit), reference.trace.map(\.logit))
            XCTAssertGreaterThanOrEqual(g.statistics.meanAcceptedTokens, 1)
        }
    }

    /// MAT and wall-clock speedup against greedy in the same process, medians over alternating runs.
    func testBenchmarkMeanAcceptedTokensAndSpeedup() throws {
        guard ProcessInfo.processInfo.environment["ADED_BENCH"] == "1" else { throw XCTSkip("set ADED_BENCH=1 to benchmark") }
        setvbuf(stdout, nil, _IOLBF, 0)
        let (model, tokenizer) = try Self.smolLM2()
        let eos: Set<Int> = tokenizer.eosID.map { [$0] } ?? []
        let newTokens = 128
        let rounds = Int(ProcessInfo.processInfo.environment["ADED_ROUNDS"] ?? "3") ?? 3
        // Held-out questions whose greedy answers form the corpus (target-generated text).
        let corpusQuestions = [
            "Explain how a bicycle works.", "What are the benefits of regular exercise?",
            "Describe the water cycle.", "Write a short story about a cat who learns to fly.",
            "How do I make a cup of tea?", "What is machine learning?",
            "Give me three tips for studying effectively.", "Write a Python function that reverses a string.",
        ]
        var corpus: [[Int]] = []
        let corpusStart = monotonicSeconds()
        for q in corpusQuestions {
            let p = Self.chat(tokenizer, q)
            let g = try GreedyDecoding.generate(model: model, prompt: p, stopping: StoppingCriteria(maxNewTokens: 160, endOfSequenceIDs: eos))
            corpus.append(p + g.outputIDs)
        }
        let corpusTable = ADEDDrafter.buildTable(fromTokenSequences: corpus)
        print(String(format: "ADED-BENCH corpus: %d texts, %d tokens, %d keys, %.1f s",
                     corpus.count, corpus.reduce(0) { $0 + $1.count }, corpusTable.keyCount, monotonicSeconds() - corpusStart))

        let questions = [
            "What is the capital of France and what is it famous for?",
            "Write a Python function that checks whether a number is prime.",
            "Explain photosynthesis to a ten-year-old.",
            "List five healthy breakfast ideas.",
            "What are the main differences between cats and dogs as pets?",
        ]
        struct Setting { let name: String; let table: Bool; let choices: Int; let maxDraft: Int }
        let settings = [
            Setting(name: "prompt-table/64", table: false, choices: 64, maxDraft: 64),
            Setting(name: "corpus-table/64", table: true, choices: 64, maxDraft: 64),
            Setting(name: "corpus-table/16", table: true, choices: 16, maxDraft: 16),
        ]
        var speedups = [[Double]](repeating: [], count: settings.count)
        var mats = [[Double]](repeating: [], count: settings.count)
        for q in questions {
            let prompt = Self.chat(tokenizer, q)
            let stopping = StoppingCriteria(maxNewTokens: newTokens, endOfSequenceIDs: eos)
            var greedyTimes: [Double] = []
            var times = [[Double]](repeating: [], count: settings.count)
            var mat = [Double](repeating: 0, count: settings.count)
            var reference: [Int] = []
            for _ in 0..<rounds {
                let g = try GreedyDecoding.generate(model: model, prompt: prompt, stopping: stopping)
                greedyTimes.append(g.statistics.decodeSeconds)
                reference = g.outputIDs
                for (i, s) in settings.enumerated() {
                    var c = ADEDDrafter.Configuration()
                    c.choices = s.choices
                    // A fresh drafter each run, so a repeated prompt cannot learn from an earlier run.
                    let table = ADEDDrafter.buildTable(fromTokenSequences: s.table ? corpus + [prompt] : [prompt])
                    var d = ADEDDrafter(table: table, configuration: c, seed: 1)
                    let a = try SpeculativeDecoding.generate(model: model, prompt: prompt, drafter: &d, maxDraftTokens: s.maxDraft, stopping: stopping)
                    XCTAssertEqual(a.outputIDs, g.outputIDs)
                    times[i].append(a.statistics.decodeSeconds)
                    mat[i] = a.statistics.meanAcceptedTokens
                }
            }
            let gm = median(greedyTimes)
            var line = String(format: "ADED-BENCH %@ | %d tokens | greedy %.2f s (%.1f tok/s)", String(q.prefix(28)), reference.count, gm, Double(reference.count) / gm)
            for (i, s) in settings.enumerated() {
                let m = median(times[i])
                speedups[i].append(gm / m)
                mats[i].append(mat[i])
                line += String(format: " | %@ MAT %.2f %.2fx", s.name, mat[i], gm / m)
            }
            print(line)
        }
        for (i, s) in settings.enumerated() {
            print(String(format: "ADED-BENCH summary %@: MAT mean %.2f, speedup median %.2fx (per prompt %@)", s.name,
                         mats[i].reduce(0, +) / Double(mats[i].count), median(speedups[i]),
                         speedups[i].map { String(format: "%.2f", $0) }.joined(separator: " ")))
        }
    }

    func median(_ x: [Double]) -> Double {
        let s = x.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }
}

import Foundation
import XCTest
import Decoding
import Formats
import Tokenization
import Transformer
@testable import Benchmarks

final class SpecBenchRunTests: XCTestCase {
    /// Three pre-tokenized questions in two categories, with repeats for the drafters to find.
    let prompts = [
        SpecBenchPrompt(question: SpecBenchQuestion(id: 1, category: "writing", firstTurn: ""), ids: [5, 6, 5, 6, 5, 6, 5]),
        SpecBenchPrompt(question: SpecBenchQuestion(id: 2, category: "math", firstTurn: ""), ids: [10, 11, 12, 10, 11]),
        SpecBenchPrompt(question: SpecBenchQuestion(id: 3, category: "writing", firstTurn: ""), ids: [100, 7, 100, 7, 100]),
    ]

    func testEveryMethodIsTokenIdenticalToGreedyWithMATAtLeastOneOnASyntheticModel() throws {
        let model = try SyntheticModels.model(SyntheticModels.tinyA)
        var statisticsCalls = 0
        let recycling = try TokenRecyclingVariant.variants([(nodes: 3, shape: .chain, draftThreshold: 0), (nodes: 8, shape: .reference, draftThreshold: 0)])
        let methods: [SpecBenchMethod] = [.greedy, .promptLookup(numTokens: 4, maxMatchingNgramSize: 2)]
            + recycling.map { .tokenRecycling($0, vocabularySize: model.shape.vocabularySize, afterEachRun: { drafter in
                statisticsCalls += 1
                XCTAssertGreaterThan(drafter.observedSteps, 0)
            }) }
        var progress: [SpecBenchProgress] = []
        let report = try SpecBench.run(model: model, prompts: prompts, methods: methods, stopping: StoppingCriteria(maxNewTokens: 16)) { progress.append($0) }

        XCTAssertEqual(report.methods, ["greedy", "prompt-lookup", "token-recycling@3-chain", "token-recycling@8"])
        XCTAssertEqual(report.categories, ["writing", "math"])
        XCTAssertEqual(report.runs.count, 12)
        XCTAssertTrue(report.allIdenticalToBaseline, "\(report.runs.filter { !$0.identicalToBaseline })")
        XCTAssertEqual(statisticsCalls, 6, "once per question for each of the two trees")
        for result in report.results {
            XCTAssertEqual(result.rows.map(\.method), report.methods, result.name)
            for row in result.rows {
                XCTAssertGreaterThanOrEqual(row.meanAcceptedTokens, 1, "\(result.name) \(row.method)")
                XCTAssertTrue(row.identicalToBaseline)
            }
            XCTAssertEqual(result.rows[0].meanAcceptedTokens, 1, "greedy makes one token per step")
            XCTAssertEqual(result.rows[0].speedup, 1)
        }
        XCTAssertEqual(report.results.map(\.name), ["writing", "math", "overall"])
        // Progress: one report per generation, in run order.
        XCTAssertEqual(progress.map(\.completedRuns), Array(1...12))
        XCTAssertTrue(progress.allSatisfy { $0.totalRuns == 12 && $0.mismatchMessage == nil })
        XCTAssertTrue(progress[1].statusLine.hasPrefix("[2/12] writing q1 prompt-lookup: \(report.runs[1].tokens) tokens, "), progress[1].statusLine)
    }

    func testPerCategoryRowsAreTheSumsOfTheirRunsInQuestionOrder() throws {
        let model = try SyntheticModels.model(SyntheticModels.tinyA)
        let report = try SpecBench.run(model: model, prompts: prompts, methods: [.greedy, .promptLookup(numTokens: 3, maxMatchingNgramSize: 2)],
                                       stopping: StoppingCriteria(maxNewTokens: 12))
        // By hand from the runs: writing = questions 1 and 3, math = question 2.
        func row(_ category: String, _ method: String) throws -> SpecBenchRow {
            try XCTUnwrap(report.results.first { $0.name == category }?.rows.first { $0.method == method })
        }
        for (category, ids) in [("writing", [1, 3]), ("math", [2]), ("overall", [1, 2, 3])] {
            for method in ["greedy", "prompt-lookup"] {
                let runs = report.runs.filter { ids.contains($0.questionID) && $0.method == method }
                let base = report.runs.filter { ids.contains($0.questionID) && $0.method == "greedy" }
                let r = try row(category, method)
                let tokens = runs.map(\.tokens).reduce(0, +)
                XCTAssertEqual(r.totals.tokens, tokens)
                XCTAssertEqual(r.meanAcceptedTokens, Double(runs.map(\.stepTokens).reduce(0, +)) / Double(runs.map(\.steps).reduce(0, +)))
                let seconds = runs.map(\.seconds).reduce(0, +), baseSeconds = base.map(\.seconds).reduce(0, +)
                let baseTokens = base.map(\.tokens).reduce(0, +)
                XCTAssertEqual(r.tokensPerSecond, Double(tokens) / seconds, accuracy: 1e-9 * r.tokensPerSecond)
                XCTAssertEqual(r.speedup, (Double(tokens) / seconds) / (Double(baseTokens) / baseSeconds), accuracy: 1e-9)
                let decode = runs.map(\.decodeSeconds).reduce(0, +), baseDecode = base.map(\.decodeSeconds).reduce(0, +)
                XCTAssertEqual(r.decodeSpeedup, (Double(tokens) / decode) / (Double(baseTokens) / baseDecode), accuracy: 1e-9)
            }
        }
    }

    func testHandMadeRunsAggregateToTheHandComputedTable() throws {
        func run(_ q: Int, _ c: String, _ m: String, _ tokens: Int, _ s: Double, _ d: Double, _ steps: Int, _ stepTokens: Int, same: Bool = true) -> SpecBenchRun {
            SpecBenchRun(questionID: q, category: c, method: m, tokens: tokens, seconds: s, decodeSeconds: d, steps: steps, stepTokens: stepTokens,
                         identicalToBaseline: same)
        }
        let report = SpecBenchReport(runs: [
            run(1, "writing", "greedy", 8, 2.0, 1.0, 7, 7), run(1, "writing", "prompt-lookup", 8, 1.0, 0.5, 2, 7),
            run(2, "math", "greedy", 4, 1.0, 0.5, 3, 3), run(2, "math", "prompt-lookup", 4, 2.0, 1.0, 3, 3, same: false),
            run(3, "writing", "greedy", 8, 2.0, 1.5, 7, 7), run(3, "writing", "prompt-lookup", 8, 1.0, 1.0, 4, 7),
        ], methods: ["greedy", "prompt-lookup"], categories: ["writing", "math", "empty"], questionCount: 3, maxNewTokens: 8, threadCount: 2)
        XCTAssertEqual(report.results.map(\.name), ["writing", "math", "overall"], "a category without runs is left out")
        let writing = report.results[0].rows, math = report.results[1].rows, overall = report.results[2].rows
        // writing: greedy 16 tokens / 4 s = 4 tok/s (decode 16 / 2.5 = 6.4); prompt lookup 16 / 2 = 8 (decode 16 / 1.5).
        XCTAssertEqual(writing[0].tokensPerSecond, 4)
        XCTAssertEqual(writing[0].decodeTokensPerSecond, 6.4)
        XCTAssertEqual(writing[1].meanAcceptedTokens, 14.0 / 6.0)
        XCTAssertEqual(writing[1].tokensPerSecond, 8)
        XCTAssertEqual(writing[1].speedup, 2)
        XCTAssertEqual(writing[1].decodeSpeedup, 2.5 / 1.5, accuracy: 1e-12)
        XCTAssertTrue(writing[1].identicalToBaseline)
        // math: prompt lookup half as fast, and one mismatch.
        XCTAssertEqual(math[1].speedup, 0.5)
        XCTAssertEqual(math[1].decodeSpeedup, 0.5)
        XCTAssertEqual(math[1].totals.mismatches, 1)
        XCTAssertFalse(math[1].identicalToBaseline)
        // overall: greedy 20 / 5 s = 4; prompt lookup 20 / 4 s = 5 → 1.25×; decode 20 / 2.5 = 8 over 20 / 3 → 1.2×; MAT 17 / 9.
        XCTAssertEqual(overall[0].totals, { var t = SpecBenchTotals(); t.tokens = 20; t.seconds = 5; t.decodeSeconds = 3; t.steps = 17; t.stepTokens = 17; return t }())
        XCTAssertEqual(overall[1].speedup, 1.25)
        XCTAssertEqual(overall[1].decodeSpeedup, 1.2, accuracy: 1e-12)
        XCTAssertEqual(overall[1].meanAcceptedTokens, 17.0 / 9.0)
        XCTAssertEqual(overall[1].totals.mismatches, 1)
        XCTAssertFalse(report.allIdenticalToBaseline)

        // The printed table, as `bench --spec-bench` has always printed it.
        let lines = report.table().split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        XCTAssertEqual(lines[0], "Spec-Bench: 3 questions (first turn, ChatML, greedy), up to 8 new tokens, 2 threads")
        XCTAssertEqual(Array(lines[1...5]), [
            "",
            "writing",
            "  method              MAT   tokens/s  speedup   decode tok/s  decode speedup  identical",
            "  greedy             1.00        4.0    1.00×           6.4           1.00×  yes",
            "  prompt-lookup      2.33        8.0    2.00×          10.7           1.67×  yes",
        ])
        XCTAssertEqual(lines[10], "  prompt-lookup      1.00        2.0    0.50×           4.0           0.50×  NO (1)")
        XCTAssertEqual(lines.count, 16)
        XCTAssertEqual(lines[12], "overall")

        // The JSON document's keys, in order.
        guard case .object(let top) = report.json() else { return XCTFail("not an object") }
        XCTAssertEqual(top.map(\.0), ["questions", "max_new_tokens", "threads", "categories"])
        guard case .object(let categories) = top[3].1, case .object(let methods) = categories[1].1, case .object(let fields) = methods[1].1 else {
            return XCTFail("categories are not objects")
        }
        XCTAssertEqual(categories.map(\.0), ["writing", "math", "overall"])
        XCTAssertEqual(fields.map(\.0), ["mat", "tokens_per_second", "speedup", "decode_tokens_per_second", "decode_speedup", "tokens", "identical_to_greedy"])
        XCTAssertEqual(fields[6].1, .bool(false))
    }

    func testChatMLQuestionsRunThroughTheTokenizerAndStayIdenticalToGreedy() throws {
        let tokenizer = try BenchmarkFixtures.tinyTokenizer()
        let model = try BenchmarkFixtures.modelForTinyTokenizer()
        let questions = [SpecBenchQuestion(id: 1, category: "writing", firstTurn: "the cat sat on the mat, the cat sat"),
                         SpecBenchQuestion(id: 2, category: "qa", firstTurn: "what is the sum of 12 and 12?")]
        let selection = SpecBenchSelection(from: questions, perCategory: 1)
        let report = try SpecBench.run(model: model, tokenizer: tokenizer, selection: selection,
                                       methods: [.greedy, .promptLookup(numTokens: 4, maxMatchingNgramSize: 2),
                                                 .tokenRecycling(TokenRecyclingVariant.defaults[1], vocabularySize: 608)],
                                       stopping: StoppingCriteria(maxNewTokens: 10))
        XCTAssertTrue(report.allIdenticalToBaseline)
        XCTAssertEqual(report.results.map(\.name), ["writing", "qa", "overall"])
        let prompt = SpecBenchPrompt(question: questions[0], tokenizer: tokenizer)
        XCTAssertEqual(prompt.ids, tokenizer.encode(ChatTemplate.chatML.apply(messages: [(role: "user", content: questions[0].firstTurn)],
                                                                           addGenerationPrompt: true)))
        // The template's default system turn, then the question as the user turn and the generation prompt.
        let turn = tokenizer.encode("<|im_start|>user\nthe cat sat on the mat, the cat sat<|im_end|>\n<|im_start|>assistant\n")
        XCTAssertEqual(Array(prompt.ids.suffix(turn.count)), turn)
    }

    func testARunWithoutMethodsIsATypedError() throws {
        let model = try SyntheticModels.model(SyntheticModels.tinyA)
        XCTAssertThrowsError(try SpecBench.run(model: model, prompts: prompts, methods: [], stopping: StoppingCriteria(maxNewTokens: 2))) {
            XCTAssertEqual($0 as? BenchmarkError, .noMethods)
        }
    }
}

final class SpecBenchMethodTests: XCTestCase {
    let all: [SpecBenchMethod] = [.greedy, .promptLookup(numTokens: 10, maxMatchingNgramSize: 2), .aded]
        + TokenRecyclingVariant.defaults.map { .tokenRecycling($0, vocabularySize: 16) }

    func testSelectionPutsGreedyFirstAndABaseNameSelectsItsVariants() throws {
        XCTAssertEqual(try SpecBenchMethod.select(["token-recycling"], from: all).map(\.name),
                       ["greedy", "token-recycling", "token-recycling@6-chain-p0.3"])
        XCTAssertEqual(try SpecBenchMethod.select(["aded", "greedy", "prompt-lookup"], from: all).map(\.name), ["greedy", "aded", "prompt-lookup"],
                       "greedy moves first and runs once")
        XCTAssertEqual(try SpecBenchMethod.select(["greedy", "aded", "aded"], from: all).map(\.name), ["greedy", "aded"])
    }

    func testUnknownMethodIsATypedErrorListingTheAvailableOnes() {
        XCTAssertThrowsError(try SpecBenchMethod.select(["greedy", "medusa"], from: all)) { error in
            XCTAssertEqual(error as? BenchmarkError, .unknownMethod(name: "medusa", available: all.map(\.name)))
            XCTAssertTrue("\(error)".contains("available: greedy, prompt-lookup, aded, token-recycling, token-recycling@6-chain-p0.3"), "\(error)")
        }
    }

    func testVariantNamesStateSizeShapeAndThresholdAndASingleTreeIsTokenRecycling() throws {
        let three = try TokenRecyclingVariant.variants([(nodes: 1, shape: .compact, draftThreshold: 0), (nodes: 3, shape: .reference, draftThreshold: 0),
                                                        (nodes: 4, shape: .chain, draftThreshold: 0.3), (nodes: 3, shape: .reference, draftThreshold: 0)])
        XCTAssertEqual(three.map(\.name), ["token-recycling@1-compact", "token-recycling@3", "token-recycling@4-chain-p0.3"], "repeats dropped")
        XCTAssertEqual(three.map(\.tree), [.compact(nodes: 1), .reference(nodes: 3), .chain(depth: 4)])
        XCTAssertEqual(three.map(\.draftThreshold), [0, 0, 0.3])
        XCTAssertEqual(try TokenRecyclingVariant.variants([(nodes: 6, shape: .chain, draftThreshold: 0.3)]).map(\.name), ["token-recycling"])
        XCTAssertEqual(TokenRecyclingVariant.defaults.map(\.name), ["token-recycling", "token-recycling@6-chain-p0.3"])
        XCTAssertEqual(TokenRecyclingVariant.defaults[0].tree.count, 80)
        for bad in [(nodes: 0, shape: TokenRecyclingTreeShape.reference, draftThreshold: 0.0), (nodes: 81, shape: .reference, draftThreshold: 0),
                    (nodes: 2, shape: .chain, draftThreshold: 1)] {
            XCTAssertThrowsError(try TokenRecyclingVariant.variants([bad])) { XCTAssertTrue($0 is BenchmarkError) }
        }
    }

    func testTreeStatisticsListEveryNodeInTreeOrder() throws {
        let model = try SyntheticModels.model(SyntheticModels.tinyA)
        var drafter = TokenRecyclingDrafter(vocabularySize: 512, tree: .chain(depth: 3), draftThreshold: 0.3)
        _ = try SpeculativeDecoding.generate(model: model, prompt: [5, 6, 5, 6], drafter: &drafter, maxDraftTokens: 3,
                                             stopping: StoppingCriteria(maxNewTokens: 10), traceTopK: 0)
        guard case .object(let fields) = TokenRecyclingTreeStatistics.json(for: drafter), case .array(let nodes) = fields[1].1 else {
            return XCTFail("not an object")
        }
        XCTAssertEqual(fields.map(\.0), ["steps", "nodes", "estimator_states"])
        XCTAssertEqual(fields[0].1, .int(drafter.observedSteps))
        XCTAssertEqual(nodes, (0..<3).map { i in .object([("path", .ints(Array(repeating: 0, count: i + 1))), ("accepted", .int(drafter.nodeHits[i]))]) })
    }
}

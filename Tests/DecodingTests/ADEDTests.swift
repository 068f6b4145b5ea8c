import XCTest
import Decoding
import Tensors
import Transformer

final class ADEDTests: XCTestCase {
    // MARK: Tri-gram table, hand-computed

    func testTableCountsTrigramsPerSequenceAndNormalisesPerKey() {
        let t = ADEDTrigramTable(countingTrigramsIn: [[1, 2, 3, 1, 2, 4, 1, 2, 3], [9, 1], [2, 3, 7]])
        XCTAssertEqual(t.successors(1, 2), [.init(token: 3, value: Float(2) / Float(3)), .init(token: 4, value: Float(1) / Float(3))])
        // (2, 3) is followed by 1 in the first text and by 7 in the third; no tri-gram spans texts.
        XCTAssertEqual(t.successors(2, 3), [.init(token: 1, value: 0.5), .init(token: 7, value: 0.5)])
        XCTAssertEqual(t.successors(3, 1), [.init(token: 2, value: 1)])
        XCTAssertNil(t.value(3, 9, 1))
        XCTAssertEqual(t.keys, [.init(1, 2), .init(2, 3), .init(2, 4), .init(3, 1), .init(4, 1)])
        XCTAssertEqual(t.entryCount, 7)
    }

    func testPruningKeepsLargestValuesAndLowestTokenIdsAmongTies() {
        // (5, 6): 7 ×2, 8 ×2, 9 ×1, 3 ×2 → keep 2: values tie at 2/7 between 3, 7, 8 → 3 and 7.
        let seq = [[5, 6, 7], [5, 6, 7], [5, 6, 8], [5, 6, 8], [5, 6, 9], [5, 6, 3], [5, 6, 3]]
        let t = ADEDDrafter.buildTable(fromTokenSequences: seq, successorsPerKey: 2)
        XCTAssertEqual(t.successors(5, 6).map(\.token), [3, 7])
        XCTAssertEqual(ADEDDrafter.buildTable(fromTokenSequences: seq).successors(5, 6).map(\.token), [3, 7, 8, 9])
    }

    func testOnlineUpdateAddsPointZeroFourPerOccurrenceInsideTheLastSixteenTokensAndClipsAtThree() {
        var t = ADEDTrigramTable()
        t.reinforceRecentTrigrams(of: [1, 2, 3, 1, 2, 3])
        // (1,2,3) occurs twice → 0 + 0.04 + 0.04 in Float32.
        XCTAssertEqual(t.value(1, 2, 3), Float(0.04) + Float(0.04))
        XCTAssertEqual(t.value(2, 3, 1), Float(0.04))
        XCTAssertEqual(t.value(3, 1, 2), Float(0.04))
        XCTAssertEqual(t.entryCount, 3)

        // 20 tokens: only tri-grams starting at i >= 4 are inside the window.
        var w = ADEDTrigramTable()
        let seq = Array(100..<120)
        w.reinforceRecentTrigrams(of: seq)
        XCTAssertEqual(w.keys.map(\.a), Array(104...117))
        XCTAssertNil(w.value(103, 104, 105))

        // Clip: 2.99 + 0.04 → 3.0; other entries untouched.
        var c = ADEDTrigramTable(countingTrigramsIn: [[1, 2, 3], [1, 2, 4]])
        for _ in 0..<80 { c.reinforce(1, 2, 3) }
        XCTAssertEqual(c.value(1, 2, 3), 3.0)
        XCTAssertEqual(c.value(1, 2, 4), 0.5)
        var v: Float = 0.5
        for _ in 0..<80 { v += 0.04; if v > 3 { v = 3 } }
        XCTAssertEqual(v, 3)
        // Short sequences change nothing.
        var e = ADEDTrigramTable()
        e.reinforceRecentTrigrams(of: [1, 2])
        XCTAssertEqual(e, ADEDTrigramTable())
    }

    // MARK: MCTS, hand-computed

    /// T[(1,2)] = {3: 0.75, 4: 0.25}, T[(2,3)] = {5: 1}; (2,4) and (3,5) have no successors.
    func smallTable() -> ADEDTrigramTable {
        // Counts: (1,2)→3 ×3, (1,2)→4 ×1, (2,3)→5 ×1.
        ADEDTrigramTable(countingTrigramsIn: [[1, 2, 3], [1, 2, 3], [1, 2, 3], [1, 2, 4], [2, 3, 5]])
    }

    func testFirstIterationsExpandTheLastChildThenVisitTheUnvisitedFirstChild() {
        var tree = ADEDSearchTree(previous: 1, token: 2, table: smallTable())
        var random = Xoshiro256StarStar(seed: 1)
        // 1: expand the root (children (2,3) p .75 and (2,4) p .25), move to the last one, (2,4);
        //    no successors → no roll-out; G = 1 + T[(1,2)][2] (absent) = 1.
        XCTAssertEqual(tree.iterate(random: &random), 1)
        XCTAssertEqual(tree.nodes[0].children, [1, 2])
        XCTAssertEqual(tree.nodes.map(\.token), [2, 3, 4])
        XCTAssertEqual(tree.nodes.map(\.prior), [0, 0.75, 0.25])
        XCTAssertEqual(tree.nodes.map(\.visits), [1, 0, 1])
        // 2: (2,3) is unvisited (+inf) → selected; expanded to (3,5) with prior T[(2,3)][5] = 1.
        tree.iterate(random: &random)
        XCTAssertEqual(tree.nodes.map(\.token), [2, 3, 4, 5])
        XCTAssertEqual(tree.nodes[3].prior, 1)
        XCTAssertEqual(tree.nodes.map(\.visits), [2, 1, 1, 1])
        // 3: PUCT at N = 2: (2,3): 1 + E·0.75·√2/2 beats (2,4): 1 + E·0.25·√2/2; then (3,5).
        let e = 32 + DeterministicMath.log((2 + 8 + 1) / Float(8))
        XCTAssertEqual(ADEDSearchTree.puct(score: 1, visits: 1, prior: 0.75, parentVisits: 2, c1: 32, c2: 8),
                       1 + e * 0.75 * Float(2).squareRoot() / 2)
        tree.iterate(random: &random)
        XCTAssertEqual(tree.nodes.map(\.visits), [3, 2, 1, 2])
        XCTAssertEqual(tree.nodes.map(\.score), [3, 2, 1, 2])
        // No roll-out happened, so no uniform was drawn.
        var untouched = Xoshiro256StarStar(seed: 1)
        XCTAssertEqual(random.next(), untouched.next())
        // Extraction: by visits, ties in walk order; each extended by the best successor.
        XCTAssertEqual(tree.sentences(), [[2], [2, 3, 5], [2, 3, 5], [2, 4]])
        XCTAssertEqual(ADEDDrafter.uniquePaths(tree.sentences()), [[3, 5], [4]])
    }

    func testRollOutDrawsOneUniformPerStepAndReturnSumsRepetitionProbabilities() {
        // T[(1,2)] = {2: .5, 3: .5}; T[(2,3)] = {4: .25, 5: .75}; T[(2,2)] = {2: 1}.
        let table = ADEDTrigramTable(countingTrigramsIn: [[1, 2, 2], [1, 2, 3], [2, 3, 4], [2, 3, 5], [2, 3, 5], [2, 3, 5], [2, 2, 2]])
        for seed: UInt64 in 0..<8 {
            var tree = ADEDSearchTree(previous: 1, token: 2, table: table)
            var random = Xoshiro256StarStar(seed: seed)
            var copy = Xoshiro256StarStar(seed: seed)
            let u = copy.nextUniformFloat()
            // Expansion goes to (2,3) (last child); roll-out: one draw picks 4 if u <= .25, else 5;
            // then T[(3,4)] / T[(3,5)] are absent.
            let g = tree.iterate(random: &random)
            // G = 1 + T[(1,2)][2] + T[(2,3)][3] (absent) = 1.5 — the reference's repetition sum.
            XCTAssertEqual(g, 1.5)
            XCTAssertEqual(random.next(), copy.next(), "exactly one uniform consumed")
            _ = u
        }
        // The sampled token follows the cumulative rule.
        var tree = ADEDSearchTree(previous: 2, token: 3, table: table, sentenceLength: 2)
        var random = Xoshiro256StarStar(seed: 3)
        tree.iterate(random: &random)  // expands (3,4), (3,5): no roll-out at sentence length 2.
        XCTAssertEqual(tree.nodes.map(\.token), [3, 4, 5])
    }

    func testSearchVisitsRootOncePerIterationAndPriorsEqualTableEntries() {
        var rng = Xoshiro256StarStar(seed: 42)
        var texts: [[Int]] = []
        for _ in 0..<40 { texts.append((0..<30).map { _ in Int(rng.next() % 12) }) }
        let table = ADEDDrafter.buildTable(fromTokenSequences: texts)
        for (a, b) in [(1, 2), (3, 3), (7, 0)] {
            var tree = ADEDSearchTree(previous: a, token: b, table: table)
            var random = Xoshiro256StarStar(seed: 9)
            tree.run(iterations: 150, random: &random)
            XCTAssertEqual(tree.nodes[0].visits, 150)
            for (i, node) in tree.nodes.enumerated() where i > 0 {
                let parent = tree.nodes[node.parent]
                XCTAssertEqual(node.prior, table.value(parent.previous, parent.token, node.token) ?? 0)
                XCTAssertEqual(node.previous, parent.token)
                // An expanded node's visits went on to its children, except the one it got as the
                // last-created child of its own parent's expansion (the root has no such visit).
                let extra = parent.visits - parent.children.reduce(0) { $0 + tree.nodes[$1].visits }
                XCTAssertTrue(node.parent == 0 ? extra == 0 : (extra == 0 || extra == 1), "\(extra)")
            }
            let sentences = tree.sentences()
            XCTAssertLessThanOrEqual(sentences.count, 24)
            XCTAssertTrue(sentences.allSatisfy { $0.first == b && $0.count <= 5 })
        }
    }

    // MARK: Draft construction, hand-computed

    func testCutToChoicesRemovesHeaviestPathsWhileTheWeightSumExceedsTheBudget() {
        let paths = [[1, 2, 3], [4, 4], [5], [6, 7]]   // weights 3, 1, 1, 2: sum 7
        XCTAssertEqual(ADEDDrafter.cutToChoices(paths, choices: 4), [[4, 4], [5], [6, 7]])
        XCTAssertEqual(ADEDDrafter.cutToChoices(paths, choices: 7), paths)
        XCTAssertEqual(ADEDDrafter.cutToChoices(paths, choices: 1), [[5]])
    }

    func testTreeIsTheTrieOfThePathsInDepthThenFirstAppearanceOrder() {
        let tree = ADEDDrafter.tree(paths: [[10, 20], [11, 20], [10, 21, 30]], maxNodes: 64)
        // depth 0: 10→0, 11→1; depth 1: 20→0, 21→1; nodes [0] [1] [0,0] [0,1] [1,0] [0,1,0].
        XCTAssertEqual(tree.tokens, [10, 11, 20, 21, 20, 30])
        XCTAssertEqual(tree.parents, [-1, -1, 0, 0, 1, 3])
        let cut = ADEDDrafter.tree(paths: [[10, 20], [11, 20], [10, 21, 30]], maxNodes: 3)
        XCTAssertEqual(cut.tokens, [10, 11, 20])
    }

    func testEmptyTableDraftsTheFallbackTokenAndLearnsTheRecentTrigrams() throws {
        var d = ADEDDrafter()
        XCTAssertEqual(try d.draft(sequence: [5, 6, 7, 8], maxTokens: 10), DraftTree(chain: [100]))
        XCTAssertEqual(d.fallbackDrafts, 1)
        XCTAssertEqual(d.table.value(5, 6, 7), 0.04)
        XCTAssertEqual(d.table.value(6, 7, 8), 0.04)
        // Now (7, 8) → ? is unknown, but after "7 8 5 6 7 8" the root (7, 8) has successor 5.
        let tree = try d.draft(sequence: [5, 6, 7, 8, 5, 6, 7, 8], maxTokens: 10)
        XCTAssertEqual(tree.tokens.first, 5)
        XCTAssertEqual(Array(tree.tokens.prefix(4)), [5, 6, 7, 8])
        XCTAssertEqual(tree.parents.prefix(4).map { $0 }, [-1, 0, 1, 2])
        XCTAssertEqual(try d.draft(sequence: [5, 6, 7, 8, 5, 6, 7, 8], maxTokens: 2).count, 2)
    }

    // MARK: Properties

    func testDraftTreesRespectTheSizeDepthAndTrieInvariants() throws {
        var rng = Xoshiro256StarStar(seed: 5)
        var texts: [[Int]] = []
        for _ in 0..<60 { texts.append((0..<40).map { _ in Int(rng.next() % 9) }) }
        var d = ADEDDrafter(table: ADEDDrafter.buildTable(fromTokenSequences: texts), seed: 3)
        for _ in 0..<30 {
            let seq = (0..<(3 + Int(rng.next() % 20))).map { _ in Int(rng.next() % 9) }
            let tree = try d.draft(sequence: seq, maxTokens: 64)
            XCTAssertGreaterThan(tree.count, 0)
            XCTAssertLessThanOrEqual(tree.count, 64)
            XCTAssertLessThanOrEqual(tree.depth, 4)
            var childTokens = Set<[Int]>()
            for i in 0..<tree.count {
                XCTAssertLessThan(tree.parents[i], i)
                XCTAssertTrue(childTokens.insert([tree.parents[i], tree.tokens[i]]).inserted, "siblings carry distinct tokens")
            }
        }
    }

    // MARK: Greedy identity and determinism on synthetic models

    func greedy(_ model: any CausalLanguageModel, _ prompt: [Int], _ n: Int) throws -> Generation {
        try GreedyDecoding.generate(model: model, prompt: prompt, stopping: StoppingCriteria(maxNewTokens: n))
    }

    func testADEDEqualsGreedyOnSyntheticModelsForAnyTableSeedAndBudget() throws {
        for preset in SyntheticModels.presets {
            let model = try SyntheticModels.model(preset)
            for prompt in [[1, 2, 3], [40, 41, 40, 41, 40], [9, 8]] {
                let reference = try greedy(model, prompt, 40)
                let other = try greedy(model, [7, 7, 100], 60).outputIDs
                let tables: [ADEDTrigramTable] = [
                    ADEDTrigramTable(),
                    ADEDDrafter.buildTable(fromTokenSequences: [prompt]),
                    ADEDDrafter.buildTable(fromTokenSequences: [[7, 7, 100] + other]),
                    ADEDDrafter.buildTable(fromTokenSequences: [prompt + reference.outputIDs]),
                ]
                for (t, table) in tables.enumerated() {
                    for (seed, budget) in [(UInt64(0), 64), (UInt64(7), 6)] {
                        var config = ADEDDrafter.Configuration()
                        if budget < 64 { config.iterations = 40 }
                        var drafter = ADEDDrafter(table: table, configuration: config, seed: seed)
                        let g = try SpeculativeDecoding.generate(model: model, prompt: prompt, drafter: &drafter, maxDraftTokens: budget,
                                                                 stopping: StoppingCriteria(maxNewTokens: 40))
                        XCTAssertEqual(g.outputIDs, reference.outputIDs, "\(preset.name) \(prompt) table \(t) seed \(seed)")
                        XCTAssertEqual(g.trace.map(\.logit), reference.trace.map(\.logit))
                        for step in g.trace where step.drafted != nil {
                            XCTAssertLessThanOrEqual(step.drafted!.count, budget)
                            XCTAssertLessThanOrEqual(step.accepted!, 4)
                        }
                        if t == 3 {
                            // A table holding the answer itself drafts it: clearly more than 1 token per step.
                            XCTAssertGreaterThan(g.statistics.meanAcceptedTokens, 2.0, "\(preset.name) \(prompt)")
                        }
                    }
                }
            }
        }
    }

    func testSameSeedGivesSameDraftsAndStatisticsAndThreadCountDoesNotMatter() throws {
        let model = try SyntheticModels.model(SyntheticModels.tinyA)
        let prompt = [3, 1, 4, 1, 5, 9, 2, 6]
        let corpus = try greedy(model, [2, 7, 1, 8], 80).outputIDs
        let table = ADEDDrafter.buildTable(fromTokenSequences: [corpus, prompt])
        func run(seed: UInt64, threads: Int) throws -> (Generation, ADEDDrafter) {
            let pool = ParallelFor(threadCount: threads)
            defer { pool.shutdown() }
            var d = ADEDDrafter(table: table, seed: seed)
            let g = try SpeculativeDecoding.generate(model: model, prompt: prompt, drafter: &d, maxDraftTokens: 64,
                                                     stopping: StoppingCriteria(maxNewTokens: 48), pool: pool)
            return (g, d)
        }
        let (a, da) = try run(seed: 11, threads: 1)
        let (b, db) = try run(seed: 11, threads: 2)
        XCTAssertEqual(a.outputIDs, b.outputIDs)
        XCTAssertEqual(a.trace, b.trace, "same drafts, same accepted counts, same logits")
        XCTAssertEqual(da.table, db.table)
        var ra = da.random, rb = db.random
        XCTAssertEqual(ra.next(), rb.next())
        XCTAssertNotEqual(da.table, table, "the online updates changed the table")
        XCTAssertEqual(da.fallbackDrafts, db.fallbackDrafts)
        // Another seed: same tokens (lossless), possibly different drafts.
        let (c, _) = try run(seed: 12, threads: 2)
        XCTAssertEqual(c.outputIDs, a.outputIDs)
        XCTAssertEqual(a.outputIDs, try greedy(model, prompt, 48).outputIDs)
    }
}

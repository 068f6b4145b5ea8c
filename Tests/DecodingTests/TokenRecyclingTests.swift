import Foundation
import XCTest
import Decoding
import Formats
import Tensors
import Tokenization
import Transformer

final class TokenRecyclingTests: XCTestCase {
    // MARK: - Template

    func testReferenceTemplateHas80NodesDepth6WithParentsBeforeChildren() {
        let tree = TokenRecyclingTree.reference
        XCTAssertEqual(tree.count, 80)
        XCTAssertEqual(tree.depth, 6)
        XCTAssertEqual(tree.maxRank, 7)
        let perDepth = (1...6).map { d in tree.paths.filter { $0.count == d }.count }
        XCTAssertEqual(perDepth, [8, 21, 25, 15, 8, 3])
        var hasChild = [Bool](repeating: false, count: tree.count)
        for (i, p) in tree.parents.enumerated() {
            XCTAssertLessThan(p, i, "parents precede children")
            if p >= 0 {
                hasChild[p] = true
                XCTAssertEqual(tree.paths[p], Array(tree.paths[i].dropLast()))
            } else {
                XCTAssertEqual(tree.paths[i].count, 1)
            }
            XCTAssertEqual(tree.ranks[i], tree.paths[i].last)
        }
        XCTAssertEqual(hasChild.filter { !$0 }.count, 40, "40 leaves")
        // (depth, lexicographic) order, as the reference code relies on.
        for i in 1..<tree.count {
            let a = tree.paths[i - 1], b = tree.paths[i]
            XCTAssertTrue(a.count < b.count || (a.count == b.count && a.lexicographicallyPrecedes(b)), "\(a) before \(b)")
        }
        // Spot-check a few entries against tree_template_.py "2.2.2".
        XCTAssertEqual(tree.paths[8], [0, 0])
        XCTAssertEqual(tree.paths[28], [7, 0])
        XCTAssertEqual(tree.paths[53], [5, 0, 0])
        XCTAssertEqual(tree.paths[68], [3, 0, 0, 0])
        XCTAssertEqual(tree.paths[76], [1, 0, 0, 0, 0])
        XCTAssertEqual(tree.paths[79], [0, 0, 0, 1, 0, 0])
    }

    /// If `p + [r] + s` is a node and `r' < r`, `p + [r'] + s` is a node of the same template:
    /// this makes every breadth-first prefix a good template and the verifier's lowest-index
    /// sibling walk find the reference's maximum-reward path.
    func testReferenceTemplateAndItsPrefixesAreRankMonotone() {
        for n in [1, 5, 8, 9, 16, 24, 29, 40, 54, 69, 77, 80] {
            let tree = TokenRecyclingTree.reference(nodes: n)
            XCTAssertEqual(tree.count, n)
            XCTAssertEqual(tree.paths, Array(TokenRecyclingTree.reference.paths.prefix(n)))
            let all = Set(tree.paths)
            for path in tree.paths {
                for (j, r) in path.enumerated() where r > 0 {
                    var smaller = path
                    smaller[j] = r - 1
                    XCTAssertTrue(all.contains(smaller), "n=\(n): \(path) present but \(smaller) missing")
                }
            }
            XCTAssertNoThrow(try TokenRecyclingTree(paths: tree.paths))
        }
        XCTAssertEqual(TokenRecyclingTree.reference(nodes: 8).depth, 1)
        XCTAssertEqual(TokenRecyclingTree.reference(nodes: 29).depth, 2)
        XCTAssertEqual(TokenRecyclingTree.reference(nodes: 500), .reference)
    }

    func testMalformedTemplatesThrowTypedErrors() {
        XCTAssertThrowsError(try TokenRecyclingTree(paths: [[0], []])) { XCTAssertEqual($0 as? TokenRecyclingTree.TemplateError, .emptyPath(node: 1)) }
        XCTAssertThrowsError(try TokenRecyclingTree(paths: [[0], [0, -1]])) { XCTAssertEqual($0 as? TokenRecyclingTree.TemplateError, .negativeRank(node: 1)) }
        XCTAssertThrowsError(try TokenRecyclingTree(paths: [[0], [0]])) { XCTAssertEqual($0 as? TokenRecyclingTree.TemplateError, .duplicatePath(node: 1, path: [0])) }
        XCTAssertThrowsError(try TokenRecyclingTree(paths: [[0, 0], [0]])) { XCTAssertEqual($0 as? TokenRecyclingTree.TemplateError, .parentMissing(node: 0, path: [0, 0])) }
        let chain = try! TokenRecyclingTree(paths: [[0], [0, 0], [0, 0, 0]])
        XCTAssertEqual(chain.parents, [-1, 0, 1])
        XCTAssertEqual(chain.depth, 3)
    }

    // MARK: - Hand-computed drafting and update

    func testDraftFollowsTheAdjacencyMatrixBreadthFirst() {
        // V = 10, k = 2; template: [0], [1], [0,0], [0,1], [1,0], [0,0,0].
        let tree = try! TokenRecyclingTree(paths: [[0], [1], [0, 0], [0, 1], [1, 0], [0, 0, 0]])
        var d = TokenRecyclingDrafter(vocabularySize: 10, candidatesPerToken: 2, tree: tree)
        d.setCandidates([3, 4], after: 1)
        d.setCandidates([5, 6], after: 3)
        d.setCandidates([7], after: 4)   // [7, 0]
        d.setCandidates([9, 2], after: 5)
        let draft = d.draft(after: 1, maxTokens: 100)
        // [0]→A[1][0]=3, [1]→A[1][1]=4, [0,0]→A[3][0]=5, [0,1]→A[3][1]=6, [1,0]→A[4][0]=7, [0,0,0]→A[5][0]=9
        XCTAssertEqual(draft.tokens, [3, 4, 5, 6, 7, 9])
        XCTAssertEqual(draft.parents, [-1, -1, 0, 0, 1, 2])
        // maxTokens keeps the first nodes (parents first); an untouched row proposes token 0.
        XCTAssertEqual(d.draft(after: 1, maxTokens: 3).tokens, [3, 4, 5])
        XCTAssertEqual(d.draft(after: 8, maxTokens: 100).tokens, [0, 0, 0, 0, 0, 0])
        XCTAssertTrue(d.draft(after: 1, maxTokens: 0).isEmpty)
        var seq = d
        XCTAssertEqual(try seq.draft(sequence: [8, 8, 1], maxTokens: 4).tokens, [3, 4, 5, 6])
    }

    func testUpdateWritesEachRowsTopKAndTheLastDuplicateWins() {
        var d = TokenRecyclingDrafter(vocabularySize: 5, candidatesPerToken: 2, tree: try! TokenRecyclingTree(paths: [[0], [1]]))
        d.setCandidates([4, 4], after: 3)
        // Rows for tokens [2, 1, 2]: token 2 appears twice; its second row must win.
        let logits: [Float] = [
            0.0, 1.0, 5.0, 1.0, -2.0,   // row 0 (token 2): top-2 = 2 (5.0), then 1 and 3 tie at 1.0 → lower id 1
            9.0, 9.0, 9.0, 0.0, 0.0,    // row 1 (token 1): three-way tie → ids 0, 1
            0.5, 0.0, 0.0, 0.0, 3.0,    // row 2 (token 2 again): 4, 0
        ]
        d.update(rowTokens: [2, 1, 2], logits: logits)
        XCTAssertEqual(d.candidates(after: 2), [4, 0])
        XCTAssertEqual(d.candidates(after: 1), [0, 1])
        XCTAssertEqual(d.candidates(after: 3), [4, 4], "rows not in the step are untouched")
        XCTAssertEqual(d.candidates(after: 0), [0, 0])
        // NaN logits are skipped; a row with fewer than k finite entries is padded with 0.
        d.update(rowTokens: [3], logits: [.nan, .nan, .nan, 2, .nan])
        XCTAssertEqual(d.candidates(after: 3), [3, 0])
        d.reset()
        XCTAssertTrue(d.adjacency.allSatisfy { $0 == 0 })
    }

    func testObserveUpdatesThePendingTokenThenEveryNodeInOrder() throws {
        let model = try SyntheticModels.model(SyntheticModels.tinyA)
        let v = model.shape.vocabularySize
        var d = TokenRecyclingDrafter(vocabularySize: v, treeNodes: 80)
        // Warm the matrix with a deterministic pattern so the tree has repeated and distinct tokens.
        for t in 0..<v { d.setCandidates((0..<8).map { (t * 7 + $0 * 13) % 31 }, after: t) }
        let before = d
        let prompt = [3, 1, 4, 1, 5]
        let cache = KVCache(shape: model.shape)
        let prefill = try model.forward(tokens: prompt, cache: cache, logitRows: .last)
        let pending = prefill.logits.withUnsafeBufferPointer { Kernels.argmax($0.baseAddress!, count: v) }
        let sequence = prompt + [pending]
        let draft = try d.draft(sequence: sequence, maxTokens: 80)
        // Invariant 4 of the spec: every node reads the matrix as it was before the step.
        for i in 0..<draft.count {
            let parentToken = draft.parents[i] < 0 ? pending : draft.tokens[draft.parents[i]]
            XCTAssertEqual(draft.tokens[i], before.candidates(after: parentToken)[TokenRecyclingTree.reference.ranks[i]])
        }
        let result = try TreeVerification.verifyGreedy(model: model, cache: cache, pendingToken: pending, draft: draft)
        d.observe(sequence: sequence, draft: draft, result: result)
        // Naive oracle: apply the writes one row at a time in increasing order.
        var expected = before
        let rows = [pending] + draft.tokens
        for (r, token) in rows.enumerated() {
            let row = Array(result.logits[(r * v)..<((r + 1) * v)])
            let order = row.indices.sorted { row[$0] > row[$1] || (row[$0] == row[$1] && $0 < $1) }
            expected.setCandidates(Array(order.prefix(8)), after: token)
        }
        XCTAssertEqual(d.adjacency, expected.adjacency)
        XCTAssertLessThan(Set(rows).count, rows.count, "the case exercises duplicate tokens")
    }

    // MARK: - Chain template and draft threshold

    func testChainTemplateIsRankZeroNodesInARow() {
        let chain = TokenRecyclingTree.chain(depth: 4)
        XCTAssertEqual(chain.paths, [[0], [0, 0], [0, 0, 0], [0, 0, 0, 0]])
        XCTAssertEqual(chain.parents, [-1, 0, 1, 2])
        XCTAssertEqual(chain.ranks, [0, 0, 0, 0])
        XCTAssertEqual(chain.depth, 4)
        XCTAssertEqual(chain.maxRank, 0)
        XCTAssertEqual(TokenRecyclingTree.chain(depth: 3).paths, TokenRecyclingTree.compact(nodes: 3).paths,
                       "the three most accepted reference nodes form the depth-3 chain")
    }

    /// Hand-worked estimator states, estimates and drafts (V = 10, k = 2).
    func testDraftThresholdKeepsNodesWhoseEstimatedAcceptanceIsHighEnough() {
        var d = TokenRecyclingDrafter(vocabularySize: 10, candidatesPerToken: 2, tree: .chain(depth: 3), draftThreshold: 0.3)
        let e0 = d.estimator
        XCTAssertEqual(e0.state(of: 2), TokenRecyclingEstimator.unwrittenState)
        XCTAssertEqual(e0.probability(state: TokenRecyclingEstimator.unwrittenState, rank: 0), 0.5, "no evidence: 1/2")
        d.setCandidates([5, 1], after: 2)
        XCTAssertEqual(d.estimator.state(of: 2), 0, "written, never seen")
        // The target emitted 2 → 5 → 7: A[2][0] = 5 is a rank-0 hit in state 0; row 5 was never
        // written (state 32) and holds no 7.
        d.recordSuccessors([2, 5, 7])
        XCTAssertEqual(d.estimator.history[2], 0x20 | 1 << 3 | 1)
        XCTAssertEqual(d.estimator.history[5], 1 << 3)
        XCTAssertEqual(d.estimator.state(of: 2), 9)
        XCTAssertEqual(d.estimator.state(of: 5), TokenRecyclingEstimator.unwrittenState)
        XCTAssertEqual(d.estimator.sightings[0], 1)
        XCTAssertEqual(d.estimator.sightings[32], 1)
        XCTAssertEqual(d.estimator.probability(state: 0, rank: 0), 2.0 / 3.0)
        XCTAssertEqual(d.estimator.probability(state: 0, rank: 1), 1.0 / 3.0)
        XCTAssertEqual(d.estimator.probability(state: 32, rank: 0), 1.0 / 3.0)
        // Root 2 is in state 9 (no evidence yet: 1/2); node [0] = 5 has estimate 1/2; node [0, 0]
        // hangs below 5 (state 32): 1/2 · 1/3 = 1/6 < 0.3 — left out, and its child with it.
        XCTAssertEqual(d.draft(after: 2, maxTokens: 3), DraftTree(chain: [5]))
        d.draftThreshold = 0.15  // 1/6 ≥ 0.15 keeps A[5][0] = 0; below it 1/6 · 1/3 < 0.15
        XCTAssertEqual(d.draft(after: 2, maxTokens: 3), DraftTree(chain: [5, 0]))
        XCTAssertEqual(d.draft(after: 2, maxTokens: 1), DraftTree(chain: [5]))
        d.draftThreshold = 0.6
        XCTAssertEqual(d.draft(after: 2, maxTokens: 3), .empty, "1/2 < 0.6: nothing is drafted")
        d.draftThreshold = 0
        XCTAssertEqual(d.draft(after: 2, maxTokens: 3), DraftTree(chain: [5, 0, 0]), "threshold off: the whole template")
        // A miss: 2 → 6. State 9 gets a sighting without a hit; 2's history shifts in a 0.
        d.recordSuccessors([2, 6])
        XCTAssertEqual(d.estimator.history[2], 0x20 | 2 << 3 | 0b10)
        XCTAssertEqual(d.estimator.probability(state: 9, rank: 0), 1.0 / 3.0)
        // Rank-1 nodes use the rank-1 estimate: compact(4) = [0], [1], [0, 0], [0, 0, 0].
        var b = TokenRecyclingDrafter(vocabularySize: 10, tree: .compact(nodes: 4), draftThreshold: 0.4)
        XCTAssertEqual(b.tree.paths, [[0], [1], [0, 0], [0, 0, 0]])
        b.setCandidates([5, 1], after: 2)
        b.setCandidates([7, 3], after: 5)
        b.recordSuccessors([2, 1])  // the target followed 2 with 1: a rank-1 hit in state 0
        XCTAssertEqual(b.estimator.probability(state: 0, rank: 0), 1.0 / 3.0)
        XCTAssertEqual(b.estimator.probability(state: 0, rank: 1), 2.0 / 3.0)
        // Root 2 is now in state 8 (written, seen once, last a miss): no evidence, 1/2 per rank;
        // so [0] = 5 and [1] = 1 have 1/2; 5 is in state 0: [0, 0] = 7 has 1/2 · 1/3 < 0.4.
        XCTAssertEqual(b.estimator.state(of: 2), 8)
        XCTAssertEqual(b.draft(after: 2, maxTokens: 4), DraftTree(tokens: [5, 1], parents: [-1, -1]))
        b.draftThreshold = 0.1  // 1/6 ≥ 0.1; [0, 0, 0] below 7 (unwritten, 1/2): 1/12 < 0.1
        XCTAssertEqual(b.draft(after: 2, maxTokens: 4), DraftTree(tokens: [5, 1, 7], parents: [-1, -1, 0]))
        b.reset()
        XCTAssertEqual(b.estimator, TokenRecyclingEstimator(vocabularySize: 10, ranks: 8))
    }

    func testThresholdedTreesEqualGreedyAndCreditTheirTemplateNodes() throws {
        for preset in SyntheticModels.presets {
            let model = try SyntheticModels.model(preset)
            let v = model.shape.vocabularySize
            for prompt in [[40, 41, 40, 41, 40, 41], [1, 2, 3]] {
                let reference = try greedy(model, prompt, 48)
                for (tree, threshold) in [(TokenRecyclingTree.chain(depth: 4), 0.3), (.compact(nodes: 6), 0.2), (.reference, 0.1), (.chain(depth: 8), 0.9)] {
                    var drafter = TokenRecyclingDrafter(vocabularySize: v, tree: tree, draftThreshold: threshold)
                    var accepted = 0, emptyDrafts = 0, fullerDrafts = 0
                    for run in 0..<3 {  // later runs are hot
                        let g = try SpeculativeDecoding.generate(model: model, prompt: prompt, drafter: &drafter, maxDraftTokens: tree.count,
                                                                 stopping: StoppingCriteria(maxNewTokens: 48))
                        XCTAssertEqual(g.outputIDs, reference.outputIDs, "\(preset.name) \(prompt) \(tree.count) nodes threshold \(threshold)")
                        XCTAssertEqual(g.trace.map(\.logit), reference.trace.map(\.logit))
                        accepted += g.statistics.acceptedDraftTokens
                        if run == 0 {
                            // Cold: every estimate is 1/2, so the first step drafts the depth-1
                            // nodes exactly when 1/2 reaches the threshold.
                            XCTAssertEqual(g.trace.compactMap(\.drafted).first!.isEmpty, threshold > 0.5)
                        }
                        for drafted in g.trace.compactMap(\.drafted) {
                            XCTAssertLessThanOrEqual(drafted.count, tree.count)
                            if drafted.isEmpty { emptyDrafts += 1 } else { fullerDrafts += 1 }
                        }
                    }
                    XCTAssertEqual(drafter.nodeHits.reduce(0, +), accepted, "accepted nodes are credited to template nodes")
                    for (i, parent) in tree.parents.enumerated() where parent >= 0 {
                        XCTAssertLessThanOrEqual(drafter.nodeHits[i], drafter.nodeHits[parent])
                    }
                    // The depth-1 estimates start at 1/2: a threshold above it drafts nothing until
                    // evidence raises them; one below it drafts from the first step.
                    XCTAssertGreaterThan(threshold > 0.5 ? emptyDrafts : fullerDrafts, 0, "\(preset.name) \(prompt)")
                }
            }
        }
    }

    // MARK: - Greedy identity and acceptance

    private func greedy(_ model: any CausalLanguageModel, _ prompt: [Int], _ n: Int, eos: Set<Int> = []) throws -> Generation {
        try GreedyDecoding.generate(model: model, prompt: prompt, stopping: StoppingCriteria(maxNewTokens: n, endOfSequenceIDs: eos))
    }

    func testTokenRecyclingEqualsGreedyForAnyTreeSizeAndMatrixContents() throws {
        for preset in SyntheticModels.presets {
            let model = try SyntheticModels.model(preset)
            let v = model.shape.vocabularySize
            for prompt in [[1, 2, 3], [40, 41, 40, 41, 40], [9], [7, 7, 7, 7, 7, 7, 7, 7]] {
                let reference = try greedy(model, prompt, 40)
                for nodes in [80, 24, 8, 1] {
                    var cold = TokenRecyclingDrafter(vocabularySize: v, treeNodes: nodes)
                    var random = cold
                    var rng = Xoshiro256StarStar(seed: UInt64(nodes))
                    for t in 0..<v { random.setCandidates((0..<8).map { _ in Int(rng.next() % UInt64(v)) }, after: t) }
                    for (name, drafter) in [("zeros", cold), ("random", random)] {
                        var d = drafter
                        let g = try SpeculativeDecoding.generate(model: model, prompt: prompt, drafter: &d, maxDraftTokens: nodes,
                                                                 stopping: StoppingCriteria(maxNewTokens: 40))
                        XCTAssertEqual(g.outputIDs, reference.outputIDs, "\(preset.name) \(prompt) nodes=\(nodes) \(name)")
                        XCTAssertEqual(g.trace.map(\.logit), reference.trace.map(\.logit))
                    }
                    // A pre-warmed (hot) matrix: run the same drafter again.
                    _ = try SpeculativeDecoding.generate(model: model, prompt: prompt, drafter: &cold, maxDraftTokens: nodes, stopping: StoppingCriteria(maxNewTokens: 40))
                    let hot = try SpeculativeDecoding.generate(model: model, prompt: prompt, drafter: &cold, maxDraftTokens: nodes, stopping: StoppingCriteria(maxNewTokens: 40))
                    XCTAssertEqual(hot.outputIDs, reference.outputIDs, "\(preset.name) \(prompt) nodes=\(nodes) hot")
                }
            }
        }
    }

    func testCompactTemplatesAreValidSubtreesOfTheReference() throws {
        let reference = Set(TokenRecyclingTree.reference.paths)
        for n in 1...80 {
            let tree = TokenRecyclingTree.compact(nodes: n)
            XCTAssertEqual(tree.count, n)
            XCTAssertTrue(Set(tree.paths).isSubset(of: reference), "nodes=\(n)")
            // Parents precede children (init(paths:) would throw otherwise) and every prefix of the
            // order is a template, so the n-node tree contains the (n-1)-node one.
            XCTAssertNoThrow(try TokenRecyclingTree(paths: tree.paths))
            if n > 1 { XCTAssertTrue(Set(TokenRecyclingTree.compact(nodes: n - 1).paths).isSubset(of: Set(tree.paths))) }
        }
        XCTAssertEqual(Set(TokenRecyclingTree.compact(nodes: 80).paths), reference)
    }

    func testCompactTreesEqualGreedyAndNodeHitsCountAcceptedDrafts() throws {
        for preset in SyntheticModels.presets {
            let model = try SyntheticModels.model(preset)
            let prompt = [40, 41, 40, 41, 40, 41]
            let reference = try greedy(model, prompt, 48)
            for nodes in [1, 3, 6, 16] {
                var drafter = TokenRecyclingDrafter(vocabularySize: model.shape.vocabularySize, tree: .compact(nodes: nodes))
                var accepted = 0, steps = 0
                for _ in 0..<2 {  // the second run is hot
                    let g = try SpeculativeDecoding.generate(model: model, prompt: prompt, drafter: &drafter, maxDraftTokens: nodes,
                                                             stopping: StoppingCriteria(maxNewTokens: 48))
                    XCTAssertEqual(g.outputIDs, reference.outputIDs, "\(preset.name) compact nodes=\(nodes)")
                    accepted += g.statistics.acceptedDraftTokens
                    steps += g.statistics.verificationSteps
                }
                XCTAssertEqual(drafter.nodeHits.reduce(0, +), accepted)
                XCTAssertEqual(drafter.observedSteps, steps)
                // A node is accepted only when its parent is.
                for (i, parent) in drafter.tree.parents.enumerated() where parent >= 0 {
                    XCTAssertLessThanOrEqual(drafter.nodeHits[i], drafter.nodeHits[parent])
                }
                drafter.reset()
                XCTAssertEqual(drafter.nodeHits.reduce(0, +), 0)
                XCTAssertEqual(drafter.observedSteps, 0)
            }
        }
    }

    func testEndOfSequenceAndContextLimitStillMatchGreedy() throws {
        let model = try SyntheticModels.model(SyntheticModels.tinyB)  // context 128
        let v = model.shape.vocabularySize
        let long = Array(repeating: 3, count: 100)
        let reference = try greedy(model, long, 60)
        XCTAssertEqual(reference.stopReason, .contextLimit)
        var d = TokenRecyclingDrafter(vocabularySize: v)
        let g = try SpeculativeDecoding.generate(model: model, prompt: long, drafter: &d, maxDraftTokens: 80, stopping: StoppingCriteria(maxNewTokens: 60))
        XCTAssertEqual(g.outputIDs, reference.outputIDs)
        XCTAssertEqual(g.stopReason, .contextLimit)
        let prompt = [11, 12, 13]
        let truth = try greedy(model, prompt, 30).outputIDs
        let eosReference = try greedy(model, prompt, 30, eos: [truth[9]])
        var e = TokenRecyclingDrafter(vocabularySize: v)
        let stopped = try SpeculativeDecoding.generate(model: model, prompt: prompt, drafter: &e, maxDraftTokens: 80,
                                                       stopping: StoppingCriteria(maxNewTokens: 30, endOfSequenceIDs: [truth[9]]))
        XCTAssertEqual(stopped.outputIDs, eosReference.outputIDs)
        XCTAssertEqual(stopped.stopReason, .endOfSequence)
    }

    func testAcceptedLengthPerStepIsBetweenOneAndDepthPlusOne() throws {
        let model = try SyntheticModels.model(SyntheticModels.tinyA)
        var sawLongAcceptance = false
        for nodes in [80, 29, 8] {
            let depth = TokenRecyclingTree.reference(nodes: nodes).depth
            var d = TokenRecyclingDrafter(vocabularySize: model.shape.vocabularySize, treeNodes: nodes)
            for prompt in [[5, 6, 7], [7, 7, 7, 7], [5, 6, 7]] {
                let g = try SpeculativeDecoding.generate(model: model, prompt: prompt, drafter: &d, maxDraftTokens: nodes,
                                                         stopping: StoppingCriteria(maxNewTokens: 60))
                var steps = 0, emitted = 0
                for (i, step) in g.trace.enumerated() where step.accepted != nil {
                    let tokensThisStep = step.accepted! + 1
                    XCTAssertGreaterThanOrEqual(tokensThisStep, 1)
                    XCTAssertLessThanOrEqual(tokensThisStep, depth + 1, "nodes=\(nodes)")
                    XCTAssertLessThanOrEqual(step.accepted!, step.drafted!.count)
                    if step.accepted! >= 2 { sawLongAcceptance = true }
                    steps += 1
                    emitted += min(tokensThisStep, g.trace.count - i)
                }
                XCTAssertEqual(steps, g.statistics.verificationSteps)
                XCTAssertEqual(emitted, g.outputIDs.count - 1, "every token after the first comes from a verification step")
                XCTAssertGreaterThanOrEqual(g.statistics.meanAcceptedTokens, 1)
                XCTAssertLessThanOrEqual(g.statistics.meanAcceptedTokens, Double(depth + 1))
            }
        }
        XCTAssertTrue(sawLongAcceptance, "a hot matrix on a repeated prompt accepts several drafts in one step")
    }

    func testHotStartKeepsTheMatrixAcrossGenerationsAndResetRestoresColdStart() throws {
        let model = try SyntheticModels.model(SyntheticModels.tinyB)
        let v = model.shape.vocabularySize
        let prompt = [20, 21, 22, 23]
        let stopping = StoppingCriteria(maxNewTokens: 48)
        var drafter = TokenRecyclingDrafter(vocabularySize: v, treeNodes: 40)
        let first = try SpeculativeDecoding.generate(model: model, prompt: prompt, drafter: &drafter, maxDraftTokens: 40, stopping: stopping)
        XCTAssertTrue(drafter.adjacency.contains { $0 != 0 }, "the matrix learned from the first generation")
        let learned = drafter.adjacency
        let second = try SpeculativeDecoding.generate(model: model, prompt: prompt, drafter: &drafter, maxDraftTokens: 40, stopping: stopping)
        XCTAssertEqual(second.outputIDs, first.outputIDs)
        // The cold run's first draft is all token 0 (zero-initialised rows); the second run
        // starts from the learned matrix: its first draft is the learned row, and it accepts at
        // least as many tokens per step.
        let coldFirst = first.trace.compactMap(\.drafted).first!
        let hotFirst = second.trace.compactMap(\.drafted).first!
        XCTAssertTrue(coldFirst.allSatisfy { $0 == 0 })
        XCTAssertEqual(Array(hotFirst.prefix(8)), learned[(first.outputIDs[0] * 8)..<(first.outputIDs[0] * 8 + 8)].map { Int($0) })
        XCTAssertFalse(hotFirst.allSatisfy { $0 == 0 })
        XCTAssertNotEqual(second.trace.compactMap(\.drafted), first.trace.compactMap(\.drafted))
        XCTAssertGreaterThanOrEqual(second.statistics.meanAcceptedTokens, first.statistics.meanAcceptedTokens)
        XCTAssertNotEqual(drafter.adjacency, learned)
        // reset() is a cold start: identical drafts and statistics to a fresh drafter.
        drafter.reset()
        XCTAssertTrue(drafter.adjacency.allSatisfy { $0 == 0 })
        let again = try SpeculativeDecoding.generate(model: model, prompt: prompt, drafter: &drafter, maxDraftTokens: 40, stopping: stopping)
        XCTAssertEqual(again.trace.compactMap(\.drafted), first.trace.compactMap(\.drafted))
        XCTAssertEqual(again.trace.compactMap(\.accepted), first.trace.compactMap(\.accepted))
        XCTAssertEqual(again.statistics.verificationSteps, first.statistics.verificationSteps)
        XCTAssertEqual(drafter.adjacency, learned)
    }

    func testOutputsAndMatrixAreIdenticalForOneAndTwoThreads() throws {
        let model = try SyntheticModels.model(SyntheticModels.tinyA)
        let v = model.shape.vocabularySize
        var results: [([Int], [[Int]], [Int32])] = []
        for threads in [1, 2, 3] {
            let pool = ParallelFor(threadCount: threads)
            defer { pool.shutdown() }
            var d = TokenRecyclingDrafter(vocabularySize: v, treeNodes: 80, pool: pool)
            var gated = TokenRecyclingDrafter(vocabularySize: v, tree: .chain(depth: 4), draftThreshold: 0.3, pool: pool)
            var outputs: [Int] = []
            var drafts: [[Int]] = []
            for prompt in [[1, 2, 3], [9, 8, 7, 6], [1, 2, 3]] {
                let g = try SpeculativeDecoding.generate(model: model, prompt: prompt, drafter: &d, maxDraftTokens: 80,
                                                         stopping: StoppingCriteria(maxNewTokens: 32), pool: pool)
                let h = try SpeculativeDecoding.generate(model: model, prompt: prompt, drafter: &gated, maxDraftTokens: 4,
                                                         stopping: StoppingCriteria(maxNewTokens: 32), pool: pool)
                outputs += g.outputIDs + h.outputIDs
                drafts += g.trace.compactMap(\.drafted) + h.trace.compactMap(\.drafted)
            }
            results.append((outputs, drafts, d.adjacency + gated.adjacency + gated.estimator.history.map { Int32($0) }
                            + (gated.estimator.sightings + gated.estimator.hits).map { Int32($0) }))
        }
        for r in results.dropFirst() {
            XCTAssertEqual(r.0, results[0].0)
            XCTAssertEqual(r.1, results[0].1)
            XCTAssertEqual(r.2, results[0].2)
        }
    }

    // MARK: - Real model

    func testSmolLM2TokenRecyclingEqualsGreedyOver48Tokens() throws {
        let loaded = try SmolLM2TestModel.load()
        let model = loaded.model, tokenizer = try XCTUnwrap(loaded.tokenizer)
        let prompts = [
            tokenizer.encode(ChatTemplate.chatML.apply(messages: [("user", "What is the capital of France?")], addGenerationPrompt: true)),
            tokenizer.encode("The history of the city of Paris"),
        ]
        var drafter = TokenRecyclingDrafter(vocabularySize: model.shape.vocabularySize)  // hot across both prompts
        // The default 80-node tree on the first prompt; on the second, maxDraftTokens cuts it to its
        // first 24 nodes (keeps the test short).
        for (prompt, nodes) in zip(prompts, [80, 24]) {
            let reference = try greedy(model, prompt, 48)
            let g = try SpeculativeDecoding.generate(model: model, prompt: prompt, drafter: &drafter, maxDraftTokens: nodes,
                                                     stopping: StoppingCriteria(maxNewTokens: 48))
            XCTAssertEqual(g.outputIDs, reference.outputIDs, "\(prompt)")
            XCTAssertEqual(g.trace.map(\.logit), reference.trace.map(\.logit))
            XCTAssertGreaterThan(g.statistics.meanAcceptedTokens, 1)
            // The draft threshold on a chain, hot from the same prompt's first run: still greedy.
            var gated = TokenRecyclingDrafter(vocabularySize: model.shape.vocabularySize, tree: .chain(depth: 4), draftThreshold: 0.3)
            for _ in 0..<2 {
                let h = try SpeculativeDecoding.generate(model: model, prompt: prompt, drafter: &gated, maxDraftTokens: 4,
                                                         stopping: StoppingCriteria(maxNewTokens: 48))
                XCTAssertEqual(h.outputIDs, reference.outputIDs, "gated \(prompt)")
            }
            XCTAssertGreaterThan(gated.estimator.sightings.reduce(0, +), 48)
        }
    }
}

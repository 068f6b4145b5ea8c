import Foundation
import Formats
import Transformer
import Loader
import Decoding

/// Spec-Bench methods beyond greedy, prompt lookup and layer-skip speculative decoding.
/// Token Recycling keeps one drafter (its adjacency matrix) for the whole run — the paper's hot
/// start — so later questions draft from what earlier ones taught it.
func extraSpecBenchMethods(_ args: Arguments, model: any CausalLanguageModel) throws -> [SpecBenchMethod] {
    let vocab = model.shape.vocabularySize
    // `--tree-nodes 1,2,4,8` runs one Token Recycling method per size (`token-recycling@N`), each
    // with its own hot matrix, so one run compares tree sizes against the same greedy baseline;
    // `--tree-shape` gives one shape for all or one per size (`token-recycling@N-compact`), and
    // `--draft-threshold` one threshold for all or one per size (`token-recycling@N-chain-p0.3`).
    let trees = try treeVariants(args)
    let treeStats = args.string("tree-stats")
    if treeStats != nil && trees.count > 1 { throw CLIError("--tree-stats records one tree: give a single --tree-nodes value (the default runs two trees)") }
    final class Box { var drafter: TokenRecyclingDrafter; init(_ d: TokenRecyclingDrafter) { drafter = d } }
    var methods: [SpecBenchMethod] = []
    for (name, tree, threshold) in trees {
        let recycling = Box(TokenRecyclingDrafter(vocabularySize: vocab, tree: tree, draftThreshold: threshold))
        methods.append(SpecBenchMethod(name: name) { m, p, s in
            let g = try SpeculativeDecoding.generate(model: m, prompt: p, drafter: &recycling.drafter, maxDraftTokens: recycling.drafter.tree.count, stopping: s, traceTopK: 0)
            if let path = treeStats { try writeTreeStats(recycling.drafter, to: path) }
            return g
        })
    }
    methods.append(SpecBenchMethod(name: "aded") { m, p, s in
        var d = ADEDDrafter(table: ADEDDrafter.buildTable(fromTokenSequences: [p]))
        return try SpeculativeDecoding.generate(model: m, prompt: p, drafter: &d, maxDraftTokens: d.configuration.maxNodes, stopping: s, traceTopK: 0)
    })
    methods.append(contentsOf: try lookaheadSpecBenchMethods(args, model: model))
    return methods
}

/// The Token Recycling trees of the benchmark, named: `--tree-nodes N` or a comma-separated list
/// of sizes in 1…80 (default 80), `--tree-shape` with one shape for every size or one per size,
/// and `--draft-threshold` (a probability in [0, 1), default 0 = off) likewise. A single tree is
/// named `token-recycling`. Without any of the three options: the paper's 80-node tree
/// (`token-recycling`) and the setting that suits a 2-core CPU (`token-recycling@6-chain-p0.3`,
/// DOCS.md section 12), so a default run reports both.
func treeVariants(_ args: Arguments) throws -> [(name: String, tree: TokenRecyclingTree, threshold: Double)] {
    if args.string("tree-nodes") == nil && args.string("tree-shape") == nil && args.string("draft-threshold") == nil {
        return [("token-recycling", .reference, 0), ("token-recycling@6-chain-p0.3", .chain(depth: 6), 0.3)]
    }
    let limit = TokenRecyclingTree.reference.count
    let nodesText = args.string("tree-nodes") ?? "80"
    var sizes: [Int] = []
    for part in Arguments.commaSeparated(nodesText) {
        guard let n = Int(part), (1...limit).contains(n) else {
            throw CLIError("--tree-nodes must be a node count in 1…\(limit) or a comma-separated list of them, not '\(nodesText)'")
        }
        sizes.append(n)
    }
    let shapes = try perTree(args, "tree-shape", default: "reference", count: sizes.count)
    var thresholds: [Double] = []
    for text in try perTree(args, "draft-threshold", default: "0", count: sizes.count) {
        thresholds.append(try draftThreshold(text))
    }
    var trees: [(name: String, tree: TokenRecyclingTree, threshold: Double)] = []
    for ((nodes, shape), threshold) in zip(zip(sizes, shapes), thresholds) {
        let name = "token-recycling@\(nodes)" + (shape == "reference" ? "" : "-\(shape)") + (threshold > 0 ? "-p\(threshold)" : "")
        if trees.contains(where: { $0.name == name }) { continue }
        trees.append((name, try tokenRecyclingTree(shape: shape, nodes: nodes), threshold))
    }
    if trees.count == 1 { trees[0].name = "token-recycling" }
    return trees
}

/// A `--draft-threshold` value: a probability in [0, 1) (0 = off).
func draftThreshold(_ text: String) throws -> Double {
    guard let p = Double(text), p >= 0, p < 1 else {
        throw CLIError("--draft-threshold must be a probability in [0, 1) (0 = off), or one per --tree-nodes value, not '\(text)'")
    }
    return p
}

/// The values of a per-tree option: one for every tree, or one per tree (comma-separated).
private func perTree(_ args: Arguments, _ option: String, default value: String, count: Int) throws -> [String] {
    var values = Arguments.commaSeparated(args.string(option) ?? value)
    if values.count == 1 { values = Array(repeating: values[0], count: count) }
    guard values.count == count else {
        throw CLIError("--\(option) needs one value, or one per --tree-nodes value (\(count)), not \(values.count)")
    }
    return values
}

/// The Token Recycling template chosen by `--tree-shape reference|compact` (default reference)
/// and the node count option (`--tree` for generate, `--tree-nodes` for the benchmark; 80).
func tokenRecyclingTree(_ args: Arguments, nodesOption: String) throws -> TokenRecyclingTree {
    try tokenRecyclingTree(shape: args.string("tree-shape") ?? "reference",
                           nodes: try args.int(nodesOption, default: 80, range: 1...TokenRecyclingTree.reference.count)!)
}

/// The template of `shape` (reference or compact) with `nodes` nodes.
func tokenRecyclingTree(shape: String, nodes: Int) throws -> TokenRecyclingTree {
    switch shape {
    case "reference": return .reference(nodes: nodes)
    case "compact": return .compact(nodes: nodes)
    case "chain": return .chain(depth: nodes)
    case let other:
        throw CLIError("--tree-shape must be reference (the paper's template, first N nodes), compact (the N most often accepted nodes) or chain (N first candidates in a row), not '\(other)'")
    }
}

/// Writes the drafter's per-node acceptance counts as JSON (`--tree-stats FILE`).
func writeTreeStats(_ drafter: TokenRecyclingDrafter, to path: String) throws {
    let value = JSONValue.object([
        ("steps", .int(drafter.observedSteps)),
        ("nodes", .array(drafter.tree.paths.indices.map { i in
            .object([("path", .array(drafter.tree.paths[i].map { .int($0) })), ("accepted", .int(drafter.nodeHits[i]))])
        })),
        // What the draft-threshold estimator learned: per history state with sightings, how
        // often the first and second candidates were the target's choice.
        ("estimator_states", .array((0..<TokenRecyclingEstimator.stateCount).compactMap { s in
            let e = drafter.estimator, n = e.sightings[s]
            if n == 0 { return nil }
            return .object([("state", .int(s)), ("written", .bool(s != TokenRecyclingEstimator.unwrittenState)),
                            ("sightings_capped_at_3", .int(s == TokenRecyclingEstimator.unwrittenState ? -1 : s >> 3)),
                            ("last_outcomes_newest_first", .string(s == TokenRecyclingEstimator.unwrittenState ? "" :
                                String((0..<min(3, s >> 3)).map { (s >> $0) & 1 == 1 ? "H" : "m" }))),
                            ("sightings", .int(n)), ("rank0_hits", .int(e.hits[s * e.ranks])),
                            ("rank1_hits", .int(e.ranks > 1 ? e.hits[s * e.ranks + 1] : 0))])
        })),
    ])
    try (value.serialized() + "\n").write(toFile: path, atomically: true, encoding: .utf8)
}

import Foundation
import Formats
import Transformer
import Decoding

/// Spec-Bench methods beyond greedy, prompt lookup and layer-skip speculative decoding.
/// Token Recycling keeps one drafter (its adjacency matrix) for the whole run — the paper's hot
/// start — so later questions draft from what earlier ones taught it.
func extraSpecBenchMethods(_ args: Arguments, model: LlamaModel) throws -> [SpecBenchMethod] {
    let vocab = model.configuration.vocabularySize
    // `--tree-nodes 1,2,4,8` runs one Token Recycling method per size (`token-recycling@N`), each
    // with its own hot matrix, so one run compares tree sizes against the same greedy baseline;
    // `--tree-shape` gives one shape for all or one per size (`token-recycling@N-compact`).
    let trees = try treeVariants(args)
    let treeStats = args.string("tree-stats")
    if treeStats != nil && trees.count > 1 { throw CLIError("--tree-stats records one tree: give a single --tree-nodes value") }
    final class Box { var drafter: TokenRecyclingDrafter; init(_ d: TokenRecyclingDrafter) { drafter = d } }
    var methods: [SpecBenchMethod] = []
    for (name, tree) in trees {
        let recycling = Box(TokenRecyclingDrafter(vocabularySize: vocab, tree: tree))
        methods.append(SpecBenchMethod(name: trees.count > 1 ? name : "token-recycling") { m, p, s in
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
/// of sizes in 1…80 (default 80), and `--tree-shape` with one shape for every size or one per size.
func treeVariants(_ args: Arguments) throws -> [(name: String, tree: TokenRecyclingTree)] {
    let limit = TokenRecyclingTree.reference.count
    let nodesText = args.string("tree-nodes") ?? "80"
    var sizes: [Int] = []
    for part in nodesText.split(separator: ",", omittingEmptySubsequences: false) {
        guard let n = Int(part.trimmingCharacters(in: .whitespaces)), (1...limit).contains(n) else {
            throw CLIError("--tree-nodes must be a node count in 1…\(limit) or a comma-separated list of them, not '\(nodesText)'")
        }
        sizes.append(n)
    }
    var shapes = (args.string("tree-shape") ?? "reference").split(separator: ",", omittingEmptySubsequences: false).map {
        $0.trimmingCharacters(in: .whitespaces)
    }
    if shapes.count == 1 { shapes = Array(repeating: shapes[0], count: sizes.count) }
    guard shapes.count == sizes.count else {
        throw CLIError("--tree-shape needs one shape, or one per --tree-nodes value (\(sizes.count)), not \(shapes.count)")
    }
    var trees: [(name: String, tree: TokenRecyclingTree)] = []
    for (nodes, shape) in zip(sizes, shapes) {
        let name = "token-recycling@\(nodes)" + (shape == "reference" ? "" : "-\(shape)")
        if trees.contains(where: { $0.name == name }) { continue }
        trees.append((name, try tokenRecyclingTree(shape: shape, nodes: nodes)))
    }
    return trees
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
    case let other: throw CLIError("--tree-shape must be reference (the paper's template, first N nodes) or compact (the N most often accepted nodes), not '\(other)'")
    }
}

/// Writes the drafter's per-node acceptance counts as JSON (`--tree-stats FILE`).
func writeTreeStats(_ drafter: TokenRecyclingDrafter, to path: String) throws {
    let value = JSONValue.object([
        ("steps", .int(drafter.observedSteps)),
        ("nodes", .array(drafter.tree.paths.indices.map { i in
            .object([("path", .array(drafter.tree.paths[i].map { .int($0) })), ("accepted", .int(drafter.nodeHits[i]))])
        })),
    ])
    try (value.serialized() + "\n").write(toFile: path, atomically: true, encoding: .utf8)
}

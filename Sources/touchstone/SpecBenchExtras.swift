import Foundation
import Formats
import Transformer
import Decoding

/// Spec-Bench methods beyond greedy, prompt lookup and layer-skip speculative decoding.
/// Token Recycling keeps one drafter (its adjacency matrix) for the whole run — the paper's hot
/// start — so later questions draft from what earlier ones taught it.
func extraSpecBenchMethods(_ args: Arguments, model: LlamaModel) throws -> [SpecBenchMethod] {
    let vocab = model.configuration.vocabularySize
    let tree = try tokenRecyclingTree(args, nodesOption: "tree-nodes")
    let treeStats = args.string("tree-stats")
    final class Box { var drafter: TokenRecyclingDrafter; init(_ d: TokenRecyclingDrafter) { drafter = d } }
    let recycling = Box(TokenRecyclingDrafter(vocabularySize: vocab, tree: tree))
    var methods = [
        SpecBenchMethod(name: "token-recycling") { m, p, s in
            let g = try SpeculativeDecoding.generate(model: m, prompt: p, drafter: &recycling.drafter, maxDraftTokens: recycling.drafter.tree.count, stopping: s, traceTopK: 0)
            if let path = treeStats { try writeTreeStats(recycling.drafter, to: path) }
            return g
        },
        SpecBenchMethod(name: "aded") { m, p, s in
            var d = ADEDDrafter(table: ADEDDrafter.buildTable(fromTokenSequences: [p]))
            return try SpeculativeDecoding.generate(model: m, prompt: p, drafter: &d, maxDraftTokens: d.configuration.maxNodes, stopping: s, traceTopK: 0)
        },
    ]
    methods.append(contentsOf: try lookaheadSpecBenchMethods(args, model: model))
    return methods
}

/// The Token Recycling template chosen by `--tree-shape reference|compact` (default reference)
/// and the node count option (`--tree` for generate, `--tree-nodes` for the benchmark; 80).
func tokenRecyclingTree(_ args: Arguments, nodesOption: String) throws -> TokenRecyclingTree {
    let nodes = try args.int(nodesOption, default: 80, range: 1...TokenRecyclingTree.reference.count)!
    switch args.string("tree-shape") ?? "reference" {
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

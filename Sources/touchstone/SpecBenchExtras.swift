import Transformer
import Decoding

/// Spec-Bench methods beyond greedy, prompt lookup and layer-skip speculative decoding.
/// Token Recycling keeps one drafter (its adjacency matrix) for the whole run — the paper's hot
/// start — so later questions draft from what earlier ones taught it.
func extraSpecBenchMethods(_ args: Arguments, model: LlamaModel) throws -> [SpecBenchMethod] {
    let vocab = model.configuration.vocabularySize
    let treeNodes = try args.int("tree-nodes", default: 80, range: 1...TokenRecyclingTree.reference.count)!
    final class Box { var drafter: TokenRecyclingDrafter; init(_ d: TokenRecyclingDrafter) { drafter = d } }
    let recycling = Box(TokenRecyclingDrafter(vocabularySize: vocab, treeNodes: treeNodes))
    var methods = [
        SpecBenchMethod(name: "token-recycling") { m, p, s in
            try SpeculativeDecoding.generate(model: m, prompt: p, drafter: &recycling.drafter, maxDraftTokens: treeNodes, stopping: s, traceTopK: 0)
        },
        SpecBenchMethod(name: "aded") { m, p, s in
            var d = ADEDDrafter(table: ADEDDrafter.buildTable(fromTokenSequences: [p]))
            return try SpeculativeDecoding.generate(model: m, prompt: p, drafter: &d, maxDraftTokens: d.configuration.maxNodes, stopping: s, traceTopK: 0)
        },
    ]
    methods.append(contentsOf: try lookaheadSpecBenchMethods(args, model: model))
    return methods
}

import Formats
import Transformer
import Decoding

/// One method as Spec-Bench runs it: a name and a function that generates from a prompt.
///
/// A method may keep state across calls (Token Recycling keeps its adjacency matrix for the
/// whole run, the paper's hot start), so one value is meant for one run over the questions.
public struct SpecBenchMethod {
    public let name: String
    public let run: (any CausalLanguageModel, [Int], StoppingCriteria) throws -> Generation

    public init(name: String, run: @escaping (any CausalLanguageModel, [Int], StoppingCriteria) throws -> Generation) {
        self.name = name
        self.run = run
    }

    /// A registered strategy as a method (fresh state for every question), named `name`.
    public init(name: String, strategy: any DecodingStrategy) {
        self.init(name: name) { model, prompt, stopping in
            try strategy.generate(model: model, prompt: prompt, stopping: stopping, traceTopK: 0).generation
        }
    }

    /// A registered strategy as a method under its own name.
    public init(_ strategy: any DecodingStrategy) { self.init(name: strategy.name, strategy: strategy) }

    /// Plain greedy decoding: the baseline every other method is compared with.
    public static let greedy = SpecBenchMethod(GreedyDecoding.Strategy())

    /// Prompt lookup decoding (`prompt-lookup`): drafts up to `numTokens` tokens copied from
    /// the sequence after the last match of its final n-gram (n ≤ `maxMatchingNgramSize`).
    public static func promptLookup(numTokens: Int, maxMatchingNgramSize: Int) -> SpecBenchMethod {
        SpecBenchMethod(PromptLookupDrafter.Strategy(promptLookupNumTokens: numTokens, maxMatchingNgramSize: maxMatchingNgramSize))
    }

    /// Greedy speculative decoding (`speculative`) with `draft` proposing `numAssistantTokens`
    /// tokens a step (for layer-skip self-speculation: the target truncated to its first layers).
    public static func speculative(draft: any CausalLanguageModel, numAssistantTokens: Int) -> SpecBenchMethod {
        SpecBenchMethod(SpeculativeDecoding.Strategy(draft: SpeculativeDraft(source: .model(draft), numTokens: numAssistantTokens)))
    }

    /// Token Recycling with one drafter kept for every call (hot start: later questions draft from
    /// what earlier ones taught it). `afterEachRun` sees the drafter after each generation (to
    /// record its tree statistics, `TokenRecyclingTreeStatistics`).
    public static func tokenRecycling(_ variant: TokenRecyclingVariant, vocabularySize: Int,
                                      afterEachRun: ((TokenRecyclingDrafter) throws -> Void)? = nil) -> SpecBenchMethod {
        final class Box { var drafter: TokenRecyclingDrafter; init(_ d: TokenRecyclingDrafter) { drafter = d } }
        let recycling = Box(TokenRecyclingDrafter(vocabularySize: vocabularySize, tree: variant.tree, draftThreshold: variant.draftThreshold))
        return SpecBenchMethod(name: variant.name) { model, prompt, stopping in
            let g = try SpeculativeDecoding.generate(model: model, prompt: prompt, drafter: &recycling.drafter,
                                                     maxDraftTokens: recycling.drafter.tree.count, stopping: stopping, traceTopK: 0)
            try afterEachRun?(recycling.drafter)
            return g
        }
    }

    /// ADED (`aded`) with a tri-gram table built from the prompt and updated online.
    public static let aded = SpecBenchMethod(ADEDDrafter.Strategy())

    /// Lookahead decoding (`lookahead`) with window W, n-gram size N and guess set size G.
    public static func lookahead(windowSize: Int, ngramSize: Int, guessSetSize: Int) -> SpecBenchMethod {
        SpecBenchMethod(LookaheadDecoding.Strategy(windowSize: windowSize, ngramSize: ngramSize, guessSetSize: guessSetSize))
    }

    /// Medusa (`medusa`, greedy acceptance) with `heads` over the tree `choices` (a
    /// `--medusa-choices` value), reported as `name`; `headsName` is what the record calls the heads.
    public static func medusa(name: String = "medusa", heads: MedusaHeads, headsName: String, choices: String) throws -> SpecBenchMethod {
        SpecBenchMethod(name: name, strategy: try MedusaDecoding.Strategy(heads: heads, headsName: headsName, choices: choices))
    }

    /// Parallel prompt decoding (`ppd`, greedy) with prompt embeddings `prompts` (a `--ppd-prompts`
    /// value: a file or `random:SEED:K`) over the table `tree` (a `--ppd-tree` value), reported as
    /// `name`. Throws `PPDError` for bad embeddings or a table, and for embeddings that do not fit `model`.
    public static func ppd(name: String = "ppd", prompts: String, tree: String, model: any CausalLanguageModel) throws -> SpecBenchMethod {
        let strategy = try ParallelPromptDecoding.Strategy(prompts: prompts, tree: tree)
        try strategy.resolvePrompts(for: model).check(against: model)
        return SpecBenchMethod(name: name, strategy: strategy)
    }

    /// Chimera (`chimera`, greedy verification) with the draft `weights` over the tree `choices` (a
    /// `--chimera-choices` value), reported as `name`; `weightsName` is what the record calls the weights.
    public static func chimera(name: String = "chimera", weights: ChimeraDraft, weightsName: String, choices: String) throws -> SpecBenchMethod {
        SpecBenchMethod(name: name, strategy: try ChimeraDecoding.Strategy(weights: weights, weightsName: weightsName, choices: choices))
    }

    /// The methods of `all` named in `names`, in the order named; a base name also selects its
    /// variants (`token-recycling` → `token-recycling@4`, …). The first method of `all` (the
    /// baseline) is put first when `names` does not start with it; a method named twice runs once.
    /// Throws `BenchmarkError.unknownMethod` for a name that matches nothing.
    public static func select(_ names: [String], from all: [SpecBenchMethod]) throws -> [SpecBenchMethod] {
        guard let baseline = all.first else { throw BenchmarkError.noMethods }
        var chosen: [SpecBenchMethod] = []
        for name in names {
            let matching = all.filter { $0.name == name || $0.name.hasPrefix(name + "@") }
            guard !matching.isEmpty else { throw BenchmarkError.unknownMethod(name: name, available: all.map(\.name)) }
            for m in matching where !chosen.contains(where: { $0.name == m.name }) { chosen.append(m) }
        }
        if chosen.first?.name != baseline.name {
            chosen.removeAll { $0.name == baseline.name }
            chosen.insert(baseline, at: 0)
        }
        return chosen
    }
}

/// One Token Recycling configuration of a Spec-Bench run, with the name it is reported under.
public struct TokenRecyclingVariant: Equatable, Sendable {
    public var name: String
    public var tree: TokenRecyclingTree
    /// Draft only nodes whose estimated acceptance probability is at least this (0 = off).
    public var draftThreshold: Double

    public init(name: String, tree: TokenRecyclingTree, draftThreshold: Double) {
        self.name = name
        self.tree = tree
        self.draftThreshold = draftThreshold
    }

    /// Without tree options: the paper's 80-node tree (`token-recycling`) and the setting that
    /// suits a 2-core CPU (`token-recycling@6-chain-p0.3`, DOCS.md section 8).
    public static let defaults: [TokenRecyclingVariant] = [
        TokenRecyclingVariant(name: "token-recycling", tree: .reference, draftThreshold: 0),
        TokenRecyclingVariant(name: "token-recycling@6-chain-p0.3", tree: .chain(depth: 6), draftThreshold: 0.3),
    ]

    /// One variant per `(nodes, shape, threshold)`, named `token-recycling@N` plus `-shape` when
    /// it is not the reference and `-pτ` when τ > 0; repeated names are dropped (first kept), and
    /// a single variant is named `token-recycling`. Throws `BenchmarkError.invalidParameter` for a
    /// node count outside 1…80 or a threshold outside [0, 1).
    public static func variants(_ trees: [(nodes: Int, shape: TokenRecyclingTreeShape, draftThreshold: Double)]) throws -> [TokenRecyclingVariant] {
        let limit = TokenRecyclingTree.reference.count
        var variants: [TokenRecyclingVariant] = []
        for (nodes, shape, threshold) in trees {
            guard (1...limit).contains(nodes) else {
                throw BenchmarkError.invalidParameter(name: "a Token Recycling tree's node count", value: "\(nodes)", expected: "in 1…\(limit)")
            }
            guard threshold >= 0 && threshold < 1 else {
                throw BenchmarkError.invalidParameter(name: "a draft threshold", value: "\(threshold)", expected: "a probability in [0, 1) (0 = off)")
            }
            let name = "token-recycling@\(nodes)" + (shape == .reference ? "" : "-\(shape.rawValue)") + (threshold > 0 ? "-p\(threshold)" : "")
            if variants.contains(where: { $0.name == name }) { continue }
            variants.append(TokenRecyclingVariant(name: name, tree: shape.tree(nodes: nodes), draftThreshold: threshold))
        }
        if variants.count == 1 { variants[0].name = "token-recycling" }
        return variants
    }
}

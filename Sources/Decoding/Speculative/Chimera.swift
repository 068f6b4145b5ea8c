import Foundation
import Formats
import Tensors
import Transformer

/// Chimera decoding: Zeng, Yu, Pang, Wang, Zhuang, Shao, Zou, "Chimera: A Lossless Decoding
/// Method for Accelerating Large Language Models Inference by Fusing all Tokens", 2024,
/// arXiv:2402.15758. The draft network is `ChimeraDraft`; the tree and its verification are
/// Medusa's (`MedusaTree`, `MedusaDecoding.accept` with greedy acceptance).
///
/// State between steps: the committed tokens `x_0 … x_{n-1}` in the target's KV cache, the
/// pending token `x_n` (chosen by the target, not yet fed to it), `h_{n-1}` (the final-norm state
/// that chose it), and the draft layer's cache (`ChimeraDraftState`) holding the keys and values of
/// `h_0 … h_{n-1}` (positions `0 … n-1`) and of the trigram features `g_1 … g_n` (positions `1 … n`).
/// One step:
/// 1. Draft (the chain of `ChimeraDraftState.draft`): step 1 runs the draft layer on `g_n` at
///    position `n` (it sees every cached slot) giving `f_n`, and head 0 reads `[h_{n-1}; f_n]`.
///    Step `k ≥ 2` [RECON]: the argmax of head `k-2` is appended to the sequence, the trigram of
///    the last three tokens of the extended sequence is encoded, the draft layer runs on it at
///    position `n + k - 1` (seeing every cached slot and the chain's earlier entries), and head
///    `k-1` reads `[h_{n-1}; f]`. Each head's top 10 (logit descending, id ascending, D4) fill the
///    tree's depth `k` as in Medusa (`MedusaTree.treeIndices`).
/// 2. Tree forward of the target over `[x_n] + tree tokens` (`AttentionMask.tree`).
/// 3. Greedy acceptance (`MedusaDecoding.accept(… .greedy)`): longest path of nodes whose token is
///    the target's argmax after its parent.
/// 4. Update: the accepted path's target KV is kept, the accepted tokens and the target's argmax
///    after them are emitted; the draft cache drops the chain and appends the keys and values of
///    the newly committed tokens' final-norm states (the accepted path's rows of the tree pass:
///    hidden states of committed tokens only, never of rejected nodes) and of their trigrams.
///
/// Lossless: every emitted token is the target's argmax at a committed position (D3), for any
/// draft weights and any tree.
public enum ChimeraDecoding {
    /// Figures of one run beyond `Generation.Statistics` (which counts steps and MAT).
    public struct RunStatistics: Sendable, Equatable {
        /// Steps that accepted 0, 1, … `depth` drafted tokens.
        public var acceptedLengths: [Int]
        /// Drafted tree nodes verified in total (the root not counted).
        public var draftedTokens = 0
    }

    /// Generates up to `stopping.maxNewTokens` tokens after `prompt` with `draft` over the static
    /// tree `tree`. Throws `ChimeraError` when the weights do not fit the model or the tree is
    /// deeper than the heads.
    public static func generate(model: any CausalLanguageModel, prompt: [Int], draft: ChimeraDraft, tree: MedusaTree, stopping: StoppingCriteria,
                                traceTopK: Int = 5, pool: ParallelFor = .shared, onToken: ((Int) -> Void)? = nil) throws -> (generation: Generation, statistics: RunStatistics) {
        try run(model: model, prompt: prompt, draft: draft, tree: tree, stopping: stopping, traceTopK: traceTopK, pool: pool, onToken: onToken, afterStep: nil)
    }

    /// `generate`, calling `afterStep` with the draft state and the emitted tokens after every update (tests).
    static func run(model: any CausalLanguageModel, prompt: [Int], draft: ChimeraDraft, tree: MedusaTree, stopping: StoppingCriteria, traceTopK: Int,
                    pool: ParallelFor, onToken: ((Int) -> Void)?, afterStep: ((ChimeraDraftState, [Int]) -> Void)?) throws -> (generation: Generation, statistics: RunStatistics) {
        try draft.check(against: model)
        guard tree.depth <= draft.headCount else { throw ChimeraError.treeTooDeep(depth: tree.depth, heads: draft.headCount) }
        let limit = model.shape.contextLength, C = model.shape.hiddenSize, V = model.shape.vocabularySize
        try DecodingStart.checkPrompt(prompt, contextLength: limit)
        var stats = Generation.Statistics()
        var run = RunStatistics(acceptedLengths: [Int](repeating: 0, count: tree.depth + 1))
        let (cache, prefill) = try DecodingStart.prefill(model, prompt: prompt, reserve: stopping.maxNewTokens + tree.count + 1,
                                                         taps: ForwardTaps(finalNormOutput: true), pool: pool, stats: &stats)
        guard let prefillHidden = prefill.finalNormOutput else {
            throw ChimeraError.modelMismatch("the model's forward pass does not return its final-norm output (ForwardTaps.finalNormOutput), which the draft reads")
        }
        var recorder = GenerationRecorder(prompt: prompt, stopping: stopping, statistics: stats, onToken: onToken)
        let first = prefill.logits.withUnsafeBufferPointer { GreedyDecoding.select(logits: $0.baseAddress!, count: V, topK: traceTopK) }
        guard recorder.hasRoom, recorder.emit(first) else { return (recorder.finish(), run) }
        // Two draft slots per committed position, then the chain (grows past this when needed).
        let positions = stopping.maxNewTokens >= limit ? limit : min(limit, prompt.count + stopping.maxNewTokens)
        let state = ChimeraDraftState(draft: draft, model: model, firstToken: prompt[0], capacity: 2 * positions + tree.depth)
        state.commit(hidden: prefillHidden, tokens: Array(prompt.dropFirst()) + [first.token], lastLogits: prefill.logits, pool: pool)

        while true {
            // The target's cache must hold the root plus every node.
            let room = limit - cache.length - 1
            if room < 0 { recorder.stop(.contextLimit); break }
            let stepTree = room == 0 ? nil : tree.truncated(toNodes: room)
            let T = stepTree?.count ?? 1
            // 1. Draft: the root (pending token), then each depth's ranked head tokens.
            var tokens = [recorder.output.last!]
            if let stepTree {
                let ranked = state.draft(heads: stepTree.depth, topK: MedusaTree.topK, pool: pool)
                var flat = tokens
                for k in 0..<stepTree.depth { flat += (0..<MedusaTree.topK).map { $0 < ranked[k].count ? ranked[k][$0] : 0 } }
                tokens = stepTree.treeIndices.map { flat[$0] }
            }
            // 2. Tree forward.
            let base = cache.length
            let result = try model.forward(tokens: tokens, mask: .tree(parents: stepTree?.parents ?? [-1]), cache: cache, logitRows: .all,
                                           taps: ForwardTaps(finalNormOutput: true), pool: pool)
            // 3. Greedy acceptance.
            let (row, accepted) = stepTree.map { t in
                result.logits.withUnsafeBufferPointer { MedusaDecoding.accept(tree: t, tokens: tokens, logits: $0.baseAddress!, vocabularySize: V, acceptance: .greedy) }
            } ?? (0, 0)
            let path = stepTree.map { Array($0.retrieveIndices[row][0...accepted]) } ?? [0]
            // 4. Update the target's cache; emit the accepted tokens and the target's next token.
            cache.keep(slots: path.map { base + $0 }, after: base)
            let last = path.last!
            var steps: [TraceStep] = []
            result.logits.withUnsafeBufferPointer { p in
                for j in 1..<path.count { steps.append(MedusaDecoding.traceStep(logits: p.baseAddress! + path[j - 1] * V, count: V, token: tokens[path[j]], topK: traceTopK)) }
                steps.append(GreedyDecoding.select(logits: p.baseAddress! + last * V, count: V, topK: traceTopK))
            }
            // The draft reads the committed path's hidden states (root and accepted nodes) only.
            let hidden = result.finalNormOutput!
            var committed = [Float](repeating: 0, count: path.count * C)
            for (i, index) in path.enumerated() {
                for c in 0..<C { committed[i * C + c] = hidden[index * C + c] }
            }
            state.commit(hidden: committed, tokens: steps.map(\.token), lastLogits: Array(result.logits[(last * V)..<((last + 1) * V)]), pool: pool)
            run.acceptedLengths[accepted] += 1
            run.draftedTokens += T - 1
            steps[0].drafted = Array(tokens.dropFirst())
            steps[0].accepted = accepted
            guard recorder.emitVerification(steps, accepted: accepted) else { break }
            afterStep?(state, recorder.output)
        }
        return (recorder.finish(), run)
    }

    // MARK: - Trees

    /// The authors' evaluation tree (`mc_sim_7b_63` in `chimera/chimera/model/choices.py`; 25
    /// nodes, depth 5), in its listed order.
    public static let authorsTree: [[Int]] = [
        [0], [1], [2], [3], [0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [2, 0], [2, 1], [3, 0], [0, 0, 0], [0, 0, 1], [0, 0, 2], [0, 1, 0],
        [0, 1, 1], [0, 2, 0], [0, 2, 1], [1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1], [0, 0, 0, 2], [0, 0, 0, 0, 0], [0, 0, 0, 0, 1],
    ]

    /// Chimera's own named tables: `chimera-25` (the authors' tree; needs 5 heads) and `chimera-23`
    /// (its 23 nodes of depth ≤ 4, for the authors' 4 heads). Every Medusa table name
    /// (`MedusaTree.namedTables`, e.g. `chain-3`), `NAME:N` and JSON lists are accepted too.
    public static let namedTables: [(name: String, paths: [[Int]])] = [
        ("chimera-25", authorsTree), ("chimera-23", authorsTree.filter { $0.count <= 4 }),
    ]

    /// The tree a `--chimera-choices` value names (see `namedTables`). Throws `MedusaError`.
    public static func tree(named text: String) throws -> MedusaTree {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        var name = trimmed, prefix: Int? = nil
        if let colon = trimmed.lastIndex(of: ":") {
            name = String(trimmed[..<colon])
            prefix = Int(trimmed[trimmed.index(after: colon)...])
        }
        if let table = namedTables.first(where: { $0.name == name }) {
            if trimmed.contains(":") {
                guard let n = prefix, n >= 1, n <= table.paths.count else {
                    throw MedusaError.invalidChoices("'\(text)': NAME:N keeps the first N (1…\(table.paths.count)) paths of \(name)")
                }
                return try MedusaTree(choices: Array(table.paths.prefix(n)))
            }
            return try MedusaTree(choices: table.paths)
        }
        do {
            return try MedusaTree.named(text)
        } catch MedusaError.unknownChoices(let name, let available) {
            throw MedusaError.unknownChoices(name: name, available: namedTables.map(\.name) + available)
        }
    }
}

// MARK: - Draft state

/// The draft's state during one generation: the sequence `x_0 … x_n` (committed tokens and the
/// pending one), the last committed final-norm state `h_{n-1}`, and the draft layer's cache with
/// `h_i` at slot `2i` and `g_{i+1}` at slot `2i + 1` (see `ChimeraDraftCache`). Attention visits
/// the slots in that order (`h_0, g_1, h_1, g_2, …`): a fixed order, the same for any split of the
/// generation into steps, and a permutation of the spec's `[h block | g block]` concatenation.
final class ChimeraDraftState {
    let draft: ChimeraDraft
    let model: any CausalLanguageModel
    /// `x_0 … x_n`.
    private(set) var tokens: [Int]
    /// `h_{n-1}` (`[C]`).
    private(set) var lastHidden: [Float] = []
    /// The target's logits row at position `n-1` (the one that chose `x_n`), when the loop
    /// gives it: by `CausalLanguageModel.outputHead`'s contract and D3 it is `W_lm h_{n-1}` bit for
    /// bit (tested per architecture), the tied heads' first term. nil = compute `W_lm h_{n-1}`.
    private(set) var lastLogits: [Float]?
    /// `g_n` (`[C]`): the input of draft step 1.
    private(set) var lastTrigram: [Float] = []
    let cache: ChimeraDraftCache

    init(draft: ChimeraDraft, model: any CausalLanguageModel, firstToken: Int, capacity: Int) {
        self.draft = draft
        self.model = model
        tokens = [firstToken]
        cache = ChimeraDraftCache(rowWidth: model.shape.kvRowWidth, headDimension: model.shape.headDimension, initialCapacity: capacity)
    }

    /// Committed positions `n` (the pending token is `tokens[n]`).
    var committedCount: Int { tokens.count - 1 }

    /// Commits `m` more positions: `hidden` holds `h_n … h_{n+m-1}` (`[m, C]`, the final-norm
    /// states of the tokens `x_n … x_{n+m-1}` now in the target's cache) and `newTokens` the `m`
    /// tokens after them (`x_{n+1} … x_{n+m}`, the last one the new pending token). Drops any
    /// drafted chain, then appends the slot pairs `(h_i, g_{i+1})` for `i = n … n+m-1`.
    func commit(hidden: [Float], tokens newTokens: [Int], lastLogits: [Float]? = nil, pool: ParallelFor) {
        let C = draft.hiddenSize, m = newTokens.count, n = committedCount, naive = model.useNaiveKernels
        precondition(hidden.count == m * C && m >= 1, "one hidden state per new token")
        cache.truncate(to: 2 * n)
        tokens += newTokens
        let hPositions = Array(n..<(n + m)), gPositions = Array((n + 1)...(n + m))
        let g = draft.encodeTrigrams(tokens: tokens, positions: gPositions, model: model, pool: pool)  // [m, C]
        let (hk, hv) = draft.keysAndValues(hidden, positions: hPositions, shape: model.shape, naive: naive, pool: pool)
        let (gk, gv) = draft.keysAndValues(g, positions: gPositions, shape: model.shape, naive: naive, pool: pool)
        let W = cache.rowWidth
        for i in 0..<m {
            hk.withUnsafeBufferPointer { k in hv.withUnsafeBufferPointer { v in cache.append(key: k.baseAddress! + i * W, value: v.baseAddress! + i * W, position: n + i) } }
            gk.withUnsafeBufferPointer { k in gv.withUnsafeBufferPointer { v in cache.append(key: k.baseAddress! + i * W, value: v.baseAddress! + i * W, position: n + i + 1) } }
        }
        lastHidden = Array(hidden[((m - 1) * C)..<(m * C)])
        self.lastLogits = lastLogits
        lastTrigram = Array(g[((m - 1) * C)..<(m * C)])
    }

    /// The draft outputs `f` of steps 1…`heads` and each head's logits (`[heads][V]`): the chain
    /// of the type's step 1 and steps `k ≥ 2`. The chain's cache entries are dropped before returning.
    func chain(heads: Int, pool: ParallelFor) -> (drafts: [[Float]], logits: [[Float]]) {
        let n = committedCount, naive = model.useNaiveKernels, W = cache.rowWidth, V = model.shape.vocabularySize
        precondition(n >= 1 && cache.length == 2 * n, "commit the prompt before drafting")
        let base = draft.isTied ? lastLogits ?? draft.baseLogits(hidden: lastHidden, model: model, pool: pool) : []
        var extended = tokens
        var drafts: [[Float]] = [], logits: [[Float]] = []
        var input = lastTrigram
        for k in 1...heads {
            let position = n + k - 1
            if k >= 2 {
                // [RECON] The previous head's argmax joins the sequence; its trigram is the next query.
                extended.append(logits[k - 2].withUnsafeBufferPointer { Kernels.argmax($0.baseAddress!, count: V) })
                input = draft.encodeTrigrams(tokens: extended, positions: [position], model: model, pool: pool)
                let (key, value) = draft.keysAndValues(input, positions: [position], shape: model.shape, naive: naive, pool: pool)
                precondition(key.count == W)
                key.withUnsafeBufferPointer { kp in value.withUnsafeBufferPointer { vp in cache.append(key: kp.baseAddress!, value: vp.baseAddress!, position: position) } }
            }
            let f = draft.layerOutput(input, position: position, cache: cache, visible: cache.length, shape: model.shape, naive: naive, pool: pool)
            drafts.append(f)
            logits.append(draft.headLogits(k - 1, hidden: lastHidden, base: base, draft: f, model: model, pool: pool))
        }
        cache.truncate(to: 2 * n)
        return (drafts, logits)
    }

    /// The top `topK` token ids of each of heads `0..<heads` (logit descending, id ascending).
    func draft(heads: Int, topK: Int, pool: ParallelFor) -> [[Int]] {
        let V = model.shape.vocabularySize
        return chain(heads: heads, pool: pool).logits.map { row in
            row.withUnsafeBufferPointer { Kernels.topK($0.baseAddress!, count: V, k: topK).map(\.index) }
        }
    }
}

// MARK: - Strategy

extension ChimeraDecoding {
    /// `--strategy chimera`: Chimera's draft network drafting a static tree, verified greedily in one pass.
    public struct Strategy: DecodingStrategy {
        public static let name = "chimera"
        public static let summary = "Chimera: a trigram encoder, one full-context draft layer over the target's hidden states and residual heads draft a token tree verified in one pass (greedy: token-identical to greedy)"
        static let chimeraWeights = StrategyOption("chimera-weights", .text(placeholder: "FILE|random:SEED"), default: "shipped",
                                                   help: "draft safetensors (trimlp.*, fast_layer1.0.*, chimera_head.{i}.0.weight unless tied); shipped = \(ChimeraDraft.shippedRelativePath) (SmolLM2-135M-Instruct); random:SEED or random:SEED:K = seeded random tied weights with 4 (K) heads (tests)")
        static let chimeraChoices = StrategyOption("chimera-choices", .text(placeholder: "NAME|JSON"), default: defaultChoices,
                                                   help: "tree: \((ChimeraDecoding.namedTables.map(\.name) + MedusaTree.namedTables.map(\.name)).joined(separator: ", ")), NAME:N (first N paths) or a JSON list of paths")
        public static let options = [chimeraWeights, chimeraChoices]
        public static let processorUse = ProcessorSettings.Use.none
        /// The tree used when `--chimera-choices` is not given, **provisional**: a chain of 3, because
        /// on this CPU every drafted depth costs a sequential LM-head product and the authors' table
        /// cut to depth ≤ 4 (`chimera-23`) would need more than its 5 tokens per step to pay (DOCS.md 6.14).
        public static let defaultChoices = "chain-3"

        /// `--chimera-weights` as given (`shipped`, a path or `random:SEED[:K]`).
        public var weightsName: String
        /// `--chimera-choices` as given.
        public var choicesName: String
        public var tree: MedusaTree
        /// Weights loaded up front (a file, or weights given in code); nil = seeded random, made per run.
        public var weights: ChimeraDraft?
        /// SHA-256 of the weights file, recorded so that a fixture names the weights it ran with.
        public var weightsSHA256: String?

        /// - Parameters:
        ///   - weights: `shipped` (the committed SmolLM2 draft, loaded now), a safetensors path
        ///     (loaded now) or `random:SEED[:K]`.
        ///   - choices: a `--chimera-choices` value (`ChimeraDecoding.tree(named:)`).
        public init(weights: String = "shipped", choices: String = defaultChoices) throws {
            weightsName = weights
            choicesName = choices
            tree = try ChimeraDecoding.tree(named: choices)
            if let (_, k) = Self.randomSpec(weights) {
                guard tree.depth <= k else { throw ChimeraError.treeTooDeep(depth: tree.depth, heads: k) }
            } else {
                if weights.hasPrefix("random:") { throw ChimeraError.invalidWeights("'\(weights)': seeded random weights are written random:SEED or random:SEED:K (K heads ≥ 1)") }
                let path: String
                if weights == "shipped" {
                    guard let found = ShippedWeights.find(ChimeraDraft.shippedRelativePath) else {
                        throw ChimeraError.shippedWeightsNotFound(searched: ShippedWeights.candidates(relativePath: ChimeraDraft.shippedRelativePath))
                    }
                    path = found
                } else {
                    path = weights
                }
                let loaded = try ChimeraDraft.load(path: path)
                guard tree.depth <= loaded.headCount else { throw ChimeraError.treeTooDeep(depth: tree.depth, heads: loaded.headCount) }
                self.weights = loaded
                weightsSHA256 = try? SHA256.hexDigest(ofFile: path)
            }
        }

        /// Chimera with weights already in memory, recorded as `weightsName`.
        public init(weights: ChimeraDraft, weightsName: String, choices: String = defaultChoices) throws {
            self.weightsName = weightsName
            choicesName = choices
            tree = try ChimeraDecoding.tree(named: choices)
            self.weights = weights
            guard tree.depth <= weights.headCount else { throw ChimeraError.treeTooDeep(depth: tree.depth, heads: weights.headCount) }
        }

        public init(arguments a: StrategyArguments, processors: ProcessorSettings, context: StrategyContext) throws {
            try self.init(weights: try a.text(Self.chimeraWeights)!, choices: try a.text(Self.chimeraChoices)!)
        }

        /// `random:SEED` → (SEED, 4); `random:SEED:K` → (SEED, K).
        static func randomSpec(_ text: String) -> (seed: UInt64, heads: Int)? {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2 || parts.count == 3, parts[0] == "random", let seed = UInt64(parts[1]) else { return nil }
            if parts.count == 2 { return (seed, 4) }
            guard let k = Int(parts[2]), k >= 1, k <= 64 else { return nil }
            return (seed, k)
        }

        public var parameters: [(String, JSONValue)] {
            var p: [(String, JSONValue)] = [("chimera_weights", .string(weightsName))]
            if let weightsSHA256 { p.append(("chimera_weights_sha256", .string(weightsSHA256))) }
            p.append(("chimera_choices", .string(choicesName)))
            return p
        }

        /// The weights for `model`: the loaded ones or seeded random ones.
        public func resolveWeights(for model: any CausalLanguageModel) throws -> ChimeraDraft {
            if let weights { return weights }
            guard let (seed, k) = Self.randomSpec(weightsName) else { throw ChimeraError.missingWeights }
            return ChimeraDraft.random(seed: seed, model: model, heads: k)
        }

        public func generate(model: any CausalLanguageModel, prompt: [Int], stopping: StoppingCriteria, traceTopK: Int,
                             onToken: ((Int) -> Void)?) throws -> StrategyOutput {
            let weights = try resolveWeights(for: model)
            let (g, run) = try ChimeraDecoding.generate(model: model, prompt: prompt, draft: weights, tree: tree, stopping: stopping,
                                                        traceTopK: traceTopK, onToken: onToken)
            return StrategyOutput(g, statistics: [("tree_nodes", .int(tree.count - 1)), ("tree_depth", .int(tree.depth)),
                                                  ("chimera_head_count", .int(weights.headCount)), ("chimera_tied_heads", .bool(weights.isTied)),
                                                  ("drafted_tokens", .int(run.draftedTokens)), ("accepted_length_counts", .ints(run.acceptedLengths))])
        }
    }
}

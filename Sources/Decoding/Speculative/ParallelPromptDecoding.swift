import Foundation
import Formats
import Tensors
import Transformer

/// Parallel prompt decoding (PPD): Chen, Luk, Yiu, Li, Mishchenko, Venieris, Fan, "Hardware-Aware
/// Parallel Prompt Decoding for Memory-Efficient Acceleration of LLM Inference", 2024,
/// arXiv:2405.18628 (Section 3: prompt tokens; Section 3.3: dynamic sparse tree). Reference loop:
/// `PromptDecoder.ppd_generate` in `hmarkc/parallel-prompt-decoding` `prompt/model/model.py`
/// (`start_inference`, `generate_candidates`, `tree_decoding`, `evaluate_posterior`,
/// `update_inference_inputs`), inference with V = 1 virtual token per prompt token.
///
/// K trained prompt embeddings `P` (`PPDPrompts`) ride after the real tokens; prompt token j
/// guesses the token j + 2 positions after its host. The frozen model is unchanged.
///
/// State between steps: the committed sequence in the KV cache, the pending token `r` (chosen, not
/// yet fed), the guess logits of `k` prompt tokens (`k` rows) and the active depth key `k`.
/// 1. Prefill (`start_inference`): one pass over `prompt ++ P` (the prompt rows' layer-0 inputs are
///    `P`, `InputEmbeddings`), causal, positions `0..<L+K`. `r = argmax` at row `L - 1`; the K prompt
///    rows' logits are the guesses; the cache is cut back to `L` (prompt-token KV never survives).
///    Key `k = K`.
/// 2. Candidates (`generate_candidates`): `flat = [r] + top10(row 0) + top10(row 1) + …` (logit
///    descending, id ascending, D4); the tree of key `k` (`PPDTree`) reads a real node's token
///    from `flat[treeIndices[i]]`, and a prompt marker `-j`'s input is `P[j - 1]`.
/// 3. Tree pass (`tree_decoding`): one forward over the `T` tree inputs after the cache, each seeing
///    the cache and its ancestors (`AttentionMask.tree`, the ancestor closure of the reference's
///    mask), at positions `cache length + positionIDs`.
/// 4. Greedy acceptance (`evaluate_posterior`, temperature 0): over `retrieveIndices`, a real node
///    is accepted when its token is the argmax (lowest id among ties) at its parent; the longest
///    prefix wins, the first row on ties.
/// 5. Update (`update_inference_inputs`): the KV of the row's root and accepted nodes moves to the
///    slots after the old cache (every other input, all prompt markers included, is dropped); the
///    accepted tokens are emitted, then the argmax at the last accepted node `c`, the next `r`. The
///    next guesses are the logits at `c`'s own prompt chain (`specialIndices[c]`), and the next key
///    is its length (`c`'s `n`; K for the root).
///
/// Lossless: every emitted token is the model's argmax after exactly the committed sequence (D3;
/// real nodes never see prompt markers, which are leaves' chains), so the output equals greedy
/// decoding for any prompt embeddings and any table. Per step 1 ≤ emitted ≤ depth(tree) + 1 ≤ K + 1.
///
/// Decisions where the reference is not exact (DOCS.md section 6.14): padding (-1) in a retrieve
/// row is never accepted; stopping goes through `StoppingCriteria` (the output ends at an EOS id or
/// `maxNewTokens`, the reference keeps a whole accepted span); when the tree of the active key does
/// not fit in the context (or the prompt plus K prompt tokens does not), the step verifies the
/// pending token alone (a plain decode step; no guesses afterwards) instead of overflowing.
public enum ParallelPromptDecoding {
    /// Figures of one run beyond `Generation.Statistics` (which counts steps and MAT).
    public struct RunStatistics: Sendable, Equatable {
        /// Steps that accepted 0, 1, … K guessed tokens.
        public var acceptedLengths: [Int]
        /// Real (guessed) tree nodes verified in total (roots not counted).
        public var draftedTokens = 0
        /// Prompt-token inputs fed in total (prefill and tree passes).
        public var promptInputs = 0
        /// Steps run with each depth key 1…K (`[key 1, key 2, …]`).
        public var keyCounts: [Int]
    }

    /// Generates up to `stopping.maxNewTokens` tokens after `prompt` with prompt embeddings
    /// `prompts` over the dynamic sparse trees `table` (see the type's notes). Throws `PPDError`
    /// when the embeddings do not fit the model or the table was built for another K.
    public static func generate(model: any CausalLanguageModel, prompt: [Int], prompts: PPDPrompts, table: PPDTreeTable,
                                stopping: StoppingCriteria, traceTopK: Int = 5, pool: ParallelFor = .shared,
                                onToken: ((Int) -> Void)? = nil) throws -> (generation: Generation, statistics: RunStatistics) {
        try run(model: model, prompt: prompt, prompts: prompts, table: table, stopping: stopping, traceTopK: traceTopK, pool: pool,
                onToken: onToken, afterStep: nil)
    }

    /// One step's inputs as `run` feeds them: tokens (0 at prompt markers), the prompt rows'
    /// embeddings, and each real node's token by node index. `guesses` is `[k, V]`.
    static func treeInputs(tree: PPDTree, pending r: Int, guesses: [Float], vocabularySize V: Int,
                           prompts: PPDPrompts) -> (tokens: [Int], embeddings: InputEmbeddings, nodeTokens: [Int]) {
        var flat = [r]
        let rows = guesses.count / V
        guesses.withUnsafeBufferPointer { p in
            for row in 0..<rows {
                let top = Kernels.topK(p.baseAddress! + row * V, count: V, k: PPDTree.topK)
                flat += (0..<PPDTree.topK).map { $0 < top.count ? top[$0].index : 0 }
            }
        }
        var tokens = [Int](repeating: 0, count: tree.count)
        var embeddingRows: [Int] = []
        var values: [Float] = []
        let K = prompts.count
        for (i, t) in tree.treeIndices.enumerated() {
            if t >= 0 {
                tokens[i] = flat[t]
            } else {
                embeddingRows.append(i)
                values += prompts.row(K + t)  // t = -(K - j + 1) selects P[j - 1]
            }
        }
        return (tokens, InputEmbeddings(rows: embeddingRows, values: values), tree.normalIndices.map { tokens[$0] })
    }

    /// The best retrieve row and its accepted length under greedy acceptance, for the real nodes'
    /// tokens (by node index) and the argmax at each node (by node index).
    static func acceptGreedy(tree: PPDTree, nodeTokens: [Int], argmax: [Int]) -> (row: Int, length: Int) {
        var best = (row: 0, length: 0)
        for (j, row) in tree.retrieveIndices.enumerated() {
            var n = 0
            for i in 1..<row.count {
                guard row[i] > 0, nodeTokens[row[i]] == argmax[row[i - 1]] else { break }  // padding (-1) is never accepted
                n += 1
            }
            if n > best.length { best = (j, n) }
        }
        return best
    }

    /// `generate`, calling `afterStep` after every update (tests) with the cache, the output so far,
    /// the step's tree (nil for a plain step) and the tokens the step emitted.
    static func run(model: any CausalLanguageModel, prompt: [Int], prompts: PPDPrompts, table: PPDTreeTable, stopping: StoppingCriteria,
                    traceTopK: Int, pool: ParallelFor, onToken: ((Int) -> Void)?,
                    afterStep: ((KVCache, [Int], PPDTree?, Int) -> Void)?) throws -> (generation: Generation, statistics: RunStatistics) {
        try prompts.check(against: model)
        let K = prompts.count
        guard table.promptCount == K else {
            throw PPDError.invalidTree("the tree table was built for \(table.promptCount) prompt tokens but the embeddings have \(K)")
        }
        let limit = model.shape.contextLength, V = model.shape.vocabularySize
        try DecodingStart.checkPrompt(prompt, contextLength: limit)
        let L = prompt.count
        var stats = Generation.Statistics()
        var run = RunStatistics(acceptedLengths: [Int](repeating: 0, count: K + 1), keyCounts: [Int](repeating: 0, count: K))
        let largest = table.trees.map(\.tree.count).max() ?? 1
        let cache = KVCache(shape: model.shape, initialCapacity: min(limit, L + stopping.maxNewTokens + largest + K + 1))

        // 1. Prefill over prompt ++ P (when the K prompt tokens fit).
        let start = monotonicSeconds()
        let withPrompts = L + K <= limit
        let prefill: ForwardResult
        if withPrompts {
            prefill = try model.forward(tokens: prompt + [Int](repeating: 0, count: K),
                                        inputEmbeddings: InputEmbeddings(rows: Array(L..<(L + K)), values: prompts.values),
                                        positions: nil, mask: .causal, cache: cache, logitRows: .rows(Array((L - 1)..<(L + K))),
                                        taps: .none, pool: pool)
            cache.rollback(to: L)
            run.promptInputs += K
        } else {
            prefill = try model.forward(tokens: prompt, cache: cache, logitRows: .last, pool: pool)
        }
        stats.prefillSeconds = monotonicSeconds() - start
        stats.forwardPasses += 1
        try NonFiniteCheck.requireFinite(Array(prefill.logits[0..<V]), model: model, tokens: prompt, pool: pool)
        var recorder = GenerationRecorder(prompt: prompt, stopping: stopping, statistics: stats, onToken: onToken)
        let first = prefill.logits.withUnsafeBufferPointer { GreedyDecoding.select(logits: $0.baseAddress!, count: V, topK: traceTopK) }
        // Guess rows [k, V] and the active key (nil = no guesses: plain steps).
        var guesses: [Float] = withPrompts ? Array(prefill.logits[V...]) : []
        var key: Int? = withPrompts ? K : nil
        guard recorder.hasRoom, recorder.emit(first) else { return (recorder.finish(), run) }

        while true {
            let base = cache.length
            if base + 1 > limit { recorder.stop(.contextLimit); break }
            let r = recorder.output.last!
            var tree: PPDTree? = key.flatMap { table.tree(forKey: $0) }
            if let t = tree, base + t.count > limit { tree = nil }  // the tree does not fit: a plain step
            var steps: [TraceStep] = []
            var accepted = 0
            if let tree, let k = key {
                // 2. Candidates and tree inputs.
                let inputs = treeInputs(tree: tree, pending: r, guesses: guesses, vocabularySize: V, prompts: prompts)
                // 3. Tree pass.
                let result = try model.forward(tokens: inputs.tokens, inputEmbeddings: inputs.embeddings,
                                               positions: tree.positionIDs.map { base + $0 }, mask: .tree(parents: tree.parents),
                                               cache: cache, logitRows: .all, taps: .none, pool: pool)
                // 4. Greedy acceptance.
                let argmax = result.logits.withUnsafeBufferPointer { p in
                    tree.normalIndices.map { Kernels.argmax(p.baseAddress! + $0 * V, count: V) }
                }
                let (row, length) = acceptGreedy(tree: tree, nodeTokens: inputs.nodeTokens, argmax: argmax)
                accepted = length
                let path = Array(tree.retrieveIndices[row][0...length])  // node indices
                // 5. Update: keep the root's and accepted nodes' KV; the next guesses are the last
                // accepted node's own prompt chain.
                cache.keep(slots: path.map { base + tree.normalIndices[$0] }, after: base)
                let c = path.last!
                result.logits.withUnsafeBufferPointer { p in
                    for j in 1..<path.count {
                        steps.append(MedusaDecoding.traceStep(logits: p.baseAddress! + tree.normalIndices[path[j - 1]] * V, count: V,
                                                              token: inputs.nodeTokens[path[j]], topK: traceTopK))
                    }
                    steps.append(GreedyDecoding.select(logits: p.baseAddress! + tree.normalIndices[c] * V, count: V, topK: traceTopK))
                }
                let chain = tree.specialIndices[c]
                guesses = chain.flatMap { Array(result.logits[($0 * V)..<(($0 + 1) * V)]) }
                key = chain.isEmpty ? nil : chain.count
                run.keyCounts[k - 1] += 1
                run.draftedTokens += tree.normalIndices.count - 1
                run.promptInputs += tree.count - tree.normalIndices.count
                steps[0].drafted = Array(inputs.nodeTokens.dropFirst())
                steps[0].accepted = accepted
            } else {
                // A plain step: the pending token alone.
                let result = try model.forward(tokens: [r], cache: cache, logitRows: .last, pool: pool)
                steps.append(result.logits.withUnsafeBufferPointer { GreedyDecoding.select(logits: $0.baseAddress!, count: V, topK: traceTopK) })
                steps[0].drafted = []
                steps[0].accepted = 0
                key = nil
            }
            run.acceptedLengths[accepted] += 1
            guard recorder.emitVerification(steps, accepted: accepted) else { break }
            afterStep?(cache, recorder.output, tree, steps.count)
        }
        return (recorder.finish(), run)
    }
}

// MARK: - Strategy

extension ParallelPromptDecoding {
    /// `--strategy ppd`: K prompt-token embeddings guess a dynamic sparse tree verified in one pass.
    public struct Strategy: DecodingStrategy {
        public static let name = "ppd"
        public static let summary = "parallel prompt decoding: K prompt-token embeddings guess a dynamic sparse tree verified in one pass (greedy, token-identical to greedy)"
        static let ppdPrompts = StrategyOption("ppd-prompts", .text(placeholder: "FILE|random:SEED:K"), default: "shipped",
                                               help: "prompt embeddings: a safetensors file with prompt_embeddings [K, C]; shipped = \(PPDPrompts.shippedRelativePath) (SmolLM2-135M-Instruct); random:SEED:K = seeded random ones (tests)")
        static let ppdTree = StrategyOption("ppd-tree", .text(placeholder: "NAME|JSON"), default: defaultTree,
                                            help: "dynamic sparse trees: \(PPDTreeTable.namedTables.joined(separator: ", ")), or JSON {\"DEPTH\": [[PATH, N], …]}")
        public static let options = [ppdPrompts, ppdTree]
        public static let processorUse = ProcessorSettings.Use.none
        /// The table used when `--ppd-tree` is not given.
        public static let defaultTree = "chain"

        /// `--ppd-prompts` as given (`shipped`, a path or `random:SEED:K`).
        public var promptsName: String
        /// `--ppd-tree` as given.
        public var treeName: String
        public var table: PPDTreeTable
        /// Embeddings loaded up front (a file); nil = seeded random, resolved per model.
        public var prompts: PPDPrompts?
        /// SHA-256 of the embedding file, recorded so that a fixture names the weights it ran with.
        public var promptsSHA256: String?

        /// - Parameter prompts: `shipped` (the committed SmolLM2 embeddings, loaded now), a
        ///   safetensors path (loaded now) or `random:SEED:K`.
        public init(prompts: String = "shipped", tree: String = defaultTree) throws {
            promptsName = prompts
            treeName = tree
            let K: Int
            if let (_, k) = Self.randomSpec(prompts) {
                K = k
            } else {
                if prompts.hasPrefix("random:") { throw PPDError.invalidPrompts("'\(prompts)': seeded random prompt embeddings are written random:SEED:K (K prompt tokens, 1...16)") }
                if prompts.isEmpty { throw PPDError.invalidPrompts("give a prompt-embedding file (safetensors, prompt_embeddings [K, C]), shipped or random:SEED:K") }
                let path: String
                if prompts == "shipped" {
                    guard let found = ShippedWeights.find(PPDPrompts.shippedRelativePath) else {
                        let searched = ShippedWeights.candidates(relativePath: PPDPrompts.shippedRelativePath)
                        throw PPDError.invalidPrompts("the shipped prompt embeddings (\(PPDPrompts.shippedRelativePath)) were not found (searched \(searched.joined(separator: ", "))); give --ppd-prompts FILE or random:SEED:K")
                    }
                    path = found
                } else {
                    path = prompts
                }
                let loaded = try PPDPrompts.load(path: path)
                self.prompts = loaded
                promptsSHA256 = try? SHA256.hexDigest(ofFile: path)
                K = loaded.count
            }
            table = try PPDTreeTable.parse(tree, promptCount: K)
        }

        public init(arguments a: StrategyArguments, processors: ProcessorSettings, context: StrategyContext) throws {
            try self.init(prompts: try a.text(Self.ppdPrompts)!, tree: try a.text(Self.ppdTree)!)
        }

        /// `random:SEED:K` → (seed, K).
        static func randomSpec(_ text: String) -> (seed: UInt64, count: Int)? {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 3, parts[0] == "random", let seed = UInt64(parts[1]), let k = Int(parts[2]), k >= 1, k <= 16 else { return nil }
            return (seed, k)
        }

        public var parameters: [(String, JSONValue)] {
            var p: [(String, JSONValue)] = [("ppd_prompts", .string(promptsName))]
            if let promptsSHA256 { p.append(("ppd_prompts_sha256", .string(promptsSHA256))) }
            p.append(("ppd_tree", .string(treeName)))
            return p
        }

        /// The embeddings for `model`: the loaded ones or seeded random ones.
        public func resolvePrompts(for model: any CausalLanguageModel) throws -> PPDPrompts {
            if let prompts { return prompts }
            guard let (seed, k) = Self.randomSpec(promptsName) else { throw PPDError.invalidPrompts("'\(promptsName)' names no embeddings") }
            return PPDPrompts.random(seed: seed, count: k, model: model)
        }

        public func generate(model: any CausalLanguageModel, prompt: [Int], stopping: StoppingCriteria, traceTopK: Int,
                             onToken: ((Int) -> Void)?) throws -> StrategyOutput {
            let prompts = try resolvePrompts(for: model)
            let (g, run) = try ParallelPromptDecoding.generate(model: model, prompt: prompt, prompts: prompts, table: table,
                                                               stopping: stopping, traceTopK: traceTopK, onToken: onToken)
            let first = table.tree(forKey: prompts.count)!
            return StrategyOutput(g, statistics: [("ppd_prompt_tokens", .int(prompts.count)), ("tree_inputs", .int(first.count)),
                                                  ("tree_nodes", .int(first.normalIndices.count - 1)), ("tree_depth", .int(first.depth)),
                                                  ("drafted_tokens", .int(run.draftedTokens)), ("prompt_inputs", .int(run.promptInputs)),
                                                  ("accepted_length_counts", .ints(run.acceptedLengths)), ("depth_key_counts", .ints(run.keyCounts))])
        }
    }
}

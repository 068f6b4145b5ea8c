import Foundation
import Formats
import Tensors
import Transformer

/// Medusa-1 decoding: Cai, Li, Geng, Peng, Lee, Chen, Dao, "Medusa: Simple LLM Inference
/// Acceleration Framework with Multiple Decoding Heads", 2024, arXiv:2401.10774 (Section 2.1:
/// heads, tree attention; Section 2.3.1: typical acceptance). Reference loop: `medusa_forward` in
/// `llm_judge/gen_model_answer_medusa.py` with `medusa/model/utils.py` (HEAD e2a5d20).
///
/// State between steps: the committed sequence in the KV cache, the pending token `r` (chosen,
/// not yet fed to the target) and `h`, the final-norm hidden state of the position that chose it.
/// One step:
/// 1. Candidates (`generate_candidates`): `top_k = topK(p_k(h), 10)` for each head `k` the tree
///    uses (`MedusaHeads.logits`; ranked by logit descending, id ascending, D4); the flat vector
///    `[r, top_0, top_1, …]` read through `tree.treeIndices` gives the tree's tokens (root = `r`).
/// 2. Tree forward (`tree_decoding`): one target pass over the `T` tree tokens after the cache,
///    each seeing the whole cache and its tree ancestors (`AttentionMask.tree(parents:)`, the ancestor
///    closure of the reference's `medusa_attn_mask`), at positions `cache length + depth`.
/// 3. Acceptance (`evaluate_posterior`) over `tree.retrieveIndices`: see `Acceptance`. It gives
///    the best row `j` and the accepted length `a`.
/// 4. Update (`update_inference_inputs`): the KV entries of row `j`'s first `a + 1` tree indices
///    (root and accepted nodes) move to the contiguous slots after the old cache; the rest are
///    dropped. The `a` accepted tokens are emitted, then the target's argmax at the last accepted
///    node, which becomes the next `r` (the reference's `fast` root), with that node's final-norm
///    state as the next `h`.
///
/// Decisions where the reference is not exact (DOCS.md section 6.13): a padded retrieve slot
/// (-1) is never accepted (the reference compares token 0 against the previous node's argmax
/// and can "accept" padding, writing garbage KV); stopping goes through `StoppingCriteria` (the
/// output ends at an EOS id, `maxNewTokens` or a stop string, never with tokens after it; the
/// reference keeps a whole accepted span and stops after it); when the context has room for fewer
/// nodes the tree is cut to its first nodes in sorted order (the reference overflows its cache);
/// head logits are computed only at the node that needs them (the reference computes them at
/// every tree node and gathers one; the values are the same).
///
/// With greedy acceptance the output is token-identical to greedy decoding for any heads and any
/// tree (D3: a node's logits equal those plain decoding computes at that position).
public enum MedusaDecoding {
    /// How drafted tokens are accepted (`evaluate_posterior`).
    public enum Acceptance: Sendable, Equatable {
        /// Temperature 0: a node is accepted when its token is the target's argmax after its
        /// parent (lowest id among ties); the longest accepted prefix wins, the first row with it
        /// on ties. Lossless.
        case greedy
        /// Typical acceptance, "fast" mode (temperature > 0): with `P = softmax(L / temperature)`
        /// of the parent's logits `L`, `H = −Σ P·log(P + 1e-5)` and
        /// `threshold = min(posteriorThreshold, posteriorAlpha · exp(−H))`, a node is accepted when
        /// `P[token] > threshold` (strict). Among rows with the longest accepted prefix the one with
        /// the largest `Σ log P[token]` over that prefix wins (the first on ties). The next token is
        /// still the target's argmax. Deterministic (no draws) and **not** lossless: the output
        /// differs from both greedy and sampling.
        case typical(temperature: Double, posteriorThreshold: Double, posteriorAlpha: Double)
    }

    /// The best row of `tree.retrieveIndices` and its accepted length (nodes after the root) for
    /// tree tokens `tokens` (`[T]`) and the target's logits at every tree index (`[T, V]`).
    ///
    /// Arithmetic of `.typical` per parent node, in Float32 unless stated: `x_i = L_i / Float(t)`;
    /// `P = Kernels.softmax(x)`; `H = −Float(Σ_i Double(P_i · log(P_i + 1e-5)))` (the sum in
    /// binary64, ids in increasing order, `log` = `DeterministicMath.log`); `threshold =
    /// min(Float(posteriorThreshold), DeterministicMath.exp(−H) · Float(posteriorAlpha))`; a row's
    /// likelihood is the Float32 sum, in path order, of `log P_parent[token]`.
    public static func accept(tree: MedusaTree, tokens: [Int], logits: UnsafePointer<Float>, vocabularySize V: Int,
                              acceptance: Acceptance) -> (row: Int, length: Int) {
        precondition(tokens.count == tree.count, "one token per tree index")
        let T = tree.count
        // ok[i]: whether tree index i (≥ 1) is accepted given its parent; score[i]: log P[token].
        var ok = [Bool](repeating: false, count: T)
        var score = [Float](repeating: 0, count: T)
        var isParent = [Bool](repeating: false, count: T)
        for i in 1..<T { isParent[tree.parents[i]] = true }
        switch acceptance {
        case .greedy:
            var best = [Int](repeating: -1, count: T)
            for p in 0..<T where isParent[p] { best[p] = Kernels.argmax(logits + p * V, count: V) }
            for i in 1..<T { ok[i] = tokens[i] == best[tree.parents[i]] }
        case .typical(let temperature, let posteriorThreshold, let posteriorAlpha):
            var probabilities = [Float](repeating: 0, count: V)
            var threshold = [Float](repeating: 0, count: T)
            var rows: [Int: [Float]] = [:]  // parent → P (only parents are kept)
            let t = Float(temperature)
            for p in 0..<T where isParent[p] {
                probabilities.withUnsafeMutableBufferPointer { q in
                    for v in 0..<V { q[v] = logits[p * V + v] / t }
                    Kernels.softmax(q.baseAddress!, count: V)
                    var sum = 0.0
                    for v in 0..<V { sum += Double(q[v] * DeterministicMath.log(q[v] + 1e-5)) }
                    let entropy = -Float(sum)
                    threshold[p] = min(Float(posteriorThreshold), DeterministicMath.exp(-entropy) * Float(posteriorAlpha))
                }
                rows[p] = probabilities
            }
            for i in 1..<T {
                let p = tree.parents[i]
                let pc = rows[p]![tokens[i]]
                ok[i] = pc > threshold[p]
                score[i] = DeterministicMath.log(pc)
            }
        }
        var lengths: [Int] = []
        for row in tree.retrieveIndices {
            var n = 0
            for index in row.dropFirst() {
                guard index > 0, ok[index] else { break }  // padding (-1) is never accepted
                n += 1
            }
            lengths.append(n)
        }
        let longest = lengths.max() ?? 0
        if longest == 0 { return (0, 0) }
        guard case .typical = acceptance else { return (lengths.firstIndex(of: longest)!, longest) }
        var chosen = -1
        var bestLikelihood = -Float.infinity
        for (j, row) in tree.retrieveIndices.enumerated() where lengths[j] == longest {
            var likelihood: Float = 0
            for index in row[1...longest] { likelihood = likelihood + score[index] }
            if chosen < 0 || likelihood > bestLikelihood { chosen = j; bestLikelihood = likelihood }
        }
        return (chosen, longest)
    }

    /// Figures of one run beyond `Generation.Statistics` (which counts steps and MAT).
    public struct RunStatistics: Sendable, Equatable {
        /// Steps that accepted 0, 1, … `depth` drafted tokens.
        public var acceptedLengths: [Int]
        /// Drafted tree nodes verified in total (the root not counted).
        public var draftedTokens = 0
    }

    /// Generates up to `stopping.maxNewTokens` tokens after `prompt` with Medusa heads over a
    /// static tree (see the type's notes). Throws `MedusaError` when the heads do not fit the
    /// model or the tree is deeper than the heads.
    public static func generate(model: any CausalLanguageModel, prompt: [Int], heads: MedusaHeads, tree: MedusaTree,
                                acceptance: Acceptance = .greedy, stopping: StoppingCriteria, traceTopK: Int = 5,
                                pool: ParallelFor = .shared, onToken: ((Int) -> Void)? = nil) throws -> (generation: Generation, statistics: RunStatistics) {
        try run(model: model, prompt: prompt, heads: heads, tree: tree, acceptance: acceptance, stopping: stopping, traceTopK: traceTopK,
                pool: pool, onToken: onToken, afterStep: nil)
    }

    /// `generate`, calling `afterStep` with the cache and the emitted tokens after every update (tests).
    static func run(model: any CausalLanguageModel, prompt: [Int], heads: MedusaHeads, tree: MedusaTree, acceptance: Acceptance,
                    stopping: StoppingCriteria, traceTopK: Int, pool: ParallelFor, onToken: ((Int) -> Void)?,
                    afterStep: ((KVCache, [Int]) -> Void)?) throws -> (generation: Generation, statistics: RunStatistics) {
        try heads.check(against: model)
        guard tree.depth <= heads.count else { throw MedusaError.treeTooDeep(depth: tree.depth, heads: heads.count) }
        let limit = model.shape.contextLength, C = model.shape.hiddenSize, V = model.shape.vocabularySize
        try DecodingStart.checkPrompt(prompt, contextLength: limit)
        var stats = Generation.Statistics()
        var run = RunStatistics(acceptedLengths: [Int](repeating: 0, count: tree.depth + 1))
        let (cache, prefill) = try DecodingStart.prefill(model, prompt: prompt, reserve: stopping.maxNewTokens + tree.count + 1,
                                                         taps: ForwardTaps(finalNormOutput: true), pool: pool, stats: &stats)
        guard let prefillHidden = prefill.finalNormOutput else {
            throw MedusaError.modelMismatch("the model's forward pass does not return its final-norm output (ForwardTaps.finalNormOutput), which the heads read")
        }
        var hidden = Array(prefillHidden[((prompt.count - 1) * C)..<(prompt.count * C)])  // [C]
        var recorder = GenerationRecorder(prompt: prompt, stopping: stopping, statistics: stats, onToken: onToken)
        let first = prefill.logits.withUnsafeBufferPointer { GreedyDecoding.select(logits: $0.baseAddress!, count: V, topK: traceTopK) }
        guard recorder.hasRoom, recorder.emit(first) else { return (recorder.finish(), run) }

        while true {
            // The cache must hold the root plus every node.
            let room = limit - cache.length - 1
            if room < 0 { recorder.stop(.contextLimit); break }
            let stepTree = room == 0 ? nil : tree.truncated(toNodes: room)
            let T = stepTree?.count ?? 1
            // 1. Candidates: the root, then each depth's ranked head tokens.
            var tokens = [recorder.output.last!]
            if let stepTree {
                let headLogits = hidden.withUnsafeBufferPointer { heads.logits(hidden: $0.baseAddress!, heads: stepTree.depth, model: model, pool: pool) }
                var flat = tokens
                headLogits.withUnsafeBufferPointer { p in
                    for k in 0..<stepTree.depth {
                        let top = Kernels.topK(p.baseAddress! + k * V, count: V, k: MedusaTree.topK)
                        flat += (0..<MedusaTree.topK).map { $0 < top.count ? top[$0].index : 0 }
                    }
                }
                tokens = stepTree.treeIndices.map { flat[$0] }
            }
            // 2. Tree forward.
            let base = cache.length
            let result = try model.forward(tokens: tokens, mask: .tree(parents: stepTree?.parents ?? [-1]), cache: cache, logitRows: .all,
                                           taps: ForwardTaps(finalNormOutput: true), pool: pool)
            // 3. Acceptance.
            let (row, accepted) = stepTree.map { t in
                result.logits.withUnsafeBufferPointer { accept(tree: t, tokens: tokens, logits: $0.baseAddress!, vocabularySize: V, acceptance: acceptance) }
            } ?? (0, 0)
            let path = stepTree.map { Array($0.retrieveIndices[row][0...accepted]) } ?? [0]
            // 4. Update: keep the path's KV, emit the accepted tokens and the target's next token.
            cache.keep(slots: path.map { base + $0 }, after: base)
            let last = path.last!
            hidden = Array(result.finalNormOutput![(last * C)..<((last + 1) * C)])
            var steps: [TraceStep] = []
            result.logits.withUnsafeBufferPointer { p in
                for j in 1..<path.count { steps.append(traceStep(logits: p.baseAddress! + path[j - 1] * V, count: V, token: tokens[path[j]], topK: traceTopK)) }
                steps.append(GreedyDecoding.select(logits: p.baseAddress! + last * V, count: V, topK: traceTopK))
            }
            run.acceptedLengths[accepted] += 1
            run.draftedTokens += T - 1
            steps[0].drafted = Array(tokens.dropFirst())
            steps[0].accepted = accepted
            guard recorder.emitVerification(steps, accepted: accepted) else { break }
            afterStep?(cache, recorder.output)
        }
        return (recorder.finish(), run)
    }

    /// The trace entry of `token` chosen from one row of logits (it need not be the argmax).
    static func traceStep(logits: UnsafePointer<Float>, count: Int, token: Int, topK: Int) -> TraceStep {
        let top = topK <= 0 ? [] : Kernels.topK(logits, count: count, k: max(topK, 2)).prefix(topK).map { TraceStep.TopEntry(id: $0.index, logit: $0.value) }
        return TraceStep(token: token, logit: logits[token], topLogits: Array(top))
    }
}

// MARK: - Strategy

extension MedusaDecoding {
    /// `--strategy medusa`: Medusa-1 heads drafting a static tree, verified in one target pass.
    public struct Strategy: DecodingStrategy {
        public static let name = "medusa"
        public static let summary = "Medusa-1: trained heads draft a token tree verified in one pass (greedy acceptance is token-identical to greedy; typical acceptance is not)"
        static let medusaHeads = StrategyOption("medusa-heads", .text(placeholder: "FILE"), default: "shipped",
                                                help: "heads safetensors ({k}.0.linear.weight/bias, optional {k}.1.weight); shipped = \(MedusaHeads.shippedRelativePath); random:SEED:K = seeded random tied heads (tests)")
        static let medusaChoices = StrategyOption("medusa-choices", .text(placeholder: "NAME|JSON"), default: defaultChoices,
                                                  help: "tree: \(MedusaTree.namedTables.map(\.name).joined(separator: ", ")), NAME:N (first N paths) or a JSON list of paths")
        static let temperature = StrategyOption("temperature", .number(0...100), default: "0",
                                                help: "0 = greedy acceptance (lossless); > 0 = typical acceptance (not lossless)")
        static let posteriorThreshold = StrategyOption("posterior-threshold", .number(0...1), default: "0.09",
                                                       help: "typical acceptance: the threshold epsilon")
        static let posteriorAlpha = StrategyOption("posterior-alpha", .number(0...1), default: "0.3",
                                                   help: "typical acceptance: the entropy factor delta")
        public static let options = [medusaHeads, medusaChoices, temperature, posteriorThreshold, posteriorAlpha]
        public static let processorUse = ProcessorSettings.Use.none
        /// The tree used when `--medusa-choices` is not given.
        public static let defaultChoices = "chain-3"

        /// `--medusa-heads` as given (`shipped`, a path, or `random:SEED:K`).
        public var headsName: String
        /// `--medusa-choices` as given.
        public var choicesName: String
        public var tree: MedusaTree
        public var acceptance: Acceptance
        /// Heads loaded up front (a file, or heads given in code); nil = resolved per run
        /// (`shipped` and `random:SEED:K`, which needs the model's shape).
        public var heads: MedusaHeads?
        /// SHA-256 of the heads file (`shipped` or a path), recorded so that a fixture names the
        /// weights it ran with; nil for seeded random heads and heads given in code.
        public var headsSHA256: String?

        /// - Parameters:
        ///   - heads: `shipped`, a safetensors path (loaded now), or `random:SEED:K`.
        ///   - choices: a `--medusa-choices` value (`MedusaTree.parse`).
        public init(heads: String = "shipped", choices: String = defaultChoices, temperature: Double = 0,
                    posteriorThreshold: Double = 0.09, posteriorAlpha: Double = 0.3) throws {
            guard temperature >= 0, posteriorThreshold >= 0, posteriorAlpha >= 0 else {
                throw StrategyError("--temperature, --posterior-threshold and --posterior-alpha must not be negative")
            }
            headsName = heads
            choicesName = choices
            tree = try MedusaTree.named(choices)
            acceptance = temperature == 0 ? .greedy
                : .typical(temperature: temperature, posteriorThreshold: posteriorThreshold, posteriorAlpha: posteriorAlpha)
            if heads == "shipped", let path = MedusaHeads.shippedCandidates().first(where: { FileManager.default.fileExists(atPath: $0) }) {
                headsSHA256 = try? SHA256.hexDigest(ofFile: path)
            }
            if heads != "shipped", Self.randomSpec(heads) == nil {
                if heads.hasPrefix("random:") { throw MedusaError.invalidHeads("'\(heads)': seeded random heads are written random:SEED:K (K heads ≥ 1)") }
                self.heads = try MedusaHeads.load(path: heads)
                headsSHA256 = try? SHA256.hexDigest(ofFile: heads)
                guard tree.depth <= self.heads!.count else { throw MedusaError.treeTooDeep(depth: tree.depth, heads: self.heads!.count) }
            }
        }

        /// Medusa with heads already in memory, recorded as `headsName`.
        public init(heads: MedusaHeads, headsName: String, choices: String = defaultChoices, acceptance: Acceptance = .greedy) throws {
            self.headsName = headsName
            choicesName = choices
            tree = try MedusaTree.named(choices)
            self.acceptance = acceptance
            self.heads = heads
            guard tree.depth <= heads.count else { throw MedusaError.treeTooDeep(depth: tree.depth, heads: heads.count) }
        }

        public init(arguments a: StrategyArguments, processors: ProcessorSettings, context: StrategyContext) throws {
            try self.init(heads: try a.text(Self.medusaHeads)!, choices: try a.text(Self.medusaChoices)!, temperature: try a.double(Self.temperature)!,
                          posteriorThreshold: try a.double(Self.posteriorThreshold)!, posteriorAlpha: try a.double(Self.posteriorAlpha)!)
        }

        /// `random:SEED:K` → (seed, K).
        static func randomSpec(_ text: String) -> (seed: UInt64, heads: Int)? {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 3, parts[0] == "random", let seed = UInt64(parts[1]), let k = Int(parts[2]), k >= 1, k <= 64 else { return nil }
            return (seed, k)
        }

        public var parameters: [(String, JSONValue)] {
            var p: [(String, JSONValue)] = [("medusa_heads", .string(headsName))]
            if let headsSHA256 { p.append(("medusa_heads_sha256", .string(headsSHA256))) }
            p.append(("medusa_choices", .string(choicesName)))
            switch acceptance {
            case .greedy: p.append(("temperature", .double(0)))
            case .typical(let t, let threshold, let alpha):
                p += [("temperature", .double(t)), ("posterior_threshold", .double(threshold)), ("posterior_alpha", .double(alpha))]
            }
            return p
        }

        /// The heads for `model`: the loaded ones, seeded random ones, or the shipped file.
        public func resolveHeads(for model: any CausalLanguageModel) throws -> MedusaHeads {
            if let heads { return heads }
            if let (seed, k) = Self.randomSpec(headsName) { return MedusaHeads.random(seed: seed, heads: k, model: model) }
            return try MedusaHeads.shipped()
        }

        public func generate(model: any CausalLanguageModel, prompt: [Int], stopping: StoppingCriteria, traceTopK: Int,
                             onToken: ((Int) -> Void)?) throws -> StrategyOutput {
            let heads = try resolveHeads(for: model)
            let (g, run) = try MedusaDecoding.generate(model: model, prompt: prompt, heads: heads, tree: tree, acceptance: acceptance,
                                                       stopping: stopping, traceTopK: traceTopK, onToken: onToken)
            return StrategyOutput(g, statistics: [("tree_nodes", .int(tree.count - 1)), ("tree_depth", .int(tree.depth)),
                                                  ("medusa_head_count", .int(heads.count)), ("drafted_tokens", .int(run.draftedTokens)),
                                                  ("accepted_length_counts", .ints(run.acceptedLengths))])
        }
    }
}

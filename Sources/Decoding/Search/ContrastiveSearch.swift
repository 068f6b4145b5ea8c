import Formats
import Tensors
import Transformer

/// Contrastive search: Su, Lan, Wang, Yogatama, Kong, Collier, "A Contrastive Framework for
/// Neural Text Generation" (SimCTG), NeurIPS 2022, arXiv:2202.06417, Eq. 5; and Su & Collier,
/// "Contrastive Search Is What You Need For Neural Text Generation", 2022, arXiv:2210.14140.
///
/// At every step the `k` most probable next tokens `V⁽ᵏ⁾` are each run one step ahead, and
///
///     x_t = argmax_{v ∈ V⁽ᵏ⁾} { (1 − α) · p(v | x_<t) − α · max_{1 ≤ j ≤ t−1} s(h_v, h_{x_j}) }
///
/// where `s` is cosine similarity, `h_v` the candidate's last-layer hidden state and `h_{x_j}`
/// the last-layer hidden states of every earlier position, prompt included. The procedure is
/// Hugging Face transformers 4.52 `GenerationMixin._contrastive_search` with `_ranking_fast`
/// (batch 1, no padding); see DOCS.md section 6.4.1.
///
/// Details that fix the result:
/// - "Last-layer hidden state" is `hidden_states[-1]` of Hugging Face Llama: the output of the
///   final RMSNorm (`ForwardResult.finalNormOutput`), the vector the output head sees.
/// - `p` is the softmax over the whole vocabulary of the processed logits (the `processors` act
///   on the raw logits first; no sampling warpers). The candidates are the top `k` of `p`, by
///   (probability descending, token id ascending) (D4).
/// - The `k` candidates run as one batched forward: `k` children of the cache end under a tree
///   mask, all at position `len(ids)`; then only the chosen slot is kept. By batch invariance
///   (D3) every candidate's logits and hidden state are bit-identical to a separate one-token
///   pass, and the chosen candidate's pass doubles as the next step's model call (one forward of
///   `k` rows per emitted token).
/// - Cosine similarity and the score are computed in Float64 (see `cosineSimilarity`,
///   `score`); Hugging Face computes them in Float32, so the two can differ only on a
///   near-exact tie (the peer fixtures record HF's top-2 score margins).
/// - The selected candidate is the first maximum of the score in candidate order (torch
///   `max(dim)`), i.e. the more probable candidate on an exact tie. NaN scores are never
///   selected (torch would propagate them); all-NaN selects candidate 0.
/// - Stopping: as Hugging Face, an end-of-sequence token is an ordinary candidate and ends
///   generation once emitted (it is included in the output).
public enum ContrastiveSearch {
    /// One look-ahead candidate of one step.
    public struct Candidate: Sendable, Equatable {
        public var id: Int
        /// `p(v | x_<t)` after the processors (full-vocabulary softmax, Float32).
        public var probability: Float
        /// Degeneration penalty `max_j cos(h_v, h_{x_j})` (Float64).
        public var penalty: Double
        /// `(1 − α)·probability − α·penalty` (Float64).
        public var score: Double
        public init(id: Int, probability: Float, penalty: Double, score: Double) {
            self.id = id; self.probability = probability; self.penalty = penalty; self.score = score
        }
    }

    /// The ranking of one step: candidates in top-k order (probability descending, id ascending)
    /// and the index of the emitted one.
    public struct Step: Sendable, Equatable {
        public var candidates: [Candidate]
        public var selectedIndex: Int
        public init(candidates: [Candidate], selectedIndex: Int) {
            self.candidates = candidates; self.selectedIndex = selectedIndex
        }
        public var selected: Candidate { candidates[selectedIndex] }
        /// Best score minus the second best (how near a tie the step was); nil for one candidate.
        public var topTwoScoreMargin: Double? {
            let s = candidates.map(\.score).filter { !$0.isNaN }.sorted(by: >)
            return s.count >= 2 ? s[0] - s[1] : nil
        }
    }

    /// Generates up to `stopping.maxNewTokens` tokens after `prompt` by contrastive search.
    ///
    /// - Parameters:
    ///   - penaltyAlpha: α in `[0, 1]`, the weight of the degeneration penalty. (Hugging Face
    ///     routes α = 0 to greedy search; here α = 0 runs the same formula, which selects the
    ///     most probable candidate — greedy under the processors.)
    ///   - topK: k ≥ 1, the number of candidates (Hugging Face requires k > 1; k = 1 is greedy).
    ///   - processors: applied to the raw logits before the softmax, with the prompt and the
    ///     tokens generated so far as context.
    ///   - traceTopK: how many top processed scores each trace step records. A trace step's
    ///     `logit` is the chosen token's processed score and `probability` its `p`.
    ///   - onToken: called with each new token as soon as it is chosen.
    /// - Throws: `ModelError.invalidInput` for an empty prompt or parameters out of range;
    ///   `ModelError.contextOverflow` when the prompt does not fit the context.
    public static func generate(model: any CausalLanguageModel, prompt: [Int], penaltyAlpha: Double, topK: Int, stopping: StoppingCriteria,
                                processors: [any LogitsProcessor] = [], traceTopK: Int = 5, pool: ParallelFor = .shared,
                                onToken: ((Int) -> Void)? = nil) throws -> Generation {
        try generateWithSteps(model: model, prompt: prompt, penaltyAlpha: penaltyAlpha, topK: topK, stopping: stopping,
                              processors: processors, traceTopK: traceTopK, pool: pool, onToken: onToken).generation
    }

    /// `generate`, also returning every step's candidate ranking (for diagnostics and fixtures).
    public static func generateWithSteps(model: any CausalLanguageModel, prompt: [Int], penaltyAlpha alpha: Double, topK k: Int,
                                         stopping: StoppingCriteria, processors: [any LogitsProcessor] = [],
                                         traceTopK: Int = 5, pool: ParallelFor = .shared,
                                         onToken: ((Int) -> Void)? = nil) throws -> (generation: Generation, steps: [Step]) {
        try DecodingStart.checkPrompt(prompt, contextLength: model.shape.contextLength)
        guard alpha >= 0 && alpha <= 1 else { throw ModelError.invalidInput("penalty alpha must be in [0, 1], got \(alpha)") }
        let c = model.shape
        guard k >= 1 && k <= c.vocabularySize else {
            throw ModelError.invalidInput("top-k must be between 1 and the vocabulary size \(c.vocabularySize), got \(k)")
        }
        let C = c.hiddenSize, V = c.vocabularySize
        var stats = Generation.Statistics()
        var ids = prompt
        var steps: [Step] = []

        // 1. Prefill: H = final-norm hidden states of every prompt position [S, C]; z = logits
        //    of the last position [V].
        let (cache, prefill) = try DecodingStart.prefill(model, prompt: prompt, reserve: stopping.maxNewTokens + k, tapLayers: true, pool: pool, stats: &stats)
        var context = ContextHiddenStates(width: C)
        context.append(rows: prefill.finalNormOutput!, count: prompt.count)
        var z = prefill.logits                                      // [V]
        var recorder = GenerationRecorder(prompt: prompt, stopping: stopping, statistics: stats, onToken: onToken)

        while recorder.hasRoom {
            let base = cache.length
            if base >= c.contextLength { recorder.stop(.contextLimit); break }
            // 2a. s = processors(ids, z); p = softmax(s) over the whole vocabulary.
            var s = z
            processors.process(&s, context: ProcessorContext(inputIDs: ids, promptLength: prompt.count))
            var p = s
            p.withUnsafeMutableBufferPointer { Kernels.softmax($0.baseAddress!, count: V) }
            // 2b. The k most probable tokens, probability descending then id ascending (D4).
            let top = p.withUnsafeBufferPointer { Kernels.topK($0.baseAddress!, count: V, k: k) }
            let candidateIDs = top.map(\.index)
            // 2c–d. Look ahead one step on every candidate: hidden states g_j [k, C], logits z_j [k, V].
            let look = try lookAhead(model: model, candidates: candidateIDs, cache: cache, pool: pool, stats: &recorder.statistics)
            // 2e–g. Penalties, scores, selection.
            var candidates: [Candidate] = []
            for (j, entry) in top.enumerated() {
                let penalty = look.hidden.withUnsafeBufferPointer { context.maximumCosineSimilarity(with: $0.baseAddress! + j * C) }
                candidates.append(Candidate(id: entry.index, probability: entry.value, penalty: penalty,
                                            score: score(probability: entry.value, penalty: penalty, alpha: alpha)))
            }
            let sel = selectIndex(scores: candidates.map(\.score))
            let token = candidateIDs[sel]
            // 2h. Keep only the chosen candidate's cache slot; its hidden state joins H, its
            //     logits are the next step's z.
            try look.commit(sel)
            look.hidden.withUnsafeBufferPointer { context.append(rows: Array($0[(sel * C)..<((sel + 1) * C)]), count: 1) }
            z = Array(look.logits[(sel * V)..<((sel + 1) * V)])

            let traceTop = s.withUnsafeBufferPointer { Kernels.topK($0.baseAddress!, count: V, k: max(traceTopK, 0)) }
            steps.append(Step(candidates: candidates, selectedIndex: sel))
            ids.append(token)
            let step = TraceStep(token: token, logit: s[token], probability: p[token],
                                 topLogits: traceTop.map { TraceStep.TopEntry(id: $0.index, logit: $0.value) })
            guard recorder.emit(step) else { break }
        }
        return (recorder.finish(), steps)
    }

    // MARK: - The ranking (pure functions, the formulas of the paper)

    /// `(1 − α)·p − α·penalty`, in Float64: `(1 − α)` and `α·penalty` are rounded once each,
    /// `Double(p)` is exact, then the product and the difference.
    @inlinable
    public static func score(probability p: Float, penalty: Double, alpha: Double) -> Double {
        (1 - alpha) * Double(p) - alpha * penalty
    }

    /// The index of the first maximum among `scores` (candidate order breaks exact ties, so the
    /// more probable candidate wins). NaN entries are never chosen; all-NaN or empty gives 0.
    public static func selectIndex(scores: [Double]) -> Int {
        var best = 0
        var bestValue = -Double.infinity
        var found = false
        for (i, v) in scores.enumerated() where !v.isNaN {
            if !found || v > bestValue { best = i; bestValue = v; found = true }
        }
        return best
    }

    /// Cosine similarity `(a·b) / (‖a‖·‖b‖)` in Float64: each product `Double(a[i]) * Double(b[i])`
    /// is exact, the three sums run left to right in Float64, then `dot / (sqrt(aa) * sqrt(bb))`.
    /// No epsilon: a zero vector gives NaN (as Hugging Face, which divides by the norm).
    public static func cosineSimilarity(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count n: Int) -> Double {
        var dot = 0.0, aa = 0.0, bb = 0.0
        for i in 0..<n {
            let x = Double(a[i]), y = Double(b[i])
            dot = dot + x * y
            aa = aa + x * x
            bb = bb + y * y
        }
        return dot / (aa.squareRoot() * bb.squareRoot())
    }

    /// The degeneration penalty `max_i cos(context_i, candidate)` over the rows of `context`
    /// (`[rows, width]`, row-major), in row order. A NaN similarity makes the penalty NaN (as
    /// torch's `max`). No rows gives `-inf`.
    public static func degenerationPenalty(context: [Float], rows: Int, candidate: [Float]) -> Double {
        precondition(context.count == rows * candidate.count, "context must be [rows, width]")
        var h = ContextHiddenStates(width: candidate.count)
        h.append(rows: context, count: rows)
        return candidate.withUnsafeBufferPointer { h.maximumCosineSimilarity(with: $0.baseAddress!) }
    }

    // MARK: - Look-ahead

    /// The k candidates' one-step-ahead outputs, and how to keep the chosen one in the cache.
    private struct LookAhead {
        var hidden: [Float]     // [k, C] final-norm output
        var logits: [Float]     // [k, V]
        var commit: (Int) throws -> Void
    }

    /// Runs every candidate one step ahead of the cache end. When `k` slots fit in the context,
    /// one batched forward with a tree mask (each candidate a child of the cache end, all at
    /// position `cache.length`); otherwise one pass per candidate with rollback, and the chosen
    /// one is re-run to extend the cache. Both give bit-identical results (D3).
    private static func lookAhead(model: any CausalLanguageModel, candidates: [Int], cache: KVCache, pool: ParallelFor,
                                  stats: inout Generation.Statistics) throws -> LookAhead {
        let k = candidates.count
        let base = cache.length
        if base + k <= model.shape.contextLength {
            let r = try model.forward(tokens: candidates, mask: .tree(parents: Array(repeating: -1, count: k)), cache: cache,
                                      logitRows: .all, tapLayers: true, pool: pool)
            stats.forwardPasses += 1
            return LookAhead(hidden: r.finalNormOutput!, logits: r.logits, commit: { sel in
                cache.keep(slots: [base + sel], after: base)
            })
        }
        var hidden: [Float] = [], logits: [Float] = []
        for id in candidates {
            let r = try model.forward(tokens: [id], cache: cache, logitRows: .all, tapLayers: true, pool: pool)
            stats.forwardPasses += 1
            hidden += r.finalNormOutput!
            logits += r.logits
            cache.rollback(to: base)
        }
        return LookAhead(hidden: hidden, logits: logits, commit: { sel in
            _ = try model.forward(tokens: [candidates[sel]], cache: cache, logitRows: .none, pool: pool)
        })
    }
}

/// The matrix `H` of last-layer hidden states of every position fed so far, `[rows, width]`,
/// with each row's squared norm kept (Float64) so a penalty costs one dot product per row.
struct ContextHiddenStates {
    let width: Int
    private(set) var rows = 0
    private var values: [Float] = []
    private var squaredNorms: [Double] = []

    init(width: Int) { self.width = width }

    mutating func append(rows newRows: [Float], count: Int) {
        precondition(newRows.count >= count * width)
        for r in 0..<count {
            var ss = 0.0
            for i in 0..<width {
                let x = Double(newRows[r * width + i])
                ss = ss + x * x
            }
            squaredNorms.append(ss)
        }
        values.append(contentsOf: newRows[0..<(count * width)])
        rows += count
    }

    /// `max_i cos(H_i, g)` in row order; the same arithmetic as `ContrastiveSearch.cosineSimilarity`.
    func maximumCosineSimilarity(with g: UnsafePointer<Float>) -> Double {
        var gg = 0.0
        for i in 0..<width { let y = Double(g[i]); gg = gg + y * y }
        let gNorm = gg.squareRoot()
        var best = -Double.infinity
        values.withUnsafeBufferPointer { vp in
            for r in 0..<rows {
                let h = vp.baseAddress! + r * width
                var dot = 0.0
                for i in 0..<width { dot = dot + Double(h[i]) * Double(g[i]) }
                let cos = dot / (squaredNorms[r].squareRoot() * gNorm)
                if cos.isNaN { best = .nan; return }
                if cos > best { best = cos }
            }
        }
        return best
    }
}

// MARK: - Strategy

extension ContrastiveSearch {
    /// `--strategy contrastive`: contrastive search (`--top-k` is its candidate count, as in
    /// Hugging Face).
    public struct Strategy: DecodingStrategy {
        public static let name = "contrastive"
        public static let summary = "contrastive search: model confidence minus a degeneration penalty"
        static let penaltyAlpha = StrategyOption("penalty-alpha", .number(0...1), required: true, help: "weight α of the degeneration penalty (e.g. 0.6)")
        static let topK = StrategyOption("top-k", .integer(1...100_000), default: "4", help: "candidates k looked ahead per step")
        public static let options = [penaltyAlpha, topK]
        public static let processorUse = ProcessorSettings.Use.nonSampling

        public var penaltyAlpha: Double
        public var topK: Int
        public var processors: ProcessorSettings

        public init(penaltyAlpha: Double, topK: Int = 4, processors: ProcessorSettings = .none) {
            self.penaltyAlpha = penaltyAlpha
            self.topK = topK
            self.processors = processors
        }

        public init(arguments a: StrategyArguments, processors: ProcessorSettings, context: StrategyContext) throws {
            self.init(penaltyAlpha: try a.double(Self.penaltyAlpha)!, topK: try a.int(Self.topK)!, processors: processors)
        }

        public var parameters: [(String, JSONValue)] {
            [("penalty_alpha", .double(penaltyAlpha)), ("top_k", .int(topK))] + processors.recorded
        }

        public func generate(model: any CausalLanguageModel, prompt: [Int], stopping: StoppingCriteria, traceTopK: Int,
                             onToken: ((Int) -> Void)?) throws -> StrategyOutput {
            let chain = try processors.processors(sampling: false, vocabularySize: model.shape.vocabularySize, endOfSequenceIDs: stopping.endOfSequenceIDs)
            return StrategyOutput(try ContrastiveSearch.generate(model: model, prompt: prompt, penaltyAlpha: penaltyAlpha, topK: topK,
                                                                 stopping: stopping, processors: chain, traceTopK: traceTopK, onToken: onToken))
        }
    }
}

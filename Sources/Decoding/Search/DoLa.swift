import Formats
import Tensors
import Transformer

/// Which early ("premature") layers DoLa may contrast with the final layer.
///
/// Layer indices follow Hugging Face's `hidden_states` tuple: 0 is the token embedding, `i`
/// (1 ≤ i < L) is the residual stream after the first `i` decoder layers (before the final norm).
public enum DoLaLayers: Sendable, Equatable {
    /// The lower half: `start, start+2, …` below `L/2` (below 20 when L > 40).
    case low
    /// The upper half: `L/2, L/2+2, …` below `L` (`L−20, …` when L > 40).
    case high
    /// Explicit layer indices; entries ≥ L are dropped (as Hugging Face does).
    case layers([Int])

    /// The candidate premature layers of a model with `layerCount` = L decoder layers (HF 4.52
    /// `_dola_decoding`). With tied embeddings the embedding output is a poor contrast, so "low"
    /// starts at 2 (1 when L == 2); untied models start at 0.
    ///
    /// - Throws: `ModelError.invalidInput` when no candidate remains (e.g. `.layers([L])`, where
    ///   Hugging Face fails while stacking an empty list) or an explicit index is negative
    ///   (Python would index `hidden_states` from the end; Touchstone refuses instead).
    public func candidateLayers(layerCount L: Int, tiedEmbeddings: Bool) throws -> [Int] {
        let start = !tiedEmbeddings ? 0 : (L > 2 ? 2 : (L == 2 ? 1 : 0))
        let result: [Int]
        switch self {
        case .low:
            if start == L / 2 {
                result = [start]
            } else {
                result = Array(stride(from: start, to: L <= 40 ? L / 2 : 20, by: 2))
            }
        case .high:
            result = Array(stride(from: L <= 40 ? L / 2 : L - 20, to: L, by: 2))
        case .layers(let list):
            if let negative = list.first(where: { $0 < 0 }) {
                throw ModelError.invalidInput("DoLa layer \(negative) is negative — give indices 0 (embeddings) through \(L - 1)")
            }
            result = list.filter { $0 < L }
        }
        if result.isEmpty {
            throw ModelError.invalidInput("no DoLa candidate layer below the final layer \(L) — give indices 0 through \(L - 1)")
        }
        return result
    }
}

/// DoLa, Decoding by Contrasting Layers: Chuang, Xie, Luo, Kim, Glass, He, "DoLa: Decoding by
/// Contrasting Layers Improves Factuality in Large Language Models", ICLR 2024,
/// arXiv:2309.03883, Eqs. 1–4 (dynamic premature layer selection by Jensen–Shannon divergence,
/// contrast `F = log q_N − log q_M` restricted to the adaptive plausibility set `V_head`).
///
/// The procedure is Hugging Face transformers 4.52 `_dola_decoding` with `_dola_select_contrast`
/// and `_relative_top_filter` (batch 1; greedy, or sampling with a seed, DOCS.md section 6.11.2); see DOCS.md section 6.4.2. Per step, with `f`
/// the final logits (layer N) and, for each candidate layer `j`, `b_j = lm_head(h_j)`:
///
/// 1. Premature logits apply the output head to the **un-normalized** residual stream `h_j`
///    (no final RMSNorm), exactly as Hugging Face and the authors' code do; `h_0` is the token
///    embedding. (Not the logit lens `lm_head(norm(h_j))`.)
/// 2. `M = layers[argmax_j JSD(softmax f, softmax b_j)]` (first maximum; skipped with one
///    candidate), with Hugging Face's JSD: `½(KL(A‖P) + KL(A‖Q))`, `A = ½(P + Q)`, each KL the
///    **mean** over the vocabulary (torch `kl_div(reduction="none").mean(-1)`), see
///    `jensenShannonDivergence`.
/// 3. `F = log_softmax f`, `B = log_softmax b_M`; tokens with `F < max F + ln 0.1` get
///    `F = −inf`, `B = −1e-3`; the contrast is `F − B` (see `relativeTopContrast`).
/// 4. `processors` (e.g. repetition penalty 1.2, which the authors and Hugging Face recommend)
///    act on the contrast; the token is its argmax, lowest id on ties (D4). With a seed
///    (Hugging Face's `do_sample=True`), the whole chain (processors, then the warpers) acts on the
///    contrast and one portable draw (D5) picks the token from its softmax, exactly as
///    `SampleDecoding` steps 2–6 (`−inf` entries outside `V_head` have probability 0).
///
/// The KV cache and the final logits are those of plain decoding; only the choice differs.
public enum DoLa {
    /// The relative-top threshold α of Eq. 3 (`V_head = {x : q_N(x) ≥ α · max q_N}`).
    public static let relativeTop: Float = 0.1
    /// `ln 0.1` rounded to Float32 (torch adds `np.log(0.1)` to a Float32 tensor in Float32).
    public static let logRelativeTop: Float = Float(-2.302585092994045684)
    /// Hugging Face's value for the premature log-probabilities outside `V_head` (the authors'
    /// code uses −1e3; the argmax is the same because the final side is −inf there).
    public static let baseFilterValue: Float = -1e-3

    /// What DoLa decided at one step.
    public struct Step: Sendable, Equatable {
        /// The candidate layer contrasted with the final layer.
        public var prematureLayer: Int
        /// JSD of each candidate layer, in candidate order (empty when there is one candidate).
        public var jensenShannonDivergences: [Double]
        public init(prematureLayer: Int, jensenShannonDivergences: [Double]) {
            self.prematureLayer = prematureLayer
            self.jensenShannonDivergences = jensenShannonDivergences
        }
    }

    /// Generates up to `stopping.maxNewTokens` tokens after `prompt` with DoLa (greedy).
    ///
    /// - Parameters:
    ///   - layers: the candidate premature layers (`.high`, `.low` or explicit indices).
    ///   - processors: applied to the contrast `F − B` before the argmax (Hugging Face's
    ///     `logits_processor`; pass a repetition penalty of 1.2 to match the recommended setup).
    ///   - traceTopK: how many top processed scores each trace step records; a trace step's
    ///     `logit` is the chosen token's processed score (no probability).
    /// - Throws: `ModelError.invalidInput` for an empty prompt or no candidate layer;
    ///   `ModelError.contextOverflow` when the prompt does not fit the context.
    ///   - seed: nil = greedy; otherwise sampling with `SamplingLoopState(seed:)`, one draw per
    ///     token (plus XTC's, when the chain has it); build `processors` with `sampling: true,
    ///     loopState: true` then.
    public static func generate(model: any CausalLanguageModel, prompt: [Int], layers: DoLaLayers, stopping: StoppingCriteria,
                                processors: [any LogitsProcessor] = [], seed: UInt64? = nil, traceTopK: Int = 5, pool: ParallelFor = .shared,
                                onToken: ((Int) -> Void)? = nil) throws -> Generation {
        try generateWithSteps(model: model, prompt: prompt, layers: layers, stopping: stopping, processors: processors,
                              seed: seed, traceTopK: traceTopK, pool: pool, onToken: onToken).generation
    }

    /// `generate`, also returning each step's premature layer and divergences.
    public static func generateWithSteps(model: any CausalLanguageModel, prompt: [Int], layers: DoLaLayers, stopping: StoppingCriteria,
                                         processors: [any LogitsProcessor] = [], seed: UInt64? = nil, traceTopK: Int = 5,
                                         pool: ParallelFor = .shared,
                                         onToken: ((Int) -> Void)? = nil) throws -> (generation: Generation, steps: [Step]) {
        let c = model.shape
        try DecodingStart.checkPrompt(prompt, contextLength: c.contextLength)
        let candidates = try layers.candidateLayers(layerCount: c.layerCount, tiedEmbeddings: c.tiedEmbeddings)
        let C = c.hiddenSize, V = c.vocabularySize, n = candidates.count
        var stats = Generation.Statistics()
        var ids = prompt
        var steps: [Step] = []
        var (cache, result) = try DecodingStart.prefill(model, prompt: prompt, reserve: stopping.maxNewTokens + 1, tapLayers: true, pool: pool, stats: &stats)
        var recorder = GenerationRecorder(prompt: prompt, stopping: stopping, statistics: stats, onToken: onToken)
        var state = seed.map { SamplingLoopState(seed: $0) }
        while recorder.hasRoom {
            let last = result.layerOutputs![0].count / C - 1       // last row of this pass
            // Premature hidden states of the last position: h_j [n, C] (h_0 = embedding row).
            var premature = [Float](repeating: 0, count: n * C)
            premature.withUnsafeMutableBufferPointer { hp in
                for (i, j) in candidates.enumerated() {
                    let dst = hp.baseAddress! + i * C
                    if j == 0 {
                        model.embed(token: ids[ids.count - 1], position: ids.count - 1, into: dst)
                    } else {
                        result.layerOutputs![j - 1].withUnsafeBufferPointer { dst.update(from: $0.baseAddress! + last * C, count: C) }
                    }
                }
            }
            // b_j = lm_head(h_j) [n, V] (no final norm).
            let prematureLogits = model.outputHead.multiply(premature, tokens: n, pool: pool)
            let final = result.logits                                   // [V]
            var step = Step(prematureLayer: candidates[0], jensenShannonDivergences: [])
            var chosen = 0
            if n > 1 {
                let mature = FinalDistribution(final)
                step.jensenShannonDivergences = (0..<n).map { i in
                    mature.jensenShannonDivergence(prematureLogits: Array(prematureLogits[(i * V)..<((i + 1) * V)]))
                }
                chosen = firstMaximum(step.jensenShannonDivergences)
                step.prematureLayer = candidates[chosen]
            }
            var scores = relativeTopContrast(finalLogits: final, prematureLogits: Array(prematureLogits[(chosen * V)..<((chosen + 1) * V)]))
            let context = ProcessorContext(inputIDs: ids, promptLength: prompt.count)
            let traced: TraceStep
            if var s = state {
                processors.process(&scores, context: context, state: &s)
                traced = try SampleDecoding.sample(scores: scores, uniform: s.nextUniform(), traceTopK: traceTopK)
                processors.accept(token: traced.token, probability: traced.probability ?? 0, state: &s)
                state = s
            } else {
                processors.process(&scores, context: context)
                traced = scores.withUnsafeBufferPointer { GreedyDecoding.select(logits: $0.baseAddress!, count: V, topK: traceTopK) }
            }
            let token = traced.token
            steps.append(step)
            ids.append(token)
            guard recorder.emit(traced) else { break }
            if cache.length >= c.contextLength { recorder.stop(.contextLimit); break }
            result = try model.forward(tokens: [token], cache: cache, logitRows: .last, tapLayers: true, pool: pool)
            recorder.statistics.forwardPasses += 1
        }
        return (recorder.finish(), steps)
    }

    // MARK: - The contrast (pure functions)

    /// `log_softmax(x)` as torch computes it: `m = max x`, `s = Σ exp(x[i] − m)` with
    /// `exp` = `DeterministicMath.exp` in Float32 and the sum in Float64 left to right,
    /// `ls = Float(log(s))` (Float64 `DeterministicMath.log`, rounded once), then
    /// `y[i] = (x[i] − m) − ls` in Float32. `-inf` entries stay `-inf`; all `-inf` gives all NaN
    /// (as torch).
    public static func logSoftmax(_ x: [Float]) -> [Float] {
        var m = -Float.infinity
        for v in x where v > m { m = v }
        var s = 0.0
        for v in x { s = s + Double(DeterministicMath.exp(v - m)) }
        let ls = Float(DeterministicMath.log(s))
        return x.map { ($0 - m) - ls }
    }

    /// The Jensen–Shannon divergence Hugging Face uses to pick the premature layer:
    ///
    ///     P = softmax(f), Q = softmax(b), M = 0.5 · (P + Q)            (Kernels.softmax, Float32)
    ///     kl(logX) = (1/V) Σ_v [ xlogy(M_v, M_v) − M_v · logX_v ]     (torch kl_div, then mean)
    ///     JSD = 0.5 · (kl(log_softmax f) + kl(log_softmax b))
    ///
    /// `kl(logX)` is `KL(M ‖ X) / V` (torch's `kl_div(input, target)` puts the target first), so
    /// this is Hugging Face's variant, not the textbook `½(KL(P‖M) + KL(Q‖M))`; it is still
    /// symmetric in `f` and `b` and zero iff `P = Q`, and it keeps the layer ranking of the code
    /// the authors published.
    /// Each term is Float32 (`M·log M` with `DeterministicMath.log`, `M·logX`, then the
    /// difference; `xlogy(0, 0) = 0`); the sums run over `v` in order in Float64, then divide by
    /// V and combine in Float64. Symmetric in `f` and `b`, ≥ 0 up to rounding, zero for equal
    /// inputs.
    public static func jensenShannonDivergence(finalLogits f: [Float], prematureLogits b: [Float]) -> Double {
        precondition(f.count == b.count && !f.isEmpty, "the two logit rows must have the same non-zero length")
        return FinalDistribution(f).jensenShannonDivergence(prematureLogits: b)
    }

    /// `softmax` and `logSoftmax` of the final logits, computed once per step and shared by
    /// every candidate layer's divergence.
    struct FinalDistribution {
        let p: [Float]
        let logP: [Float]

        init(_ f: [Float]) {
            var p = f
            p.withUnsafeMutableBufferPointer { Kernels.softmax($0.baseAddress!, count: $0.count) }
            self.p = p
            logP = DoLa.logSoftmax(f)
        }

        /// See `DoLa.jensenShannonDivergence(finalLogits:prematureLogits:)`.
        func jensenShannonDivergence(prematureLogits b: [Float]) -> Double {
            let V = p.count
            precondition(b.count == V, "the two logit rows must have the same length")
            var q = b
            q.withUnsafeMutableBufferPointer { Kernels.softmax($0.baseAddress!, count: V) }
            let logQ = DoLa.logSoftmax(b)
            var kl1 = 0.0, kl2 = 0.0
            for v in 0..<V {
                let m: Float = 0.5 * (p[v] + q[v])
                let mLogM: Float = m == 0 ? 0 : m * DeterministicMath.log(m)
                kl1 = kl1 + Double(mLogM - m * logP[v])
                kl2 = kl2 + Double(mLogM - m * logQ[v])
            }
            return 0.5 * (kl1 / Double(V) + kl2 / Double(V))
        }
    }

    /// The relative-top filtered contrast (HF `_relative_top_filter` with relative_top = 0.1,
    /// min_tokens_to_keep = 1, then `final − base`):
    ///
    ///     F = logSoftmax(f), B = logSoftmax(b), thr = min(max F, max F + Float(ln 0.1))
    ///     where F[v] < thr: F[v] = −inf, B[v] = −1e-3
    ///     result[v] = F[v] − B[v]                                      (Float32)
    ///
    /// Every token with `F[v] ≥ thr` (at least the most probable one) keeps a finite score.
    public static func relativeTopContrast(finalLogits f: [Float], prematureLogits b: [Float]) -> [Float] {
        precondition(f.count == b.count && !f.isEmpty, "the two logit rows must have the same non-zero length")
        let F = logSoftmax(f), B = logSoftmax(b)
        var maxF = -Float.infinity
        for v in F where v > maxF { maxF = v }
        let threshold = min(maxF, maxF + logRelativeTop)
        var out = [Float](repeating: 0, count: F.count)
        for v in 0..<F.count {
            if F[v] < threshold {
                out[v] = (-Float.infinity) - baseFilterValue   // F = −inf, B = −1e-3
            } else {
                out[v] = F[v] - B[v]
            }
        }
        return out
    }

    /// Index of the first maximum; NaN entries are skipped (all-NaN gives 0).
    static func firstMaximum(_ x: [Double]) -> Int {
        var best = 0, bestValue = -Double.infinity, found = false
        for (i, v) in x.enumerated() where !v.isNaN {
            if !found || v > bestValue { best = i; bestValue = v; found = true }
        }
        return best
    }
}

// MARK: - Strategy

extension DoLa {
    /// `--strategy dola`: DoLa contrast between the final and a premature layer.
    public struct Strategy: DecodingStrategy {
        public static let name = "dola"
        public static let summary = "DoLa: contrast the final layer with the most divergent premature layer"
        static let dolaLayers = StrategyOption("dola-layers", .text(placeholder: "high|low|0,2,4"), default: "high",
                                               help: "candidate premature layers")
        static let seedOption = SeedOption.option(help: "sample (portable draws, processors and warpers on the contrast) instead of greedy")
        public static let options = [dolaLayers, seedOption]
        /// Warpers only with `--seed` (checked in `init`).
        public static let processorUse = ProcessorSettings.Use.all
        public static let takesSeed = true

        /// The candidate layers as given (`high`, `low` or a list).
        public var layersName: String
        public var layers: DoLaLayers
        public var processors: ProcessorSettings
        /// nil = greedy DoLa (as before sampling existed: same parameters, same tokens).
        public var seedValue: UInt64?

        public init(layers name: String = "high", processors: ProcessorSettings = .none, seed: UInt64? = nil) throws {
            if seed == nil, let warper = ContextAwareDecoding.Strategy.setWarper(processors) {
                throw StrategyError("--\(warper) only applies when dola samples; add --seed N, or drop it")
            }
            seedValue = seed
            switch name.lowercased() {
            case "high": layers = .high
            case "low": layers = .low
            default:
                let parts = name.split(separator: ",")
                let list = parts.compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
                guard !list.isEmpty, list.count == parts.count else { throw StrategyError("--dola-layers must be high, low, or a list of layer indices like 0,2,4") }
                layers = .layers(list)
            }
            layersName = name
            self.processors = processors
        }

        public init(arguments a: StrategyArguments, processors: ProcessorSettings, context: StrategyContext) throws {
            try self.init(layers: try a.text(Self.dolaLayers)!, processors: processors, seed: try a.int(Self.seedOption).map { UInt64($0) })
        }

        public var parameters: [(String, JSONValue)] {
            var out = [("dola_layers", JSONValue.string(layersName))] + processors.recorded
            if seedValue != nil { out.append(SampleDecoding.Strategy.generatorRecord(processors)) }
            return out
        }
        public var seed: UInt64? { seedValue }

        public func generate(model: any CausalLanguageModel, prompt: [Int], stopping: StoppingCriteria, traceTopK: Int,
                             onToken: ((Int) -> Void)?) throws -> StrategyOutput {
            let chain: [any LogitsProcessor]
            if seedValue != nil {
                try processors.checkTokenIDs(vocabularySize: model.shape.vocabularySize)
                do {
                    chain = try ProcessorChain.make(processors.withEOS(stopping.endOfSequenceIDs), order: processors.order, sampling: true, loopState: true)
                } catch let e as SamplingParameterError { throw StrategyError(e.description) }
            } else {
                chain = try processors.processors(sampling: false, vocabularySize: model.shape.vocabularySize, endOfSequenceIDs: stopping.endOfSequenceIDs)
            }
            return StrategyOutput(try DoLa.generate(model: model, prompt: prompt, layers: layers, stopping: stopping, processors: chain,
                                                    seed: seedValue, traceTopK: traceTopK, onToken: onToken))
        }
    }
}

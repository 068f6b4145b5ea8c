import Formats
import Tensors
import Transformer

/// Beam search, exactly as Hugging Face transformers 4.52 `_beam_search` (the vectorized
/// implementation of `generate(num_beams=N, do_sample=False)`).
///
/// Beam search is older than any one paper (it is in Lowerre's 1976 Harpy system); the length
/// penalty `score = Σ log p / length ** α` is the one popularised by Wu et al., "Google's Neural
/// Machine Translation System" (2016, arXiv:1609.08144), without its `(5 + |Y|) / 6` shift.
///
/// **Procedure.** `N = numBeams`, `V` the vocabulary, `K = max(2, 1 + |eos|) · N`. Running beams
/// start as `N` copies of the prompt with scores `[0, -1e9, …, -1e9]` (so the first step expands
/// beam 0 only); the finished list has `N` empty slots scored `-1e9`. At step `t` (0-based, `t`
/// tokens generated so far):
///
/// 1. For every running beam: `logProbs = logSoftmax(logits)` (see `BeamMath.logSoftmax`), then
///    the `processors` on those log-probabilities (HF applies processors *after* the
///    log-softmax in beam search), then `+ beamScore` (Float32).
/// 2. The top `K` of the `N·V` flattened scores, ordered by (score descending, flattened index
///    `beam·V + token` ascending). PyTorch's `topk` leaves equal scores in unspecified order;
///    Touchstone pins this D4 order.
/// 3. A candidate "hits a stopping criterion" when its token is an end-of-sequence id or
///    `t + 1 == maxNewTokens`. Next running beams: the top `N` of `score + (hit ? -1e9 : 0)`
///    (ties: lower candidate rank first).
/// 4. Finished list: candidates among the first `N` ranks that hit are eligible, with score
///    `sum / (t + 1) ** lengthPenalty` — the length counts generated tokens *including* the
///    end-of-sequence token and excludes the prompt. Ineligible candidates get `-1e9` added (and
///    every candidate gets another `-1e9` when early stopping is `.enabled` and the list was
///    already full). The new list is the top `N` of old list ⧺ candidates (ties: lower position).
/// 5. Stop unless all of: (a) the best running score divided by `L ** lengthPenalty` exceeds the
///    worst finished score for some slot (an unfilled slot counts as `-1e9`), where `L = t + 1`,
///    or `maxNewTokens` for `.never` with `lengthPenalty > 0`; (b) not (`.enabled` and all `N`
///    slots finished); (c) not every candidate hit a stopping criterion.
///
/// The first `numReturnSequences` entries of the finished list are returned, best first. All
/// score arithmetic is Float32 except the length denominators (binary64, as Python computes
/// `int ** float`); each division rounds once to Float32.
public enum BeamSearch {
    /// Next-token logits for a batch of beams: each element is the generated continuation of the
    /// prompt (possibly empty); returns one row of `V` logits per element.
    public typealias LogitsFunction = (_ continuations: [[Int]]) throws -> [[Float]]

    /// Beam search over a model. One forward pass per step feeds all beams' newest tokens as one
    /// batch over a shared prefix-tree KV cache (bit-identical to decoding each beam alone, D3).
    ///
    /// - Returns: `numReturnSequences` hypotheses, best first (HF `sequences` / `sequences_scores`).
    public static func generate(model: any CausalLanguageModel, prompt: [Int], numBeams: Int, lengthPenalty: Double = 1.0,
                                earlyStopping: BeamEarlyStopping = .heuristic, numReturnSequences: Int = 1,
                                stopping: StoppingCriteria, processors: [any LogitsProcessor] = [], traceTopK: Int = 5,
                                pool: ParallelFor = .shared) throws -> [BeamHypothesis] {
        try run(model: model, prompt: prompt, numBeams: numBeams, lengthPenalty: lengthPenalty, earlyStopping: earlyStopping,
                numReturnSequences: numReturnSequences, stopping: stopping, processors: processors, traceTopK: traceTopK,
                pool: pool).hypotheses
    }

    static func run(model: any CausalLanguageModel, prompt: [Int], numBeams: Int, lengthPenalty: Double, earlyStopping: BeamEarlyStopping,
                    numReturnSequences: Int, stopping: StoppingCriteria, processors: [any LogitsProcessor], traceTopK: Int,
                    pool: ParallelFor) throws -> BeamRun {
        guard !prompt.isEmpty else { throw ModelError.invalidInput("the prompt is empty — give at least one token id") }
        let limit = model.shape.contextLength
        if prompt.count + stopping.maxNewTokens > limit {
            throw ModelError.contextOverflow(needed: prompt.count + stopping.maxNewTokens, limit: limit)
        }
        let source = SharedPrefixLogits(model: model, prompt: prompt, pool: pool)
        let hypotheses = try search(prompt: prompt, vocabularySize: model.shape.vocabularySize, numBeams: numBeams,
                                    lengthPenalty: lengthPenalty, earlyStopping: earlyStopping, numReturnSequences: numReturnSequences,
                                    stopping: stopping, processors: processors, traceTopK: traceTopK, logits: source.logits)
        return BeamRun(hypotheses: hypotheses, forwardPasses: source.forwardPasses, prefillSeconds: source.prefillSeconds)
    }

    /// The best hypothesis as a `Generation` (with forward-pass statistics).
    public static func generation(model: any CausalLanguageModel, prompt: [Int], numBeams: Int, lengthPenalty: Double = 1.0,
                                  earlyStopping: BeamEarlyStopping = .heuristic, stopping: StoppingCriteria,
                                  processors: [any LogitsProcessor] = [], traceTopK: Int = 5,
                                  pool: ParallelFor = .shared) throws -> Generation {
        let start = monotonicSeconds()
        let result = try run(model: model, prompt: prompt, numBeams: numBeams, lengthPenalty: lengthPenalty,
                             earlyStopping: earlyStopping, numReturnSequences: 1, stopping: stopping,
                             processors: processors, traceTopK: traceTopK, pool: pool)
        let best = result.hypotheses[0]
        var statistics = Generation.Statistics()
        statistics.prefillSeconds = result.prefillSeconds
        statistics.decodeSeconds = monotonicSeconds() - start - result.prefillSeconds
        statistics.forwardPasses = result.forwardPasses
        return Generation(prompt: prompt, hypothesis: best, stopping: stopping, statistics: statistics)
    }

    /// The algorithm over any logits function (a model adapter, or a hand-written table in tests).
    public static func search(prompt: [Int], vocabularySize V: Int, numBeams N: Int, lengthPenalty: Double = 1.0,
                              earlyStopping: BeamEarlyStopping = .heuristic, numReturnSequences: Int = 1,
                              stopping: StoppingCriteria, processors: [any LogitsProcessor] = [], traceTopK: Int = 5,
                              logits: LogitsFunction) throws -> [BeamHypothesis] {
        let eos = stopping.endOfSequenceIDs
        let K = max(2, 1 + eos.count) * N
        guard N >= 1 else { throw BeamSearchError.invalidParameter("numBeams is \(N); it must be at least 1") }
        guard numReturnSequences >= 1 && numReturnSequences <= N else {
            throw BeamSearchError.invalidParameter("numReturnSequences is \(numReturnSequences); it must be in 1...numBeams (\(N))")
        }
        guard stopping.maxNewTokens >= 1 else { throw BeamSearchError.invalidParameter("maxNewTokens must be at least 1") }
        guard N * V >= K else {
            throw BeamSearchError.invalidParameter("numBeams × vocabulary (\(N * V)) is smaller than the \(K) candidates kept per step")
        }

        struct Beam {
            var tokens: [Int] = []
            var score: Float
            var trace: [TraceStep] = []
        }
        struct Slot {
            var tokens: [Int] = []
            var score: Float = BeamMath.masked
            var sum: Float = 0
            var trace: [TraceStep] = []
            var isFinished = false
        }
        var running = (0..<N).map { Beam(score: $0 == 0 ? 0 : BeamMath.masked) }
        var finished = [Slot](repeating: Slot(), count: N)
        var t = 0
        while true {
            // 1. Processed log-probabilities plus beam scores, flattened [N * V].
            let rows = try logits(running.map(\.tokens))
            var flat = [Float](repeating: 0, count: N * V)
            var processedRows: [[Float]] = []
            for b in 0..<N {
                precondition(rows[b].count == V, "logits row has \(rows[b].count) entries, expected \(V)")
                var lp = BeamMath.logSoftmax(rows[b])
                processors.process(&lp, context: ProcessorContext(inputIDs: prompt + running[b].tokens, promptLength: prompt.count))
                let s = running[b].score
                for v in 0..<V { flat[b * V + v] = lp[v] + s }
                processedRows.append(lp)
            }
            // 2. Top K continuations (D4).
            let candidates = BeamMath.topK(flat, K)
            let isLastStep = t + 1 >= stopping.maxNewTokens
            let hits = candidates.map { isLastStep || eos.contains($0.index % V) }
            var topCache: [Int: [TraceStep.TopEntry]] = [:]
            func extend(_ k: Int) -> (tokens: [Int], trace: [TraceStep]) {
                let b = candidates[k].index / V, token = candidates[k].index % V
                if topCache[b] == nil { topCache[b] = BeamMath.topEntries(rows[b], traceTopK) }
                let step = BeamMath.traceStep(token: token, raw: rows[b], processed: processedRows[b], top: topCache[b]!)
                return (running[b].tokens + [token], running[b].trace + [step])
            }
            // 3. Next running beams.
            let runningScores = candidates.indices.map { hits[$0] ? candidates[$0].value + BeamMath.masked : candidates[$0].value }
            let nextRunning = BeamMath.topK(runningScores, N).map { e -> Beam in
                let x = extend(e.index)
                return Beam(tokens: x.tokens, score: e.value, trace: x.trace)
            }
            // 4. Finished list.
            let denominator = BeamMath.lengthDenominator(t + 1, lengthPenalty)
            let full = earlyStopping == .enabled && finished.allSatisfy(\.isFinished)
            var merged = finished.map(\.score)
            for k in candidates.indices {
                var s = BeamMath.divide(candidates[k].value, denominator)
                if full { s = s + BeamMath.masked }
                if !(hits[k] && k < N) { s = s + BeamMath.masked }
                merged.append(s)
            }
            finished = BeamMath.topK(merged, N).map { e -> Slot in
                if e.index < N { return finished[e.index] }
                let k = e.index - N
                let x = extend(k)
                return Slot(tokens: x.tokens, score: e.value, sum: candidates[k].value, trace: x.trace, isFinished: hits[k] && k < N)
            }
            running = nextRunning
            t += 1
            // 5. Stopping condition.
            let hypotheticalLength = earlyStopping == .never && lengthPenalty > 0 ? stopping.maxNewTokens : t
            let bestPossible = BeamMath.divide(running[0].score, BeamMath.lengthDenominator(hypotheticalLength, lengthPenalty))
            let minFinished = finished.map(\.score).min()!
            let improvementPossible = finished.contains { bestPossible > ($0.isFinished ? minFinished : BeamMath.masked) }
            let existsOpenBeam = !(earlyStopping == .enabled && finished.allSatisfy(\.isFinished))
            let validContinuations = !hits.allSatisfy { $0 }
            if !(improvementPossible && existsOpenBeam && validContinuations) { break }
        }
        return finished.prefix(numReturnSequences).map {
            BeamHypothesis(tokens: $0.tokens, score: $0.score, sumLogProbability: $0.sum, trace: $0.trace)
        }
    }
}

// MARK: - Strategy

/// The options beam search and group beam search share.
enum BeamOptions {
    static let numBeams = StrategyOption("num-beams", .integer(1...256), default: "4", help: "beams kept per step")
    static let lengthPenalty = StrategyOption("length-penalty", .number(nil), default: "1.0", help: "score = log-probability / length^penalty")
    static let earlyStopping = StrategyOption("early-stopping", .choice(["true", "false", "never"]), default: "false",
                                              help: "Hugging Face's stop rule (false: the heuristic)")
    static let numReturnSequences = StrategyOption("num-return-sequences", .integer(1...256), default: "1",
                                                   help: "hypotheses returned (best first; the best is the output)")

    static func earlyStopping(_ arguments: StrategyArguments) throws -> BeamEarlyStopping {
        BeamEarlyStopping(rawValue: try arguments.text(earlyStopping)!.lowercased())!
    }

    static func returnCount(_ arguments: StrategyArguments, beams: Int) throws -> Int {
        let returns = try arguments.int(numReturnSequences)!
        if returns > beams { throw StrategyError("--num-return-sequences (\(returns)) cannot exceed --num-beams (\(beams))") }
        return returns
    }

    /// Runs a beam `search` with the non-sampling processors of `processors`, timed; the best
    /// hypothesis is the generation (its tokens streamed at the end), every returned one a sequence.
    static func generate(model: any CausalLanguageModel, prompt: [Int], stopping: StoppingCriteria, processors: ProcessorSettings,
                         onToken: ((Int) -> Void)?,
                         search: ([any LogitsProcessor]) throws -> BeamRun) throws -> StrategyOutput {
        let chain = try processors.processors(sampling: false, vocabularySize: model.shape.vocabularySize, endOfSequenceIDs: stopping.endOfSequenceIDs)
        let start = monotonicSeconds()
        let run = try search(chain)
        let hypotheses = run.hypotheses
        guard let best = hypotheses.first else { throw ModelError.invalidInput("beam search returned no hypothesis") }
        var statistics = Generation.Statistics()
        statistics.forwardPasses = run.forwardPasses
        // The prompt's pass is timed apart inside the search loop (`SharedPrefixLogits`); the rest
        // of the search (every later pass, scoring, bookkeeping) is decoding.
        statistics.prefillSeconds = run.prefillSeconds
        statistics.decodeSeconds = monotonicSeconds() - start - run.prefillSeconds
        let generation = Generation(prompt: prompt, hypothesis: best, stopping: stopping, statistics: statistics)
        if let onToken { generation.outputIDs.forEach(onToken) }
        return StrategyOutput(generation, sequences: hypotheses.map { (ids: $0.tokens, score: Double($0.score)) })
    }
}

extension BeamSearch {
    /// `--strategy beam`: Hugging Face's vectorized beam search.
    public struct Strategy: DecodingStrategy {
        public static let name = "beam"
        public static let summary = "beam search (Hugging Face semantics: length penalty, early stopping)"
        public static let options = [BeamOptions.numBeams, BeamOptions.lengthPenalty, BeamOptions.earlyStopping, BeamOptions.numReturnSequences]
        public static let processorUse = ProcessorSettings.Use.nonSampling

        public var numBeams: Int
        public var lengthPenalty: Double
        public var earlyStopping: BeamEarlyStopping
        public var numReturnSequences: Int
        public var processors: ProcessorSettings

        public init(numBeams: Int = 4, lengthPenalty: Double = 1.0, earlyStopping: BeamEarlyStopping = .heuristic, numReturnSequences: Int = 1,
                    processors: ProcessorSettings = .none) {
            self.numBeams = numBeams
            self.lengthPenalty = lengthPenalty
            self.earlyStopping = earlyStopping
            self.numReturnSequences = numReturnSequences
            self.processors = processors
        }

        public init(arguments a: StrategyArguments, processors: ProcessorSettings, context: StrategyContext) throws {
            let beams = try a.int(BeamOptions.numBeams)!
            self.init(numBeams: beams, lengthPenalty: try a.double(BeamOptions.lengthPenalty)!, earlyStopping: try BeamOptions.earlyStopping(a),
                      numReturnSequences: try BeamOptions.returnCount(a, beams: beams), processors: processors)
        }

        /// `num_return_sequences` is recorded only above 1: it never changes the best sequence.
        public var parameters: [(String, JSONValue)] {
            var p: [(String, JSONValue)] = [("num_beams", .int(numBeams)), ("length_penalty", .double(lengthPenalty)),
                                            ("early_stopping", .string(earlyStopping.rawValue))]
            if numReturnSequences > 1 { p.append(("num_return_sequences", .int(numReturnSequences))) }
            return p + processors.recorded
        }

        public func generate(model: any CausalLanguageModel, prompt: [Int], stopping: StoppingCriteria, traceTopK: Int,
                             onToken: ((Int) -> Void)?) throws -> StrategyOutput {
            try BeamOptions.generate(model: model, prompt: prompt, stopping: stopping, processors: processors, onToken: onToken) { chain in
                try BeamSearch.run(model: model, prompt: prompt, numBeams: numBeams, lengthPenalty: lengthPenalty, earlyStopping: earlyStopping,
                                   numReturnSequences: numReturnSequences, stopping: stopping, processors: chain, traceTopK: traceTopK, pool: .shared)
            }
        }
    }
}

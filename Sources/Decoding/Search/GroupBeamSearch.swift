import Formats
import Tensors
import Transformer

/// Diverse (group) beam search, exactly as Hugging Face transformers 4.52 `_group_beam_search`
/// with `BeamSearchScorer` / `BeamHypotheses` and `HammingDiversityLogitsProcessor`.
///
/// Paper: Vijayakumar et al., "Diverse Beam Search: Decoding Diverse Solutions from Neural
/// Sequence Models" (2016, arXiv:1610.02424), Algorithm 1 with the Hamming diversity term
/// Δ(y_t) = −λ · #{earlier groups' beams that chose y_t at this step}.
///
/// **Procedure.** `N = numBeams` beams in `G = numBeamGroups` groups of `S = N / G`. Beam scores
/// start at 0 for the first beam of each group and `-1e9` for the others. Each step computes
/// every beam's logits once, then handles the groups in order `g = 0, 1, …`:
///
/// 1. A group that is done contributes `S` copies of `padTokenID` to the diversity counts (HF
///    pads done groups) and is skipped.
/// 2. For each beam of the group: `logProbs = logSoftmax(logits)`, then the Hamming diversity
///    penalty `logProbs[v] -= Float(λ) · Float(count[v])` where `count` counts the tokens chosen
///    at this step by groups `0..<g`, then the `processors`, then `+ beamScore` (all Float32).
/// 3. The top `K = max(2, 1 + |eos|) · S` of the `S·V` flattened scores (score descending,
///    flattened index ascending — D4; PyTorch's order of ties is unspecified).
/// 4. Walking the candidates by rank: an end-of-sequence candidate of rank `< S` becomes a
///    finished hypothesis of the group (tokens *without* the EOS, binary64 score
///    `Double(sum) / (t + 1) ** lengthPenalty`, the length counting the EOS); one of rank `≥ S`
///    is dropped; any other candidate becomes the next running beam, until `S` are chosen.
/// 5. The group is done when its list holds `S` hypotheses and: `.enabled` — always;
///    `.heuristic` — the worst kept score `≥ best candidate sum / (t + 1) ** lengthPenalty`;
///    `.never` — the same with `maxNewTokens` as the length when `lengthPenalty > 0`.
///
/// Generation stops when every group is done or `maxNewTokens` tokens were generated. Then the
/// running beams of groups that are not done join their lists (length `t`), all lists are
/// concatenated in group order, stably sorted by score ascending, and hypotheses are popped from
/// the end — so the best comes first and, among equal scores, the later entry wins (Python's
/// `sorted` + `pop()`). A hypothesis that finished with an end-of-sequence token gets that token
/// back; HF appends `eos_token_id[0]` instead, which differs only when several EOS ids are
/// configured. Scores are returned as Float32 (HF's `sequences_scores` tensor).
public enum GroupBeamSearch {
    /// Group beam search over a model; all beams' newest tokens are fed in one batch per step
    /// over a shared prefix-tree KV cache (bit-identical to decoding each beam alone, D3).
    ///
    /// - Parameter padTokenID: the token HF feeds for finished groups (it counts in the diversity
    ///   penalty of later groups); default the smallest end-of-sequence id (HF's default pad is
    ///   `eos_token_id[0]`).
    /// - Returns: `numReturnSequences` hypotheses, best first.
    public static func generate(model: any CausalLanguageModel, prompt: [Int], numBeams: Int, numBeamGroups: Int, diversityPenalty: Double,
                                lengthPenalty: Double = 1.0, earlyStopping: BeamEarlyStopping = .heuristic,
                                numReturnSequences: Int = 1, stopping: StoppingCriteria, processors: [any LogitsProcessor] = [],
                                padTokenID: Int? = nil, traceTopK: Int = 5, pool: ParallelFor = .shared) throws -> [BeamHypothesis] {
        try run(model: model, prompt: prompt, numBeams: numBeams, numBeamGroups: numBeamGroups, diversityPenalty: diversityPenalty,
                lengthPenalty: lengthPenalty, earlyStopping: earlyStopping, numReturnSequences: numReturnSequences, stopping: stopping,
                processors: processors, padTokenID: padTokenID, traceTopK: traceTopK, pool: pool).hypotheses
    }

    /// `generate`, also returning the forward passes the search made.
    static func run(model: any CausalLanguageModel, prompt: [Int], numBeams: Int, numBeamGroups: Int, diversityPenalty: Double,
                    lengthPenalty: Double, earlyStopping: BeamEarlyStopping, numReturnSequences: Int, stopping: StoppingCriteria,
                    processors: [any LogitsProcessor], padTokenID: Int?, traceTopK: Int,
                    pool: ParallelFor) throws -> BeamRun {
        guard !prompt.isEmpty else { throw ModelError.invalidInput("the prompt is empty — give at least one token id") }
        let limit = model.shape.contextLength
        if prompt.count + stopping.maxNewTokens > limit {
            throw ModelError.contextOverflow(needed: prompt.count + stopping.maxNewTokens, limit: limit)
        }
        let source = SharedPrefixLogits(model: model, prompt: prompt, pool: pool)
        let hypotheses = try search(prompt: prompt, vocabularySize: model.shape.vocabularySize, numBeams: numBeams,
                                    numBeamGroups: numBeamGroups, diversityPenalty: diversityPenalty, lengthPenalty: lengthPenalty,
                                    earlyStopping: earlyStopping, numReturnSequences: numReturnSequences, stopping: stopping,
                                    processors: processors, padTokenID: padTokenID, traceTopK: traceTopK, logits: source.logits)
        return BeamRun(hypotheses: hypotheses, forwardPasses: source.forwardPasses, prefillSeconds: source.prefillSeconds)
    }

    /// The algorithm over any logits function (`BeamSearch.LogitsFunction`).
    public static func search(prompt: [Int], vocabularySize V: Int, numBeams N: Int, numBeamGroups G: Int, diversityPenalty: Double,
                              lengthPenalty: Double = 1.0, earlyStopping: BeamEarlyStopping = .heuristic,
                              numReturnSequences: Int = 1, stopping: StoppingCriteria, processors: [any LogitsProcessor] = [],
                              padTokenID: Int? = nil, traceTopK: Int = 5,
                              logits: BeamSearch.LogitsFunction) throws -> [BeamHypothesis] {
        guard N >= 2 else { throw BeamSearchError.invalidParameter("numBeams is \(N); group beam search needs at least 2") }
        guard G >= 1 && G <= N && N % G == 0 else {
            throw BeamSearchError.invalidParameter("numBeamGroups is \(G); it must divide numBeams (\(N))")
        }
        guard numReturnSequences >= 1 && numReturnSequences <= N else {
            throw BeamSearchError.invalidParameter("numReturnSequences is \(numReturnSequences); it must be in 1...numBeams (\(N))")
        }
        guard stopping.maxNewTokens >= 1 else { throw BeamSearchError.invalidParameter("maxNewTokens must be at least 1") }
        guard diversityPenalty >= 0 else { throw BeamSearchError.invalidParameter("diversityPenalty must not be negative") }
        let eos = stopping.endOfSequenceIDs
        let S = N / G
        let K = max(2, 1 + eos.count) * S
        guard S * V >= K else {
            throw BeamSearchError.invalidParameter("group size × vocabulary (\(S * V)) is smaller than the \(K) candidates kept per step")
        }
        let pad = padTokenID ?? eos.min() ?? 0
        let penalty = Float(diversityPenalty)

        struct Beam {
            var tokens: [Int] = []
            var score: Float
            var trace: [TraceStep] = []
        }
        var beams = (0..<N).map { Beam(score: $0 % S == 0 ? 0 : BeamMath.masked) }
        var lists = (0..<G).map { _ in
            LegacyHypothesisList(capacity: S, lengthPenalty: lengthPenalty, earlyStopping: earlyStopping, maxNewTokens: stopping.maxNewTokens)
        }
        var done = [Bool](repeating: false, count: G)
        var t = 0
        while true {
            // Logits of the beams of groups still running (done groups' rows are never read).
            let active = (0..<N).filter { !done[$0 / S] }
            let activeRows = try logits(active.map { beams[$0].tokens })
            var rows = [[Float]](repeating: [], count: N)
            for (i, b) in active.enumerated() { rows[b] = activeRows[i] }
            var currentTokens = [Int](repeating: 0, count: N)
            var next = beams
            for g in 0..<G {
                let members = (g * S)..<((g + 1) * S)
                if done[g] {
                    for b in members { currentTokens[b] = pad }
                    continue
                }
                // Hamming diversity counts of the tokens chosen at this step by groups 0..<g.
                var count: [Int: Int] = [:]
                for b in 0..<(g * S) { count[currentTokens[b], default: 0] += 1 }
                var flat = [Float](repeating: 0, count: S * V)
                var processedRows: [[Float]] = []
                for (i, b) in members.enumerated() {
                    precondition(rows[b].count == V, "logits row has \(rows[b].count) entries, expected \(V)")
                    var lp = BeamMath.logSoftmax(rows[b])
                    if g > 0 { for (token, c) in count { lp[token] = lp[token] - penalty * Float(c) } }
                    processors.process(&lp, context: ProcessorContext(inputIDs: prompt + beams[b].tokens, promptLength: prompt.count))
                    let s = beams[b].score
                    for v in 0..<V { flat[i * V + v] = lp[v] + s }
                    processedRows.append(lp)
                }
                let candidates = BeamMath.topK(flat, K)
                var chosen = 0
                for (rank, c) in candidates.enumerated() {
                    let i = c.index / V, token = c.index % V, b = g * S + i
                    let step = BeamMath.traceStep(token: token, raw: rows[b], processed: processedRows[i],
                                                  top: BeamMath.topEntries(rows[b], traceTopK))
                    if eos.contains(token) {
                        if rank >= S { continue }
                        lists[g].add(tokens: beams[b].tokens + [token], sumLogProbability: c.value, generatedLength: t + 1,
                                     trace: beams[b].trace + [step])
                    } else {
                        next[g * S + chosen] = Beam(tokens: beams[b].tokens + [token], score: c.value, trace: beams[b].trace + [step])
                        currentTokens[g * S + chosen] = token
                        chosen += 1
                    }
                    if chosen == S { break }
                }
                if chosen < S {
                    throw BeamSearchError.invalidParameter("group \(g): fewer than \(S) of the top \(K) candidates are not end-of-sequence tokens")
                }
                done[g] = done[g] || lists[g].isDone(bestSum: candidates[0].value, generatedLength: t + 1)
            }
            beams = next
            t += 1
            if done.allSatisfy({ $0 }) || t >= stopping.maxNewTokens { break }
        }
        // Finalize: running beams of unfinished groups join their lists.
        for g in 0..<G where !done[g] {
            for b in (g * S)..<((g + 1) * S) {
                lists[g].add(tokens: beams[b].tokens, sumLogProbability: beams[b].score, generatedLength: t, trace: beams[b].trace)
            }
        }
        let all = lists.flatMap(\.entries)
        let ascending = all.indices.sorted { (all[$0].score, $0) < (all[$1].score, $1) }
        return ascending.reversed().prefix(numReturnSequences).map { i in
            BeamHypothesis(tokens: all[i].tokens, score: Float(all[i].score), sumLogProbability: all[i].sumLogProbability, trace: all[i].trace)
        }
    }
}

// MARK: - Strategy

extension GroupBeamSearch {
    /// `--strategy group-beam`: diverse beam search.
    public struct Strategy: DecodingStrategy {
        public static let name = "group-beam"
        public static let summary = "diverse (group) beam search with a Hamming diversity penalty"
        static let numBeamGroups = StrategyOption("num-beam-groups", .integer(1...256), default: "2", help: "groups the beams are split into")
        static let diversityPenalty = StrategyOption("diversity-penalty", .number(nil), default: "0.5", help: "Hamming penalty on tokens earlier groups chose")
        public static let options = [BeamOptions.numBeams, numBeamGroups, diversityPenalty, BeamOptions.lengthPenalty, BeamOptions.earlyStopping,
                                     BeamOptions.numReturnSequences]
        public static let processorUse = ProcessorSettings.Use.nonSampling

        public var numBeams: Int
        public var numBeamGroups: Int
        public var diversityPenalty: Double
        public var lengthPenalty: Double
        public var earlyStopping: BeamEarlyStopping
        public var numReturnSequences: Int
        public var processors: ProcessorSettings

        public init(numBeams: Int = 4, numBeamGroups: Int = 2, diversityPenalty: Double = 0.5, lengthPenalty: Double = 1.0,
                    earlyStopping: BeamEarlyStopping = .heuristic, numReturnSequences: Int = 1, processors: ProcessorSettings = .none) {
            self.numBeams = numBeams
            self.numBeamGroups = numBeamGroups
            self.diversityPenalty = diversityPenalty
            self.lengthPenalty = lengthPenalty
            self.earlyStopping = earlyStopping
            self.numReturnSequences = numReturnSequences
            self.processors = processors
        }

        public init(arguments a: StrategyArguments, processors: ProcessorSettings, context: StrategyContext) throws {
            let beams = try a.int(BeamOptions.numBeams)!
            self.init(numBeams: beams, numBeamGroups: try a.int(Self.numBeamGroups)!, diversityPenalty: try a.double(Self.diversityPenalty)!,
                      lengthPenalty: try a.double(BeamOptions.lengthPenalty)!, earlyStopping: try BeamOptions.earlyStopping(a),
                      numReturnSequences: try BeamOptions.returnCount(a, beams: beams), processors: processors)
        }

        public var parameters: [(String, JSONValue)] {
            var p: [(String, JSONValue)] = [("num_beams", .int(numBeams)), ("num_beam_groups", .int(numBeamGroups)),
                                            ("diversity_penalty", .double(diversityPenalty)), ("length_penalty", .double(lengthPenalty)),
                                            ("early_stopping", .string(earlyStopping.rawValue))]
            if numReturnSequences > 1 { p.append(("num_return_sequences", .int(numReturnSequences))) }
            return p + processors.recorded
        }

        public func generate(model: any CausalLanguageModel, prompt: [Int], stopping: StoppingCriteria, traceTopK: Int,
                             onToken: ((Int) -> Void)?) throws -> StrategyOutput {
            try BeamOptions.generate(model: model, prompt: prompt, stopping: stopping, processors: processors, onToken: onToken) { chain in
                try GroupBeamSearch.run(model: model, prompt: prompt, numBeams: numBeams, numBeamGroups: numBeamGroups,
                                        diversityPenalty: diversityPenalty, lengthPenalty: lengthPenalty, earlyStopping: earlyStopping,
                                        numReturnSequences: numReturnSequences, stopping: stopping, processors: chain, padTokenID: nil,
                                        traceTopK: traceTopK, pool: .shared)
            }
        }
    }
}

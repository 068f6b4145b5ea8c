/// The order in which processors run. "T = 0.7, top-k 40, top-p 0.9" names three different
/// distributions in the three ecosystems, so the order (and each processor's semantics) is
/// always explicit.
public enum ProcessorOrder: Sendable, Equatable {
    /// Hugging Face `GenerationMixin._get_logits_processor` (4.52.4): logit_bias (sequence_bias) →
    /// repetition_penalty → [frequency_penalty → presence_penalty, not in Hugging Face] →
    /// no_repeat_ngram → bad_words → min_new_tokens → suppress_tokens → and only when sampling:
    /// temperature → top_k → top_p → min_p → typical_p → epsilon_cutoff → eta_cutoff.
    case hf
    /// llama.cpp `common_sampler` default chain: logit_bias → [no_repeat_ngram → bad_words →
    /// min_new_tokens → suppress_tokens: Hugging Face masks with no llama.cpp counterpart] →
    /// penalties (repeat + freq + present, last 64 tokens) → dry → top_n_sigma → top_k →
    /// typical_p → top_p → min_p → xtc → temperature. With Mirostat set, as `common_sampler`
    /// does, the chain is logit_bias → [masks] → temperature → mirostat and any other sampler
    /// set is an error (llama.cpp would ignore it). llama.cpp semantics.
    case llamaCpp
    /// mlx-lm: logit_bias → [masks as above] → repetition_penalty (last 20 tokens) →
    /// frequency_penalty → presence_penalty → log_softmax → top_p → min_p → top_k →
    /// temperature (applied at the draw, `logprobs · (1/T)`). MLX semantics.
    case mlx
    /// An explicit list of processor names (`--processor-order`), with the semantics every
    /// processor in it uses. Names: see `ProcessorChain.knownNames`. Processors whose parameter is
    /// unset are skipped; listed names are not deduplicated.
    case custom([String], semantics: ProcessorSemantics)

    /// Parses `hf`, `llama.cpp` (or `llamacpp`), `mlx`, or a comma-separated list of names
    /// (Hugging Face semantics; prefix with `llama.cpp:` or `mlx:` for other semantics).
    public init(parsing text: String) throws {
        switch text.lowercased() {
        case "hf", "huggingface", "transformers": self = .hf
        case "llama.cpp", "llamacpp", "llama": self = .llamaCpp
        case "mlx": self = .mlx
        default:
            var body = Substring(text)
            var semantics = ProcessorSemantics.huggingFace
            for s in ProcessorSemantics.allCases where body.hasPrefix(s.rawValue + ":") {
                semantics = s
                body = body.dropFirst(s.rawValue.count + 1)
            }
            let names = body.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            for n in names where !ProcessorChain.knownNames.contains(n) {
                throw SamplingParameterError("unknown processor \"\(n)\" in --processor-order; known: \(ProcessorChain.knownNames.joined(separator: ", ")) or a profile (hf, llama.cpp, mlx)")
            }
            self = .custom(names, semantics: semantics)
        }
    }

    /// The semantics of the processors in this order.
    public var semantics: ProcessorSemantics {
        switch self {
        case .hf: return .huggingFace
        case .llamaCpp: return .llamaCpp
        case .mlx: return .mlx
        case .custom(_, let s): return s
        }
    }

    /// The processor names in order (before dropping unset ones).
    public var names: [String] {
        let masks = ["no_repeat_ngram", "bad_words", "min_new_tokens", "suppress_tokens"]
        switch self {
        case .hf:
            return ["logit_bias", "repetition_penalty", "frequency_penalty", "presence_penalty"] + masks
                + ["temperature", "top_k", "top_p", "min_p", "typical_p", "epsilon_cutoff", "eta_cutoff"]
        case .llamaCpp:
            return ["logit_bias"] + masks + ["penalties", "dry", "top_n_sigma", "top_k", "typical_p", "top_p", "min_p", "xtc",
                                             "epsilon_cutoff", "eta_cutoff", "temperature", "mirostat"]
        case .mlx:
            return ["logit_bias"] + masks + ["repetition_penalty", "frequency_penalty", "presence_penalty",
                                              "log_softmax", "top_p", "min_p", "top_k", "typical_p", "epsilon_cutoff", "eta_cutoff", "temperature"]
        case .custom(let n, _): return n
        }
    }
}

extension String {
    fileprivate func trimmingCharacters(in _: WhitespaceSet) -> String {
        var s = Substring(self)
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
fileprivate enum WhitespaceSet { case whitespaces }

/// Builds the processor list for a set of parameters and an order.
public enum ProcessorChain {
    /// Every name `ProcessorOrder.custom` accepts.
    public static let knownNames = ["logit_bias", "repetition_penalty", "frequency_penalty", "presence_penalty", "penalties",
                                    "no_repeat_ngram", "bad_words", "min_new_tokens", "suppress_tokens", "log_softmax",
                                    "temperature", "top_k", "top_p", "min_p", "typical_p", "epsilon_cutoff", "eta_cutoff",
                                    "dry", "top_n_sigma", "xtc", "mirostat"]

    /// The warpers: processors that only run when sampling (Hugging Face's former `LogitsWarper`s).
    /// DRY is a penalty, not a warper: it also runs in greedy and beam search.
    public static let warperNames: Set<String> = ["log_softmax", "temperature", "top_k", "top_p", "min_p", "typical_p", "epsilon_cutoff", "eta_cutoff",
                                                  "top_n_sigma", "xtc", "mirostat"]

    /// The processors that need the sampling loop (`LoopStateProcessor`): XTC draws a uniform,
    /// Mirostat keeps `μ` and hands its truncation to the final draw.
    public static let loopStateNames: Set<String> = ["xtc", "mirostat"]

    /// The processors for `parameters` in `order`, skipping every unset or neutral parameter
    /// exactly as Hugging Face's `_get_logits_processor` does (temperature ≠ 1, top_k ≠ 0,
    /// top_p < 1, min_p set (> 0 here), typical_p < 1, 0 < ε < 1, 0 < η < 1, penalty ≠ 1, …).
    /// With `sampling == false` (greedy, beam search) the warpers are left out, as in Hugging Face.
    ///
    /// - Throws: `SamplingParameterError` for values no ecosystem accepts (temperature ≤ 0 under
    ///   Hugging Face semantics, top_p outside [0, 1], non-positive penalties, …).
    ///
    /// XTC and Mirostat (`loopStateNames`) are built only with `loopState == true`, for a caller
    /// that runs the chain with `process(_:context:state:)` and calls `accept` after its draw
    /// (`SampleDecoding`); otherwise setting them is an error. DRY, top-nσ, XTC and Mirostat exist
    /// only in the `llama.cpp` profile and in explicit lists: set under `hf` or `mlx`, they are an
    /// error (never silently dropped).
    public static func make(_ parameters: SamplingParameters, order: ProcessorOrder = .hf, sampling: Bool = true,
                            loopState: Bool = false) throws -> [any LogitsProcessor] {
        let p = parameters
        let sem = order.semantics
        let keep = p.minTokensToKeep
        guard keep >= 1 else { throw SamplingParameterError("min_tokens_to_keep must be at least 1 (got \(keep))") }
        let names = try llamaCppSamplerNames(p, order: order, sampling: sampling, loopState: loopState)
        func window(_ hfDefault: PenaltyScope) -> PenaltyScope {
            if let n = p.penaltyLastN { return n < 0 ? .context : .lastN(n) }
            switch sem {
            case .huggingFace: return hfDefault
            case .llamaCpp: return .lastN(64)
            case .mlx: return .lastN(20)
            }
        }
        var out: [any LogitsProcessor] = []
        for name in names {
            if !sampling && warperNames.contains(name) { continue }
            switch name {
            case "logit_bias":
                if let b = p.logitBias, !b.isEmpty { out.append(LogitBias(b)) }
            case "repetition_penalty":
                if let r = p.repetitionPenalty, r != 1 {
                    guard r > 0 else { throw SamplingParameterError("repetition_penalty must be > 0 (got \(r)); 1 disables it") }
                    out.append(RepetitionPenalty(penalty: r, scope: window(.context)))
                }
            case "frequency_penalty":
                if let f = p.frequencyPenalty, f != 0 { out.append(FrequencyPenalty(penalty: f, scope: window(.generated))) }
            case "presence_penalty":
                if let q = p.presencePenalty, q != 0 { out.append(PresencePenalty(penalty: q, scope: window(.generated))) }
            case "penalties":
                let r = p.repetitionPenalty ?? 1, f = p.frequencyPenalty ?? 0, q = p.presencePenalty ?? 0
                if r != 1 || f != 0 || q != 0 {
                    guard r > 0 else { throw SamplingParameterError("repetition_penalty must be > 0 (got \(r)); 1 disables it") }
                    out.append(LlamaCppPenalties(repetition: r, frequency: f, presence: q, lastN: p.penaltyLastN ?? 64))
                }
            case "no_repeat_ngram":
                if let n = p.noRepeatNgramSize, n > 0 { out.append(NoRepeatNGram(size: n)) }
            case "bad_words":
                if let b = p.badWordsIDs, !b.isEmpty {
                    if b.contains(where: { $0.isEmpty || $0.contains { $0 < 0 } }) { throw SamplingParameterError("bad_words_ids must be non-empty lists of non-negative token ids") }
                    out.append(BadWords(b, eosTokenIDs: p.eosTokenIDs))
                }
            case "min_new_tokens":
                if let n = p.minNewTokens, n > 0 {
                    if p.eosTokenIDs.isEmpty { throw SamplingParameterError("min_new_tokens needs eos_token_ids to suppress") }
                    out.append(MinNewTokens(n, eosTokenIDs: p.eosTokenIDs))
                }
            case "suppress_tokens":
                if let s = p.suppressTokens, !s.isEmpty { out.append(SuppressTokens(s)) }
            case "log_softmax":
                out.append(LogSoftmax())
            case "temperature":
                if let t = p.temperature, t != 1 {
                    if !(t > 0) && sem == .huggingFace {
                        throw SamplingParameterError("temperature must be > 0 under Hugging Face semantics (got \(t)); for greedy decoding use `--strategy greedy` (llama.cpp and MLX treat T <= 0 as greedy)")
                    }
                    out.append(Temperature(t, semantics: sem))
                }
            case "top_k":
                if let k = p.topK, k != 0 {
                    guard k > 0 else { throw SamplingParameterError("top_k must be a positive integer (got \(k)); 0 disables it") }
                    out.append(TopK(k, minTokensToKeep: keep, semantics: sem))
                }
            case "top_p":
                if let v = p.topP {
                    guard v >= 0 && v <= 1 else { throw SamplingParameterError("top_p must be in [0, 1] (got \(v))") }
                    if v < 1 { out.append(TopP(v, minTokensToKeep: keep, semantics: sem)) }
                }
            case "min_p":
                if let v = p.minP {
                    guard v >= 0 && v <= 1 else { throw SamplingParameterError("min_p must be in [0, 1] (got \(v))") }
                    if v > 0 { out.append(MinP(v, minTokensToKeep: keep, semantics: sem)) }
                }
            case "typical_p":
                if let v = p.typicalP {
                    guard v > 0 && v <= 1 else { throw SamplingParameterError("typical_p must be in (0, 1] (got \(v))") }
                    if v < 1 { out.append(TypicalP(v, minTokensToKeep: keep, semantics: sem == .llamaCpp ? .llamaCpp : .huggingFace)) }
                }
            case "epsilon_cutoff":
                if let v = p.epsilonCutoff, v > 0, v < 1 { out.append(EpsilonCutoff(v, minTokensToKeep: keep)) }
            case "eta_cutoff":
                if let v = p.etaCutoff, v > 0, v < 1 { out.append(EtaCutoff(v, minTokensToKeep: keep)) }
            case "dry":
                if let d = dry(p) {
                    guard let breakers = p.drySequenceBreakers else {
                        throw SamplingParameterError("DRY's sequence breakers are not resolved to token ids: give --dry-sequence-breakers with a model that has a tokenizer, --dry-sequence-breaker-ids, or '[]' for none")
                    }
                    out.append(Dry(multiplier: d.multiplier, base: d.base, allowedLength: d.allowedLength, lastN: d.lastN, sequenceBreakers: breakers))
                }
            case "top_n_sigma":
                if let n = p.topNSigma, Float(n) > 0 { out.append(TopNSigma(n)) }
            case "xtc":
                if let x = xtc(p) { out.append(XTC(probability: x.probability, threshold: x.threshold, minTokensToKeep: keep)) }
            case "mirostat":
                if let m = try mirostat(p) { out.append(m) }
            default:
                throw SamplingParameterError("unknown processor \"\(name)\"; known: \(knownNames.joined(separator: ", "))")
            }
        }
        if let i = out.firstIndex(where: { $0 is Mirostat }), i != out.count - 1 {
            throw SamplingParameterError("mirostat chooses the token, so it must be the last processor; move it to the end of --processor-order")
        }
        return out
    }

    /// DRY's parameters when it is on (multiplier ≠ 0, base ≥ 1, window ≠ 0; llama.cpp's defaults
    /// base 1.75, allowed length 2, window -1).
    static func dry(_ p: SamplingParameters) -> (multiplier: Double, base: Double, allowedLength: Int, lastN: Int)? {
        guard let m = p.dryMultiplier else { return nil }
        let d = Dry(multiplier: m, base: p.dryBase ?? 1.75, allowedLength: p.dryAllowedLength ?? 2, lastN: p.dryPenaltyLastN ?? -1)
        return d.isActive ? (d.multiplier, d.base, d.allowedLength, d.lastN) : nil
    }

    /// XTC's parameters when it is on (probability > 0, threshold ≤ 0.5; default threshold 0.1).
    static func xtc(_ p: SamplingParameters) -> (probability: Double, threshold: Double)? {
        guard let q = p.xtcProbability, Float(q) > 0 else { return nil }
        let t = p.xtcThreshold ?? 0.1
        return Float(t) > 0.5 ? nil : (q, t)
    }

    static func mirostat(_ p: SamplingParameters) throws -> Mirostat? {
        guard let v = p.mirostat, v != 0 else { return nil }
        guard let version = Mirostat.Version(rawValue: v) else { throw SamplingParameterError("mirostat must be 0, 1 or 2 (got \(v))") }
        return Mirostat(version: version, tau: p.mirostatTau ?? 5, eta: p.mirostatEta ?? 0.1)
    }

    /// The names `make` walks: `order.names`, checked for the llama.cpp samplers (profile,
    /// loop state) and, in the llama.cpp profile with Mirostat, `common_sampler`'s Mirostat chain.
    static func llamaCppSamplerNames(_ p: SamplingParameters, order: ProcessorOrder, sampling: Bool, loopState: Bool) throws -> [String] {
        let on: [(name: String, option: String, set: Bool)] = [
            ("dry", "--dry-multiplier", dry(p) != nil),
            ("top_n_sigma", "--top-n-sigma", (p.topNSigma.map { Float($0) > 0 }) ?? false),
            ("xtc", "--xtc-probability", xtc(p) != nil),
            ("mirostat", "--mirostat", (p.mirostat ?? 0) != 0),
        ]
        var names = order.names
        for s in on where s.set && !names.contains(s.name) {
            throw SamplingParameterError("\(s.option): the \(order.semantics.rawValue) processor order has no \(s.name) (it is a llama.cpp sampler); use --processor-order llama.cpp or list \(s.name) in --processor-order")
        }
        if sampling && !loopState, let s = on.first(where: { $0.set && loopStateNames.contains($0.name) }) {
            throw SamplingParameterError("\(s.option) needs draws and state from the sampling loop; only --strategy sample runs it")
        }
        if order == .llamaCpp && (p.mirostat ?? 0) != 0 && sampling {
            // common_sampler: logit_bias → temperature → mirostat, nothing else.
            let ignored: [(String, Bool)] = [
                ("--repetition-penalty/--frequency-penalty/--presence-penalty",
                 (p.repetitionPenalty ?? 1) != 1 || (p.frequencyPenalty ?? 0) != 0 || (p.presencePenalty ?? 0) != 0),
                ("--dry-multiplier", dry(p) != nil), ("--top-n-sigma", on[1].set), ("--top-k", (p.topK ?? 0) != 0),
                ("--typical-p", (p.typicalP ?? 1) < 1), ("--top-p", (p.topP ?? 1) < 1), ("--min-p", (p.minP ?? 0) > 0),
                ("--xtc-probability", xtc(p) != nil), ("--epsilon-cutoff", p.epsilonCutoff != nil), ("--eta-cutoff", p.etaCutoff != nil),
            ]
            if let (option, _) = ignored.first(where: { $0.1 }) {
                throw SamplingParameterError("\(option) with --mirostat: llama.cpp's common_sampler runs only logit bias, temperature and mirostat (it would ignore \(option)); drop it, or give an explicit --processor-order list ending in mirostat")
            }
            names = names.filter { !["penalties", "dry", "top_n_sigma", "top_k", "typical_p", "top_p", "min_p", "xtc", "epsilon_cutoff", "eta_cutoff"].contains($0) }
        }
        return names
    }
}

import Foundation
import Formats

/// The logits processors a strategy runs with: every `SamplingParameters` field that was set and
/// the order they run in. Options are named as Hugging Face's `GenerationConfig` in kebab-case;
/// fixtures record the set ones under snake_case keys.
public struct ProcessorSettings: Sendable, Equatable {
    public var parameters: SamplingParameters
    /// The order as given (`hf`, `llama.cpp`, `mlx` or a list of names).
    public var orderName: String
    public var order: ProcessorOrder
    /// DRY's sequence breakers as given in text (`--dry-sequence-breakers`); nil = not given
    /// (llama.cpp's default `["\n", ":", "\"", "*"]` when DRY is on). Recorded as given; the
    /// token sequences they resolve to are `parameters.drySequenceBreakers`.
    public var drySequenceBreakerTexts: [String]?

    /// llama.cpp's default DRY sequence breakers (`common_params_sampling.dry_sequence_breakers`).
    public static let defaultDrySequenceBreakers = ["\n", ":", "\"", "*"]

    /// `parameters` run in the order `orderName` names (see `ProcessorOrder(parsing:)`).
    public init(_ parameters: SamplingParameters, order orderName: String = "hf") throws {
        self.parameters = parameters
        self.orderName = orderName
        do { order = try ProcessorOrder(parsing: orderName) } catch let e as SamplingParameterError { throw StrategyError(e.description) }
    }

    private init(parameters: SamplingParameters, orderName: String, order: ProcessorOrder) {
        self.parameters = parameters
        self.orderName = orderName
        self.order = order
    }

    /// No processor (Hugging Face order, nothing set).
    public static let none = ProcessorSettings(parameters: SamplingParameters(), orderName: "hf", order: .hf)

    /// What strategies accept of the processors.
    public enum Use: Sendable, Equatable {
        /// No processor: the strategy verifies plain greedy decoding.
        case none
        /// The non-sampling processors (penalties, masks, bias), as Hugging Face applies them in
        /// greedy and beam search; the warpers are rejected.
        case nonSampling
        /// The whole chain, warpers included.
        case all
    }

    // MARK: options

    static let temperature = StrategyOption("temperature", .number(nil), help: "divide logits by T")
    static let topK = StrategyOption("top-k", .integer(0...Int(Int32.max)), help: "keep the K best tokens (0 = off)")
    static let topP = StrategyOption("top-p", .number(nil), help: "nucleus mass")
    static let minP = StrategyOption("min-p", .number(nil), help: "min-p")
    static let typicalP = StrategyOption("typical-p", .number(nil), help: "typical mass")
    static let epsilonCutoff = StrategyOption("epsilon-cutoff", .number(nil), help: "epsilon cut-off")
    static let etaCutoff = StrategyOption("eta-cutoff", .number(nil), help: "eta cut-off")
    static let repetitionPenalty = StrategyOption("repetition-penalty", .number(nil), help: "repetition penalty")
    static let frequencyPenalty = StrategyOption("frequency-penalty", .number(nil), help: "frequency penalty")
    static let presencePenalty = StrategyOption("presence-penalty", .number(nil), help: "presence penalty")
    static let penaltyLastN = StrategyOption("penalty-last-n", .integer(-1...Int(Int32.max)), help: "penalty window (-1 = whole context)")
    static let noRepeatNgramSize = StrategyOption("no-repeat-ngram-size", .integer(0...1_000_000), help: "ban repeated n-grams")
    static let minNewTokens = StrategyOption("min-new-tokens", .integer(0...1_000_000), help: "suppress EOS before N tokens")
    static let badWordsIDs = StrategyOption("bad-words-ids", .text(placeholder: "1,2;3"), help: "banned sequences")
    static let logitBias = StrategyOption("logit-bias", .text(placeholder: "42:-5,7:2"), help: "bias per token id")
    static let suppressTokens = StrategyOption("suppress-tokens", .text(placeholder: "1,2"), help: "ids never generated")
    static let minTokensToKeep = StrategyOption("min-tokens-to-keep", .integer(1...Int(Int32.max)), default: "1", help: "floor of the truncating warpers")
    static let dryMultiplier = StrategyOption("dry-multiplier", .number(nil), help: "DRY repetition penalty multiplier (0 = off; llama.cpp sampler)")
    static let dryBase = StrategyOption("dry-base", .number(nil), help: "DRY base (default 1.75; < 1 = off)")
    static let dryAllowedLength = StrategyOption("dry-allowed-length", .integer(0...Int(Int32.max)), help: "DRY: repetitions up to this length are free (default 2)")
    static let dryPenaltyLastN = StrategyOption("dry-penalty-last-n", .integer(-1...Int(Int32.max)), help: "DRY window (default -1 = whole context; 0 = off)")
    static let drySequenceBreakers = StrategyOption("dry-sequence-breakers", .text(placeholder: "'[\"\\n\", \":\"]'"), help: "DRY sequence breakers, a JSON array of strings (default [\"\\n\", \":\", \"\\\"\", \"*\"]; needs the tokenizer)")
    static let drySequenceBreakerIDs = StrategyOption("dry-sequence-breaker-ids", .text(placeholder: "1;2,3"), help: "DRY sequence breakers as token sequences (instead of text)")
    static let xtcProbability = StrategyOption("xtc-probability", .number(0...1), help: "XTC: chance per step of excluding the top choices (0 = off)")
    static let xtcThreshold = StrategyOption("xtc-threshold", .number(nil), help: "XTC probability threshold (default 0.1; > 0.5 = off)")
    static let topNSigma = StrategyOption("top-n-sigma", .number(nil), help: "keep logits >= max - n*sigma (<= 0 = off)")
    static let mirostat = StrategyOption("mirostat", .integer(0...2), help: "Mirostat version 1 or 2 (0 = off)")
    static let mirostatTau = StrategyOption("mirostat-tau", .number(nil), help: "Mirostat target surprise (default 5)")
    static let mirostatEta = StrategyOption("mirostat-eta", .number(nil), help: "Mirostat learning rate (default 0.1)")
    static let processorOrder = StrategyOption("processor-order", .text(placeholder: "hf|llama.cpp|mlx|name,name,..."), default: "hf", help: "processor order and semantics")

    /// Every processor option, in the order fixtures record them.
    public static let options: [StrategyOption] = [
        temperature, topK, topP, minP, typicalP, epsilonCutoff, etaCutoff, repetitionPenalty, frequencyPenalty, presencePenalty,
        penaltyLastN, noRepeatNgramSize, minNewTokens, badWordsIDs, logitBias, suppressTokens, minTokensToKeep,
        dryMultiplier, dryBase, dryAllowedLength, dryPenaltyLastN, drySequenceBreakers, drySequenceBreakerIDs,
        xtcProbability, xtcThreshold, topNSigma, mirostat, mirostatTau, mirostatEta, processorOrder,
    ]

    /// The warpers: options that only sampling strategies accept (XTC and Mirostat also need
    /// the sampling loop's draws; top-nσ truncates like top-k).
    public static let warperNames: Set<String> = ["temperature", "top-k", "top-p", "min-p", "typical-p", "epsilon-cutoff", "eta-cutoff",
                                                  "top-n-sigma", "xtc-probability", "xtc-threshold", "mirostat", "mirostat-tau", "mirostat-eta"]

    /// Reads the processor options from `arguments`. DRY's text sequence breakers are resolved to
    /// token sequences with `vocabulary`; without one they stay unresolved and building the
    /// processors fails with a message saying so (token-id breakers need no vocabulary).
    public init(arguments a: StrategyArguments, vocabulary: DryVocabulary? = nil) throws {
        var p = SamplingParameters()
        p.temperature = try a.double(Self.temperature)
        p.topK = try a.int(Self.topK)
        p.topP = try a.double(Self.topP)
        p.minP = try a.double(Self.minP)
        p.typicalP = try a.double(Self.typicalP)
        p.epsilonCutoff = try a.double(Self.epsilonCutoff)
        p.etaCutoff = try a.double(Self.etaCutoff)
        p.repetitionPenalty = try a.double(Self.repetitionPenalty)
        p.frequencyPenalty = try a.double(Self.frequencyPenalty)
        p.presencePenalty = try a.double(Self.presencePenalty)
        p.penaltyLastN = try a.int(Self.penaltyLastN)
        p.noRepeatNgramSize = try a.int(Self.noRepeatNgramSize)
        p.minNewTokens = try a.int(Self.minNewTokens)
        p.minTokensToKeep = try a.int(Self.minTokensToKeep)!
        if let raw = try a.text(Self.suppressTokens) { p.suppressTokens = try Self.idList(raw, option: Self.suppressTokens) }
        if let raw = try a.text(Self.badWordsIDs) {
            // "1,2;3" = the sequences [1, 2] and [3].
            p.badWordsIDs = try raw.split(separator: ";").map { seq in
                try seq.split(separator: ",").map { t -> Int in
                    guard let v = Int(t.trimmingCharacters(in: .whitespaces)), v >= 0 else { throw StrategyError("--bad-words-ids: '\(t)' is not a token id (format: 1,2;3)") }
                    return v
                }
            }
        }
        if let raw = try a.text(Self.logitBias) {
            // "id:bias,id:bias"
            var bias: [Int: Double] = [:]
            for pair in raw.split(separator: ",") {
                let parts = pair.split(separator: ":")
                guard parts.count == 2, let id = Int(parts[0].trimmingCharacters(in: .whitespaces)), id >= 0,
                      let b = Double(parts[1].trimmingCharacters(in: .whitespaces)), b.isFinite || b == -.infinity else {
                    throw StrategyError("--logit-bias: '\(pair)' is not id:bias (format: 42:-5.5,7:2)")
                }
                bias[id] = b
            }
            p.logitBias = bias
        }
        p.dryMultiplier = try a.double(Self.dryMultiplier)
        p.dryBase = try a.double(Self.dryBase)
        p.dryAllowedLength = try a.int(Self.dryAllowedLength)
        p.dryPenaltyLastN = try a.int(Self.dryPenaltyLastN)
        p.xtcProbability = try a.double(Self.xtcProbability)
        p.xtcThreshold = try a.double(Self.xtcThreshold)
        p.topNSigma = try a.double(Self.topNSigma)
        p.mirostat = try a.int(Self.mirostat)
        p.mirostatTau = try a.double(Self.mirostatTau)
        p.mirostatEta = try a.double(Self.mirostatEta)
        func requires(_ options: [StrategyOption], _ main: StrategyOption) throws {
            if !a.has(main), let o = options.first(where: { a.has($0) }) {
                throw StrategyError("--\(o.name) has no effect without --\(main.name); give --\(main.name) too, or drop it")
            }
        }
        try requires([Self.dryBase, Self.dryAllowedLength, Self.dryPenaltyLastN, Self.drySequenceBreakers, Self.drySequenceBreakerIDs], Self.dryMultiplier)
        try requires([Self.xtcThreshold], Self.xtcProbability)
        try requires([Self.mirostatTau, Self.mirostatEta], Self.mirostat)
        var texts: [String]? = nil
        if let raw = try a.text(Self.drySequenceBreakers) {
            guard let list = try? JSONSerialization.jsonObject(with: Data(raw.utf8), options: [.fragmentsAllowed]) as? [String] else {
                throw StrategyError("--dry-sequence-breakers: '\(raw)' is not a JSON array of strings (e.g. '[\"\\n\", \":\"]', or '[]' for none)")
            }
            texts = list
        }
        if let raw = try a.text(Self.drySequenceBreakerIDs) {
            // "1;2,3" = the breakers [1] and [2, 3]; "" = none. These win over the text form
            // (a fixture records both: the text as given and the ids it resolved to).
            p.drySequenceBreakers = try raw.split(separator: ";").map { seq in
                try seq.split(separator: ",").map { t -> Int in
                    guard let v = Int(t.trimmingCharacters(in: .whitespaces)), v >= 0 else { throw StrategyError("--dry-sequence-breaker-ids: '\(t)' is not a token id (format: 1;2,3)") }
                    return v
                }
            }
        } else if p.dryMultiplier != nil {
            let list = texts ?? Self.defaultDrySequenceBreakers
            if list.allSatisfy(\.isEmpty) { p.drySequenceBreakers = [] } else if let vocabulary { p.drySequenceBreakers = Dry.sequenceBreakers(list, vocabulary: vocabulary) }
        }
        try self.init(p, order: try a.text(Self.processorOrder) ?? "hf")
        drySequenceBreakerTexts = texts
    }

    /// Whether building these processors needs a vocabulary first (DRY on with text breakers
    /// not yet resolved): then rebuild with `init(arguments:vocabulary:)`.
    public var needsVocabulary: Bool { parameters.dryMultiplier != nil && parameters.drySequenceBreakers == nil }

    private static func idList(_ raw: String, option: StrategyOption) throws -> [Int] {
        let parts = raw.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let ids = try parts.map { p -> Int in
            guard let v = Int(p), v >= 0 else { throw StrategyError("--\(option.name): '\(p)' is not a token id (expected comma-separated non-negative integers)") }
            return v
        }
        if ids.isEmpty { throw StrategyError("--\(option.name) is empty; give comma-separated token ids like 1,2,3") }
        return ids
    }

    // MARK: use

    /// The processors that run, built for a model's vocabulary and end-of-sequence ids. Token
    /// ids outside the vocabulary are an error (they would otherwise be ignored silently).
    public func processors(sampling: Bool, vocabularySize v: Int, endOfSequenceIDs eos: Set<Int>) throws -> [any LogitsProcessor] {
        try checkTokenIDs(vocabularySize: v)
        do { return try ProcessorChain.make(withEOS(eos), order: order, sampling: sampling) } catch let e as SamplingParameterError {
            throw StrategyError(e.description)
        }
    }

    /// The parameters with `eos` as the end-of-sequence ids (for min-new-tokens and bad words).
    public func withEOS(_ eos: Set<Int>) -> SamplingParameters {
        var p = parameters
        p.eosTokenIDs = eos.sorted()
        return p
    }

    public func checkTokenIDs(vocabularySize v: Int) throws {
        func check(_ ids: [Int], _ option: String) throws {
            if let bad = ids.first(where: { $0 < 0 || $0 >= v }) { throw StrategyError("--\(option): token id \(bad) is outside the vocabulary [0, \(v))") }
        }
        try check(parameters.suppressTokens ?? [], "suppress-tokens")
        try check((parameters.badWordsIDs ?? []).flatMap { $0 }, "bad-words-ids")
        try check((parameters.logitBias ?? [:]).keys.sorted(), "logit-bias")
        try check((parameters.drySequenceBreakers ?? []).flatMap { $0 }, "dry-sequence-breaker-ids")
    }

    /// The set parameters as recorded in fixtures and statistics, in option order;
    /// `processor_order` joins them when two or more are set (only then can the order matter).
    public var recorded: [(String, JSONValue)] {
        let p = parameters
        var out: [(String, JSONValue)] = []
        func add(_ option: StrategyOption, _ value: JSONValue?) { if let value { out.append((option.key, value)) } }
        add(Self.temperature, p.temperature.map { .double($0) })
        add(Self.topK, p.topK.map { .int($0) })
        add(Self.topP, p.topP.map { .double($0) })
        add(Self.minP, p.minP.map { .double($0) })
        add(Self.typicalP, p.typicalP.map { .double($0) })
        add(Self.epsilonCutoff, p.epsilonCutoff.map { .double($0) })
        add(Self.etaCutoff, p.etaCutoff.map { .double($0) })
        add(Self.repetitionPenalty, p.repetitionPenalty.map { .double($0) })
        add(Self.frequencyPenalty, p.frequencyPenalty.map { .double($0) })
        add(Self.presencePenalty, p.presencePenalty.map { .double($0) })
        add(Self.penaltyLastN, p.penaltyLastN.map { .int($0) })
        add(Self.noRepeatNgramSize, p.noRepeatNgramSize.map { .int($0) })
        add(Self.minNewTokens, p.minNewTokens.map { .int($0) })
        add(Self.badWordsIDs, p.badWordsIDs.map { .string($0.map { $0.map(String.init).joined(separator: ",") }.joined(separator: ";")) })
        add(Self.logitBias, p.logitBias.map { b in .string(b.keys.sorted().map { "\($0):\(b[$0]!)" }.joined(separator: ",")) })
        add(Self.suppressTokens, p.suppressTokens.map { .string($0.map(String.init).joined(separator: ",")) })
        if p.minTokensToKeep != 1 { add(Self.minTokensToKeep, .int(p.minTokensToKeep)) }
        add(Self.dryMultiplier, p.dryMultiplier.map { .double($0) })
        add(Self.dryBase, p.dryBase.map { .double($0) })
        add(Self.dryAllowedLength, p.dryAllowedLength.map { .int($0) })
        add(Self.dryPenaltyLastN, p.dryPenaltyLastN.map { .int($0) })
        add(Self.drySequenceBreakers, drySequenceBreakerTexts.flatMap { texts in
            (try? JSONSerialization.data(withJSONObject: texts, options: [.sortedKeys, .withoutEscapingSlashes])).map { .string(String(decoding: $0, as: UTF8.self)) }
        })
        if p.dryMultiplier != nil {
            add(Self.drySequenceBreakerIDs, p.drySequenceBreakers.map { .string($0.map { $0.map(String.init).joined(separator: ",") }.joined(separator: ";")) })
        }
        add(Self.xtcProbability, p.xtcProbability.map { .double($0) })
        add(Self.xtcThreshold, p.xtcThreshold.map { .double($0) })
        add(Self.topNSigma, p.topNSigma.map { .double($0) })
        add(Self.mirostat, p.mirostat.map { .int($0) })
        add(Self.mirostatTau, p.mirostatTau.map { .double($0) })
        add(Self.mirostatEta, p.mirostatEta.map { .double($0) })
        if out.count >= 2 { add(Self.processorOrder, .string(orderName)) }
        return out
    }
}

/// Every logits-processor parameter, named as in Hugging Face's `GenerationConfig` (plus the
/// OpenAI/llama.cpp frequency and presence penalties). `nil` (or a neutral value) means "not
/// applied". Unlike `GenerationConfig`, nothing is on by default: Hugging Face's implicit
/// `top_k = 50` is *not* assumed — pass `topK: 50` to reproduce a bare `generate(do_sample=True)`.
public struct SamplingParameters: Sendable, Equatable {
    /// Logits are divided by this (> 0; 1 = unchanged). See `Temperature` for `<= 0`.
    public var temperature: Double?
    /// Keep the `topK` best tokens (0 or nil = off).
    public var topK: Int?
    /// Nucleus mass in (0, 1] (1 or nil = off).
    public var topP: Double?
    /// Min-p in [0, 1] (0 or nil = off).
    public var minP: Double?
    /// Typical mass in (0, 1) (1 or nil = off).
    public var typicalP: Double?
    /// Epsilon cut-off in (0, 1) (nil = off).
    public var epsilonCutoff: Double?
    /// Eta cut-off in (0, 1) (nil = off).
    public var etaCutoff: Double?
    /// Repetition penalty > 0 (1 or nil = off).
    public var repetitionPenalty: Double?
    /// Frequency penalty (0 or nil = off).
    public var frequencyPenalty: Double?
    /// Presence penalty (0 or nil = off).
    public var presencePenalty: Double?
    /// Penalty window in tokens (llama.cpp `penalty_last_n`, mlx-lm `repetition_context_size`);
    /// `-1` = whole context. nil = the profile's default: Hugging Face whole context for the
    /// repetition penalty and generated tokens for frequency/presence; llama.cpp 64; MLX 20.
    public var penaltyLastN: Int?
    /// Ban repeating n-grams of this size (0 or nil = off).
    public var noRepeatNgramSize: Int?
    /// Suppress `eosTokenIDs` until this many tokens have been generated (0 or nil = off).
    public var minNewTokens: Int?
    /// Banned token sequences (single- or multi-token).
    public var badWordsIDs: [[Int]]?
    /// Additive bias per token id.
    public var logitBias: [Int: Double]?
    /// Ids that may never be generated.
    public var suppressTokens: [Int]?
    /// Floor on how many tokens the truncating warpers keep (Hugging Face uses 1; 2 for beams).
    public var minTokensToKeep: Int
    /// End-of-sequence ids (for `minNewTokens` and the bad-words EOS filter).
    public var eosTokenIDs: [Int]
    /// DRY multiplier (0 or nil = off). See `Dry`.
    public var dryMultiplier: Double?
    /// DRY base (nil = llama.cpp's 1.75; DRY is off below 1).
    public var dryBase: Double?
    /// DRY allowed repetition length (nil = llama.cpp's 2).
    public var dryAllowedLength: Int?
    /// DRY window in tokens (nil = llama.cpp's -1, the whole context; 0 = off).
    public var dryPenaltyLastN: Int?
    /// DRY sequence breakers as token sequences, head first (llama.cpp's processed breakers;
    /// `Dry.sequenceBreakers(_:vocabulary:)` makes them from text). nil with DRY on is an error:
    /// pass `[]` for none.
    public var drySequenceBreakers: [[Int]]?
    /// XTC probability in [0, 1] (0 or nil = off). See `XTC`.
    public var xtcProbability: Double?
    /// XTC threshold (nil = llama.cpp's 0.1; above 0.5 XTC is off).
    public var xtcThreshold: Double?
    /// Top-nσ's n (nil or <= 0 = off). See `TopNSigma`.
    public var topNSigma: Double?
    /// Mirostat version: 1 or 2 (0 or nil = off). See `Mirostat`.
    public var mirostat: Int?
    /// Mirostat target surprise τ (nil = llama.cpp's 5).
    public var mirostatTau: Double?
    /// Mirostat learning rate η (nil = llama.cpp's 0.1).
    public var mirostatEta: Double?

    public init(temperature: Double? = nil, topK: Int? = nil, topP: Double? = nil, minP: Double? = nil,
                typicalP: Double? = nil, epsilonCutoff: Double? = nil, etaCutoff: Double? = nil,
                repetitionPenalty: Double? = nil, frequencyPenalty: Double? = nil, presencePenalty: Double? = nil,
                penaltyLastN: Int? = nil, noRepeatNgramSize: Int? = nil, minNewTokens: Int? = nil,
                badWordsIDs: [[Int]]? = nil, logitBias: [Int: Double]? = nil, suppressTokens: [Int]? = nil,
                minTokensToKeep: Int = 1, eosTokenIDs: [Int] = [],
                dryMultiplier: Double? = nil, dryBase: Double? = nil, dryAllowedLength: Int? = nil, dryPenaltyLastN: Int? = nil,
                drySequenceBreakers: [[Int]]? = nil, xtcProbability: Double? = nil, xtcThreshold: Double? = nil,
                topNSigma: Double? = nil, mirostat: Int? = nil, mirostatTau: Double? = nil, mirostatEta: Double? = nil) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.minP = minP
        self.typicalP = typicalP
        self.epsilonCutoff = epsilonCutoff
        self.etaCutoff = etaCutoff
        self.repetitionPenalty = repetitionPenalty
        self.frequencyPenalty = frequencyPenalty
        self.presencePenalty = presencePenalty
        self.penaltyLastN = penaltyLastN
        self.noRepeatNgramSize = noRepeatNgramSize
        self.minNewTokens = minNewTokens
        self.badWordsIDs = badWordsIDs
        self.logitBias = logitBias
        self.suppressTokens = suppressTokens
        self.minTokensToKeep = minTokensToKeep
        self.eosTokenIDs = eosTokenIDs
        self.dryMultiplier = dryMultiplier
        self.dryBase = dryBase
        self.dryAllowedLength = dryAllowedLength
        self.dryPenaltyLastN = dryPenaltyLastN
        self.drySequenceBreakers = drySequenceBreakers
        self.xtcProbability = xtcProbability
        self.xtcThreshold = xtcThreshold
        self.topNSigma = topNSigma
        self.mirostat = mirostat
        self.mirostatTau = mirostatTau
        self.mirostatEta = mirostatEta
    }
}

/// A parameter that no ecosystem accepts, with what to do instead.
public struct SamplingParameterError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

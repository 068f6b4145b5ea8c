import Transformer

/// One step of a generation trace: the chosen token with its logit (and probability where the
/// strategy defines one), and the top-k logits of the distribution it was chosen from.
public struct TraceStep: Sendable, Equatable {
    public var token: Int
    public var logit: Float
    public var probability: Float?
    /// `(id, logit)` sorted by logit descending, then id ascending (D4).
    public var topLogits: [TopEntry]
    /// Speculative methods, on the first token of each verification step: the drafted tokens
    /// (in node order) and how many of them were accepted.
    public var drafted: [Int]?
    public var accepted: Int?

    public struct TopEntry: Sendable, Equatable {
        public var id: Int
        public var logit: Float
        public init(id: Int, logit: Float) { self.id = id; self.logit = logit }
    }

    public init(token: Int, logit: Float, probability: Float? = nil, topLogits: [TopEntry]) {
        self.token = token
        self.logit = logit
        self.probability = probability
        self.topLogits = topLogits
    }

    /// The reference's margin between its two best logits (how near a tie the step was).
    public var topTwoMargin: Float? {
        topLogits.count >= 2 ? topLogits[0].logit - topLogits[1].logit : nil
    }
}

/// Why a generation ended.
public enum StopReason: String, Sendable {
    case endOfSequence = "eos"
    case stopString = "stop_string"
    case maxNewTokens = "max_new_tokens"
    case contextLimit = "context_limit"
}

/// The result of a decoding strategy.
public struct Generation: Sendable {
    public var promptIDs: [Int]
    public var outputIDs: [Int]
    public var trace: [TraceStep]
    public var stopReason: StopReason
    public var statistics: Statistics

    public struct Statistics: Sendable {
        /// Forward passes of the target model (the prefill counts as one).
        public var forwardPasses = 0
        /// Speculative methods: forward passes of the draft model, verification steps, and
        /// drafted tokens accepted in total.
        public var draftForwardPasses = 0
        public var verificationSteps = 0
        public var acceptedDraftTokens = 0
        /// Tokens emitted by verification steps (accepted drafts plus one target token each);
        /// in a finished `Generation`, only those actually emitted (a step that `maxNewTokens`, a
        /// stop string or an end-of-sequence id cut short counts the tokens it emitted).
        public var tokensFromVerification = 0

        /// Mean accepted tokens per verification step (MAT): tokens emitted per target
        /// verification pass, counting the target's own token, so plain decoding has MAT 1.
        public var meanAcceptedTokens: Double {
            verificationSteps > 0 ? Double(tokensFromVerification) / Double(verificationSteps) : 0
        }
        public var prefillSeconds = 0.0
        public var decodeSeconds = 0.0
        public init() {}

        /// New tokens per second of decoding (excluding the prefill).
        public func decodeTokensPerSecond(newTokens: Int) -> Double {
            decodeSeconds > 0 ? Double(max(0, newTokens - 1)) / decodeSeconds : 0
        }
    }
}

/// Options shared by every strategy.
public struct StoppingCriteria: Sendable {
    public var maxNewTokens: Int
    /// Token ids that end generation (included in the output, as Hugging Face does).
    public var endOfSequenceIDs: Set<Int>
    /// Stop strings: generation ends as soon as the decoded text of the generated tokens
    /// contains one of them (the token that completes it is kept, as Hugging Face keeps it).
    /// Needs `decode`. Beam strategies do not support stop strings.
    public var stopStrings: [String]
    /// Turns generated ids into text for stop-string matching (a tokenizer's decode).
    public var decode: (@Sendable ([Int]) -> String)?

    public init(maxNewTokens: Int, endOfSequenceIDs: Set<Int> = [], stopStrings: [String] = [], decode: (@Sendable ([Int]) -> String)? = nil) {
        self.maxNewTokens = maxNewTokens
        self.endOfSequenceIDs = endOfSequenceIDs
        self.stopStrings = stopStrings.filter { !$0.isEmpty }
        self.decode = decode
    }

    /// Why generation must stop now that `output` (the generated tokens, newest last) is what it
    /// is, or nil to go on. Checked in this order: the newest token is an end-of-sequence id, the
    /// text contains a stop string, `maxNewTokens` tokens exist. Every strategy loop except the
    /// beam searches (which finish hypotheses instead) asks this after each emitted token.
    public func stopReason(after output: [Int]) -> StopReason? {
        if let last = output.last, endOfSequenceIDs.contains(last) { return .endOfSequence }
        if hitsStopString(output) { return .stopString }
        if output.count >= maxNewTokens { return .maxNewTokens }
        return nil
    }

    /// Whether the generated tokens' text contains a stop string. Only the text that the last
    /// token could have completed is searched (the tail as long as the longest stop string plus
    /// the last token's text), so a stop string is reported at the first token that completes it.
    public func hitsStopString(_ output: [Int]) -> Bool {
        guard !stopStrings.isEmpty, let decode, let last = output.last else { return false }
        let text = decode(output)
        let longest = stopStrings.map(\.count).max() ?? 0
        let tail = String(text.suffix(longest + decode([last]).count + 1))
        return stopStrings.contains { tail.contains($0) }
    }
}

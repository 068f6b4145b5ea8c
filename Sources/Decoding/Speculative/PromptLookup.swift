import Transformer
import Formats
/// Prompt lookup decoding (Saxena 2023, "Prompt Lookup Decoding" — no paper: a GitHub repository,
/// `apoorvumang/prompt-lookup-decoding`, function `find_candidate_pred_tokens`, November 2023;
/// as Hugging Face's `PromptLookupCandidateGenerator`, transformers 4.52): draft the tokens that
/// followed an earlier occurrence of the sequence's last n-gram. The draft is then verified by
/// greedy speculative decoding (`SpeculativeDecoding`).
///
/// For `n` from `min(maxMatchingNgramSize, length − 1)` down to 1: scan the windows of `n` tokens
/// from the start of the sequence; the first window equal to the last `n` tokens that has at
/// least one token after it (inside the sequence) gives the draft: up to `numTokens` tokens
/// following it, cut before the first end-of-sequence id. Larger `n` wins; the earliest match
/// wins among equal `n`. No match: an empty draft (plain greedy step).
public struct PromptLookupDrafter: Drafter {
    public var numTokens: Int
    public var maxMatchingNgramSize: Int
    public var endOfSequenceIDs: Set<Int>
    public var forwardPasses: Int { 0 }

    public init(numTokens: Int = 10, maxMatchingNgramSize: Int = 2, endOfSequenceIDs: Set<Int> = []) {
        precondition(numTokens > 0 && maxMatchingNgramSize > 0, "prompt lookup needs positive sizes")
        self.numTokens = numTokens
        self.maxMatchingNgramSize = maxMatchingNgramSize
        self.endOfSequenceIDs = endOfSequenceIDs
    }

    public mutating func draft(sequence: [Int], maxTokens: Int) throws -> DraftTree {
        let length = sequence.count
        let want = min(numTokens, maxTokens)
        if want <= 0 || length < 2 { return .empty }
        for n in stride(from: min(maxMatchingNgramSize, length - 1), through: 1, by: -1) {
            let ngram = sequence[(length - n)...]
            for start in 0...(length - n) where sequence[start..<(start + n)].elementsEqual(ngram) {
                let from = start + n
                let to = min(from + want, length)
                guard from < to else { continue }
                var chosen = Array(sequence[from..<to])
                if let eos = chosen.firstIndex(where: { endOfSequenceIDs.contains($0) }) { chosen = Array(chosen[..<eos]) }
                return DraftTree(chain: chosen)
            }
        }
        return .empty
    }
}

// MARK: - Strategy

extension PromptLookupDrafter {
    /// `--strategy prompt-lookup`: greedy speculative decoding with n-gram drafts from the context.
    public struct Strategy: DecodingStrategy {
        public static let name = "prompt-lookup"
        public static let summary = "prompt lookup decoding: drafts copied after the last matching n-gram (token-identical to greedy)"
        static let numTokens = StrategyOption("prompt-lookup-num-tokens", .integer(1...256), default: "10", help: "tokens drafted per step")
        static let maxMatchingNgramSize = StrategyOption("max-matching-ngram-size", .integer(1...64), default: "2", help: "longest n-gram matched")
        public static let options = [numTokens, maxMatchingNgramSize]
        public static let processorUse = ProcessorSettings.Use.none

        public var promptLookupNumTokens: Int
        public var maxMatchingNgramSize: Int

        public init(promptLookupNumTokens: Int = 10, maxMatchingNgramSize: Int = 2) {
            self.promptLookupNumTokens = promptLookupNumTokens
            self.maxMatchingNgramSize = maxMatchingNgramSize
        }

        public init(arguments a: StrategyArguments, processors: ProcessorSettings, context: StrategyContext) throws {
            self.init(promptLookupNumTokens: try a.int(Self.numTokens)!, maxMatchingNgramSize: try a.int(Self.maxMatchingNgramSize)!)
        }

        public var parameters: [(String, JSONValue)] {
            [("prompt_lookup_num_tokens", .int(promptLookupNumTokens)), ("max_matching_ngram_size", .int(maxMatchingNgramSize))]
        }

        public func generate(model: any CausalLanguageModel, prompt: [Int], stopping: StoppingCriteria, traceTopK: Int,
                             onToken: ((Int) -> Void)?) throws -> StrategyOutput {
            var drafter = PromptLookupDrafter(numTokens: promptLookupNumTokens, maxMatchingNgramSize: maxMatchingNgramSize,
                                              endOfSequenceIDs: stopping.endOfSequenceIDs)
            return StrategyOutput(try SpeculativeDecoding.generate(model: model, prompt: prompt, drafter: &drafter, maxDraftTokens: promptLookupNumTokens,
                                                                   stopping: stopping, traceTopK: traceTopK, onToken: onToken))
        }
    }
}

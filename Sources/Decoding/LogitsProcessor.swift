/// What a logits processor may look at when it transforms one row of next-token scores.
public struct ProcessorContext: Sendable {
    /// The prompt followed by the tokens generated so far.
    public var inputIDs: [Int]
    /// How many leading entries of `inputIDs` are the prompt.
    public var promptLength: Int

    public init(inputIDs: [Int], promptLength: Int) {
        self.inputIDs = inputIDs
        self.promptLength = promptLength
    }

    /// Tokens generated so far.
    public var newTokenCount: Int { inputIDs.count - promptLength }
}

/// One step of a processing chain: transforms a row of next-token scores (logits, or
/// log-probabilities for processors that say so) in place. A removed token's score becomes
/// `-Float.infinity`. Processors are pure functions of their parameters, the scores and the
/// context, so a chain is reproducible anywhere.
public protocol LogitsProcessor: Sendable {
    /// A short name used in traces and documentation (e.g. "top_p").
    var name: String { get }
    func process(_ scores: inout [Float], context: ProcessorContext)
}

extension Array where Element == any LogitsProcessor {
    /// Applies every processor in order.
    public func process(_ scores: inout [Float], context: ProcessorContext) {
        for p in self { p.process(&scores, context: context) }
    }
}

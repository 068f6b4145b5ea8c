/// Token suppression, as Hugging Face's `SuppressTokensLogitsProcessor`: every listed id's score
/// becomes `-inf` at every step. Ids outside the score row are ignored. No ranking, no ties.
public struct SuppressTokens: LogitsProcessor {
    public var name: String { "suppress_tokens" }
    public let ids: [Int]

    public init(_ ids: [Int]) { self.ids = Array(Set(ids)).sorted() }

    public func process(_ scores: inout [Float], context: ProcessorContext) {
        for id in ids where id >= 0 && id < scores.count { scores[id] = -.infinity }
    }
}

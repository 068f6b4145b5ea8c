/// Per-token additive bias: Hugging Face's `SequenceBiasLogitsProcessor` restricted to
/// single-token sequences (`sequence_bias=[[[id], bias], …]`), OpenAI's `logit_bias` and
/// llama.cpp's `llama_sampler_logit_bias`: `s[id] = s[id] + Float(bias)` (one binary32 add).
/// Each id appears once (a dictionary); ids are applied in ascending order, which does not
/// matter since each touches its own score. Ids outside the score row are ignored. A bias of
/// `-inf` bans the token. No ranking, no ties.
public struct LogitBias: LogitsProcessor {
    public var name: String { "logit_bias" }
    public let bias: [(id: Int, bias: Float)]

    public init(_ bias: [Int: Double]) {
        self.bias = bias.keys.sorted().map { ($0, Float(bias[$0]!)) }
    }

    public func process(_ scores: inout [Float], context: ProcessorContext) {
        for (id, b) in bias where id >= 0 && id < scores.count { scores[id] = scores[id] + b }
    }
}

import Tensors

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

/// What the sampling loop lends to the processors that draw random numbers or learn across steps
/// (XTC, Mirostat): the loop's portable generator (D5) and Mirostat's running target `μ`. The
/// loop creates one per generation (so `μ` resets with every generation) and passes it to every
/// step; see DOCS.md section 6.2, "Portable sampling", for the order in which draws are consumed.
public struct SamplingLoopState: Sendable {
    /// The one generator of the generation: XTC's coin and the final draw come from it, in chain
    /// order, so one seed reproduces every token.
    public var generator: Xoshiro256StarStar
    /// Mirostat's `μ` (nil until Mirostat's first step sets it to `2τ`).
    public var mirostatMu: Float?

    public init(seed: UInt64) {
        self.generator = Xoshiro256StarStar(seed: seed)
        self.mirostatMu = nil
    }

    /// The next uniform in [0, 1) (`Xoshiro256StarStar.nextUniformDouble`).
    public mutating func nextUniform() -> Double { generator.nextUniformDouble() }
}

/// A processor that needs the sampling loop: it consumes uniform draws or keeps state between
/// steps. Its plain `process(_:context:)` (without a loop) leaves the scores unchanged;
/// `ProcessorChain.make` builds these processors only for callers that pass `loopState: true`
/// and then run the chain with `process(_:context:state:)`.
public protocol LoopStateProcessor: LogitsProcessor {
    func process(_ scores: inout [Float], context: ProcessorContext, state: inout SamplingLoopState)
    /// Called once per step after the final draw chose `token`, whose probability in the
    /// distribution the draw used (softmax of the processed scores) is `probability`.
    func accept(token: Int, probability: Float, state: inout SamplingLoopState)
}

extension LoopStateProcessor {
    public func process(_ scores: inout [Float], context: ProcessorContext) {}
    public func accept(token: Int, probability: Float, state: inout SamplingLoopState) {}
}

extension Array where Element == any LogitsProcessor {
    /// Applies every processor in order, lending `state` to the loop-state processors (which
    /// consume draws from it in chain order).
    public func process(_ scores: inout [Float], context: ProcessorContext, state: inout SamplingLoopState) {
        for p in self {
            if let l = p as? any LoopStateProcessor { l.process(&scores, context: context, state: &state) } else { p.process(&scores, context: context) }
        }
    }

    /// Tells the loop-state processors which token the final draw chose (Mirostat updates `μ`).
    public func accept(token: Int, probability: Float, state: inout SamplingLoopState) {
        for p in self { (p as? any LoopStateProcessor)?.accept(token: token, probability: probability, state: &state) }
    }
}

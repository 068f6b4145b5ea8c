import Tensors
import Transformer

/// Something that proposes draft tokens for the target to verify.
public protocol Drafter {
    /// Proposes up to `maxTokens` tokens (as a tree; a chain for most methods) to follow
    /// `sequence`, which is the prompt plus every emitted token; its last token is the pending
    /// token the target has chosen but not yet processed.
    mutating func draft(sequence: [Int], maxTokens: Int) throws -> DraftTree
    /// Forward passes this drafter has made (0 for model-free drafters).
    var forwardPasses: Int { get }
    /// Called after each verification with the sequence the draft was made for, the draft, and
    /// the verification result (all verified rows' logits included). Default: nothing.
    mutating func observe(sequence: [Int], draft: DraftTree, result: VerificationResult)
}

extension Drafter {
    public mutating func observe(sequence: [Int], draft: DraftTree, result: VerificationResult) {}
}

/// Lossless greedy speculative decoding around any `Drafter`: draft, verify in one target pass
/// (`TreeVerification.verifyGreedy`), emit the accepted tokens and the target's next token,
/// repeat. The output is token-identical to `GreedyDecoding` for every drafter.
public enum SpeculativeDecoding {
    public static func generate<D: Drafter>(model: any CausalLanguageModel, prompt: [Int], drafter: inout D, maxDraftTokens: Int,
                                            stopping: StoppingCriteria, traceTopK: Int = 5, pool: ParallelFor = .shared,
                                            onToken: ((Int) -> Void)? = nil) throws -> Generation {
        let limit = model.shape.contextLength
        try DecodingStart.checkPrompt(prompt, contextLength: limit)
        var stats = Generation.Statistics()
        let (cache, prefill) = try DecodingStart.prefill(model, prompt: prompt, reserve: stopping.maxNewTokens + maxDraftTokens + 2,
                                                         pool: pool, stats: &stats)
        var recorder = GenerationRecorder(prompt: prompt, stopping: stopping, statistics: stats, onToken: onToken)
        let first = prefill.logits.withUnsafeBufferPointer { GreedyDecoding.select(logits: $0.baseAddress!, count: $0.count, topK: traceTopK) }

        if recorder.hasRoom, recorder.emit(first) {
            while true {
                // The cache must hold the pending token plus every drafted node.
                let room = limit - cache.length - 1
                if room < 0 { recorder.stop(.contextLimit); break }
                let sequence = prompt + recorder.output
                var draft = try drafter.draft(sequence: sequence, maxTokens: min(maxDraftTokens, room))
                if draft.count > room { draft = DraftTree(tokens: Array(draft.tokens.prefix(room)), parents: Array(draft.parents.prefix(room))) }
                let result = try TreeVerification.verifyGreedy(model: model, cache: cache, pendingToken: recorder.output.last!, draft: draft,
                                                               traceTopK: traceTopK, pool: pool)
                drafter.observe(sequence: sequence, draft: draft, result: result)
                recorder.statistics.forwardPasses += 1
                recorder.statistics.verificationSteps += 1
                recorder.statistics.acceptedDraftTokens += result.acceptedTokens.count
                recorder.statistics.tokensFromVerification += result.steps.count
                var going = true
                for (i, var step) in result.steps.enumerated() {
                    if i == 0 {
                        step.drafted = draft.tokens
                        step.accepted = result.acceptedTokens.count
                    }
                    if !recorder.emit(step) { going = false; break }
                }
                if !going { break }
            }
        }
        recorder.statistics.draftForwardPasses = drafter.forwardPasses
        return recorder.finish()
    }
}

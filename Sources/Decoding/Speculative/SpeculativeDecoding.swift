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
///
/// Papers: Leviathan, Kalman, Matias, "Fast Inference from Transformers via Speculative
/// Decoding", ICML 2023, arXiv:2211.17192, Algorithm 1 (`SpeculativeDecodingStep`) with argmax
/// cast as a one-hot distribution (Section 2.2, "standardized sampling"); equally Chen et al.,
/// "Accelerating Large Language Model Decoding with Speculative Sampling", 2023,
/// arXiv:2302.01318, Algorithm 2 with one-hot distributions. With `p`, `q` one-hot, the
/// acceptance test `r < p(x)/q(x)` becomes "the drafted token is the target's argmax" and the
/// residual `norm(max(0, p − q))` becomes the target's argmax, which is emitted after the
/// accepted prefix (at most `γ + 1` tokens per step, `γ` = drafted tokens). Deviations: the draft
/// may be a tree (verified as in SpecInfer, see `TreeVerification`); its size is at most
/// `maxDraftTokens`, cut to the free context, and tokens past `maxNewTokens` or an
/// end-of-sequence id are not emitted (no "heuristic" schedule for the draft size).
public enum SpeculativeDecoding {
    public static func generate<D: Drafter>(model: LlamaModel, prompt: [Int], drafter: inout D, maxDraftTokens: Int,
                                            stopping: StoppingCriteria, traceTopK: Int = 5, pool: ParallelFor = .shared,
                                            onToken: ((Int) -> Void)? = nil) throws -> Generation {
        let limit = model.configuration.contextLength
        try DecodingStart.checkPrompt(prompt, contextLength: limit)
        var stats = Generation.Statistics()
        var output: [Int] = []
        var trace: [TraceStep] = []
        var stop = StopReason.maxNewTokens

        let (cache, prefill) = try DecodingStart.prefill(model, prompt: prompt, reserve: stopping.maxNewTokens + maxDraftTokens + 2,
                                                         pool: pool, stats: &stats)
        let start = monotonicSeconds()
        let first = prefill.logits.withUnsafeBufferPointer { GreedyDecoding.select(logits: $0.baseAddress!, count: $0.count, topK: traceTopK) }

        /// Appends a token; returns false when generation must stop.
        func emit(_ step: TraceStep) -> Bool {
            output.append(step.token)
            trace.append(step)
            onToken?(step.token)
            if let reason = stopping.stopReason(after: output) { stop = reason; return false }
            return true
        }

        if stopping.maxNewTokens > 0, emit(first) {
            while true {
                // The cache must hold the pending token plus every drafted node.
                let room = limit - cache.length - 1
                if room < 0 { stop = .contextLimit; break }
                let sequence = prompt + output
                var draft = try drafter.draft(sequence: sequence, maxTokens: min(maxDraftTokens, room))
                if draft.count > room { draft = DraftTree(tokens: Array(draft.tokens.prefix(room)), parents: Array(draft.parents.prefix(room))) }
                let result = try TreeVerification.verifyGreedy(model: model, cache: cache, pendingToken: output.last!, draft: draft,
                                                               traceTopK: traceTopK, pool: pool)
                drafter.observe(sequence: sequence, draft: draft, result: result)
                stats.forwardPasses += 1
                stats.verificationSteps += 1
                stats.acceptedDraftTokens += result.acceptedTokens.count
                stats.tokensFromVerification += result.steps.count
                var going = true
                for (i, var step) in result.steps.enumerated() {
                    if i == 0 {
                        step.drafted = draft.tokens
                        step.accepted = result.acceptedTokens.count
                    }
                    if !emit(step) { going = false; break }
                }
                if !going { break }
            }
        }
        stats.draftForwardPasses = drafter.forwardPasses
        stats.decodeSeconds = monotonicSeconds() - start
        return Generation(promptIDs: prompt, outputIDs: output, trace: trace, stopReason: stop, statistics: stats)
    }
}

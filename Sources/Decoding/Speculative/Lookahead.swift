import Formats
import Tensors
import Transformer

/// Lookahead decoding (Fu, Bailis, Stoica, Zhang, "Break the Sequential Dependency of LLM
/// Inference Using Lookahead Decoding", ICML 2024, arXiv:2402.02057, Section 3: lookahead branch
/// 3.1, verification branch 3.2, both in one pass under the Figure 2(b) mask; reference code
/// `hao-ai-lab/LookaheadDecoding` at eed010d, `lade/decoding.py`
/// `jacobi_greedy_search_multilevel`): greedy decoding that, in the same forward pass as each
/// step, runs Jacobi iteration on a window of `W` future positions over `N − 1` levels
/// (lookahead branch), harvests the `N`-grams read off the window's trajectories into a pool
/// keyed by their first token, and verifies up to `G` pooled n-grams that start with the pending
/// token (verification branch). Lossless: the output equals `GreedyDecoding`'s bit for bit (D3).
///
/// **State.** `level0` (`W − 1` tokens in steady state) and upper levels `1 ... N − 2` (`W` tokens
/// each); a `LookaheadNGramPool` of capacity `G` per key.
///
/// **Initialisation (pinned).** Level 0 starts with `W + N − 3` tokens: `initialWindow` if given,
/// else the prompt cycled from its first token (`prompt[j % prompt.count]`, the reference's own
/// `order_copy_from` — its default `random.choice` is unseeded). Greedy output does not depend on
/// it; the pool contents and speed do. With `poolFromPrompt` every `N`-gram of the prompt is
/// inserted first, left to right (lade `POOL_FROM_PROMPT`).
///
/// **Prefill (step 1).** `prompt + level0` in one causal pass; the first token is the argmax at
/// the last prompt token; the argmaxes at the level-0 tokens become level 1 (`N ≥ 3`: level 0
/// loses its first token) or the new level 0 (`N = 2`). Only the prompt stays in the KV cache.
///
/// **Warm-up (`N ≥ 4`, steps 2 ... N − 2).** With `f` upper levels filled: one pass over
/// `[c, level0, level1 ... level_f]` (`LookaheadLayout`), no guesses; every level drops its first
/// token and the argmaxes at level `f` minus their first become level `f + 1`. One token per step.
///
/// **Steady state (each step, one forward pass, `LookaheadLayout`).**
/// 1. Guesses: the pool's continuations of `c`, oldest first (none when `G = 0`).
/// 2. Forward `[c, level0, levels 1 ... N − 2, guesses]`. `first` = argmax at `c`; `new` =
///    argmaxes at the last level (at `[c, level0]` when `N = 2`), `W` tokens.
/// 3. Verification, guesses in pool order: `correct = [first] + argmax at each guess token`;
///    `k` = index of the first `j` with `guess[j] ≠ correct[j]`; a guess that matches in all
///    `N − 1` tokens gets `k = N − 1` (its tokens plus the model's token after them, `N` tokens),
///    or `k = N − 2` with `emitsBonusAfterFullMatch == false` (lade eed010d's quirk). The first
///    guess with the strictly largest `k` wins; emitted: `correct[0 ... k]`.
/// 4. Pool update, `i = 0 ..< W`: key `c` (i = 0) or `level0[i − 1]`, continuation
///    `(level1[i], ..., level_{N−2}[i], new[i])`.
/// 5. Window shift by one (whatever was accepted): `level0 = level1[1...]`,
///    `level_l = level_{l+1}`, `level_{N−2} = new` (`N = 2`: `level0 = new[1...]`).
/// 6. KV: keep `c` and the winning guess's first `k` tokens; drop the window and other guesses.
/// 7. Emit `correct[0 ... k]`, stopping at the first end-of-sequence id (included) or at
///    `maxNewTokens`. The next pending token is `correct[k]`.
///
/// **Context limit.** A step whose batch does not fit in the cache (`cache.length + batch >
/// contextLength`) runs as a plain one-token greedy step and leaves the window and pool as they
/// were; generation stops with `.contextLimit` exactly where `GreedyDecoding` does.
///
/// **Statistics.** Every pass after the prefill (warm-up, steady or plain) counts as a
/// verification step; `tokensFromVerification` adds `k + 1` per step and `acceptedDraftTokens`
/// adds `k`, so MAT is tokens per decoding pass (1 for plain greedy). The first trace step of
/// each pass carries `drafted` = the guesses concatenated (each `N − 1` tokens, pool order) and
/// `accepted = k`.
public enum LookaheadDecoding {
    /// The reference README's recommended setting (`LEVEL = 5, WINDOW_SIZE = 7,
    /// GUESS_SET_SIZE = 7`). On a 2-core CPU smaller settings are faster (DOCS.md section 13.4).
    public static let defaultWindowSize = 7
    public static let defaultNGramSize = 5
    public static let defaultGuessSetSize = 7

    /// Generates up to `stopping.maxNewTokens` greedy tokens after `prompt` (see the type's
    /// documentation for the exact procedure).
    ///
    /// - Parameters:
    ///   - windowSize: `W ≥ 1`, Jacobi window width.
    ///   - ngramSize: `N ≥ 2`, n-gram size (`LEVEL`); the window has `N − 1` levels and
    ///     candidates have `N − 1` tokens.
    ///   - guessSetSize: `G ≥ 0`, most n-grams kept per key, hence most candidates per step.
    ///   - poolFromPrompt: seed the pool with the prompt's n-grams and add each emitted n-gram.
    ///   - initialWindow: level 0's first contents (`W + N − 3` token ids); default: the prompt cycled.
    ///   - emitsBonusAfterFullMatch: see step 3 (outputs are identical either way).
    /// - Throws: `ModelError.invalidInput` for an empty prompt or invalid sizes,
    ///   `ModelError.contextOverflow` when the prompt fills the context.
    public static func generate(model: any CausalLanguageModel, prompt: [Int],
                                windowSize W: Int = defaultWindowSize, ngramSize N: Int = defaultNGramSize,
                                guessSetSize G: Int = defaultGuessSetSize,
                                poolFromPrompt: Bool = false, initialWindow: [Int]? = nil, emitsBonusAfterFullMatch: Bool = true,
                                stopping: StoppingCriteria, traceTopK: Int = 5, pool: ParallelFor = .shared,
                                onToken: ((Int) -> Void)? = nil) throws -> Generation {
        let limit = model.shape.contextLength
        try DecodingStart.checkPrompt(prompt, contextLength: limit)
        guard W >= 1, N >= 2, G >= 0 else {
            throw ModelError.invalidInput("lookahead needs window size W ≥ 1, n-gram size N ≥ 2 and guess set size G ≥ 0 (got W = \(W), N = \(N), G = \(G))")
        }
        let vocab = model.shape.vocabularySize
        var level0 = initialWindow ?? (0..<(W + N - 3)).map { prompt[$0 % prompt.count] }
        guard level0.count == W + N - 3 else {
            throw ModelError.invalidInput("the initial window must hold W + N − 3 = \(W + N - 3) tokens, got \(level0.count)")
        }
        for t in level0 where t < 0 || t >= vocab { throw ModelError.tokenOutOfRange(token: t, vocabularySize: vocab) }

        let largestStep = W + (N - 2) * W + G * (N - 1)
        let cache = KVCache(shape: model.shape,
                            initialCapacity: min(limit, prompt.count + stopping.maxNewTokens + max(largestStep, W + N - 3) + 1))
        var ngrams = LookaheadNGramPool(capacity: G, continuationLength: N - 1)
        if poolFromPrompt { ngrams.insertNGrams(of: prompt) }
        var upper: [[Int]] = []       // levels 1 ... (filled during warm-up)
        var windowActive = false      // false: the window never fitted in the prefill; plain greedy
        var stats = Generation.Statistics()

        func argmax(_ logits: [Float], row: Int) -> Int {
            logits.withUnsafeBufferPointer { Kernels.argmax($0.baseAddress! + row * vocab, count: vocab) }
        }
        func select(_ logits: [Float], row: Int) -> TraceStep {
            logits.withUnsafeBufferPointer { GreedyDecoding.select(logits: $0.baseAddress! + row * vocab, count: vocab, topK: traceTopK) }
        }
        // Step 1: prefill, with level 0 riding along causally when it fits.
        let start = monotonicSeconds()
        let first: TraceStep
        if !level0.isEmpty && prompt.count + level0.count <= limit {
            let rows = [prompt.count - 1] + Array(prompt.count..<(prompt.count + level0.count))
            let result = try model.forward(tokens: prompt + level0, mask: .causal, cache: cache, logitRows: .rows(rows), pool: pool)
            try NonFiniteCheck.requireFinite(Array(result.logits.prefix(vocab)), model: model, tokens: prompt, pool: pool)
            first = select(result.logits, row: 0)
            let new = (1..<rows.count).map { argmax(result.logits, row: $0) }
            cache.rollback(to: prompt.count)
            if N == 2 { level0 = new } else { level0.removeFirst(); upper = [new] }
            windowActive = true
        } else {
            let result = try model.forward(tokens: prompt, cache: cache, logitRows: .last, pool: pool)
            try NonFiniteCheck.requireFinite(result.logits, model: model, tokens: prompt, pool: pool)
            first = select(result.logits, row: 0)
            windowActive = level0.isEmpty  // W = 1, N = 2: nothing to warm
        }
        stats.prefillSeconds = monotonicSeconds() - start
        stats.forwardPasses = 1
        var recorder = GenerationRecorder(prompt: prompt, stopping: stopping, statistics: stats, onToken: onToken)
        /// Emits a token; with `poolFromPrompt`, its n-gram joins the pool. False when generation must stop.
        func emit(_ step: TraceStep) -> Bool {
            guard recorder.emit(step) else { return false }
            if poolFromPrompt {
                let sequence = prompt + recorder.output
                if sequence.count >= N { ngrams.insert(key: sequence[sequence.count - N], continuation: Array(sequence.suffix(N - 1))) }
            }
            return true
        }

        if recorder.hasRoom, emit(first) {
            while true {
                if cache.length >= limit { recorder.stop(.contextLimit); break }
                let base = cache.length
                let c = recorder.output.last!
                let warmingUp = upper.count < N - 2
                var guesses = windowActive && !warmingUp ? ngrams.continuations(of: c) : []
                var layout = LookaheadLayout(pending: c, position: base, level0: level0, upperLevels: upper, guesses: guesses)
                var usesWindow = windowActive
                if !windowActive || base + layout.tokens.count > limit || layout.positions.max()! >= limit {
                    layout = LookaheadLayout(pending: c, position: base, level0: [], upperLevels: [], guesses: [])
                    usesWindow = false
                    guesses = []
                }
                // Rows needing logits: c, the last level, every guess token (each once, in batch order).
                var wanted = [Bool](repeating: false, count: layout.tokens.count)
                wanted[0] = true
                if usesWindow { for r in layout.lastLevelRows { wanted[r] = true } }
                for rows in layout.guessRows { for r in rows { wanted[r] = true } }
                let logitRows = wanted.indices.filter { wanted[$0] }
                var rowOf = [Int](repeating: -1, count: layout.tokens.count)
                for (i, r) in logitRows.enumerated() { rowOf[r] = i }

                let result = try model.forward(tokens: layout.tokens, positions: layout.positions, mask: layout.attentionMask(cacheLength: base),
                                               cache: cache, logitRows: .rows(logitRows), pool: pool)
                recorder.statistics.forwardPasses += 1
                let firstStep = select(result.logits, row: rowOf[0])

                // Verification: the first guess with the strictly longest match wins.
                var bestK = 0, bestGuess = -1
                for (e, guess) in guesses.enumerated() {
                    let correct = [firstStep.token] + layout.guessRows[e].map { argmax(result.logits, row: rowOf[$0]) }
                    var k = emitsBonusAfterFullMatch ? N - 1 : N - 2
                    for j in 0..<(N - 1) where guess[j] != correct[j] { k = j; break }
                    if k > bestK { bestK = k; bestGuess = e }
                }

                if usesWindow {
                    let new = layout.lastLevelRows.map { argmax(result.logits, row: rowOf[$0]) }
                    if warmingUp {
                        level0.removeFirst()
                        for l in upper.indices { upper[l].removeFirst() }
                        upper.append(Array(new.dropFirst()))
                    } else {
                        for i in 0..<W {
                            let key = i == 0 ? c : level0[i - 1]
                            ngrams.insert(key: key, continuation: upper.map { $0[i] } + [new[i]])
                        }
                        let next = upper + [new]
                        level0 = Array(next[0].dropFirst())
                        upper = Array(next.dropFirst())
                    }
                }

                // Commit c and the accepted guess tokens; drop the window and the other guesses.
                let acceptedRows = bestGuess >= 0 ? Array(layout.guessRows[bestGuess].prefix(bestK)) : []
                cache.keep(slots: [base] + acceptedRows.map { base + $0 }, after: base)
                var steps = [firstStep] + acceptedRows.map { select(result.logits, row: rowOf[$0]) }
                steps[0].drafted = guesses.flatMap { $0 }
                steps[0].accepted = bestK
                recorder.statistics.verificationSteps += 1
                recorder.statistics.acceptedDraftTokens += bestK
                recorder.statistics.tokensFromVerification += steps.count
                var going = true
                for step in steps where going { going = emit(step) }
                if !going { break }
            }
        }
        return recorder.finish()
    }
}

// MARK: - Strategy

extension LookaheadDecoding {
    /// `--strategy lookahead`: Jacobi-window n-gram guessing verified in the same pass.
    public struct Strategy: DecodingStrategy {
        public static let name = "lookahead"
        public static let summary = "Lookahead decoding: a Jacobi window and n-gram pool in one pass (token-identical to greedy)"
        static let windowSize = StrategyOption("window-size", .integer(1...64), default: String(defaultWindowSize), help: "W, the lookahead window")
        static let ngramSize = StrategyOption("ngram-size", .integer(2...16), default: String(defaultNGramSize), help: "N, the n-gram size")
        static let guessSetSize = StrategyOption("guess-set-size", .integer(0...64), default: String(defaultGuessSetSize), help: "G, guesses verified per step")
        public static let options = [windowSize, ngramSize, guessSetSize]
        public static let processorUse = ProcessorSettings.Use.none

        public var windowSize: Int
        public var ngramSize: Int
        public var guessSetSize: Int

        public init(windowSize: Int = defaultWindowSize, ngramSize: Int = defaultNGramSize, guessSetSize: Int = defaultGuessSetSize) {
            self.windowSize = windowSize
            self.ngramSize = ngramSize
            self.guessSetSize = guessSetSize
        }

        public init(arguments a: StrategyArguments, processors: ProcessorSettings, context: StrategyContext) throws {
            self.init(windowSize: try a.int(Self.windowSize)!, ngramSize: try a.int(Self.ngramSize)!, guessSetSize: try a.int(Self.guessSetSize)!)
        }

        public var parameters: [(String, JSONValue)] {
            [("window_size", .int(windowSize)), ("ngram_size", .int(ngramSize)), ("guess_set_size", .int(guessSetSize))]
        }

        public func generate(model: any CausalLanguageModel, prompt: [Int], stopping: StoppingCriteria, traceTopK: Int,
                             onToken: ((Int) -> Void)?) throws -> StrategyOutput {
            StrategyOutput(try LookaheadDecoding.generate(model: model, prompt: prompt, windowSize: windowSize, ngramSize: ngramSize,
                                                          guessSetSize: guessSetSize, stopping: stopping, traceTopK: traceTopK, onToken: onToken))
        }
    }
}

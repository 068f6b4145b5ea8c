import Formats
import Tensors
import Transformer

// Pieces shared by `BeamSearch` and `GroupBeamSearch`: the returned hypothesis, the early-stopping
// modes, the log-softmax and length-penalty arithmetic, Hugging Face's legacy n-best list, and the
// adapter that computes the next-token logits of many beams over one shared KV cache.

/// A finished beam-search hypothesis.
public struct BeamHypothesis: Sendable, Equatable {
    /// Generated tokens (the prompt excluded), ending with the end-of-sequence token when the
    /// hypothesis finished with one.
    public var tokens: [Int]
    /// `sumLogProbability / length ** lengthPenalty` (Hugging Face's `sequences_scores`), where
    /// `length` counts the generated tokens including the end-of-sequence token.
    public var score: Float
    /// Sum of the processed log-probabilities of `tokens`, accumulated left to right in Float32.
    public var sumLogProbability: Float
    /// Per generated token: the raw model logit of the token (`logit`), `exp` of its processed
    /// log-probability (`probability`), and the top raw logits of the row it was chosen from.
    public var trace: [TraceStep]

    public init(tokens: [Int], score: Float, sumLogProbability: Float, trace: [TraceStep]) {
        self.tokens = tokens
        self.score = score
        self.sumLogProbability = sumLogProbability
        self.trace = trace
    }
}

extension Generation {
    /// A beam hypothesis as a `Generation`: its tokens, its trace, and `.endOfSequence` when its
    /// last token is an end-of-sequence id (otherwise `.maxNewTokens`).
    public init(prompt: [Int], hypothesis: BeamHypothesis, stopping: StoppingCriteria, statistics: Statistics = Statistics()) {
        let endedWithEOS = hypothesis.tokens.last.map { stopping.endOfSequenceIDs.contains($0) } ?? false
        self.init(promptIDs: prompt, outputIDs: hypothesis.tokens, trace: hypothesis.trace,
                  stopReason: endedWithEOS ? .endOfSequence : .maxNewTokens, statistics: statistics)
    }
}

/// When beam search stops (Hugging Face `early_stopping`).
public enum BeamEarlyStopping: String, Sendable, CaseIterable {
    /// HF `True`: stop as soon as `numBeams` hypotheses are finished.
    case enabled = "true"
    /// HF `False` (the default): stop when the best running beam, scored with its *current*
    /// length, cannot beat the worst finished hypothesis (a heuristic when `lengthPenalty > 0`).
    case heuristic = "false"
    /// HF `"never"`: the canonical bound — with `lengthPenalty > 0` the best running beam is
    /// scored with the maximum length, so search continues while it could still win.
    case never = "never"
}

/// Errors of the beam-search family.
public enum BeamSearchError: Error, Equatable, CustomStringConvertible {
    case invalidParameter(String)

    public var description: String {
        switch self {
        case .invalidParameter(let message): return "beam search: \(message)"
        }
    }
}

enum BeamMath {
    /// Hugging Face's "minus infinity" for beams that must not be chosen: `-1e9` (exact in Float32).
    static let masked: Float = -1.0e9

    /// Log-softmax of one row: the project's `ProcessorMath.logSoftmax` —
    /// `m = max x`, `z = Σ Double(DeterministicMath.exp(x[i] - m))` left to right in binary64,
    /// `y[i] = (x[i] - m) - Float(DeterministicMath.log(z))`. PyTorch computes the same formula
    /// (`x - max - log(sum)`) with a vectorized Float32 sum; the binary64 sum agrees with it to
    /// ~1e-7. `-inf` stays `-inf`; an all-`-inf` row is unchanged.
    static func logSoftmax(_ x: [Float]) -> [Float] {
        ProcessorMath.logSoftmax(x)
    }

    /// `length ** lengthPenalty` in binary64, as Python evaluates `int ** float`
    /// (exact for penalties 0 and 1; otherwise `DeterministicMath.pow`).
    static func lengthDenominator(_ length: Int, _ lengthPenalty: Double) -> Double {
        if lengthPenalty == 1 { return Double(length) }
        return DeterministicMath.pow(Double(length), lengthPenalty)
    }

    /// A Float32 score divided by a binary64 denominator, rounded once to Float32 (PyTorch's
    /// `float32_tensor / python_float`).
    static func divide(_ score: Float, _ denominator: Double) -> Float {
        Float(Double(score) / denominator)
    }

    /// Indices of the `k` best entries ordered by (value descending, index ascending) — D4.
    /// NaN entries are never chosen. PyTorch's CPU `topk` leaves the order of equal values
    /// unspecified; Touchstone pins the lower index first.
    static func topK(_ values: [Float], _ k: Int) -> [(index: Int, value: Float)] {
        values.withUnsafeBufferPointer { Kernels.topK($0.baseAddress!, count: $0.count, k: k) }
    }

    /// One trace step for `token` chosen from a row with raw logits `raw` and processed
    /// log-probabilities `processed`.
    static func traceStep(token: Int, raw: [Float], processed: [Float], top: [TraceStep.TopEntry]) -> TraceStep {
        TraceStep(token: token, logit: raw[token], probability: DeterministicMath.exp(processed[token]), topLogits: top)
    }

    static func topEntries(_ raw: [Float], _ k: Int) -> [TraceStep.TopEntry] {
        guard k > 0 else { return [] }
        return topK(raw, k).map { TraceStep.TopEntry(id: $0.index, logit: $0.value) }
    }
}

/// Hugging Face's `BeamHypotheses` (transformers/generation/beam_search.py, used by group beam
/// search in 4.52): an n-best list of finished hypotheses with binary64 scores. Its tie rules are
/// Python's: on overflow the entry with the lowest (score, insertion position) is dropped.
struct LegacyHypothesisList {
    struct Entry {
        var score: Double
        var tokens: [Int]
        var sumLogProbability: Float
        var trace: [TraceStep]
    }

    let capacity: Int
    let lengthPenalty: Double
    let earlyStopping: BeamEarlyStopping
    let maxNewTokens: Int
    private(set) var entries: [Entry] = []
    private(set) var worstScore: Double = 1e9

    init(capacity: Int, lengthPenalty: Double, earlyStopping: BeamEarlyStopping, maxNewTokens: Int) {
        self.capacity = capacity
        self.lengthPenalty = lengthPenalty
        self.earlyStopping = earlyStopping
        self.maxNewTokens = maxNewTokens
    }

    /// `score = Double(sum) / generatedLength ** lengthPenalty`; kept when the list is not full or
    /// the score beats the worst kept one.
    mutating func add(tokens: [Int], sumLogProbability sum: Float, generatedLength: Int, trace: [TraceStep]) {
        let score = Double(sum) / BeamMath.lengthDenominator(generatedLength, lengthPenalty)
        guard entries.count < capacity || score > worstScore else { return }
        entries.append(Entry(score: score, tokens: tokens, sumLogProbability: sum, trace: trace))
        if entries.count > capacity {
            let ascending = entries.indices.sorted { (entries[$0].score, $0) < (entries[$1].score, $1) }
            let secondWorst = entries[ascending[1]].score
            entries.remove(at: ascending[0])
            worstScore = secondWorst
        } else {
            worstScore = min(score, worstScore)
        }
    }

    /// Whether no running beam can enter the list any more (HF `BeamHypotheses.is_done`).
    /// `bestSum` is the best candidate's accumulated log-probability this step and
    /// `generatedLength` the generated length it was computed at.
    func isDone(bestSum: Float, generatedLength: Int) -> Bool {
        if entries.count < capacity { return false }
        let length: Int
        switch earlyStopping {
        case .enabled: return true
        case .heuristic: length = generatedLength
        case .never: length = lengthPenalty > 0 ? maxNewTokens : generatedLength
        }
        return worstScore >= Double(bestSum) / BeamMath.lengthDenominator(length, lengthPenalty)
    }
}

/// What one beam search over a model did: its hypotheses (best first), the forward passes it made
/// and the seconds of the first one, the prompt's prefill.
struct BeamRun {
    var hypotheses: [BeamHypothesis]
    var forwardPasses: Int
    var prefillSeconds: Double
}

/// Next-token logits for many beams of one prompt, over one shared KV cache.
///
/// The cache holds the prompt once, then every generated token of every beam that was ever fed,
/// as a prefix tree: a beam is a path of slots. Each call feeds, in one batch, the tokens of the
/// requested sequences that are not yet in the tree, with an `.explicit` mask in which a token sees
/// the prompt, its ancestors and itself, at position `promptLength + depth`. The slots of a path
/// are increasing, so attention visits the same keys in the same order as a single-sequence cache:
/// by batch invariance (D3) every row is bit-identical to decoding that beam alone. When the
/// cache would exceed the context length it is emptied and the live sequences are fed again.
final class SharedPrefixLogits {
    let model: any CausalLanguageModel
    let prompt: [Int]
    let pool: ParallelFor
    private(set) var forwardPasses = 0
    /// Seconds spent in the first forward pass over the prompt (the prefill). A pass over the
    /// prompt again after the cache was emptied (context full) is decoding work, not counted here.
    private(set) var prefillSeconds = 0.0
    private var cache: KVCache
    private var promptLogits: [Float]?
    /// Tree nodes: node 0 is the prompt; `slot[n]`, `depth[n]` (generated tokens up to n).
    private var slot: [Int] = [-1]
    private var parent: [Int] = [-1]
    private var depth: [Int] = [0]
    private var children: [Int: [Int: Int]] = [:]  // parent node → token → node (lookups only)

    init(model: any CausalLanguageModel, prompt: [Int], pool: ParallelFor) {
        self.model = model
        self.prompt = prompt
        self.pool = pool
        cache = KVCache(shape: model.shape, initialCapacity: min(model.shape.contextLength, prompt.count + 64))
    }

    private func resetTree() {
        cache.reset()
        promptLogits = nil
        slot = [-1]; parent = [-1]; depth = [0]; children = [:]
    }

    /// Logits rows `[sequences.count][V]` for the generated continuations `sequences` of the prompt.
    func logits(_ sequences: [[Int]]) throws -> [[Float]] {
        let needed = sequences.reduce(0) { $0 + $1.count }
        if cache.length + needed > cache.limit { resetTree() }
        if promptLogits == nil {
            let start = monotonicSeconds()
            let r = try model.forward(tokens: prompt, cache: cache, logitRows: .last, pool: pool)
            if forwardPasses == 0 { prefillSeconds = monotonicSeconds() - start }
            forwardPasses += 1
            try NonFiniteCheck.requireFinite(r.logits, model: model, tokens: prompt, pool: pool)
            promptLogits = r.logits
        }
        // New batch nodes, each with the sequence position it ends (for logits).
        let base = cache.length
        var batchTokens: [Int] = []
        var batchNodes: [Int] = []          // tree node of each batch token
        var endNode = [Int](repeating: 0, count: sequences.count)
        var needsRow = [Bool](repeating: false, count: sequences.count)
        for (i, sequence) in sequences.enumerated() {
            var node = 0
            for (j, token) in sequence.enumerated() {
                let isLast = j == sequence.count - 1
                if let child = children[node]?[token], !(isLast && slot[child] < base) {
                    node = child
                    continue
                }
                // A new node (or, for a last token already in the cache from an earlier call, a
                // duplicate slot so that its logits are computed again).
                let n = slot.count
                slot.append(base + batchTokens.count)
                parent.append(node)
                depth.append(depth[node] + 1)
                if children[node]?[token] == nil { children[node, default: [:]][token] = n }
                batchTokens.append(token)
                batchNodes.append(n)
                node = n
            }
            endNode[i] = node
            needsRow[i] = node != 0
        }
        var batchRowOfNode: [Int: Int] = [:]
        var result: [ForwardResult]? = nil
        if !batchTokens.isEmpty {
            let total = base + batchTokens.count
            let promptSlots = prompt.count
            var allowed: [[Bool]] = []
            for n in batchNodes {
                var row = [Bool](repeating: false, count: total)
                for s in 0..<promptSlots { row[s] = true }
                var a = n
                while a != 0 { row[slot[a]] = true; a = parent[a] }
                allowed.append(row)
            }
            for (b, n) in batchNodes.enumerated() { batchRowOfNode[n] = b }
            var rows: [Int] = []
            var seen = Set<Int>()
            for i in sequences.indices where needsRow[i] {
                let b = batchRowOfNode[endNode[i]]!
                if seen.insert(b).inserted { rows.append(b) }
            }
            let positions = batchNodes.map { prompt.count + depth[$0] - 1 }
            let r = try model.forward(tokens: batchTokens, positions: positions, mask: .explicit(allowed), cache: cache,
                                      logitRows: .rows(rows), pool: pool)
            forwardPasses += 1
            result = [r]
        }
        let V = model.shape.vocabularySize
        return sequences.indices.map { i in
            if !needsRow[i] { return promptLogits! }
            let r = result![0]
            let b = batchRowOfNode[endNode[i]]!
            let k = r.logitRows.firstIndex(of: b)!
            return Array(r.logits[(k * V)..<((k + 1) * V)])
        }
    }
}

import Foundation
import Tensors
import Transformer

/// VocabTrim: Goel et al. (Qualcomm AI Research), "VocabTrim: Vocabulary Pruning for Efficient
/// Speculative Decoding in LLMs", 2025, arXiv:2506.22694. The drafter's LM head is restricted to
/// the `K` token ids the *target* emits most often on calibration prompts; drafted indices map
/// back to full-vocabulary ids. Verification is untouched, so the method stays lossless (greedy:
/// a token outside `keep` is simply never proposed; sampling: `q(v) = 0` outside `keep`, and the
/// residual `max(0, p − q)` keeps the whole target mass there).
///
/// Storage follows EAGLE-3: `keep` ascending, `d2t[i] = keep[i] − i`, `t2d[v] = v ∈ keep`. The
/// head `W_trim = W_head[keep]` (rows gathered in `keep` order); the drafter still embeds its
/// input tokens with the full embedding matrix, so a tied head is effectively untied.
///
/// Calibration ranking (`frequencyTable`): ids by count descending, then id ascending (D4).
/// This differs from Python's `Counter.most_common` (first-seen order among equal counts) only
/// among tied counts; Touchstone pins the id order because it is reproducible from the counts
/// alone.
public struct VocabTrim: Sendable, Equatable {
    public let vocabularySize: Int
    /// The kept ids, strictly increasing (`K` of them).
    public let keep: [Int]
    /// `t2d[v]`: whether id `v` is kept (`sum(t2d) == K`).
    public let t2d: [Bool]
    /// `draftIndex[v]`: the index of `v` in `keep`, or -1.
    public let draftIndex: [Int]

    /// EAGLE-3 offsets: `keep[i] == i + d2t[i]`.
    public var d2t: [Int] { keep.enumerated().map { $0.element - $0.offset } }
    public var count: Int { keep.count }
    /// Fraction of the head's rows (and of its multiply-adds) removed: `1 − K/V`.
    public var headRowsSaved: Double { 1 - Double(keep.count) / Double(vocabularySize) }

    /// A trim keeping exactly the given ids (any order, duplicates allowed; stored sorted).
    public init(keep ids: [Int], vocabularySize: Int) throws {
        guard vocabularySize > 0 else { throw ModelError.invalidInput("vocabulary size must be positive") }
        var member = [Bool](repeating: false, count: vocabularySize)
        for id in ids {
            guard id >= 0 && id < vocabularySize else { throw ModelError.tokenOutOfRange(token: id, vocabularySize: vocabularySize) }
            member[id] = true
        }
        let sorted = (0..<vocabularySize).filter { member[$0] }
        guard !sorted.isEmpty else { throw ModelError.invalidInput("VocabTrim needs at least one kept token id") }
        var index = [Int](repeating: -1, count: vocabularySize)
        for (i, id) in sorted.enumerated() { index[id] = i }
        self.vocabularySize = vocabularySize
        self.keep = sorted
        self.t2d = member
        self.draftIndex = index
    }

    /// The `count` ids to keep: first `alwaysKeep` (end-of-sequence and chat-template ids, so
    /// the drafter can propose stopping), then `ranking` in order (a `frequencyTable`), then —
    /// if fewer distinct ids were seen — the smallest unused ids in increasing order (as
    /// EAGLE-3's calibration pads). `count` is clamped to `1...vocabularySize`.
    public init(ranking: [Int], count: Int, vocabularySize: Int, alwaysKeep: [Int] = []) throws {
        let k = min(max(count, 1), vocabularySize)
        var chosen = [Bool](repeating: false, count: vocabularySize)
        var ids: [Int] = []
        for id in alwaysKeep + ranking where ids.count < k {
            guard id >= 0 && id < vocabularySize else { throw ModelError.tokenOutOfRange(token: id, vocabularySize: vocabularySize) }
            if !chosen[id] { chosen[id] = true; ids.append(id) }
        }
        var next = 0
        while ids.count < k {
            if !chosen[next] { chosen[next] = true; ids.append(next) }
            next += 1
        }
        try self.init(keep: ids, vocabularySize: vocabularySize)
    }

    /// Token ids ranked by how often they occur in `sequences` (count descending, id ascending
    /// among equal counts); ids that never occur are not listed. Negative ids are ignored.
    /// O(total tokens + distinct ids · log distinct ids); independent of hashing order (D1).
    public static func frequencyTable(fromTokenSequences sequences: [[Int]]) -> [Int] {
        tokenCounts(fromTokenSequences: sequences).map(\.id)
    }

    /// `(id, count)` for every id that occurs, in `frequencyTable` order.
    public static func tokenCounts(fromTokenSequences sequences: [[Int]]) -> [(id: Int, count: Int)] {
        var largest = -1
        for s in sequences { for t in s where t > largest { largest = t } }
        guard largest >= 0 else { return [] }
        var counts = [Int](repeating: 0, count: largest + 1)
        for s in sequences { for t in s where t >= 0 { counts[t] += 1 } }
        var seen: [(id: Int, count: Int)] = []
        for id in 0...largest where counts[id] > 0 { seen.append((id, counts[id])) }
        seen.sort { $0.count != $1.count ? $0.count > $1.count : $0.id < $1.id }
        return seen
    }

    /// Calibration data generated by the target itself (the paper's recommended source): the
    /// greedy continuation (`GreedyDecoding`) of each prompt, generated tokens only.
    public static func targetGeneratedSequences(model: any CausalLanguageModel, prompts: [[Int]], maxNewTokens: Int,
                                                endOfSequenceIDs: Set<Int> = [], pool: ParallelFor = .shared) throws -> [[Int]] {
        try prompts.map { prompt in
            try GreedyDecoding.generate(model: model, prompt: prompt, stopping: StoppingCriteria(maxNewTokens: maxNewTokens, endOfSequenceIDs: endOfSequenceIDs),
                                        traceTopK: 0, pool: pool).outputIDs
        }
    }

    /// Fraction of the tokens of `sequences` that are kept (0 for no tokens).
    public func coverage(of sequences: [[Int]]) -> Double {
        var total = 0, inside = 0
        for s in sequences {
            for t in s {
                total += 1
                if t >= 0 && t < vocabularySize && t2d[t] { inside += 1 }
            }
        }
        return total > 0 ? Double(inside) / Double(total) : 0
    }
}

/// A draft model whose output head keeps only the rows of a `VocabTrim`: the body (embedding,
/// layers, final norm) is the wrapped model's, the head is `W_trim = W_head[keep]`, `[K, C]`.
///
/// The trimmed head is built by decoding each kept row to its exact Float32 values
/// (`WeightMatrix.decodeRow`) into a Float32 `WeightMatrix`; a Float32 product of decoded values
/// equals the quantized product bit for bit (D1: same elements, same reduction order), so with
/// `K = V` the logits equal the untrimmed model's exactly, and in general trimmed logit `i` equals
/// the full logit of `keep[i]`. (Cost note: Float32 rows are 4 bytes per weight; SmolLM2's Q8_0
/// head is 1.0625, so the trimmed head streams fewer bytes only for `K < 0.27 V`.)
public final class TrimmedHeadModel: SamplingDraftModel, @unchecked Sendable {
    public let model: any CausalLanguageModel
    public let trim: VocabTrim
    /// `[K, C]` Float32, row `i` = head row `keep[i]`.
    public let head: WeightMatrix

    public var shape: ModelShape { model.shape }

    public init(model: any CausalLanguageModel, trim: VocabTrim) throws {
        let c = model.shape
        guard trim.vocabularySize == c.vocabularySize else {
            throw ModelError.invalidInput("the trim was built for a vocabulary of \(trim.vocabularySize), the model has \(c.vocabularySize)")
        }
        let C = c.hiddenSize
        var rows = [Float](repeating: 0, count: trim.count * C)
        rows.withUnsafeMutableBufferPointer { p in
            for (i, id) in trim.keep.enumerated() { model.outputHead.decodeRow(id, into: p.baseAddress! + i * C) }
        }
        self.model = model
        self.trim = trim
        self.head = WeightMatrix(rows: trim.count, columns: C, values: rows)
    }

    /// Bytes the trimmed head streams per token, and the original head's.
    public var headBytesPerToken: (trimmed: Int, original: Int) { (head.packedByteCount, model.outputHead.packedByteCount) }

    /// Trimmed logits `z = W_trim h` (`[K]`) after `tokens`, `h` the final-norm output of the last
    /// token (the model's head is not evaluated).
    public func trimmedLogits(after tokens: [Int], cache: KVCache, pool: ParallelFor = .shared) throws -> [Float] {
        let r = try model.forward(tokens: tokens, cache: cache, logitRows: .none, tapLayers: true, pool: pool)
        let C = shape.hiddenSize, T = tokens.count
        let h = Array(r.finalNormOutput![((T - 1) * C)..<(T * C)])  // [C]
        if model.useNaiveKernels {
            var z = [Float](repeating: 0, count: trim.count)
            h.withUnsafeBufferPointer { hp in z.withUnsafeMutableBufferPointer { head.multiplyNaive(hp.baseAddress!, tokens: 1, into: $0.baseAddress!) } }
            return z
        }
        return head.multiply(h, tokens: 1, pool: pool)
    }

    /// Full-vocabulary logits: `z[i]` at `keep[i]`, `-inf` elsewhere (so `q = 0` outside `keep`).
    public func nextTokenLogits(after tokens: [Int], cache: KVCache, pool: ParallelFor) throws -> [Float] {
        let z = try trimmedLogits(after: tokens, cache: cache, pool: pool)
        var full = [Float](repeating: -.infinity, count: trim.vocabularySize)
        for (i, id) in trim.keep.enumerated() { full[id] = z[i] }
        return full
    }
}

/// Greedy chain drafting with a trimmed head (for `SpeculativeDecoding`): like
/// `DraftModelDrafter`, but each drafted token is `keep[argmax z]` over the trimmed logits (lowest
/// index on ties, which is the lowest id since `keep` is ascending). The mapped id is fed back as
/// the next input. Drafts only kept ids; greedy verification by the full target keeps the output
/// identical to greedy decoding.
public struct VocabTrimDrafter: Drafter {
    public let draft: TrimmedHeadModel
    public var numTokens: Int
    public private(set) var forwardPasses = 0
    let cache: KVCache
    var cached = DraftCachePrefix()
    let pool: ParallelFor

    public init(draft: TrimmedHeadModel, numTokens: Int = 5, pool: ParallelFor = .shared) {
        precondition(numTokens > 0, "the draft needs at least one token")
        self.draft = draft
        self.numTokens = numTokens
        self.cache = KVCache(shape: draft.shape)
        self.pool = pool
    }

    public mutating func draft(sequence: [Int], maxTokens: Int) throws -> DraftTree {
        let want = min(numTokens, maxTokens, draft.shape.contextLength - sequence.count)
        if want <= 0 { return .empty }
        let draft = self.draft, cache = self.cache, pool = self.pool
        let (chain, passes) = try cached.draftChain(after: sequence, count: want, cache: cache) { tokens in
            let z = try draft.trimmedLogits(after: tokens, cache: cache, pool: pool)
            return draft.trim.keep[z.withUnsafeBufferPointer { Kernels.argmax($0.baseAddress!, count: $0.count) }]
        }
        forwardPasses += passes
        return DraftTree(chain: chain)
    }
}

extension VocabTrim {
    /// Reads the ranking of a table written by `touchstone vocab-table`: `{"ranking": [ids…], …}`
    /// with at least one id.
    public static func readRanking(_ path: String) throws -> [Int] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw StrategyError("cannot read the vocab table \(path)")
        }
        guard let doc = try? JSONSerialization.jsonObject(with: data) as? [String: Any], let ranking = doc["ranking"] as? [Int] else {
            throw StrategyError("\(path) is not a vocab table (expected {\"ranking\": [ids…]} from `touchstone vocab-table`)")
        }
        if ranking.isEmpty { throw StrategyError("\(path): the vocab table's ranking is empty — make it with `touchstone vocab-table` over some questions") }
        return ranking
    }
}

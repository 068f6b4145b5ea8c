import Transformer

/// The batch of one Lookahead decoding step (lade `jforward_multilevel` and
/// `j_make_causal_mask_multilevel`, single worker): the pending token, the Jacobi window
/// (lookahead branch) and the candidate n-grams (verification branch), with their position ids
/// and attention mask.
///
/// With `c` the pending token at position `P`, `T = 1 + level0.count` and every upper level
/// holding `T` tokens, the batch is, in order:
///
///     index 0                    c                         position P
///     1 ..< T                    level 0, token j − 1      P + j            (block 0 = [c, level 0])
///     then for l = 1 ... L − 1:  level l, token j          P + l + j        (j = 0 ..< T)
///     then for each guess g:     g[0 ..< N − 1]            P + 1 ... P + N − 1
///
/// Every token sees the whole KV cache, plus (inside the batch):
/// - block 0 is causal;
/// - level `l ≥ 1`, token `j` sees block-0 tokens `0 ... j` and token `j` of levels `1 ... l`
///   (itself included): one token at each of the `l + j + 1` consecutive positions `P ... P + l + j`,
///   a Jacobi trajectory;
/// - guess token `i` sees `c` and tokens `0 ... i` of its own n-gram (not the window, not other
///   guesses).
///
/// Attention visits visible slots in slot order (D3), so each row's logits equal those of the
/// same tokens decoded causally at those positions.
public struct LookaheadLayout: Sendable, Equatable {
    /// Batch tokens, in the order above.
    public var tokens: [Int]
    /// Position id of each batch token.
    public var positions: [Int]
    /// For each batch token, the batch indices it sees (increasing). The KV cache is seen by all.
    public var visible: [[Int]]
    /// Batch indices whose argmax forms the next Jacobi iterate: the last level's `T` tokens, or
    /// block 0 (`c` and level 0) when there is no upper level (`N = 2`).
    public var lastLevelRows: [Int]
    /// Batch indices of each guess's tokens.
    public var guessRows: [[Int]]

    /// - Parameters:
    ///   - pending: `c`, the token chosen last and not yet fed to the model.
    ///   - position: `P`, its position id.
    ///   - level0: level 0 of the window (`T − 1` tokens).
    ///   - upperLevels: levels `1 ... L − 1`, each of `T` tokens (empty for `N = 2`).
    ///   - guesses: candidate n-grams (each `N − 1` tokens), verified after `c`.
    public init(pending: Int, position: Int, level0: [Int], upperLevels: [[Int]], guesses: [[Int]]) {
        let width = 1 + level0.count
        for level in upperLevels { precondition(level.count == width, "every upper level holds \(width) tokens") }
        tokens = [pending] + level0
        positions = Array(position..<(position + width))
        visible = (0..<width).map { Array(0...$0) }
        for (l0, level) in upperLevels.enumerated() {
            let l = l0 + 1
            let levelStart = tokens.count
            for j in 0..<width {
                var seen = Array(0...j)
                for m in 1...l { seen.append(width * m + j) }
                visible.append(seen)
                precondition(levelStart + j == width * l + j)
            }
            tokens += level
            positions += (0..<width).map { position + l + $0 }
        }
        lastLevelRows = upperLevels.isEmpty ? Array(0..<width) : Array((tokens.count - width)..<tokens.count)
        guessRows = []
        for guess in guesses {
            let start = tokens.count
            let rows = Array(start..<(start + guess.count))
            guessRows.append(rows)
            for (i, token) in guess.enumerated() {
                tokens.append(token)
                positions.append(position + 1 + i)
                visible.append([0] + rows[0...i])
            }
        }
    }

    /// The attention mask over `cacheLength` cached slots followed by this batch.
    public func attentionMask(cacheLength: Int) -> AttentionMask {
        let t = tokens.count
        return .explicit(visible.map { seen in
            var row = [Bool](repeating: false, count: cacheLength + t)
            for s in 0..<cacheLength { row[s] = true }
            for i in seen { row[cacheLength + i] = true }
            return row
        })
    }
}

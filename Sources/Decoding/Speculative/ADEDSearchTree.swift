import Tensors

/// The Monte Carlo tree search with which ADED turns its tri-gram table into draft sentences
/// (arXiv:2407.12021, Section "Draft construction"; reference `DraftRetriever/src/mcts_sub.rs`,
/// `MCTS::run`, `Node::putc_score`, `Node::select_child`, `MCTS::extract_sentences`).
///
/// A node holds a word `(prev, tok)` (the bigram state after emitting `tok`), its visit count
/// `N`, the sum of its returns `W`, its prior `P` (the parent's table value for `tok` when the
/// node was created) and its untried successor tokens (the successors of `T[(prev, tok)]` at
/// creation time, token id ascending). Node 0 is the root, whose word is the bigram ending in
/// the pending token. One iteration:
///
/// 1. Selection. `state = [root.word]`. While the node has untried words and children and the
///    state is shorter than `sentenceLength`, move to the child with the largest PUCT score
///    (`puct`; ties and +inf: the first child in creation order) and append its word.
/// 2. Expansion (node has untried words, state shorter than `sentenceLength`): create one child
///    per untried word `w` (ascending token id), word `(tok, w)`, prior `T[node.word][w]`; move to
///    the last created child (the largest token id) and append its word. A node with children is
///    never expanded again.
/// 3. Roll-out. While the state is shorter than `sentenceLength`: let `row = T[state.last]`
///    (stop if empty), `total` = the Float32 sum of its values in token order, `p_i = v_i / total`,
///    `c_i` = running Float32 sum of the `p_i`; draw one uniform `u` (`nextUniformFloat()`), pick
///    the first successor with `u <= c_i` (the last one if none) and append `(tok, w)`.
/// 4. Return `G = 1 + Σ_{i < len − 1} T[state[i]][state[i+1].prev]` summed in Float32 in
///    increasing `i` (missing entries count 0). As in the reference, `state[i+1].prev` is
///    `state[i].tok`, so this sums the table's repetition probabilities `P(b | a, b)`, not the
///    transitions taken; copied unchanged so that the search matches the reference.
/// 5. Back-propagation: the reached node and all its ancestors get `N += 1`, `W += G`.
///
/// Extraction (`sentences`): a pre-order walk (children in creation order) lists every node's
/// sentence (the `tok` of each node from the root down, root included) with its visit count;
/// they are ranked by visits descending, ties by walk order (= token sequence ascending), and
/// the first `topK` are kept. Each kept sentence of length >= 2 is extended by the successor of
/// its last bigram with the largest value (ties: lowest token id; the reference takes the last
/// maximum in `HashMap` order).
public struct ADEDSearchTree: Sendable {
    public struct Node: Sendable, Equatable {
        /// `(prev, tok)`.
        public var previous: Int
        public var token: Int
        /// Index of the parent node, -1 for the root.
        public var parent: Int
        /// Child node indices in creation order.
        public var children: [Int] = []
        public var visits: Int = 0
        /// Sum of returns, Float32.
        public var score: Float = 0
        /// Untried successor tokens at creation time, ascending.
        public var untried: [Int]
        public var prior: Float
    }

    public private(set) var nodes: [Node]
    public let table: ADEDTrigramTable
    public let sentenceLength: Int
    public let topK: Int
    public let c1: Float
    public let c2: Float

    public init(previous: Int, token: Int, table: ADEDTrigramTable, sentenceLength: Int = 4, topK: Int = 24,
                c1: Float = 32, c2: Float = 8) {
        precondition(sentenceLength >= 2 && topK > 0, "ADED's search needs sentenceLength >= 2 and topK > 0")
        self.table = table
        self.sentenceLength = sentenceLength
        self.topK = topK
        self.c1 = c1
        self.c2 = c2
        nodes = [Node(previous: previous, token: token, parent: -1,
                      untried: table.successors(previous, token).map(\.token), prior: 0)]
    }

    /// MuZero-style PUCT score of a child (reference `putc_score`), in Float32:
    /// `+inf` if `visits == 0`, else
    /// `score / visits + (c1 + log((N + c2 + 1) / c2)) * prior * sqrt(N) / (1 + visits)`,
    /// evaluated left to right as written (`((N + c2) + 1) / c2`; `((a * prior) * sqrt(N)) / d`),
    /// with the project's `DeterministicMath.log` and IEEE `squareRoot()`.
    public static func puct(score: Float, visits: Int, prior: Float, parentVisits: Int, c1: Float, c2: Float) -> Float {
        if visits == 0 { return .infinity }
        let n = Float(parentVisits)
        let exploration = c1 + DeterministicMath.log((n + c2 + 1) / c2)
        return score / Float(visits) + exploration * prior * n.squareRoot() / Float(1 + visits)
    }

    /// The child with the largest PUCT score; scanning in creation order from a best score of 0,
    /// a child replaces the best only if its score is strictly larger (the first child if none).
    public func selectChild(of index: Int) -> Int {
        let node = nodes[index]
        var best = node.children[0]
        var bestScore: Float = 0
        for c in node.children {
            let s = Self.puct(score: nodes[c].score, visits: nodes[c].visits, prior: nodes[c].prior,
                              parentVisits: node.visits, c1: c1, c2: c2)
            if s > bestScore { bestScore = s; best = c }
        }
        return best
    }

    /// One iteration (selection, expansion, roll-out, back-propagation). Consumes one uniform
    /// draw per roll-out step, nothing else. Returns the return `G` that was back-propagated.
    @discardableResult
    public mutating func iterate(random: inout Xoshiro256StarStar) -> Float {
        var node = 0
        var state: [(previous: Int, token: Int)] = [(nodes[0].previous, nodes[0].token)]
        var end = false
        while !nodes[node].untried.isEmpty && !nodes[node].children.isEmpty && !end {
            node = selectChild(of: node)
            state.append((nodes[node].previous, nodes[node].token))
            if state.count == sentenceLength { end = true }
        }
        if !nodes[node].untried.isEmpty && !end {
            let parent = nodes[node]
            for w in parent.untried {
                nodes.append(Node(previous: parent.token, token: w, parent: node,
                                  untried: table.successors(parent.token, w).map(\.token),
                                  prior: table.value(parent.previous, parent.token, w) ?? 0))
                nodes[node].children.append(nodes.count - 1)
            }
            node = nodes[node].children.last!
            state.append((nodes[node].previous, nodes[node].token))
        }
        while state.count < sentenceLength {
            let last = state.last!
            let row = table.successors(last.previous, last.token)
            if row.isEmpty { break }
            var total: Float = 0
            for s in row { total += s.value }
            var cumulative: Float = 0
            var chosen = row.last!.token
            let u = random.nextUniformFloat()
            for s in row {
                cumulative += s.value / total
                if u <= cumulative { chosen = s.token; break }
            }
            state.append((last.token, chosen))
        }
        var g: Float = 1
        for i in 0..<(state.count - 1) {
            g += table.value(state[i].previous, state[i].token, state[i + 1].previous) ?? 0
        }
        var n = node
        while n >= 0 {
            nodes[n].visits += 1
            nodes[n].score += g
            n = nodes[n].parent
        }
        return g
    }

    /// Runs `iterations` iterations (reference: 150).
    public mutating func run(iterations: Int, random: inout Xoshiro256StarStar) {
        for _ in 0..<iterations { iterate(random: &random) }
    }

    /// The ranked, extended sentences (see the type's documentation); each starts with the root's
    /// token.
    public func sentences() -> [[Int]] {
        var found: [(sentence: [Int], visits: Int)] = []
        func walk(_ index: Int, _ prefix: [Int]) {
            let sentence = prefix + [nodes[index].token]
            found.append((sentence, nodes[index].visits))
            if sentence.count > sentenceLength || nodes[index].children.isEmpty { return }
            for c in nodes[index].children { walk(c, sentence) }
        }
        walk(0, [])
        let order = found.indices.sorted { found[$0].visits != found[$1].visits ? found[$0].visits > found[$1].visits : $0 < $1 }
        return order.prefix(topK).map { i in
            var s = found[i].sentence
            if s.count >= 2 {
                let row = table.successors(s[s.count - 2], s[s.count - 1])
                // Largest value, lowest token id among equal values (row is in ascending token order).
                if var best = row.first {
                    for c in row.dropFirst() where c.value > best.value { best = c }
                    s.append(best.token)
                }
            }
            return s
        }
    }
}

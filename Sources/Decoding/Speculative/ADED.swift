import Transformer
import Formats
import Tensors

/// ADED, "ADED-deterministic" (Liu, Lei, Zhang, Xu, "Adaptive Draft-Verification for Efficient
/// Large Language Model Decoding", AAAI 2025, arXiv:2407.12021; reference code
/// `liuxukun2000/Adaptix` at 241dad8, `DraftRetriever/src/lib.rs` `Reader::search`,
/// `cut_to_choices`, `get_draft_choices`, `generate_draft_buffers`, and
/// `aded/model/utils.py` `generate_candidates_and_draft_buffer`). The paper describes the method
/// in prose and Eqs. 1–8 without an algorithm block, and its reference code departs from it
/// (see the return `G` in `ADEDSearchTree`); this file follows the reference code.
///
/// A model-free drafter: a tri-gram table `T` (`ADEDTrigramTable`) approximates the target's
/// next-token distribution and adapts online to the text being generated; each step a small
/// Monte Carlo tree search (`ADEDSearchTree`) over `T` proposes up to 24 short continuations,
/// which are merged into one token tree and verified by the target (`TreeVerification`).
///
/// One call to `draft(sequence:maxTokens:)` (the sequence ends with the pending token `r`):
/// 1. Online update (adaptivity): `T.reinforceRecentTrigrams(of: sequence, window: 16)`, i.e.
///    `+0.04` clipped at 3.0 for every tri-gram of the last 16 tokens. This runs every step, so
///    a tri-gram that stays inside the window is reinforced again at every step. `T` persists
///    in the drafter across steps (and prompts, if the same drafter is reused).
/// 2. Search from the root word `(sequence[n−2], r)`: `iterations` (150) MCTS iterations,
///    `sentences()` (top 24 by visits, each extended by one greedy table step).
/// 3. Drop the root token from each sentence, keep non-empty ones, remove duplicates keeping
///    the first occurrence (the reference uses a `HashSet`, random order).
/// 4. `cutToChoices`: weight = number of distinct tokens of a path; visiting paths by weight
///    descending (ties: list order), remove them while the sum of the remaining weights exceeds
///    `choices` (64).
/// 5. Tree: at each depth the distinct tokens get indices in order of first appearance over the
///    path list; a node is the index sequence of a path prefix; nodes are sorted by (length,
///    index sequence lexicographic) and the first `maxNodes` (64) kept (Medusa buffers). The
///    result is the trie of the paths, so siblings carry distinct tokens.
/// 6. No sentence (the root bigram has no successors): one node with `fallbackToken` (100, the
///    reference's hard-coded "random guess").
/// The tree is cut to its first `maxTokens` nodes (the order keeps every node's ancestors).
///
/// Randomness: the roll-outs draw from one `Xoshiro256StarStar` seeded at `init` and carried
/// across calls, one `nextUniformFloat()` per roll-out step, in iteration order.
public struct ADEDDrafter: Drafter {
    public struct Configuration: Sendable, Equatable {
        /// MCTS iterations per step (reference 150).
        public var iterations = 150
        /// States per search sentence including the root word (reference 4; the draft depth is
        /// at most `sentenceLength` after the greedy extension and dropping the root).
        public var sentenceLength = 4
        /// Sentences kept from the search (reference 24, the root included).
        public var topSentences = 24
        /// Budget of the sum of distinct tokens per path (reference `num_draft`, 64).
        public var choices = 64
        /// Maximum tree nodes (reference 64).
        public var maxNodes = 64
        /// Online update window, increment and cap (reference 16, 0.04, 3.0).
        public var updateWindow = 16
        public var updateIncrement: Float = 0.04
        public var updateCap: Float = 3.0
        /// PUCT constants (reference c1 = 32, c2 = 8).
        public var c1: Float = 32
        public var c2: Float = 8
        /// The single-node draft used when the search proposes nothing (reference 100).
        public var fallbackToken = 100
        public init() {}
    }

    /// The tri-gram statistics, updated by every `draft` call.
    public private(set) var table: ADEDTrigramTable
    public let configuration: Configuration
    /// The roll-out generator (its state advances with every roll-out step).
    public private(set) var random: Xoshiro256StarStar
    /// Steps that used the fallback token.
    public private(set) var fallbackDrafts = 0
    public var forwardPasses: Int { 0 }

    /// - Parameters:
    ///   - table: the starting statistics (e.g. `buildTable(fromTokenSequences:)`, or empty).
    ///   - seed: seeds the roll-out generator.
    public init(table: ADEDTrigramTable = ADEDTrigramTable(), configuration: Configuration = Configuration(), seed: UInt64 = 0) {
        precondition(configuration.iterations > 0 && configuration.maxNodes > 0 && configuration.choices > 0,
                     "ADED needs positive iterations, choices and maxNodes")
        self.table = table
        self.configuration = configuration
        self.random = Xoshiro256StarStar(seed: seed)
    }

    /// The reference corpus table (`Writer` then `Reader::new`): tri-gram frequencies of the
    /// given token sequences (each a tokenised text; tri-grams never span two sequences), keeping
    /// the `successorsPerKey` (12) most frequent successors per key (ties: lowest token id).
    public static func buildTable(fromTokenSequences sequences: [[Int]], successorsPerKey: Int = 12) -> ADEDTrigramTable {
        ADEDTrigramTable(countingTrigramsIn: sequences).keepingTopSuccessors(successorsPerKey)
    }

    public mutating func draft(sequence: [Int], maxTokens: Int) throws -> DraftTree {
        let c = configuration
        table.reinforceRecentTrigrams(of: sequence, window: c.updateWindow, increment: c.updateIncrement, cap: c.updateCap)
        if maxTokens <= 0 { return .empty }
        var paths: [[Int]] = []
        if sequence.count >= 2 {
            var search = ADEDSearchTree(previous: sequence[sequence.count - 2], token: sequence[sequence.count - 1], table: table,
                                        sentenceLength: c.sentenceLength, topK: c.topSentences, c1: c.c1, c2: c.c2)
            search.run(iterations: c.iterations, random: &random)
            paths = Self.uniquePaths(search.sentences())
        }
        if paths.isEmpty {
            fallbackDrafts += 1
            return DraftTree(chain: [c.fallbackToken])
        }
        let tree = Self.tree(paths: Self.cutToChoices(paths, choices: c.choices), maxNodes: c.maxNodes)
        if tree.count <= maxTokens { return tree }
        return DraftTree(tokens: Array(tree.tokens.prefix(maxTokens)), parents: Array(tree.parents.prefix(maxTokens)))
    }

    /// Sentences without their first (root) token, empty ones dropped, duplicates removed keeping
    /// the first occurrence.
    public static func uniquePaths(_ sentences: [[Int]]) -> [[Int]] {
        var seen = Set<[Int]>()
        var paths: [[Int]] = []
        for s in sentences where s.count > 1 {
            let path = Array(s.dropFirst())
            if seen.insert(path).inserted { paths.append(path) }
        }
        return paths
    }

    /// Reference `cut_to_choices`: weight of a path = its number of distinct tokens; visiting the
    /// paths by weight descending (ties: earlier path first), remove each while the sum of the
    /// weights of all remaining paths exceeds `choices`. Survivors keep their order.
    public static func cutToChoices(_ paths: [[Int]], choices: Int) -> [[Int]] {
        let weights = paths.map { Set($0).count }
        let order = paths.indices.sorted { weights[$0] != weights[$1] ? weights[$0] > weights[$1] : $0 < $1 }
        var total = weights.reduce(0, +)
        var removed = [Bool](repeating: false, count: paths.count)
        for i in order {
            if total <= choices { break }
            total -= weights[i]
            removed[i] = true
        }
        return paths.indices.filter { !removed[$0] }.map { paths[$0] }
    }

    /// Reference `get_draft_choices` + `generate_draft_buffers` as a `DraftTree`: per-depth
    /// first-appearance indices, every path prefix a node, nodes sorted by (depth, index
    /// sequence) and cut to `maxNodes`; node tokens and parents read off that order.
    public static func tree(paths: [[Int]], maxNodes: Int) -> DraftTree {
        var depthIndex: [[Int: Int]] = []   // depth → token → first-appearance index
        var depthTokens: [[Int]] = []       // depth → tokens by index
        for path in paths {
            for (d, t) in path.enumerated() {
                if d == depthIndex.count { depthIndex.append([:]); depthTokens.append([]) }
                if depthIndex[d][t] == nil { depthIndex[d][t] = depthTokens[d].count; depthTokens[d].append(t) }
            }
        }
        var seen = Set<[Int]>()
        var choices: [[Int]] = []
        for path in paths {
            var key: [Int] = []
            for (d, t) in path.enumerated() {
                key.append(depthIndex[d][t]!)
                if seen.insert(key).inserted { choices.append(key) }
            }
        }
        choices.sort { $0.count != $1.count ? $0.count < $1.count : $0.lexicographicallyPrecedes($1) }
        choices = Array(choices.prefix(maxNodes))
        var nodeOf: [[Int]: Int] = [:]
        var tokens: [Int] = [], parents: [Int] = []
        for (i, key) in choices.enumerated() {
            nodeOf[key] = i
            tokens.append(depthTokens[key.count - 1][key.last!])
            parents.append(key.count == 1 ? -1 : nodeOf[Array(key.dropLast())]!)
        }
        return DraftTree(tokens: tokens, parents: parents)
    }
}

// MARK: - Strategy

extension ADEDDrafter {
    /// `--strategy aded`: greedy speculative decoding with ADED's tri-gram roll-out drafts.
    public struct Strategy: DecodingStrategy {
        public static let name = "aded"
        public static let summary = "ADED: drafts from Monte-Carlo roll-outs over tri-grams of the prompt, updated online (token-identical to greedy)"
        static let seedOption = SeedOption.option(default: "0", help: "seed of the roll-out generator")
        static let tree = StrategyOption("tree", key: "max_nodes", .integer(1...1024), default: "64", help: "draft-tree nodes")
        public static let options = [seedOption, tree]
        public static let processorUse = ProcessorSettings.Use.none
        public static let takesSeed = true
        /// Where the tri-gram table comes from.
        public static let tableDescription = "prompt tri-grams"

        public var seedValue: UInt64
        public var maxNodes: Int

        public init(seed: UInt64 = 0, maxNodes: Int = 64) {
            self.seedValue = seed
            self.maxNodes = maxNodes
        }

        public init(arguments a: StrategyArguments, processors: ProcessorSettings, context: StrategyContext) throws {
            self.init(seed: UInt64(try a.int(Self.seedOption)!), maxNodes: try a.int(Self.tree)!)
        }

        public var parameters: [(String, JSONValue)] { [("table", .string(Self.tableDescription)), ("max_nodes", .int(maxNodes))] }
        public var seed: UInt64? { seedValue }

        public func generate(model: any CausalLanguageModel, prompt: [Int], stopping: StoppingCriteria, traceTopK: Int,
                             onToken: ((Int) -> Void)?) throws -> StrategyOutput {
            var configuration = Configuration()
            configuration.maxNodes = maxNodes
            configuration.choices = min(configuration.choices, maxNodes)
            var drafter = ADEDDrafter(table: ADEDDrafter.buildTable(fromTokenSequences: [prompt]), configuration: configuration, seed: seedValue)
            return StrategyOutput(try SpeculativeDecoding.generate(model: model, prompt: prompt, drafter: &drafter, maxDraftTokens: maxNodes,
                                                                   stopping: stopping, traceTopK: traceTopK, onToken: onToken))
        }
    }
}

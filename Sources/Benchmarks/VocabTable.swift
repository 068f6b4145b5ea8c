import Foundation
import Formats
import Tokenization
import Transformer
import Decoding

/// The VocabTrim calibration (`touchstone vocab-table`): the target's own greedy generations
/// (the paper's recommended source) ranked by token frequency for `--vocab-trim`.
public struct VocabTable: Sendable, Equatable {
    /// The generated tokens of each prompt (prompt tokens excluded), in prompt order.
    public var sequences: [[Int]]
    /// `(id, count)` for every generated id: count descending, id ascending among equal counts
    /// (`VocabTrim.tokenCounts`, D4).
    public var counts: [(id: Int, count: Int)]

    public static func == (a: VocabTable, b: VocabTable) -> Bool {
        a.sequences == b.sequences && a.counts.map(\.id) == b.counts.map(\.id) && a.counts.map(\.count) == b.counts.map(\.count)
    }

    /// The ids of `counts`, in its order: what `VocabTrim(ranking:count:…)` takes.
    public var ranking: [Int] { counts.map(\.id) }
    public var generatedTokens: Int { sequences.reduce(0) { $0 + $1.count } }
    public var distinctTokens: Int { counts.count }

    public init(sequences: [[Int]]) {
        self.sequences = sequences
        counts = VocabTrim.tokenCounts(fromTokenSequences: sequences)
    }

    /// Generates up to `maxNewTokens` greedy tokens after each prompt (stopping at
    /// `endOfSequenceIDs`) and ranks them. `progress(i, n)` is called before prompt i of n
    /// (1-based).
    public static func calibrate(model: any CausalLanguageModel, prompts: [[Int]], maxNewTokens: Int, endOfSequenceIDs: Set<Int>,
                                 progress: (_ completed: Int, _ total: Int) -> Void = { _, _ in }) throws -> VocabTable {
        var sequences: [[Int]] = []
        for (i, prompt) in prompts.enumerated() {
            progress(i + 1, prompts.count)
            let g = try GreedyDecoding.generate(model: model, prompt: prompt,
                                                stopping: StoppingCriteria(maxNewTokens: maxNewTokens, endOfSequenceIDs: endOfSequenceIDs), traceTopK: 0)
            sequences.append(g.outputIDs)
        }
        return VocabTable(sequences: sequences)
    }

    /// `calibrate` on the questions' first turns as ChatML prompts (`SpecBenchPrompt`).
    public static func calibrate(model: any CausalLanguageModel, tokenizer: any Tokenizer, questions: [SpecBenchQuestion], maxNewTokens: Int,
                                 endOfSequenceIDs: Set<Int>, progress: (_ completed: Int, _ total: Int) -> Void = { _, _ in }) throws -> VocabTable {
        try calibrate(model: model, prompts: questions.map { SpecBenchPrompt(question: $0, tokenizer: tokenizer).ids },
                      maxNewTokens: maxNewTokens, endOfSequenceIDs: endOfSequenceIDs, progress: progress)
    }

    /// The file `vocab-table --out` writes: `{"model", "source", "generated_tokens",
    /// "distinct_tokens", "ranking"}`.
    public func document(model: String, source: String) -> JSONValue {
        .object([
            ("model", .string(model)),
            ("source", .string(source)),
            ("generated_tokens", .int(generatedTokens)),
            ("distinct_tokens", .int(distinctTokens)),
            ("ranking", .ints(ranking)),
        ])
    }
}

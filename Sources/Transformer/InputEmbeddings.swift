/// Layer-0 inputs given directly for some rows of a forward pass, instead of looked up from
/// token ids: what Hugging Face's `inputs_embeds` does for a whole batch, here row by row. Soft
/// prompts (parallel prompt decoding's prompt tokens) are fed this way.
///
/// A row listed here replaces exactly what `CausalLanguageModel.embed(token:into:)` would write
/// for that row's token id (which is then ignored, though it must still be a valid id):
/// - Llama and Qwen2: the embedding row itself.
/// - Gemma 3: the *scaled* row (`embed(token:)` multiplies by `√C`), so a given vector is used
///   as is and is **not** multiplied by `√C` again — Hugging Face's convention, where the scaling
///   lives inside `embed_tokens` and `inputs_embeds` bypasses it.
/// - GPT-2: the token part; the learned position embedding of the row's position is still
///   added (`x = given + wpe[position]`, one addition per element), as Hugging Face adds `wpe`
///   to `inputs_embeds`.
///
/// Everything after layer 0 is unchanged, so D2 and D3 hold for overridden rows as for any other.
public struct InputEmbeddings: Sendable, Equatable {
    /// Batch indices whose layer-0 input is given, strictly increasing.
    public var rows: [Int]
    /// `[rows.count, C]`, row-major: the layer-0 input of each listed row.
    public var values: [Float]

    public init(rows: [Int], values: [Float]) {
        self.rows = rows
        self.values = values
    }

    /// Checks the rows against a batch of `T` tokens and the hidden size `C`. Throws
    /// `ModelError.invalidInput` for a row outside the batch, rows out of order or repeated, or a
    /// value count other than `rows.count * C`.
    public func validate(batch T: Int, hiddenSize C: Int) throws {
        var previous = -1
        for r in rows {
            guard r >= 0 && r < T else { throw ModelError.invalidInput("input embedding for row \(r) outside the batch of \(T)") }
            guard r > previous else { throw ModelError.invalidInput("input-embedding rows must be strictly increasing; \(r) follows \(previous)") }
            previous = r
        }
        guard values.count == rows.count * C else {
            throw ModelError.invalidInput("\(values.count) input-embedding values for \(rows.count) rows of hidden size \(C); expected \(rows.count * C)")
        }
        for v in values where !v.isFinite { throw ModelError.invalidInput("input embeddings must be finite, found \(v)") }
    }

    /// Overwrites the listed rows of `x` (`[T, C]`) with the given vectors.
    public func write(into x: UnsafeMutablePointer<Float>, hiddenSize C: Int) {
        values.withUnsafeBufferPointer { v in
            for (i, r) in rows.enumerated() { (x + r * C).update(from: v.baseAddress! + i * C, count: C) }
        }
    }
}

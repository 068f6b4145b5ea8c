/// What every tokenizer family offers: text → ids, ids → bytes and text, the vocabulary's
/// strings and its special ids.
///
/// Conformances (one per family, each in its own file): `BPETokenizer` (byte-level BPE: GPT-2,
/// SmolLM, Llama 3, Qwen, DeepSeek, Falcon, …), `SentencePieceTokenizer` (SentencePiece-style
/// BPE over `▁`-escaped text with byte fallback: Llama 2 / Phi-3 scores, Gemma 3, Gemma 4 merges)
/// and `WordPieceTokenizer` (BERT). `TokenizerLoader` picks the conformance a file describes.
///
/// Encoding is total (every string has ids); decoding throws `TokenizerError.tokenIDOutOfRange`
/// for an id the vocabulary does not assign. Results never depend on caches or threads.
public protocol Tokenizer: AnyObject, Sendable {
    /// Number of ids: one more than the largest assigned id.
    var vocabularySize: Int { get }
    var bosID: Int? { get }
    var eosID: Int? { get }
    var unknownID: Int? { get }
    var paddingID: Int? { get }
    /// Whether `encode(_:parseSpecialTokens:addSpecialTokens: true)` prepends BOS (the file's
    /// `add_bos_token`, or what the loading convention does).
    var addsBOS: Bool { get }
    /// Whether `encode(_:parseSpecialTokens:addSpecialTokens: true)` appends EOS.
    var addsEOS: Bool { get }

    /// Token ids of `text`, without BOS/EOS. With `parseSpecialTokens` the text of a special
    /// (control) token becomes that token; without it that text is ordinary text. User-defined
    /// (non-special) tokens are always recognized.
    func encode(_ text: String, parseSpecialTokens: Bool) -> [Int]

    /// Appends the bytes `id` stands for (nothing for a skipped special token).
    func appendBytes(of id: Int, skipSpecialTokens: Bool, to bytes: inout [UInt8]) throws

    /// The raw bytes of `ids`, with the family's decoding rules (e.g. SentencePiece's removal of
    /// the dummy-prefix space).
    func decodeBytes(_ ids: [Int], skipSpecialTokens: Bool) throws -> [UInt8]

    /// The vocabulary string of a token as the file stores it (`"Ġthe"`, `"▁the"`, `"<bos>"`).
    func tokenString(for id: Int) throws -> String
    /// The id of a vocabulary string (as the file stores it), or nil.
    func tokenID(for tokenString: String) -> Int?
    /// Whether `id` is a special (control) token, skipped by `skipSpecialTokens`.
    func isSpecial(_ id: Int) -> Bool
    /// Empties any encode cache (benchmarks of a cold start); a no-op for cacheless families.
    func clearCache()
}

extension Tokenizer {
    /// `encode(text, parseSpecialTokens: true)`, Hugging Face's default.
    public func encode(_ text: String) -> [Int] { encode(text, parseSpecialTokens: true) }

    /// Token ids of `text`, with BOS/EOS added when `addSpecialTokens` and the tokenizer says so
    /// (`addsBOS`, `addsEOS`).
    public func encode(_ text: String, parseSpecialTokens: Bool, addSpecialTokens: Bool) -> [Int] {
        var ids = encode(text, parseSpecialTokens: parseSpecialTokens)
        if addSpecialTokens {
            if addsBOS, let bosID { ids.insert(bosID, at: 0) }
            if addsEOS, let eosID { ids.append(eosID) }
        }
        return ids
    }

    public func decodeBytes(_ ids: [Int], skipSpecialTokens: Bool) throws -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(ids.count * 4)
        for id in ids { try appendBytes(of: id, skipSpecialTokens: skipSpecialTokens, to: &bytes) }
        return bytes
    }

    public func decodeBytes(_ ids: [Int]) throws -> [UInt8] { try decodeBytes(ids, skipSpecialTokens: false) }

    /// The text of `ids` (their bytes, invalid UTF-8 replaced by U+FFFD per maximal subpart).
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = false) throws -> String {
        String(decoding: try decodeBytes(ids, skipSpecialTokens: skipSpecialTokens), as: UTF8.self)
    }

    /// The bytes one token stands for.
    public func tokenBytes(for id: Int) throws -> [UInt8] {
        var bytes: [UInt8] = []
        try appendBytes(of: id, skipSpecialTokens: false, to: &bytes)
        return bytes
    }

    /// A decoder for a stream of ids that only ever returns complete UTF-8 text.
    public func makeStreamingDecoder(skipSpecialTokens: Bool = false) -> StreamingDecoder {
        StreamingDecoder(tokenizer: self, skipSpecialTokens: skipSpecialTokens)
    }

    public func clearCache() {}
}

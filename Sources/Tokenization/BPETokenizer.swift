import Foundation

/// Text normalization applied to plain-text segments before pre-tokenization.
public enum TextNormalizer: Sendable, Equatable {
    /// No normalization (GPT-2, SmolLM, Llama-3).
    case none
    /// Unicode canonical composition (Qwen2's `NFC` normalizer), computed by the Swift standard
    /// library (`String._nfcCodeUnits`).
    case nfc
}

/// A byte-level BPE tokenizer that produces the same ids as Hugging Face `tokenizers`.
///
/// Encoding pipeline, in order:
/// 1. Added tokens (`<|im_start|>` …) are found in the raw text, leftmost-longest
///    (`AddedTokenMatcher`); with `parseSpecialTokens: false` special ones are plain text.
/// 2. Each plain-text segment is normalized (if configured) and split into words
///    (`PreTokenizer`); words never span segments.
/// 3. Each word, as raw UTF-8 bytes, starts as one symbol per byte (the vocabulary token for
///    that byte's byte-level character) and is merged by rank (`MergeTable`). Results of
///    words up to 64 bytes are cached.
///
/// Decoding maps every id to its bytes (byte-level tokens → raw bytes, added tokens → their
/// UTF-8 content), concatenates them and converts to `String`, replacing invalid UTF-8 by
/// U+FFFD per maximal subpart (as Rust's `from_utf8_lossy` does).
///
/// Thread safety: a tokenizer may be shared between threads. Each `encode` call uses the shared
/// word cache if no other call holds it, and a private scratch state otherwise; results never
/// depend on the cache.
public final class BPETokenizer: Tokenizer, @unchecked Sendable {
    /// Number of ids: one more than the largest id of the vocabulary or an added token.
    public let vocabularySize: Int
    public let bosID: Int?
    public let eosID: Int?
    public let unknownID: Int?
    public let paddingID: Int?
    /// Whether `encode(_:parseSpecialTokens:addSpecialTokens: true)` prepends BOS.
    public var addsBOS: Bool = false
    /// Whether `encode(_:parseSpecialTokens:addSpecialTokens: true)` appends EOS.
    public var addsEOS: Bool = false
    public let preTokenizer: PreTokenizer
    public let normalizer: TextNormalizer
    /// Whether a word that is itself a vocabulary token becomes that token without merging
    /// (`ignore_merges` in Llama-3's tokenizer.json).
    public let ignoresMerges: Bool
    /// Added tokens, in id order.
    public let addedTokens: [AddedToken]

    /// The raw vocabulary string of each id ("" for an unassigned id).
    private let tokenStrings: [String]
    private let assigned: [Bool]
    /// Decoded bytes of each id: `decodeArena[decodeOffsets[id]..<decodeOffsets[id + 1]]`.
    private let decodeArena: [UInt8]
    private let decodeOffsets: [Int32]
    private let specialIDs: Set<Int>
    /// The initial BPE symbol of each byte (-1: the vocabulary has no token for it).
    private let byteSymbols: [Int32]
    private let merges: MergeTable
    private let idForBytes: [[UInt8]: Int32]
    private let allMatcher: AddedTokenMatcher
    private let nonSpecialMatcher: AddedTokenMatcher
    private let normalizedAllMatcher: AddedTokenMatcher
    private let normalizedNonSpecialMatcher: AddedTokenMatcher

    private let stateLock = NSLock()
    private var sharedState = EncodeState()

    /// Builds a tokenizer from a vocabulary indexed by id and merge rules in rank order.
    ///
    /// - Parameters:
    ///   - vocabulary: byte-level token strings; `vocabulary[id]` is token `id`. When a string
    ///     occurs twice, the later id wins for encoding (as a `{token: id}` dictionary would).
    ///   - merges: merge rules, rank = index. Both parts and their concatenation must be in the
    ///     vocabulary.
    ///   - addedTokens: tokens matched in raw text; their ids may extend past the vocabulary.
    ///   - unknownID: used for a byte without a vocabulary token (after trying `<0xHH>`);
    ///     consecutive unknown bytes fuse into one unknown token. Without it such bytes are
    ///     dropped. (No byte-level vocabulary lacks a byte token.)
    public init(vocabulary: [String], merges: [(String, String)], addedTokens: [AddedToken] = [],
                bosID: Int? = nil, eosID: Int? = nil, unknownID: Int? = nil, paddingID: Int? = nil,
                preTokenizer: PreTokenizer = .gpt2, normalizer: TextNormalizer = .none,
                ignoresMerges: Bool = false) throws {
        guard !vocabulary.isEmpty else { throw TokenizerError.invalidVocabulary("the vocabulary is empty") }
        var size = vocabulary.count
        for token in addedTokens {
            guard token.id >= 0 else {
                throw TokenizerError.invalidVocabulary("added token '\(token.content)' has negative id \(token.id)")
            }
            size = max(size, token.id + 1)
        }
        vocabularySize = size
        self.bosID = bosID
        self.eosID = eosID
        self.unknownID = unknownID
        self.paddingID = paddingID
        self.preTokenizer = preTokenizer
        self.normalizer = normalizer
        self.ignoresMerges = ignoresMerges
        self.addedTokens = addedTokens.sorted { $0.id < $1.id }

        var strings = vocabulary + Array(repeating: "", count: size - vocabulary.count)
        var isAssigned = Array(repeating: true, count: vocabulary.count) + Array(repeating: false, count: size - vocabulary.count)
        var bytesOfID: [[UInt8]] = []
        bytesOfID.reserveCapacity(size)
        var lookup: [[UInt8]: Int32] = [:]
        lookup.reserveCapacity(vocabulary.count)
        var stringToID: [String: Int32] = [:]
        stringToID.reserveCapacity(vocabulary.count)
        for (id, token) in vocabulary.enumerated() {
            stringToID[token] = Int32(id)
            if let bytes = ByteLevel.decode(token) {
                bytesOfID.append(bytes)
                lookup[bytes] = Int32(id)
            } else if let byte = BPETokenizer.byteFallbackValue(token) {
                bytesOfID.append([byte])
            } else {
                // Not a byte-level string (e.g. a sentencepiece-style token): decoded as its UTF-8
                // text, like the `ByteLevel` decoder's fallback; BPE can never produce it.
                bytesOfID.append(Array(token.utf8))
            }
        }
        for _ in vocabulary.count..<size { bytesOfID.append([]) }
        var specials = Set<Int>()
        for token in addedTokens {
            strings[token.id] = token.content
            isAssigned[token.id] = true
            bytesOfID[token.id] = Array(token.content.utf8)
            if token.isSpecial { specials.insert(token.id) }
        }
        tokenStrings = strings
        assigned = isAssigned
        specialIDs = specials
        var arena: [UInt8] = []
        var offsets: [Int32] = [0]
        offsets.reserveCapacity(size + 1)
        for bytes in bytesOfID {
            arena.append(contentsOf: bytes)
            offsets.append(Int32(arena.count))
        }
        decodeArena = arena
        decodeOffsets = offsets
        idForBytes = lookup

        var symbols = [Int32](repeating: -1, count: 256)
        for byte in 0..<256 {
            if let id = lookup[[UInt8(byte)]] {
                symbols[byte] = id
            } else if let id = stringToID[String(format: "<0x%02X>", byte)] {
                symbols[byte] = id
            }
        }
        byteSymbols = symbols

        var table = MergeTable(capacityFor: merges.count)
        for (rank, merge) in merges.enumerated() {
            guard let left = stringToID[merge.0] else {
                throw TokenizerError.mergeTokenMissing(merge: "\(merge.0) \(merge.1)", missing: merge.0)
            }
            guard let right = stringToID[merge.1] else {
                throw TokenizerError.mergeTokenMissing(merge: "\(merge.0) \(merge.1)", missing: merge.1)
            }
            guard let merged = stringToID[merge.0 + merge.1] else {
                throw TokenizerError.mergeTokenMissing(merge: "\(merge.0) \(merge.1)", missing: merge.0 + merge.1)
            }
            table.insert(left: left, right: right, rank: rank, merged: merged)
        }
        self.merges = table

        allMatcher = AddedTokenMatcher(addedTokens.filter { !$0.isNormalized })
        nonSpecialMatcher = AddedTokenMatcher(addedTokens.filter { !$0.isNormalized && !$0.isSpecial })
        normalizedAllMatcher = AddedTokenMatcher(addedTokens.filter { $0.isNormalized })
        normalizedNonSpecialMatcher = AddedTokenMatcher(addedTokens.filter { $0.isNormalized && !$0.isSpecial })
    }

    /// Builds a tokenizer from merge rules written `"left right"` (GGUF and old tokenizer.json).
    public convenience init(vocabulary: [String], mergeRules: [String], addedTokens: [AddedToken] = [],
                            bosID: Int? = nil, eosID: Int? = nil, unknownID: Int? = nil, paddingID: Int? = nil,
                            preTokenizer: PreTokenizer = .gpt2, normalizer: TextNormalizer = .none) throws {
        try self.init(vocabulary: vocabulary, merges: BPETokenizer.parseMergeRules(mergeRules), addedTokens: addedTokens,
                      bosID: bosID, eosID: eosID, unknownID: unknownID, paddingID: paddingID,
                      preTokenizer: preTokenizer, normalizer: normalizer)
    }

    /// Builds a tokenizer from GGUF-style token types: type 3 (control) tokens become special
    /// added tokens, as transformers does when it loads a GGUF; other types are ordinary.
    public convenience init(vocabulary: [String], mergeRules: [String], tokenTypes: [Int]?,
                            extraAddedTokens: [String] = [],
                            bosID: Int? = nil, eosID: Int? = nil, unknownID: Int? = nil, paddingID: Int? = nil,
                            preTokenizer: PreTokenizer = .gpt2) throws {
        var added: [AddedToken] = []
        if let tokenTypes {
            guard tokenTypes.count == vocabulary.count else {
                throw TokenizerError.invalidVocabulary("\(tokenTypes.count) token types for \(vocabulary.count) tokens")
            }
            for (id, type) in tokenTypes.enumerated() where type == 3 {
                added.append(AddedToken(id: id, content: vocabulary[id], isSpecial: true))
            }
        } else {
            for id in Set([unknownID, bosID, eosID].compactMap { $0 }).sorted() where id < vocabulary.count {
                added.append(AddedToken(id: id, content: vocabulary[id], isSpecial: true))
            }
        }
        let addedIDs = Set(added.map(\.id))
        var lastIndex: [String: Int] = [:]
        for (id, token) in vocabulary.enumerated() { lastIndex[token] = id }
        for content in extraAddedTokens {
            guard let id = lastIndex[content] else { continue }
            if !addedIDs.contains(id) { added.append(AddedToken(id: id, content: content, isSpecial: false)) }
        }
        try self.init(vocabulary: vocabulary, mergeRules: mergeRules, addedTokens: added, bosID: bosID, eosID: eosID,
                      unknownID: unknownID, paddingID: paddingID, preTokenizer: preTokenizer)
    }

    static func parseMergeRules(_ rules: [String]) throws -> [(String, String)] {
        var result: [(String, String)] = []
        result.reserveCapacity(rules.count)
        for (index, rule) in rules.enumerated() {
            let parts = rule.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw TokenizerError.malformedMerge(index: index, text: rule)
            }
            result.append((String(parts[0]), String(parts[1])))
        }
        return result
    }

    /// The byte of a `<0xHH>` byte-fallback token.
    static func byteFallbackValue(_ token: String) -> UInt8? {
        let utf8 = Array(token.utf8)
        guard utf8.count == 6, utf8[0] == UInt8(ascii: "<"), utf8[1] == UInt8(ascii: "0"), utf8[2] == UInt8(ascii: "x"),
              utf8[5] == UInt8(ascii: ">") else { return nil }
        func hex(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
            default: return nil
            }
        }
        guard let high = hex(utf8[3]), let low = hex(utf8[4]) else { return nil }
        return high << 4 | low
    }

    // MARK: - Encoding

    /// Token ids of `text`, without BOS/EOS (add them yourself; Hugging Face's
    /// `add_special_tokens=False`).
    ///
    /// - Parameter parseSpecialTokens: when true (the default, as in Hugging Face), the text of a
    ///   special added token (`<|im_start|>`) becomes that token; when false it is tokenized as
    ///   ordinary text (`tokenizers`' `encode_special_tokens = True`). Non-special added tokens
    ///   are always recognized.
    /// - Complexity: O(n) in the text length for ordinary text; a single word of k bytes costs
    ///   O(k²) up to 256 bytes and O(k log k) beyond.
    public func encode(_ text: String, parseSpecialTokens: Bool) -> [Int] {
        var output: [Int] = []
        output.reserveCapacity(text.utf8.count / 3 + 4)
        if stateLock.try() {
            defer { stateLock.unlock() }
            encode(text, parseSpecialTokens: parseSpecialTokens, state: &sharedState, into: &output)
        } else {
            var state = EncodeState()
            encode(text, parseSpecialTokens: parseSpecialTokens, state: &state, into: &output)
        }
        return output
    }

    /// Empties the shared word cache (used by benchmarks that measure a cold start).
    public func clearCache() {
        stateLock.lock()
        sharedState = EncodeState()
        stateLock.unlock()
    }

    private func encode(_ text: String, parseSpecialTokens: Bool, state: inout EncodeState, into output: inout [Int]) {
        var text = text
        text.withUTF8 { bytes in
            var segments: [TextSegment] = []
            let matcher = parseSpecialTokens ? allMatcher : nonSpecialMatcher
            matcher.split(bytes, 0..<bytes.count, into: &segments)
            for segment in segments {
                switch segment {
                case .token(let id):
                    output.append(id)
                case .text(let range):
                    encodePlainText(bytes, range, parseSpecialTokens: parseSpecialTokens, state: &state, into: &output)
                }
            }
        }
    }

    private func encodePlainText(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, parseSpecialTokens: Bool,
                                 state: inout EncodeState, into output: inout [Int]) {
        let normalizedMatcher = parseSpecialTokens ? normalizedAllMatcher : normalizedNonSpecialMatcher
        if normalizer == .none && normalizedMatcher.isEmpty {
            encodeWords(bytes, range, state: &state, into: &output)
            return
        }
        var segmentText = String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self)
        if normalizer == .nfc {
            // The standard library's own NFC (the one `String` comparison uses). Foundation's
            // `precomposedStringWithCanonicalMapping` is wrong on Linux for scalars above U+FFFF
            // (U+10055 U+0301 becomes U+00DA), so it is not used.
            segmentText = String(decoding: segmentText._nfcCodeUnits, as: UTF8.self)
        }
        segmentText.withUTF8 { normalized in
            var segments: [TextSegment] = []
            normalizedMatcher.split(normalized, 0..<normalized.count, into: &segments)
            for segment in segments {
                switch segment {
                case .token(let id): output.append(id)
                case .text(let inner): encodeWords(normalized, inner, state: &state, into: &output)
                }
            }
        }
    }

    /// Pre-tokenizes `bytes[range]` and appends the BPE ids of every word.
    private func encodeWords(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, state: inout EncodeState,
                             into output: inout [Int]) {
        state.ends.removeAll(keepingCapacity: true)
        preTokenizer.split(bytes, range, scratch: &state.scratch, ends: &state.ends)
        var start = range.lowerBound
        let ends = state.ends
        byteSymbols.withUnsafeBufferPointer { byteSymbols in
            for endOffset in ends {
                let end = Int(endOffset)
                let count = end - start
                if count == 1, byteSymbols[Int(bytes[start])] >= 0 {
                    output.append(Int(byteSymbols[Int(bytes[start])]))
                } else {
                    let word = UnsafeBufferPointer(rebasing: bytes[start..<end])
                    if count <= WordCache.maximumWordBytes {
                        let hash = WordCache.hash(word)
                        if !state.cache.appendCached(word, hash: hash, to: &output) {
                            mergeWord(word, byteSymbols, state: &state)
                            state.cache.insert(word, hash: hash, ids: state.symbols[...])
                            for id in state.symbols { output.append(Int(id)) }
                        }
                    } else {
                        mergeWord(word, byteSymbols, state: &state)
                        for id in state.symbols { output.append(Int(id)) }
                    }
                }
                start = end
            }
        }
    }

    /// Leaves the BPE ids of `word` in `state.symbols`.
    private func mergeWord(_ word: UnsafeBufferPointer<UInt8>, _ byteSymbols: UnsafeBufferPointer<Int32>,
                           state: inout EncodeState) {
        state.symbols.removeAll(keepingCapacity: true)
        if ignoresMerges, let id = idForBytes[Array(word)] {
            state.symbols.append(id)
            return
        }
        var previousWasUnknown = false
        for byte in word {
            let symbol = byteSymbols[Int(byte)]
            if symbol >= 0 {
                state.symbols.append(symbol)
                previousWasUnknown = false
            } else if let unknownID, !previousWasUnknown {
                state.symbols.append(Int32(unknownID))
                previousWasUnknown = true
            }
        }
        if state.symbols.count <= 256 {
            merges.mergeByScan(&state.symbols, pairs: &state.pairs)
        } else {
            merges.mergeByHeap(&state.symbols)
        }
    }

    /// Merges a word given as initial symbols with both algorithms (for tests).
    func mergeBothWays(_ symbols: [Int32]) -> (scan: [Int32], heap: [Int32]) {
        var scan = symbols
        var pairs: [UInt64] = []
        merges.mergeByScan(&scan, pairs: &pairs)
        var heap = symbols
        merges.mergeByHeap(&heap)
        return (scan, heap)
    }

    /// The initial symbol of each byte, or nil when the vocabulary lacks it.
    func byteSymbol(_ byte: UInt8) -> Int32? {
        byteSymbols[Int(byte)] >= 0 ? byteSymbols[Int(byte)] : nil
    }

    // MARK: - Decoding

    public func appendBytes(of id: Int, skipSpecialTokens: Bool, to bytes: inout [UInt8]) throws {
        guard id >= 0, id < vocabularySize, assigned[id] else {
            throw TokenizerError.tokenIDOutOfRange(id: id, vocabularySize: vocabularySize)
        }
        if skipSpecialTokens && specialIDs.contains(id) { return }
        bytes.append(contentsOf: decodeArena[Int(decodeOffsets[id])..<Int(decodeOffsets[id + 1])])
    }

    /// The raw vocabulary string of a token (`"Ġthe"`, `"<|im_start|>"`).
    public func tokenString(for id: Int) throws -> String {
        guard id >= 0, id < vocabularySize, assigned[id] else {
            throw TokenizerError.tokenIDOutOfRange(id: id, vocabularySize: vocabularySize)
        }
        return tokenStrings[id]
    }

    /// The id of a vocabulary string, or of an added token's content.
    public func tokenID(for tokenString: String) -> Int? {
        if let added = addedTokens.last(where: { $0.content == tokenString }) { return added.id }
        if let bytes = ByteLevel.decode(tokenString), let id = idForBytes[bytes] { return Int(id) }
        return nil
    }

    /// Whether `id` is a special added token.
    public func isSpecial(_ id: Int) -> Bool { specialIDs.contains(id) }

}

/// Scratch buffers and the word cache used by one encoding at a time.
struct EncodeState {
    var scratch = PreTokenizerScratch()
    var ends: [Int32] = []
    var symbols: [Int32] = []
    var pairs: [UInt64] = []
    var cache = WordCache()
}

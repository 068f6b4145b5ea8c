import Foundation

/// WordPiece (BERT; GGUF `tokenizer.ggml.model = "bert"`), as llama.cpp's
/// `llm_tokenizer_wpm_session` and Hugging Face's `BertTokenizer` do it.
///
/// GGUF stores word-initial pieces with a `▁` prefix (`▁the`) and continuation pieces bare
/// (`##ing` is stored as `ing`); a vocabulary from `tokenizer.json` is converted to that form on
/// load.
///
/// Encoding:
/// 1. Added tokens: user-defined tokens always, control tokens (`[CLS]`, `[SEP]`, …) only with
///    `parseSpecialTokens`.
/// 2. Normalization per scalar: with `stripsAccents`, a scalar becomes the first scalar of its
///    canonical decomposition (NFD) and marks are dropped; U+0000, U+FFFD and control/format
///    scalars (Cc, Cf, Co, Cs) are dropped; whitespace ends a word; with `lowercases`, the simple
///    lowercase mapping (the first scalar of the full mapping); punctuation, ASCII symbols and CJK
///    ideographs become one-scalar words.
/// 3. Each word `w` is matched greedily, longest first over bytes, against `▁w`: the first piece
///    must match at the start (it carries the `▁`), every later one continues. A word with an
///    unmatchable position becomes one `[UNK]`.
///
/// Words of up to 64 bytes are cached (normalized bytes → ids, `WordCache`), so a repeated word
/// is matched once; the result never depends on the cache.
///
/// Decoding: `▁` → space, so `decode` gives a space before every word-initial piece; the text is
/// lowercased and unaccented as normalization made it, so it does not round-trip in general.
public final class WordPieceTokenizer: Tokenizer, @unchecked Sendable {
    public let vocabularySize: Int
    public let bosID: Int?
    public let eosID: Int?
    public let unknownID: Int?
    public let paddingID: Int?
    public let addsBOS: Bool
    public let addsEOS: Bool
    public let lowercases: Bool
    public let stripsAccents: Bool

    private let pieces: [String]
    private let idForPiece: [ArraySlice<UInt8>: Int32]
    /// `idForPiece` as a byte-string table, for the matching loop.
    private let pieceTable: ByteStringTable
    private let maximumPieceBytes: Int
    private let cacheLock = NSLock()
    private var sharedCache = EncodeCache()

    /// Remembered results: word ids, and `normalize(_:)` of non-ASCII scalars (the general path
    /// builds `String`s); cleared when full, never changing a result.
    struct EncodeCache {
        var words = WordCache()
        var scalars: [UInt32: Normalized] = [:]
    }
    private let decodeArena: [UInt8]
    private let decodeOffsets: [Int32]
    private let specialIDs: Set<Int>
    private let allMatcher: AddedTokenMatcher
    private let userMatcher: AddedTokenMatcher
    /// `normalize(_:)` of each ASCII scalar, computed once at init by the same function (a fast
    /// path only: the words are those of the general path).
    private var asciiNormalization: [Normalized] = []

    /// - Parameters:
    ///   - pieces: GGUF-convention pieces (`▁` marks a word start, continuations are bare).
    ///   - tokenTypes: GGUF token types (3 control → special, 4 user-defined → always matched).
    public init(pieces: [String], tokenTypes: [Int]?, lowercases: Bool = true, stripsAccents: Bool = true,
                bosID: Int? = nil, eosID: Int? = nil, unknownID: Int? = nil, paddingID: Int? = nil,
                addsBOS: Bool = false, addsEOS: Bool = false) throws {
        guard !pieces.isEmpty else { throw TokenizerError.invalidVocabulary("the vocabulary is empty") }
        let types = tokenTypes ?? Array(repeating: 1, count: pieces.count)
        guard types.count == pieces.count else {
            throw TokenizerError.invalidVocabulary("\(types.count) token types for \(pieces.count) tokens")
        }
        for (name, id) in [("bos", bosID), ("eos", eosID), ("unknown", unknownID), ("padding", paddingID)] {
            if let id, id < 0 || id >= pieces.count {
                throw TokenizerError.invalidVocabulary("\(name) id \(id) is outside the \(pieces.count)-token vocabulary")
            }
        }
        vocabularySize = pieces.count
        self.pieces = pieces
        self.bosID = bosID
        self.eosID = eosID
        self.unknownID = unknownID
        self.paddingID = paddingID
        self.addsBOS = addsBOS
        self.addsEOS = addsEOS
        self.lowercases = lowercases
        self.stripsAccents = stripsAccents
        var lookup: [ArraySlice<UInt8>: Int32] = [:]
        var longest = 0
        var arena: [UInt8] = []
        var offsets: [Int32] = [0]
        var specials = Set<Int>()
        var added: [AddedToken] = []
        for (id, piece) in pieces.enumerated() {
            lookup[ArraySlice(piece.utf8)] = Int32(id)
            longest = max(longest, piece.utf8.count)
            switch types[id] {
            case 2, 3:
                specials.insert(id)
                added.append(AddedToken(id: id, content: piece, isSpecial: true))
                arena.append(contentsOf: piece.utf8)
            case 4:
                added.append(AddedToken(id: id, content: piece, isSpecial: false))
                arena.append(contentsOf: piece.utf8)
            default:
                arena.append(contentsOf: SentencePieceTokenizer.unescape(piece))
            }
            offsets.append(Int32(arena.count))
        }
        idForPiece = lookup
        pieceTable = ByteStringTable(pieces.map { Array($0.utf8) })
        maximumPieceBytes = longest
        decodeArena = arena
        decodeOffsets = offsets
        specialIDs = specials
        allMatcher = AddedTokenMatcher(added)
        userMatcher = AddedTokenMatcher(added.filter { !$0.isSpecial })
        asciiNormalization = (0..<0x80).map { normalize(Unicode.Scalar(UInt8($0))) }
    }

    public func encode(_ text: String, parseSpecialTokens: Bool) -> [Int] {
        if cacheLock.try() {
            defer { cacheLock.unlock() }
            return encode(text, parseSpecialTokens: parseSpecialTokens, cache: &sharedCache)
        }
        var cache = EncodeCache()
        return encode(text, parseSpecialTokens: parseSpecialTokens, cache: &cache)
    }

    /// Empties the shared word cache (used by benchmarks that measure a cold start).
    public func clearCache() {
        cacheLock.lock()
        sharedCache = EncodeCache()
        cacheLock.unlock()
    }

    private func encode(_ text: String, parseSpecialTokens: Bool, cache: inout EncodeCache) -> [Int] {
        var output: [Int] = []
        var text = text
        var words: [UInt8] = []
        var ends: [Int] = []
        var scratch: [UInt8] = []
        text.withUTF8 { bytes in
            var segments: [TextSegment] = []
            (parseSpecialTokens ? allMatcher : userMatcher).split(bytes, 0..<bytes.count, into: &segments)
            for segment in segments {
                switch segment {
                case .token(let id): output.append(id)
                case .text(let range):
                    normalizedWords(UnsafeBufferPointer(rebasing: bytes[range]), into: &words, ends: &ends, scalars: &cache.scalars)
                    words.withUnsafeBufferPointer { words in
                        var start = 0
                        for end in ends {
                            let word = UnsafeBufferPointer(rebasing: words[start..<end])
                            start = end
                            guard word.count <= WordCache.maximumWordBytes else {
                                encodeWord(word, scratch: &scratch, into: &output)
                                continue
                            }
                            let hash = WordCache.hash(word)
                            if cache.words.appendCached(word, hash: hash, to: &output) { continue }
                            let before = output.count
                            encodeWord(word, scratch: &scratch, into: &output)
                            cache.words.insert(word, hash: hash, ids: output[before...])
                        }
                    }
                }
            }
        }
        return output
    }

    /// What step 2 does with one scalar.
    enum Normalized: Equatable {
        /// Whitespace: ends the current word.
        case wordBreak
        /// Dropped (NUL, U+FFFD, control/format/private-use scalars, marks when stripping accents).
        case dropped
        /// A one-scalar word (punctuation, ASCII symbol, CJK ideograph), after normalization.
        case ownWord(Unicode.Scalar)
        /// Appended to the current word, after normalization.
        case appended(Unicode.Scalar)
    }

    /// Step 2 for one scalar: accent stripping, dropping, lowercasing and word-splitting class.
    func normalize(_ original: Unicode.Scalar) -> Normalized {
        var scalar = original
        if stripsAccents, scalar.value >= 0x80 {
            let decomposed = String(scalar).decomposedStringWithCanonicalMapping.unicodeScalars
            if let first = decomposed.first { scalar = first }
        }
        let category = ScalarCategory.lookup(scalar.value)
        if category == ScalarCategory.whitespace { return .wordBreak }
        if scalar.value == 0 || scalar.value == 0xFFFD { return .dropped }
        switch scalar.properties.generalCategory {
        case .control, .format, .privateUse, .surrogate: return .dropped
        default: break
        }
        if stripsAccents && category == ScalarCategory.mark { return .dropped }
        if lowercases, let lower = scalar.properties.lowercaseMapping.unicodeScalars.first { scalar = lower }
        let isSymbol: Bool
        switch scalar.properties.generalCategory {
        case .mathSymbol, .currencySymbol, .modifierSymbol, .otherSymbol: isSymbol = scalar.value < 0x7F
        default: isSymbol = false
        }
        if ScalarCategory.lookup(scalar.value) == ScalarCategory.punctuation || isSymbol
            || WordPieceTokenizer.isChineseCharacter(scalar.value) {
            return .ownWord(scalar)
        }
        return .appended(scalar)
    }

    /// The normalized words of a text fragment (step 2), as UTF-8.
    func words(_ text: String) -> [[UInt8]] {
        var text = text
        var bytes: [UInt8] = []
        var ends: [Int] = []
        var scalars: [UInt32: Normalized] = [:]
        text.withUTF8 { normalizedWords($0, into: &bytes, ends: &ends, scalars: &scalars) }
        var start = 0
        return ends.map { end in defer { start = end }; return Array(bytes[start..<end]) }
    }

    /// The normalized words of the UTF-8 text `bytes` (step 2), concatenated in `words` with the
    /// end offset of each in `ends` (both replaced). ASCII scalars take their normalization from
    /// `asciiNormalization`, others from (and into) `scalars`.
    private func normalizedWords(_ bytes: UnsafeBufferPointer<UInt8>, into words: inout [UInt8], ends: inout [Int],
                                 scalars: inout [UInt32: Normalized]) {
        words.removeAll(keepingCapacity: true)
        ends.removeAll(keepingCapacity: true)
        var i = 0
        while i < bytes.count {
            let lead = bytes[i]
            let normalized: Normalized
            if lead < 0x80 {
                normalized = asciiNormalization[Int(lead)]
                i += 1
            } else {
                // `bytes` is valid UTF-8 (it comes from a String).
                let length = SentencePieceTokenizer.scalarLength(lead)
                var value = UInt32(lead) & (length == 2 ? 0x1F : length == 3 ? 0x0F : 0x07)
                for k in 1..<length { value = value << 6 | (UInt32(bytes[i + k]) & 0x3F) }
                i += length
                if let known = scalars[value] {
                    normalized = known
                } else {
                    normalized = normalize(Unicode.Scalar(value) ?? "\u{FFFD}")
                    if scalars.count >= 1 << 16 { scalars.removeAll(keepingCapacity: true) }
                    scalars[value] = normalized
                }
            }
            switch normalized {
            case .wordBreak:
                if words.count > (ends.last ?? 0) { ends.append(words.count) }
            case .dropped: continue
            case .ownWord(let scalar):
                if words.count > (ends.last ?? 0) { ends.append(words.count) }
                WordPieceTokenizer.append(scalar, to: &words)
                ends.append(words.count)
            case .appended(let scalar): WordPieceTokenizer.append(scalar, to: &words)
            }
        }
        if words.count > (ends.last ?? 0) { ends.append(words.count) }
    }

    @inline(__always)
    static func append(_ scalar: Unicode.Scalar, to bytes: inout [UInt8]) {
        if scalar.value < 0x80 { bytes.append(UInt8(scalar.value)) } else { UTF8.encode(scalar) { bytes.append($0) } }
    }

    static func isChineseCharacter(_ v: UInt32) -> Bool {
        (0x4E00...0x9FFF).contains(v) || (0x3400...0x4DBF).contains(v) || (0x20000...0x2A6DF).contains(v)
            || (0x2A700...0x2B73F).contains(v) || (0x2B740...0x2B81F).contains(v) || (0x2B920...0x2CEAF).contains(v)
            || (0xF900...0xFAFF).contains(v) || (0x2F800...0x2FA1F).contains(v)
    }

    /// Greedy longest-match over the bytes of `▁word` (step 3); `scratch` holds `▁word`.
    private func encodeWord(_ word: UnsafeBufferPointer<UInt8>, scratch text: inout [UInt8], into output: inout [Int]) {
        text.removeAll(keepingCapacity: true)
        text.append(contentsOf: [0xE2, 0x96, 0x81])
        text.append(contentsOf: word)
        let before = output.count
        let matchedAll = text.withUnsafeBufferPointer { text -> Bool in
            let n = text.count
            var i = 0
            while i < n {
                var j = min(n, i + maximumPieceBytes)
                var id: Int32?
                while j > i {
                    id = pieceTable.id(text.baseAddress! + i, j - i)
                    if id != nil { break }
                    j -= 1
                }
                guard let id else { return false }
                output.append(Int(id))
                i = j
            }
            return true
        }
        if !matchedAll {
            output.removeSubrange(before...)
            if let unknownID { output.append(unknownID) }
        }
    }

    public func appendBytes(of id: Int, skipSpecialTokens: Bool, to bytes: inout [UInt8]) throws {
        guard id >= 0, id < vocabularySize else {
            throw TokenizerError.tokenIDOutOfRange(id: id, vocabularySize: vocabularySize)
        }
        if skipSpecialTokens && specialIDs.contains(id) { return }
        bytes.append(contentsOf: decodeArena[Int(decodeOffsets[id])..<Int(decodeOffsets[id + 1])])
    }

    public func tokenString(for id: Int) throws -> String {
        guard id >= 0, id < vocabularySize else {
            throw TokenizerError.tokenIDOutOfRange(id: id, vocabularySize: vocabularySize)
        }
        return pieces[id]
    }

    public func tokenID(for tokenString: String) -> Int? { idForPiece[ArraySlice(tokenString.utf8)].map(Int.init) }

    public func isSpecial(_ id: Int) -> Bool { specialIDs.contains(id) }
}

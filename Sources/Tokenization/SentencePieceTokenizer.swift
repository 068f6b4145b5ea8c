import Foundation

/// SentencePiece-style BPE over `▁`-escaped text with byte fallback: Llama 2 (`llama-spm`),
/// Phi-3 and Gemma 3 (GGUF `tokenizer.ggml.model = "llama"`, merging by token score), and
/// Gemma 4 (`"gemma4"`, merging by merge rank after splitting at newlines).
///
/// Encoding, as llama.cpp's `llm_tokenizer_spm_session` (scores) and its BPE session with
/// `escape_whitespaces` (ranks) do it:
/// 1. Added tokens are found in the raw text, leftmost-longest: user-defined tokens (GGUF token
///    type 4) always, control and unknown tokens (types 3, 2) only with `parseSpecialTokens`.
/// 2. Each plain-text fragment gets one leading U+0020 when `addsSpacePrefix` and it is the first
///    fragment or follows a token (llama.cpp's `is_prev_special`); then every U+0020 (only that
///    scalar) becomes `▁` U+2581.
/// 3. Rank mode only: the fragment is split into runs of `\n` and runs of everything else; a run
///    of newlines that is a vocabulary entry is emitted whole.
/// 4. Symbols start as one per Unicode scalar. Repeatedly the best adjacent pair is merged: by
///    score, the pair whose concatenation is a vocabulary entry with the highest
///    `tokenizer.ggml.scores` value; by rank, the pair with the lowest merge rank. Ties go to the
///    leftmost pair (a max-heap on (priority, −left index)). Candidates made stale by an earlier
///    merge are skipped (their symbols changed size).
/// 5. Each final symbol becomes its vocabulary id; a symbol that is not an entry (in score mode
///    only ever an unmerged scalar, since a pair merges only into an entry, so llama.cpp's
///    `resegment` re-split never applies) becomes one `<0xXX>` token per UTF-8 byte.
///
/// Steps 4–5 run on space-boundary chunks rather than on the whole fragment, with the same
/// result: a fragment is cut before every `▁` whose preceding scalar `p` can never be joined to a
/// following `▁` by this vocabulary. By scores a merge always makes a vocabulary entry, so a
/// symbol could cross the cut only if some entry contains `p▁`; by ranks the first symbol to cross
/// it would come from a rule whose left part ends with `p` and whose right part starts with `▁`.
/// `init` collects every such `p` from the entries (scores) or the rules (ranks); at any other cut
/// no merge can cross, and merges on either side never change the candidates on the other, so
/// each chunk merges exactly as it would inside the whole fragment (the heap's leftmost tie rule
/// only orders merges of different chunks against each other). Chunks of up to 64 bytes are
/// cached (`WordCache`), so a repeated word is merged once. `encodeReference` keeps the
/// whole-fragment path, which the tests compare against.
///
/// Decoding: `▁` → space, `<0xXX>` → that byte, other pieces as their UTF-8 text. With
/// `addsSpacePrefix` one leading space is removed from the first non-special token's piece, so
/// `decode(encode(s)) == s` for text without added tokens (Llama 2, Phi-3); otherwise (Gemma) the
/// bytes come back exactly.
public final class SentencePieceTokenizer: Tokenizer, @unchecked Sendable {
    /// How adjacent symbols are ranked for merging.
    public enum MergePriority: Sendable {
        /// By the vocabulary score of the merged piece (highest first).
        case scores([Float])
        /// By merge rank (`"left right"` rules, first = best).
        case mergeRanks([String])
    }

    public let vocabularySize: Int
    public let bosID: Int?
    public let eosID: Int?
    public let unknownID: Int?
    public let paddingID: Int?
    public let addsBOS: Bool
    public let addsEOS: Bool
    /// Whether a space is prepended to each text fragment (`add_space_prefix`).
    public let addsSpacePrefix: Bool
    /// GGUF token types (1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte).
    public let tokenTypes: [Int]

    private let pieces: [String]
    private let idForPiece: [ArraySlice<UInt8>: Int32]
    /// `idForPiece` as a byte-string table, for the encoder's inner loop.
    private let pieceTable: ByteStringTable
    private let scores: [Float]
    /// (left id, right id) → rank, rank mode only.
    private let ranks: [UInt64: Int32]
    private let usesRanks: Bool
    private let byteTokens: [Int32]
    private let decodeArena: [UInt8]
    private let decodeOffsets: [Int32]
    private let specialIDs: Set<Int>
    private let allMatcher: AddedTokenMatcher
    private let userMatcher: AddedTokenMatcher
    /// Scalars (UTF-8 bytes packed little-endian, `packedScalar`) that a merge may join to a
    /// following `▁`: no chunk cut is made after them. ASCII scalars are looked up in the table.
    private let joinsBeforeSpace: Set<UInt32>
    private let asciiJoinsBeforeSpace: [Bool]

    private let cacheLock = NSLock()
    private var sharedCache = WordCache()

    /// Builds a tokenizer from GGUF-style arrays.
    ///
    /// - Throws: `TokenizerError.invalidVocabulary` when the arrays disagree in length or a special
    ///   id is outside the vocabulary; `.mergeTokenMissing` / `.malformedMerge` for a bad rule.
    public init(pieces: [String], tokenTypes: [Int]?, priority: MergePriority, addsSpacePrefix: Bool,
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
        self.tokenTypes = types
        self.bosID = bosID
        self.eosID = eosID
        self.unknownID = unknownID
        self.paddingID = paddingID
        self.addsBOS = addsBOS
        self.addsEOS = addsEOS
        self.addsSpacePrefix = addsSpacePrefix

        var lookup: [ArraySlice<UInt8>: Int32] = [:]
        lookup.reserveCapacity(pieces.count)
        for (id, piece) in pieces.enumerated() { lookup[ArraySlice(piece.utf8)] = Int32(id) }  // later ids win
        idForPiece = lookup
        pieceTable = ByteStringTable(pieces.map { Array($0.utf8) })

        var bytesTable = [Int32](repeating: -1, count: 256)
        for byte in 0..<256 {
            if let id = lookup[ArraySlice(SentencePieceTokenizer.byteTokenName(UInt8(byte)).utf8)] {
                bytesTable[byte] = id
            } else if byte < 0x80, let id = lookup[[UInt8(byte)]] {
                bytesTable[byte] = id
            }
        }
        byteTokens = bytesTable

        switch priority {
        case .scores(let values):
            guard values.count == pieces.count else {
                throw TokenizerError.invalidVocabulary("\(values.count) scores for \(pieces.count) tokens")
            }
            scores = values
            ranks = [:]
            usesRanks = false
        case .mergeRanks(let rules):
            var table: [UInt64: Int32] = [:]
            table.reserveCapacity(rules.count)
            for (rank, rule) in rules.enumerated() {
                let utf8 = Array(rule.utf8)
                // The first space at index ≥ 1 separates the parts (llama.cpp `find(' ', 1)`).
                guard utf8.count >= 3, let space = utf8[1...].firstIndex(of: 0x20), space < utf8.count - 1 else {
                    throw TokenizerError.malformedMerge(index: rank, text: rule)
                }
                let left = utf8[..<space], right = utf8[(space + 1)...]
                guard let l = lookup[left] else {
                    throw TokenizerError.mergeTokenMissing(merge: rule, missing: String(decoding: left, as: UTF8.self))
                }
                guard let r = lookup[right] else {
                    throw TokenizerError.mergeTokenMissing(merge: rule, missing: String(decoding: right, as: UTF8.self))
                }
                let key = UInt64(UInt32(l)) << 32 | UInt64(UInt32(r))
                if table[key] == nil { table[key] = Int32(rank) }
            }
            scores = []
            ranks = table
            usesRanks = true
        }
        let joining = SentencePieceTokenizer.scalarsJoiningSpace(pieces: pieces, priority: priority)
        joinsBeforeSpace = joining
        asciiJoinsBeforeSpace = (0..<128).map { joining.contains(UInt32($0)) }

        var arena: [UInt8] = []
        var offsets: [Int32] = [0]
        offsets.reserveCapacity(pieces.count + 1)
        var specials = Set<Int>()
        var added: [AddedToken] = []
        for (id, piece) in pieces.enumerated() {
            switch types[id] {
            case 6:
                if let byte = BPETokenizer.byteFallbackValue(piece) { arena.append(byte) } else { arena.append(contentsOf: piece.utf8) }
            case 2, 3:
                arena.append(contentsOf: piece.utf8)
                specials.insert(id)
                added.append(AddedToken(id: id, content: piece, isSpecial: true))
            case 4:
                arena.append(contentsOf: SentencePieceTokenizer.unescape(piece))
                added.append(AddedToken(id: id, content: String(decoding: SentencePieceTokenizer.unescape(piece), as: UTF8.self),
                                        isSpecial: false))
            default:
                arena.append(contentsOf: SentencePieceTokenizer.unescape(piece))
            }
            offsets.append(Int32(arena.count))
        }
        decodeArena = arena
        decodeOffsets = offsets
        specialIDs = specials
        allMatcher = AddedTokenMatcher(added)
        userMatcher = AddedTokenMatcher(added.filter { !$0.isSpecial })
    }

    /// Every scalar `p` for which the vocabulary can join `p` to a following `▁`: by scores, `p`
    /// followed by `▁` inside some entry; by ranks, `p` ending the left part of a rule whose right
    /// part starts with `▁`.
    static func scalarsJoiningSpace(pieces: [String], priority: MergePriority) -> Set<UInt32> {
        let space = packedScalar(Array("\u{2581}".utf8), 0, 3)
        var result = Set<UInt32>()
        func scalars(_ utf8: [UInt8]) -> [UInt32] {
            var out: [UInt32] = []
            var i = 0
            while i < utf8.count {
                let length = min(scalarLength(utf8[i]), utf8.count - i)
                out.append(packedScalar(utf8, i, length))
                i += length
            }
            return out
        }
        switch priority {
        case .scores:
            for piece in pieces where piece.utf8.count >= 4 {
                let s = scalars(Array(piece.utf8))
                for i in 1..<max(s.count, 1) where s[i] == space { result.insert(s[i - 1]) }
            }
        case .mergeRanks(let rules):
            for rule in rules {
                let utf8 = Array(rule.utf8)
                guard utf8.count >= 3, let cut = utf8[1...].firstIndex(of: 0x20), cut < utf8.count - 1 else { continue }
                let left = scalars(Array(utf8[..<cut])), right = scalars(Array(utf8[(cut + 1)...]))
                if right.first == space, let last = left.last { result.insert(last) }
            }
        }
        return result
    }

    /// The UTF-8 bytes `bytes[start..<start+length]` (one scalar, 1–4 bytes) packed little-endian.
    @inline(__always)
    static func packedScalar<C: RandomAccessCollection>(_ bytes: C, _ start: Int, _ length: Int) -> UInt32 where C.Element == UInt8, C.Index == Int {
        var value: UInt32 = 0
        for k in 0..<length { value |= UInt32(bytes[start + k]) << (8 * UInt32(k)) }
        return value
    }

    /// `<0xXX>`, uppercase hex: the byte-fallback piece of `byte`.
    static func byteTokenName(_ byte: UInt8) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        return String(decoding: [UInt8(ascii: "<"), UInt8(ascii: "0"), UInt8(ascii: "x"), hex[Int(byte >> 4)],
                                 hex[Int(byte & 15)], UInt8(ascii: ">")], as: UTF8.self)
    }

    /// The UTF-8 bytes of a piece with every `▁` (E2 96 81) replaced by a space.
    static func unescape(_ piece: String) -> [UInt8] {
        let utf8 = Array(piece.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(utf8.count)
        var i = 0
        while i < utf8.count {
            if i + 2 < utf8.count, utf8[i] == 0xE2, utf8[i + 1] == 0x96, utf8[i + 2] == 0x81 {
                out.append(0x20); i += 3
            } else {
                out.append(utf8[i]); i += 1
            }
        }
        return out
    }

    // MARK: - Encoding

    public func encode(_ text: String, parseSpecialTokens: Bool) -> [Int] {
        if cacheLock.try() {
            defer { cacheLock.unlock() }
            return encode(text, parseSpecialTokens: parseSpecialTokens, chunked: true, cache: &sharedCache)
        }
        var cache = WordCache()
        return encode(text, parseSpecialTokens: parseSpecialTokens, chunked: true, cache: &cache)
    }

    /// `encode` with steps 4–5 on each whole fragment (no chunks, no cache): the reference the
    /// chunked path is tested against.
    public func encodeReference(_ text: String, parseSpecialTokens: Bool) -> [Int] {
        var cache = WordCache()
        return encode(text, parseSpecialTokens: parseSpecialTokens, chunked: false, cache: &cache)
    }

    /// Empties the shared chunk cache (used by benchmarks that measure a cold start).
    public func clearCache() {
        cacheLock.lock()
        sharedCache = WordCache()
        cacheLock.unlock()
    }

    private func encode(_ text: String, parseSpecialTokens: Bool, chunked: Bool, cache: inout WordCache) -> [Int] {
        var output: [Int] = []
        var text = text
        text.withUTF8 { bytes in
            var segments: [TextSegment] = []
            (parseSpecialTokens ? allMatcher : userMatcher).split(bytes, 0..<bytes.count, into: &segments)
            var previousWasToken = true
            var buffer: [UInt8] = []
            for segment in segments {
                switch segment {
                case .token(let id):
                    output.append(id)
                    previousWasToken = true
                case .text(let range):
                    // At most three bytes per input byte (a space becomes E2 96 81), plus the prefix.
                    let prefix = addsSpacePrefix && previousWasToken
                    let capacity = 3 * range.count + 3
                    if buffer.count < capacity { buffer = [UInt8](repeating: 0, count: capacity) }
                    let used = buffer.withUnsafeMutableBufferPointer { out -> Int in
                        var n = 0
                        func space() { out[n] = 0xE2; out[n + 1] = 0x96; out[n + 2] = 0x81; n += 3 }
                        if prefix { space() }
                        for i in range {
                            let byte = bytes[i]
                            if byte == 0x20 { space() } else { out[n] = byte; n += 1 }
                        }
                        return n
                    }
                    buffer.withUnsafeBufferPointer {
                        encodeFragment(UnsafeBufferPointer(rebasing: $0[..<used]), chunked: chunked, cache: &cache, into: &output)
                    }
                    previousWasToken = false
                }
            }
        }
        return output
    }

    private func encodeFragment(_ text: UnsafeBufferPointer<UInt8>, chunked: Bool, cache: inout WordCache, into output: inout [Int]) {
        if !usesRanks {
            if chunked { encodeChunks(text, 0..<text.count, cache: &cache, into: &output) } else { mergeWord(text, 0..<text.count, into: &output) }
            return
        }
        // Rank mode: runs of "\n" and runs of anything else (`[^\n]+|[\n]+`).
        var start = 0
        while start < text.count {
            let isNewline = text[start] == 0x0A
            var end = start + 1
            while end < text.count && (text[end] == 0x0A) == isNewline { end += 1 }
            if isNewline, let id = pieceTable.id(text.baseAddress! + start, end - start) {
                output.append(Int(id))
            } else if chunked {
                encodeChunks(text, start..<end, cache: &cache, into: &output)
            } else {
                mergeWord(text, start..<end, into: &output)
            }
            start = end
        }
    }

    /// Steps 4–5 on `text[range]` cut into space-boundary chunks (see the type's documentation).
    private func encodeChunks(_ text: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, cache: inout WordCache, into output: inout [Int]) {
        var chunkStart = range.lowerBound
        var p = range.lowerBound
        var previous: UInt32 = 0
        while p < range.upperBound {
            let length = min(SentencePieceTokenizer.scalarLength(text[p]), range.upperBound - p)
            if length == 3 && p > chunkStart && text[p] == 0xE2 && text[p + 1] == 0x96 && text[p + 2] == 0x81 {
                let joins = previous < 128 ? asciiJoinsBeforeSpace[Int(previous)] : joinsBeforeSpace.contains(previous)
                if !joins {
                    encodeChunk(text, chunkStart..<p, cache: &cache, into: &output)
                    chunkStart = p
                }
            }
            previous = SentencePieceTokenizer.packedScalar(text, p, length)
            p += length
        }
        if chunkStart < range.upperBound { encodeChunk(text, chunkStart..<range.upperBound, cache: &cache, into: &output) }
    }

    /// One chunk, merged or taken from `cache` (chunks of up to 64 bytes are cached).
    private func encodeChunk(_ text: UnsafeBufferPointer<UInt8>, _ chunk: Range<Int>, cache: inout WordCache, into output: inout [Int]) {
        guard chunk.count <= WordCache.maximumWordBytes else { return mergeWord(text, chunk, into: &output) }
        let word = UnsafeBufferPointer(rebasing: text[chunk])
        let hash = WordCache.hash(word)
        if cache.appendCached(word, hash: hash, to: &output) { return }
        let before = output.count
        mergeWord(text, chunk, into: &output)
        cache.insert(word, hash: hash, ids: output[before...])
    }

    private struct Symbol {
        var start: Int
        var length: Int
        var previous: Int
        var next: Int
    }

    private struct Candidate {
        var priority: Float
        var left: Int
        var size: Int
        /// Whether `self` is popped before `other`: higher priority, then smaller left index.
        func precedes(_ other: Candidate) -> Bool {
            priority > other.priority || (priority == other.priority && left < other.left)
        }
    }

    private func mergeWord(_ text: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, into output: inout [Int]) {
        if range.isEmpty { return }
        let base = text.baseAddress
        func lookup(_ start: Int, _ count: Int) -> Int32? { pieceTable.id(base.map { $0 + start }, count) }
        var symbols: [Symbol] = []
        var p = range.lowerBound
        while p < range.upperBound {
            let length = min(SentencePieceTokenizer.scalarLength(text[p]), range.upperBound - p)
            symbols.append(Symbol(start: p, length: length, previous: symbols.count - 1, next: symbols.count + 1))
            p += length
        }
        symbols[symbols.count - 1].next = -1
        var heap: [Candidate] = []
        heap.reserveCapacity(2 * symbols.count)

        func push(_ left: Int, _ right: Int) {
            if left < 0 || right < 0 { return }
            let start = symbols[left].start
            let size = symbols[left].length + symbols[right].length
            let priority: Float
            if usesRanks {
                guard let l = lookup(start, symbols[left].length),
                      let r = lookup(symbols[right].start, symbols[right].length),
                      let rank = ranks[UInt64(UInt32(l)) << 32 | UInt64(UInt32(r))] else { return }
                priority = -Float(rank)
            } else {
                guard let id = lookup(start, size) else { return }
                priority = scores[Int(id)]
            }
            heapPush(&heap, Candidate(priority: priority, left: left, size: size))
            _ = right
        }

        for i in 1..<symbols.count { push(i - 1, i) }
        while let candidate = heapPop(&heap) {
            let left = candidate.left
            let right = symbols[left].next
            if symbols[left].length == 0 || right < 0 || symbols[right].length == 0
                || symbols[left].length + symbols[right].length != candidate.size { continue }
            symbols[left].length += symbols[right].length
            symbols[right].length = 0
            symbols[left].next = symbols[right].next
            if symbols[right].next >= 0 { symbols[symbols[right].next].previous = left }
            push(symbols[left].previous, left)
            push(left, symbols[left].next)
        }

        // llama.cpp's `resegment` also splits a final symbol back along its `rev_merge` entry
        // when it is not a piece; here that never happens, so there is no reverse-merge map: by
        // scores a pair merges only when its concatenation is a piece (checked in `push`, and a
        // popped candidate's bytes are those checked), so every final symbol is a piece or one
        // unmerged scalar; by ranks llama.cpp's BPE session has no re-split either. What is left
        // is byte fallback for a scalar (or a rank-merged symbol) that is not a piece.
        func resegment(_ start: Int, _ length: Int) {
            if let id = lookup(start, length) {
                output.append(Int(id))
                return
            }
            for byte in text[start..<(start + length)] {
                let id = byteTokens[Int(byte)]
                if id >= 0 { output.append(Int(id)) } else if let unknownID { output.append(unknownID) }
            }
        }
        var i = 0
        while i >= 0 {
            resegment(symbols[i].start, symbols[i].length)
            i = symbols[i].next
        }
    }

    /// Bytes of the UTF-8 sequence a lead byte starts (1 for a continuation or invalid byte).
    static func scalarLength(_ lead: UInt8) -> Int {
        lead < 0xC0 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4
    }

    private func heapPush(_ heap: inout [Candidate], _ element: Candidate) {
        heap.append(element)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            if !heap[child].precedes(heap[parent]) { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private func heapPop(_ heap: inout [Candidate]) -> Candidate? {
        guard let top = heap.first else { return nil }
        let last = heap.removeLast()
        if heap.isEmpty { return top }
        heap[0] = last
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var best = parent
            if left < heap.count && heap[left].precedes(heap[best]) { best = left }
            if right < heap.count && heap[right].precedes(heap[best]) { best = right }
            if best == parent { break }
            heap.swapAt(parent, best)
            parent = best
        }
        return top
    }

    // MARK: - Decoding

    public func appendBytes(of id: Int, skipSpecialTokens: Bool, to bytes: inout [UInt8]) throws {
        guard id >= 0, id < vocabularySize else {
            throw TokenizerError.tokenIDOutOfRange(id: id, vocabularySize: vocabularySize)
        }
        if skipSpecialTokens && specialIDs.contains(id) { return }
        bytes.append(contentsOf: decodeArena[Int(decodeOffsets[id])..<Int(decodeOffsets[id + 1])])
    }

    public func decodeBytes(_ ids: [Int], skipSpecialTokens: Bool) throws -> [UInt8] {
        var bytes: [UInt8] = []
        var stripPending = addsSpacePrefix
        for id in ids {
            let before = bytes.count
            try appendBytes(of: id, skipSpecialTokens: skipSpecialTokens, to: &bytes)
            if stripPending && !specialIDs.contains(id) && bytes.count > before {
                if bytes[before] == 0x20 { bytes.remove(at: before) }
                stripPending = false
            }
        }
        return bytes
    }

    public func tokenString(for id: Int) throws -> String {
        guard id >= 0, id < vocabularySize else {
            throw TokenizerError.tokenIDOutOfRange(id: id, vocabularySize: vocabularySize)
        }
        return pieces[id]
    }

    public func tokenID(for tokenString: String) -> Int? {
        idForPiece[ArraySlice(tokenString.utf8)].map(Int.init)
    }

    public func isSpecial(_ id: Int) -> Bool { specialIDs.contains(id) }
}

/// A token matched in raw input text before BPE runs (Hugging Face "added tokens"): chat
/// markers such as `<|im_start|>`, `<|endoftext|>`, and any user-added vocabulary.
public struct AddedToken: Sendable, Equatable {
    public var id: Int
    public var content: String
    /// Special tokens can be excluded from matching with `parseSpecialTokens: false`.
    public var isSpecial: Bool
    /// Matched in normalized text (after the non-normalized tokens), as `tokenizers` does for
    /// `normalized: true`. GGUF tokens are never normalized.
    public var isNormalized: Bool

    public init(id: Int, content: String, isSpecial: Bool = true, isNormalized: Bool = false) {
        self.id = id
        self.content = content
        self.isSpecial = isSpecial
        self.isNormalized = isNormalized
    }
}

/// A piece of input text: either plain text (a byte range) or one added token.
enum TextSegment: Equatable {
    case text(Range<Int>)
    case token(Int)
}

/// Finds added tokens in text with leftmost-longest semantics (the `aho-corasick`
/// `LeftmostLongest` match kind `tokenizers` uses): scanning left to right, the first position
/// where any token matches wins, and there the longest token wins.
struct AddedTokenMatcher: Sendable {
    /// Candidates per first byte, longest first.
    private var candidates: [[(bytes: [UInt8], id: Int)]]
    private var startsToken: [Bool]
    let isEmpty: Bool

    init(_ tokens: [AddedToken]) {
        candidates = Array(repeating: [], count: 256)
        startsToken = Array(repeating: false, count: 256)
        var any = false
        for token in tokens where !token.content.isEmpty {
            let bytes = Array(token.content.utf8)
            candidates[Int(bytes[0])].append((bytes, token.id))
            startsToken[Int(bytes[0])] = true
            any = true
        }
        for i in 0..<256 {
            // Longest first; equal content cannot occur twice with different ids (last wins).
            candidates[i].sort { $0.bytes.count > $1.bytes.count || ($0.bytes.count == $1.bytes.count && $0.id > $1.id) }
        }
        isEmpty = !any
    }

    /// Splits `bytes[range]` into text and token segments, appending them to `segments`.
    func split(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, into segments: inout [TextSegment]) {
        if isEmpty {
            if !range.isEmpty { segments.append(.text(range)) }
            return
        }
        var textStart = range.lowerBound
        var p = range.lowerBound
        let end = range.upperBound
        while p < end {
            if startsToken[Int(bytes[p])] {
                var matched: (length: Int, id: Int)? = nil
                for candidate in candidates[Int(bytes[p])] where candidate.bytes.count <= end - p {
                    var equal = true
                    for k in 1..<candidate.bytes.count where bytes[p + k] != candidate.bytes[k] {
                        equal = false
                        break
                    }
                    if equal {
                        matched = (candidate.bytes.count, candidate.id)
                        break
                    }
                }
                if let matched {
                    if textStart < p { segments.append(.text(textStart..<p)) }
                    segments.append(.token(matched.id))
                    p += matched.length
                    textStart = p
                    continue
                }
            }
            p += 1
        }
        if textStart < end { segments.append(.text(textStart..<end)) }
    }
}

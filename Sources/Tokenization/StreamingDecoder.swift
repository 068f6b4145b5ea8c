/// Turns a stream of token ids into text that is always safe to print.
///
/// A token can end in the middle of a UTF-8 sequence (byte-level BPE splits multi-byte
/// characters such as emoji across tokens). The decoder holds back a trailing sequence that is
/// incomplete but could still become valid, and releases it once the next bytes complete it.
/// Everything else is released immediately, with invalid bytes replaced by U+FFFD exactly as
/// `BPETokenizer.decode` would replace them.
///
/// Invariant (tested): the concatenation of every `append` result and `finish()` equals
/// `decode` of all ids, so a stream never prints a U+FFFD that the full text does not contain.
/// The cut is always placed at a lead byte, where a lossy UTF-8 decoder is at a sequence
/// boundary, which is why decoding the pieces separately gives the same text.
public struct StreamingDecoder: Sendable {
    private let tokenizer: any Tokenizer
    private let skipSpecialTokens: Bool
    private var pending: [UInt8] = []

    init(tokenizer: any Tokenizer, skipSpecialTokens: Bool) {
        self.tokenizer = tokenizer
        self.skipSpecialTokens = skipSpecialTokens
    }

    /// Adds one token and returns the text that became printable ("" when the token only
    /// extends a held-back incomplete character).
    public mutating func append(_ id: Int) throws -> String {
        try tokenizer.appendBytes(of: id, skipSpecialTokens: skipSpecialTokens, to: &pending)
        let cut = StreamingDecoder.completePrefixLength(pending)
        if cut == 0 { return "" }
        let text = String(decoding: pending[0..<cut], as: UTF8.self)
        pending.removeFirst(cut)
        return text
    }

    /// Adds several tokens; returns the text that became printable.
    public mutating func append(contentsOf ids: [Int]) throws -> String {
        var text = ""
        for id in ids { text += try append(id) }
        return text
    }

    /// Releases whatever is held back (an incomplete sequence becomes U+FFFD, as in `decode`).
    public mutating func finish() -> String {
        let text = String(decoding: pending, as: UTF8.self)
        pending.removeAll()
        return text
    }

    /// Bytes currently held back (at most 3).
    public var heldBackByteCount: Int { pending.count }

    /// Length of the longest prefix of `bytes` that can be decoded now: everything except a
    /// final sequence that is a valid but incomplete prefix of a scalar (checked with the same
    /// second-byte ranges as the UTF-8 definition: E0 A0–BF, ED 80–9F, F0 90–BF, F4 80–8F).
    static func completePrefixLength(_ bytes: [UInt8]) -> Int {
        let n = bytes.count
        var start = n - 1
        // Find the last lead byte within the final 3 bytes.
        while start >= 0 && start >= n - 3 {
            let b = bytes[start]
            if b & 0xC0 != 0x80 { break }
            start -= 1
        }
        guard start >= 0, start >= n - 3 else { return n }
        let lead = bytes[start]
        let needed: Int
        switch lead {
        case 0xC2...0xDF: needed = 2
        case 0xE0...0xEF: needed = 3
        case 0xF0...0xF4: needed = 4
        default: return n  // ASCII or an invalid lead byte: nothing to wait for
        }
        let have = n - start
        if have >= needed { return n }
        if have >= 2 {
            let second = bytes[start + 1]
            let valid: Bool
            switch lead {
            case 0xE0: valid = (0xA0...0xBF).contains(second)
            case 0xED: valid = (0x80...0x9F).contains(second)
            case 0xF0: valid = (0x90...0xBF).contains(second)
            case 0xF4: valid = (0x80...0x8F).contains(second)
            default: valid = (0x80...0xBF).contains(second)
            }
            if !valid { return n }
        }
        return start
    }
}

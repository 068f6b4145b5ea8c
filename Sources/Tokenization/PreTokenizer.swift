/// Splits text into the "words" that BPE merges never cross, exactly like Hugging Face's
/// pre-tokenizers for the byte-level BPE family: `ByteLevel` (GPT-2 pattern), optionally preceded
/// by `Digits(individual_digits: true)` (SmolLM), or `Split` with the Llama-3 or Qwen2 pattern.
///
/// The patterns are implemented by hand over Unicode scalars, not with a regex engine. At each
/// position the first alternative that matches wins. For GPT-2,
///
///     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
///
/// works out to:
///
/// 1. `'` followed by `s`, `t`, `m`, `d`, `re`, `ve` or `ll` (lowercase only) is a word.
/// 2. Otherwise, one optional U+0020 SPACE followed by a maximal run of letters (`\p{L}`), of
///    numbers (`\p{N}`) or of "other" scalars (neither letter, number nor whitespace).
/// 3. Otherwise we are on whitespace (`\s` = the Unicode White_Space property). A run reaching
///    the end of the text is one word. A run of two or more followed by text gives all but its
///    last scalar (`\s+(?!\S)` backtracks one step); that last scalar then starts the next word
///    (a U+0020 joins the following word by rule 2, any other whitespace is a word by itself).
///
/// Llama-3 (Qwen2 is the same with `\p{N}` instead of `\p{N}{1,3}`):
///
///     (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
///
/// 1. Contractions in any case (`'S`, `'LL`; `ſ` case-folds to `s`, as in Oniguruma).
/// 2. One optional scalar that is not CR, LF, a letter or a number, then a run of letters.
/// 3. One to three numbers (Qwen2: one).
/// 4. Optional space, a run of "other" scalars, then any CR/LF scalars.
/// 5. On whitespace: up to and including the last CR or LF of the run, if it has one;
///    otherwise as GPT-2 rule 3.
///
/// Letters are general categories Lu, Ll, Lt, Lm, Lo; numbers Nd, Nl, No; both from
/// `Unicode.Scalar.Properties` of the Swift runtime, limited to scalars assigned by Unicode 16.0
/// (the peer's tables; see `ScalarClass.newestUnicodeVersion`). A test checks every scalar.
public struct PreTokenizer: Sendable, Equatable {
    /// The split pattern applied to each piece.
    public enum Pattern: Sendable, Equatable {
        /// GPT-2's pattern (`ByteLevel(use_regex: true)`).
        case gpt2
        /// Llama-3's `Split` pattern (numbers in groups of up to 3).
        case llama3
        /// Qwen2's `Split` pattern (single numbers).
        case qwen2
        /// No split: each segment between added tokens is one word (`ByteLevel(use_regex: false)`).
        case none
        /// Qwen 3.5's pattern: Qwen2's with marks (`\p{M}`) joining letter runs (`SplitRule`).
        case qwen35
        /// Falcon's rules: punctuation runs, then GPT-2, then ASCII digit triples (`SplitRule`).
        case falcon
        /// DeepSeek Coder's five rules (`SplitRule`).
        case deepseekCoder
        /// DeepSeek LLM's six rules (`SplitRule`).
        case deepseekLLM

        /// The split rules of a rule-list pattern, in order (nil for the single-pattern cases).
        var rules: [SplitRule]? {
            switch self {
            case .falcon: return [.falconPunctuation, .gpt2, .asciiDigitTriples]
            case .deepseekCoder: return [.lineBreaks, .whitespaceThenLetters, .whitespaceThenPunctuation, .cjkRuns, .eachNumber]
            case .deepseekLLM:
                return [.lineBreaks, .whitespaceThenDeepSeekLetters, .whitespaceThenDeepSeekPunctuation, .trailingWhitespace,
                        .cjkRuns, .numberRuns]
            default: return nil
            }
        }
    }

    /// Whether every `\p{N}` scalar is first split off as its own piece (Hugging Face
    /// `Digits(individual_digits: true)` before `ByteLevel`, as in SmolLM's tokenizer.json and
    /// llama.cpp's "smollm" pre-tokenizer).
    public var isolatesDigits: Bool
    public var pattern: Pattern

    public init(isolatesDigits: Bool = false, pattern: Pattern = .gpt2) {
        self.isolatesDigits = isolatesDigits
        self.pattern = pattern
    }

    /// `ByteLevel(add_prefix_space: false, use_regex: true)`: GPT-2, and what transformers builds
    /// for every byte-level GGUF it loads (including SmolLM2's).
    public static let gpt2 = PreTokenizer()
    /// `Sequence[Digits(individual_digits: true), ByteLevel(...)]`: SmolLM/SmolLM2's
    /// tokenizer.json and llama.cpp's `tokenizer.ggml.pre = "smollm"`.
    public static let smolLM = PreTokenizer(isolatesDigits: true)
    /// `Sequence[Split(llama-3 pattern), ByteLevel(use_regex: false)]`.
    public static let llama3 = PreTokenizer(pattern: .llama3)
    /// `Sequence[Split(qwen2 pattern), ByteLevel(use_regex: false)]`.
    public static let qwen2 = PreTokenizer(pattern: .qwen2)

    /// The exact regex strings of the Split patterns, as they appear in tokenizer.json.
    public static let llama3PatternSource = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    public static let qwen2PatternSource = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// The words of `text` (for inspection and tests; encoding uses byte offsets directly).
    public func split(_ text: String) -> [String] {
        var text = text
        return text.withUTF8 { bytes -> [String] in
            var scratch = PreTokenizerScratch()
            var ends: [Int32] = []
            split(bytes, 0..<bytes.count, scratch: &scratch, ends: &ends)
            var words: [String] = []
            var start = 0
            for end in ends {
                words.append(String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<Int(end)]), as: UTF8.self))
                start = Int(end)
            }
            return words
        }
    }

    /// Appends to `ends` the end byte offset of every word of `bytes[range]`; words are
    /// contiguous and the first starts at `range.lowerBound`. `bytes` must be valid UTF-8 and
    /// `range` must fall on scalar boundaries.
    func split(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, scratch: inout PreTokenizerScratch,
               ends: inout [Int32]) {
        if range.isEmpty { return }
        if pattern == .none && !isolatesDigits {
            ends.append(Int32(range.upperBound))
            return
        }
        scratch.load(bytes, range)
        if pattern == .qwen35 || pattern.rules != nil {
            splitByRules(bytes, scratch: &scratch, ends: &ends)
            return
        }
        let count = scratch.classes.count
        scratch.classes.withUnsafeBufferPointer { classes in
            scratch.offsets.withUnsafeBufferPointer { offsets in
                if !isolatesDigits {
                    splitPiece(bytes, classes, offsets, 0, count, &ends)
                    return
                }
                var pieceStart = 0
                for i in 0..<count where classes[i] == ScalarClass.number {
                    if pieceStart < i { splitPiece(bytes, classes, offsets, pieceStart, i, &ends) }
                    ends.append(offsets[i + 1])
                    pieceStart = i + 1
                }
                if pieceStart < count { splitPiece(bytes, classes, offsets, pieceStart, count, &ends) }
            }
        }
    }

    private func splitPiece(_ bytes: UnsafeBufferPointer<UInt8>, _ classes: UnsafeBufferPointer<UInt8>,
                            _ offsets: UnsafeBufferPointer<Int32>, _ lo: Int, _ hi: Int, _ ends: inout [Int32]) {
        switch pattern {
        case .gpt2: PreTokenizer.splitGPT2(bytes, classes, offsets, lo, hi, &ends)
        case .llama3: PreTokenizer.splitLlama3(bytes, classes, offsets, lo, hi, maximumNumbers: 3, &ends)
        case .qwen2: PreTokenizer.splitLlama3(bytes, classes, offsets, lo, hi, maximumNumbers: 1, &ends)
        case .none: ends.append(offsets[hi])
        case .qwen35, .falcon, .deepseekCoder, .deepseekLLM: ends.append(offsets[hi])  // split by `splitByRules`
        }
    }

    /// The GPT-2 pattern over scalars `lo..<hi` (classes and byte offsets precomputed).
    @inline(__always)
    static func splitGPT2(_ bytes: UnsafeBufferPointer<UInt8>, _ classes: UnsafeBufferPointer<UInt8>,
                          _ offsets: UnsafeBufferPointer<Int32>, _ lo: Int, _ hi: Int, _ ends: inout [Int32]) {
        var i = lo
        while i < hi {
            let c = classes[i]
            // Rule 1: contractions. `'` and the letters are ASCII, so one scalar is one byte.
            if c == ScalarClass.other && bytes[Int(offsets[i])] == UInt8(ascii: "'") && i + 1 < hi {
                let b1 = bytes[Int(offsets[i + 1])]
                if b1 == UInt8(ascii: "s") || b1 == UInt8(ascii: "t") || b1 == UInt8(ascii: "m") || b1 == UInt8(ascii: "d") {
                    i += 2; ends.append(offsets[i]); continue
                }
                if i + 2 < hi {
                    let b2 = bytes[Int(offsets[i + 2])]
                    if (b1 == UInt8(ascii: "r") && b2 == UInt8(ascii: "e")) || (b1 == UInt8(ascii: "v") && b2 == UInt8(ascii: "e"))
                        || (b1 == UInt8(ascii: "l") && b2 == UInt8(ascii: "l")) {
                        i += 3; ends.append(offsets[i]); continue
                    }
                }
            }
            // Rule 2: optional space, then a run of letters, numbers or "other".
            var runStart = i
            var runClass = c
            if c == ScalarClass.space && i + 1 < hi && classes[i + 1] < ScalarClass.whitespace {
                runStart = i + 1
                runClass = classes[i + 1]
            }
            if runClass < ScalarClass.whitespace {
                var j = runStart + 1
                while j < hi && classes[j] == runClass { j += 1 }
                i = j
                ends.append(offsets[i])
                continue
            }
            // Rule 3: whitespace run.
            var j = i + 1
            while j < hi && classes[j] >= ScalarClass.whitespace { j += 1 }
            if j == hi {
                i = hi
            } else if j - i >= 2 {
                i = j - 1
            } else {
                i = j
            }
            ends.append(offsets[i])
        }
    }
}

extension PreTokenizer {
    /// The Llama-3 / Qwen2 pattern over scalars `lo..<hi`.
    static func splitLlama3(_ bytes: UnsafeBufferPointer<UInt8>, _ classes: UnsafeBufferPointer<UInt8>,
                            _ offsets: UnsafeBufferPointer<Int32>, _ lo: Int, _ hi: Int, maximumNumbers: Int,
                            _ ends: inout [Int32]) {
        /// The scalar at `i` when it is CR or LF.
        func isLineBreak(_ i: Int) -> Bool {
            let b = bytes[Int(offsets[i])]
            return b == 0x0A || b == 0x0D
        }
        /// Lowercased ASCII letter at scalar `i` (ſ U+017F case-folds to s), or 0.
        func folded(_ i: Int) -> UInt8 {
            let start = Int(offsets[i])
            let b = bytes[start]
            if b < 0x80 { return b | 0x20 }
            if b == 0xC5 && bytes[start + 1] == 0xBF { return UInt8(ascii: "s") }
            return 0
        }
        var i = lo
        while i < hi {
            let c = classes[i]
            // 1. Contractions, case-insensitive.
            if c == ScalarClass.other && bytes[Int(offsets[i])] == UInt8(ascii: "'") && i + 1 < hi {
                let f1 = folded(i + 1)
                if f1 == UInt8(ascii: "s") || f1 == UInt8(ascii: "t") || f1 == UInt8(ascii: "m") || f1 == UInt8(ascii: "d") {
                    i += 2; ends.append(offsets[i]); continue
                }
                if i + 2 < hi {
                    let f2 = folded(i + 2)
                    if (f1 == UInt8(ascii: "r") && f2 == UInt8(ascii: "e")) || (f1 == UInt8(ascii: "v") && f2 == UInt8(ascii: "e"))
                        || (f1 == UInt8(ascii: "l") && f2 == UInt8(ascii: "l")) {
                        i += 3; ends.append(offsets[i]); continue
                    }
                }
            }
            // 2. Optional non-letter/number/CR/LF scalar, then letters.
            var letterStart = -1
            if c == ScalarClass.letter {
                letterStart = i
            } else if c != ScalarClass.number && i + 1 < hi && classes[i + 1] == ScalarClass.letter && !isLineBreak(i) {
                letterStart = i + 1
            }
            if letterStart >= 0 {
                var j = letterStart + 1
                while j < hi && classes[j] == ScalarClass.letter { j += 1 }
                i = j; ends.append(offsets[i]); continue
            }
            // 3. One to `maximumNumbers` numbers.
            if c == ScalarClass.number {
                var j = i + 1
                while j < hi && j - i < maximumNumbers && classes[j] == ScalarClass.number { j += 1 }
                i = j; ends.append(offsets[i]); continue
            }
            // 4. Optional space, "other" run, then CR/LF scalars.
            var otherStart = -1
            if c == ScalarClass.other {
                otherStart = i
            } else if c == ScalarClass.space && i + 1 < hi && classes[i + 1] == ScalarClass.other {
                otherStart = i + 1
            }
            if otherStart >= 0 {
                var j = otherStart + 1
                while j < hi && classes[j] == ScalarClass.other { j += 1 }
                while j < hi && isLineBreak(j) { j += 1 }
                i = j; ends.append(offsets[i]); continue
            }
            // 5. Whitespace run: through its last CR/LF if any, else as GPT-2.
            var j = i + 1
            while j < hi && classes[j] >= ScalarClass.whitespace { j += 1 }
            var lastBreak = -1
            for k in i..<j where isLineBreak(k) { lastBreak = k }
            if lastBreak >= 0 {
                i = lastBreak + 1
            } else if j == hi {
                i = hi
            } else if j - i >= 2 {
                i = j - 1
            } else {
                i = j
            }
            ends.append(offsets[i])
        }
    }
}

/// Scalar categories used by the pre-tokenizer. Order matters: everything below
/// `whitespace` is a "run" class of rule 2.
enum ScalarClass {
    static let other: UInt8 = 0
    static let letter: UInt8 = 1
    static let number: UInt8 = 2
    static let whitespace: UInt8 = 3
    /// U+0020 SPACE, the only scalar the ` ?` prefix of the pattern accepts.
    static let space: UInt8 = 4

    /// The newest Unicode version whose letters and numbers the peer knows: Hugging Face
    /// `tokenizers` 0.21 matches `\p{L}`/`\p{N}` with Oniguruma's Unicode 16.0 tables, while the
    /// Swift 6.3 runtime has Unicode 17.0 (e.g. CJK Extension J, U+323B0…U+3347F). Scalars
    /// assigned later are classified as unassigned ("other"), as the peer sees them.
    static let newestUnicodeVersion = (major: 16, minor: 0)

    static func compute(_ scalar: Unicode.Scalar) -> UInt8 {
        if scalar == " " { return space }
        let properties = scalar.properties
        if properties.isWhitespace { return whitespace }
        if let age = properties.age,
           age.major > newestUnicodeVersion.major
            || (age.major == newestUnicodeVersion.major && age.minor > newestUnicodeVersion.minor) {
            return other
        }
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            return letter
        case .decimalNumber, .letterNumber, .otherNumber:
            return number
        default:
            return other
        }
    }

    /// Classes of U+0000…U+FFFF (surrogates are never looked up), computed once.
    static let basicPlane: [UInt8] = {
        var table = [UInt8](repeating: other, count: 0x10000)
        for value in 0..<0x10000 {
            if let scalar = Unicode.Scalar(UInt32(value)) { table[value] = compute(scalar) }
        }
        return table
    }()
}

/// Reusable buffers: the class and starting byte offset of every scalar of a segment
/// (`offsets` has one extra entry, the end offset).
struct PreTokenizerScratch {
    var classes: [UInt8] = []
    var offsets: [Int32] = []

    mutating func load(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) {
        classes.removeAll(keepingCapacity: true)
        offsets.removeAll(keepingCapacity: true)
        ScalarClass.basicPlane.withUnsafeBufferPointer { table in
            var p = range.lowerBound
            let end = range.upperBound
            while p < end {
                let b0 = bytes[p]
                offsets.append(Int32(p))
                if b0 < 0x80 {
                    classes.append(table[Int(b0)])
                    p += 1
                } else if b0 < 0xE0 {
                    let v = (UInt32(b0 & 0x1F) << 6) | UInt32(bytes[p + 1] & 0x3F)
                    classes.append(table[Int(v)])
                    p += 2
                } else if b0 < 0xF0 {
                    let v = (UInt32(b0 & 0x0F) << 12) | (UInt32(bytes[p + 1] & 0x3F) << 6) | UInt32(bytes[p + 2] & 0x3F)
                    classes.append(table[Int(v)])
                    p += 3
                } else {
                    let v = (UInt32(b0 & 0x07) << 18) | (UInt32(bytes[p + 1] & 0x3F) << 12)
                        | (UInt32(bytes[p + 2] & 0x3F) << 6) | UInt32(bytes[p + 3] & 0x3F)
                    classes.append(ScalarClass.compute(Unicode.Scalar(v) ?? "\u{FFFD}"))
                    p += 4
                }
            }
            offsets.append(Int32(end))
        }
    }
}

extension PreTokenizer {
    /// Qwen 3.5 and the rule-list patterns (`SplitRule`), over the scalars loaded in `scratch`.
    func splitByRules(_ bytes: UnsafeBufferPointer<UInt8>, scratch: inout PreTokenizerScratch, ends: inout [Int32]) {
        let count = scratch.classes.count
        let offsets = scratch.offsets
        var values = [UInt32](repeating: 0, count: count)
        for i in 0..<count { values[i] = PreTokenizer.scalarValue(bytes, Int(offsets[i])) }
        let categories = values.map(ScalarCategory.lookup)
        if pattern == .qwen35 {
            // `[\p{L}\p{M}]+` and `[^\s\p{L}\p{M}\p{N}]+`: marks behave exactly as letters.
            var classes = scratch.classes
            for i in 0..<count where categories[i] == ScalarCategory.mark { classes[i] = ScalarClass.letter }
            classes.withUnsafeBufferPointer { classes in
                offsets.withUnsafeBufferPointer { offsets in
                    var pieceStart = 0
                    for i in 0..<count where isolatesDigits && classes[i] == ScalarClass.number {
                        if pieceStart < i { PreTokenizer.splitLlama3(bytes, classes, offsets, pieceStart, i, maximumNumbers: 1, &ends) }
                        ends.append(offsets[i + 1])
                        pieceStart = i + 1
                    }
                    if pieceStart < count { PreTokenizer.splitLlama3(bytes, classes, offsets, pieceStart, count, maximumNumbers: 1, &ends) }
                }
            }
            return
        }
        var pieceEnds = [count]  // scalar index where each piece ends
        if isolatesDigits { pieceEnds = PreTokenizer.refine(pieceEnds) { lo, hi, out in SplitRule.eachNumber.split(values, categories, lo, hi, into: &out) } }
        for rule in pattern.rules ?? [] {
            pieceEnds = PreTokenizer.refine(pieceEnds) { lo, hi, out in
                if rule == .gpt2 {
                    var byteEnds: [Int32] = []
                    scratch.classes.withUnsafeBufferPointer { classes in
                        offsets.withUnsafeBufferPointer { offsetBuffer in
                            PreTokenizer.splitGPT2(bytes, classes, offsetBuffer, lo, hi, &byteEnds)
                        }
                    }
                    // Byte offsets back to scalar indices (both increase together).
                    var k = lo
                    for end in byteEnds {
                        while offsets[k] < end { k += 1 }
                        out.append(k)
                    }
                } else {
                    rule.split(values, categories, lo, hi, into: &out)
                }
            }
        }
        for end in pieceEnds { ends.append(offsets[end]) }
    }

    /// Applies `split` to every piece `previous end ..< end` and returns all new piece ends.
    static func refine(_ pieceEnds: [Int], _ split: (Int, Int, inout [Int]) -> Void) -> [Int] {
        var result: [Int] = []
        result.reserveCapacity(pieceEnds.count * 2)
        var start = 0
        for end in pieceEnds {
            if start < end { split(start, end, &result) }
            start = end
        }
        return result
    }

    /// The scalar value of the UTF-8 sequence starting at `p` (valid UTF-8 assumed).
    static func scalarValue(_ bytes: UnsafeBufferPointer<UInt8>, _ p: Int) -> UInt32 {
        let b0 = bytes[p]
        if b0 < 0x80 { return UInt32(b0) }
        if b0 < 0xE0 { return (UInt32(b0 & 0x1F) << 6) | UInt32(bytes[p + 1] & 0x3F) }
        if b0 < 0xF0 { return (UInt32(b0 & 0x0F) << 12) | (UInt32(bytes[p + 1] & 0x3F) << 6) | UInt32(bytes[p + 2] & 0x3F) }
        return (UInt32(b0 & 0x07) << 18) | (UInt32(bytes[p + 1] & 0x3F) << 12) | (UInt32(bytes[p + 2] & 0x3F) << 6)
            | UInt32(bytes[p + 3] & 0x3F)
    }
}

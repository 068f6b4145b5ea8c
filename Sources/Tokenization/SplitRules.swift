/// The pre-tokenizers of llama.cpp's other byte-level BPE vocabularies (`tokenizer.ggml.pre`),
/// each a list of split rules applied as successive refinements (llama.cpp `unicode_regex_split`):
/// the first rule splits the whole text, the next splits every piece independently, and so on;
/// text a rule does not match stays as pieces of its own (Hugging Face `Split` with `Isolated`
/// behaviour). A rule never looks past the end of the piece it splits.
///
/// Each rule is hand-written over Unicode general categories (no regex engine). The categories:
/// `L` letters (Lu Ll Lt Lm Lo), `N` numbers (Nd Nl No), `P` punctuation (Pc Pd Ps Pe Pi Pf Po),
/// `M` marks, `W` whitespace (the White_Space list: U+0009–000D, U+0020, U+0085, U+00A0, U+1680,
/// U+2000–200A, U+2028, U+2029, U+202F, U+205F, U+3000), checked before any category. Rules that
/// llama.cpp runs through `std::regex` see non-ASCII whitespace as U+000B, so a class written
/// with literal ranges (DeepSeek's) never contains a whitespace scalar.
///
/// | `pre` | rules, in order (the regex each implements) |
/// |---|---|
/// | `falcon` | `[\p{P}\$\+<=>\^~\|`]+`, GPT-2, `[0-9][0-9][0-9]` |
/// | `deepseek-coder` | `[\r\n]`, `\s?\p{L}+`, `\s?\p{P}+`, `[一-龥ࠀ-一가-퟿]+`, `\p{N}` |
/// | `deepseek-llm` | `[\r\n]`, `\s?[Latin/Greek/Cyrillic/… letters]+`, `\s?[!-/:-~！-／：-～‘-‟　-。]+`, `\s+$`, `[一-龥ࠀ-一가-퟿]+`, `\p{N}+` |
/// | `qwen35` | Qwen2's pattern with `[\p{L}\p{M}]+` letter runs and `[^\s\p{L}\p{M}\p{N}]+` other runs |
enum SplitRule: Sendable, Equatable {
    /// `[\p{P}\$\+<=>\^~\|`]+`
    case falconPunctuation
    /// GPT-2's pattern (`PreTokenizer.splitGPT2`).
    case gpt2
    /// `[0-9][0-9][0-9]`: ASCII digit triples, left to right.
    case asciiDigitTriples
    /// `[\r\n]`: every CR and LF alone.
    case lineBreaks
    /// `\s?\p{L}+`
    case whitespaceThenLetters
    /// `\s?\p{P}+`
    case whitespaceThenPunctuation
    /// `[一-龥ࠀ-一가-퟿]+`: U+4E00–9FA5, U+0800–4E00, U+AC00–D7FF.
    case cjkRuns
    /// `\p{N}`: every number alone.
    case eachNumber
    /// `\p{N}+`
    case numberRuns
    /// DeepSeek-LLM's `\s?[A-Za-zµÀ-Ö…]+` (`DeepSeekLetters.ranges`).
    case whitespaceThenDeepSeekLetters
    /// `\s?[!-/:-~！-／：-～‘-‟　-。]+`
    case whitespaceThenDeepSeekPunctuation
    /// `\s+$`: a whitespace run that reaches the end of the piece.
    case trailingWhitespace
}

/// The general-category group of a scalar, as the split rules need it.
enum ScalarCategory {
    static let other: UInt8 = 0
    static let letter: UInt8 = 1
    static let number: UInt8 = 2
    static let punctuation: UInt8 = 3
    static let mark: UInt8 = 4
    static let whitespace: UInt8 = 5

    static func of(_ value: UInt32) -> UInt8 {
        guard let scalar = Unicode.Scalar(value) else { return other }
        let properties = scalar.properties
        if properties.isWhitespace { return whitespace }
        if let age = properties.age,
           age.major > ScalarClass.newestUnicodeVersion.major
            || (age.major == ScalarClass.newestUnicodeVersion.major && age.minor > ScalarClass.newestUnicodeVersion.minor) {
            return other
        }
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return letter
        case .decimalNumber, .letterNumber, .otherNumber: return number
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation, .initialPunctuation,
             .finalPunctuation, .otherPunctuation: return punctuation
        case .nonspacingMark, .spacingMark, .enclosingMark: return mark
        default: return other
        }
    }

    static let basicPlane: [UInt8] = (0..<0x10000).map { of(UInt32($0)) }

    static func lookup(_ value: UInt32) -> UInt8 { value < 0x10000 ? basicPlane[Int(value)] : of(value) }
}

/// DeepSeek-LLM's letter class, copied from llama.cpp's source by scalar value (it contains
/// non-NFC scalars such as U+1F7D and U+212A; a retyped, normalized copy would differ).
enum DeepSeekLetters {
    static let ranges: [ClosedRange<UInt32>] = [
        0x41...0x5A, 0x61...0x7A, 0xB5...0xB5, 0xC0...0xD6, 0xD8...0xF6, 0xF8...0x1BA,
        0x1BC...0x1BF, 0x1C4...0x293, 0x295...0x2AF, 0x370...0x373, 0x376...0x376, 0x377...0x377,
        0x37B...0x37D, 0x37F...0x37F, 0x386...0x386, 0x388...0x38A, 0x38C...0x38C, 0x38E...0x3A1,
        0x3A3...0x3F5, 0x3F7...0x481, 0x48A...0x52F, 0x531...0x556, 0x10A0...0x10C5, 0x13A0...0x13F5,
        0x13F8...0x13FD, 0x1C90...0x1CBA, 0x1CBD...0x1CBF, 0x1D00...0x1D2B, 0x1D6B...0x1D77, 0x1D79...0x1D9A,
        0x1E00...0x1F15, 0x1F18...0x1F1D, 0x1F20...0x1F45, 0x1F48...0x1F4D, 0x1F50...0x1F57, 0x1F59...0x1F59,
        0x1F5B...0x1F5B, 0x1F5D...0x1F5D, 0x1F5F...0x1F7D, 0x1F80...0x1FB4, 0x1FB6...0x1FBC, 0x1FBE...0x1FBE,
        0x1FC2...0x1FC4, 0x1FC6...0x1FCC, 0x1FD0...0x1FD3, 0x1FD6...0x1FDB, 0x1FE0...0x1FEC, 0x1FF2...0x1FF4,
        0x1FF6...0x1FFC, 0x2102...0x2102, 0x2107...0x2107, 0x210A...0x2113, 0x2115...0x2115, 0x2119...0x211D,
        0x2124...0x2124, 0x2126...0x2126, 0x2128...0x2128, 0x212A...0x212D, 0x212F...0x2134, 0x2139...0x2139,
        0x213C...0x213F, 0x2145...0x2149, 0x214E...0x214E, 0x2183...0x2183, 0x2184...0x2184, 0x2C00...0x2C7B,
        0x2C7E...0x2CE4, 0x2CEB...0x2CEE, 0x2CF2...0x2CF2, 0x2CF3...0x2CF3, 0xA640...0xA66D, 0xA680...0xA69B,
        0xA722...0xA76F, 0xA771...0xA787, 0xA78B...0xA78E, 0xAB70...0xABBF, 0xFB00...0xFB06, 0xFB13...0xFB17,
        0xFF21...0xFF3A, 0xFF41...0xFF5A, 0x10400...0x1044F, 0x104B0...0x104D3, 0x104D8...0x104FB, 0x10C80...0x10CB2,
        0x10CC0...0x10CF2, 0x118A0...0x118DF, 0x1E900...0x1E943,
    ]

    static func contains(_ value: UInt32) -> Bool {
        var lo = 0, hi = ranges.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if ranges[mid].upperBound < value { lo = mid + 1 } else { hi = mid }
        }
        return lo < ranges.count && ranges[lo].contains(value)
    }
}

extension SplitRule {
    /// Appends to `ends` the end scalar index of every piece of `lo..<hi` (matches and the
    /// unmatched text between them). `values` are scalar values, `categories` their groups.
    func split(_ values: [UInt32], _ categories: [UInt8], _ lo: Int, _ hi: Int, into ends: inout [Int]) {
        var gapStart = lo
        var i = lo
        while i < hi {
            if let end = match(values, categories, i, hi) {
                if gapStart < i { ends.append(i) }
                ends.append(end)
                i = end
                gapStart = end
            } else {
                i += 1
            }
        }
        if gapStart < hi { ends.append(hi) }
    }

    /// The end of the match starting at `i`, or nil (leftmost-first, greedy).
    private func match(_ values: [UInt32], _ categories: [UInt8], _ i: Int, _ hi: Int) -> Int? {
        let isWhitespace = { (k: Int) in categories[k] == ScalarCategory.whitespace }
        /// `\s?X+` with X given by `member`.
        func optionalWhitespaceThenRun(_ member: (Int) -> Bool) -> Int? {
            var start = i
            if isWhitespace(i) && i + 1 < hi && member(i + 1) { start = i + 1 } else if !member(i) { return nil }
            var j = start + 1
            while j < hi && member(j) { j += 1 }
            return j
        }
        func run(_ member: (Int) -> Bool) -> Int? {
            guard member(i) else { return nil }
            var j = i + 1
            while j < hi && member(j) { j += 1 }
            return j
        }
        /// The value a `std::regex` without `\p` sees: non-ASCII whitespace becomes U+000B.
        func literal(_ k: Int) -> UInt32 { values[k] >= 0x80 && isWhitespace(k) ? 0x0B : values[k] }
        func isCJK(_ k: Int) -> Bool {
            let v = literal(k)
            return (0x4E00...0x9FA5).contains(v) || (0x0800...0x4E00).contains(v) || (0xAC00...0xD7FF).contains(v)
        }
        switch self {
        case .falconPunctuation:
            return run { k in
                categories[k] == ScalarCategory.punctuation
                    || [0x24, 0x2B, 0x3C, 0x3D, 0x3E, 0x5E, 0x7E, 0x7C, 0x60].contains(values[k])
            }
        case .asciiDigitTriples:
            guard i + 3 <= hi else { return nil }
            for k in i..<(i + 3) where !(0x30...0x39).contains(values[k]) { return nil }
            return i + 3
        case .lineBreaks:
            return values[i] == 0x0A || values[i] == 0x0D ? i + 1 : nil
        case .whitespaceThenLetters:
            return optionalWhitespaceThenRun { categories[$0] == ScalarCategory.letter }
        case .whitespaceThenPunctuation:
            return optionalWhitespaceThenRun { categories[$0] == ScalarCategory.punctuation }
        case .cjkRuns:
            return run(isCJK)
        case .eachNumber:
            return categories[i] == ScalarCategory.number ? i + 1 : nil
        case .numberRuns:
            return run { categories[$0] == ScalarCategory.number }
        case .whitespaceThenDeepSeekLetters:
            return optionalWhitespaceThenRun { DeepSeekLetters.contains(literal($0)) }
        case .whitespaceThenDeepSeekPunctuation:
            return optionalWhitespaceThenRun { k in
                let v = literal(k)
                return (0x21...0x2F).contains(v) || (0x3A...0x7E).contains(v) || (0xFF01...0xFF0F).contains(v)
                    || (0xFF1A...0xFF5E).contains(v) || (0x2018...0x201F).contains(v) || (0x3000...0x3002).contains(v)
            }
        case .trailingWhitespace:
            for k in i..<hi where !isWhitespace(k) { return nil }
            return hi
        case .gpt2:
            return nil  // handled by `PreTokenizer.splitByRules`
        }
    }
}

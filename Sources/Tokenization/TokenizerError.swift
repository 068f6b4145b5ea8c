/// Everything that can go wrong when building a tokenizer or decoding ids.
///
/// Encoding never fails: every `String` is valid Unicode and every byte has a token (or falls
/// back to the unknown token), so `encode` is total.
public enum TokenizerError: Error, Equatable, CustomStringConvertible, Sendable {
    /// A token id passed to `decode`/`tokenString` is negative, too large, or unassigned.
    case tokenIDOutOfRange(id: Int, vocabularySize: Int)
    /// A merge rule names a token missing from the vocabulary (the file is inconsistent).
    case mergeTokenMissing(merge: String, missing: String)
    /// A merge rule string is not two tokens separated by one space.
    case malformedMerge(index: Int, text: String)
    /// The vocabulary is empty or has a duplicate or negative id.
    case invalidVocabulary(String)
    /// A metadata key or JSON field that the tokenizer needs is absent or has the wrong type.
    case missingField(String)
    /// The file describes a tokenizer this module does not implement.
    case unsupported(String)
    /// `tokenizer.json` could not be parsed as JSON.
    case malformedJSON(String)
    /// The file names a tokenizer model type (`tokenizer.ggml.model`, tokenizer.json `model.type`)
    /// that is not implemented.
    case unknownModelType(String, source: String, known: [String])
    /// The file names a pre-tokenizer (`tokenizer.ggml.pre`) that is not implemented.
    case unknownPreTokenizer(String, known: [String])
    /// A tokenizer file could not be read.
    case unreadableFile(path: String, reason: String)

    public var description: String {
        switch self {
        case let .tokenIDOutOfRange(id, size):
            return "token id \(id) is not in the vocabulary (valid ids are 0..<\(size)) — the ids come from a different tokenizer or were corrupted"
        case let .mergeTokenMissing(merge, missing):
            return "merge rule '\(merge)' refers to '\(missing)', which is not in the vocabulary — the tokenizer file is inconsistent"
        case let .malformedMerge(index, text):
            return "merge rule #\(index) '\(text)' is not two tokens separated by a single space"
        case let .invalidVocabulary(why):
            return "invalid vocabulary: \(why)"
        case let .missingField(name):
            return "tokenizer field '\(name)' is missing or has the wrong type — the file is not a byte-level BPE tokenizer description"
        case let .unsupported(what):
            return "unsupported tokenizer feature: \(what) — only byte-level BPE (GPT-2/SmolLM/Llama-3/Qwen family) is implemented"
        case let .malformedJSON(why):
            return "tokenizer.json is not valid JSON: \(why)"
        case let .unknownModelType(name, source, known):
            return "\(source) '\(name)' is not an implemented tokenizer family (implemented: \(known.joined(separator: ", "))) — use a file of one of those families"
        case let .unknownPreTokenizer(name, known):
            return "tokenizer.ggml.pre '\(name)' is not an implemented pre-tokenizer (implemented: \(known.joined(separator: ", "))) — use --convention transformers to read the file with GPT-2's pre-tokenizer as transformers does"
        case let .unreadableFile(path, reason):
            return "cannot read tokenizer file \(path): \(reason)"
        }
    }
}

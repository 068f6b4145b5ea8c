import Foundation

extension BPETokenizer {
    /// Loads a Hugging Face `tokenizer.json` describing a byte-level BPE tokenizer.
    ///
    /// Supported: `model` of type BPE (merges as `"a b"` strings or `["a", "b"]` pairs,
    /// `byte_fallback`, `ignore_merges`, `unk_token`); `pre_tokenizer` `ByteLevel`
    /// (`add_prefix_space: false`) alone or after `Digits(individual_digits: true)`;
    /// `normalizer` null, an empty `Sequence` or `NFC`; `added_tokens` without
    /// `lstrip`/`rstrip`/`single_word`. The decoder is not read: decoding is always byte-level.
    /// Anything else throws `TokenizerError.unsupported` naming the feature, rather than
    /// tokenizing differently from Hugging Face.
    ///
    /// - Parameters:
    ///   - bosToken, eosToken, padToken: token contents from `tokenizer_config.json`
    ///     (tokenizer.json does not name them).
    public convenience init(tokenizerJSON data: Data, bosToken: String? = nil, eosToken: String? = nil,
                            padToken: String? = nil) throws {
        let root: [String: Any]
        do {
            guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw TokenizerError.malformedJSON("the top level is not an object")
            }
            root = object
        } catch let error as TokenizerError {
            throw error
        } catch {
            throw TokenizerError.malformedJSON("\(error)")
        }
        guard let model = root["model"] as? [String: Any] else { throw TokenizerError.missingField("model") }
        if let type = model["type"] as? String, type != "BPE" {
            throw TokenizerError.unsupported("tokenizer.json model type '\(type)'")
        }
        if let prefix = model["continuing_subword_prefix"] as? String, !prefix.isEmpty {
            throw TokenizerError.unsupported("BPE continuing_subword_prefix '\(prefix)'")
        }
        if let suffix = model["end_of_word_suffix"] as? String, !suffix.isEmpty {
            throw TokenizerError.unsupported("BPE end_of_word_suffix '\(suffix)'")
        }
        if let dropout = model["dropout"] as? Double, dropout > 0 {
            throw TokenizerError.unsupported("BPE dropout \(dropout) (not deterministic)")
        }
        guard let vocab = model["vocab"] as? [String: Int] else { throw TokenizerError.missingField("model.vocab") }
        guard let rawMerges = model["merges"] as? [Any] else { throw TokenizerError.missingField("model.merges") }
        var merges: [(String, String)] = []
        merges.reserveCapacity(rawMerges.count)
        for (index, item) in rawMerges.enumerated() {
            if let rule = item as? String {
                merges.append(contentsOf: try BPETokenizer.parseMergeRules([rule]).map { $0 })
            } else if let pair = item as? [String], pair.count == 2 {
                merges.append((pair[0], pair[1]))
            } else {
                throw TokenizerError.malformedMerge(index: index, text: "\(item)")
            }
        }

        var added: [AddedToken] = []
        for item in root["added_tokens"] as? [[String: Any]] ?? [] {
            guard let id = item["id"] as? Int, let content = item["content"] as? String else {
                throw TokenizerError.missingField("added_tokens[].id/content")
            }
            for flag in ["lstrip", "rstrip", "single_word"] where (item[flag] as? Bool) == true {
                throw TokenizerError.unsupported("added token '\(content)' with \(flag): true")
            }
            added.append(AddedToken(id: id, content: content, isSpecial: item["special"] as? Bool ?? false,
                                    isNormalized: item["normalized"] as? Bool ?? false))
        }

        let size = (vocab.values.max() ?? -1) + 1
        var vocabulary = [String](repeating: "", count: size)
        var filled = [Bool](repeating: false, count: size)
        for (token, id) in vocab {
            guard id >= 0 else { throw TokenizerError.invalidVocabulary("token '\(token)' has negative id \(id)") }
            vocabulary[id] = token
            filled[id] = true
        }
        for token in added where token.id < size && !filled[token.id] {
            vocabulary[token.id] = token.content
            filled[token.id] = true
        }
        if let hole = filled.firstIndex(of: false) {
            throw TokenizerError.invalidVocabulary("id \(hole) has no token in model.vocab or added_tokens")
        }

        let preTokenizer = try BPETokenizer.parsePreTokenizer(root["pre_tokenizer"])
        let normalizer = try BPETokenizer.parseNormalizer(root["normalizer"])

        func idOf(_ content: String?) -> Int? {
            guard let content else { return nil }
            return added.last(where: { $0.content == content })?.id ?? vocab[content]
        }
        let unknown = idOf(model["unk_token"] as? String)
        try self.init(vocabulary: vocabulary, merges: merges, addedTokens: added, bosID: idOf(bosToken),
                      eosID: idOf(eosToken), unknownID: unknown, paddingID: idOf(padToken),
                      preTokenizer: preTokenizer, normalizer: normalizer,
                      ignoresMerges: model["ignore_merges"] as? Bool ?? false)
    }

    static func parsePreTokenizer(_ value: Any?) throws -> PreTokenizer {
        guard let object = value as? [String: Any] else {
            if value == nil || value is NSNull {
                throw TokenizerError.unsupported("a missing pre_tokenizer (byte-level BPE needs ByteLevel)")
            }
            throw TokenizerError.missingField("pre_tokenizer")
        }
        let parts: [[String: Any]]
        if object["type"] as? String == "Sequence" {
            guard let list = object["pretokenizers"] as? [[String: Any]] else {
                throw TokenizerError.missingField("pre_tokenizer.pretokenizers")
            }
            parts = list
        } else {
            parts = [object]
        }
        var isolatesDigits = false
        var splitPattern: PreTokenizer.Pattern? = nil
        var byteLevel: [String: Any]? = nil
        for (index, part) in parts.enumerated() {
            switch part["type"] as? String {
            case "Digits" where index == 0 && byteLevel == nil:
                guard part["individual_digits"] as? Bool == true else {
                    throw TokenizerError.unsupported("Digits pre-tokenizer with individual_digits: false")
                }
                isolatesDigits = true
            case "Split" where index == 0:
                let source = (part["pattern"] as? [String: Any])?["Regex"] as? String
                guard part["behavior"] as? String == "Isolated", part["invert"] as? Bool != true else {
                    throw TokenizerError.unsupported("Split pre-tokenizer other than behavior Isolated, invert false")
                }
                switch source {
                case PreTokenizer.llama3PatternSource: splitPattern = .llama3
                case PreTokenizer.qwen2PatternSource: splitPattern = .qwen2
                default: throw TokenizerError.unsupported("Split regex \(source ?? "?") (only the GPT-2, Llama-3 and Qwen2 patterns are implemented)")
                }
            case "ByteLevel" where index == parts.count - 1:
                byteLevel = part
            default:
                throw TokenizerError.unsupported("pre_tokenizer \(part["type"] ?? "?") at position \(index)")
            }
        }
        guard let byteLevel else { throw TokenizerError.unsupported("a pre_tokenizer without ByteLevel") }
        if byteLevel["add_prefix_space"] as? Bool == true {
            throw TokenizerError.unsupported("ByteLevel add_prefix_space: true")
        }
        let usesRegex = byteLevel["use_regex"] as? Bool ?? true
        if let splitPattern {
            guard !usesRegex else {
                throw TokenizerError.unsupported("a Split pre-tokenizer followed by ByteLevel with use_regex: true")
            }
            return PreTokenizer(isolatesDigits: isolatesDigits, pattern: splitPattern)
        }
        return PreTokenizer(isolatesDigits: isolatesDigits, pattern: usesRegex ? .gpt2 : .none)
    }

    static func parseNormalizer(_ value: Any?) throws -> TextNormalizer {
        guard let object = value as? [String: Any] else { return .none }
        switch object["type"] as? String {
        case "NFC":
            return .nfc
        case "Sequence":
            let list = object["normalizers"] as? [[String: Any]] ?? []
            if list.isEmpty { return .none }
            if list.count == 1 { return try parseNormalizer(list[0]) }
            throw TokenizerError.unsupported("a normalizer sequence of \(list.count) normalizers")
        default:
            throw TokenizerError.unsupported("normalizer \(object["type"] ?? "?")")
        }
    }
}

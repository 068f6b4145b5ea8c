import Foundation
import Formats

/// Which tokenizer a GGUF file's byte-level BPE metadata is read as. The two differ only for
/// `tokenizer.ggml.model = "gpt2"` files whose `tokenizer.ggml.pre` is not GPT-2's.
public enum GGUFTokenizerConvention: String, Sendable, CaseIterable {
    /// The file's own metadata, as llama.cpp reads it and as the model's original
    /// `tokenizer.json` behaves: the pre-tokenizer named by `tokenizer.ggml.pre`, Llama 3's
    /// `ignore_merges`, user-defined tokens (type 4) matched in raw text, `add_bos_token`.
    case llamaCpp = "llama.cpp"
    /// What Hugging Face transformers builds from the file (`gguf_file=`), Touchstone's peer:
    /// GPT-2's `ByteLevel` pre-tokenizer for every byte-level BPE file, whatever its `pre` says,
    /// and BOS prepended by `add_special_tokens`. SentencePiece and WordPiece files are read the
    /// same way under both conventions.
    case transformers
}

/// Loads the tokenizer a file describes, without loading any model weights.
///
/// GGUF: chosen by `tokenizer.ggml.model` — `gpt2` byte-level BPE (`BPETokenizer`, pre-tokenizer
/// by `tokenizer.ggml.pre`), `llama` SentencePiece by scores, `gemma4` SentencePiece-style BPE by
/// merge rank (`SentencePieceTokenizer`), `bert` WordPiece (`WordPieceTokenizer`).
/// `general.architecture` is never read, so vocabulary-only files load too.
/// `tokenizer.json`: its `model.type` (BPE, WordPiece) and `pre_tokenizer` section.
public enum TokenizerLoader {
    /// Loads from a `.gguf` file, a `tokenizer.json`, or a directory holding a `tokenizer.json`.
    ///
    /// - Throws: `TokenizerError.unknownModelType` / `.unknownPreTokenizer` naming what the file
    ///   asks for, `.missingField` for absent metadata, `.unreadableFile` for I/O errors.
    public static func load(path: String, convention: GGUFTokenizerConvention = .llamaCpp) throws -> any Tokenizer {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw TokenizerError.unreadableFile(path: path, reason: "no such file or directory")
        }
        if isDirectory.boolValue { return try load(path: path + "/tokenizer.json", convention: convention) }
        if path.hasSuffix(".json") {
            let data: Data
            do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
                throw TokenizerError.unreadableFile(path: path, reason: error.localizedDescription)
            }
            return try load(tokenizerJSON: data)
        }
        return try load(gguf: try GGUFFile(path: path), convention: convention)
    }

    /// The tokenizer of a Hugging Face `tokenizer.json` (byte-level BPE; see
    /// `BPETokenizer.init(tokenizerJSON:)` for what is supported).
    public static func load(tokenizerJSON data: Data) throws -> any Tokenizer {
        if let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
           let model = root["model"] as? [String: Any], let type = model["type"] as? String, type != "BPE" {
            throw TokenizerError.unknownModelType(type, source: "tokenizer.json model.type", known: ["BPE"])
        }
        return try BPETokenizer(tokenizerJSON: data)
    }

    /// The names `load(gguf:)` accepts in `tokenizer.ggml.model`.
    public static let ggufModelTypes = ["gpt2", "llama", "gemma4", "bert"]

    /// The tokenizer in a GGUF file's `tokenizer.ggml.*` metadata.
    public static func load(gguf: GGUFFile, convention: GGUFTokenizerConvention = .llamaCpp) throws -> any Tokenizer {
        let metadata = gguf.metadata
        guard let model = metadata["tokenizer.ggml.model"]?.string else { throw TokenizerError.missingField("tokenizer.ggml.model") }
        guard let pieces = metadata["tokenizer.ggml.tokens"]?.strings else { throw TokenizerError.missingField("tokenizer.ggml.tokens") }
        var tokenTypes: [Int]? = nil
        if let value = metadata["tokenizer.ggml.token_type"] {
            guard let types = value.ints else { throw TokenizerError.missingField("tokenizer.ggml.token_type") }
            tokenTypes = types
        }
        func id(_ key: String) throws -> Int? {
            guard let value = metadata[key] else { return nil }
            guard let id = value.int else { throw TokenizerError.missingField(key) }
            guard id >= 0, id < pieces.count else {
                throw TokenizerError.invalidVocabulary("\(key) = \(id) is outside the \(pieces.count)-token vocabulary")
            }
            return id
        }
        func flag(_ key: String) -> Bool? { metadata["tokenizer.ggml." + key]?.bool }
        let bos = try id("tokenizer.ggml.bos_token_id"), eos = try id("tokenizer.ggml.eos_token_id")
        let unknown = try id("tokenizer.ggml.unknown_token_id"), padding = try id("tokenizer.ggml.padding_token_id")

        switch model {
        case "gpt2":
            if convention == .transformers {
                let tokenizer = try BPETokenizer(gguf: gguf)
                tokenizer.addsBOS = tokenizer.bosID != nil
                return tokenizer
            }
            let pre = metadata["tokenizer.ggml.pre"]?.string ?? "default"
            guard let preTokenizer = BPETokenizer.llamaCppPreTokenizer(named: pre) else {
                throw TokenizerError.unknownPreTokenizer(pre, known: BPETokenizer.llamaCppPreTokenizerNames)
            }
            guard let merges = metadata["tokenizer.ggml.merges"]?.strings else { throw TokenizerError.missingField("tokenizer.ggml.merges") }
            var added: [AddedToken] = []
            for (index, type) in (tokenTypes ?? []).enumerated() {
                // Control tokens are special; user-defined ones are matched in raw text always
                // (stored as raw text, not byte-level strings).
                if type == 3 { added.append(AddedToken(id: index, content: pieces[index], isSpecial: true)) }
                if type == 4 { added.append(AddedToken(id: index, content: pieces[index], isSpecial: false)) }
            }
            if tokenTypes == nil {
                for index in Set([unknown, bos, eos].compactMap { $0 }).sorted() {
                    added.append(AddedToken(id: index, content: pieces[index], isSpecial: true))
                }
            }
            let tokenizer = try BPETokenizer(vocabulary: pieces, merges: BPETokenizer.parseMergeRules(merges), addedTokens: added,
                                             bosID: bos, eosID: eos, unknownID: unknown, paddingID: padding,
                                             preTokenizer: preTokenizer, ignoresMerges: BPETokenizer.llamaCppIgnoresMerges(pre))
            tokenizer.addsBOS = flag("add_bos_token") ?? false
            tokenizer.addsEOS = flag("add_eos_token") ?? false
            return tokenizer
        case "llama", "gemma4":
            let priority: SentencePieceTokenizer.MergePriority
            if model == "gemma4" {
                guard let merges = metadata["tokenizer.ggml.merges"]?.strings else { throw TokenizerError.missingField("tokenizer.ggml.merges") }
                priority = .mergeRanks(merges)
            } else {
                guard let scores = metadata["tokenizer.ggml.scores"]?.doubles else { throw TokenizerError.missingField("tokenizer.ggml.scores") }
                priority = .scores(scores.map { Float($0) })
            }
            return try SentencePieceTokenizer(
                pieces: pieces, tokenTypes: tokenTypes, priority: priority,
                addsSpacePrefix: flag("add_space_prefix") ?? (model == "llama"),
                bosID: bos, eosID: eos, unknownID: unknown, paddingID: padding,
                addsBOS: flag("add_bos_token") ?? (model == "llama"), addsEOS: flag("add_eos_token") ?? false)
        case "bert":
            return try WordPieceTokenizer(
                pieces: pieces, tokenTypes: tokenTypes,
                lowercases: flag("lowercase") ?? true, stripsAccents: flag("strip_accents") ?? flag("lowercase") ?? true,
                bosID: try id("tokenizer.ggml.cls_token_id") ?? bos, eosID: try id("tokenizer.ggml.seperator_token_id") ?? eos,
                unknownID: unknown, paddingID: padding,
                addsBOS: flag("add_bos_token") ?? true, addsEOS: flag("add_eos_token") ?? true)
        default:
            throw TokenizerError.unknownModelType(model, source: "tokenizer.ggml.model", known: ggufModelTypes)
        }
    }
}

import Formats

extension BPETokenizer {
    /// Loads the tokenizer stored in a GGUF file's metadata (`tokenizer.ggml.*`).
    ///
    /// Reads `tokenizer.ggml.model` (must be `gpt2`, i.e. byte-level BPE), `.tokens`, `.merges`,
    /// `.token_type` (type 3 = control → special added token, as transformers does),
    /// `.added_tokens` (optional, non-special), and `.bos_token_id`, `.eos_token_id`,
    /// `.unknown_token_id`, `.padding_token_id`.
    ///
    /// - Parameter preTokenizer: nil (the default) uses plain GPT-2 `ByteLevel`, which is what
    ///   transformers builds from *any* byte-level GGUF (`gguf_file=`), our peer. llama.cpp and
    ///   the model's original tokenizer.json instead follow `tokenizer.ggml.pre`; for SmolLM
    ///   (`"smollm"`) that isolates every digit. Pass `BPETokenizer.llamaCppPreTokenizer(named:)`
    ///   of the file's `pre` name to get that behaviour.
    /// - Throws: `TokenizerError.missingField` for an absent key, `.unsupported` for a
    ///   non-BPE model, and the errors of `init(vocabulary:mergeRules:...)`.
    public convenience init(gguf: GGUFFile, preTokenizer: PreTokenizer? = nil) throws {
        let metadata = gguf.metadata
        let model = metadata["tokenizer.ggml.model"]?.string
        guard let model else { throw TokenizerError.missingField("tokenizer.ggml.model") }
        guard model == "gpt2" else {
            throw TokenizerError.unsupported("GGUF tokenizer model '\(model)' (only 'gpt2' byte-level BPE is implemented)")
        }
        guard let tokens = metadata["tokenizer.ggml.tokens"]?.strings else {
            throw TokenizerError.missingField("tokenizer.ggml.tokens")
        }
        guard let merges = metadata["tokenizer.ggml.merges"]?.strings else {
            throw TokenizerError.missingField("tokenizer.ggml.merges")
        }
        var tokenTypes: [Int]? = nil
        if let value = metadata["tokenizer.ggml.token_type"] {
            guard let types = value.ints else { throw TokenizerError.missingField("tokenizer.ggml.token_type") }
            tokenTypes = types
        }
        let extraAdded = metadata["tokenizer.ggml.added_tokens"]?.strings ?? []
        func id(_ key: String) throws -> Int? {
            guard let value = metadata[key] else { return nil }
            guard let id = value.int else { throw TokenizerError.missingField(key) }
            guard id >= 0, id < tokens.count else {
                throw TokenizerError.invalidVocabulary("\(key) = \(id) is outside the \(tokens.count)-token vocabulary")
            }
            return id
        }
        try self.init(vocabulary: tokens, mergeRules: merges, tokenTypes: tokenTypes, extraAddedTokens: extraAdded,
                      bosID: try id("tokenizer.ggml.bos_token_id"), eosID: try id("tokenizer.ggml.eos_token_id"),
                      unknownID: try id("tokenizer.ggml.unknown_token_id"),
                      paddingID: try id("tokenizer.ggml.padding_token_id"),
                      preTokenizer: preTokenizer ?? .gpt2)
    }

    /// The pre-tokenizer llama.cpp uses for a `tokenizer.ggml.pre` name, when implemented; nil
    /// otherwise. The names are llama.cpp's (`llama-vocab.cpp`), grouped by the pattern they use.
    public static func llamaCppPreTokenizer(named name: String) -> PreTokenizer? {
        switch name {
        case "gpt2", "default", "gpt-2", "phi-2", "jina-es", "jina-de", "jina-v2-es", "jina-v2-de", "mpt", "olmo",
             "jina-v1-en", "jina-v2-code", "roberta-bpe": return .gpt2
        case "smollm", "starcoder", "refact", "command-r": return .smolLM
        case "llama-bpe", "llama3", "llama-v3": return .llama3
        case "qwen2", "deepseek-r1-qwen": return .qwen2
        case "qwen35": return PreTokenizer(pattern: .qwen35)
        case "falcon": return PreTokenizer(pattern: .falcon)
        case "deepseek-coder": return PreTokenizer(pattern: .deepseekCoder)
        case "deepseek-llm": return PreTokenizer(pattern: .deepseekLLM)
        default: return nil
        }
    }

    /// Every name `llamaCppPreTokenizer(named:)` accepts.
    public static let llamaCppPreTokenizerNames = [
        "default", "gpt2", "gpt-2", "phi-2", "jina-es", "jina-de", "jina-v2-es", "jina-v2-de", "mpt", "olmo", "jina-v1-en",
        "jina-v2-code", "roberta-bpe", "smollm", "starcoder", "refact", "command-r", "llama-bpe", "llama3", "llama-v3",
        "qwen2", "deepseek-r1-qwen", "qwen35", "falcon", "deepseek-coder", "deepseek-llm",
    ]

    /// Whether llama.cpp sets `ignore_merges` for a `pre` name (Llama 3's family).
    static func llamaCppIgnoresMerges(_ name: String) -> Bool {
        ["llama-bpe", "llama3", "llama-v3"].contains(name)
    }

    /// The chat template source (`tokenizer.chat_template`) of a GGUF file, if any.
    public static func chatTemplateSource(in gguf: GGUFFile) -> String? {
        gguf.metadata["tokenizer.chat_template"]?.string
    }
}

extension ChatTemplate {
    /// SmolLM2-Instruct's Jinja source, as stored in its GGUF and tokenizer_config.json.
    public static let smolLM2Source = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"

    /// The implemented template whose Jinja source is exactly `source`, or nil.
    public static func recognizing(_ source: String) -> ChatTemplate? {
        source == smolLM2Source ? .chatML : nil
    }
}

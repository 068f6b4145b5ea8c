import Foundation
import Formats
import Tensors
import Tokenization
import Transformer
import Loader
import Decoding

let commonValueOptions: Set<String> = ["model", "threads", "weights"]

/// Applies `--threads` (default: all cores) to the shared pool.
func configureThreads(_ args: Arguments) throws {
    let threads = try args.int("threads", default: ParallelFor.availableCores, range: 1...512)!
    ParallelFor.configure(threads: threads)
}

func loadModel(_ args: Arguments) throws -> ModelStore.Loaded {
    let name = args.string("model") ?? ModelStore.defaultModelName
    let path = try ModelStore.resolve(name, log: { printError($0) })
    let weights = args.string("weights") ?? "native"
    guard weights == "native" || weights == "f32" else {
        throw CLIError("--weights must be native (keep the file's quantized blocks) or f32 (dequantize at load), not '\(weights)'")
    }
    let loaded = try ModelStore.load(path: path, float32Weights: weights == "f32")
    try applyNeuronClamps(args, to: loaded.model)  // --clamp-neuron, where the command takes it (ProbeCommands.swift)
    return loaded
}

func requireTokenizer(_ loaded: ModelStore.Loaded) throws -> any Tokenizer {
    guard let tokenizer = loaded.tokenizer else {
        throw CLIError("the model at \(loaded.path) has no tokenizer Touchstone can use (no GGUF tokenizer metadata or tokenizer.json); give the prompt as ids with --prompt-ids", usage: false)
    }
    return tokenizer
}

/// The tokenizer of `--model` (a GGUF file, vocabulary-only ones included, a tokenizer.json, a
/// directory holding one, or a known model name), read by `--convention` (default transformers,
/// the tokenizer `generate` uses for the same file), without loading weights.
func loadTokenizer(_ args: Arguments) throws -> any Tokenizer {
    let name = args.string("model") ?? ModelStore.defaultModelName
    let path = try ModelStore.resolve(name, log: { printError($0) })
    let value = args.string("convention") ?? GGUFTokenizerConvention.transformers.rawValue
    guard let convention = GGUFTokenizerConvention(rawValue: value) else {
        throw CLIError("--convention must be transformers (what transformers' gguf_file= builds; the default) or llama.cpp (the file's tokenizer.ggml.pre, as llama.cpp and the original tokenizer.json), not '\(value)'")
    }
    return try TokenizerLoader.load(path: path, convention: convention)
}

/// Throws unless every prompt id is in the vocabulary and the prompt fits the context: with
/// `newTokens` > 0 (generate) it must leave room for one new token, otherwise (logits) it may fill
/// the context. Both report what was asked the same way (`ModelError.promptTooLong`).
func checkPromptFits(_ prompt: [Int], newTokens: Int, _ model: any CausalLanguageModel) throws {
    let vocab = model.shape.vocabularySize, limit = model.shape.contextLength
    if let bad = prompt.first(where: { $0 >= vocab }) {
        throw CLIError("prompt token id \(bad) is outside the vocabulary [0, \(vocab)) of this model", usage: false)
    }
    if prompt.count + (newTokens > 0 ? 1 : 0) > limit {
        throw ModelError.promptTooLong(promptTokens: prompt.count, newTokens: newTokens, limit: limit)
    }
}

/// Throws a clear error when `path` cannot be an output file (a directory, or a missing parent
/// directory) before any work is done.
func checkWritable(_ path: String) throws {
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
        throw CLIError("cannot write \(path): is a directory (give a file name)", usage: false)
    }
    let parent = URL(fileURLWithPath: path).deletingLastPathComponent().path
    if !FileManager.default.fileExists(atPath: parent, isDirectory: &isDirectory) || !isDirectory.boolValue {
        throw CLIError("cannot write \(path): the directory \(parent) does not exist", usage: false)
    }
}

/// Writes `data` to `path`, with the system's reason on failure (not Foundation's error domain).
func writeFile(_ data: Data, to path: String) throws {
    try checkWritable(path)
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard fd >= 0 else { throw CLIError("cannot write \(path): \(String(cString: strerror(errno)))", usage: false) }
    var failure: Int32? = nil
    data.withUnsafeBytes { buffer in
        var offset = 0
        while offset < buffer.count {
            let n = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                failure = errno
                return
            }
            offset += n
        }
    }
    if close(fd) != 0 && failure == nil { failure = errno }
    if let failure { throw CLIError("cannot write \(path): \(String(cString: strerror(failure)))", usage: false) }
}

func printJSON(_ value: JSONValue) {
    print(value.serialized())
}

// MARK: fetch

func fetchCommand(_ raw: [String]) throws {
    let args = try Arguments(command: "fetch", raw, valueOptions: ["model", "threads"], flagOptions: ["json"])
    let name = args.string("model") ?? ModelStore.defaultModelName
    guard let known = ModelStore.knownModels.first(where: { $0.name == name.lowercased() }) else {
        throw CLIError("unknown model name '\(name)'; known: \(ModelStore.knownModels.map(\.name).joined(separator: ", "))")
    }
    let path = try ModelStore.fetch(known, log: { printError($0) })
    if args.has("json") {
        printJSON(.object([("model", .string(known.name)), ("path", .string(path)), ("sha256", .string(known.sha256))]))
    } else {
        print(path)
    }
}

// MARK: prompt

/// The prompt ids from `--prompt-ids`, or `--prompt` encoded (through the chat template with
/// `--chat`).
func promptIDs(_ args: Arguments, _ loaded: ModelStore.Loaded) throws -> [Int] {
    if let ids = try args.ids("prompt-ids") {
        if args.string("prompt") != nil { throw CLIError("give either --prompt-ids or --prompt, not both") }
        if args.has("chat") || args.string("system") != nil {
            throw CLIError("--chat and --system apply the chat template to --prompt TEXT; --prompt-ids are used as given (template them yourself, or use --prompt)")
        }
        return ids
    }
    if args.has("chat") && args.has("no-special") {
        throw CLIError("--chat with --no-special would turn the chat template's markers (<|im_start|>, <|im_end|>) into plain text, so the model would not see a conversation; drop --no-special, or drop --chat and give the template yourself")
    }
    guard let text = args.string("prompt") else { throw CLIError("give the prompt with --prompt-ids 1,2,3 or --prompt TEXT") }
    if !args.has("chat") && args.string("system") != nil { throw CLIError("--system needs --chat") }
    let ids = PromptEncoding(args, try requireTokenizer(loaded)).encode(text)
    if ids.isEmpty { throw CLIError("the prompt encodes to no tokens") }
    return ids
}

/// Whether the vocabulary is Gemma's (its turn markers are tokens), so `--chat` writes Gemma's
/// instruction format instead of ChatML.
func usesGemmaTurns(_ tokenizer: any Tokenizer) -> Bool {
    tokenizer.tokenID(for: "<start_of_turn>") != nil && tokenizer.tokenID(for: "<|im_start|>") == nil
}

/// How `--prompt TEXT` becomes ids: through the chat template with `--chat` (`--system` as the
/// system turn, the text as the user turn; Gemma's turn format for Gemma's vocabulary, ChatML
/// otherwise), special tokens parsed unless `--no-special`, BOS first when the file says
/// `add_bos_token` (Gemma's true, SmolLM2's false).
struct PromptEncoding: Sendable {
    let tokenizer: any Tokenizer
    let chat: Bool
    let system: String?
    let parseSpecialTokens: Bool

    init(_ args: Arguments, _ tokenizer: any Tokenizer) {
        self.tokenizer = tokenizer
        chat = args.has("chat")
        system = args.string("system")
        parseSpecialTokens = !args.has("no-special")
    }

    /// The BOS id the file asks to put first, if any.
    var bos: Int? { tokenizer.addsBOS ? tokenizer.bosID : nil }

    /// `userText` as the prompt's ids (the user turn under `--chat`).
    func encode(_ userText: String) -> [Int] {
        var text = userText
        if chat {
            var messages: [(role: String, content: String)] = []
            if let system { messages.append((role: "system", content: system)) }
            messages.append((role: "user", content: userText))
            text = usesGemmaTurns(tokenizer)
                ? GemmaChatTemplate.apply(messages: messages, addGenerationPrompt: true)
                : ChatTemplate.chatML.apply(messages: messages, addGenerationPrompt: true)
        }
        return (bos.map { [$0] } ?? []) + tokenizer.encode(text, parseSpecialTokens: parseSpecialTokens)
    }

    /// Context-aware decoding's evidence: without `--chat`, its ids go before the prompt (after
    /// BOS); with `--chat`, the user turn holds evidence then query (`ContextAwareDecoding.userTurn`)
    /// and the ids are what that adds to the query's prompt (`ContextAwareDecoding.placeEvidence`).
    func evidence(_ text: String, query: String?) throws -> (ids: [Int], position: Int) {
        guard chat, let query else { return (tokenizer.encode(text, parseSpecialTokens: parseSpecialTokens), bos == nil ? 0 : 1) }
        return try ContextAwareDecoding.placeEvidence(contextStream: encode(ContextAwareDecoding.userTurn(evidence: text, query: query)),
                                                      nullStream: encode(query))
    }
}

// MARK: generate

func generateCommand(_ raw: [String]) throws {
    let args = try Arguments(command: "generate", raw,
                             valueOptions: commonValueOptions.union(processorOptionNames).union(strategyOptionNames)
                                .union(["prompt-ids", "prompt", "system", "strategy", "max-new-tokens", "top-logits", "stop-strings", "clamp-neuron"])
                                .union(sparseAttentionOptionNames),
                             flagOptions: ["json", "chat", "ignore-eos", "no-special"])
    var strategy = try makeStrategy(args)
    let maxNew = try args.int("max-new-tokens", default: 64, range: 0...1_000_000)!
    let topLogits = try args.int("top-logits", default: 5, range: 0...1000)!
    try configureThreads(args)
    let loaded = try loadModel(args)
    if let vocabulary = dryVocabulary(args, loaded) { strategy = try makeStrategy(args, vocabulary: vocabulary) }
    if (strategy as? ContextAwareDecoding.Strategy)?.needsTokenizer == true {
        guard let tokenizer = loaded.tokenizer else {
            throw CLIError("--context TEXT needs a tokenizer and the model at \(loaded.path) has none; give the evidence as --context-ids 1,2,3", usage: false)
        }
        strategy = try makeStrategy(args, vocabulary: dryVocabulary(args, loaded), evidence: PromptEncoding(args, tokenizer))
    }
    let sparseAttention = try configureSparseAttention(args, loaded.model)
    let prompt = try promptIDs(args, loaded)
    try checkPromptFits(prompt, newTokens: maxNew, loaded.model)
    let json = args.has("json")
    var eos = args.has("ignore-eos") ? [] : loaded.endOfSequenceIDs
    // A Gemma chat turn ends with <end_of_turn>, not <eos>.
    if args.has("chat"), !args.has("ignore-eos"), let tokenizer = loaded.tokenizer, usesGemmaTurns(tokenizer),
       let endOfTurn = tokenizer.tokenID(for: "<end_of_turn>") {
        eos.insert(endOfTurn)
    }
    // Streamed text leaves special tokens out (a chat answer ends without a raw <|im_end|>);
    // --json's "text" and "output_ids" keep them.
    var streamer = loaded.tokenizer?.makeStreamingDecoder(skipSpecialTokens: true)
    let onToken: ((Int) -> Void)? = json ? nil : { token in
        if streamer != nil {
            if let text = try? streamer!.append(token) { writeStdout(text) }
        } else {
            writeStdout("\(token) ")
        }
    }
    var stopping = StoppingCriteria(maxNewTokens: maxNew, endOfSequenceIDs: eos)
    if let raw = args.string("stop-strings") {
        // One string, or a JSON array of strings: --stop-strings '["\n\n", "User:"]'.
        var list = [raw]
        if raw.hasPrefix("[") {
            guard let parsed = try? JSONSerialization.jsonObject(with: Data(raw.utf8)) as? [String] else {
                throw CLIError("--stop-strings: '\(raw)' starts with '[' but is not a JSON array of strings (e.g. '[\"\\n\\n\", \"User:\"]')")
            }
            list = parsed
        }
        guard let tokenizer = loaded.tokenizer else { throw CLIError("--stop-strings needs a model with a tokenizer") }
        if strategy is BeamSearch.Strategy || strategy is GroupBeamSearch.Strategy
            || (strategy as? ContrastiveDecoding.Strategy)?.settings.mode == .code {
            throw CLIError("--stop-strings is not supported with beam strategies")
        }
        stopping = StoppingCriteria(maxNewTokens: maxNew, endOfSequenceIDs: eos, stopStrings: list,
                                    decode: { ids in (try? tokenizer.decode(ids)) ?? "" })
    }
    let output: StrategyOutput
    do { output = try strategy.generate(model: loaded.model, prompt: prompt, stopping: stopping, traceTopK: topLogits, onToken: onToken) } catch let e as StrategyError {
        throw CLIError(e.description)
    } catch let e as ModelError {
        if case .tokenOutOfRange = e, let table = args.string("vocab-table") {
            throw CLIError("--vocab-table \(table): \(e) (the table was made for another model?)", usage: false)
        }
        throw e
    }
    let generation = output.generation, sequences = output.sequences
    if let step = NonFiniteCheck.firstNonFiniteStep(generation.trace) {
        throw try NonFiniteCheck.diagnose(model: loaded.model, tokens: prompt + generation.outputIDs.prefix(step))
    }
    var extra = strategy.parameters + neuronClampRecord(loaded.model)
    if let seed = strategy.seed { extra.append(("seed", .int(Int(seed)))) }
    extra += output.statistics
    extra += sparseAttention
    let text = try loaded.tokenizer.map { try $0.decode(generation.outputIDs) }
    let s = generation.statistics
    let newTokens = generation.outputIDs.count
    if json {
        var stats: [(String, JSONValue)] = [
            ("strategy", .string(strategy.name)),
            ("model", .string(loaded.model.origin)),
            ("threads", .int(ParallelFor.shared.threadCount)),
            ("prompt_tokens", .int(generation.promptIDs.count)),
            ("new_tokens", .int(newTokens)),
            ("forward_passes", .int(s.forwardPasses)),
            ("prefill_seconds", .double(s.prefillSeconds)),
            ("decode_seconds", .double(s.decodeSeconds)),
            ("prefill_tokens_per_second", .double(s.prefillSeconds > 0 ? Double(generation.promptIDs.count) / s.prefillSeconds : 0)),
            ("decode_tokens_per_second", .double(s.decodeTokensPerSecond(newTokens: newTokens))),
            ("tokens_per_second", .double(s.prefillSeconds + s.decodeSeconds > 0 ? Double(newTokens) / (s.prefillSeconds + s.decodeSeconds) : 0)),
        ]
        if s.verificationSteps > 0 {
            stats.append(("draft_forward_passes", .int(s.draftForwardPasses)))
            stats.append(("verification_steps", .int(s.verificationSteps)))
            stats.append(("accepted_draft_tokens", .int(s.acceptedDraftTokens)))
            stats.append(("mean_accepted_tokens", .double(s.meanAcceptedTokens)))
        }
        stats.append(contentsOf: extra)
        var doc: [(String, JSONValue)] = [
            ("prompt_ids", .ints(generation.promptIDs)),
            ("output_ids", .ints(generation.outputIDs)),
            ("text", text.map { .string($0) } ?? .null),
            ("stop_reason", .string(generation.stopReason.rawValue)),
        ]
        if let sequences {
            doc.append(("sequences", .array(sequences.map { seq in
                .object([("output_ids", .ints(seq.ids)), ("score", .double(seq.score)),
                         ("text", (try? loaded.tokenizer?.decode(seq.ids)).flatMap { $0 }.map { .string($0) } ?? .null)])
            })))
        }
        doc.append(("trace", .array(generation.trace.map { step in
            var fields: [(String, JSONValue)] = [("token", .int(step.token)), ("logit", .float(step.logit))]
            if let p = step.probability { fields.append(("probability", .float(p))) }
            fields.append(("top", .array(step.topLogits.map { .array([.int($0.id), .float($0.logit)]) })))
            if let d = step.drafted { fields.append(("drafted", .ints(d))) }
            if let a = step.accepted { fields.append(("accepted", .int(a))) }
            return .object(fields)
        })))
        doc.append(("stats", .object(stats)))
        printJSON(.object(doc))
    } else {
        if let rest = streamer?.finish() { writeStdout(rest) }
        writeStdout("\n")
        // Interpolation, not String(format:) varargs: a `cond ? Double : 0` argument is an
        // `any CVarArg` holding an Int, which shifted every later field (beam printed
        // "decode 0.0 tok/s, 0 threads").
        func oneDecimal(_ x: Double) -> String { String(format: "%.1f", x) }
        let prefill = s.prefillSeconds > 0 ? "prefill \(oneDecimal(Double(generation.promptIDs.count) / s.prefillSeconds)) tok/s" : "prefill not timed apart"
        var summary = "[\(strategy.name): \(generation.promptIDs.count) prompt + \(newTokens) new tokens, stop: \(generation.stopReason.rawValue), "
            + "\(prefill), decode \(oneDecimal(s.decodeTokensPerSecond(newTokens: newTokens))) tok/s, \(s.forwardPasses) passes, \(ParallelFor.shared.threadCount) threads"
        if s.verificationSteps > 0 { summary += ", MAT " + String(format: "%.2f", s.meanAcceptedTokens) }
        printError(summary + "]")
    }
}

// MARK: logits

func logitsCommand(_ raw: [String]) throws {
    let args = try Arguments(command: "logits", raw, valueOptions: commonValueOptions.union(["prompt-ids", "prompt", "out", "clamp-neuron"]).union(sparseAttentionOptionNames),
                             flagOptions: ["json", "chat", "no-special"])
    guard let out = args.string("out") else { throw CLIError("--out FILE is required (little-endian Float32 [positions, vocab])") }
    try configureThreads(args)
    let loaded = try loadModel(args)
    let sparseAttention = try configureSparseAttention(args, loaded.model)
    let prompt = try promptIDs(args, loaded)
    try checkPromptFits(prompt, newTokens: 0, loaded.model)
    try checkWritable(out)
    let cache = KVCache(shape: loaded.model.shape, initialCapacity: prompt.count)
    var result = try loaded.model.forward(tokens: prompt, cache: cache, logitRows: .all)
    if !sparseAttention.isEmpty && prompt.count > 1 {
        // A prefill attends fully (TidalDecode): the last row is recomputed as the decoding step
        // after the first n − 1 tokens, so it is the sparse-attention next-token distribution.
        cache.rollback(to: prompt.count - 1)
        let last = try loaded.model.forward(tokens: [prompt[prompt.count - 1]], cache: cache, logitRows: .last)
        result.logits.replaceSubrange((prompt.count - 1) * result.vocabularySize ..< prompt.count * result.vocabularySize, with: last.logits)
    }
    try NonFiniteCheck.requireFinite(result.logits, model: loaded.model, tokens: prompt)
    let data = result.logits.withUnsafeBufferPointer { Data(buffer: $0) }  // little-endian on every supported platform
    try writeFile(data, to: out)
    let vocab = loaded.model.shape.vocabularySize
    if args.has("json") {
        var argmaxes: [Int] = []
        result.logits.withUnsafeBufferPointer { p in
            for r in 0..<prompt.count { argmaxes.append(Kernels.argmax(p.baseAddress! + r * vocab, count: vocab)) }
        }
        printJSON(.object([("prompt_ids", .ints(prompt)), ("positions", .int(prompt.count)), ("vocab_size", .int(vocab)),
                           ("out", .string(out)), ("dtype", .string("float32-le")), ("argmax", .ints(argmaxes))] + sparseAttention))
    } else {
        printError("wrote \(prompt.count) × \(vocab) Float32 logits to \(out)")
    }
}

// MARK: tokenize / detokenize

func tokenizeCommand(_ raw: [String]) throws {
    let args = try Arguments(command: "tokenize", raw, valueOptions: ["model", "text", "text-file", "texts-file", "threads", "convention"],
                             flagOptions: ["json", "no-special", "add-special-tokens"])
    if let file = args.string("texts-file") {
        if args.string("text") != nil || args.string("text-file") != nil { throw CLIError("give one of --text, --text-file or --texts-file") }
        return try tokenizeTexts(file: file, args)
    }
    let text: String
    if let t = args.string("text") {
        if args.string("text-file") != nil { throw CLIError("give either --text or --text-file") }
        text = t
    } else if let file = args.string("text-file") {
        guard let data = FileManager.default.contents(atPath: file) else { throw CLIError("cannot read --text-file \(file)", usage: false) }
        guard let t = String(data: data, encoding: .utf8) else { throw CLIError("\(file) is not valid UTF-8", usage: false) }
        text = t
    } else {
        throw CLIError("give the text with --text T or --text-file F")
    }
    let tokenizer = try loadTokenizer(args)
    // --add-special-tokens: BOS/EOS as the tokenizer says (transformers' GGUF-loaded tokenizer
    // prepends BOS; under --convention llama.cpp the file's add_bos_token/add_eos_token decide).
    let ids = tokenizer.encode(text, parseSpecialTokens: !args.has("no-special"), addSpecialTokens: args.has("add-special-tokens"))
    if args.has("json") {
        let tokens = try ids.map { JSONValue.string(try tokenizer.tokenString(for: $0)) }
        printJSON(.object([("ids", .ints(ids)), ("tokens", .array(tokens))]))
    } else {
        print(ids.map(String.init).joined(separator: ","))
    }
}

/// `tokenize --texts-file F`: F is a JSON array of strings; prints one line per text, its ids
/// comma-separated (an empty line for no ids), or with `--json` one array of `{"ids","tokens"}`
/// objects. The tokenizer is loaded once, so a whole test suite costs one process.
func tokenizeTexts(file: String, _ args: Arguments) throws {
    guard let data = FileManager.default.contents(atPath: file) else { throw CLIError("cannot read --texts-file \(file)", usage: false) }
    guard let texts = (try? JSONSerialization.jsonObject(with: data)) as? [String] else {
        throw CLIError("--texts-file \(file) must be a JSON array of strings, e.g. [\"Hello\", \" world\"]", usage: false)
    }
    let tokenizer = try loadTokenizer(args)
    let parse = !args.has("no-special"), addSpecial = args.has("add-special-tokens")
    if args.has("json") {
        var items: [JSONValue] = []
        for text in texts {
            let ids = tokenizer.encode(text, parseSpecialTokens: parse, addSpecialTokens: addSpecial)
            let tokens = try ids.map { JSONValue.string(try tokenizer.tokenString(for: $0)) }
            items.append(.object([("ids", .ints(ids)), ("tokens", .array(tokens))]))
        }
        printJSON(.array(items))
    } else {
        var out = ""
        for text in texts {
            out += tokenizer.encode(text, parseSpecialTokens: parse, addSpecialTokens: addSpecial).map(String.init).joined(separator: ",")
            out += "\n"
        }
        writeStdout(out)
    }
}

func detokenizeCommand(_ raw: [String]) throws {
    let args = try Arguments(command: "detokenize", raw, valueOptions: ["model", "ids", "threads", "convention"], flagOptions: ["skip-special"])
    guard let ids = try args.ids("ids") else { throw CLIError("give the ids with --ids 1,2,3") }
    let tokenizer = try loadTokenizer(args)
    do {
        writeStdout(try tokenizer.decode(ids, skipSpecialTokens: args.has("skip-special")))
    } catch {
        throw CLIError("\(error)", usage: false)
    }
}

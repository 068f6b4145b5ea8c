import Foundation
import Formats
import Tensors
import Tokenization
import Transformer
import Loader
import Decoding
import Benchmarks

/// Processor options (Hugging Face's GenerationConfig names in kebab-case), from the registry.
let processorOptionNames = Set(ProcessorSettings.options.map(\.name))

/// Every strategy's own options, from the registry.
let strategyOptionNames = Set(DecodingStrategies.all.flatMap { $0.options.map(\.name) })

/// The values of the options in `names` that were given on the command line.
func given(_ args: Arguments, _ names: Set<String>) -> StrategyArguments {
    StrategyArguments(args.values.filter { names.contains($0.key) })
}

/// The strategy `generate` runs: `--strategy` (greedy by default; `speculative --seed N` is the
/// historical spelling of `speculative-sampling`) with its options and processors. An option the
/// strategy does not take is an error, never ignored.
func makeStrategy(_ args: Arguments, vocabulary: DryVocabulary? = nil, evidence: PromptEncoding? = nil) throws -> any DecodingStrategy {
    var name = args.string("strategy") ?? "greedy"
    if name == "speculative" && args.string("seed") != nil { name = SpeculativeSampling.Strategy.name }
    guard let type = DecodingStrategies.named(name) else {
        throw CLIError("unknown strategy '\(name)'; available: \(DecodingStrategies.names.joined(separator: ", "))")
    }
    let own = Set(type.options.map(\.name))
    for option in args.values.keys.sorted() where !own.contains(option) {
        if processorOptionNames.contains(option) {
            switch type.processorUse {
            case .all: continue
            case .nonSampling:
                if !ProcessorSettings.warperNames.contains(option) { continue }
                throw CLIError("--\(option) only applies to sampling strategies (sample, speculative-sampling); strategy \(name) is deterministic")
            case .none:
                let hint = name == SpeculativeDecoding.Strategy.name ? " (add --seed N for speculative sampling)" : ""
                throw CLIError("--\(option): strategy \(name) verifies plain greedy decoding; logits processors are not supported with it\(hint)")
            }
        }
        if strategyOptionNames.contains(option) {
            let takes = type.options.isEmpty ? "no options of its own" : "its options: " + type.options.map { "--" + $0.name }.joined(separator: " ")
            throw CLIError("--\(option) does not apply to --strategy \(name) (\(takes))")
        }
    }
    do {
        let processors = type.processorUse == .none ? ProcessorSettings.none
            : try ProcessorSettings(arguments: given(args, processorOptionNames.subtracting(own)), vocabulary: vocabulary)
        let query = args.string("prompt")
        let expertName = args.string("model") ?? ModelStore.defaultModelName
        let context = StrategyContext(loadModel: { name in
            try ModelStore.load(path: try ModelStore.resolve(name, log: { printError($0) })).model
        }, encodeEvidence: evidence.map { encoding in { @Sendable text in try encoding.evidence(text, query: query) } },
        vocabularyDigest: { name in
            try vocabularyDigest(of: ModelStore.load(path: try ModelStore.resolve(name ?? expertName, log: { printError($0) })).tokenizer)
        })
        return try type.init(arguments: given(args, own), processors: processors, context: context)
    } catch let e as StrategyError {
        throw CLIError(e.description)
    }
}

/// SHA-256 of a tokenizer's vocabulary (each id's byte length as 4 little-endian bytes, then its
/// bytes, ids in order); nil without a tokenizer. Two models with equal digests map every id to the
/// same bytes.
func vocabularyDigest(of tokenizer: (any Tokenizer)?) throws -> String? {
    guard let tokenizer else { return nil }
    var hash = SHA256()
    for id in 0..<tokenizer.vocabularySize {
        let bytes = try tokenizer.tokenBytes(for: id)
        let n = UInt32(bytes.count)
        hash.update([UInt8(n & 0xff), UInt8((n >> 8) & 0xff), UInt8((n >> 16) & 0xff), UInt8(n >> 24)])
        hash.update(bytes)
    }
    return hash.finalize()
}

/// The tokenizer as DRY's vocabulary, when DRY's text sequence breakers need resolving.
func dryVocabulary(_ args: Arguments, _ loaded: ModelStore.Loaded) -> DryVocabulary? {
    guard args.string("dry-multiplier") != nil, args.string("dry-sequence-breaker-ids") == nil, let tokenizer = loaded.tokenizer else { return nil }
    return DryVocabulary(count: tokenizer.vocabularySize, tokenBytes: { (try? tokenizer.tokenBytes(for: $0)) ?? [] },
                         encode: { tokenizer.encode(String(decoding: $0, as: UTF8.self), parseSpecialTokens: false) })
}

/// `help generate`'s strategy section, from the registry.
func strategyHelp() -> String {
    var lines: [String] = []
    for type in DecodingStrategies.all {
        var line = "  \(type.name): \(type.summary)"
        switch type.processorUse {
        case .all: line += " [processors: all]"
        case .nonSampling: line += " [processors: non-sampling]"
        case .none: line += " [no processors]"
        }
        lines.append(line)
        for option in type.options { lines.append("      " + option.helpLine) }
    }
    return lines.joined(separator: "\n")
}

/// `help generate`'s processor section, from the registry.
func processorHelp() -> String {
    ProcessorSettings.options.map { "      " + $0.helpLine }.joined(separator: "\n")
}

// MARK: distribution

func distributionCommand(_ raw: [String]) throws {
    let args = try Arguments(command: "distribution", raw,
                             valueOptions: commonValueOptions.union(processorOptionNames).union(["prompt-ids", "prompt", "system", "top", "clamp-neuron"]),
                             flagOptions: ["json", "chat", "no-special"])
    try configureThreads(args)
    let top = try args.int("top", default: 20, range: 0...10_000_000)!
    let loaded = try loadModel(args)
    let prompt = try promptIDs(args, loaded)
    try checkPromptFits(prompt, newTokens: 1, loaded.model)
    let settings: ProcessorSettings
    do {
        settings = try ProcessorSettings(arguments: given(args, processorOptionNames), vocabulary: dryVocabulary(args, loaded))
        try settings.checkTokenIDs(vocabularySize: loaded.model.shape.vocabularySize)
    } catch let e as StrategyError { throw CLIError(e.description) }
    let d: (supportSize: Int, top: [(id: Int, probability: Float)])
    do {
        d = try SampleDecoding.distribution(model: loaded.model, prompt: prompt, parameters: settings.withEOS(loaded.endOfSequenceIDs),
                                            order: settings.order, limit: top)
    } catch let e as SamplingParameterError {
        throw CLIError(e.description)
    }
    if args.has("json") {
        printJSON(.object([("support_size", .int(d.supportSize)),
                           ("top", .array(d.top.map { .array([.int($0.id), .float($0.probability)]) }))]))
    } else {
        print("support size \(d.supportSize)")
        for (id, p) in d.top {
            let text = (try? loaded.tokenizer?.tokenString(for: id)) ?? nil
            print(String(format: "%8d  %.8f", id, p) + (text.map { "  \($0.debugDescription)" } ?? ""))
        }
    }
}

// MARK: VocabTrim frequency table

/// `touchstone vocab-table`: generates text with the target (greedy) and ranks token ids by
/// frequency (count descending, id ascending) for VocabTrim (`VocabTable.calibrate`).
func vocabTableCommand(_ raw: [String]) throws {
    let args = try Arguments(command: "vocab-table", raw, valueOptions: commonValueOptions.union(["questions", "per-category", "max-new-tokens", "out"]),
                             flagOptions: ["json"])
    guard let out = args.string("out") else { throw CLIError("--out FILE is required") }
    try checkWritable(out)
    let questionsPath = try specBenchQuestionsPath(args)
    let perCategory = try args.int("per-category", default: 4, range: 1...10_000)!
    let maxNew = try args.int("max-new-tokens", default: 128, range: 1...4096)!
    try configureThreads(args)
    let loaded = try loadModel(args)
    let tokenizer = try requireTokenizer(loaded)
    let questions = SpecBenchSelection(from: try SpecBenchQuestion.read(contentsOfFile: questionsPath), perCategory: perCategory).questions
    let table = try VocabTable.calibrate(model: loaded.model, tokenizer: tokenizer, questions: questions, maxNewTokens: maxNew,
                                         endOfSequenceIDs: loaded.endOfSequenceIDs) { i, n in writeStderr("\r[\(i)/\(n)] generating…") }
    writeStderr("\n")
    let source = "greedy target generations, \(questions.count) questions from \((questionsPath as NSString).lastPathComponent), up to \(maxNew) tokens each"
    try writeFile(Data((table.document(model: loaded.model.origin, source: source).serialized() + "\n").utf8), to: out)
    printError("wrote \(out): \(table.distinctTokens) distinct ids over \(table.generatedTokens) tokens")
}

import Foundation
import Formats
import Tensors
import Tokenization
import Transformer
import Decoding
import Benchmarks

/// Processor options, named as Hugging Face's GenerationConfig in kebab-case.
let processorOptions: Set<String> = [
    "temperature", "top-k", "top-p", "min-p", "typical-p", "epsilon-cutoff", "eta-cutoff", "repetition-penalty",
    "frequency-penalty", "presence-penalty", "penalty-last-n", "no-repeat-ngram-size", "min-new-tokens", "bad-words-ids",
    "logit-bias", "suppress-tokens", "min-tokens-to-keep", "processor-order",
]

/// Strategy options of `generate`.
let strategyOptions: Set<String> = [
    "seed", "tree", "tree-shape", "draft-threshold", "vocab-trim", "vocab-table", "window-size", "ngram-size", "guess-set-size", "num-beams", "num-beam-groups", "diversity-penalty", "length-penalty", "early-stopping", "num-return-sequences",
    "penalty-alpha", "dola-layers", "draft-model", "draft-layers", "num-assistant-tokens", "prompt-lookup-num-tokens",
    "max-matching-ngram-size",
]

let strategies = ["greedy", "sample", "beam", "group-beam", "contrastive", "dola", "speculative", "prompt-lookup",
                  "token-recycling", "aded", "lookahead"]

/// `SamplingParameters` from the command line.
func samplingParameters(_ args: Arguments, eos: Set<Int>) throws -> SamplingParameters {
    var p = SamplingParameters(eosTokenIDs: eos.sorted())
    p.temperature = try args.double("temperature")
    p.topK = try args.int("top-k", range: 0...Int(Int32.max))
    p.topP = try args.double("top-p")
    p.minP = try args.double("min-p")
    p.typicalP = try args.double("typical-p")
    p.epsilonCutoff = try args.double("epsilon-cutoff")
    p.etaCutoff = try args.double("eta-cutoff")
    p.repetitionPenalty = try args.double("repetition-penalty")
    p.frequencyPenalty = try args.double("frequency-penalty")
    p.presencePenalty = try args.double("presence-penalty")
    p.penaltyLastN = try args.int("penalty-last-n", range: -1...Int(Int32.max))
    p.noRepeatNgramSize = try args.int("no-repeat-ngram-size", range: 0...1_000_000)
    p.minNewTokens = try args.int("min-new-tokens", range: 0...1_000_000)
    p.minTokensToKeep = try args.int("min-tokens-to-keep", default: 1, range: 1...Int(Int32.max))!
    p.suppressTokens = try args.ids("suppress-tokens")
    if let raw = args.string("bad-words-ids") {
        // "1,2;3" = the sequences [1, 2] and [3].
        p.badWordsIDs = try raw.split(separator: ";").map { seq in
            try seq.split(separator: ",").map { t -> Int in
                guard let v = Int(t.trimmingCharacters(in: .whitespaces)), v >= 0 else { throw CLIError("--bad-words-ids: '\(t)' is not a token id (format: 1,2;3)") }
                return v
            }
        }
    }
    if let raw = args.string("logit-bias") {
        // "id:bias,id:bias"
        var bias: [Int: Double] = [:]
        for pair in raw.split(separator: ",") {
            let parts = pair.split(separator: ":")
            guard parts.count == 2, let id = Int(parts[0].trimmingCharacters(in: .whitespaces)), id >= 0,
                  let b = Double(parts[1].trimmingCharacters(in: .whitespaces)), b.isFinite || b == -.infinity else {
                throw CLIError("--logit-bias: '\(pair)' is not id:bias (format: 42:-5.5,7:2)")
            }
            bias[id] = b
        }
        p.logitBias = bias
    }
    return p
}

/// Token ids given to processors must be inside the vocabulary (an id outside it would
/// otherwise be ignored silently).
func checkTokenIDs(_ p: SamplingParameters, vocabularySize v: Int) throws {
    func check(_ ids: [Int], _ option: String) throws {
        if let bad = ids.first(where: { $0 < 0 || $0 >= v }) { throw CLIError("--\(option): token id \(bad) is outside the vocabulary [0, \(v))") }
    }
    try check(p.suppressTokens ?? [], "suppress-tokens")
    try check((p.badWordsIDs ?? []).flatMap { $0 }, "bad-words-ids")
    try check((p.logitBias ?? [:]).keys.sorted(), "logit-bias")
}

func processorOrder(_ args: Arguments) throws -> ProcessorOrder {
    guard let raw = args.string("processor-order") else { return .hf }
    do { return try ProcessorOrder(parsing: raw) } catch { throw CLIError("\(error)") }
}

/// Runs the chosen strategy. Returns the generation and, for beam strategies, every returned
/// sequence with its score.
func runStrategy(_ strategy: String, args: Arguments, loaded: ModelStore.Loaded, prompt: [Int], stopping: StoppingCriteria,
                 traceTopK: Int, onToken: ((Int) -> Void)?) throws -> (Generation, [(ids: [Int], score: Double)]?, [(String, JSONValue)]) {
    let model = loaded.model
    let parameters = try samplingParameters(args, eos: stopping.endOfSequenceIDs)
    try checkTokenIDs(parameters, vocabularySize: model.configuration.vocabularySize)
    let order = try processorOrder(args)
    // Non-sampling processors (repetition penalty, no-repeat n-gram, …) apply to every strategy,
    // as in Hugging Face; warpers (temperature, top-k/p, …) only when sampling.
    let processors: [any LogitsProcessor]
    do { processors = try ProcessorChain.make(parameters, order: order, sampling: strategy == "sample") } catch {
        throw CLIError("\(error)")
    }
    var extra: [(String, JSONValue)] = []
    func requireGreedyOnly() throws {
        // Contrastive search reads --top-k as its candidate count (as Hugging Face does).
        let warpers = ["temperature", "top-k", "top-p", "min-p", "typical-p", "epsilon-cutoff", "eta-cutoff"].filter { !(strategy == "contrastive" && $0 == "top-k") }
        for name in warpers where args.string(name) != nil && strategy != "sample" {
            throw CLIError("--\(name) only applies to --strategy sample (strategy \(strategy) is deterministic)")
        }
    }
    switch strategy {
    case "greedy":
        try requireGreedyOnly()
        return (try GreedyDecoding.generate(model: model, prompt: prompt, stopping: stopping, processors: processors, traceTopK: traceTopK, onToken: onToken), nil, extra)
    case "sample":
        guard let seed = try args.int("seed", range: 0...Int.max) else { throw CLIError("--strategy sample needs --seed N (sampling is reproducible from the seed)") }
        extra.append(("seed", .int(seed)))
        return (try SampleDecoding.generate(model: model, prompt: prompt, parameters: parameters, order: order, seed: UInt64(seed),
                                            stopping: stopping, traceTopK: traceTopK, onToken: onToken), nil, extra)
    case "beam", "group-beam":
        try requireGreedyOnly()
        let beams = try args.int("num-beams", default: 4, range: 1...256)!
        let returns = try args.int("num-return-sequences", default: 1, range: 1...256)!
        if returns > beams { throw CLIError("--num-return-sequences (\(returns)) cannot exceed --num-beams (\(beams))") }
        let lengthPenalty = try args.double("length-penalty") ?? 1.0
        let earlyRaw = (args.string("early-stopping") ?? "false").lowercased()
        guard let early = BeamEarlyStopping(rawValue: earlyRaw) else { throw CLIError("--early-stopping must be true, false or never") }
        let hypotheses: [BeamHypothesis]
        let start = monotonicSeconds()
        if strategy == "beam" {
            hypotheses = try BeamSearch.generate(model: model, prompt: prompt, numBeams: beams, lengthPenalty: lengthPenalty, earlyStopping: early,
                                                 numReturnSequences: returns, stopping: stopping, processors: processors, traceTopK: traceTopK)
        } else {
            let groups = try args.int("num-beam-groups", default: 2, range: 1...256)!
            let diversity = try args.double("diversity-penalty") ?? 0.5
            hypotheses = try GroupBeamSearch.generate(model: model, prompt: prompt, numBeams: beams, numBeamGroups: groups, diversityPenalty: diversity,
                                                      lengthPenalty: lengthPenalty, earlyStopping: early, numReturnSequences: returns,
                                                      stopping: stopping, processors: processors, traceTopK: traceTopK)
            extra.append(("num_beam_groups", .int(groups)))
            extra.append(("diversity_penalty", .double(diversity)))
        }
        guard let best = hypotheses.first else { throw CLIError("beam search returned no hypothesis", usage: false) }
        extra.append(("num_beams", .int(beams)))
        var statistics = Generation.Statistics()
        statistics.decodeSeconds = monotonicSeconds() - start  // prefill included
        let generation = Generation(prompt: prompt, hypothesis: best, stopping: stopping, statistics: statistics)
        if let onToken { generation.outputIDs.forEach(onToken) }
        return (generation, hypotheses.map { (ids: $0.tokens, score: Double($0.score)) }, extra)
    case "contrastive":
        try requireGreedyOnly()
        guard let alpha = try args.double("penalty-alpha") else { throw CLIError("--strategy contrastive needs --penalty-alpha (e.g. 0.6)") }
        let k = try args.int("top-k", default: 4, range: 1...100_000)!
        extra.append(("penalty_alpha", .double(alpha)))
        extra.append(("top_k", .int(k)))
        return (try ContrastiveSearch.generate(model: model, prompt: prompt, penaltyAlpha: alpha, topK: k, stopping: stopping,
                                               processors: processors, traceTopK: traceTopK, onToken: onToken), nil, extra)
    case "dola":
        try requireGreedyOnly()
        let raw = args.string("dola-layers") ?? "high"
        let layers: DoLaLayers
        switch raw.lowercased() {
        case "high": layers = .high
        case "low": layers = .low
        default:
            let list = raw.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard !list.isEmpty, list.count == raw.split(separator: ",").count else { throw CLIError("--dola-layers must be high, low, or a list of layer indices like 0,2,4") }
            layers = .layers(list)
        }
        extra.append(("dola_layers", .string(raw)))
        return (try DoLa.generate(model: model, prompt: prompt, layers: layers, stopping: stopping, processors: processors,
                                  traceTopK: traceTopK, onToken: onToken), nil, extra)
    case "speculative":
        // With --seed: stochastic speculative sampling (Leviathan/Chen) over the processed
        // distributions; without: lossless greedy speculative decoding.
        let sampling = args.string("seed") != nil
        if !sampling { try requireGreedyOnly() }
        let k = try args.int("num-assistant-tokens", default: 5, range: 1...256)!
        var draftModel: LlamaModel
        if let layers = try args.int("draft-layers", range: 1...10_000) {
            if args.string("draft-model") != nil { throw CLIError("give either --draft-layers or --draft-model") }
            draftModel = try model.truncated(toLayers: layers)
            extra.append(("draft_layers", .int(layers)))
        } else if let m = args.string("draft-model") {
            let draft = try ModelStore.load(path: try ModelStore.resolve(m, log: { printError($0) })).model
            guard draft.configuration.vocabularySize == model.configuration.vocabularySize else {
                throw CLIError("the draft model's vocabulary (\(draft.configuration.vocabularySize)) differs from the target's (\(model.configuration.vocabularySize))")
            }
            draftModel = draft
            extra.append(("draft_model", .string(draft.origin)))
        } else {
            throw CLIError("--strategy speculative needs --draft-layers N (the target's first N layers as draft) or --draft-model M")
        }
        extra.append(("num_assistant_tokens", .int(k)))
        var trimmed: TrimmedHeadModel? = nil
        if let keep = try args.int("vocab-trim", range: 1...model.configuration.vocabularySize) {
            guard let tablePath = args.string("vocab-table") else {
                throw CLIError("--vocab-trim N needs --vocab-table FILE (made by `touchstone vocab-table`)")
            }
            let ranking = try VocabTable.readRanking(contentsOfFile: tablePath)
            let trim = try VocabTrim(ranking: ranking, count: keep, vocabularySize: model.configuration.vocabularySize,
                                     alwaysKeep: stopping.endOfSequenceIDs.sorted())
            trimmed = try TrimmedHeadModel(model: draftModel, trim: trim)
            extra.append(("vocab_trim", .int(keep)))
        }
        if sampling {
            let seed = try args.int("seed", range: 0...Int.max)!
            extra.append(("seed", .int(seed)))
            let g: Generation
            if let trimmed {
                g = try SpeculativeSampling.generate(target: model, draft: trimmed, prompt: prompt, parameters: parameters, order: order,
                                                     numDraftTokens: k, seed: UInt64(seed), stopping: stopping, traceTopK: traceTopK, onToken: onToken)
            } else {
                g = try SpeculativeSampling.generate(target: model, draft: draftModel, prompt: prompt, parameters: parameters, order: order,
                                                     numDraftTokens: k, seed: UInt64(seed), stopping: stopping, traceTopK: traceTopK, onToken: onToken)
            }
            return (g, nil, extra)
        }
        if !processors.isEmpty { throw CLIError("greedy speculative decoding verifies plain greedy; logits processors need --seed (speculative sampling)") }
        if let trimmed {
            var drafter = VocabTrimDrafter(draft: trimmed, numTokens: k)
            return (try SpeculativeDecoding.generate(model: model, prompt: prompt, drafter: &drafter, maxDraftTokens: k, stopping: stopping,
                                                     traceTopK: traceTopK, onToken: onToken), nil, extra)
        }
        var drafter = DraftModelDrafter(model: draftModel, numTokens: k)
        return (try SpeculativeDecoding.generate(model: model, prompt: prompt, drafter: &drafter, maxDraftTokens: k, stopping: stopping,
                                                 traceTopK: traceTopK, onToken: onToken), nil, extra)
    case "token-recycling":
        try requireGreedyOnly()
        if !processors.isEmpty { throw CLIError("token recycling verifies plain greedy; logits processors are not supported with it") }
        let tree = try tokenRecyclingTree(args, nodesOption: "tree")
        extra.append(("tree_nodes", .int(tree.count)))
        extra.append(("tree_shape", .string(args.string("tree-shape") ?? "reference")))
        let threshold = try draftThreshold(args.string("draft-threshold") ?? "0")
        extra.append(("draft_threshold", .double(threshold)))
        var drafter = TokenRecyclingDrafter(vocabularySize: model.configuration.vocabularySize, tree: tree, draftThreshold: threshold)
        let g = try SpeculativeDecoding.generate(model: model, prompt: prompt, drafter: &drafter, maxDraftTokens: tree.count, stopping: stopping,
                                                 traceTopK: traceTopK, onToken: onToken)
        // How many nodes each step verified (the threshold drafts fewer, sometimes none).
        let drafts = g.trace.compactMap(\.drafted)
        extra.append(("drafted_tokens", .int(drafts.reduce(0) { $0 + $1.count })))
        extra.append(("empty_drafts", .int(drafts.filter(\.isEmpty).count)))
        return (g, nil, extra)
    case "aded":
        try requireGreedyOnly()
        if !processors.isEmpty { throw CLIError("ADED verifies plain greedy; logits processors are not supported with it") }
        let seed = try args.int("seed", default: 0, range: 0...Int.max)!
        var configuration = ADEDDrafter.Configuration()
        if let nodes = try args.int("tree", range: 1...1024) { configuration.maxNodes = nodes; configuration.choices = min(configuration.choices, nodes) }
        extra.append(("seed", .int(seed)))
        extra.append(("max_nodes", .int(configuration.maxNodes)))
        extra.append(("table", .string("tri-grams of the prompt, updated online")))
        var drafter = ADEDDrafter(table: ADEDDrafter.buildTable(fromTokenSequences: [prompt]), configuration: configuration, seed: UInt64(seed))
        return (try SpeculativeDecoding.generate(model: model, prompt: prompt, drafter: &drafter, maxDraftTokens: configuration.maxNodes,
                                                 stopping: stopping, traceTopK: traceTopK, onToken: onToken), nil, extra)
    case "lookahead":
        try requireGreedyOnly()
        if !processors.isEmpty { throw CLIError("lookahead decoding verifies plain greedy; logits processors are not supported with it") }
        return try runLookahead(args, model: model, prompt: prompt, stopping: stopping, traceTopK: traceTopK, onToken: onToken, extra: extra)
    case "prompt-lookup":
        try requireGreedyOnly()
        if !processors.isEmpty { throw CLIError("prompt lookup here verifies plain greedy; logits processors are not supported with it yet") }
        let n = try args.int("prompt-lookup-num-tokens", default: 10, range: 1...256)!
        let g = try args.int("max-matching-ngram-size", default: 2, range: 1...64)!
        extra.append(("prompt_lookup_num_tokens", .int(n)))
        extra.append(("max_matching_ngram_size", .int(g)))
        var drafter = PromptLookupDrafter(numTokens: n, maxMatchingNgramSize: g, endOfSequenceIDs: stopping.endOfSequenceIDs)
        return (try SpeculativeDecoding.generate(model: model, prompt: prompt, drafter: &drafter, maxDraftTokens: n, stopping: stopping,
                                                 traceTopK: traceTopK, onToken: onToken), nil, extra)
    default:
        throw CLIError("unknown strategy '\(strategy)'; available: \(strategies.joined(separator: ", "))")
    }
}

// MARK: distribution

func distributionCommand(_ raw: [String]) throws {
    let args = try Arguments(command: "distribution", raw,
                             valueOptions: commonValueOptions.union(processorOptions).union(["prompt-ids", "prompt", "system", "top"]),
                             flagOptions: ["json", "chat", "no-special"])
    try configureThreads(args)
    let top = try args.int("top", default: 20, range: 0...10_000_000)!
    let loaded = try loadModel(args)
    let prompt = try promptIDs(args, loaded)
    let parameters = try samplingParameters(args, eos: loaded.endOfSequenceIDs)
    try checkTokenIDs(parameters, vocabularySize: loaded.model.configuration.vocabularySize)
    let order = try processorOrder(args)
    let d: (supportSize: Int, top: [(id: Int, probability: Float)])
    do { d = try SampleDecoding.distribution(model: loaded.model, prompt: prompt, parameters: parameters, order: order, limit: top) } catch let e as SamplingParameterError {
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
    do { try (table.document(model: loaded.model.origin, source: source).serialized() + "\n").write(toFile: out, atomically: true, encoding: .utf8) } catch {
        throw CLIError("cannot write \(out): \(error.localizedDescription)", usage: false)
    }
    printError("wrote \(out): \(table.distinctTokens) distinct ids over \(table.generatedTokens) tokens")
}

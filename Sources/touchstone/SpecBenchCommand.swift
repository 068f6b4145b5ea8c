import Foundation
import Formats
import Transformer
import Decoding
import Benchmarks

/// The methods `bench --spec-bench` can run, from the method options; `--methods` picks some
/// (greedy, the baseline, always runs first).
func specBenchMethods(_ args: Arguments, model: any CausalLanguageModel) throws -> [SpecBenchMethod] {
    let draftLayers = try args.int("draft-layers", default: max(1, model.shape.layerCount / 3), range: 1...model.shape.layerCount)!
    let assistant = try args.int("num-assistant-tokens", default: 4, range: 1...64)!
    let lookupTokens = try args.int("prompt-lookup-num-tokens", default: 10, range: 1...64)!
    let ngram = try args.int("max-matching-ngram-size", default: 2, range: 1...16)!
    // Spec-Bench runs Lookahead with sizes that suit a 2-core CPU unless told otherwise.
    let (w, n, g) = try lookaheadSizes(args, defaults: (3, 2, 3))
    // `--tree-nodes 1,2,4,8` runs one Token Recycling method per size (`token-recycling@N`), each
    // with its own hot matrix, so one run compares tree sizes against the same greedy baseline.
    let trees = try tokenRecyclingVariants(args)
    let treeStats = args.string("tree-stats")
    if treeStats != nil && trees.count > 1 { throw CLIError("--tree-stats records one tree: give a single --tree-nodes value (the default runs two trees)") }
    var all: [SpecBenchMethod] = [
        .greedy,
        .promptLookup(numTokens: lookupTokens, maxMatchingNgramSize: ngram),
        .speculative(draft: try model.truncated(toLayers: draftLayers), numAssistantTokens: assistant),
    ]
    var writeTreeStats: ((TokenRecyclingDrafter) throws -> Void)? = nil
    if let path = treeStats {
        writeTreeStats = { drafter in
            try (TokenRecyclingTreeStatistics.json(for: drafter).serialized() + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        }
    }
    for variant in trees {
        all.append(.tokenRecycling(variant, vocabularySize: model.shape.vocabularySize, afterEachRun: writeTreeStats))
    }
    all.append(.aded)
    all.append(.lookahead(windowSize: w, ngramSize: n, guessSetSize: g))
    all += try medusaMethods(args, model: model)
    all += try ppdMethods(args, model: model)
    all += try chimeraMethods(args, model: model)
    guard let list = args.string("methods") else { return all }
    do {
        return try SpecBenchMethod.select(list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }, from: all)
    } catch BenchmarkError.unknownMethod(let name, let available) {
        throw CLIError("unknown method '\(name)' in --methods; available: \(available.joined(separator: ", "))")
    }
}

/// Medusa in `bench --spec-bench`: `--medusa-heads FILE` (default: the shipped heads; without
/// them and without `--medusa-heads`, Medusa is left out unless `--methods` names it) and
/// `--medusa-choices NAME,NAME…` (one method per table, `medusa@NAME`) or one JSON list of paths.
func medusaMethods(_ args: Arguments, model: any CausalLanguageModel) throws -> [SpecBenchMethod] {
    let heads: MedusaHeads, headsName: String
    do {
        if let path = args.string("medusa-heads") {
            (heads, headsName) = (try MedusaHeads.load(path: path), path)
        } else {
            (heads, headsName) = (try MedusaHeads.shipped(), "shipped")
        }
        try heads.check(against: model)
    } catch let e as MedusaError {
        let named = (args.string("methods") ?? "").split(separator: ",").contains { $0.trimmingCharacters(in: .whitespaces).hasPrefix("medusa") }
        if args.string("medusa-heads") != nil || named { throw CLIError(e.description, usage: false) }
        printError("note: Medusa left out (\(e.description))")
        return []
    }
    let text = args.string("medusa-choices") ?? MedusaDecoding.Strategy.defaultChoices
    let tables = text.trimmingCharacters(in: .whitespaces).hasPrefix("[") ? [text] : text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
    do {
        return try tables.map { table in
            try SpecBenchMethod.medusa(name: tables.count == 1 ? "medusa" : "medusa@\(table)", heads: heads, headsName: headsName, choices: table)
        }
    } catch let e as MedusaError {
        throw CLIError(e.description)
    }
}

/// Parallel prompt decoding in `bench --spec-bench` when `--methods` names `ppd` (with the shipped
/// embeddings unless `--ppd-prompts FILE|random:SEED:K` says otherwise) or `--ppd-prompts` is given, and
/// `--ppd-tree NAME,NAME…` (one method per table, `ppd@NAME`) or one JSON table.
func ppdMethods(_ args: Arguments, model: any CausalLanguageModel) throws -> [SpecBenchMethod] {
    let named = (args.string("methods") ?? "").split(separator: ",").contains { $0.trimmingCharacters(in: .whitespaces).hasPrefix("ppd") }
    guard let prompts = args.string("ppd-prompts") ?? (named ? "shipped" : nil) else { return [] }
    let text = args.string("ppd-tree") ?? ParallelPromptDecoding.Strategy.defaultTree
    let tables = text.trimmingCharacters(in: .whitespaces).hasPrefix("{") ? [text] : text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
    do {
        return try tables.map { table in
            try SpecBenchMethod.ppd(name: tables.count == 1 ? "ppd" : "ppd@\(table)", prompts: prompts, tree: table, model: model)
        }
    } catch let e as PPDError {
        throw CLIError(e.description, usage: false)
    }
}

/// Chimera in `bench --spec-bench` when `--methods` names `chimera` (with the shipped draft unless
/// `--chimera-weights FILE|random:SEED[:K]` says otherwise) or `--chimera-weights` is given, over `--chimera-choices
/// NAME,NAME…` (one method per table, `chimera@NAME`; default the strategy's) or one JSON list.
func chimeraMethods(_ args: Arguments, model: any CausalLanguageModel) throws -> [SpecBenchMethod] {
    let named = (args.string("methods") ?? "").split(separator: ",").contains { $0.trimmingCharacters(in: .whitespaces).hasPrefix("chimera") }
    guard let name = args.string("chimera-weights") ?? (named ? "shipped" : nil) else { return [] }
    let text = args.string("chimera-choices") ?? ChimeraDecoding.Strategy.defaultChoices
    let tables = text.trimmingCharacters(in: .whitespaces).hasPrefix("[") ? [text] : text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
    do {
        // Built once through the strategy (which loads the file or reads random:SEED[:K]), then shared.
        let weights = try ChimeraDecoding.Strategy(weights: name, choices: "chain-1").resolveWeights(for: model)
        try weights.check(against: model)
        return try tables.map { table in
            try SpecBenchMethod.chimera(name: tables.count == 1 ? "chimera" : "chimera@\(table)", weights: weights, weightsName: name, choices: table)
        }
    } catch let e as ChimeraError {
        throw CLIError(e.description, usage: false)
    } catch let e as MedusaError {
        throw CLIError(e.description)
    }
}

/// `--questions FILE`, or the question set shipped in the repository: `Fixtures/spec-bench/question.jsonl`
/// under the current directory, else under a directory above the executable (a build in `.build/`).
func specBenchQuestionsPath(_ args: Arguments) throws -> String {
    if let path = args.string("questions") { return path }
    let current = FileManager.default.currentDirectoryPath
    var directories = [current]
    var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    for _ in 0..<4 {
        dir = dir.deletingLastPathComponent()
        directories.append(dir.path)
    }
    guard let path = SpecBenchQuestion.locateShippedFile(searching: directories) else {
        throw CLIError("no --questions FILE given, and \(SpecBenchQuestion.shippedFileRelativePath) is not under the current directory (\(current)): "
                       + "run from the Touchstone checkout or give --questions FILE (Spec-Bench question.jsonl)")
    }
    return path
}

/// `touchstone bench --spec-bench [--questions FILE]`: every method on the first turn of each
/// selected question (ChatML, greedy), MAT and tokens/s per category, speedup over greedy
/// measured in the same run, and token identity with greedy checked for every run.
func benchSpecBench(_ args: Arguments) throws {
    let path = try specBenchQuestionsPath(args)
    // Defaults: Spec-Bench's protocol (1,024 new tokens), one question per category.
    let perCategory = try args.int("per-category", default: 1, range: 1...10_000)!
    let skip = try args.int("skip-per-category", default: 0, range: 0...10_000)!
    let maxNew = try args.int("max-new-tokens", default: 1024, range: 1...4096)!
    let loaded = try loadModel(args)
    let tokenizer = try requireTokenizer(loaded)
    let methods = try specBenchMethods(args, model: loaded.model)
    let selection = SpecBenchSelection(from: try SpecBenchQuestion.read(contentsOfFile: path),
                                       categories: args.string("categories").map { $0.split(separator: ",").map(String.init) },
                                       perCategory: perCategory, skippingPerCategory: skip)
    let stopping = StoppingCriteria(maxNewTokens: maxNew, endOfSequenceIDs: loaded.endOfSequenceIDs)
    let report = try SpecBench.run(model: loaded.model, tokenizer: tokenizer, selection: selection, methods: methods, stopping: stopping) { p in
        if let mismatch = p.mismatchMessage { printError("\n" + mismatch) }
        writeStderr("\r" + p.statusLine + "   ")
    }
    writeStderr("\n")
    if args.has("json") { printJSON(report.json()) } else { print(report.table()) }
}

import Foundation
import Formats
import Benchmarks

func benchCommand(_ raw: [String]) throws {
    // `--evidence-qa [FILE]`: the file is optional, so it is taken out before parsing.
    var raw = raw, evidenceQA: String?? = nil
    if let i = raw.firstIndex(of: "--evidence-qa") {
        let hasFile = i + 1 < raw.count && !raw[i + 1].hasPrefix("--")
        evidenceQA = .some(hasFile ? raw[i + 1] : nil)
        raw.removeSubrange(i...(hasFile ? i + 1 : i))
    }
    let args = try Arguments(command: "bench", raw,
                             valueOptions: commonValueOptions.union(["runs", "prompt-length", "decode-tokens", "text-file", "questions",
                                                                     "per-category", "skip-per-category", "max-new-tokens", "methods", "categories", "draft-layers",
                                                                     "num-assistant-tokens", "prompt-lookup-num-tokens", "max-matching-ngram-size",
                                                                     "tree-nodes", "tree-shape", "tree-stats", "window-size", "ngram-size", "guess-set-size", "sizes", "draft-threshold",
                                                                     "busy", "rounds", "busy-seconds", "convention", "medusa-heads", "medusa-choices", "ppd-prompts", "ppd-tree", "chimera-weights", "chimera-choices"]).union(sparseAttentionBenchOptionNames),
                             flagOptions: ["json", "tokenizer", "no-naive", "spec-bench", "batch-sweep"])
    try configureThreads(args)
    if let file = evidenceQA { return try benchEvidenceQA(args, file: file) }
    if args.has("tokenizer") { return try benchTokenizer(args) }
    if args.has("batch-sweep") { return try benchBatchSweep(args) }
    if args.has("spec-bench") { return try benchSpecBench(args) }
    if args.string("busy") != nil { return try benchBusy(args) }
    if args.string("sparse-attention") != nil { return try benchSparseAttention(args) }
    let options = ModelBenchmark.Options(runs: try args.int("runs", default: 5, range: 1...100)!,
                                         promptLength: try args.int("prompt-length", default: 64, range: 1...4096)!,
                                         decodeTokens: try args.int("decode-tokens", default: 32, range: 1...4096)!,
                                         measureNaivePath: !args.has("no-naive"))
    let model = try loadModel(args).model
    let report = try ModelBenchmark.run(model: model, options: options, progress: { printError($0) })
    if args.has("json") { printJSON(report.json()) } else { print(report.table()) }
}

/// `bench --batch-sweep`: the cost of verification passes of 1…81 tokens (or `--sizes`).
func benchBatchSweep(_ args: Arguments) throws {
    let runs = try args.int("runs", default: 5, range: 1...100)!
    let promptLength = try args.int("prompt-length", default: 128, range: 1...4096)!
    var sizes = BatchSweep.defaultSizes
    if let list = args.string("sizes") {
        let parsed = Arguments.commaSeparated(list).map { Int($0) }
        guard parsed.allSatisfy({ $0 != nil && (1...512).contains($0!) }) else {
            throw CLIError("--sizes takes a comma-separated list of token counts in 1...512, e.g. 1,2,3,4; got '\(list)'")
        }
        sizes = parsed.map { $0! }
    }
    let model = try loadModel(args).model
    let report = try BatchSweep.run(model: model, promptLength: promptLength, sizes: sizes, runs: runs, progress: { printError($0) })
    if args.has("json") { printJSON(report.json()) } else { print(report.table()) }
}

/// `bench --tokenizer`: encode throughput on `--text-file` or a generated 1 MiB corpus.
func benchTokenizer(_ args: Arguments) throws {
    let tokenizer = try loadTokenizer(args)  // any GGUF (vocabulary-only too) or tokenizer.json; no weights
    let texts = try args.string("text-file").map { try TokenizerBenchmark.texts(contentsOfFile: $0) } ?? TokenizerBenchmark.syntheticCorpus(bytes: 1 << 20)
    let report = TokenizerBenchmark.run(tokenizer: tokenizer, texts: texts)
    if args.has("json") { printJSON(report.json()) } else { print(report.line()) }
}

/// `bench --busy N`: 1-thread and T-thread decode, alternated, while N `touchstone burn`
/// processes compete for the cores (each bounded by --busy-seconds, ended by PID when done).
func benchBusy(_ args: Arguments) throws {
    let processes = try args.int("busy", default: 2, range: 0...64)!
    let seconds = try args.int("busy-seconds", default: 600, range: 1...86_400)!
    let options = BusyMachineBenchmark.Options(competingProcesses: processes,
                                               rounds: try args.int("rounds", default: 4, range: 1...100)!,
                                               promptLength: try args.int("prompt-length", default: 16, range: 1...4096)!,
                                               decodeTokens: try args.int("decode-tokens", default: 32, range: 1...4096)!)
    let model = try loadModel(args).model
    let executable = currentExecutablePath()
    let report = try BusyMachineBenchmark.run(model: model, options: options, load: { n in
        try CompetingLoad(processes: n, executable: executable, arguments: ["burn", "--seconds", "\(seconds)"])
    }, progress: { printError($0) })
    if args.has("json") { printJSON(report.json()) } else { print(report.table()) }
}

/// `touchstone burn --seconds S` (not listed in the help): keeps one core busy for S seconds;
/// the competing process of `bench --busy`.
func burnCommand(_ raw: [String]) throws {
    let args = try Arguments(command: "burn", raw, valueOptions: ["seconds"], flagOptions: [])
    burnCPU(seconds: Double(try args.int("seconds", default: 60, range: 1...86_400)!))
}

/// `bench --evidence-qa [FILE]`: greedy, CAD α 0.5 and 1.0 (and contrastive decoding when it is
/// registered) on counterfactual evidence-plus-question cases: how often the answer follows the
/// evidence, and cost per token against greedy.
func benchEvidenceQA(_ args: Arguments, file: String?) throws {
    let path = try file ?? {
        let current = FileManager.default.currentDirectoryPath
        var directories = [current]
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<4 {
            dir = dir.deletingLastPathComponent()
            directories.append(dir.path)
        }
        for directory in directories {
            let candidate = URL(fileURLWithPath: directory).appendingPathComponent(EvidenceQACase.shippedFileRelativePath).path
            if FileManager.default.isReadableFile(atPath: candidate) { return candidate }
        }
        throw CLIError("no FILE after --evidence-qa, and \(EvidenceQACase.shippedFileRelativePath) is not under the current directory (\(current)): run from the Touchstone checkout or give --evidence-qa FILE")
    }()
    let cases = try EvidenceQACase.read(contentsOfFile: path)
    let maxNew = try args.int("max-new-tokens", default: 24, range: 1...4096)!
    let loaded = try loadModel(args)
    let tokenizer = try requireTokenizer(loaded)
    let report = try EvidenceQABenchmark.run(model: loaded.model, tokenizer: tokenizer, cases: cases, maxNewTokens: maxNew,
                                             endOfSequenceIDs: loaded.endOfSequenceIDs, progress: { printError($0) })
    if args.has("json") { printJSON(report.json()) } else { print(report.table()) }
}

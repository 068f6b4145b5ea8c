import Foundation
import Formats
import Tensors
import Transformer
import Loader
import Probing

let surplusHelp = """
    touchstone surplus [--model M] [--probes FILE (Weights/smollm2-135m-instruct/surplus-probes.safetensors)]
                       [--layers A,B,…|all-in-file (default all-in-file)]
                       (--prompt-ids FILE_OR_LIST | --texts-file FILE) [--bootstrap N (1000)] [--seed S (20)]
                       [--json] [--threads T] [--weights native|f32]
      Information surplus (DOCS.md 8.6): how much the hidden state h_t at layer ℓ (Hugging Face hidden_states
      numbering, as lens) tells about x_{t+2} beyond the next token x_{t+1}: the mean cross-entropy of the probe on
      x_{t+1} alone minus that of the probe on (rms(h_t), x_{t+1}), in nats per position, with a paired 95% bootstrap
      interval over sequences (xoshiro256**, --seed). Scores targets x_{t+2} for t = first…T−3 of every sequence.
      --prompt-ids: comma-separated ids (one sequence), or a JSON file: an array of ids, an array of arrays, or
      {"sequences":[{"ids":[…],"first_position":k},…]} (Fixtures/surplus/heldout.json; first_position defaults to 0).
      --texts-file: a JSON array of strings, each tokenized with the model's tokenizer (special tokens parsed).
      --json prints {"layers":[{"layer","ce_next_only","ce_with_hidden","surplus","ci95":[lo,hi],"positions"},…],
      "probes","sequences","bootstrap","seed","seconds","threads"}.
    """

/// `--probes FILE`, or the probe file shipped in the repository, looked up under the current
/// directory and then the directories above the executable (a build in `.build/`).
private func surplusProbesPath(_ args: Arguments) throws -> String {
    if let path = args.string("probes") { return path }
    let relative = "Weights/smollm2-135m-instruct/surplus-probes.safetensors"
    var directories = [FileManager.default.currentDirectoryPath]
    var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    for _ in 0..<4 {
        dir = dir.deletingLastPathComponent()
        directories.append(dir.path)
    }
    for d in directories {
        let path = (d as NSString).appendingPathComponent(relative)
        if FileManager.default.fileExists(atPath: path) { return path }
    }
    throw CLIError("no --probes FILE given, and \(relative) is not under the current directory: run from the Touchstone checkout or give --probes FILE")
}

/// The sequences of `--prompt-ids` (a list or a JSON file) or `--texts-file`.
private func surplusSequences(_ args: Arguments, _ loaded: ModelStore.Loaded) throws -> [InformationSurplus.ScoredSequence] {
    let idsOption = args.string("prompt-ids"), textsOption = args.string("texts-file")
    guard (idsOption == nil) != (textsOption == nil) else { throw CLIError("give one of --prompt-ids FILE_OR_LIST or --texts-file FILE") }
    if let file = textsOption {
        guard let data = FileManager.default.contents(atPath: file) else { throw CLIError("cannot read --texts-file \(file)", usage: false) }
        guard let texts = try? JSONSerialization.jsonObject(with: data) as? [String] else {
            throw CLIError("--texts-file \(file) must be a JSON array of strings, e.g. [\"Hello there\", \"A second text\"]", usage: false)
        }
        let tokenizer = try requireTokenizer(loaded)
        return texts.map { InformationSurplus.ScoredSequence(ids: tokenizer.encode($0, parseSpecialTokens: true)) }
    }
    let raw = idsOption!
    guard FileManager.default.fileExists(atPath: raw) else {
        return [InformationSurplus.ScoredSequence(ids: try args.ids("prompt-ids") ?? [])]
    }
    guard let data = FileManager.default.contents(atPath: raw), let json = try? JSONSerialization.jsonObject(with: data) else {
        throw CLIError("--prompt-ids \(raw) is not a readable JSON file", usage: false)
    }
    func ids(_ value: Any, _ what: String) throws -> [Int] {
        guard let list = value as? [Any] else { throw CLIError("--prompt-ids \(raw): \(what) is not an array of token ids", usage: false) }
        return try list.map {
            guard let n = $0 as? NSNumber, let v = Int(exactly: n.doubleValue) else {
                throw CLIError("--prompt-ids \(raw): \(what) holds \($0), not a token id", usage: false)
            }
            return v
        }
    }
    if let doc = json as? [String: Any] {
        guard let seqs = doc["sequences"] as? [[String: Any]] else {
            throw CLIError("--prompt-ids \(raw): a JSON object needs \"sequences\": [{\"ids\":[…],\"first_position\":k},…]", usage: false)
        }
        return try seqs.enumerated().map { i, s in
            let first: Int
            if let f = s["first_position"] {
                guard let n = f as? NSNumber, let v = Int(exactly: n.doubleValue), v >= 0 else {
                    throw CLIError("--prompt-ids \(raw): sequences[\(i)].first_position must be a non-negative integer", usage: false)
                }
                first = v
            } else { first = 0 }
            return InformationSurplus.ScoredSequence(ids: try ids(s["ids"] as Any, "sequences[\(i)].ids"), firstPosition: first)
        }
    }
    if let list = json as? [Any], list.allSatisfy({ $0 is [Any] }), !list.isEmpty {
        return try list.enumerated().map { InformationSurplus.ScoredSequence(ids: try ids($1, "item \($0)")) }
    }
    return [InformationSurplus.ScoredSequence(ids: try ids(json, "the file"))]
}

func surplusCommand(_ raw: [String]) throws {
    let args = try Arguments(command: "surplus", raw,
                             valueOptions: commonValueOptions.union(["probes", "layers", "prompt-ids", "texts-file", "bootstrap", "seed"]),
                             flagOptions: ["json"])
    let resamples = try args.int("bootstrap", default: 1000, range: 1...1_000_000)!
    let seed = try args.int("seed", default: 20, range: 0...Int.max)!
    try configureThreads(args)
    let probesPath = try surplusProbesPath(args)
    let probes: InformationSurplus.ProbeSet
    do {
        probes = try InformationSurplus.loadProbes(path: probesPath)
    } catch {
        throw CLIError("--probes \(probesPath): \(error)", usage: false)
    }
    var layers: [Int]? = nil
    if let spec = args.string("layers"), spec != "all-in-file" {
        layers = try Arguments.commaSeparated(spec).map {
            guard let v = Int($0) else { throw CLIError("--layers: '\($0)' is not a layer (give all-in-file, or comma-separated layers the probe file has)") }
            return v
        }
    }
    let loaded = try loadModel(args)
    let sequences = try surplusSequences(args, loaded)
    for s in sequences { try checkPromptFits(s.ids, newTokens: 0, loaded.model) }
    let start = DispatchTime.now().uptimeNanoseconds
    let results = try InformationSurplus.run(model: loaded.model, probes: probes, layers: layers, sequences: sequences, resamples: resamples, seed: UInt64(seed))
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    if args.has("json") {
        let rows: [JSONValue] = results.map { r in
            .object([("layer", .int(r.layer)), ("ce_next_only", .double(r.ceNextOnly)), ("ce_with_hidden", .double(r.ceWithHidden)),
                     ("surplus", .double(r.surplus)), ("ci95", .array([.double(r.ci95.lower), .double(r.ci95.upper)])),
                     ("positions", .int(r.positions))])
        }
        printJSON(.object([("layers", .array(rows)), ("probes", .string(probesPath)), ("sequences", .int(sequences.count)),
                           ("bootstrap", .int(resamples)), ("seed", .int(seed)), ("seconds", .double(seconds)),
                           ("threads", .int(ParallelFor.shared.threadCount))]))
    } else {
        print("layer  CE next only  CE with hidden  surplus (nats)  95% CI")
        for r in results {
            print(String(format: "%5d  %12.4f  %14.4f  %14.4f  [%.4f, %.4f]", r.layer, r.ceNextOnly, r.ceWithHidden, r.surplus, r.ci95.lower, r.ci95.upper))
        }
        printError("[\(results.first?.positions ?? 0) positions in \(sequences.count) sequences, \(resamples) bootstrap resamples, seed \(seed), \(String(format: "%.1f", seconds)) s]")
    }
}

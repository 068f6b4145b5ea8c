import Foundation
import Benchmarks
import Formats
import Transformer

/// `--sparse-attention tidal --token-budget K --selection-layer S --reselection-layer R`, taken by
/// `generate` (every strategy) and `logits`.
let sparseAttentionOptionNames: Set<String> = ["sparse-attention", "token-budget", "selection-layer", "reselection-layer"]

/// Sets `model.attentionMode` from the sparse-attention options (full attention without
/// `--sparse-attention`) and returns what the JSON record lists: nothing when the mode is off.
/// Throws a usage error for an unknown mode, a budget below 1, a layer outside the model, or a
/// TidalDecode option without `--sparse-attention tidal`.
func configureSparseAttention(_ args: Arguments, _ model: any CausalLanguageModel) throws -> [(String, JSONValue)] {
    guard let name = args.string("sparse-attention") else {
        for option in ["token-budget", "selection-layer", "reselection-layer"] where args.string(option) != nil {
            throw CLIError("--\(option) needs --sparse-attention tidal")
        }
        model.attentionMode = .full
        return []
    }
    guard name == "tidal" else { throw CLIError("unknown --sparse-attention '\(name)'; available: tidal") }
    let L = model.shape.layerCount
    let defaults = TidalDecode.defaults(layerCount: L)
    guard let budget = try args.int("token-budget", default: defaults.tokenBudget),
          let s = try args.int("selection-layer", default: defaults.selectionLayer),
          let r = try args.int("reselection-layer", default: defaults.reselectionLayer) else { return [] }
    let mode = AttentionMode.tidal(TidalDecode(tokenBudget: budget, selectionLayer: s, reselectionLayer: r))
    do { try mode.validate(layerCount: L) } catch let e as ModelError { throw CLIError(e.description) }
    model.attentionMode = mode
    return mode.record
}

/// `help`'s lines for the sparse-attention options.
let sparseAttentionHelp = """
  --sparse-attention tidal  TidalDecode (arXiv:2410.05076): full attention in prefill and in layers < S; per-head top-K
      selection at layers S and R, attention restricted to the selected positions in the other layers (DOCS.md 3.2)
  --token-budget K (256)  --selection-layer S (2 for 30 layers)  --reselection-layer R (12 for 30 layers; R <= S: none)
"""

/// `bench --sparse-attention tidal`'s own options (with `--text-file`, `--decode-tokens`, `--runs`).
let sparseAttentionBenchOptionNames: Set<String> = ["sparse-attention", "lengths", "budgets", "selection-layer", "reselection-layer"]

/// `bench --sparse-attention tidal [--text-file F (DOCS.md)] [--lengths 1024,2048,4096,7168]
/// [--budgets 64,128,256,512] [--decode-tokens 32] [--runs 1] [--selection-layer S]
/// [--reselection-layer R]`: TidalDecode against full attention in one process.
func benchSparseAttention(_ args: Arguments) throws {
    guard args.string("sparse-attention") == "tidal" else {
        throw CLIError("unknown --sparse-attention '\(args.string("sparse-attention") ?? "")'; available: tidal")
    }
    func list(_ name: String, _ fallback: [Int]) throws -> [Int] {
        guard let raw = args.string(name) else { return fallback }
        let parsed = Arguments.commaSeparated(raw).map { Int($0) }
        guard !parsed.isEmpty, parsed.allSatisfy({ $0 != nil && $0! >= 1 }) else {
            throw CLIError("--\(name) takes a comma-separated list of positive integers, e.g. 64,128; got '\(raw)'")
        }
        return parsed.map { $0! }
    }
    let defaults = SparseAttentionBenchmark.Options()
    let options = SparseAttentionBenchmark.Options(lengths: try list("lengths", defaults.lengths), budgets: try list("budgets", defaults.budgets),
                                                   decodeTokens: try args.int("decode-tokens", default: 32, range: 2...4096)!,
                                                   selectionLayer: try args.int("selection-layer"), reselectionLayer: try args.int("reselection-layer"),
                                                   runs: try args.int("runs", default: 1, range: 1...100)!)
    let loaded = try loadModel(args)
    let tokenizer = try requireTokenizer(loaded)
    let path = args.string("text-file") ?? "DOCS.md"
    guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
        throw CLIError("cannot read --text-file \(path) as UTF-8 text (the default is DOCS.md in the current directory)", usage: false)
    }
    let ids = tokenizer.encode(text, parseSpecialTokens: false)
    let report: SparseAttentionReport
    do {
        report = try SparseAttentionBenchmark.run(model: loaded.model, text: ids, options: options, progress: { printError($0) })
    } catch let e as BenchmarkError { throw CLIError(e.description) }
    if args.has("json") { printJSON(report.json()) } else { print(report.table()) }
}

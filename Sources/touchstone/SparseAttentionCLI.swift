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
      selection at layers S and R, attention restricted to the selected positions in the other layers (DOCS.md 5.9)
  --token-budget K (256)  --selection-layer S (2 for 30 layers)  --reselection-layer R (12 for 30 layers; R <= S: none)
"""

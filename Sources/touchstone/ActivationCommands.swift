import Foundation
import Formats
import Tensors
import Transformer
import Loader
import Golden

let activationsHelp = """
    touchstone activations [--model M] (--prompt-ids 1,2,3 | --prompt TEXT [--chat] [--system TEXT] [--no-special])
                           --out DIR [--layer L (default 0)] [--no-logits] [--weights native|f32] [--json] [--threads T]
      Runs the prompt once and writes, as .npy files (little-endian float32, C order, format 1.0) plus
      DIR/manifest.json: embeddings, blk.N.output for every block N (0-based, GGUF blk.N), final_norm, logits
      (every position), and block L's intermediates: attn_norm, q_proj, k_proj, v, q, k (after RoPE), attn_output
      (before Wo), attn_projection (after Wo), attn_residual, ffn_norm, gate, up, swiglu, mlp_output.
      Q and K are in GGUF row order (adjacent-pair RoPE); the manifest says how to convert to Hugging Face's.
      --json prints {"out","arrays","prompt_ids","intermediates_layer","model"}.
    """

let explainHelp = """
    touchstone explain REFERENCE_DIR CANDIDATE_DIR [--floor F (1e-6)] [--ratio R (100)] [--json]
      Compares two activation dumps array by array in forward order: max |Δ| and normalized MSE ‖a−b‖²/‖a‖²
      (a = reference). The first jump is the first array whose normalized MSE exceeds both the floor and
      R × that of the array compared before it: the likely faulty operation. Also names the first array that
      is not bit-identical. Exit 0 when nothing jumps, 1 when something does (or nothing could be compared).
    """

/// `touchstone activations`: writes a layer-by-layer dump of one forward pass.
func activationsCommand(_ raw: [String]) throws {
    let args = try Arguments(command: "activations", raw,
                             valueOptions: commonValueOptions.union(["prompt-ids", "prompt", "system", "out", "layer"]),
                             flagOptions: ["json", "chat", "no-special", "no-logits"])
    guard let out = args.string("out") else { throw CLIError("--out DIR is required (the dump's directory; created when needed)") }
    try configureThreads(args)
    let loaded = try loadModel(args)
    let layers = loaded.model.shape.layerCount
    guard let layer = try args.int("layer", default: 0, range: 0...max(0, layers - 1)) else {
        throw CLIError("--layer must be a block index in 0...\(layers - 1)")
    }
    let prompt = try promptIDs(args, loaded)
    let weights = args.string("weights") ?? "native"
    let identity: JSONValue
    do { identity = try ActivationDump.fileIdentity(path: loaded.path, origin: loaded.model.origin, weights: weights) } catch {
        throw CLIError("cannot hash the model file \(loaded.path): \(error)", usage: false)
    }
    let dump = try ActivationDump.record(model: loaded.model, prompt: prompt, identity: identity, intermediatesOfLayer: layer,
                                         includeLogits: !args.has("no-logits"))
    do { try dump.write(to: out) } catch { throw CLIError("\(error)", usage: false) }
    if args.has("json") {
        printJSON(.object([("out", .string(out)), ("arrays", .int(dump.entries.count)), ("prompt_ids", .ints(prompt)),
                           ("intermediates_layer", .int(layer)), ("model", identity)]))
    } else {
        printError("wrote \(dump.entries.count) arrays (\(prompt.count) tokens, block \(layer)'s intermediates) and \(ActivationDump.manifestName) to \(out)")
    }
}

/// `touchstone explain REFERENCE CANDIDATE`: names where two activation dumps first part.
func explainCommand(_ raw: [String]) throws {
    let args = try Arguments(command: "explain", raw, valueOptions: ["floor", "ratio", "threads"], flagOptions: ["json"], positionalLimit: 2)
    guard args.positional.count == 2 else {
        throw CLIError("usage: touchstone explain REFERENCE_DIR CANDIDATE_DIR [--floor F] [--ratio R] [--json]")
    }
    var rule = Explainer.Rule()
    if let f = try args.double("floor") {
        guard f >= 0 else { throw CLIError("--floor must be a non-negative normalized MSE, got \(f)") }
        rule.floor = f
    }
    if let r = try args.double("ratio") {
        guard r >= 1 else { throw CLIError("--ratio must be at least 1, got \(r)") }
        rule.ratio = r
    }
    func read(_ path: String) throws -> ActivationDump {
        do { return try ActivationDump(directory: path) } catch { throw CLIError("\(error)", usage: false) }
    }
    let reference = try read(args.positional[0])
    let candidate = try read(args.positional[1])
    let report = Explainer.explain(reference: reference, candidate: candidate, rule: rule)
    if args.has("json") {
        printJSON(report.json)
    } else {
        for line in report.lines { print(line) }
    }
    if !report.passes { exit(1) }
}

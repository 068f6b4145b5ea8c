import Foundation
import Formats
import Tensors
import Transformer
import Loader
import Probing

let atomsHelp = """
    touchstone atoms [--model M] [--sae FILE] [--layer ℓ] (--prompt-ids 1,2,3 | --prompt TEXT [--chat] [--system TEXT] [--no-special])
                     [--top K (default 10; 0 = all active)] [--lens-top K (default 5)] [--no-norm] [--r2-from P (default 1)]
                     [--json] [--threads T] [--weights native|f32]
      Atoms (threshold-activated sparse autoencoder; Hu et al. 2025, arXiv:2509.20784, procedure unverified): each
      prompt position's residual h_ℓ (Hugging Face hidden_states numbering, as lens) through the autoencoder,
      a = W_e (x − b_d) + b_e, z = T_θ(a) (the file's activation: jumprelu, shifted-relu or relu), x̂ = W_d z + b_d.
      Prints the active atoms (z > 0, by z descending; the first K), each atom's decoder column through the logit
      lens (final norm applied; --no-norm: raw), and the reconstruction error; R² = 1 − SSE/SST over positions ≥ P.
      --sae defaults to the shipped Weights/smollm2-135m-instruct/tsae-layer<ℓ>.safetensors (ℓ = --layer, default 15)
      for SmolLM2; --layer defaults to the file's "layer" metadata and must match it.
      --json prints {"sae","activation","layer","atom_count","prompt_ids","norm","r2","r2_from_position","mean_l0",
       "positions":[{"position","token","l0","squared_error","relative_error","atoms":[{"atom","activation","lens":[[id,prob],…]},…]},…]}.
    """

/// `Weights/smollm2-135m-instruct/tsae-layer<ℓ>.safetensors` of the checkout this file was
/// compiled from, else of the current directory or its parents; nil when none exists.
func shippedAutoencoder(layer: Int, sourceFile: String = #filePath) -> String? {
    let relative = "Weights/smollm2-135m-instruct/tsae-layer\(layer).safetensors"
    // <checkout>/Sources/touchstone/AtomsCommand.swift → <checkout>
    var candidates = [URL(fileURLWithPath: sourceFile).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()]
    var dir = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
    for _ in 0..<4 { candidates.append(dir); dir = dir.deletingLastPathComponent() }
    return candidates.map { $0.appendingPathComponent(relative).path }.first { FileManager.default.fileExists(atPath: $0) }
}

func atomsCommand(_ raw: [String]) throws {
    let args = try Arguments(command: "atoms", raw,
                             valueOptions: commonValueOptions.union(["sae", "layer", "prompt-ids", "prompt", "system", "top", "lens-top", "r2-from"]),
                             flagOptions: ["json", "chat", "no-special", "no-norm"])
    let top = try args.int("top", default: 10, range: 0...1_000_000)!
    let lensTop = try args.int("lens-top", default: 5, range: 1...100_000)!
    let r2From = try args.int("r2-from", default: 1, range: 0...1_000_000)!
    var layer = try args.int("layer", default: nil, range: 0...100_000)
    try configureThreads(args)
    let loaded = try loadModel(args)
    let path: String
    if let given = args.string("sae") {
        path = given
    } else {
        guard URL(fileURLWithPath: loaded.path).lastPathComponent == ModelStore.smolLM2.fileName else {
            throw CLIError("give --sae FILE: a shipped autoencoder exists only for SmolLM2-135M-Instruct")
        }
        guard let shipped = shippedAutoencoder(layer: layer ?? 15) else {
            throw CLIError("no shipped autoencoder Weights/smollm2-135m-instruct/tsae-layer\(layer ?? 15).safetensors; give --sae FILE", usage: false)
        }
        path = shipped
    }
    let sae: SparseAutoencoder
    do { sae = try SparseAutoencoder.load(path: path) } catch let e as SparseAutoencoderError {
        throw CLIError("--sae \(path): \(e.description)", usage: false)
    }
    if let trained = sae.layer {
        if let layer, layer != trained {
            throw CLIError("--layer \(layer) but the autoencoder was trained on hidden_states[\(trained)] (its \"layer\" metadata)")
        }
        layer = trained
    }
    guard let layer else { throw CLIError("give --layer ℓ: the autoencoder file has no \"layer\" metadata") }
    let L = loaded.model.shape.layerCount
    guard layer <= L else { throw CLIError("--layer \(layer) is outside 0...\(L) (Hugging Face hidden_states numbering)") }
    guard sae.inputSize == loaded.model.shape.hiddenSize else {
        throw CLIError("the autoencoder reads \(sae.inputSize)-dimensional residuals but the model's hidden size is \(loaded.model.shape.hiddenSize)", usage: false)
    }
    if let base = sae.baseModel, base != URL(fileURLWithPath: loaded.path).lastPathComponent {
        printError("warning: the autoencoder was trained on \(base), not \(URL(fileURLWithPath: loaded.path).lastPathComponent)")
    }
    let prompt = try promptIDs(args, loaded)
    try checkPromptFits(prompt, newTokens: 0, loaded.model)
    let report = try AtomReadout.run(model: loaded.model, autoencoder: sae, prompt: prompt, layer: layer, top: top == 0 ? nil : top,
                                     lensTop: lensTop, applyNorm: !args.has("no-norm"), r2FromPosition: r2From)
    let meanL0 = Double(report.positions.reduce(0) { $0 + $1.l0 }) / Double(max(1, report.positions.count))
    if args.has("json") {
        let positions: [JSONValue] = report.positions.map { p in
            .object([("position", .int(p.position)), ("token", .int(p.token)), ("l0", .int(p.l0)),
                     ("squared_error", .double(p.squaredError)), ("relative_error", .double(p.relativeError)),
                     ("atoms", .array(p.atoms.map { a in
                         .object([("atom", .int(a.index)), ("activation", .float(a.activation)),
                                  ("lens", .array(a.lens.map { .array([.int($0.id), .double($0.probability)]) }))])
                     }))])
        }
        printJSON(.object([("sae", .string(path)), ("activation", .string(sae.activation.rawValue)), ("layer", .int(layer)),
                           ("atom_count", .int(sae.atomCount)), ("prompt_ids", .ints(prompt)), ("norm", .bool(report.applyNorm)),
                           ("r2", report.r2.map { .double($0) } ?? .null), ("r2_from_position", .int(report.r2FromPosition)),
                           ("mean_l0", .double(meanL0)), ("positions", .array(positions))]))
    } else {
        func text(_ id: Int) -> String { ((try? loaded.tokenizer?.tokenString(for: id)) ?? nil).map { $0.debugDescription } ?? "#\(id)" }
        for p in report.positions {
            print("position \(p.position) token \(p.token) \(text(p.token)): \(p.l0) atoms, relative error \(String(format: "%.4f", p.relativeError))")
            for a in p.atoms {
                print(String(format: "  atom %5d  z %9.4f  ", a.index, a.activation)
                      + a.lens.map { "\(text($0.id)) \(String(format: "%.4f", $0.probability))" }.joined(separator: "  "))
            }
        }
        printError("[\(sae.atomCount) atoms (\(sae.activation.rawValue)) at hidden_states[\(layer)]; R² \(report.r2.map { String(format: "%.4f", $0) } ?? "n/a") over positions ≥ \(report.r2FromPosition); mean L0 \(String(format: "%.1f", meanL0))]")
    }
}

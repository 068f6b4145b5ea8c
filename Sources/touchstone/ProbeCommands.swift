import Foundation
import Formats
import Tensors
import Transformer
import Loader
import Probing

let lensHelp = """
    touchstone lens [--model M] (--prompt-ids 1,2,3 | --prompt TEXT [--chat] [--system TEXT] [--no-special])
                    [--layers all|A,B,… (default all)] [--top K (default 5)] [--no-norm] [--clamp-neuron ℓ:i:v[:up|gated]]
                    [--json] [--threads T] [--weights native|f32]
      The logit lens: every prompt position's residual stream at each layer read through the output head,
      W_U · RMSNorm_g(h_ℓ) (the final norm's gain and epsilon; --no-norm: W_U · h_ℓ, DoLa's convention).
      Layers as Hugging Face's hidden_states: 0 = embeddings, ℓ = after ℓ blocks, L = after the final norm
      (the model's own logits; the norm is not applied twice). Prints each layer's top-K tokens with their
      probabilities and KL(p_L ‖ p_ℓ) in nats. --json prints
      {"positions":[{"position":t,"token":id,"layers":[{"layer":ℓ,"top":[[id,prob],…],"kl_to_final":x},…]},…],
       "prompt_ids","layer_count","norm"}.
    """

let neuronsHelp = """
    touchstone neurons [--model M] [--layer ℓ|all|A,B,… (default all)] [--matrix up|gate|down (default up)]
                       [--final-norm none|rms|gain (default none)] [--top K (default 5)] [--find TOKEN] [--json]
                       [--threads T] [--weights native|f32]
      LM-head neuron decoding (Davies 2025, arXiv:2501.02688): every MLP neuron's read direction (row i of
      W_up or W_gate) or write direction (column i of W_down) of block ℓ (0-based) decoded through the output
      head, top-K tokens with softmax probabilities over the vocabulary. --final-norm: none = W_U·w (the raw
      direction); gain = W_U·(g ⊙ w) (the final norm's gain only); rms = W_U·RMSNorm_g(w) (RMS-normalised,
      then the gain: the logit lens of w). --find TOKEN (an id, or text that is one token, e.g. " dog")
      lists only the neurons whose top token is TOKEN, by its probability descending.
      --json prints {"matrix","final_norm","layers","top_k","neurons":[{"layer","neuron","top":[[id,prob],…]},…],
      "seconds","threads"} (with --find also "token" and "token_text").
    """

// MARK: neuron clamps (generate, logits, distribution, lens)

/// Applies `--clamp-neuron` (repeatable or comma-separated `ℓ:i:value[:up|gated]`) to `model`;
/// nothing when the option is absent. A bad item or an out-of-range layer or neuron is a usage
/// error.
func applyNeuronClamps(_ args: Arguments, to model: any CausalLanguageModel) throws {
    guard let spec = args.string("clamp-neuron") else { return }
    do {
        try model.setNeuronClamps(try NeuronClamp.parse(spec))
    } catch let e as ModelError {
        throw CLIError("--clamp-neuron: \(e.description)")
    }
}

/// `neuron_clamps` for generate's JSON parameters when any are set: `[[layer, neuron, value, site], …]`.
func neuronClampRecord(_ model: any CausalLanguageModel) -> [(String, JSONValue)] {
    let clamps = model.neuronClamps
    if clamps.isEmpty { return [] }
    return [("neuron_clamps", .array(clamps.map { .array([.int($0.layer), .int($0.neuron), .float($0.value), .string($0.site.rawValue)]) }))]
}

/// A token's vocabulary string, quoted, for text output.
private func tokenText(_ loaded: ModelStore.Loaded, _ id: Int) -> String {
    ((try? loaded.tokenizer?.tokenString(for: id)) ?? nil).map { $0.debugDescription } ?? "#\(id)"
}

/// `all`, or comma-separated integers each in `range`.
private func layerList(_ args: Arguments, _ name: String, range: ClosedRange<Int>) throws -> [Int]? {
    guard let raw = args.string(name), raw != "all" else { return nil }
    var out: [Int] = []
    for part in Arguments.commaSeparated(raw) {
        guard let v = Int(part) else { throw CLIError("--\(name): '\(part)' is not a layer (give all, or comma-separated layers in \(range.lowerBound)...\(range.upperBound))") }
        guard range.contains(v) else { throw CLIError("--\(name): layer \(v) is outside \(range.lowerBound)...\(range.upperBound)") }
        out.append(v)
    }
    return Array(Set(out)).sorted()
}

// MARK: lens

func lensCommand(_ raw: [String]) throws {
    let args = try Arguments(command: "lens", raw,
                             valueOptions: commonValueOptions.union(["prompt-ids", "prompt", "system", "layers", "top", "clamp-neuron"]),
                             flagOptions: ["json", "chat", "no-special", "no-norm"])
    let top = try args.int("top", default: 5, range: 1...100_000)!
    try configureThreads(args)
    let loaded = try loadModel(args)
    let L = loaded.model.shape.layerCount
    let layers = try layerList(args, "layers", range: 0...L)
    let prompt = try promptIDs(args, loaded)
    try checkPromptFits(prompt, newTokens: 0, loaded.model)
    let report = try LogitLens.run(model: loaded.model, prompt: prompt, layers: layers, top: top, applyNorm: !args.has("no-norm"))
    if args.has("json") {
        let positions: [JSONValue] = report.positions.map { p in
            .object([("position", .int(p.position)), ("token", .int(p.token)),
                     ("layers", .array(p.layers.map { l in
                         .object([("layer", .int(l.layer)),
                                  ("top", .array(l.top.map { .array([.int($0.id), .double($0.probability)]) })),
                                  ("kl_to_final", .double(l.klToFinal))])
                     }))])
        }
        printJSON(.object([("positions", .array(positions)), ("prompt_ids", .ints(prompt)), ("layer_count", .int(L)),
                           ("norm", .bool(report.applyNorm))] + neuronClampRecord(loaded.model)))
    } else {
        for p in report.positions {
            print("position \(p.position) token \(p.token) \(tokenText(loaded, p.token)) → next:")
            for l in p.layers {
                let tops = l.top.map { "\(tokenText(loaded, $0.id)) \(String(format: "%.4f", $0.probability))" }.joined(separator: "  ")
                print(String(format: "  layer %2d  KL %8.4f  ", l.layer, l.klToFinal) + tops)
            }
        }
    }
}

// MARK: neurons

func neuronsCommand(_ raw: [String]) throws {
    let args = try Arguments(command: "neurons", raw,
                             valueOptions: commonValueOptions.union(["layer", "matrix", "final-norm", "top", "find"]),
                             flagOptions: ["json"])
    let top = try args.int("top", default: 5, range: 1...100_000)!
    guard let matrix = NeuronDecoding.Matrix(rawValue: args.string("matrix") ?? "up") else {
        throw CLIError("--matrix must be up or gate (read directions: rows) or down (write directions: columns), not '\(args.string("matrix")!)'")
    }
    guard let finalNorm = NeuronDecoding.FinalNorm(rawValue: args.string("final-norm") ?? "none") else {
        throw CLIError("--final-norm must be none (the raw direction), rms (RMS-normalise, then the final norm's gain) or gain (the gain only), not '\(args.string("final-norm")!)'")
    }
    try configureThreads(args)
    let loaded = try loadModel(args)
    guard let model = loaded.model as? LlamaModel else {
        throw CLIError("neuron decoding reads the MLP weights of a Llama-family model; \(loaded.model.origin) is not one", usage: false)
    }
    let blocks = model.configuration.layerCount
    let layers = try layerList(args, "layer", range: 0...(blocks - 1)) ?? Array(0..<blocks)
    var target: Int? = nil
    if let find = args.string("find") {
        if let id = Int(find) {
            guard id >= 0 && id < model.configuration.vocabularySize else {
                throw CLIError("--find \(id) is outside the vocabulary [0, \(model.configuration.vocabularySize))")
            }
            target = id
        } else {
            let ids = try requireTokenizer(loaded).encode(find, parseSpecialTokens: false)
            guard ids.count == 1 else {
                throw CLIError("--find '\(find)' is \(ids.count) tokens (\(ids.map(String.init).joined(separator: ","))), not one; give one token's text (mind the leading space: \" dog\") or its id")
            }
            target = ids[0]
        }
    }
    let start = DispatchTime.now().uptimeNanoseconds
    var readouts = try NeuronDecoding.decode(model: model, layers: layers, matrix: matrix, finalNorm: finalNorm, top: top)
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    if let target { readouts = NeuronDecoding.neurons(withTopToken: target, in: readouts) }
    if args.has("json") {
        var doc: [(String, JSONValue)] = [
            ("matrix", .string(matrix.rawValue)), ("final_norm", .string(finalNorm.rawValue)), ("layers", .ints(layers)), ("top_k", .int(top)),
        ]
        if let target {
            doc.append(("token", .int(target)))
            doc.append(("token_text", ((try? loaded.tokenizer?.tokenString(for: target)) ?? nil).map { .string($0) } ?? .null))
        }
        doc.append(("neurons", .array(readouts.map { r in
            .object([("layer", .int(r.layer)), ("neuron", .int(r.neuron)),
                     ("top", .array(r.top.map { .array([.int($0.id), .double($0.probability)]) }))])
        })))
        doc.append(("seconds", .double(seconds)))
        doc.append(("threads", .int(ParallelFor.shared.threadCount)))
        printJSON(.object(doc))
    } else {
        for r in readouts {
            let tops = r.top.map { "\(tokenText(loaded, $0.id)) \(String(format: "%.4f", $0.probability))" }.joined(separator: "  ")
            print("layer \(r.layer) neuron \(r.neuron)  " + tops)
        }
        let what = target.map { " whose top token is \(tokenText(loaded, $0))" } ?? ""
        printError("[\(readouts.count) \(matrix.rawValue) neurons\(what), final norm \(finalNorm.rawValue), decoded in \(String(format: "%.1f", seconds)) s on \(ParallelFor.shared.threadCount) threads]")
    }
}

// MARK: probe (hyperdimensional / VSA)

let probeHelp = """
    touchstone probe [--model M] [--encoder FILE] (--analogy "a b c d" | --analogies FILE | --prompt TEXT | --prompt-ids 1,2,3)
                     [--context a,b,c] [--target WORD] [--top K (default 5)] [--limit N] [--json] [--threads T]
      The hyperdimensional probe (Bronzini et al. 2025): the last prompt token's hidden states over the upper
      layers (the encoder file says which; SmolLM2's is 15…30), k-means with K = 5, the sum of the centroids,
      the trained encoder, sign → a MAP hypervector of 4096 components, read against the codebook of concepts
      by cosine after unbinding. Default --encoder: the shipped SmolLM2 encoder
      (Weights/smollm2-135m-instruct/vsa-probe.safetensors).
      --analogy "athens greece baghdad iraq" probes the prompt "athens : greece = baghdad :" and reports the
      reference read-out (the query-subset rule of the authors' probe_doc, which consults the target), the
      blind read-out (unbind by c, best concept not in the context) and the logit-lens baseline (the model's
      own top next token). --analogies FILE (one "a b c d" per line, # comments) prints the extraction
      accuracy of each over the file (--limit N: the first N). --prompt/--prompt-ids with optional
      --context and --target read any prompt.
      --json prints {"cases":[{"prompt_ids","context","target","reference":{"query","top":[[concept,cos],…]},
      "blind":{…},"next_token":id,"next_token_text"},…],"accuracy":{"reference","blind","lens"}} (accuracy with a target).
    """

/// The shipped VSA encoder for SmolLM2, located from this source file like the fixtures.
func shippedWeights(_ relative: String, sourceFile: String = #filePath) -> String {
    URL(fileURLWithPath: sourceFile).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent(relative).path
}

func probeCommand(_ raw: [String]) throws {
    let args = try Arguments(command: "probe", raw,
                             valueOptions: commonValueOptions.union(["encoder", "analogy", "analogies", "prompt", "prompt-ids", "context", "target", "top", "limit"]),
                             flagOptions: ["json"])
    let top = try args.int("top", default: 5, range: 1...100_000)!
    let limit = try args.int("limit", default: nil, range: 1...10_000_000)
    let sources = ["analogy", "analogies", "prompt", "prompt-ids"].filter { args.string($0) != nil }
    guard sources.count == 1 else { throw CLIError("give exactly one of --analogy \"a b c d\", --analogies FILE, --prompt TEXT, --prompt-ids 1,2,3") }
    try configureThreads(args)
    let loaded = try loadModel(args)
    let path = args.string("encoder") ?? shippedWeights("Weights/smollm2-135m-instruct/vsa-probe.safetensors")
    guard FileManager.default.fileExists(atPath: path) else {
        throw CLIError("no VSA encoder at \(path); give --encoder FILE (Scripts/train_vsa_probe.py trains one)", usage: false)
    }
    let probe: VSAProbe
    do { probe = try VSAProbe(path: path, model: loaded.model) } catch let e as ProbeError { throw CLIError("\(e)", usage: false) }

    struct Case { var prompt: [Int]; var context: [String]; var target: String? }
    func analogyCase(_ line: String) throws -> Case {
        let words = line.split(whereSeparator: \.isWhitespace).map(String.init)
        guard words.count == 4 else { throw CLIError("an analogy is four words \"a b c d\", got '\(line)'") }
        let text = "\(words[0]) : \(words[1]) = \(words[2]) :"
        return Case(prompt: try requireTokenizer(loaded).encode(text, parseSpecialTokens: false), context: Array(words.prefix(3)), target: words[3])
    }
    var cases: [Case] = []
    if let a = args.string("analogy") {
        cases = [try analogyCase(a)]
    } else if let file = args.string("analogies") {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { throw CLIError("cannot read \(file)", usage: false) }
        for line in text.split(separator: "\n") where !line.hasPrefix("#") && !line.trimmingCharacters(in: .whitespaces).isEmpty {
            cases.append(try analogyCase(String(line)))
            if let limit, cases.count == limit { break }
        }
        guard !cases.isEmpty else { throw CLIError("\(file) holds no analogies") }
    } else {
        let context = args.string("context").map { Arguments.commaSeparated($0) } ?? []
        cases = [Case(prompt: try promptIDs(args, loaded), context: context, target: args.string("target"))]
    }
    for c in cases { try checkPromptFits(c.prompt, newTokens: 0, loaded.model) }

    var results: [JSONValue] = []
    var hits = (reference: 0.0, blind: 0.0, lens: 0.0), scored = 0
    func matches(_ m: [VSAProbe.Match]) -> JSONValue { .array(m.map { .array([.string($0.concept), .double($0.similarity)]) }) }
    for (n, c) in cases.enumerated() {
        if cases.count > 1 && n % 100 == 0 { printError("probe: \(n)/\(cases.count) …") }
        let (input, logits) = try probe.inputVector(model: loaded.model, prompt: c.prompt)
        let vsa = try probe.encoder.encode(input)
        let reference = probe.referenceReadout(vsa, context: c.context, target: c.target ?? "", top: top)
        let blind = probe.blindReadout(vsa, context: c.context, top: top)
        let next = logits.indices.max { logits[$0] < logits[$1] || (logits[$0] == logits[$1] && $0 > $1) }!
        let nextText = (try? requireTokenizer(loaded).decode([next])) ?? ""
        if let target = c.target?.lowercased() {
            scored += 1
            if reference.extracted == target { hits.reference += 1 }
            if blind.extracted == target { hits.blind += 1 }
            let t = nextText.trimmingCharacters(in: .whitespaces).lowercased()
            if t == target { hits.lens += 1 } else if !t.isEmpty && target.hasPrefix(t) { hits.lens += 0.5 }
        }
        if args.has("json") {
            results.append(.object([("prompt_ids", .ints(c.prompt)), ("context", .array(c.context.map { .string($0) })),
                                    ("target", c.target.map { .string($0) } ?? .null),
                                    ("reference", .object([("query", .array(reference.query.map { .string($0) })), ("top", matches(reference.top))])),
                                    ("blind", .object([("query", .array(blind.query.map { .string($0) })), ("top", matches(blind.top))])),
                                    ("next_token", .int(next)), ("next_token_text", .string(nextText))]))
        } else if cases.count == 1 || args.string("analogies") == nil {
            print("prompt \(c.prompt)  context \(c.context)  target \(c.target ?? "-")")
            print("  reference read-out (query \(reference.query)): " + reference.top.map { "\($0.concept) \(String(format: "%.3f", $0.similarity))" }.joined(separator: "  "))
            print("  blind read-out (unbind \(blind.query)): " + blind.top.map { "\($0.concept) \(String(format: "%.3f", $0.similarity))" }.joined(separator: "  "))
            print("  logit lens next token: \(next) \(nextText.debugDescription)")
        }
    }
    let accuracy: [(String, JSONValue)] = scored == 0 ? [] : [("reference", .double(hits.reference / Double(scored))),
                                                             ("blind", .double(hits.blind / Double(scored))),
                                                             ("lens", .double(hits.lens / Double(scored))), ("count", .int(scored))]
    if args.has("json") {
        printJSON(.object([("cases", .array(results)), ("accuracy", .object(accuracy))]))
    } else if scored > 0 {
        print(String(format: "%d analogies: reference read-out %.3f, blind read-out %.3f, logit lens %.3f", scored,
                     hits.reference / Double(scored), hits.blind / Double(scored), hits.lens / Double(scored)))
    }
}

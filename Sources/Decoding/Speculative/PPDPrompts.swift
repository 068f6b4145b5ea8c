import Foundation
import Formats
import Tensors
import Transformer

/// The K trained prompt-token embeddings of parallel prompt decoding (`P`, `[K, C]`), with V = 1
/// virtual token per prompt token (the only layout the reference's inference path supports).
///
/// File format: a safetensors file with one tensor `prompt_embeddings` `[K, C]` (the name PEFT's
/// prompt-tuning adapters use, so an `adapter_model.safetensors` of the authors' release with
/// `virtual_tokens_per_special_token = 1` loads as is) in F32, F16 or BF16, plus optional
/// string metadata: `format = touchstone-ppd-1`, `num_special_tokens = K`,
/// `virtual_tokens_per_special_token = 1`, `base_model` (free text), `hidden_size = C`. A file whose
/// metadata says V > 1 is refused (an ensemble checkpoint: average or pick one virtual token per
/// prompt token first), and so is one beside a PEFT `adapter_config.json` that says V > 1 or
/// another K (the authors' adapters keep K and V there, not in the tensor file).
///
/// The vectors are layer-0 inputs (`InputEmbeddings`): used as is on every architecture — for
/// Gemma 3 they are in the post-`√C`-scaling space, for GPT-2 the position embedding is added.
public struct PPDPrompts: Sendable, Equatable {
    /// `[K, C]`, row-major: `P[j]` is prompt token j (0-based), which predicts the token `j + 2`
    /// positions after its host.
    public let values: [Float]
    public let count: Int
    /// Where the shipped prompt embeddings for SmolLM2-135M-Instruct live, relative to the
    /// checkout (`--ppd-prompts shipped`, the default).
    public static let shippedRelativePath = "Weights/smollm2-135m-instruct/ppd-prompts.safetensors"
    public let hiddenSize: Int
    /// Where they came from (a path, or "random seed S").
    public let origin: String

    public init(values: [Float], count: Int, hiddenSize: Int, origin: String) {
        precondition(count >= 1 && values.count == count * hiddenSize, "prompt embeddings are [K, C]")
        self.values = values
        self.count = count
        self.hiddenSize = hiddenSize
        self.origin = origin
    }

    /// Row `j` (`[C]`).
    public func row(_ j: Int) -> ArraySlice<Float> { values[(j * hiddenSize)..<((j + 1) * hiddenSize)] }

    /// Throws `PPDError.modelMismatch` when the hidden size differs from the model's.
    public func check(against model: any CausalLanguageModel) throws {
        guard hiddenSize == model.shape.hiddenSize else {
            throw PPDError.modelMismatch("\(origin): the prompt embeddings are \(hiddenSize) wide but the model's hidden size is \(model.shape.hiddenSize); they were trained for another model")
        }
    }

    // MARK: - Seeded random prompts

    /// `K` seeded random prompt embeddings for `model` (tests and fixtures), scaled like the
    /// model's own layer-0 inputs.
    ///
    /// Recipe (version 1): `ρ = sqrt(Σ x² / n)` over the layer-0 inputs `embed(token:)` of token ids
    /// `0..<min(V, 1024)` (every element, in id order, summed in binary64; for Gemma 3 these include
    /// the `√C` scaling); then one `Xoshiro256StarStar(seed:)` draws `P` row-major, each element
    /// `(u * 2 - 1) * b` with `u = nextUniformFloat()` and `b = Float(ρ · √3)` (a uniform draw with
    /// RMS `ρ`).
    public static func random(seed: UInt64, count K: Int, model: any CausalLanguageModel) -> PPDPrompts {
        precondition(K >= 1, "PPD needs at least one prompt token")
        let C = model.shape.hiddenSize
        let tokens = min(model.shape.vocabularySize, 1024)
        var sum = 0.0
        var row = [Float](repeating: 0, count: C)
        for t in 0..<tokens {
            row.withUnsafeMutableBufferPointer { model.embed(token: t, into: $0.baseAddress!) }
            for x in row { sum += Double(x) * Double(x) }
        }
        let rho = (sum / Double(tokens * C)).squareRoot()
        let bound = Float(rho * 3.0.squareRoot())
        var generator = Xoshiro256StarStar(seed: seed)
        let values = (0..<(K * C)).map { _ in (generator.nextUniformFloat() * 2 - 1) * bound }
        return PPDPrompts(values: values, count: K, hiddenSize: C, origin: "random seed \(seed)")
    }

    // MARK: - Files

    /// The tensor name (PEFT's).
    public static let tensorName = "prompt_embeddings"

    /// Writes the embeddings as a Float32 safetensors file that `load(path:)` reads, with the
    /// format metadata and `metadata` on top. Throws `FormatError.io`.
    public func write(to path: String, metadata: [String: String] = [:]) throws {
        var meta = metadata
        meta["format"] = "touchstone-ppd-1"
        meta["num_special_tokens"] = "\(count)"
        meta["virtual_tokens_per_special_token"] = "1"
        meta["hidden_size"] = "\(hiddenSize)"
        try SafetensorsWriter.write([(name: Self.tensorName, dtype: .f32, shape: [count, hiddenSize], values: values)], metadata: meta, to: path)
    }

    /// Loads prompt embeddings (see the type's notes). Throws `FormatError` for a malformed file and
    /// `PPDError.invalidPrompts` for a missing tensor, a wrong shape, metadata that disagrees with
    /// the tensor, or V > 1.
    public static func load(path: String) throws -> PPDPrompts {
        guard FileManager.default.fileExists(atPath: path) else {
            throw PPDError.invalidPrompts("no prompt-embedding file at \(path) (a safetensors file with tensor '\(tensorName)' [K, C])")
        }
        let prompts = try load(file: SafetensorsFile(path: path), origin: path)
        // A PEFT adapter directory: its adapter_config.json says K and V (the file itself does not).
        let config = URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent("adapter_config.json")
        if let data = FileManager.default.contents(atPath: config.path) {
            try checkAdapterConfig(data, origin: config.path, rows: prompts.count)
        }
        return prompts
    }

    /// Checks a PEFT `adapter_config.json` beside the embeddings: `virtual_tokens_per_special_token`
    /// must be 1 (absent = 1) and `num_special_tokens` (when present) the tensor's row count. Throws
    /// `PPDError.invalidPrompts`; a config that is not a JSON object is ignored.
    static func checkAdapterConfig(_ data: Data, origin: String, rows: Int) throws {
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else { return }
        let v = object["virtual_tokens_per_special_token"] as? Int ?? 1
        let k = object["num_special_tokens"] as? Int
        guard v == 1 else {
            throw PPDError.invalidPrompts("\(origin): virtual_tokens_per_special_token = \(v) (an ensemble of \(v) virtual tokens per prompt token, \(rows) rows in all); the inference path takes V = 1")
        }
        if let k, k != rows {
            throw PPDError.invalidPrompts("\(origin): num_special_tokens = \(k) but the embeddings have \(rows) rows")
        }
    }

    /// Loads prompt embeddings from a parsed safetensors file (`origin` names it in errors).
    public static func load(file: SafetensorsFile, origin: String) throws -> PPDPrompts {
        func fail(_ message: String) -> PPDError { .invalidPrompts("\(origin): \(message)") }
        guard let info = file.tensor(named: tensorName) else {
            let found = file.tensors.map(\.name).sorted().prefix(5).joined(separator: ", ")
            throw fail("no tensor '\(tensorName)' [K, C] (found: \(found.isEmpty ? "no tensors" : found))")
        }
        guard info.shape.count == 2, info.shape[0] >= 1, info.shape[1] >= 1 else {
            throw fail("tensor '\(tensorName)' has shape \(info.shape); expected [K, C] with K ≥ 1")
        }
        let K = info.shape[0], C = info.shape[1]
        if let v = file.metadata["virtual_tokens_per_special_token"], v != "1" {
            throw fail("virtual_tokens_per_special_token = \(v); the inference path takes V = 1 (one embedding per prompt token)")
        }
        if let k = file.metadata["num_special_tokens"], Int(k) != K {
            throw fail("the metadata says num_special_tokens = \(k) but '\(tensorName)' has \(K) rows (an ensemble checkpoint with V > 1 is not supported)")
        }
        if let h = file.metadata["hidden_size"], Int(h) != C {
            throw fail("the metadata says hidden_size = \(h) but '\(tensorName)' is \(C) wide")
        }
        let values = try file.floats(named: tensorName)
        for x in values where !x.isFinite { throw fail("'\(tensorName)' holds a non-finite value (\(x))") }
        return PPDPrompts(values: values, count: K, hiddenSize: C, origin: origin)
    }
}

import Foundation
import Formats
import Tensors
import Transformer

/// A layer-by-layer dump of one forward pass over a prompt: the hidden state after every layer
/// and the named intermediates of one layer, as `.npy` files (`NPY`) plus `manifest.json`
/// (schema `touchstone-activations/1`, DOCS.md section 7.1). Another backend writes the same
/// layout (only `arrays` with `name`, `file`, `shape` is required of it) and
/// `Explainer.explain` says where the two first part.
///
/// Array names, in forward order (the order of `entries`):
///
///     embeddings                  [T, C]  layer-0 input (Hugging Face hidden_states[0])
///     for each block N (0-based, GGUF blk.N, Hugging Face model.layers.N):
///       blk.N.<intermediate>      [T, w]  only for N = the dumped layer, in the model's order
///                                         (Llama: attn_norm, q_proj, k_proj, v, q, k, attn_output,
///                                         attn_projection, attn_residual, ffn_norm, gate, up,
///                                         swiglu, mlp_output)
///       blk.N.output              [T, C]  the residual stream after block N
///     final_norm                  [T, C]  RMSNorm of the last block's output (the head's input)
///     logits                      [T, V]  every prompt position
public struct ActivationDump {
    public static let schema = "touchstone-activations/1"
    public static let manifestName = "manifest.json"

    /// One array of the dump.
    public struct Entry: Equatable {
        /// `embeddings`, `blk.N.<intermediate>`, `blk.N.output`, `final_norm` or `logits`.
        public var name: String
        /// The `.npy` file's name inside the dump directory.
        public var file: String
        public var shape: [Int]
        /// The block (0-based) for `blk.N.*` arrays; nil otherwise.
        public var layer: Int?
        /// The index of this array in Hugging Face transformers' `output_hidden_states` (4.x
        /// Llama: 0 = embeddings, N + 1 = output of block N for N < L − 1, and L = final_norm,
        /// since transformers normalizes the last hidden state before appending it); nil when
        /// it has none.
        public var hiddenStateIndex: Int?
        /// The operation that produced it, in words.
        public var operation: String
        public var values: [Float]

        public init(name: String, file: String? = nil, shape: [Int], layer: Int? = nil, hiddenStateIndex: Int? = nil,
                    operation: String = "", values: [Float]) {
            self.name = name
            self.file = file ?? name + ".npy"
            self.shape = shape
            self.layer = layer
            self.hiddenStateIndex = hiddenStateIndex
            self.operation = operation
            self.values = values
        }
    }

    /// Where the weights came from: an object such as `{"origin", "file", "sha256", "weights"}`.
    public var model: JSONValue
    public var promptIDs: [Int]
    /// The block whose intermediates were dumped, if any.
    public var intermediatesLayer: Int?
    /// Every array, in forward order.
    public var entries: [Entry]

    public init(model: JSONValue, promptIDs: [Int], intermediatesLayer: Int?, entries: [Entry]) {
        self.model = model
        self.promptIDs = promptIDs
        self.intermediatesLayer = intermediatesLayer
        self.entries = entries
    }

    public func entry(named name: String) -> Entry? { entries.first { $0.name == name } }

    /// How Touchstone lays arrays out, written into every manifest.
    public static let conventions: [(String, JSONValue)] = [
        ("layout", .string("every array is [T, width]: one row per prompt token, row-major (C order), little-endian float32")),
        ("layers", .string("blocks are numbered from 0 as GGUF blk.N and Hugging Face model.layers.N; hidden_state_index is the array's index in Hugging Face transformers' output_hidden_states (4.x Llama: 0 = embeddings, N+1 = blk.N.output, and the last index is final_norm, not the last block's output)")),
        ("q_k_row_order", .string("gguf-adjacent-pairs")),
        ("q_k_to_hugging_face", .string("q, k, q_proj and k_proj keep GGUF's row order, permuted for adjacent-pair RoPE: within each head of hd columns, column 2i+p holds Hugging Face's column p*hd/2+i (i < hd/2, p in {0, 1}). numpy: hf = x.reshape(T, heads, hd // 2, 2).transpose(0, 1, 3, 2).reshape(T, heads * hd)")),
    ]

    /// Runs `model` once over `prompt` (a fresh cache, causal mask, positions 0..<T) with every
    /// tap on and collects the dump. `intermediatesOfLayer` nil dumps only the per-layer view.
    /// The forward pass is the same one `generate` runs (taps change no arithmetic).
    public static func record(model: any CausalLanguageModel, prompt: [Int], identity: JSONValue,
                              intermediatesOfLayer: Int? = 0, includeLogits: Bool = true,
                              pool: ParallelFor = .shared) throws -> ActivationDump {
        let shape = model.shape
        let T = prompt.count, C = shape.hiddenSize, L = shape.layerCount
        let result = try model.forward(tokens: prompt, positions: nil, mask: .causal, cache: model.makeCache(initialCapacity: max(1, T)),
                                       logitRows: includeLogits ? .all : .none,
                                       taps: ForwardTaps(layerOutputs: true, intermediatesOfLayer: intermediatesOfLayer), pool: pool)
        guard let layerOutputs = result.layerOutputs, layerOutputs.count == L, let finalNorm = result.finalNormOutput else {
            throw GoldenError.invalid("the model returned no layer taps (\(model.origin))")
        }
        var embeddings = [Float](repeating: 0, count: T * C)
        embeddings.withUnsafeMutableBufferPointer { e in
            for (t, token) in prompt.enumerated() { model.embed(token: token, position: t, into: e.baseAddress! + t * C) }
        }
        let operations = Dictionary(model.intermediateDescriptions.map { ($0.name, $0.operation) }, uniquingKeysWith: { a, _ in a })
        var entries = [Entry(name: "embeddings", shape: [T, C], hiddenStateIndex: 0, operation: "embedding rows of the prompt tokens (the input of block 0)", values: embeddings)]
        for li in 0..<L {
            if li == intermediatesOfLayer {
                for m in result.intermediates ?? [] {
                    entries.append(Entry(name: "blk.\(li).\(m.name)", shape: m.shape, layer: li,
                                         operation: operations[m.name] ?? "", values: m.values))
                }
            }
            entries.append(Entry(name: "blk.\(li).output", shape: [T, C], layer: li, hiddenStateIndex: li + 1 < L ? li + 1 : nil,
                                 operation: "the residual stream after block \(li): attn_residual + mlp_output", values: layerOutputs[li]))
        }
        entries.append(Entry(name: "final_norm", shape: [T, C], hiddenStateIndex: L,
                             operation: "RMSNorm(blk.\(L - 1).output) · output_norm.weight (the output head's input)", values: finalNorm))
        if includeLogits {
            entries.append(Entry(name: "logits", shape: [T, shape.vocabularySize], operation: "output head · final_norm, every position", values: result.logits))
        }
        return ActivationDump(model: identity, promptIDs: prompt, intermediatesLayer: intermediatesOfLayer, entries: entries)
    }

    /// The identity of a model file (or a safetensors directory's `model.safetensors`): its
    /// name, SHA-256 and the model's `origin`. Throws `FormatError.io` when it cannot be read.
    public static func fileIdentity(path: String, origin: String, weights: String? = nil) throws -> JSONValue {
        var isDirectory: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
        let hashed = isDirectory.boolValue ? path + "/model.safetensors" : path
        var fields: [(String, JSONValue)] = [
            ("origin", .string(origin)),
            ("file", .string(String(path.split(separator: "/").last ?? Substring(path)))),
            ("sha256", .string(try SHA256.hexDigest(ofFile: hashed))),
        ]
        if let weights { fields.append(("weights", .string(weights))) }
        return .object(fields)
    }

    /// The manifest document (without the arrays' values).
    public var manifest: JSONValue {
        .object([
            ("schema", .string(ActivationDump.schema)),
            ("model", model),
            ("prompt_ids", .ints(promptIDs)),
            ("intermediates_layer", intermediatesLayer.map { .int($0) } ?? .null),
            ("conventions", .object(ActivationDump.conventions)),
            ("arrays", .array(entries.map { e in
                .object([
                    ("name", .string(e.name)), ("file", .string(e.file)), ("shape", .ints(e.shape)),
                    ("dtype", .string("float32")), ("byte_order", .string("little")),
                    ("layer", e.layer.map { .int($0) } ?? .null),
                    ("hidden_state_index", e.hiddenStateIndex.map { .int($0) } ?? .null),
                    ("operation", .string(e.operation)),
                ])
            })),
        ])
    }

    /// Writes every array as `<file>` and `manifest.json` into `directory` (created when
    /// needed; existing files of the same names are replaced). Throws `FormatError.io`.
    public func write(to directory: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw FormatError.io(path: directory, reason: "cannot create the directory: \(error.localizedDescription)")
        }
        func put(_ data: Data, _ name: String) throws {
            let path = directory + "/" + name
            do { try data.write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
                throw FormatError.io(path: path, reason: "cannot write: \(error.localizedDescription)")
            }
        }
        for e in entries { try put(NPY.encode(e.values, shape: e.shape), e.file) }
        try put(Data((manifest.serialized(indent: 1) + "\n").utf8), ActivationDump.manifestName)
    }

    /// Reads a dump directory: `manifest.json` and every array it lists. Of each array only
    /// `name`, `file` and `shape` are required (so another backend's script can write a
    /// minimal manifest); the file's own shape must equal the manifest's. Throws
    /// `GoldenError.invalid` naming the field or file at fault.
    public init(directory: String) throws {
        let manifestPath = directory + "/" + ActivationDump.manifestName
        guard let data = FileManager.default.contents(atPath: manifestPath) else {
            throw GoldenError.invalid("\(manifestPath): cannot read it — is \(directory) an activation dump (touchstone activations --out DIR)?")
        }
        guard let doc = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw GoldenError.invalid("\(manifestPath): not a JSON object")
        }
        if let schema = doc["schema"] {
            guard let s = schema as? String, s == ActivationDump.schema else {
                throw GoldenError.invalid("\(manifestPath): schema \(schema) is not \(ActivationDump.schema)")
            }
        }
        func ints(_ value: Any?, _ field: String) throws -> [Int]? {
            guard let value, !(value is NSNull) else { return nil }
            guard let array = value as? [Any] else { throw GoldenError.invalid("\(manifestPath): \(field) must be an array of integers") }
            return try array.map { item in
                guard let n = item as? NSNumber, let i = Int(exactly: n.doubleValue) else {
                    throw GoldenError.invalid("\(manifestPath): \(field) must be an array of integers, has \(item)")
                }
                return i
            }
        }
        func optionalInt(_ value: Any?, _ field: String) throws -> Int? {
            guard let value, !(value is NSNull) else { return nil }
            guard let n = value as? NSNumber, let i = Int(exactly: n.doubleValue) else {
                throw GoldenError.invalid("\(manifestPath): \(field) must be an integer or null, has \(value)")
            }
            return i
        }
        promptIDs = try ints(doc["prompt_ids"], "prompt_ids") ?? []
        intermediatesLayer = try optionalInt(doc["intermediates_layer"], "intermediates_layer")
        model = doc["model"].map(JSONValue.init(foundationObject:)) ?? .null
        guard let arrays = doc["arrays"] as? [Any] else { throw GoldenError.invalid("\(manifestPath): \"arrays\" must be an array of objects") }
        var entries: [Entry] = []
        var seen = Set<String>()
        for (i, item) in arrays.enumerated() {
            let field = "arrays[\(i)]"
            guard let a = item as? [String: Any] else { throw GoldenError.invalid("\(manifestPath): \(field) must be an object") }
            guard let name = a["name"] as? String, !name.isEmpty else { throw GoldenError.invalid("\(manifestPath): \(field).name must be a non-empty string") }
            guard seen.insert(name).inserted else { throw GoldenError.invalid("\(manifestPath): \(field): array \(name) is listed twice") }
            guard let file = a["file"] as? String, !file.isEmpty, !file.contains("/") else {
                throw GoldenError.invalid("\(manifestPath): \(field).file must be a file name inside the dump directory")
            }
            guard let shape = try ints(a["shape"], "\(field).shape") else { throw GoldenError.invalid("\(manifestPath): \(field).shape is missing") }
            if let dtype = a["dtype"], (dtype as? String) != "float32" {
                throw GoldenError.invalid("\(manifestPath): \(field).dtype must be \"float32\", has \(dtype)")
            }
            let path = directory + "/" + file
            guard let bytes = FileManager.default.contents(atPath: path) else { throw GoldenError.invalid("\(path): cannot read it (listed as \(field))") }
            let array = try NPY.decode(bytes, name: path)
            guard array.shape == shape else {
                throw GoldenError.invalid("\(path): shape \(array.shape) in the file, \(shape) in the manifest (\(field).shape)")
            }
            entries.append(Entry(name: name, file: file, shape: shape, layer: try optionalInt(a["layer"], "\(field).layer"),
                                 hiddenStateIndex: try optionalInt(a["hidden_state_index"], "\(field).hidden_state_index"),
                                 operation: a["operation"] as? String ?? "", values: array.values))
        }
        self.entries = entries
    }
}

extension JSONValue {
    /// A `JSONSerialization` object as a `JSONValue` (object keys sorted; numbers that are
    /// integers become `.int`).
    init(foundationObject object: Any) {
        switch object {
        case let s as String: self = .string(s)
        case let n as NSNumber:
            if let i = Int(exactly: n.doubleValue), !n.stringValue.contains(".") { self = .int(i) } else { self = .double(n.doubleValue) }
        case let a as [Any]: self = .array(a.map(JSONValue.init(foundationObject:)))
        case let d as [String: Any]: self = .object(d.sorted { $0.key < $1.key }.map { ($0.key, JSONValue(foundationObject: $0.value)) })
        default: self = .null
        }
    }
}

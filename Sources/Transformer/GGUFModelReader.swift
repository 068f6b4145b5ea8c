import Formats
import Tensors

/// What an architecture's GGUF loader reads (Qwen2, GPT-2): `<architecture>.` keys, tensors by
/// name as weight matrices or vectors, each failure a `ModelError` naming the key or tensor.
struct GGUFModelReader {
    let file: GGUFFile
    let architecture: String
    let float32Weights: Bool

    /// Throws `ModelError.unsupportedArchitecture` unless `general.architecture` is `architecture`.
    init(_ file: GGUFFile, architecture: String, float32Weights: Bool) throws {
        let found = file.metadata["general.architecture"]?.string ?? "(missing)"
        guard found == architecture else { throw ModelError.unsupportedArchitecture(found) }
        self.file = file
        self.architecture = architecture
        self.float32Weights = float32Weights
    }

    /// The integer key `<architecture>.<key>`; throws `invalidConfiguration` when it is missing.
    func int(_ key: String) throws -> Int {
        guard let v = file.metadata[architecture + "." + key]?.int else {
            throw ModelError.invalidConfiguration("GGUF key \(architecture).\(key) is missing or not an integer")
        }
        return v
    }

    /// The value of `<architecture>.<key>`, if present.
    func value(_ key: String) -> GGUFValue? { file.metadata[architecture + "." + key] }

    func tensor(_ name: String) throws -> GGUFTensorInfo {
        guard let t = file.tensor(named: name) else { throw ModelError.missingTensor(name) }
        return t
    }

    /// A `[rows, columns]` matrix (ggml shape `[columns, rows]`), kept in its blocks when the
    /// kernels decode them (`ggufWeightMatrix`).
    func matrix(_ name: String, rows: Int, columns: Int) throws -> WeightMatrix {
        try ggufWeightMatrix(file, try tensor(name), rows: rows, columns: columns, float32Weights: float32Weights)
    }

    /// A one-dimensional tensor of `count` elements, dequantized to Float32.
    func vector(_ name: String, count: Int) throws -> [Float] {
        let t = try tensor(name)
        guard t.elementCount == count, t.shape.count == 1 else { throw ModelError.tensorShape(name: name, expected: [count], found: t.shape) }
        return try file.dequantize(t)
    }

    /// The file name, marked when every matrix was dequantized.
    var origin: String {
        let name = file.path.map { String($0.split(separator: "/").last ?? Substring($0)) } ?? "gguf"
        return float32Weights ? name + " (float32 weights)" : name
    }
}

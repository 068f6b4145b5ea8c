import Foundation
import Formats
import Tensors
import Transformer

/// A threshold-activated sparse autoencoder (TSAE) over one layer's residual stream: the
/// "atoms" read-out.
///
/// Chenhui Hu, Pengfei Cao, Yubo Chen, Kang Liu, Jun Zhao, "Towards Atoms of Large Language
/// Models", 2025, arXiv:2509.20784. The paper's code was not available, so its exact procedure is
/// unverified; every choice it leaves open is a parameter here (DOCS.md 8.4). For a residual
/// vector `x` (`[d]`, Hugging Face `hidden_states[ℓ]`) and `n` atoms:
///
///     a = W_e (x − b_d) + b_e          W_e [n, d], b_e [n], b_d [d]
///     z = T_θ(a)                       θ [n], one threshold per atom
///     x̂ = W_d z + b_d                  W_d [d, n]; atom i is column i of W_d
///
/// with `T_θ` one of `Activation`: `jumprelu` `z_i = a_i if a_i > θ_i else 0`; `shifted-relu`
/// `z_i = a_i − θ_i if a_i − θ_i > 0 else 0`; `relu` `z_i = a_i if a_i > 0 else 0` (θ ignored: the
/// plain SAE). A token's atoms are the indices with `z_i > 0`, by `z_i` descending, ties to the
/// lower index (D4).
///
/// Arithmetic (D1): `x − b_d` element by element; the two products are `WeightMatrix.multiply`
/// (each output a left-to-right Float32 sum over the input, independent of thread count and of
/// how many rows are multiplied together, D2/D3); then `+ b_e` and `+ b_d` element by element.
/// The decoder product is dense (zeros included), so the result does not depend on sparsity
/// bookkeeping.
public struct SparseAutoencoder: @unchecked Sendable {
    /// The threshold function `T_θ` (see the type's comment).
    public enum Activation: String, Sendable, CaseIterable {
        case jumprelu
        case shiftedReLU = "shifted-relu"
        case relu
    }

    /// `d`, the residual width.
    public let inputSize: Int
    /// `n`, the number of atoms.
    public let atomCount: Int
    public let activation: Activation
    /// `W_e`, `[n, d]`.
    public let encoder: WeightMatrix
    /// `W_d`, `[d, n]`.
    public let decoder: WeightMatrix
    public let encoderBias: [Float]
    public let decoderBias: [Float]
    /// `θ`, one per atom (zeros when a `relu` file has none).
    public let threshold: [Float]
    public let innerProduct: AtomicInnerProduct
    /// The file's `__metadata__` (empty for an in-memory autoencoder).
    public let metadata: [String: String]

    /// The Hugging Face `hidden_states` index the autoencoder was trained on (`layer` metadata).
    public var layer: Int? { metadata["layer"].flatMap { Int($0) } }
    /// The `base_model` metadata.
    public var baseModel: String? { metadata["base_model"] }

    /// Builds an autoencoder from row-major values. Throws `SparseAutoencoderError` for a size
    /// that does not match `d` and `n`, or a non-finite value.
    public init(inputSize d: Int, atomCount n: Int, activation: Activation, encoder: [Float], encoderBias: [Float],
                decoder: [Float], decoderBias: [Float], threshold: [Float]? = nil,
                innerProduct: AtomicInnerProduct? = nil, metadata: [String: String] = [:]) throws {
        guard d > 0 && n > 0 else { throw SparseAutoencoderError.wrongShape(tensor: "W_e", expected: [n, d], found: [n, d]) }
        func check(_ name: String, _ values: [Float], _ shape: [Int]) throws {
            guard values.count == shape.reduce(1, *) else {
                throw SparseAutoencoderError.wrongShape(tensor: name, expected: shape, found: [values.count])
            }
            if let i = values.firstIndex(where: { !$0.isFinite }) { throw SparseAutoencoderError.nonFinite(tensor: name, index: i) }
        }
        try check("W_e", encoder, [n, d]); try check("b_e", encoderBias, [n])
        try check("W_d", decoder, [d, n]); try check("b_d", decoderBias, [d])
        let theta = threshold ?? [Float](repeating: 0, count: n)
        if threshold == nil && activation != .relu { throw SparseAutoencoderError.missingTensor("theta", expected: [n]) }
        try check("theta", theta, [n])
        let aip = innerProduct ?? .identity(dimension: d)
        guard aip.dimension == d else {
            throw SparseAutoencoderError.wrongShape(tensor: "aip_mu", expected: [d], found: [aip.dimension])
        }
        inputSize = d; atomCount = n; self.activation = activation
        self.encoder = WeightMatrix(rows: n, columns: d, values: encoder)
        self.decoder = WeightMatrix(rows: d, columns: n, values: decoder)
        self.encoderBias = encoderBias; self.decoderBias = decoderBias; self.threshold = theta
        self.innerProduct = aip; self.metadata = metadata
    }

    // MARK: loading

    /// The tensor names a file may hold.
    public static let tensorNames: Set<String> = ["W_e", "b_e", "W_d", "b_d", "theta", "aip_mu", "aip_A", "aip_diag", "aip_factor"]

    /// Loads a safetensors file: `W_e [n,d]`, `b_e [n]`, `W_d [d,n]`, `b_d [d]`, `theta [n]`
    /// (optional for `relu`), optional `aip_mu [d]` and at most one inner-product form: `aip_A
    /// [d,d]` (full), or `aip_diag [d]` and/or `aip_factor [r,d]` (`A = diag + Fᵀ F`); F32, F16 or
    /// BF16. Metadata: `activation` (required: jumprelu, shifted-relu or relu), `layer`,
    /// `base_model`. Throws `SparseAutoencoderError` naming the key or tensor.
    public static func load(path: String) throws -> SparseAutoencoder {
        let file: SafetensorsFile
        do { file = try SafetensorsFile(path: path) } catch let e as FormatError { throw SparseAutoencoderError.format(path: path, e) }
        return try load(file)
    }

    /// Loads from a parsed file (see `load(path:)`).
    public static func load(_ file: SafetensorsFile) throws -> SparseAutoencoder {
        for t in file.tensors where !tensorNames.contains(t.name) { throw SparseAutoencoderError.unexpectedTensor(t.name) }
        guard let raw = file.metadata["activation"] else { throw SparseAutoencoderError.missingMetadata("activation") }
        guard let activation = Activation(rawValue: raw) else {
            throw SparseAutoencoderError.badMetadata(key: "activation", value: raw, expected: Activation.allCases.map(\.rawValue).joined(separator: ", "))
        }
        if let layer = file.metadata["layer"], Int(layer).map({ $0 >= 0 }) != true {
            throw SparseAutoencoderError.badMetadata(key: "layer", value: layer, expected: "a non-negative integer (Hugging Face hidden_states index)")
        }
        guard let we = file.tensor(named: "W_e") else { throw SparseAutoencoderError.missingTensor("W_e", expected: nil) }
        guard we.shape.count == 2, we.shape[0] > 0, we.shape[1] > 0 else {
            throw SparseAutoencoderError.wrongShape(tensor: "W_e", expected: nil, found: we.shape)
        }
        let n = we.shape[0], d = we.shape[1]
        func tensor(_ name: String, _ shape: [Int], required: Bool = true) throws -> [Float]? {
            guard let info = file.tensor(named: name) else {
                if required { throw SparseAutoencoderError.missingTensor(name, expected: shape) }
                return nil
            }
            guard info.shape == shape else { throw SparseAutoencoderError.wrongShape(tensor: name, expected: shape, found: info.shape) }
            let values = try file.floats(named: name)
            if let i = values.firstIndex(where: { !$0.isFinite }) { throw SparseAutoencoderError.nonFinite(tensor: name, index: i) }
            return values
        }
        let encoder = try tensor("W_e", [n, d])!, encoderBias = try tensor("b_e", [n])!
        let decoder = try tensor("W_d", [d, n])!, decoderBias = try tensor("b_d", [d])!
        let theta = try tensor("theta", [n], required: activation != .relu)
        let mu = try tensor("aip_mu", [d], required: false)
        let full = try tensor("aip_A", [d, d], required: false)
        let diagonal = try tensor("aip_diag", [d], required: false)
        var factor: [Float]? = nil, rank = 0
        if let f = file.tensor(named: "aip_factor") {
            guard f.shape.count == 2, f.shape[1] == d, f.shape[0] > 0 else {
                throw SparseAutoencoderError.wrongShape(tensor: "aip_factor", expected: [-1, d], found: f.shape)
            }
            rank = f.shape[0]
            factor = try tensor("aip_factor", [rank, d])
        }
        if full != nil && (diagonal != nil || factor != nil) {
            throw SparseAutoencoderError.conflictingInnerProduct("aip_A is a full matrix; it cannot be combined with aip_diag or aip_factor")
        }
        let form: AtomicInnerProduct.Form
        if let full { form = .full(full) }
        else if diagonal != nil || factor != nil { form = .diagonalPlusLowRank(diagonal: diagonal, factor: factor, rank: rank) }
        else { form = .identity }
        let aip = AtomicInnerProduct(dimension: d, shift: mu, form: form)
        return try SparseAutoencoder(inputSize: d, atomCount: n, activation: activation, encoder: encoder, encoderBias: encoderBias,
                                     decoder: decoder, decoderBias: decoderBias, threshold: theta, innerProduct: aip,
                                     metadata: file.metadata)
    }

    // MARK: forward

    /// `T_θ` applied to one pre-activation of atom `i`.
    @inlinable
    public func threshold(_ a: Float, atom i: Int) -> Float {
        switch activation {
        case .jumprelu: return a > threshold[i] ? a : 0
        case .shiftedReLU:
            let t = a - threshold[i]
            return t > 0 ? t : 0
        case .relu: return a > 0 ? a : 0
        }
    }

    /// One pass over `rows` residual vectors.
    public struct Forward: Sendable, Equatable {
        /// `a`, `[rows, n]`.
        public var preActivations: [Float]
        /// `z`, `[rows, n]`.
        public var activations: [Float]
        /// `x̂`, `[rows, d]`.
        public var reconstruction: [Float]
    }

    /// Encodes, thresholds and decodes `x` (`[rows, d]`). Throws `SparseAutoencoderError` for a
    /// wrong size or a non-finite input value.
    public func forward(_ x: [Float], rows: Int, pool: ParallelFor = .shared) throws -> Forward {
        let d = inputSize, n = atomCount
        guard rows > 0, x.count == rows * d else { throw SparseAutoencoderError.wrongInput("\(x.count) values are not \(rows) rows of \(d)") }
        if let i = x.firstIndex(where: { !$0.isFinite }) {
            throw SparseAutoencoderError.wrongInput("residual value \(i) (row \(i / d), dimension \(i % d)) is \(x[i]); the autoencoder needs finite inputs")
        }
        var centred = x                                                   // [rows, d]
        for t in 0..<rows { for j in 0..<d { centred[t * d + j] = x[t * d + j] - decoderBias[j] } }
        var a = encoder.multiply(centred, tokens: rows, pool: pool)       // [rows, n]
        var z = [Float](repeating: 0, count: rows * n)
        for t in 0..<rows {
            for i in 0..<n {
                a[t * n + i] = a[t * n + i] + encoderBias[i]
                z[t * n + i] = threshold(a[t * n + i], atom: i)
            }
        }
        var xHat = decoder.multiply(z, tokens: rows, pool: pool)          // [rows, d]
        for t in 0..<rows { for j in 0..<d { xHat[t * d + j] = xHat[t * d + j] + decoderBias[j] } }
        return Forward(preActivations: a, activations: z, reconstruction: xHat)
    }

    /// The active atoms of one row of activations `z` (`[n]`): indices with `z_i > 0`, by `z_i`
    /// descending, ties to the lower index.
    public static func atoms(_ z: ArraySlice<Float>) -> [(index: Int, activation: Float)] {
        let base = z.startIndex
        return z.indices.filter { z[$0] > 0 }.map { (index: $0 - base, activation: z[$0]) }
            .sorted { $0.activation > $1.activation || ($0.activation == $1.activation && $0.index < $1.index) }
    }

    /// Atom `i`'s direction: column `i` of `W_d` (`[d]`, exact Float32 values).
    public func atomDirection(_ i: Int) -> [Float] {
        (0..<inputSize).map { decoder.element(row: $0, column: i) }
    }

    /// `R² = 1 − SSE/SST` over `rows` vectors `x` and their reconstructions `xHat` (`[rows, d]`),
    /// SST about the per-dimension mean of `x`: `mean_j = (Σ_t x_tj) / rows`, `SSE = Σ_t Σ_j (x_tj
    /// − x̂_tj)²`, `SST = Σ_t Σ_j (x_tj − mean_j)²`, all in Float64, t outer, j inner. Nil when
    /// SST is 0 (one row, or identical rows).
    public static func rSquared(_ x: [Float], _ xHat: [Float], rows: Int, dimension d: Int) -> Double? {
        var mean = [Double](repeating: 0, count: d)
        for t in 0..<rows { for j in 0..<d { mean[j] += Double(x[t * d + j]) } }
        for j in 0..<d { mean[j] /= Double(rows) }
        var sse = 0.0, sst = 0.0
        for t in 0..<rows {
            for j in 0..<d {
                let e = Double(x[t * d + j]) - Double(xHat[t * d + j]), c = Double(x[t * d + j]) - mean[j]
                sse += e * e
                sst += c * c
            }
        }
        return sst > 0 ? 1 - sse / sst : nil
    }

    /// The values of the file (`write(to:)` writes them), F32.
    public func tensors() -> [(name: String, dtype: SafetensorsDType, shape: [Int], values: [Float])] {
        let d = inputSize, n = atomCount
        var encoderValues = [Float](repeating: 0, count: n * d), decoderValues = [Float](repeating: 0, count: d * n)
        encoderValues.withUnsafeMutableBufferPointer { p in for i in 0..<n { encoder.decodeRow(i, into: p.baseAddress! + i * d) } }
        decoderValues.withUnsafeMutableBufferPointer { p in for j in 0..<d { decoder.decodeRow(j, into: p.baseAddress! + j * n) } }
        var out: [(name: String, dtype: SafetensorsDType, shape: [Int], values: [Float])] = [
            ("W_e", .f32, [n, d], encoderValues), ("b_e", .f32, [n], encoderBias),
            ("W_d", .f32, [d, n], decoderValues), ("b_d", .f32, [d], decoderBias), ("theta", .f32, [n], threshold),
        ]
        if let mu = innerProduct.shift { out.append(("aip_mu", .f32, [d], mu)) }
        switch innerProduct.form {
        case .identity: break
        case .full(let a): out.append(("aip_A", .f32, [d, d], a))
        case .diagonalPlusLowRank(let diagonal, let factor, let rank):
            if let diagonal { out.append(("aip_diag", .f32, [d], diagonal)) }
            if let factor { out.append(("aip_factor", .f32, [rank, d], factor)) }
        }
        return out
    }

    /// Writes the autoencoder as a safetensors file with its metadata and `activation`.
    public func write(to path: String) throws {
        var meta = metadata
        meta["activation"] = activation.rawValue
        try SafetensorsWriter.write(tensors(), metadata: meta, to: path)
    }
}

/// The atomic inner product as a parameterized bilinear form:
///
///     ⟨x, y⟩_A = (x − μ)ᵀ A (y − μ)
///
/// The paper (arXiv:2509.20784) calls it a non-Euclidean inner product correcting a
/// "representation shift"; its formula is unverified, so μ and A are whatever the file gives:
/// `A = I` (`identity`), a full matrix, or `diag(s) + Fᵀ F` (a diagonal and/or a rank-r factor
/// F `[r, d]`). With `A = I` and no μ it is `Kernels.dot(x, y)` bit for bit.
///
/// Order (D1): `u = x − μ`, `v = y − μ` element by element (skipped without μ); identity:
/// `dot(u, v)`; full: `w_j = dot(A row j, v)` then `dot(u, w)`; diagonal plus low rank:
/// `w_j = s_j * v_j`, `p = F u`, `q = F v` (each `dot` of a row), result `dot(u, w) + dot(p, q)`
/// (the absent part left out). `dot` is `Kernels.dot` (16 lanes, then lane 0…15).
public struct AtomicInnerProduct: Sendable, Equatable {
    public enum Form: Sendable, Equatable {
        case identity
        /// Row-major `[d, d]`.
        case full([Float])
        /// `diag(diagonal) + factorᵀ factor`, factor row-major `[rank, d]`.
        case diagonalPlusLowRank(diagonal: [Float]?, factor: [Float]?, rank: Int)
    }

    public let dimension: Int
    /// `μ`, or nil for 0.
    public let shift: [Float]?
    public let form: Form

    public init(dimension: Int, shift: [Float]? = nil, form: Form = .identity) {
        precondition(shift == nil || shift!.count == dimension, "μ must have the form's dimension")
        self.dimension = dimension; self.shift = shift; self.form = form
    }

    /// The dot product (`A = I`, `μ = 0`).
    public static func identity(dimension: Int) -> AtomicInnerProduct { AtomicInnerProduct(dimension: dimension) }

    private static func dot(_ a: [Float], _ b: [Float]) -> Float {
        a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in Kernels.dot(pa.baseAddress!, pb.baseAddress!, count: pa.count) } }
    }

    private static func rows(_ m: [Float], _ r: Int, _ d: Int, times v: [Float]) -> [Float] {
        m.withUnsafeBufferPointer { pm in v.withUnsafeBufferPointer { pv in (0..<r).map { Kernels.dot(pm.baseAddress! + $0 * d, pv.baseAddress!, count: d) } } }
    }

    /// `(u)ᵀ A (v)` without the shift: the form on two directions (an atom, a difference of points).
    public func bilinear(_ u: [Float], _ v: [Float]) -> Float {
        precondition(u.count == dimension && v.count == dimension, "vectors must have the form's dimension")
        let d = dimension
        switch form {
        case .identity: return Self.dot(u, v)
        case .full(let a): return Self.dot(u, Self.rows(a, d, d, times: v))
        case .diagonalPlusLowRank(let diagonal, let factor, let rank):
            var total: Float? = nil
            if let diagonal { total = Self.dot(u, (0..<d).map { diagonal[$0] * v[$0] }) }
            if let factor {
                let low = Self.dot(Self.rows(factor, rank, d, times: u), Self.rows(factor, rank, d, times: v))
                total = total.map { $0 + low } ?? low
            }
            return total ?? 0
        }
    }

    /// `⟨x, y⟩_A = (x − μ)ᵀ A (y − μ)` (see the type's comment for the order).
    public func callAsFunction(_ x: [Float], _ y: [Float]) -> Float {
        guard let mu = shift else { return bilinear(x, y) }
        return bilinear((0..<dimension).map { x[$0] - mu[$0] }, (0..<dimension).map { y[$0] - mu[$0] })
    }
}

/// Everything the loader or the forward pass rejects.
public enum SparseAutoencoderError: Error, CustomStringConvertible, Equatable {
    case format(path: String, FormatError)
    case missingTensor(String, expected: [Int]?)
    case wrongShape(tensor: String, expected: [Int]?, found: [Int])
    case unexpectedTensor(String)
    case missingMetadata(String)
    case badMetadata(key: String, value: String, expected: String)
    case conflictingInnerProduct(String)
    case nonFinite(tensor: String, index: Int)
    case wrongInput(String)

    public var description: String {
        switch self {
        case .format(let path, let e): return "\(path): \(e.description)"
        case .missingTensor(let name, let shape):
            return "the autoencoder file has no tensor \(name)" + (shape.map { " (expected shape \($0))" } ?? "")
        case .wrongShape(let name, let expected, let found):
            return "tensor \(name) has shape \(found)" + (expected.map { ", expected [\($0.map { $0 < 0 ? "r" : String($0) }.joined(separator: ", "))]" } ?? ", expected [n, d] with n, d > 0")
        case .unexpectedTensor(let name):
            return "unexpected tensor \(name); an autoencoder file holds \(SparseAutoencoder.tensorNames.sorted().joined(separator: ", "))"
        case .missingMetadata(let key): return "the autoencoder file's __metadata__ has no \"\(key)\""
        case .badMetadata(let key, let value, let expected): return "__metadata__ \"\(key)\" is '\(value)'; expected \(expected)"
        case .conflictingInnerProduct(let why): return why
        case .nonFinite(let name, let index): return "tensor \(name) holds a non-finite value at element \(index)"
        case .wrongInput(let why): return why
        }
    }
}

/// The atoms read-out of a prompt: every position's residual at one layer through the
/// autoencoder, its active atoms, and each shown atom's direction through the logit lens.
public enum AtomReadout {
    public struct Atom: Sendable, Equatable {
        public var index: Int
        public var activation: Float
        /// The atom's direction through the logit lens: ids with probabilities, by logit
        /// descending, ties by id.
        public var lens: [LogitLens.TokenProbability]
    }

    public struct Position: Sendable, Equatable {
        public var position: Int
        public var token: Int
        /// The number of active atoms (`z > 0`).
        public var l0: Int
        /// `‖x − x̂‖²` (Float64, dimension order).
        public var squaredError: Double
        /// `‖x − x̂‖ / ‖x‖`.
        public var relativeError: Double
        /// The first `top` active atoms.
        public var atoms: [Atom]
    }

    public struct Report: Sendable, Equatable {
        public var layer: Int
        public var positions: [Position]
        /// R² over positions `r2FromPosition…` (nil with fewer than two or identical rows).
        public var r2: Double?
        public var r2FromPosition: Int
        public var applyNorm: Bool
    }

    /// Runs the read-out. `layer` is a `hidden_states` index (0…L, as the lens); `top` atoms per
    /// position (all when nil), `lensTop` tokens per atom. Throws `ModelError.invalidInput` or
    /// `SparseAutoencoderError`.
    public static func run(model: any CausalLanguageModel, autoencoder sae: SparseAutoencoder, prompt: [Int], layer: Int,
                           top: Int?, lensTop: Int, applyNorm: Bool = true, r2FromPosition: Int = 1,
                           pool: ParallelFor = .shared) throws -> Report {
        let C = model.shape.hiddenSize, L = model.shape.layerCount, V = model.shape.vocabularySize, T = prompt.count
        guard sae.inputSize == C else {
            throw ModelError.invalidInput("the autoencoder reads \(sae.inputSize)-dimensional residuals; the model's are \(C)")
        }
        guard layer >= 0 && layer <= L else { throw ModelError.invalidInput("layer \(layer) is outside 0...\(L) (Hugging Face hidden_states numbering)") }
        guard lensTop >= 1 else { throw ModelError.invalidInput("--lens-top must be at least 1") }
        let (states, _) = try LogitLens.hiddenStates(model: model, prompt: prompt, pool: pool)
        let x = states[layer]
        let f = try sae.forward(x, rows: T, pool: pool)
        let n = sae.atomCount
        var lensCache: [Int: [LogitLens.TokenProbability]] = [:]
        func lens(_ i: Int) throws -> [LogitLens.TokenProbability] {
            if let cached = lensCache[i] { return cached }
            let logits = try LogitLens.logits(model: model, hidden: sae.atomDirection(i), rows: 1, layer: layer, applyNorm: applyNorm, pool: pool)
            let logP = LogitLens.logProbabilities(logits[0..<V])
            let best = logits.withUnsafeBufferPointer { Kernels.topK($0.baseAddress!, count: V, k: lensTop) }
            let out = best.map { LogitLens.TokenProbability(id: $0.index, probability: DeterministicMath.exp(logP[$0.index]), logit: $0.value) }
            lensCache[i] = out
            return out
        }
        var positions: [Position] = []
        for t in 0..<T {
            let active = SparseAutoencoder.atoms(f.activations[(t * n)..<((t + 1) * n)])
            var sse = 0.0, norm = 0.0
            for j in 0..<C {
                let e = Double(x[t * C + j]) - Double(f.reconstruction[t * C + j])
                sse += e * e
                norm += Double(x[t * C + j]) * Double(x[t * C + j])
            }
            let shown = try active.prefix(top ?? active.count).map { Atom(index: $0.index, activation: $0.activation, lens: try lens($0.index)) }
            positions.append(Position(position: t, token: prompt[t], l0: active.count, squaredError: sse,
                                      relativeError: norm > 0 ? (sse / norm).squareRoot() : 0, atoms: shown))
        }
        let from = min(max(0, r2FromPosition), T)
        let rows = T - from
        let r2 = rows > 1 ? SparseAutoencoder.rSquared(Array(x[(from * C)...]), Array(f.reconstruction[(from * C)...]), rows: rows, dimension: C) : nil
        return Report(layer: layer, positions: positions, r2: r2, r2FromPosition: from, applyNorm: applyNorm)
    }
}

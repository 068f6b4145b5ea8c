import Foundation
import Formats
import Tensors
import Transformer

/// Medusa's extra decoding heads (Cai et al., "Medusa: Simple LLM Inference Acceleration
/// Framework with Multiple Decoding Heads", 2024, arXiv:2401.10774, Section 2.1.1, equation (1);
/// reference `medusa/model/medusa_model.py`, `ResBlock` and `MedusaModelABC.forward`).
///
/// Head `k` (0-based) reads `h`, the target's final hidden state **after** the final norm at the
/// last committed position, and predicts the token `k + 2` positions ahead (the LM head predicts
/// `+1`):
///
///     z = h;  for each ResBlock ℓ of the head:  z = z + SiLU(W_ℓ z + b_ℓ)      // [C]
///     p_k = U_k z                                                                // [V]
///
/// `W_ℓ` is `[C, C]`, `b_ℓ` `[C]`, and `U_k` `[V, C]` is either the head's own matrix (the
/// authors' format) or **tied** to the target's output head (our shipped format: the logits are
/// the target's own `outputHead` product, so with zero `W` and `b` a head's logits are the
/// target's logits bit for bit).
///
/// Arithmetic (D1, D2): every product is `WeightMatrix.multiply` (fixed per-output reduction
/// order, split across threads only by output rows), or `multiplyNaive` when the model uses its
/// naive kernels (bit-identical). Per element, in Float32: `s = (W z)[i] + b[i]`, then
/// `z[i] = z[i] + DeterministicMath.silu(s)`. The heads of one step are multiplied by a tied head
/// together (one batched product, each row bit-identical to its own product).
///
/// File format (`load(path:)`): safetensors with `{k}.{ℓ}.linear.weight [C, C]` and
/// `{k}.{ℓ}.linear.bias [C]` for ResBlocks `ℓ = 0…L-1`, and `{k}.{L}.weight [V, C]` for an untied
/// vocabulary projection (F32, F16 or BF16). `K` is the number of heads found. A file without
/// `{k}.{L}.weight` (or with `__metadata__` `tied_lm_head = "true"`) is tied. The reference's
/// `[ResBlock] * L` repeats one module L times, so its files carry L copies of the same tensors;
/// they load as L blocks with equal weights, which computes the same thing.
public final class MedusaHeads: @unchecked Sendable {
    /// One ResBlock: `W [C, C]` and `b [C]`.
    public struct ResBlock {
        public let weight: WeightMatrix
        public let bias: [Float]
    }

    /// One head: its ResBlocks in order and, when untied, its vocabulary projection `[V, C]`.
    public struct Head {
        public let blocks: [ResBlock]
        public let vocabulary: WeightMatrix?
    }

    public let heads: [Head]
    /// The hidden size `C` the heads read.
    public let hiddenSize: Int
    /// Where the heads came from (a file path, or "random seed N").
    public let origin: String
    /// The file's `__metadata__` (empty for heads built in memory).
    public let metadata: [String: String]

    /// Number of heads `K`.
    public var count: Int { heads.count }
    /// Whether the heads use the target's output head as their vocabulary projection.
    public var isTied: Bool { heads.first?.vocabulary == nil }

    /// Heads from their parts. Every head must have at least one ResBlock of size `hiddenSize`,
    /// and either every head has a vocabulary projection of `hiddenSize` columns (all with the
    /// same rows) or none has.
    public init(heads: [Head], hiddenSize: Int, origin: String, metadata: [String: String] = [:]) {
        precondition(!heads.isEmpty, "Medusa needs at least one head")
        precondition(heads.allSatisfy { !$0.blocks.isEmpty && $0.blocks.allSatisfy { $0.weight.rows == hiddenSize && $0.weight.columns == hiddenSize && $0.bias.count == hiddenSize } },
                     "every head needs ResBlocks of size \(hiddenSize)")
        precondition(heads.allSatisfy { ($0.vocabulary == nil) == (heads[0].vocabulary == nil) && ($0.vocabulary?.columns ?? hiddenSize) == hiddenSize
                                        && $0.vocabulary?.rows == heads[0].vocabulary?.rows },
                     "either every head is tied or every head has a vocabulary projection of the same shape")
        self.heads = heads
        self.hiddenSize = hiddenSize
        self.origin = origin
        self.metadata = metadata
    }

    /// Throws `MedusaError.modelMismatch` unless the heads read the model's hidden size and, when
    /// untied, produce its vocabulary.
    public func check(against model: any CausalLanguageModel) throws {
        let s = model.shape
        guard hiddenSize == s.hiddenSize else {
            throw MedusaError.modelMismatch("the Medusa heads (\(origin)) read hidden states of size \(hiddenSize); the model's hidden size is \(s.hiddenSize) — the heads were trained for another model")
        }
        if let v = heads[0].vocabulary?.rows, v != s.vocabularySize {
            throw MedusaError.modelMismatch("the Medusa heads (\(origin)) produce \(v) logits; the model's vocabulary has \(s.vocabularySize) tokens")
        }
    }

    /// The logits of heads `0..<count` (`count ≤ K`) for one final-norm hidden state `h` (`[C]`),
    /// `[count, V]` row-major (see the type's notes for the arithmetic).
    public func logits(hidden h: UnsafePointer<Float>, heads count: Int, model: any CausalLanguageModel, pool: ParallelFor = .shared) -> [Float] {
        precondition(count >= 1 && count <= heads.count, "asked for \(count) heads of \(heads.count)")
        let C = hiddenSize, V = model.shape.vocabularySize, naive = model.useNaiveKernels
        var z = [Float](repeating: 0, count: count * C)  // [count, C]: each head's ResBlock output
        var y = [Float](repeating: 0, count: C)
        z.withUnsafeMutableBufferPointer { zp in
            y.withUnsafeMutableBufferPointer { yp in
                for k in 0..<count {
                    let row = zp.baseAddress! + k * C
                    row.update(from: h, count: C)
                    for block in heads[k].blocks {
                        // y = W z; z = z + SiLU(y + b)
                        if naive { block.weight.multiplyNaive(row, tokens: 1, into: yp.baseAddress!) } else {
                            block.weight.multiply(row, tokens: 1, into: yp.baseAddress!, pool: pool)
                        }
                        for i in 0..<C { row[i] = row[i] + DeterministicMath.silu(yp[i] + block.bias[i]) }
                    }
                }
            }
        }
        var out = [Float](repeating: 0, count: count * V)
        z.withUnsafeBufferPointer { zp in
            out.withUnsafeMutableBufferPointer { op in
                if isTied {
                    if naive { model.outputHead.multiplyNaive(zp.baseAddress!, tokens: count, into: op.baseAddress!) } else {
                        model.outputHead.multiply(zp.baseAddress!, tokens: count, into: op.baseAddress!, pool: pool)
                    }
                } else {
                    for k in 0..<count {
                        let u = heads[k].vocabulary!
                        if naive { u.multiplyNaive(zp.baseAddress! + k * C, tokens: 1, into: op.baseAddress! + k * V) } else {
                            u.multiply(zp.baseAddress! + k * C, tokens: 1, into: op.baseAddress! + k * V, pool: pool)
                        }
                    }
                }
            }
        }
        return out
    }

    // MARK: - Seeded random heads

    /// `heads` seeded random heads for `model` (tests and fixtures), one ResBlock each.
    ///
    /// Recipe (version 1): one `Xoshiro256StarStar(seed:)`; for head k = 0…K-1 in order, `W`
    /// `[C, C]` then `b` `[C]`, then (untied only) `U` `[V, C]`, each row-major, each element
    /// `(u * 2 - 1) * bound` with `u = nextUniformFloat()` and `bound = Float(sqrt(3.0 / Double(C)))`,
    /// as `SyntheticModels` draws weights. Tied heads use the model's output head.
    public static func random(seed: UInt64, heads: Int, model: any CausalLanguageModel, tied: Bool = true) -> MedusaHeads {
        precondition(heads >= 1, "Medusa needs at least one head")
        let C = model.shape.hiddenSize, V = model.shape.vocabularySize
        var generator = Xoshiro256StarStar(seed: seed)
        let bound = Float((3.0 / Double(C)).squareRoot())
        func draw(_ n: Int) -> [Float] { (0..<n).map { _ in (generator.nextUniformFloat() * 2 - 1) * bound } }
        var made: [Head] = []
        for _ in 0..<heads {
            let w = draw(C * C), b = draw(C)
            let u = tied ? nil : WeightMatrix(rows: V, columns: C, values: draw(V * C))
            made.append(Head(blocks: [ResBlock(weight: WeightMatrix(rows: C, columns: C, values: w), bias: b)], vocabulary: u))
        }
        return MedusaHeads(heads: made, hiddenSize: C, origin: "random seed \(seed)",
                           metadata: ["format": "touchstone-medusa-1", "tied_lm_head": tied ? "true" : "false", "touchstone.random_seed": "\(seed)"])
    }

    // MARK: - Files

    /// The tensors of these heads under the file format's keys (Float32 values).
    public var tensors: [(name: String, shape: [Int], values: [Float])] {
        var result: [(name: String, shape: [Int], values: [Float])] = []
        func values(_ m: WeightMatrix) -> [Float] {
            var v = [Float](repeating: 0, count: m.rows * m.columns)
            v.withUnsafeMutableBufferPointer { p in for r in 0..<m.rows { m.decodeRow(r, into: p.baseAddress! + r * m.columns) } }
            return v
        }
        for (k, head) in heads.enumerated() {
            for (l, block) in head.blocks.enumerated() {
                result.append(("\(k).\(l).linear.weight", [hiddenSize, hiddenSize], values(block.weight)))
                result.append(("\(k).\(l).linear.bias", [hiddenSize], block.bias))
            }
            if let u = head.vocabulary { result.append(("\(k).\(head.blocks.count).weight", [u.rows, u.columns], values(u))) }
        }
        return result
    }

    /// Writes the heads as a Float32 safetensors file in the format `load(path:)` reads, with
    /// `metadata` (tied heads get `tied_lm_head = "true"`). Throws `FormatError.io`.
    public func write(to path: String) throws {
        var meta = metadata
        meta["format"] = meta["format"] ?? "touchstone-medusa-1"
        meta["tied_lm_head"] = isTied ? "true" : "false"
        try SafetensorsWriter.write(tensors.map { (name: $0.name, dtype: SafetensorsDType.f32, shape: $0.shape, values: $0.values) },
                                    metadata: meta, to: path)
    }

    /// Loads heads from a safetensors file (see the type's notes for the keys). Throws
    /// `FormatError` for a malformed file and `MedusaError.invalidHeads` naming the key for a
    /// missing or unexpected tensor, a wrong shape, or tied/untied heads that disagree with each
    /// other or with the metadata.
    public static func load(path: String) throws -> MedusaHeads {
        guard FileManager.default.fileExists(atPath: path) else {
            throw MedusaError.invalidHeads("no Medusa heads file at \(path)")
        }
        return try load(file: SafetensorsFile(path: path), origin: path)
    }

    /// Loads heads from a parsed safetensors file (`origin` names it in errors).
    public static func load(file: SafetensorsFile, origin: String) throws -> MedusaHeads {
        func fail(_ message: String) -> MedusaError { .invalidHeads("\(origin): \(message)") }
        // Key → (head, index, part): "{k}.{l}.linear.weight", "{k}.{l}.linear.bias", "{k}.{l}.weight".
        enum Part { case weight, bias, vocabulary }
        var parts: [Int: [Int: [Part: SafetensorsTensorInfo]]] = [:]
        for info in file.tensors {
            let fields = info.name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            let part: Part?
            switch fields.count {
            case 4 where fields[2] == "linear": part = fields[3] == "weight" ? .weight : fields[3] == "bias" ? .bias : nil
            case 3 where fields[2] == "weight": part = .vocabulary
            default: part = nil
            }
            guard let part, let k = Int(fields[0]), let l = Int(fields[1]), k >= 0, l >= 0, String(k) == fields[0], String(l) == fields[1] else {
                let hint = info.name.hasPrefix("medusa_head.") ? " (a Medusa-2 checkpoint: save its medusa_head.* tensors without the prefix)" : ""
                throw fail("unexpected tensor '\(info.name)'; a heads file holds {k}.{l}.linear.weight, {k}.{l}.linear.bias and optionally {k}.{L}.weight\(hint)")
            }
            parts[k, default: [:]][l, default: [:]][part] = info
        }
        guard let lastHead = parts.keys.max() else { throw fail("no tensors; expected 0.0.linear.weight, 0.0.linear.bias, …") }
        guard let first = parts[0]?[0]?[.weight], first.shape.count == 2 else {
            throw fail("missing tensor '0.0.linear.weight' (the first head's ResBlock weight [C, C])")
        }
        let C = first.shape[1]
        let tiedByMetadata = file.metadata["tied_lm_head"].map { $0.lowercased() == "true" }
        var heads: [Head] = []
        var vocabularyRows: Int?
        for k in 0...lastHead {
            guard let layers = parts[k] else { throw fail("missing tensor '\(k).0.linear.weight': heads must be numbered 0…\(lastHead) without gaps") }
            var blocks: [ResBlock] = []
            var l = 0
            while let w = layers[l]?[.weight] {
                guard w.shape == [C, C] else { throw fail("tensor '\(w.name)' has shape \(w.shape); expected [\(C), \(C)]") }
                guard let b = layers[l]?[.bias] else { throw fail("missing tensor '\(k).\(l).linear.bias' (shape [\(C)])") }
                guard b.shape == [C] else { throw fail("tensor '\(b.name)' has shape \(b.shape); expected [\(C)]") }
                guard layers[l]?[.vocabulary] == nil else { throw fail("tensor '\(k).\(l).weight' sits beside ResBlock \(k).\(l); the vocabulary projection comes after the last ResBlock") }
                blocks.append(ResBlock(weight: WeightMatrix(rows: C, columns: C, values: try file.floats(named: w.name)), bias: try file.floats(named: b.name)))
                l += 1
            }
            guard !blocks.isEmpty else { throw fail("missing tensor '\(k).0.linear.weight' (head \(k)'s ResBlock weight [\(C), \(C)])") }
            var vocabulary: WeightMatrix? = nil
            if let u = layers[l]?[.vocabulary] {
                guard u.shape.count == 2, u.shape[1] == C, u.shape[0] > 0 else { throw fail("tensor '\(u.name)' has shape \(u.shape); expected [V, \(C)]") }
                if let v = vocabularyRows, v != u.shape[0] { throw fail("tensor '\(u.name)' has \(u.shape[0]) rows; head 0's projection has \(v)") }
                if tiedByMetadata == true { throw fail("the metadata says tied_lm_head = true, but the file has '\(u.name)'") }
                vocabularyRows = u.shape[0]
                vocabulary = WeightMatrix(rows: u.shape[0], columns: C, values: try file.floats(named: u.name))
            } else if tiedByMetadata == false || (k > 0 && vocabularyRows != nil) {
                throw fail("missing tensor '\(k).\(l).weight' (head \(k)'s vocabulary projection [V, \(C)]; the heads are untied)")
            }
            if k > 0 && vocabulary != nil && heads[0].vocabulary == nil {
                throw fail("head \(k) has '\(k).\(l).weight' but head 0 has no vocabulary projection: tie every head or none")
            }
            let known = Set((0..<blocks.count).map { $0 }).union(vocabulary == nil ? [] : [l])
            if let stray = layers.keys.sorted().first(where: { !known.contains($0) }) {
                let names = layers[stray]!.values.map(\.name).sorted()
                throw fail("unexpected tensor '\(names[0])' in head \(k), which has \(blocks.count) ResBlock(s)")
            }
            heads.append(Head(blocks: blocks, vocabulary: vocabulary))
        }
        return MedusaHeads(heads: heads, hiddenSize: C, origin: origin, metadata: file.metadata)
    }

    /// Where the shipped heads for SmolLM2-135M-Instruct live, relative to the checkout.
    public static let shippedRelativePath = "Weights/smollm2-135m-instruct/medusa-heads.safetensors"

    /// The places `shipped()` looks, in order (`ShippedWeights.candidates`).
    public static func shippedCandidates(currentDirectory: String = FileManager.default.currentDirectoryPath) -> [String] {
        ShippedWeights.candidates(relativePath: shippedRelativePath, currentDirectory: currentDirectory)
    }

    /// The shipped heads (`shippedRelativePath`). Throws `MedusaError.shippedHeadsNotFound`
    /// listing the places searched.
    public static func shipped() throws -> MedusaHeads {
        let candidates = shippedCandidates()
        guard let path = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
            throw MedusaError.shippedHeadsNotFound(searched: candidates)
        }
        return try load(path: path)
    }
}

/// Bad Medusa inputs: a choices table, a heads file, or heads that do not fit the model. The
/// message names what is wrong and what to do.
public enum MedusaError: Error, CustomStringConvertible, Equatable {
    case invalidChoices(String)
    case unknownChoices(name: String, available: [String])
    case invalidHeads(String)
    case modelMismatch(String)
    case treeTooDeep(depth: Int, heads: Int)
    case shippedHeadsNotFound(searched: [String])

    public var description: String {
        switch self {
        case .invalidChoices(let m): return "--medusa-choices: \(m)"
        case .unknownChoices(let name, let available):
            return "--medusa-choices: unknown table '\(name)'; available: \(available.joined(separator: ", ")), NAME:N (its first N paths), or a JSON list of paths"
        case .invalidHeads(let m): return "--medusa-heads: \(m)"
        case .modelMismatch(let m): return "--medusa-heads: \(m)"
        case .treeTooDeep(let depth, let heads):
            return "--medusa-choices: the tree is \(depth) deep but there are only \(heads) Medusa heads (a node at depth d reads head d-1); use a shallower table"
        case .shippedHeadsNotFound(let searched):
            return "--medusa-heads: the shipped heads (\(MedusaHeads.shippedRelativePath)) were not found (searched \(searched.joined(separator: ", "))); give --medusa-heads FILE"
        }
    }
}

import Foundation
import Tensors

/// Multiply–Add–Permute (MAP) hypervectors, the vector symbolic architecture of the
/// hyperdimensional probe (Bronzini et al., "Hyperdimensional Probe: Decoding LLM
/// Representations via Vector Symbolic Architectures", arXiv, September 2025; reference
/// code `Ipazia-AI/hyperprobe` on top of torchhd's `MAPTensor`). DOCS.md section 8.5.
///
/// A hypervector holds `D` components in {−1, +1} (an encoder's sign output may also hold 0).
/// Binding is the element-wise product (its own inverse on bipolar vectors, so unbinding is
/// binding again); bundling is the element-wise sum, normalised by torchhd's rule: a positive sum
/// becomes +1 and everything else, a zero sum included, becomes −1.
public struct Hypervector: Sendable, Equatable {
    public var components: [Int8]

    public init(_ components: [Int8]) { self.components = components }

    public var dimension: Int { components.count }

    /// `a ⊙ b`, the element-wise product.
    public func bound(with other: Hypervector) -> Hypervector {
        precondition(dimension == other.dimension, "binding hypervectors of different dimensions")
        return Hypervector(zip(components, other.components).map { $0 &* $1 })
    }

    /// `a ⊙ b₁ ⊙ b₂ ⊙ …`: unbinding every factor in turn (the same operation as binding).
    public func unbound(by factors: [Hypervector]) -> Hypervector {
        factors.reduce(self) { $0.bound(with: $1) }
    }

    /// `normalize(Σ vᵢ)`: the element-wise sum, then +1 where it is positive and −1 elsewhere
    /// (torchhd `MAPTensor.normalize`, so a tie between an even number of items gives −1).
    public static func bundle(_ vectors: [Hypervector]) -> Hypervector {
        precondition(!vectors.isEmpty, "bundling no hypervectors")
        let d = vectors[0].dimension
        var sums = [Int32](repeating: 0, count: d)
        for v in vectors {
            precondition(v.dimension == d, "bundling hypervectors of different dimensions")
            for i in 0..<d { sums[i] += Int32(v.components[i]) }
        }
        return Hypervector(sums.map { $0 > 0 ? 1 : -1 })
    }

    /// Cosine similarity: the integer dot product over the product of the norms, the product of
    /// the norms clamped below at 1e-8 as torchhd does. Exact up to the final division.
    public func cosine(_ other: Hypervector) -> Double {
        precondition(dimension == other.dimension, "comparing hypervectors of different dimensions")
        var dot = 0, aa = 0, bb = 0
        for i in 0..<dimension {
            let a = Int(components[i]), b = Int(other.components[i])
            dot += a * b; aa += a * a; bb += b * b
        }
        return Double(dot) / max((Double(aa) * Double(bb)).squareRoot(), 1e-8)
    }

    /// The sign of each value (0 stays 0), as `torch.sign` turns the encoder's output into a
    /// hypervector.
    public static func sign(of values: [Float]) -> Hypervector {
        Hypervector(values.map { $0 > 0 ? 1 : ($0 < 0 ? -1 : 0) })
    }
}

/// One random bipolar hypervector per concept. Concepts are lower-cased, de-duplicated and sorted
/// (by Unicode scalar values, as `np.unique` sorts Python strings), and row `r` takes its `D`
/// components from one xoshiro256** stream seeded with `seed`, in row order: component = −1 when
/// the top bit of the draw is set, else +1. (The reference draws with torch's Bernoulli sampler,
/// seed 101, which only torch reproduces; the rows here are a documented substitute.)
public struct Codebook: Sendable {
    public static let defaultDimension = 4096
    public static let defaultSeed: UInt64 = 101

    public let concepts: [String]
    public let vectors: [Hypervector]
    public let seed: UInt64
    private let index: [String: Int]

    public init(concepts raw: [String], dimension: Int = Codebook.defaultDimension, seed: UInt64 = Codebook.defaultSeed) throws {
        guard dimension > 0 else { throw ProbeError.invalidParameter("hypervector dimension must be positive, got \(dimension)") }
        let unique = Set(raw.map { $0.lowercased() }.filter { !$0.isEmpty })
        guard !unique.isEmpty else { throw ProbeError.invalidParameter("a codebook needs at least one concept") }
        concepts = unique.sorted { $0.unicodeScalars.lexicographicallyPrecedes($1.unicodeScalars) }
        var rng = Xoshiro256StarStar(seed: seed)
        vectors = concepts.map { _ in Hypervector((0..<dimension).map { _ in rng.next() >> 63 == 1 ? -1 : 1 }) }
        self.seed = seed
        index = Dictionary(uniqueKeysWithValues: concepts.enumerated().map { ($1, $0) })
    }

    public var dimension: Int { vectors[0].dimension }

    public func vector(for concept: String) -> Hypervector? { index[concept.lowercased()].map { vectors[$0] } }

    /// Cosine similarity of `v` with every concept, in codebook order.
    public func similarities(_ v: Hypervector) -> [Double] { vectors.map { v.cosine($0) } }

    /// The target encoding of the analogy `a : b = c : d`, `normalize((a ⊙ b) + (c ⊙ d))`.
    public func analogyEncoding(_ a: String, _ b: String, _ c: String, _ d: String) throws -> Hypervector {
        let v = try [a, b, c, d].map { w -> Hypervector in
            guard let v = vector(for: w) else { throw ProbeError.invalidParameter("'\(w)' is not in the codebook") }
            return v
        }
        return Hypervector.bundle([v[0].bound(with: v[1]), v[2].bound(with: v[3])])
    }
}

/// The k-means step that turns the last token's hidden states over the upper layers into the
/// probe's input vector: the sum of the `K` centroids.
public enum ProbeKMeans {
    /// The first five indices of `torch.randperm(16, generator=torch.Generator().manual_seed(101))`,
    /// computed with torch 2.15 by `Scripts/train_vsa_probe.py --print-init` (the reference
    /// seeds its initial centroids this way). SmolLM2's upper half, hidden states 15…30, has 16 rows.
    public static let torchInitialRowsFor16 = [15, 8, 5, 0, 11]

    /// Lloyd's algorithm as the reference runs it: start from the rows `initialRows`; assign every
    /// row to its nearest centroid (Euclidean distance, the lowest index on ties); recompute each
    /// centroid as the mean of its rows; stop when no centroid moved by more than `atol + rtol·|c|`
    /// in any component (`torch.allclose`, rtol 1e-5, atol 1e-8) or after `maxIterations`. A
    /// cluster left empty keeps its centroid (the reference would produce NaN). Sums run in
    /// Float64 in row order, so the result is deterministic.
    public static func centroids(rows: [[Float]], initialRows: [Int], maxIterations: Int = 1000) throws -> [[Float]] {
        guard let width = rows.first?.count, rows.allSatisfy({ $0.count == width }) else {
            throw ProbeError.invalidParameter("k-means needs rows of one width")
        }
        guard !initialRows.isEmpty, initialRows.allSatisfy({ rows.indices.contains($0) }), Set(initialRows).count == initialRows.count else {
            throw ProbeError.invalidParameter("k-means initial rows \(initialRows) must be distinct indices into \(rows.count) rows")
        }
        var centroids = initialRows.map { rows[$0] }
        for _ in 0..<maxIterations {
            let assignment = rows.map { row -> Int in
                var best = 0, bestDistance = Double.infinity
                for (k, c) in centroids.enumerated() {
                    var d = 0.0
                    for i in 0..<width { let e = Double(row[i]) - Double(c[i]); d += e * e }
                    if d < bestDistance { bestDistance = d; best = k }
                }
                return best
            }
            var next = centroids
            for k in centroids.indices {
                let members = rows.indices.filter { assignment[$0] == k }
                guard !members.isEmpty else { continue }
                next[k] = (0..<width).map { i in Float(members.reduce(0.0) { $0 + Double(rows[$1][i]) } / Double(members.count)) }
            }
            // As the reference: on convergence the previous centroids are kept (they are within
            // tolerance of the new ones).
            let converged = zip(next, centroids).allSatisfy { n, c in zip(n, c).allSatisfy { abs($0 - $1) <= 1e-8 + 1e-5 * abs($1) } }
            if converged { break }
            centroids = next
        }
        return centroids
    }

    /// The probe input: the component-wise sum of the centroids (in centroid order).
    public static func inputVector(rows: [[Float]], initialRows: [Int], maxIterations: Int = 1000) throws -> [Float] {
        let c = try centroids(rows: rows, initialRows: initialRows, maxIterations: maxIterations)
        return (0..<c[0].count).map { i in c.reduce(Float(0)) { $0 + $1[i] } }
    }

    /// The default initial rows for `count` rows: torch's permutation for 16 rows, otherwise the
    /// first `k` rows (documented as a substitute).
    public static func defaultInitialRows(count: Int, k: Int = 5) -> [Int] {
        count == 16 && k == 5 ? torchInitialRowsFor16 : Array(0..<min(k, count))
    }
}

/// Errors of the read-out probes.
public enum ProbeError: Error, CustomStringConvertible, Equatable {
    case invalidParameter(String)
    case invalidFile(String)

    public var description: String {
        switch self {
        case .invalidParameter(let m): return m
        case .invalidFile(let m): return m
        }
    }
}

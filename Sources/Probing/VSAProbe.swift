import Foundation
import Formats
import Tensors
import Transformer

/// The hyperdimensional probe's neural encoder: a small MLP from the model's hidden size to the
/// hypervector dimension, `sign(W₂ · relu(W₁ x + b₁) + b₂)` for one hidden layer (any number of
/// layers, ReLU between them). The reference's encoder class is not public; this shape is
/// Touchstone's choice (DOCS.md section 8.5).
///
/// File: safetensors with `layers.{i}.weight [out, in]` and `layers.{i}.bias [out]` for
/// i = 0, 1, …, F32/F16/BF16, and metadata `format = touchstone-vsa-probe`, `first_layer`,
/// `last_layer` (the hidden-state range read, Hugging Face numbering), `kmeans_k`, `seed` (the
/// codebook seed) and `concepts` (the codebook's concepts, newline-separated).
public struct VSAEncoder: @unchecked Sendable {
    public struct Layer {
        public let weight: WeightMatrix
        public let bias: [Float]
    }

    public let layers: [Layer]
    public let inputSize: Int
    public let outputSize: Int
    public let metadata: [String: String]

    public init(layers: [(weight: [Float], bias: [Float], rows: Int, columns: Int)], metadata: [String: String] = [:]) throws {
        guard let first = layers.first, let last = layers.last else { throw ProbeError.invalidFile("a VSA encoder needs at least one layer") }
        var previous = first.columns
        for (i, l) in layers.enumerated() {
            guard l.columns == previous, l.weight.count == l.rows * l.columns, l.bias.count == l.rows else {
                throw ProbeError.invalidFile("VSA encoder layer \(i): weight [\(l.rows), \(l.columns)] and bias [\(l.bias.count)] do not chain from \(previous) inputs")
            }
            previous = l.rows
        }
        self.layers = layers.map { Layer(weight: WeightMatrix(rows: $0.rows, columns: $0.columns, values: $0.weight), bias: $0.bias) }
        inputSize = first.columns
        outputSize = last.rows
        self.metadata = metadata
    }

    public init(path: String) throws {
        let file = try SafetensorsFile(path: path)
        var parsed: [(weight: [Float], bias: [Float], rows: Int, columns: Int)] = []
        var i = 0
        while let w = file.tensor(named: "layers.\(i).weight") {
            guard w.shape.count == 2 else { throw ProbeError.invalidFile("\(path): layers.\(i).weight has shape \(w.shape), expected [out, in]") }
            guard let b = file.tensor(named: "layers.\(i).bias"), b.shape == [w.shape[0]] else {
                throw ProbeError.invalidFile("\(path): layers.\(i).bias is missing or not [\(w.shape[0])]")
            }
            parsed.append((try file.floats(named: w.name), try file.floats(named: b.name), w.shape[0], w.shape[1]))
            i += 1
        }
        guard !parsed.isEmpty else { throw ProbeError.invalidFile("\(path): no tensor layers.0.weight (not a VSA encoder file)") }
        try self.init(layers: parsed, metadata: file.metadata)
    }

    /// The raw output (before the sign).
    public func forward(_ x: [Float], pool: ParallelFor = .shared) throws -> [Float] {
        guard x.count == inputSize else { throw ProbeError.invalidParameter("VSA encoder input has \(x.count) values, expected \(inputSize)") }
        var h = x
        for (i, layer) in layers.enumerated() {
            var y = layer.weight.multiply(h, tokens: 1, pool: pool)
            for j in y.indices { y[j] = y[j] + layer.bias[j] }
            if i < layers.count - 1 { for j in y.indices where !(y[j] > 0) { y[j] = 0 } }
            h = y
        }
        return h
    }

    public func encode(_ x: [Float], pool: ParallelFor = .shared) throws -> Hypervector {
        Hypervector.sign(of: try forward(x, pool: pool))
    }
}

/// The whole probe: hidden states → k-means input vector → encoder → hypervector → read-out.
public struct VSAProbe: @unchecked Sendable {
    public let encoder: VSAEncoder
    public let codebook: Codebook
    /// Hidden-state indices read (Hugging Face numbering, inclusive).
    public let layers: ClosedRange<Int>
    public let kmeansK: Int

    public init(encoder: VSAEncoder, codebook: Codebook, layers: ClosedRange<Int>, kmeansK: Int = 5) throws {
        guard encoder.outputSize == codebook.dimension else {
            throw ProbeError.invalidFile("the encoder writes \(encoder.outputSize) components but the codebook has dimension \(codebook.dimension)")
        }
        guard kmeansK >= 1, kmeansK <= layers.count else {
            throw ProbeError.invalidParameter("k-means K = \(kmeansK) must be between 1 and the \(layers.count) layers read")
        }
        self.encoder = encoder
        self.codebook = codebook
        self.layers = layers
        self.kmeansK = kmeansK
    }

    /// Loads an encoder file and rebuilds its codebook from the file's metadata.
    public init(path: String, model: any CausalLanguageModel) throws {
        let encoder = try VSAEncoder(path: path)
        let m = encoder.metadata
        guard m["format"] == "touchstone-vsa-probe" else { throw ProbeError.invalidFile("\(path): metadata format is \(m["format"] ?? "absent"), expected touchstone-vsa-probe") }
        guard let concepts = m["concepts"]?.split(separator: "\n").map(String.init), !concepts.isEmpty else {
            throw ProbeError.invalidFile("\(path): metadata has no concepts")
        }
        let L = model.shape.layerCount
        let first = Int(m["first_layer"] ?? "") ?? L / 2, last = Int(m["last_layer"] ?? "") ?? L
        guard 0 <= first, first <= last, last <= L else { throw ProbeError.invalidFile("\(path): layers \(first)…\(last) do not fit a model with \(L) layers") }
        guard encoder.inputSize == model.shape.hiddenSize else {
            throw ProbeError.invalidFile("\(path): the encoder reads \(encoder.inputSize) values but the model's hidden size is \(model.shape.hiddenSize)")
        }
        let codebook = try Codebook(concepts: concepts, dimension: encoder.outputSize, seed: UInt64(m["seed"] ?? "") ?? Codebook.defaultSeed)
        try self.init(encoder: encoder, codebook: codebook, layers: first...last, kmeansK: Int(m["kmeans_k"] ?? "") ?? 5)
    }

    /// The last prompt token's hidden states at `layers`, the k-means input vector, and the
    /// model's next-token logits.
    public func inputVector(model: any CausalLanguageModel, prompt: [Int], pool: ParallelFor = .shared) throws -> (input: [Float], logits: [Float]) {
        let (states, logits) = try LogitLens.hiddenStates(model: model, prompt: prompt, pool: pool)
        let C = model.shape.hiddenSize, t = prompt.count - 1, V = model.shape.vocabularySize
        let rows = layers.map { Array(states[$0][(t * C)..<((t + 1) * C)]) }
        let input = try ProbeKMeans.inputVector(rows: rows, initialRows: ProbeKMeans.defaultInitialRows(count: rows.count, k: kmeansK))
        return (input, Array(logits[(t * V)..<((t + 1) * V)]))
    }

    /// One concept ranked by cosine similarity.
    public struct Match: Sendable, Equatable {
        public var concept: String
        public var similarity: Double
    }

    /// The result of reading one hypervector.
    public struct Readout: Sendable {
        /// The factors unbound by the chosen query (empty: the raw encoding).
        public var query: [String]
        /// The best matches after unbinding, most similar first.
        public var top: [Match]
        /// The extracted concept (the top match).
        public var extracted: String { top.first?.concept ?? "" }
    }

    func ranked(_ v: Hypervector, top: Int) -> [Match] {
        let sims = codebook.similarities(v)
        let order = sims.indices.sorted { sims[$0] != sims[$1] ? sims[$0] > sims[$1] : $0 < $1 }
        return order.prefix(top).map { Match(concept: codebook.concepts[$0], similarity: sims[$0]) }
    }

    /// The reference's query-subset read-out (`probe_doc` without its optional greedy solver):
    /// every subset of the known context concepts is a query, from the largest to the empty set
    /// (the reverse of `itertools.combinations` order by size); unbinding the encoding by a
    /// query's factors and ranking the codebook by cosine, a query is skipped when one of its own
    /// factors still scores above 0.1 while the target is not the top match; the first kept query
    /// starts the best, and a later one replaces it when (a) the target is its top match and scores
    /// higher than under the best, (b) its top score is higher while the best's top is not the
    /// target, or (c) its top score equals the best's and the best's second score is below 0.1.
    /// When the best top score ends below 0.1 and is not the target's, the raw encoding is used.
    /// The choice consults the target, as the reference does, so this is an upper bound on what a
    /// probe that does not know the answer extracts; `blindReadout` is that probe.
    public func referenceReadout(_ vsa: Hypervector, context: [String], target: String, top: Int = 5) -> Readout {
        let known = context.map { $0.lowercased() }.filter { codebook.vector(for: $0) != nil }
        var queries: [[Int]] = []
        for size in 0...known.count { queries += combinations(known.count, size) }
        queries.reverse()
        let targetIndex = codebook.concepts.firstIndex(of: target.lowercased())
        func score(_ q: [Int]) -> (sims: [Double], names: [String]) {
            let names = q.map { known[$0] }
            let v = vsa.unbound(by: names.map { codebook.vector(for: $0)! })
            return (codebook.similarities(v), names)
        }
        func stats(_ sims: [Double]) -> (max: Double, second: Double, target: Double) {
            let sorted = sims.sorted(by: >)
            return (sorted[0], sorted.count > 1 ? sorted[1] : -1, targetIndex.map { sims[$0] } ?? -.infinity)
        }
        var best: (query: [Int], sims: [Double])?
        for q in queries {
            let (sims, names) = score(q)
            let s = stats(sims)
            let artefact = names.contains { n in sims[codebook.concepts.firstIndex(of: n)!] > 0.1 } && s.target < s.max
            if artefact { continue }
            guard let current = best else { best = (q, sims); continue }
            let b = stats(current.sims)
            if (s.target == s.max && s.target > b.target) || (s.max > b.max && b.target < b.max) || (s.max == b.max && b.second < 0.1) {
                best = (q, sims)
            }
        }
        if let current = best, !current.query.isEmpty {
            let b = stats(current.sims)
            if b.max < 0.1 && b.max != b.target { best = ([], score([]).sims) }
        }
        let chosen = best?.query ?? []
        let names = chosen.map { known[$0] }
        return Readout(query: names, top: ranked(vsa.unbound(by: names.map { codebook.vector(for: $0)! }), top: top))
    }

    /// A read-out that does not know the answer: for `a : b = c : ?`, unbind the encoding by `c`
    /// (the target encoding is `(a ⊙ b) + (c ⊙ d)`, so `c ⊙ vsa` is close to `d`) and take the best
    /// match that is not one of the context concepts.
    public func blindReadout(_ vsa: Hypervector, context: [String], top: Int = 5) -> Readout {
        guard let last = context.last.flatMap({ codebook.vector(for: $0) }) else { return Readout(query: [], top: ranked(vsa, top: top)) }
        let exclude = Set(context.map { $0.lowercased() })
        let matches = ranked(vsa.bound(with: last), top: top + exclude.count).filter { !exclude.contains($0.concept) }
        return Readout(query: [context.last!.lowercased()], top: Array(matches.prefix(top)))
    }
}

/// All `size`-element subsets of 0..<n in `itertools.combinations` order.
func combinations(_ n: Int, _ size: Int) -> [[Int]] {
    guard size > 0 else { return [[]] }
    guard size <= n else { return [] }
    var result: [[Int]] = []
    var c = Array(0..<size)
    while true {
        result.append(c)
        var i = size - 1
        while i >= 0 && c[i] == n - size + i { i -= 1 }
        if i < 0 { return result }
        c[i] += 1
        for j in (i + 1)..<size { c[j] = c[j - 1] + 1 }
    }
}

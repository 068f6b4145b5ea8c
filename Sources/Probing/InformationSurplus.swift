import Foundation
import Formats
import Tensors
import Transformer

/// Information surplus: how much a hidden state tells about the token after next beyond what the
/// next token itself tells.
///
/// The quantity behind EAGLE-style drafters (Li et al., "EAGLE: Speculative Sampling Requires
/// Rethinking Feature Uncertainty", 2024, arXiv:2401.15077, feed the target's hidden state and the
/// next token to the drafter); the "Markov categorical" argument is that they gain exactly when
/// the hidden state carries information about x_{t+2} that x_{t+1} does not. That paper has no
/// public code, so its own estimator is unverified; this is Touchstone's, with every choice named.
///
/// For a sequence x_0 … x_{T−1} and a position t (0 ≤ t ≤ T − 3), with the next token x_{t+1}
/// given (teacher forcing), two probes predict x_{t+2} through one output layer, the model's
/// output head W_U `[V, C]` (SmolLM2 ties it to the input embedding E) and a bias c `[V]`:
///
///     baseline ("next only"):   u = A e(x_{t+1}) + a
///     full, at layer ℓ:         u = (A e(x_{t+1}) + a) + B_ℓ rms(h_t^ℓ)
///     logits = W_U u + c,       CE_t = −log softmax(logits)[x_{t+2}]
///     surplus_ℓ = mean_t CE_t(baseline) − mean_t CE_t(full at ℓ)        (nats per position)
///
/// e(x) is the model's input embedding (`CausalLanguageModel.embed`); h_t^ℓ is the hidden state in
/// Hugging Face `hidden_states` numbering (0 = embeddings, L = after the final norm), from
/// `LogitLens.hiddenStates`; rms(h) = h · (1 / sqrt(mean(h²) + ε)) with no gain (the
/// `Kernels.rmsNorm` order with a unit gain), so every layer enters on one scale. A, B_ℓ are
/// `[C, C]` row-major, u_i = Σ_j A[i, j] e_j (`Kernels.dot`, left to right).
///
/// Arithmetic: u and logits in Float32 (the head product is `outputHead.multiply`, whose rows are
/// split across threads and whose reduction order is fixed, so results do not depend on the thread
/// count or on how many positions are batched); then `logits_v + c_v` in Float32; the
/// cross-entropy in Float64: `m = max`, `Z = Σ_v exp(logit_v − m)` in vocabulary order
/// (`DeterministicMath.exp`), `CE = log Z − (logit_y − m)`. Means are Float64 sums in sequence
/// then position order, divided by the position count.
///
/// The confidence interval is a paired percentile bootstrap over sequences (see `bootstrap`).
public enum InformationSurplus {
    /// One probe's parameters. `B` is nil for the baseline (next token only).
    public struct Probe: Sendable, Equatable {
        /// `[C, C]` row-major: the map of the next token's embedding.
        public var A: [Float]
        /// `[C, C]` row-major: the map of the normalised hidden state; nil for the baseline.
        public var B: [Float]?
        /// `[C]`.
        public var a: [Float]
        /// `[V]`: the output bias.
        public var c: [Float]

        public init(A: [Float], B: [Float]? = nil, a: [Float], c: [Float]) {
            self.A = A
            self.B = B
            self.a = a
            self.c = c
        }
    }

    /// A probe file: the baseline and full probes for some layers, sharing C, V and ε.
    public struct ProbeSet: Sendable, Equatable {
        public var hiddenSize: Int
        public var vocabularySize: Int
        /// ε of the hidden state's RMS normalisation.
        public var epsilon: Float
        public var baseline: Probe
        /// Full probes by layer, ascending.
        public var layers: [(layer: Int, probe: Probe)]

        /// Checks every shape (`ProbeFileError.shape`) and that layers are distinct.
        public init(hiddenSize: Int, vocabularySize: Int, epsilon: Float, baseline: Probe, layers: [(layer: Int, probe: Probe)]) throws {
            let C = hiddenSize, V = vocabularySize
            func check(_ name: String, _ values: [Float]?, _ shape: [Int]) throws {
                guard let values else { throw ProbeFileError.missingTensor(name) }
                guard values.count == shape.reduce(1, *) else { throw ProbeFileError.shape(tensor: name, expected: shape, found: [values.count]) }
            }
            try check("baseline.A", baseline.A, [C, C])
            try check("baseline.a", baseline.a, [C])
            try check("baseline.c", baseline.c, [V])
            for (l, p) in layers {
                try check("layer.\(l).A", p.A, [C, C])
                try check("layer.\(l).B", p.B, [C, C])
                try check("layer.\(l).a", p.a, [C])
                try check("layer.\(l).c", p.c, [V])
            }
            guard Set(layers.map(\.layer)).count == layers.count else { throw ProbeFileError.badMetadata(key: "layers", value: "a layer given twice") }
            guard epsilon.isFinite && epsilon >= 0 else { throw ProbeFileError.badMetadata(key: "epsilon", value: "\(epsilon)") }
            self.hiddenSize = C
            self.vocabularySize = V
            self.epsilon = epsilon
            self.baseline = baseline
            self.layers = layers.sorted { $0.layer < $1.layer }
        }

        public func probe(layer: Int) -> Probe? { layers.first { $0.layer == layer }?.probe }

        public static func == (x: ProbeSet, y: ProbeSet) -> Bool {
            x.hiddenSize == y.hiddenSize && x.vocabularySize == y.vocabularySize && x.epsilon == y.epsilon && x.baseline == y.baseline
                && x.layers.map(\.layer) == y.layers.map(\.layer) && x.layers.map(\.probe) == y.layers.map(\.probe)
        }
    }

    /// What is wrong with a probe file, naming the key or tensor.
    public enum ProbeFileError: Error, CustomStringConvertible, Equatable {
        case missingTensor(String)
        case shape(tensor: String, expected: [Int], found: [Int])
        case badMetadata(key: String, value: String)
        /// The file's probes do not fit the model: hidden size or vocabulary differ.
        case modelMismatch(String)
        /// A requested layer has no probe in the file.
        case layerNotInFile(layer: Int, available: [Int])

        public var description: String {
            switch self {
            case .missingTensor(let n): return "probe file has no tensor \(n) (a surplus probe file holds baseline.{A,a,c} and layer.<ℓ>.{A,B,a,c})"
            case .shape(let n, let e, let f): return "probe tensor \(n) has shape \(f), expected \(e)"
            case .badMetadata(let k, let v): return "probe file metadata \(k) = '\(v)' is not valid"
            case .modelMismatch(let m): return "the probes do not fit the model: \(m)"
            case .layerNotInFile(let l, let a): return "the probe file has no probe for layer \(l); it has layers \(a.map(String.init).joined(separator: ","))"
            }
        }
    }

    /// Reads a probe file written by `Scripts/information_surplus.py`: safetensors (F32, F16 or
    /// BF16) with `baseline.A [C,C]`, `baseline.a [C]`, `baseline.c [V]` and, for each layer ℓ
    /// listed in the metadata key `layers` (comma-separated), `layer.ℓ.A`, `layer.ℓ.B [C,C]`,
    /// `layer.ℓ.a`, `layer.ℓ.c`; metadata `hidden_norm` must be `rms`, `epsilon` a number.
    /// Throws `FormatError` for an unreadable file and `ProbeFileError` naming the key or tensor.
    public static func loadProbes(path: String) throws -> ProbeSet {
        try loadProbes(SafetensorsFile(path: path))
    }

    public static func loadProbes(_ file: SafetensorsFile) throws -> ProbeSet {
        if let norm = file.metadata["hidden_norm"], norm != "rms" { throw ProbeFileError.badMetadata(key: "hidden_norm", value: norm) }
        var epsilon: Float = 1e-5
        if let raw = file.metadata["epsilon"] {
            guard let e = Float(raw), e.isFinite, e >= 0 else { throw ProbeFileError.badMetadata(key: "epsilon", value: raw) }
            epsilon = e
        }
        guard let layerList = file.metadata["layers"] else { throw ProbeFileError.badMetadata(key: "layers", value: "(missing)") }
        var layers: [Int] = []
        for part in layerList.split(separator: ",") {
            guard let l = Int(part.trimmingCharacters(in: .whitespaces)), l >= 0 else { throw ProbeFileError.badMetadata(key: "layers", value: layerList) }
            layers.append(l)
        }
        guard let aInfo = file.tensor(named: "baseline.A") else { throw ProbeFileError.missingTensor("baseline.A") }
        guard aInfo.shape.count == 2, aInfo.shape[0] == aInfo.shape[1], aInfo.shape[0] > 0 else {
            throw ProbeFileError.shape(tensor: "baseline.A", expected: [aInfo.shape.first ?? 0, aInfo.shape.first ?? 0], found: aInfo.shape)
        }
        guard let cInfo = file.tensor(named: "baseline.c") else { throw ProbeFileError.missingTensor("baseline.c") }
        guard cInfo.shape.count == 1, cInfo.shape[0] > 0 else { throw ProbeFileError.shape(tensor: "baseline.c", expected: [cInfo.shape.first ?? 1], found: cInfo.shape) }
        let C = aInfo.shape[0], V = cInfo.shape[0]
        func read(_ name: String, _ shape: [Int]) throws -> [Float] {
            guard let info = file.tensor(named: name) else { throw ProbeFileError.missingTensor(name) }
            guard info.shape == shape else { throw ProbeFileError.shape(tensor: name, expected: shape, found: info.shape) }
            return try file.floats(named: name)
        }
        let baseline = Probe(A: try read("baseline.A", [C, C]), a: try read("baseline.a", [C]), c: try read("baseline.c", [V]))
        let full = try layers.map { l in
            (layer: l, probe: Probe(A: try read("layer.\(l).A", [C, C]), B: try read("layer.\(l).B", [C, C]),
                                    a: try read("layer.\(l).a", [C]), c: try read("layer.\(l).c", [V])))
        }
        return try ProbeSet(hiddenSize: C, vocabularySize: V, epsilon: epsilon, baseline: baseline, layers: full)
    }

    /// A token sequence and the first position t to score (targets x_{t+2} from t = firstPosition
    /// to T − 3; the Python script scores only response targets, firstPosition = len(prompt) − 2).
    public struct ScoredSequence: Sendable, Equatable {
        public var ids: [Int]
        public var firstPosition: Int
        public init(ids: [Int], firstPosition: Int = 0) {
            self.ids = ids
            self.firstPosition = firstPosition
        }
        /// The positions scored: `firstPosition...(T − 3)`, empty when T < 3.
        public var positions: Range<Int> { max(0, firstPosition)..<max(max(0, firstPosition), ids.count - 2) }
    }

    /// Per-position cross-entropies of every sequence: `baseline[s][k]` and `full[i][s][k]` for
    /// the i-th requested layer, k indexing `sequences[s].positions`.
    public struct CrossEntropies: Sendable, Equatable {
        public var layers: [Int]
        public var baseline: [[Double]]
        public var full: [[[Double]]]
    }

    /// One layer's result.
    public struct LayerResult: Sendable, Equatable {
        public var layer: Int
        public var ceNextOnly: Double
        public var ceWithHidden: Double
        public var surplus: Double
        public var ci95: (lower: Double, upper: Double)
        public var positions: Int

        public static func == (x: LayerResult, y: LayerResult) -> Bool {
            x.layer == y.layer && x.ceNextOnly == y.ceNextOnly && x.ceWithHidden == y.ceWithHidden && x.surplus == y.surplus
                && x.ci95.lower == y.ci95.lower && x.ci95.upper == y.ci95.upper && x.positions == y.positions
        }
    }

    /// `rms(h)` of `rows` vectors of `C`: `Kernels.rmsNorm` with a unit gain.
    public static func rmsNormalized(_ h: [Float], rows: Int, hiddenSize C: Int, epsilon: Float) -> [Float] {
        var out = [Float](repeating: 0, count: rows * C)
        let ones = [Float](repeating: 1, count: C)
        h.withUnsafeBufferPointer { x in
            ones.withUnsafeBufferPointer { g in
                out.withUnsafeMutableBufferPointer { y in
                    for r in 0..<rows { Kernels.rmsNorm(x.baseAddress! + r * C, weight: g.baseAddress!, epsilon: epsilon, count: C, into: y.baseAddress! + r * C) }
                }
            }
        }
        return out
    }

    /// The cross-entropy of each row: `embeddings` `[rows, C]` (e(x_{t+1})), `hidden` `[rows, C]`
    /// (rms-normalised h_t, ignored by the baseline; required when `probe.B` is set), `targets`
    /// `[rows]` (x_{t+2}), through `head` `[V, C]`. Order of operations: the type's comment.
    public static func crossEntropies(probe: Probe, embeddings: [Float], hidden: [Float]?, targets: [Int], head: WeightMatrix,
                                      pool: ParallelFor = .shared) throws -> [Double] {
        let rows = targets.count, C = probe.a.count, V = probe.c.count
        guard head.rows == V && head.columns == C else {
            throw ProbeFileError.modelMismatch("output head is [\(head.rows), \(head.columns)], the probes need [\(V), \(C)]")
        }
        guard embeddings.count == rows * C else { throw ModelError.invalidInput("surplus: \(embeddings.count) embedding values for \(rows) rows of \(C)") }
        if probe.B != nil {
            guard let hidden, hidden.count == rows * C else { throw ModelError.invalidInput("surplus: the full probe needs \(rows) hidden states of \(C)") }
        }
        for y in targets where y < 0 || y >= V { throw ModelError.tokenOutOfRange(token: y, vocabularySize: V) }
        if rows == 0 { return [] }
        var u = [Float](repeating: 0, count: rows * C)
        probe.A.withUnsafeBufferPointer { A in
            embeddings.withUnsafeBufferPointer { e in
                u.withUnsafeMutableBufferPointer { u in
                    for r in 0..<rows {
                        for i in 0..<C { u[r * C + i] = Kernels.dot(A.baseAddress! + i * C, e.baseAddress! + r * C, count: C) + probe.a[i] }
                    }
                }
            }
        }
        if let B = probe.B, let hidden {
            B.withUnsafeBufferPointer { B in
                hidden.withUnsafeBufferPointer { n in
                    u.withUnsafeMutableBufferPointer { u in
                        for r in 0..<rows {
                            for i in 0..<C { u[r * C + i] = u[r * C + i] + Kernels.dot(B.baseAddress! + i * C, n.baseAddress! + r * C, count: C) }
                        }
                    }
                }
            }
        }
        let logits = head.multiply(u, tokens: rows, pool: pool)  // [rows, V]
        var out = [Double](repeating: 0, count: rows)
        for r in 0..<rows {
            var m = -Float.infinity
            for v in 0..<V { let z = logits[r * V + v] + probe.c[v]; if z > m { m = z } }
            var sum = 0.0
            for v in 0..<V { sum += DeterministicMath.exp(Double(logits[r * V + v] + probe.c[v]) - Double(m)) }
            out[r] = DeterministicMath.log(sum) - (Double(logits[r * V + targets[r]] + probe.c[targets[r]]) - Double(m))
        }
        return out
    }

    /// Runs `model` over each sequence once (`LogitLens.hiddenStates`) and scores its positions
    /// with the baseline and with the full probe of each of `layers` (nil: every layer in the
    /// file). Throws `ProbeFileError.layerNotInFile`, `.modelMismatch` (C or V differ from the
    /// model's), or `ModelError.invalidInput` for a layer outside 0...L.
    public static func crossEntropies(model: any CausalLanguageModel, probes: ProbeSet, layers requested: [Int]? = nil,
                                      sequences: [ScoredSequence], pool: ParallelFor = .shared) throws -> CrossEntropies {
        let shape = model.shape, C = shape.hiddenSize, L = shape.layerCount
        guard probes.hiddenSize == C, probes.vocabularySize == shape.vocabularySize else {
            throw ProbeFileError.modelMismatch("probes have hidden size \(probes.hiddenSize) and vocabulary \(probes.vocabularySize), the model \(C) and \(shape.vocabularySize)")
        }
        let layers = requested.map { Array(Set($0)).sorted() } ?? probes.layers.map(\.layer)
        var full: [Probe] = []
        for l in layers {
            guard l >= 0 && l <= L else { throw ModelError.invalidInput("surplus layer \(l) is outside 0...\(L) (0 = embeddings, \(L) = after the final norm)") }
            guard let p = probes.probe(layer: l) else { throw ProbeFileError.layerNotInFile(layer: l, available: probes.layers.map(\.layer)) }
            full.append(p)
        }
        var result = CrossEntropies(layers: layers, baseline: [], full: Array(repeating: [], count: layers.count))
        for s in sequences {
            let positions = s.positions
            guard !positions.isEmpty else {
                result.baseline.append([])
                for i in layers.indices { result.full[i].append([]) }
                continue
            }
            let (states, _) = try LogitLens.hiddenStates(model: model, prompt: s.ids, pool: pool)
            let rows = positions.count
            var embeddings = [Float](repeating: 0, count: rows * C)
            embeddings.withUnsafeMutableBufferPointer { e in
                for (k, t) in positions.enumerated() { model.embed(token: s.ids[t + 1], into: e.baseAddress! + k * C) }
            }
            let targets = positions.map { s.ids[$0 + 2] }
            result.baseline.append(try crossEntropies(probe: probes.baseline, embeddings: embeddings, hidden: nil, targets: targets, head: model.outputHead, pool: pool))
            for (i, l) in layers.enumerated() {
                let h = Array(states[l][(positions.lowerBound * C)..<(positions.upperBound * C)])
                let n = rmsNormalized(h, rows: rows, hiddenSize: C, epsilon: probes.epsilon)
                result.full[i].append(try crossEntropies(probe: full[i], embeddings: embeddings, hidden: n, targets: targets, head: model.outputHead, pool: pool))
            }
        }
        return result
    }

    /// The paired percentile bootstrap over sequences of `Σ differenceSums / Σ counts`.
    ///
    /// `resamples` times: draw n = counts.count indices i = ⌊u · n⌋ with u the project's
    /// `Xoshiro256StarStar(seed:).nextUniformDouble()` (one generator for the whole call, draws
    /// in order), add the drawn sequences' difference sums and counts (Float64, draw order), and
    /// record the ratio (a resample with no positions records 0). The interval is
    /// `[sorted[⌊0.025 · R⌋], sorted[⌈0.975 · R⌉ − 1]]`. Calling it with the same seed for every
    /// layer pairs the layers too (the same resamples); the per-sequence differences pair the
    /// baseline and full probes. Throws for `resamples` < 1 or an empty input.
    public static func bootstrap(differenceSums: [Double], counts: [Int], resamples: Int, seed: UInt64) throws -> (lower: Double, upper: Double) {
        guard resamples >= 1 else { throw ModelError.invalidInput("the bootstrap needs at least one resample, got \(resamples)") }
        guard !counts.isEmpty, counts.count == differenceSums.count else {
            throw ModelError.invalidInput("the bootstrap needs one difference sum per sequence and at least one sequence")
        }
        let n = counts.count
        var rng = Xoshiro256StarStar(seed: seed)
        var stats = [Double](repeating: 0, count: resamples)
        for b in 0..<resamples {
            var d = 0.0, c = 0.0
            for _ in 0..<n {
                let i = min(n - 1, Int(rng.nextUniformDouble() * Double(n)))
                d += differenceSums[i]
                c += Double(counts[i])
            }
            stats[b] = c > 0 ? d / c : 0
        }
        stats.sort()
        let lo = Int((0.025 * Double(resamples)).rounded(.down)), hi = Int((0.975 * Double(resamples)).rounded(.up)) - 1
        return (stats[min(lo, resamples - 1)], stats[max(0, min(hi, resamples - 1))])
    }

    /// Means, surplus and the bootstrap interval of each layer from per-position cross-entropies.
    /// Throws when no sequence has a scored position.
    public static func summarize(_ ce: CrossEntropies, resamples: Int = 1000, seed: UInt64 = 20) throws -> [LayerResult] {
        let counts = ce.baseline.map(\.count)
        let n = counts.reduce(0, +)
        guard n > 0 else { throw ModelError.invalidInput("no position to score: each sequence needs at least 3 tokens past its first position") }
        let baseSums = ce.baseline.map { $0.reduce(0, +) }
        let meanBase = baseSums.reduce(0, +) / Double(n)
        return try ce.layers.enumerated().map { i, l in
            let fullSums = ce.full[i].map { $0.reduce(0, +) }
            let meanFull = fullSums.reduce(0, +) / Double(n)
            let diffs = zip(ce.baseline, ce.full[i]).map { b, f in zip(b, f).reduce(0.0) { $0 + ($1.0 - $1.1) } }
            let ci = try bootstrap(differenceSums: diffs, counts: counts, resamples: resamples, seed: seed)
            return LayerResult(layer: l, ceNextOnly: meanBase, ceWithHidden: meanFull, surplus: meanBase - meanFull, ci95: ci, positions: n)
        }
    }

    /// `crossEntropies` then `summarize`.
    public static func run(model: any CausalLanguageModel, probes: ProbeSet, layers: [Int]? = nil, sequences: [ScoredSequence],
                           resamples: Int = 1000, seed: UInt64 = 20, pool: ParallelFor = .shared) throws -> [LayerResult] {
        guard resamples >= 1 else { throw ModelError.invalidInput("the bootstrap needs at least one resample, got \(resamples)") }
        let ce = try crossEntropies(model: model, probes: probes, layers: layers, sequences: sequences, pool: pool)
        return try summarize(ce, resamples: resamples, seed: seed)
    }
}

import Foundation
import Formats
import Tensors
import Transformer

/// Chimera's draft network (Zeng, Yu, Pang, Wang, Zhuang, Shao, Zou, "Chimera: A Lossless
/// Decoding Method for Accelerating Large Language Models Inference by Fusing all Tokens", 2024,
/// arXiv:2402.15758, Section 3: "Trigram Encoder", "Full Context Encoder", "Residual Decoding
/// Heads"; reference `kafkayu/Chimera`, `chimera/chimera/model/Chimera_model.py`, `ChimeraModel`).
///
/// With `C` the hidden size, `V` the vocabulary, `e_j` the target's layer-0 input of token `x_j`
/// (`CausalLanguageModel.embed(token:into:)`, Hugging Face's `embed_tokens`) and `h_j` the target's
/// final hidden state **after** the final norm at position `j`:
///
/// 1. Trigram encoder (`trimlp`): `u_j = [e_{j-2}; e_{j-1}; e_j]` (`[3C]`) with the boundary rule
///    `u_0 = [e_0; e_0; e_0]`, `u_1 = [e_0; e_1; e_1]`; then `z = u + SiLU(W_r u + b_r)` (ResBlock(3C))
///    and `g_j = W_p z` (`Linear(3C, C)`, no bias).
/// 2. Full-context encoder (`fast_layer1`): one Llama-style decoder layer (RMSNorm, attention with
///    the target's query/key-value head counts and head dimension, RoPE on halves, SiLU-gated MLP)
///    over the sequence `[h_0 … h_{n-1} | g_1 … g_n]` at positions `[0 … n-1 | 1 … n]`, where the
///    query of `g_{j+1}` sees `h_0 … h_j` and `g_1 … g_{j+1}`. Its output for `g_{j+1}` is `f_{j+1}`.
/// 3. Residual heads (`chimera_head[i]`): `Linear(2C, V)` on `[h_j ; f_{j+1}]`. Tied heads (the
///    authors' initialisation `[W_lm | W_lm]`, zero extra parameters) are computed as
///    `W_lm h + W_lm f`: two products with the target's output head, then one Float32 addition
///    per logit (so the head-init invariant holds exactly).
///
/// The draft layer is always this Llama-style layer, whatever the target's architecture (Gemma 3,
/// Qwen2, GPT-2 targets get the same layer type with their own `C`, head counts and head
/// dimension): the authors build `LlamaDecoderLayer(config)` for Llama targets, and a draft layer
/// needs no architecture-specific parts. RoPE base: the file's `rope_theta` metadata, else
/// 10000; RMSNorm epsilon: the file's `rms_norm_eps`, else Float(1e-5).
///
/// Arithmetic (D1, D2, D3): every product is `WeightMatrix.multiply` (or `multiplyNaive` when the
/// model uses its naive kernels; bit-identical), per element in Float32: ResBlock `s = (W_r u)[i] +
/// b_r[i]`, `z[i] = u[i] + DeterministicMath.silu(s)`; residual adds `x + y`; RMSNorm
/// `Kernels.rmsNorm`; attention `Attention.scaledDotProduct` with scale `1 / sqrt(hd)`. RoPE tables
/// as `LlamaModel`: `invFreq_i = 1 / Float(pow(theta, Double(Float(2i) / Float(hd))))`, angle
/// `Float(pos) * invFreq_i`, cos/sin of it in Float64 rounded once.
public final class ChimeraDraft: @unchecked Sendable {
    /// `trimlp`: ResBlock(3C) then Linear(3C, C).
    public struct TrigramEncoder {
        /// `trimlp.0.linear.weight [3C, 3C]`.
        public let residualWeight: WeightMatrix
        /// `trimlp.0.linear.bias [3C]`.
        public let residualBias: [Float]
        /// `trimlp.1.weight [C, 3C]`.
        public let projection: WeightMatrix

        public init(residualWeight: WeightMatrix, residualBias: [Float], projection: WeightMatrix) {
            self.residualWeight = residualWeight
            self.residualBias = residualBias
            self.projection = projection
        }
    }

    /// `fast_layer1.0`: one Llama decoder layer (Hugging Face names and row orders).
    public struct DecoderLayer {
        public let inputNorm: [Float]               // [C]        input_layernorm.weight
        public let wq: WeightMatrix                 // [H·hd, C]  self_attn.q_proj.weight
        public let wk: WeightMatrix                 // [KVH·hd, C]
        public let wv: WeightMatrix                 // [KVH·hd, C]
        public let wo: WeightMatrix                 // [C, H·hd]
        public let postAttentionNorm: [Float]       // [C]        post_attention_layernorm.weight
        public let wGate: WeightMatrix              // [F, C]     mlp.gate_proj.weight
        public let wUp: WeightMatrix                // [F, C]
        public let wDown: WeightMatrix              // [C, F]

        public init(inputNorm: [Float], wq: WeightMatrix, wk: WeightMatrix, wv: WeightMatrix, wo: WeightMatrix, postAttentionNorm: [Float],
                    wGate: WeightMatrix, wUp: WeightMatrix, wDown: WeightMatrix) {
            self.inputNorm = inputNorm
            self.wq = wq
            self.wk = wk
            self.wv = wv
            self.wo = wo
            self.postAttentionNorm = postAttentionNorm
            self.wGate = wGate
            self.wUp = wUp
            self.wDown = wDown
        }
    }

    public let trigram: TrigramEncoder
    public let layer: DecoderLayer
    /// Untied heads `chimera_head.{i}.0.weight [V, 2C]`; nil = every head tied to `[W_lm | W_lm]`.
    public let untiedHeads: [WeightMatrix]?
    /// Number of residual heads (`chimera_num_heads`).
    public let headCount: Int
    /// Where the shipped draft for SmolLM2-135M-Instruct lives, relative to the checkout
    /// (`--chimera-weights shipped`, the default).
    public static let shippedRelativePath = "Weights/smollm2-135m-instruct/chimera.safetensors"
    /// `C`.
    public let hiddenSize: Int
    public let ropeTheta: Double
    public let rmsNormEpsilon: Float
    /// Where the weights came from (a path, or "random seed N").
    public let origin: String
    public let metadata: [String: String]

    public var isTied: Bool { untiedHeads == nil }
    /// The draft layer's feed-forward width `F`.
    public var feedForwardSize: Int { layer.wGate.rows }

    public init(trigram: TrigramEncoder, layer: DecoderLayer, untiedHeads: [WeightMatrix]?, headCount: Int, ropeTheta: Double = 10_000,
                rmsNormEpsilon: Float = 1e-5, origin: String, metadata: [String: String] = [:]) {
        let C = trigram.projection.rows
        precondition(headCount >= 1, "Chimera needs at least one head")
        precondition(trigram.residualWeight.rows == 3 * C && trigram.residualWeight.columns == 3 * C && trigram.residualBias.count == 3 * C
                     && trigram.projection.columns == 3 * C, "trigram encoder shapes")
        precondition(untiedHeads.map { heads in heads.count == headCount && heads.allSatisfy { $0.columns == 2 * C && $0.rows == heads[0].rows } } ?? true,
                     "every untied head is [V, 2C] with the same V, one per head")
        self.trigram = trigram
        self.layer = layer
        self.untiedHeads = untiedHeads
        self.headCount = headCount
        self.hiddenSize = C
        self.ropeTheta = ropeTheta
        self.rmsNormEpsilon = rmsNormEpsilon
        self.origin = origin
        self.metadata = metadata
    }

    /// Throws `ChimeraError.modelMismatch` unless every shape fits `model`: `C`, the attention
    /// projections `H·hd` and `KVH·hd` of the target's head counts, and (untied) `V`.
    public func check(against model: any CausalLanguageModel) throws {
        let s = model.shape, C = s.hiddenSize
        func fail(_ m: String) -> ChimeraError { .modelMismatch("the Chimera weights (\(origin)) \(m)") }
        guard hiddenSize == C else { throw fail("read hidden states of size \(hiddenSize); the model's hidden size is \(C) — the weights were trained for another model") }
        let q = s.headCount * s.headDimension, kv = s.kvHeadCount * s.headDimension
        let expected: [(String, WeightMatrix, Int, Int)] = [("q_proj", layer.wq, q, C), ("k_proj", layer.wk, kv, C), ("v_proj", layer.wv, kv, C),
                                                            ("o_proj", layer.wo, C, q), ("gate_proj", layer.wGate, layer.wGate.rows, C),
                                                            ("up_proj", layer.wUp, layer.wGate.rows, C), ("down_proj", layer.wDown, C, layer.wGate.rows)]
        for (name, m, r, c) in expected where m.rows != r || m.columns != c {
            throw fail("have fast_layer1 \(name) [\(m.rows), \(m.columns)]; the model (\(s.headCount) heads, \(s.kvHeadCount) KV heads, head dimension \(s.headDimension)) needs [\(r), \(c)]")
        }
        guard layer.inputNorm.count == C, layer.postAttentionNorm.count == C else { throw fail("have norms of the wrong size; expected \(C)") }
        if let u = untiedHeads?.first, u.rows != s.vocabularySize {
            throw fail("produce \(u.rows) logits; the model's vocabulary has \(s.vocabularySize) tokens")
        }
    }

    // MARK: - Trigram encoder

    /// The token positions whose embeddings make the trigram of position `j`, in order: the
    /// boundary rule `0 → (0, 0, 0)`, `1 → (0, 1, 1)`, otherwise `(j-2, j-1, j)`.
    public static func trigramPositions(_ j: Int) -> (Int, Int, Int) {
        precondition(j >= 0, "positions are non-negative")
        switch j {
        case 0: return (0, 0, 0)
        case 1: return (0, 1, 1)
        default: return (j - 2, j - 1, j)
        }
    }

    /// `g_j = trimlp(u_j)` for each position `j` in `positions` of the sequence `tokens`, `[T, C]`.
    public func encodeTrigrams(tokens: [Int], positions: [Int], model: any CausalLanguageModel, pool: ParallelFor = .shared) -> [Float] {
        let C = hiddenSize, T = positions.count, naive = model.useNaiveKernels
        var u = [Float](repeating: 0, count: T * 3 * C)  // [T, 3C]
        u.withUnsafeMutableBufferPointer { up in
            for (t, j) in positions.enumerated() {
                let (a, b, c) = Self.trigramPositions(j)
                model.embed(token: tokens[a], into: up.baseAddress! + t * 3 * C)
                model.embed(token: tokens[b], into: up.baseAddress! + t * 3 * C + C)
                model.embed(token: tokens[c], into: up.baseAddress! + t * 3 * C + 2 * C)
            }
        }
        return encode(trigramInputs: u, count: T, naive: naive, pool: pool)
    }

    /// `trimlp` of `count` rows of `u` (`[count, 3C]` → `[count, C]`).
    public func encode(trigramInputs u: [Float], count T: Int, naive: Bool, pool: ParallelFor = .shared) -> [Float] {
        let C3 = 3 * hiddenSize
        var y = [Float](repeating: 0, count: T * C3)
        Self.product(trigram.residualWeight, u, tokens: T, into: &y, naive: naive, pool: pool)
        var z = u
        for t in 0..<T {
            for i in 0..<C3 { z[t * C3 + i] = u[t * C3 + i] + DeterministicMath.silu(y[t * C3 + i] + trigram.residualBias[i]) }
        }
        var g = [Float](repeating: 0, count: T * hiddenSize)
        Self.product(trigram.projection, z, tokens: T, into: &g, naive: naive, pool: pool)
        return g
    }

    // MARK: - Decoder layer pieces

    /// RMSNorm of each of `T` rows of `x` times `weight`.
    func normalize(_ x: [Float], weight: [Float], tokens T: Int) -> [Float] {
        let C = hiddenSize
        var out = [Float](repeating: 0, count: T * C)
        x.withUnsafeBufferPointer { xp in
            weight.withUnsafeBufferPointer { wp in
                out.withUnsafeMutableBufferPointer { op in
                    for t in 0..<T { Kernels.rmsNorm(xp.baseAddress! + t * C, weight: wp.baseAddress!, epsilon: rmsNormEpsilon, count: C, into: op.baseAddress! + t * C) }
                }
            }
        }
        return out
    }

    /// RoPE (halves) in place on every head of each of the rows of `x` (`[T, heads·hd]`) at `positions`.
    func rotate(_ x: inout [Float], heads: Int, headDimension hd: Int, positions: [Int]) {
        let half = hd / 2
        let invFreq: [Float] = (0..<half).map { i in 1 / Float(DeterministicMath.pow(ropeTheta, Double(Float(2 * i) / Float(hd)))) }
        var cosines = [Float](repeating: 0, count: half), sines = [Float](repeating: 0, count: half)
        x.withUnsafeMutableBufferPointer { xp in
            for (t, p) in positions.enumerated() {
                for i in 0..<half {
                    let angle = Double(Float(p) * invFreq[i])
                    cosines[i] = Float(DeterministicMath.cos(angle))
                    sines[i] = Float(DeterministicMath.sin(angle))
                }
                for h in 0..<heads { Kernels.ropeHalves(xp.baseAddress! + (t * heads + h) * hd, cos: cosines, sin: sines, dimension: 2 * half) }
            }
        }
    }

    /// The keys and values (`[T, KVH·hd]` each, keys rotated) the draft layer computes for `T`
    /// input rows `x` (`[T, C]`) at `positions`.
    func keysAndValues(_ x: [Float], positions: [Int], shape s: ModelShape, naive: Bool, pool: ParallelFor) -> (keys: [Float], values: [Float]) {
        let T = positions.count, kvWidth = s.kvHeadCount * s.headDimension
        let xn = normalize(x, weight: layer.inputNorm, tokens: T)
        var k = [Float](repeating: 0, count: T * kvWidth), v = k
        Self.product(layer.wk, xn, tokens: T, into: &k, naive: naive, pool: pool)
        Self.product(layer.wv, xn, tokens: T, into: &v, naive: naive, pool: pool)
        rotate(&k, heads: s.kvHeadCount, headDimension: s.headDimension, positions: positions)
        return (k, v)
    }

    /// The draft layer's output for one query row `x` (`[C]`) at `position`, attending to the
    /// first `visible` slots of `cache` (which must already hold the query's own key and value).
    func layerOutput(_ x: [Float], position: Int, cache: ChimeraDraftCache, visible: Int, shape s: ModelShape, naive: Bool, pool: ParallelFor) -> [Float] {
        let C = hiddenSize, H = s.headCount, hd = s.headDimension, F = feedForwardSize
        // xn = RMSNorm(x) · input_layernorm; q = Wq xn, RoPE at `position`.
        let xn = normalize(x, weight: layer.inputNorm, tokens: 1)
        var q = [Float](repeating: 0, count: H * hd)
        Self.product(layer.wq, xn, tokens: 1, into: &q, naive: naive, pool: pool)
        rotate(&q, heads: H, headDimension: hd, positions: [position])
        // attention over slots 0..<visible, then x = x + Wo · attention.
        var attention = [Float](repeating: 0, count: H * hd)
        q.withUnsafeBufferPointer { qp in
            attention.withUnsafeMutableBufferPointer { ap in
                Attention.scaledDotProduct(queries: qp.baseAddress!, heads: H, keysAndValues: cache.keysAndValues, visibleSlots: [Array(0..<visible)],
                                           scale: 1 / Float(hd).squareRoot(), naive: naive, into: ap.baseAddress!, pool: pool)
            }
        }
        var projected = [Float](repeating: 0, count: C)
        Self.product(layer.wo, attention, tokens: 1, into: &projected, naive: naive, pool: pool)
        var residual = x
        for i in 0..<C { residual[i] = residual[i] + projected[i] }
        // x = x + Wdown (SiLU(Wgate xn) ⊙ Wup xn), xn = RMSNorm(x) · post_attention_layernorm.
        let xn2 = normalize(residual, weight: layer.postAttentionNorm, tokens: 1)
        var gate = [Float](repeating: 0, count: F), up = gate
        Self.product(layer.wGate, xn2, tokens: 1, into: &gate, naive: naive, pool: pool)
        Self.product(layer.wUp, xn2, tokens: 1, into: &up, naive: naive, pool: pool)
        gate.withUnsafeMutableBufferPointer { gp in
            up.withUnsafeBufferPointer { upp in Kernels.swiGLU(gate: gp.baseAddress!, up: upp.baseAddress!, count: F, into: gp.baseAddress!) }
        }
        Self.product(layer.wDown, gate, tokens: 1, into: &projected, naive: naive, pool: pool)
        for i in 0..<C { residual[i] = residual[i] + projected[i] }
        return residual
    }

    // MARK: - Heads

    /// `W_lm h` for one final-norm state (`[V]`): the tied heads' first term, shared by every head of a step.
    public func baseLogits(hidden h: [Float], model: any CausalLanguageModel, pool: ParallelFor = .shared) -> [Float] {
        var out = [Float](repeating: 0, count: model.shape.vocabularySize)
        Self.product(model.outputHead, h, tokens: 1, into: &out, naive: model.useNaiveKernels, pool: pool)
        return out
    }

    /// Head `i`'s logits (`[V]`) for `[h ; f]`: tied, `base[v] + (W_lm f)[v]` with `base = W_lm h`
    /// (`baseLogits`); untied, `U_i [h ; f]` (one product over `2C` columns).
    public func headLogits(_ i: Int, hidden h: [Float], base: [Float], draft f: [Float], model: any CausalLanguageModel, pool: ParallelFor = .shared) -> [Float] {
        precondition(i >= 0 && i < headCount, "head \(i) of \(headCount)")
        let naive = model.useNaiveKernels
        var out = [Float](repeating: 0, count: model.shape.vocabularySize)
        if let untiedHeads {
            Self.product(untiedHeads[i], h + f, tokens: 1, into: &out, naive: naive, pool: pool)
        } else {
            Self.product(model.outputHead, f, tokens: 1, into: &out, naive: naive, pool: pool)
            for v in 0..<out.count { out[v] = base[v] + out[v] }
        }
        return out
    }

    /// `y = W x` for `tokens` rows of `x`.
    static func product(_ w: WeightMatrix, _ x: [Float], tokens: Int, into y: inout [Float], naive: Bool, pool: ParallelFor) {
        x.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { yp in
                if naive { w.multiplyNaive(xp.baseAddress!, tokens: tokens, into: yp.baseAddress!) } else {
                    w.multiply(xp.baseAddress!, tokens: tokens, into: yp.baseAddress!, pool: pool)
                }
            }
        }
    }

    // MARK: - Seeded random weights

    /// Seeded random draft weights for `model` (tests and fixtures).
    ///
    /// Recipe (version 1): one `Xoshiro256StarStar(seed:)`; in this order, row-major:
    /// `trimlp.0.linear.weight [3C, 3C]`, `trimlp.0.linear.bias [3C]`, `trimlp.1.weight [C, 3C]`,
    /// `q_proj`, `k_proj`, `v_proj`, `o_proj`, `gate_proj`, `up_proj`, `down_proj` (with `F = 4C`),
    /// `input_layernorm`, `post_attention_layernorm`, then (untied only) `chimera_head.{i}.0.weight
    /// [V, 2C]` for i = 0…K-1. A matrix element is `(u * 2 - 1) * sqrt(3 / columns)`, the bias's
    /// `(u * 2 - 1) * sqrt(3 / 3C)`, a norm weight `1 + (u * 2 - 1) / 4`, with `u = nextUniformFloat()`.
    public static func random(seed: UInt64, model: any CausalLanguageModel, heads: Int = 4, tied: Bool = true) -> ChimeraDraft {
        precondition(heads >= 1, "Chimera needs at least one head")
        let s = model.shape, C = s.hiddenSize, V = s.vocabularySize, F = 4 * C
        let q = s.headCount * s.headDimension, kv = s.kvHeadCount * s.headDimension
        var generator = Xoshiro256StarStar(seed: seed)
        func matrix(_ rows: Int, _ columns: Int) -> WeightMatrix {
            let bound = Float((3.0 / Double(columns)).squareRoot())
            return WeightMatrix(rows: rows, columns: columns, values: (0..<(rows * columns)).map { _ in (generator.nextUniformFloat() * 2 - 1) * bound })
        }
        func norm(_ n: Int) -> [Float] { (0..<n).map { _ in 1 + (generator.nextUniformFloat() * 2 - 1) / 4 } }
        let w0 = matrix(3 * C, 3 * C)
        let biasBound = Float((3.0 / Double(3 * C)).squareRoot())
        let b0 = (0..<(3 * C)).map { _ in (generator.nextUniformFloat() * 2 - 1) * biasBound }
        let w1 = matrix(C, 3 * C)
        let wq = matrix(q, C), wk = matrix(kv, C), wv = matrix(kv, C), wo = matrix(C, q)
        let gate = matrix(F, C), up = matrix(F, C), down = matrix(C, F)
        let n1 = norm(C), n2 = norm(C)
        let untied = tied ? nil : (0..<heads).map { _ in matrix(V, 2 * C) }
        return ChimeraDraft(trigram: TrigramEncoder(residualWeight: w0, residualBias: b0, projection: w1),
                            layer: DecoderLayer(inputNorm: n1, wq: wq, wk: wk, wv: wv, wo: wo, postAttentionNorm: n2, wGate: gate, wUp: up, wDown: down),
                            untiedHeads: untied, headCount: heads, origin: "random seed \(seed)",
                            metadata: ["format": "touchstone-chimera-1", "chimera_num_heads": "\(heads)", "tied": tied ? "true" : "false",
                                       "touchstone.random_seed": "\(seed)"])
    }

    // MARK: - Files

    /// The fast layer's tensors: (key suffix after `fast_layer1.0.`, matrix or vector).
    static let layerKeys = ["self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight", "self_attn.o_proj.weight",
                            "mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight",
                            "input_layernorm.weight", "post_attention_layernorm.weight"]

    /// The tensors under the file format's keys (Float32 values).
    public var tensors: [(name: String, shape: [Int], values: [Float])] {
        func values(_ m: WeightMatrix) -> [Float] {
            var v = [Float](repeating: 0, count: m.rows * m.columns)
            v.withUnsafeMutableBufferPointer { p in for r in 0..<m.rows { m.decodeRow(r, into: p.baseAddress! + r * m.columns) } }
            return v
        }
        func entry(_ name: String, _ m: WeightMatrix) -> (name: String, shape: [Int], values: [Float]) { (name, [m.rows, m.columns], values(m)) }
        var result = [entry("trimlp.0.linear.weight", trigram.residualWeight), ("trimlp.0.linear.bias", [3 * hiddenSize], trigram.residualBias),
                      entry("trimlp.1.weight", trigram.projection)]
        let p = "fast_layer1.0."
        result += [entry(p + "self_attn.q_proj.weight", layer.wq), entry(p + "self_attn.k_proj.weight", layer.wk),
                   entry(p + "self_attn.v_proj.weight", layer.wv), entry(p + "self_attn.o_proj.weight", layer.wo),
                   entry(p + "mlp.gate_proj.weight", layer.wGate), entry(p + "mlp.up_proj.weight", layer.wUp), entry(p + "mlp.down_proj.weight", layer.wDown),
                   (p + "input_layernorm.weight", [hiddenSize], layer.inputNorm), (p + "post_attention_layernorm.weight", [hiddenSize], layer.postAttentionNorm)]
        for (i, u) in (untiedHeads ?? []).enumerated() { result.append(entry("chimera_head.\(i).0.weight", u)) }
        return result
    }

    /// Writes the weights as a Float32 safetensors file that `load(path:)` reads, with metadata
    /// `chimera_num_heads`, `tied`, `rope_theta`, `rms_norm_eps`. Throws `FormatError.io`.
    public func write(to path: String) throws {
        var meta = metadata
        meta["format"] = meta["format"] ?? "touchstone-chimera-1"
        meta["chimera_num_heads"] = "\(headCount)"
        meta["tied"] = isTied ? "true" : "false"
        meta["rope_theta"] = "\(ropeTheta)"
        meta["rms_norm_eps"] = "\(rmsNormEpsilon)"
        try SafetensorsWriter.write(tensors.map { (name: $0.name, dtype: SafetensorsDType.f32, shape: $0.shape, values: $0.values) },
                                    metadata: meta, to: path)
    }

    /// Loads draft weights from a safetensors file. Throws `ChimeraError.invalidWeights` naming the
    /// key for a missing or unexpected tensor, a wrong shape or metadata that disagrees with the
    /// tensors, and `FormatError` for a malformed file.
    public static func load(path: String) throws -> ChimeraDraft {
        guard FileManager.default.fileExists(atPath: path) else { throw ChimeraError.invalidWeights("no Chimera weights file at \(path)") }
        return try load(file: SafetensorsFile(path: path), origin: path)
    }

    /// Loads draft weights from a parsed safetensors file (`origin` names it in errors).
    ///
    /// Keys (the authors' `trimlp.pt`, `fast_layer1.pt` and `chimera_head.pt` state dicts under
    /// their module names): `trimlp.0.linear.weight [3C, 3C]`, `trimlp.0.linear.bias [3C]`,
    /// `trimlp.1.weight [C, 3C]`, `fast_layer1.0.self_attn.{q,k,v,o}_proj.weight`,
    /// `fast_layer1.0.mlp.{gate,up,down}_proj.weight`, `fast_layer1.0.input_layernorm.weight [C]`,
    /// `fast_layer1.0.post_attention_layernorm.weight [C]`, and `chimera_head.{i}.0.weight [V, 2C]`
    /// for i = 0…K-1 unless tied. Metadata: `chimera_num_heads` (required for tied files; for
    /// untied ones it must match the heads present), `tied` (`true`/`false`; default: untied
    /// exactly when head tensors are present), optional `rope_theta`, `rms_norm_eps`.
    public static func load(file: SafetensorsFile, origin: String) throws -> ChimeraDraft {
        func fail(_ message: String) -> ChimeraError { .invalidWeights("\(origin): \(message)") }
        var known = Set<String>()
        func info(_ name: String) throws -> SafetensorsTensorInfo {
            guard let i = file.tensor(named: name) else { throw fail("missing tensor '\(name)'") }
            known.insert(name)
            return i
        }
        func matrix(_ name: String, _ rows: Int?, _ columns: Int?, _ what: String) throws -> WeightMatrix {
            let i = try info(name)
            guard i.shape.count == 2, rows.map({ $0 == i.shape[0] }) ?? true, columns.map({ $0 == i.shape[1] }) ?? true, i.shape[0] > 0, i.shape[1] > 0 else {
                throw fail("tensor '\(name)' has shape \(i.shape); expected [\(rows.map(String.init) ?? "rows"), \(columns.map(String.init) ?? "columns")] (\(what))")
            }
            return WeightMatrix(rows: i.shape[0], columns: i.shape[1], values: try file.floats(named: name))
        }
        func vector(_ name: String, _ count: Int) throws -> [Float] {
            let i = try info(name)
            guard i.shape == [count] else { throw fail("tensor '\(name)' has shape \(i.shape); expected [\(count)]") }
            return try file.floats(named: name)
        }
        let projection = try matrix("trimlp.1.weight", nil, nil, "Linear(3C, C)")
        let C = projection.rows
        guard projection.columns == 3 * C else { throw fail("tensor 'trimlp.1.weight' has shape [\(projection.rows), \(projection.columns)]; expected [C, 3C] = [\(C), \(3 * C)]") }
        let residual = try matrix("trimlp.0.linear.weight", 3 * C, 3 * C, "the trigram ResBlock's Linear(3C, 3C)")
        let bias = try vector("trimlp.0.linear.bias", 3 * C)
        let p = "fast_layer1.0."
        let wq = try matrix(p + "self_attn.q_proj.weight", nil, C, "[H·hd, C]")
        let wk = try matrix(p + "self_attn.k_proj.weight", nil, C, "[KVH·hd, C]")
        let wv = try matrix(p + "self_attn.v_proj.weight", wk.rows, C, "[KVH·hd, C], as k_proj")
        let wo = try matrix(p + "self_attn.o_proj.weight", C, wq.rows, "[C, H·hd]")
        let gate = try matrix(p + "mlp.gate_proj.weight", nil, C, "[F, C]")
        let up = try matrix(p + "mlp.up_proj.weight", gate.rows, C, "[F, C], as gate_proj")
        let down = try matrix(p + "mlp.down_proj.weight", C, gate.rows, "[C, F]")
        let n1 = try vector(p + "input_layernorm.weight", C), n2 = try vector(p + "post_attention_layernorm.weight", C)

        // Heads: chimera_head.{i}.0.weight, numbered 0…K-1 without gaps.
        var headIndices: [Int] = []
        for t in file.tensors where t.name.hasPrefix("chimera_head.") {
            let fields = t.name.split(separator: ".", omittingEmptySubsequences: false)
            guard fields.count == 4, fields[2] == "0", fields[3] == "weight", let i = Int(fields[1]), i >= 0, String(i) == fields[1] else {
                throw fail("unexpected tensor '\(t.name)'; a head is chimera_head.{i}.0.weight [V, 2C] (the head ResBlocks are not used)")
            }
            headIndices.append(i)
        }
        headIndices.sort()
        let tiedText = file.metadata["tied"]?.lowercased()
        guard tiedText == nil || tiedText == "true" || tiedText == "false" else { throw fail("metadata tied = '\(file.metadata["tied"]!)'; expected true or false") }
        let tied = tiedText.map { $0 == "true" } ?? headIndices.isEmpty
        var count: Int? = nil
        if let text = file.metadata["chimera_num_heads"] {
            guard let k = Int(text), k >= 1 else { throw fail("metadata chimera_num_heads = '\(text)'; expected a whole number ≥ 1") }
            count = k
        }
        var untied: [WeightMatrix]? = nil
        if tied {
            if let first = headIndices.first { throw fail("the metadata says tied = true, but the file has 'chimera_head.\(first).0.weight'") }
            guard count != nil else { throw fail("a tied file needs metadata chimera_num_heads (how many heads to run)") }
        } else {
            guard !headIndices.isEmpty else { throw fail("missing tensor 'chimera_head.0.0.weight' (the metadata says tied = false)") }
            guard headIndices == Array(0..<headIndices.count) else {
                throw fail("heads must be numbered 0…\(headIndices.count - 1) without gaps; found \(headIndices)")
            }
            if let k = count, k != headIndices.count { throw fail("metadata chimera_num_heads = \(k) but the file has \(headIndices.count) heads") }
            count = headIndices.count
            var heads: [WeightMatrix] = []
            for i in headIndices {
                heads.append(try matrix("chimera_head.\(i).0.weight", heads.first?.rows, 2 * C, "[V, 2C]"))
            }
            untied = heads
        }
        for t in file.tensors where !known.contains(t.name) {
            throw fail("unexpected tensor '\(t.name)'; a Chimera file holds trimlp.*, fast_layer1.0.* and chimera_head.{i}.0.weight")
        }
        var theta = 10_000.0
        if let text = file.metadata["rope_theta"] {
            guard let t = Double(text), t > 0 else { throw fail("metadata rope_theta = '\(text)'; expected a positive number") }
            theta = t
        }
        var eps: Float = 1e-5
        if let text = file.metadata["rms_norm_eps"] {
            guard let e = Float(text), e > 0 else { throw fail("metadata rms_norm_eps = '\(text)'; expected a positive number") }
            eps = e
        }
        return ChimeraDraft(trigram: TrigramEncoder(residualWeight: residual, residualBias: bias, projection: projection),
                            layer: DecoderLayer(inputNorm: n1, wq: wq, wk: wk, wv: wv, wo: wo, postAttentionNorm: n2, wGate: gate, wUp: up, wDown: down),
                            untiedHeads: untied, headCount: count!, ropeTheta: theta, rmsNormEpsilon: eps, origin: origin, metadata: file.metadata)
    }
}

/// The draft layer's own key/value cache: one layer, tiles of 16 slots in the layout
/// `TiledKeyValues` describes. Slot `2i` holds `h_i` (position `i`) and slot `2i + 1` holds
/// `g_{i+1}` (position `i + 1`) for every committed position `i`; the drafted chain's entries
/// follow while a step drafts and are dropped after it.
final class ChimeraDraftCache {
    let rowWidth: Int, headDimension: Int
    private(set) var length = 0
    private(set) var positions: [Int] = []
    private var capacity: Int
    private(set) var keys: UnsafeMutablePointer<Float>
    private(set) var values: UnsafeMutablePointer<Float>

    init(rowWidth: Int, headDimension: Int, initialCapacity: Int = 64) {
        self.rowWidth = rowWidth
        self.headDimension = headDimension
        capacity = max(16, (initialCapacity + 15) / 16 * 16)
        keys = .allocate(capacity: capacity * rowWidth)
        values = .allocate(capacity: capacity * rowWidth)
    }

    deinit {
        keys.deallocate()
        values.deallocate()
    }

    var keysAndValues: TiledKeyValues { TiledKeyValues(keys: keys, values: values, rowWidth: rowWidth, headDimension: headDimension) }

    /// Appends one slot's key and value rows (`rowWidth` floats each) at `position`.
    func append(key: UnsafePointer<Float>, value: UnsafePointer<Float>, position: Int) {
        if length == capacity {
            let grown = capacity * 2
            for which in 0..<2 {
                let fresh = UnsafeMutablePointer<Float>.allocate(capacity: grown * rowWidth)
                fresh.update(from: which == 0 ? keys : values, count: capacity * rowWidth)
                if which == 0 { keys.deallocate(); keys = fresh } else { values.deallocate(); values = fresh }
            }
            capacity = grown
        }
        let kv = keysAndValues
        for c in 0..<rowWidth {
            keys[kv.keyIndex(length, c)] = key[c]
            values[kv.valueIndex(length, c)] = value[c]
        }
        positions.append(position)
        length += 1
    }

    /// Drops every slot at or after `newLength`.
    func truncate(to newLength: Int) {
        precondition(newLength >= 0 && newLength <= length)
        length = newLength
        positions.removeLast(positions.count - newLength)
    }

    /// Key and value element `c` of `slot` (tests).
    func element(slot: Int, _ c: Int) -> (key: Float, value: Float) {
        let kv = keysAndValues
        return (keys[kv.keyIndex(slot, c)], values[kv.valueIndex(slot, c)])
    }
}

/// Bad Chimera inputs: a weights file, weights that do not fit the model, or a tree. The message
/// names what is wrong and what to do.
public enum ChimeraError: Error, CustomStringConvertible, Equatable {
    case invalidWeights(String)
    case modelMismatch(String)
    case missingWeights
    case shippedWeightsNotFound(searched: [String])
    case treeTooDeep(depth: Int, heads: Int)

    public var description: String {
        switch self {
        case .invalidWeights(let m): return "--chimera-weights: \(m)"
        case .modelMismatch(let m): return "--chimera-weights: \(m)"
        case .missingWeights:
            return "--strategy chimera needs --chimera-weights shipped, FILE (a safetensors draft: trimlp.*, fast_layer1.0.*, chimera_head.*) or random:SEED (seeded random weights, for tests)"
        case .shippedWeightsNotFound(let searched):
            return "--chimera-weights: the shipped draft (\(ChimeraDraft.shippedRelativePath)) was not found (searched \(searched.joined(separator: ", "))); give --chimera-weights FILE or random:SEED"
        case .treeTooDeep(let depth, let heads):
            return "--chimera-choices: the tree is \(depth) deep but the draft has only \(heads) heads (a node at depth d reads head d-1); use a shallower table"
        }
    }
}

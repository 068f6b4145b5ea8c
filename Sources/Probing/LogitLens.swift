import Foundation
import Tensors
import Transformer

/// The logit lens: every layer's residual stream read through the model's own output head.
///
/// nostalgebraist, "interpreting GPT: the logit lens" (LessWrong, 2020); conventions as the tuned
/// lens paper (Belrose et al., "Eliciting Latent Predictions from Transformers with the Tuned
/// Lens", 2023, arXiv:2303.08112, Section 2). For layer ℓ and position t:
///
///     logits_ℓ,t = W_U · RMSNorm_g(h_ℓ,t)        (norm applied, the default)
///     logits_ℓ,t = W_U · h_ℓ,t                   (applyNorm: false, DoLa's premature layers)
///     p_ℓ,t = softmax(logits_ℓ,t)
///
/// Layers are numbered as Hugging Face's `hidden_states`: 0 is the token embedding (the input of
/// block 0), ℓ in 1..<L is the residual stream after the first ℓ blocks, and L is the final-norm
/// output, whose logits are the model's own (the norm is not applied twice, and `applyNorm` does
/// not affect it). The lens's norm is `CausalLanguageModel.applyFinalNorm` (the final norm's gain
/// and epsilon, the forward pass's kernel) and the head is `outputHead.multiply`, so layer L
/// reproduces the model's logits bit for bit.
///
/// Probabilities and the KL divergence are computed in Float64 from the Float32 logits:
/// `m = max logits`, `Z = Σ_v exp(logit_v − m)` (vocabulary order, `DeterministicMath.exp`),
/// `log p_v = (logit_v − m) − log Z`, `p_v = exp(log p_v)`; `kl_to_final = KL(p_L ‖ p_ℓ) =
/// Σ_v p_L,v · (log p_L,v − log p_ℓ,v)` in vocabulary order (terms with `p_L,v = 0` add 0), so
/// layer L has KL exactly 0. Top tokens are ranked by logit descending, ties by lower id (D4).
///
/// Work is split across the head's output rows only (the head product), so results do not depend
/// on the thread count (D2), and each position's lens depends only on its hidden state (D3).
public enum LogitLens {
    /// One layer at one position.
    public struct LayerReadout: Sendable, Equatable {
        /// Hugging Face `hidden_states` index, 0...L.
        public var layer: Int
        /// The top tokens: ids with their probabilities, by logit descending, ties by id.
        public var top: [TokenProbability]
        /// `KL(p_L ‖ p_ℓ)` in nats.
        public var klToFinal: Double
    }

    public struct TokenProbability: Sendable, Equatable {
        public var id: Int
        public var probability: Double
        public var logit: Float
    }

    /// Every requested layer at one position.
    public struct PositionReadout: Sendable, Equatable {
        /// 0-based index into the prompt.
        public var position: Int
        /// The prompt token at this position (the lens predicts the token after it).
        public var token: Int
        public var layers: [LayerReadout]
    }

    public struct Report: Sendable, Equatable {
        public var promptIDs: [Int]
        /// The layers read, ascending, each in 0...layerCount.
        public var layers: [Int]
        public var layerCount: Int
        public var applyNorm: Bool
        public var top: Int
        public var positions: [PositionReadout]
    }

    /// Hugging Face's `hidden_states` for `prompt`: `L + 1` arrays `[T, C]` (0: embeddings; ℓ in
    /// 1..<L: after block ℓ−1; L: the final-norm output), from one forward pass with layer taps,
    /// and the model's own logits of every position `[T, V]`.
    public static func hiddenStates(model: any CausalLanguageModel, prompt: [Int], pool: ParallelFor = .shared) throws -> (states: [[Float]], logits: [Float]) {
        let shape = model.shape, C = shape.hiddenSize, L = shape.layerCount, T = prompt.count
        guard T > 0 else { throw ModelError.invalidInput("the logit lens needs at least one prompt token") }
        let cache = KVCache(shape: shape, initialCapacity: T)
        let result = try model.forward(tokens: prompt, cache: cache, logitRows: .all, tapLayers: true, pool: pool)
        guard let outputs = result.layerOutputs, outputs.count == L, let finalNorm = result.finalNormOutput else {
            throw ModelError.invalidInput("the model returned no layer taps; the logit lens needs them")
        }
        var embeddings = [Float](repeating: 0, count: T * C)
        embeddings.withUnsafeMutableBufferPointer { e in
            for t in 0..<T { model.embed(token: prompt[t], position: t, into: e.baseAddress! + t * C) }
        }
        return ([embeddings] + outputs.prefix(L - 1) + [finalNorm], result.logits)
    }

    /// The lens logits `[rows, V]` of `rows` residual vectors `hidden` (`[rows, C]`) taken at
    /// layer `layer` of `model`: `W_U · RMSNorm_g(h)` when `applyNorm` and `layer < L`, else
    /// `W_U · h` (layer L's hidden state is already the final-norm output). Backends can call it
    /// with their own hidden states.
    public static func logits(model: any CausalLanguageModel, hidden: [Float], rows: Int, layer: Int, applyNorm: Bool,
                              pool: ParallelFor = .shared) throws -> [Float] {
        let C = model.shape.hiddenSize
        guard hidden.count == rows * C else { throw ModelError.invalidInput("lens input has \(hidden.count) values, expected \(rows) × \(C)") }
        guard layer >= 0 && layer <= model.shape.layerCount else {
            throw ModelError.invalidInput("lens layer \(layer) is outside 0...\(model.shape.layerCount) (Hugging Face hidden_states numbering)")
        }
        var x = hidden
        if applyNorm && layer < model.shape.layerCount {
            try x.withUnsafeMutableBufferPointer { p in try model.applyFinalNorm(p.baseAddress!, rows: rows, into: p.baseAddress!) }
        }
        return model.outputHead.multiply(x, tokens: rows, pool: pool)
    }

    /// `log softmax` of one row of logits in Float64 (see the type's comment for the order).
    public static func logProbabilities(_ logits: ArraySlice<Float>) -> [Double] {
        var m = -Float.infinity
        for v in logits where v > m { m = v }
        var z = 0.0
        for v in logits { z += DeterministicMath.exp(Double(v) - Double(m)) }
        let logZ = DeterministicMath.log(z)
        return logits.map { (Double($0) - Double(m)) - logZ }
    }

    /// `KL(p ‖ q) = Σ p_v (log p_v − log q_v)` from log-probabilities, in index order; terms
    /// with `p_v = 0` contribute 0.
    public static func klDivergence(logP: [Double], logQ: [Double]) -> Double {
        var kl = 0.0
        for v in 0..<logP.count {
            let p = DeterministicMath.exp(logP[v])
            if p > 0 { kl += p * (logP[v] - logQ[v]) }
        }
        return kl
    }

    /// Runs the lens on `prompt`: every position, the requested `layers` (nil: 0...L) in
    /// ascending order, the `top` best tokens each. Throws `ModelError.invalidInput` for a layer
    /// outside 0...L or `top` < 1.
    public static func run(model: any CausalLanguageModel, prompt: [Int], layers requested: [Int]? = nil, top: Int = 5,
                           applyNorm: Bool = true, pool: ParallelFor = .shared) throws -> Report {
        let L = model.shape.layerCount, V = model.shape.vocabularySize, T = prompt.count
        guard top >= 1 else { throw ModelError.invalidInput("the lens's top must be at least 1, got \(top)") }
        let layers = Array(Set(requested ?? Array(0...L))).sorted()
        for l in layers where l < 0 || l > L {
            throw ModelError.invalidInput("lens layer \(l) is outside 0...\(L) (0 = embeddings, \(L) = after the final norm)")
        }
        let (states, _) = try hiddenStates(model: model, prompt: prompt, pool: pool)
        let finalLogits = try logits(model: model, hidden: states[L], rows: T, layer: L, applyNorm: applyNorm, pool: pool)
        let finalLogP = (0..<T).map { logProbabilities(finalLogits[($0 * V)..<(($0 + 1) * V)]) }
        var positions = (0..<T).map { PositionReadout(position: $0, token: prompt[$0], layers: []) }
        for l in layers {
            let lensLogits = l == L ? finalLogits : try logits(model: model, hidden: states[l], rows: T, layer: l, applyNorm: applyNorm, pool: pool)
            lensLogits.withUnsafeBufferPointer { lp in
                for t in 0..<T {
                    let row = lensLogits[(t * V)..<((t + 1) * V)]
                    let logP = l == L ? finalLogP[t] : logProbabilities(row)
                    let best = Kernels.topK(lp.baseAddress! + t * V, count: V, k: top)
                    let entries = best.map { TokenProbability(id: $0.index, probability: DeterministicMath.exp(logP[$0.index]), logit: $0.value) }
                    let kl = l == L ? 0 : klDivergence(logP: finalLogP[t], logQ: logP)
                    positions[t].layers.append(LayerReadout(layer: l, top: entries, klToFinal: kl))
                }
            }
        }
        return Report(promptIDs: prompt, layers: layers, layerCount: L, applyNorm: applyNorm, top: top, positions: positions)
    }
}

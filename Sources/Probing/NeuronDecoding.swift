import Foundation
import Tensors
import Transformer

/// LM-head decoding of MLP neurons: each neuron's read direction (a row of `W_up` or `W_gate`)
/// or write direction (a column of `W_down`) is decoded with the output head as if it were a
/// residual vector, giving the neuron's "top tokens".
///
/// Harry J. Davies, "Decoding specialised feature neurons in LLMs with the final projection
/// layer", 2025, arXiv:2501.02688 (v2: "Flash Interpretability: Decoding Specialised Feature
/// Neurons in Large Language Models with the LM-Head"). The paper has no public code; whether it
/// applies the final norm's gain and/or its RMS scale to a direction is unverified, so both are
/// options (`FinalNorm`). For neuron `i` with direction `w` (`[C]`):
///
///     none:  s = W_U · w
///     gain:  s = W_U · (g ⊙ w)                       (g: the final norm's gain)
///     rms:   s = W_U · RMSNorm_g(w) = W_U · (g ⊙ (w · r)),  r = 1 / sqrt(mean(w²) + ε)
///
///     p = softmax(s)    (over the vocabulary)
///
/// `rms` is exactly the logit lens applied to `w` (`CausalLanguageModel.applyFinalNorm`); it
/// ranks tokens as `gain` does (a positive scale) but sharpens or flattens `p`. The head product
/// is `outputHead.multiply`, so a score is the one the model's head computes for that vector.
///
/// Top tokens rank by score descending, ties by lower id (D4). Probabilities: `m = s_top1`,
/// `Z = Σ_v exp(s_v − m)` with `DeterministicMath.exp` on sixteen Float32 lanes (token `v` into
/// lane `v mod 16`, in vocabulary order), the lanes
/// then added in Float64 from lane 0 to 15; `p_v = exp(s_v − m) / Z` in Float64.
///
/// Memory: scores are computed for `chunkSize` neurons at a time per thread (`[chunk, V]`) and
/// reduced to top-K at once; the `[neurons, V]` score matrix never exists. Work is split across
/// chunks of neurons (independent outputs, D2); a chunk's head product runs on its own thread,
/// and the kernel's result does not depend on how many vectors it multiplies together (D3), so
/// the output does not depend on the thread count or the chunk size.
public enum NeuronDecoding {
    /// Which weight matrix's neurons to decode.
    public enum Matrix: String, Sendable, CaseIterable {
        /// Rows of `W_up` (read directions).
        case up
        /// Rows of `W_gate` (read directions).
        case gate
        /// Columns of `W_down` (write directions).
        case down
    }

    /// What is applied to a direction before the head (see the type's comment).
    public enum FinalNorm: String, Sendable, CaseIterable {
        case none, rms, gain
    }

    public struct TokenScore: Sendable, Equatable {
        public var id: Int
        public var score: Float
        public var probability: Double
    }

    /// One neuron's decoding.
    public struct NeuronReadout: Sendable, Equatable {
        public var layer: Int
        public var neuron: Int
        public var top: [TokenScore]
    }

    /// Neurons per head product of one thread (two groups of eight vectors in the kernel).
    public static let defaultChunkSize = 32

    /// The directions of `matrix` in block `layer` of `model`, row-major `[F, C]` (neuron `i` is
    /// row `i`), exact Float32 values of the weights.
    public static func directions(model: LlamaModel, layer: Int, matrix: Matrix) throws -> [Float] {
        let c = model.configuration
        guard layer >= 0 && layer < c.layerCount else {
            throw ModelError.invalidInput("layer \(layer) is outside the model's blocks 0...\(c.layerCount - 1)")
        }
        let C = c.hiddenSize, F = c.intermediateSize
        let block = model.layers[layer]
        var out = [Float](repeating: 0, count: F * C)
        switch matrix {
        case .up, .gate:
            let w = matrix == .up ? block.wUp : block.wGate     // [F, C]
            out.withUnsafeMutableBufferPointer { o in for i in 0..<F { w.decodeRow(i, into: o.baseAddress! + i * C) } }
        case .down:
            var row = [Float](repeating: 0, count: F)             // W_down is [C, F]: transpose
            for j in 0..<C {
                row.withUnsafeMutableBufferPointer { block.wDown.decodeRow(j, into: $0.baseAddress!) }
                for i in 0..<F { out[i * C + j] = row[i] }
            }
        }
        return out
    }

    /// Decodes `count` directions (`[count, C]`, row-major) through `model`'s head, `top` tokens
    /// each, in direction order. Throws `ModelError.invalidInput` for `top` < 1, and for `rms`
    /// on a model that does not expose its final norm.
    public static func decode(directions: [Float], count: Int, model: LlamaModel, finalNorm: FinalNorm, top: Int,
                              chunkSize: Int = defaultChunkSize, pool: ParallelFor = .shared) throws -> [[TokenScore]] {
        let C = model.configuration.hiddenSize, V = model.configuration.vocabularySize
        guard top >= 1 else { throw ModelError.invalidInput("--top must be at least 1, got \(top)") }
        guard directions.count == count * C else { throw ModelError.invalidInput("\(directions.count) values for \(count) directions of \(C)") }
        let chunk = max(1, chunkSize)
        let chunks = (count + chunk - 1) / chunk
        let head = model.outputHead
        let gain = model.outputNorm
        var results = [[TokenScore]](repeating: [], count: count)
        let serial = ParallelFor.serial
        results.withUnsafeMutableBufferPointer { res in
            let out = res.baseAddress!
            directions.withUnsafeBufferPointer { dp in
                pool.run(count: chunks) { lower, upper in
                    var x = [Float](repeating: 0, count: chunk * C)
                    var scores = [Float](repeating: 0, count: chunk * V)
                    for k in lower..<upper {
                        let first = k * chunk, n = min(chunk, count - first)
                        x.withUnsafeMutableBufferPointer { xp in
                            let src = dp.baseAddress! + first * C
                            switch finalNorm {
                            case .none: xp.baseAddress!.update(from: src, count: n * C)
                            case .gain:
                                for r in 0..<n { for j in 0..<C { xp[r * C + j] = gain[j] * src[r * C + j] } }
                            case .rms:
                                // Cannot throw for a LlamaModel.
                                try? model.applyFinalNorm(src, rows: n, into: xp.baseAddress!)
                            }
                        }
                        x.withUnsafeBufferPointer { xp in
                            scores.withUnsafeMutableBufferPointer { sp in head.multiply(xp.baseAddress!, tokens: n, into: sp.baseAddress!, pool: serial) }
                        }
                        scores.withUnsafeBufferPointer { sp in
                            for r in 0..<n { (out + first + r).pointee = topTokens(sp.baseAddress! + r * V, count: V, top: top) }
                        }
                    }
                }
            }
        }
        return results
    }

    /// The `top` best tokens of one score row with their softmax probabilities (see the type's
    /// comment for the order of the normaliser's sum).
    public static func topTokens(_ s: UnsafePointer<Float>, count V: Int, top: Int) -> [TokenScore] {
        let best = Kernels.topK(s, count: V, k: top)
        guard let m = best.first?.value else { return [] }
        let mv = SIMD16<Float>(repeating: m)
        var lanes = SIMD16<Float>()
        var v = 0
        let raw = UnsafeRawPointer(s)
        while v + 16 <= V {
            lanes = lanes + DeterministicMath.exp(raw.loadUnaligned(fromByteOffset: v * 4, as: SIMD16<Float>.self) - mv)
            v += 16
        }
        var l = 0
        while v < V { lanes[l] = lanes[l] + DeterministicMath.exp(s[v] - m); v += 1; l += 1 }
        var z = 0.0
        for lane in 0..<16 { z += Double(lanes[lane]) }
        return best.map { TokenScore(id: $0.index, score: $0.value, probability: Double(DeterministicMath.exp($0.value - m)) / z) }
    }

    /// Every neuron of `matrix` in the given blocks (ascending), decoded: `layers.count × F`
    /// readouts in (layer, neuron) order.
    public static func decode(model: LlamaModel, layers: [Int], matrix: Matrix, finalNorm: FinalNorm, top: Int,
                              chunkSize: Int = defaultChunkSize, pool: ParallelFor = .shared) throws -> [NeuronReadout] {
        var out: [NeuronReadout] = []
        let F = model.configuration.intermediateSize
        for layer in layers {
            let d = try directions(model: model, layer: layer, matrix: matrix)
            let decoded = try decode(directions: d, count: F, model: model, finalNorm: finalNorm, top: top, chunkSize: chunkSize, pool: pool)
            for (i, top) in decoded.enumerated() { out.append(NeuronReadout(layer: layer, neuron: i, top: top)) }
        }
        return out
    }

    /// The neurons whose top token is `token`, by that token's probability descending, ties by
    /// (layer, neuron) ascending.
    public static func neurons(withTopToken token: Int, in readouts: [NeuronReadout]) -> [NeuronReadout] {
        readouts.filter { $0.top.first?.id == token }.sorted { a, b in
            let pa = a.top[0].probability, pb = b.top[0].probability
            return pa > pb || (pa == pb && (a.layer, a.neuron) < (b.layer, b.neuron))
        }
    }
}

extension ParallelFor {
    /// A pool of one thread (the caller): for work already split across another pool's threads.
    static let serial = ParallelFor(threadCount: 1)
}

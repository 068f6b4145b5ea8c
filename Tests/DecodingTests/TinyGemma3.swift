import Decoding
import Formats
import Tensors
import Transformer

/// A seeded tiny Gemma 3 for the strategy tests of this target (the Gemma test helpers live in
/// another test target).
enum TinyGemma3 {
    /// C 32, H 2, KVH 1, hd 24 ≠ C/H, V 96, window 4; layer 0 local, layer 1 global.
    static func model(seed: UInt64 = 7) throws -> Gemma3Model {
        let c = Gemma3Configuration(hiddenSize: 32, intermediateSize: 64, layerCount: 2, headCount: 2, kvHeadCount: 1, headDimension: 24,
                                    vocabularySize: 96, contextLength: 128, rmsNormEpsilon: 1e-6, globalRopeTheta: 1_000_000,
                                    localRopeTheta: 10_000, slidingWindow: 4, slidingWindowPattern: 2)
        var rng = Xoshiro256StarStar(seed: seed)
        func matrix(_ rows: Int, _ columns: Int, gain: Float = 1) -> WeightMatrix {
            let bound = gain * Float((3.0 / Double(columns)).squareRoot())
            return WeightMatrix(rows: rows, columns: columns, values: (0..<(rows * columns)).map { _ in (rng.nextUniformFloat() * 2 - 1) * bound })
        }
        func norm(_ n: Int) -> [Float] { Gemma3Model.normMultiplier((0..<n).map { _ in 1 + (rng.nextUniformFloat() * 2 - 1) * 0.25 }) }
        let embedding = WeightMatrix(rows: c.vocabularySize, columns: c.hiddenSize,
                                     values: (0..<(c.vocabularySize * c.hiddenSize)).map { _ in (rng.nextUniformFloat() * 2 - 1) * 0.2 })
        let q = c.headCount * c.headDimension, kv = c.kvHeadCount * c.headDimension
        let layers = (0..<c.layerCount).map { _ in
            Gemma3Model.Layer(attentionNorm: norm(c.hiddenSize), wq: matrix(q, c.hiddenSize), wk: matrix(kv, c.hiddenSize),
                              wv: matrix(kv, c.hiddenSize), queryNorm: norm(c.headDimension), keyNorm: norm(c.headDimension),
                              wo: matrix(c.hiddenSize, q, gain: 4), postAttentionNorm: norm(c.hiddenSize), preFeedForwardNorm: norm(c.hiddenSize),
                              wGate: matrix(c.intermediateSize, c.hiddenSize), wUp: matrix(c.intermediateSize, c.hiddenSize),
                              wDown: matrix(c.hiddenSize, c.intermediateSize, gain: 4), postFeedForwardNorm: norm(c.hiddenSize))
        }
        return try Gemma3Model(configuration: c, tokenEmbedding: embedding, layers: layers, outputNorm: norm(c.hiddenSize),
                               output: nil, origin: "synthetic gemma3 seed \(seed)")
    }
}

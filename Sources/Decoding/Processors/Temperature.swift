import Tensors

/// Temperature scaling, as Hugging Face's `TemperatureLogitsWarper`, llama.cpp's
/// `llama_sampler_temp` and mlx-lm's `categorical_sampling`.
///
/// - `.huggingFace`: `s[i] = s[i] / Float(T)`. `T` must be > 0 (`ProcessorChain.make` rejects
///   `T <= 0`: use greedy decoding instead, as Hugging Face says).
/// - `.llamaCpp`: `s[i] = s[i] / Float(T)`; `T <= 0` keeps only the argmax (lowest id among equal
///   maxima, D4) and sets every other score to `-inf`, leaving the kept score unchanged.
/// - `.mlx`: `s[i] = s[i] * Float(1 / T)` (mlx-lm multiplies by the reciprocal computed in
///   Float64); `T == 0` keeps only the argmax as above (mlx-lm returns `argmax` for `temp == 0`).
///
/// `-inf` stays `-inf`. The only ranking is the argmax of the `T <= 0` case (D4).
public struct Temperature: LogitsProcessor {
    public var name: String { "temperature" }
    public var temperature: Double
    public var semantics: ProcessorSemantics

    public init(_ temperature: Double, semantics: ProcessorSemantics = .huggingFace) {
        self.temperature = temperature
        self.semantics = semantics
    }

    public func process(_ scores: inout [Float], context: ProcessorContext) {
        if temperature <= 0 {
            // Hugging Face rejects this at construction; llama.cpp and MLX mean "greedy".
            guard !scores.isEmpty else { return }
            let best = scores.withUnsafeBufferPointer { Kernels.argmax($0.baseAddress!, count: $0.count) }
            for i in 0..<scores.count where i != best { scores[i] = -.infinity }
            return
        }
        switch semantics {
        case .huggingFace, .llamaCpp:
            let t = Float(temperature)
            for i in 0..<scores.count { scores[i] = scores[i] / t }
        case .mlx:
            let inverse = Float(1 / temperature)
            for i in 0..<scores.count { scores[i] = scores[i] * inverse }
        }
    }
}

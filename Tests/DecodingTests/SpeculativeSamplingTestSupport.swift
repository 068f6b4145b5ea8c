import XCTest
@testable import Decoding
import Tensors
import Transformer

/// Tiny synthetic models, exact enumeration of the target's sampling distribution, and the
/// chi-square bound shared by the speculative-sampling and VocabTrim distribution tests.
enum SpeculativeSamplingTestSupport {
    /// Vocabulary 12, hidden 32, 2 layers: microseconds per forward pass.
    static let targetConfiguration = LlamaConfiguration(hiddenSize: 32, intermediateSize: 64, layerCount: 2, headCount: 4, kvHeadCount: 2,
                                                        vocabularySize: 12, contextLength: 64, rmsNormEpsilon: 1e-5,
                                                        ropeTheta: 10000, tiedEmbeddings: true)
    /// A different, smaller model with the same vocabulary (a poor draft: many rejections).
    static let draftConfiguration = LlamaConfiguration(hiddenSize: 16, intermediateSize: 32, layerCount: 1, headCount: 2, kvHeadCount: 1,
                                                       vocabularySize: 12, contextLength: 64, rmsNormEpsilon: 1e-5,
                                                       ropeTheta: 10000, tiedEmbeddings: false)
    nonisolated(unsafe) static var models: (target: any CausalLanguageModel, draft: any CausalLanguageModel)?
    static func tinyModels() throws -> (target: any CausalLanguageModel, draft: any CausalLanguageModel) {
        if let m = models { return m }
        let m = (try SyntheticModels.model(configuration: targetConfiguration, seed: 21),
                 try SyntheticModels.model(configuration: draftConfiguration, seed: 22))
        models = m
        return m
    }

    /// One thread: thread hand-off costs more than a tiny model's products.
    static let singleThread = ParallelFor(threadCount: 1)

    /// The target's processed next-token distribution after `ids`, computed from scratch.
    static func processedDistribution(_ model: any CausalLanguageModel, ids: [Int], promptLength: Int, parameters: SamplingParameters,
                                      order: ProcessorOrder = .hf) throws -> [Float] {
        let chain = try ProcessorChain.make(parameters, order: order, sampling: true)
        let cache = KVCache(shape: model.shape, initialCapacity: ids.count)
        var scores = try model.forward(tokens: ids, cache: cache, logitRows: .last, pool: singleThread).logits
        chain.process(&scores, context: ProcessorContext(inputIDs: ids, promptLength: promptLength))
        return Sampler.probabilities(from: scores)
    }

    /// The exact probability of every sequence of the first `length` generated tokens under
    /// ancestral sampling from `model` (products of the processed distributions, binary64),
    /// indexed by the base-V number `t_1 t_2 …` (t_1 most significant).
    static func exactJointDistribution(_ model: any CausalLanguageModel, prompt: [Int], parameters: SamplingParameters, length: Int) throws -> [Double] {
        let V = model.shape.vocabularySize
        var out = [Double](repeating: 0, count: Int(pow(Double(V), Double(length))))
        func walk(_ ids: [Int], _ mass: Double, _ index: Int, _ depth: Int) throws {
            if depth == length { out[index] += mass; return }
            let p = try processedDistribution(model, ids: ids, promptLength: prompt.count, parameters: parameters)
            for y in 0..<V where p[y] > 0 { try walk(ids + [y], mass * Double(p[y]), index * V + y, depth + 1) }
        }
        try walk(prompt, 1, 0, 0)
        return out
    }

    /// Empirical counts of the first `length` tokens over `runs` seeds (0..<runs).
    static func empiricalCounts(runs: Int, length: Int, vocabularySize V: Int, _ generate: (UInt64) throws -> [Int]) rethrows -> [Int] {
        var counts = [Int](repeating: 0, count: Int(pow(Double(V), Double(length))))
        for seed in 0..<runs {
            let ids = try generate(UInt64(seed))
            precondition(ids.count >= length, "a run produced fewer than \(length) tokens")
            var index = 0
            for t in ids.prefix(length) { index = index * V + t }
            counts[index] += 1
        }
        return counts
    }

    struct GoodnessOfFit: CustomStringConvertible {
        var chiSquare: Double
        var degreesOfFreedom: Int
        /// The chi-square quantile at 1 − 1e-6 (Wilson–Hilferty).
        var bound: Double
        var totalVariation: Double
        /// Samples that fell where the exact probability is 0.
        var impossible: Int
        var passes: Bool { impossible == 0 && chiSquare <= bound }
        var description: String {
            "chi² \(String(format: "%.1f", chiSquare)) (df \(degreesOfFreedom), bound \(String(format: "%.1f", bound))), TV \(String(format: "%.4f", totalVariation)), impossible \(impossible)"
        }
    }

    /// Pearson chi-square of `counts` against `probabilities`; cells with expected count < 5 are
    /// pooled into one cell. A sample in a zero-probability cell fails outright.
    static func goodnessOfFit(counts: [Int], probabilities: [Double]) -> GoodnessOfFit {
        let n = Double(counts.reduce(0, +))
        var chi = 0.0, cells = 0, impossible = 0, tv = 0.0
        var pooledObserved = 0.0, pooledExpected = 0.0
        for i in counts.indices {
            let e = n * probabilities[i], o = Double(counts[i])
            tv += abs(o / n - probabilities[i])
            if probabilities[i] == 0 { impossible += counts[i]; continue }
            if e < 5 { pooledObserved += o; pooledExpected += e; continue }
            chi += (o - e) * (o - e) / e
            cells += 1
        }
        if pooledExpected > 0 {
            chi += (pooledObserved - pooledExpected) * (pooledObserved - pooledExpected) / pooledExpected
            cells += 1
        }
        let df = max(1, cells - 1)
        let z = 4.753  // standard normal quantile at 1 − 1e-6
        let a = 2 / (9 * Double(df))
        let bound = Double(df) * pow(1 - a + z * a.squareRoot(), 3)
        return GoodnessOfFit(chiSquare: chi, degreesOfFreedom: df, bound: bound, totalVariation: tv / 2, impossible: impossible)
    }
}

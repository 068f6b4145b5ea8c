import Formats
import Decoding
import Golden
import Transformer

/// A deliberately approximate backend: Touchstone's synthetic Llama models with every weight
/// rounded to a 16-bit format, as a port that stores weights in half precision would. Its
/// forward pass and greedy decoding are Touchstone's own, so every difference from the golden
/// fixtures comes from the rounded weights.
public struct RoundedWeightsBackend {
    /// How each Float32 weight is stored.
    public enum Precision: String, CaseIterable {
        /// IEEE binary16 (11 significant bits), round to nearest even.
        case float16
        /// bfloat16 (8 significant bits), round to nearest even.
        case bfloat16

        func round(_ x: Float) -> Float {
            switch self {
            case .float16: return float16ToFloat(floatToFloat16Bits(x))
            case .bfloat16: return bfloat16ToFloat(floatToBFloat16Bits(x))
            }
        }
    }

    public let precision: Precision
    public let model: LlamaModel

    /// The synthetic model `preset` (a fixture's `model.synthetic`, e.g. `SyntheticModels.tinyA`)
    /// with its weights rounded to `precision`.
    public init(preset: SyntheticModels.Preset, precision: Precision) throws {
        self.precision = precision
        var byName: [String: (shape: [Int], values: [Float])] = [:]
        for t in SyntheticModels.huggingFaceTensors(configuration: preset.configuration, seed: preset.seed) {
            byName[t.name] = (t.shape, t.values.map(precision.round))
        }
        model = try LlamaModel(configuration: preset.configuration, huggingFaceTensors: { name in
            guard let t = byName[name] else { throw ModelError.missingTensor(name) }
            return t
        }, origin: "\(preset.name) rounded to \(precision.rawValue)")
    }

    /// Greedy decoding of `maxNewTokens` tokens after `promptIDs`, with the top-5 logits of each
    /// step: the candidate trace a fixture is checked against.
    public func greedyTrace(promptIDs: [Int], maxNewTokens: Int) throws -> CandidateTrace {
        let generation = try GreedyDecoding.generate(model: model, prompt: promptIDs, stopping: StoppingCriteria(maxNewTokens: maxNewTokens), traceTopK: 5)
        return CandidateTrace(generation: generation)
    }
}

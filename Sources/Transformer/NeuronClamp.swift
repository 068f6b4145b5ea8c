import Foundation
import Tensors

/// Which value of an MLP neuron a `NeuronClamp` overwrites. In a SwiGLU block
/// `mlp(x̂) = W_down · (silu(W_gate x̂) ⊙ (W_up x̂))` neuron `i` has two values per token:
public enum NeuronClampSite: String, Sendable, CaseIterable {
    /// The up-projection output `(W_up x̂)_i`, before the gated product: the unit whose read
    /// direction (row `i` of `W_up`) LM-head neuron decoding reads. The neuron's contribution is
    /// then `silu(gate_i) · value`, so it still depends on the input through the gate.
    case up
    /// The gated product `silu(gate_i) · up_i` that enters `W_down`: the neuron writes exactly
    /// `value · W_down[:, i]` to the residual stream at every position.
    case gated
}

/// Overwrites one MLP neuron's value with a constant at every position of every forward pass
/// (prefill, decode steps, verification batches): the causal test of LM-head neuron decoding
/// (Davies, "Decoding specialised feature neurons in LLMs with the final projection layer",
/// arXiv:2501.02688). Set on a model with `CausalLanguageModel.setNeuronClamps(_:)`; every
/// strategy then sees the clamped model without code of its own.
public struct NeuronClamp: Sendable, Equatable, CustomStringConvertible {
    /// Transformer block, 0-based (GGUF's `blk.N`).
    public var layer: Int
    /// Neuron index in `0..<intermediateSize` (row of `W_up`/`W_gate`, column of `W_down`).
    public var neuron: Int
    /// The value written (finite).
    public var value: Float
    public var site: NeuronClampSite

    public init(layer: Int, neuron: Int, value: Float, site: NeuronClampSite = .up) {
        self.layer = layer
        self.neuron = neuron
        self.value = value
        self.site = site
    }

    /// `layer:neuron:value:site`, the form `parse` reads (the value with Swift's shortest
    /// round-tripping spelling).
    public var description: String { "\(layer):\(neuron):\(value):\(site.rawValue)" }

    /// Parses `ℓ:i:value[:up|gated]` items separated by commas (`3:17:5,4:2:-1.5:gated`); the
    /// site defaults to `up`. Throws `ModelError.invalidInput` saying what is wrong with an item.
    /// Ranges are checked against a model by `validate(_:intermediateSize:layerCount:)`.
    public static func parse(_ text: String) throws -> [NeuronClamp] {
        var out: [NeuronClamp] = []
        for raw in text.split(separator: ",", omittingEmptySubsequences: false) {
            let item = raw.trimmingCharacters(in: .whitespaces)
            let parts = item.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            let form = "expected layer:neuron:value[:up|gated], e.g. 12:345:8.0 or 12:345:-2:gated"
            guard parts.count == 3 || parts.count == 4 else { throw ModelError.invalidInput("neuron clamp '\(item)': \(form)") }
            guard let layer = Int(parts[0]), layer >= 0 else { throw ModelError.invalidInput("neuron clamp '\(item)': layer '\(parts[0])' is not a non-negative integer (\(form))") }
            guard let neuron = Int(parts[1]), neuron >= 0 else { throw ModelError.invalidInput("neuron clamp '\(item)': neuron '\(parts[1])' is not a non-negative integer (\(form))") }
            guard let value = Float(parts[2]), value.isFinite else { throw ModelError.invalidInput("neuron clamp '\(item)': value '\(parts[2])' is not a finite number (\(form))") }
            var site = NeuronClampSite.up
            if parts.count == 4 {
                guard let s = NeuronClampSite(rawValue: parts[3]) else { throw ModelError.invalidInput("neuron clamp '\(item)': site '\(parts[3])' must be up or gated") }
                site = s
            }
            out.append(NeuronClamp(layer: layer, neuron: neuron, value: value, site: site))
        }
        return out
    }

    /// Throws `ModelError.invalidInput` for a layer outside `0..<layerCount`, a neuron outside
    /// `0..<intermediateSize`, a non-finite value, or the same (layer, neuron, site) twice.
    public static func validate(_ clamps: [NeuronClamp], intermediateSize: Int, layerCount: Int) throws {
        var seen: [(Int, Int, NeuronClampSite)] = []
        for c in clamps {
            if c.layer < 0 || c.layer >= layerCount {
                throw ModelError.invalidInput("neuron clamp \(c): layer \(c.layer) is outside the model's layers 0...\(layerCount - 1)")
            }
            if c.neuron < 0 || c.neuron >= intermediateSize {
                throw ModelError.invalidInput("neuron clamp \(c): neuron \(c.neuron) is outside the MLP's neurons 0...\(intermediateSize - 1)")
            }
            if !c.value.isFinite { throw ModelError.invalidInput("neuron clamp \(c): the value must be finite") }
            if seen.contains(where: { $0 == (c.layer, c.neuron, c.site) }) {
                throw ModelError.invalidInput("neuron clamp \(c): layer \(c.layer) neuron \(c.neuron) (\(c.site.rawValue)) is clamped twice; give it once")
            }
            seen.append((c.layer, c.neuron, c.site))
        }
    }
}

extension CausalLanguageModel {
    /// Architectures without neuron clamping: none are set, and setting any throws.
    public var neuronClamps: [NeuronClamp] { [] }

    public func setNeuronClamps(_ clamps: [NeuronClamp]) throws {
        if !clamps.isEmpty { throw ModelError.invalidInput("this architecture (\(origin)) does not support neuron clamping") }
    }

    /// Architectures that do not expose their final norm: the logit lens with the norm throws.
    public func applyFinalNorm(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>) throws {
        throw ModelError.invalidInput("this architecture (\(origin)) does not expose its final norm; use the lens without the norm")
    }
}

extension LlamaModel {
    /// The clamps in effect (`setNeuronClamps`), in the order given.
    public var neuronClamps: [NeuronClamp] { clampStorage }

    /// Replaces the clamps in effect (an empty list removes them). Throws `ModelError.invalidInput`
    /// for a layer or neuron outside the model, a non-finite value or a duplicate; the previous
    /// clamps are kept then.
    public func setNeuronClamps(_ clamps: [NeuronClamp]) throws {
        try NeuronClamp.validate(clamps, intermediateSize: configuration.intermediateSize, layerCount: configuration.layerCount)
        clampStorage = clamps
    }

    /// `y[r] = RMSNorm_g(x[r])` with the model's final-norm gain `g` and epsilon, row by row: the
    /// same kernel and order as the forward pass's final norm (`Kernels.rmsNorm`), so a lens of
    /// the last block's output reproduces the model's own final-norm output bit for bit.
    /// `x`, `y`: `[rows, C]`; `y` may alias `x`.
    public func applyFinalNorm(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>) throws {
        let C = configuration.hiddenSize
        outputNorm.withUnsafeBufferPointer { g in
            for r in 0..<rows { Kernels.rmsNorm(x + r * C, weight: g.baseAddress!, epsilon: configuration.rmsNormEpsilon, count: C, into: y + r * C) }
        }
    }

    /// Writes every clamp of layer `layer` at `site` into `values` (`[T, F]`, one row per token).
    func applyNeuronClamps(layer: Int, site: NeuronClampSite, to values: inout [Float], tokens T: Int) {
        if clampStorage.isEmpty { return }
        let F = configuration.intermediateSize
        for c in clampStorage where c.layer == layer && c.site == site {
            for t in 0..<T { values[t * F + c.neuron] = c.value }
        }
    }
}

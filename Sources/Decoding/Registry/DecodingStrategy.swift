import Formats
import Transformer

/// A decoding algorithm with its options set: what `touchstone generate --strategy NAME`, the
/// golden catalogue and the benchmarks run.
///
/// A conformance lives in its algorithm's file, holds the values it runs with as typed stored
/// properties, and is listed once in `DecodingStrategies.all`. `parameters` is computed from those
/// properties, so what a fixture or a JSON report records is exactly what drove the run; a test
/// rebuilds every catalogued strategy from its record and checks it generates the same tokens.
public protocol DecodingStrategy: Sendable {
    /// The `--strategy` value and the fixture's algorithm name.
    static var name: String { get }
    /// One line for `help generate`.
    static var summary: String { get }
    /// The strategy's own options (processor options are declared by `ProcessorSettings`).
    static var options: [StrategyOption] { get }
    /// Which logits processors it accepts.
    static var processorUse: ProcessorSettings.Use { get }
    /// Whether it reads `--seed` (as a required or defaulted option of its own).
    static var takesSeed: Bool { get }

    /// The strategy as the options describe it (defaults for absent ones); throws
    /// `StrategyError` naming the option for a bad value.
    init(arguments: StrategyArguments, processors: ProcessorSettings, context: StrategyContext) throws

    /// Every parameter the run depends on, in a stable order (processor parameters that are set
    /// included), as fixtures and `--json` statistics record them.
    var parameters: [(String, JSONValue)] { get }
    /// The seed of the strategy's random draws, when it has any.
    var seed: UInt64? { get }

    func generate(model: any CausalLanguageModel, prompt: [Int], stopping: StoppingCriteria, traceTopK: Int,
                  onToken: ((Int) -> Void)?) throws -> StrategyOutput
}

extension DecodingStrategy {
    public static var takesSeed: Bool { false }
    public var seed: UInt64? { nil }
    /// The algorithm name of this value (`Self.name`).
    public var name: String { Self.name }

    /// `generate` without streaming and with five top logits per trace step.
    public func generate(model: any CausalLanguageModel, prompt: [Int], stopping: StoppingCriteria, traceTopK: Int = 5) throws -> StrategyOutput {
        try generate(model: model, prompt: prompt, stopping: stopping, traceTopK: traceTopK, onToken: nil)
    }
}

/// What a strategy returns: the generation, and for beam strategies every returned sequence
/// with its score, plus statistics particular to the strategy.
public struct StrategyOutput {
    public var generation: Generation
    public var sequences: [(ids: [Int], score: Double)]?
    /// Figures measured during the run (not parameters), e.g. Token Recycling's drafted tokens.
    public var statistics: [(String, JSONValue)]

    public init(_ generation: Generation, sequences: [(ids: [Int], score: Double)]? = nil, statistics: [(String, JSONValue)] = []) {
        self.generation = generation
        self.sequences = sequences
        self.statistics = statistics
    }
}

/// What building a strategy may need from outside the decoding layer.
public struct StrategyContext: Sendable {
    /// Loads another model by name or path (a speculative draft model); nil when unavailable.
    public var loadModel: (@Sendable (String) throws -> any CausalLanguageModel)?
    /// Tokenizes evidence text for context-aware decoding: the ids and where in the prompt they go
    /// (0 = before it; with a chat template, inside the user turn); nil when no tokenizer is loaded.
    public var encodeEvidence: (@Sendable (String) throws -> (ids: [Int], position: Int))?
    /// A digest of a model's tokenizer vocabulary (nil name: the model the strategy will run on;
    /// nil result: no tokenizer), so that a strategy pairing two models can check they share it.
    public var vocabularyDigest: (@Sendable (String?) throws -> String?)?

    public init(loadModel: (@Sendable (String) throws -> any CausalLanguageModel)? = nil,
                encodeEvidence: (@Sendable (String) throws -> (ids: [Int], position: Int))? = nil,
                vocabularyDigest: (@Sendable (String?) throws -> String?)? = nil) {
        self.loadModel = loadModel
        self.encodeEvidence = encodeEvidence
        self.vocabularyDigest = vocabularyDigest
    }
}

/// Every registered strategy, in the order `help generate` lists them.
public enum DecodingStrategies {
    public static let all: [any DecodingStrategy.Type] = [
        GreedyDecoding.Strategy.self,
        SampleDecoding.Strategy.self,
        BeamSearch.Strategy.self,
        GroupBeamSearch.Strategy.self,
        ContrastiveSearch.Strategy.self,
        DoLa.Strategy.self,
        ContextAwareDecoding.Strategy.self,
        SpeculativeDecoding.Strategy.self,
        SpeculativeSampling.Strategy.self,
        PromptLookupDrafter.Strategy.self,
        TokenRecyclingDrafter.Strategy.self,
        ADEDDrafter.Strategy.self,
        LookaheadDecoding.Strategy.self,
        ContrastiveDecoding.Strategy.self,
        LOLDecoding.Strategy.self,
        MedusaDecoding.Strategy.self,
        ParallelPromptDecoding.Strategy.self,
        ChimeraDecoding.Strategy.self,
    ]

    public static var names: [String] { all.map { $0.name } }

    /// The strategy registered under `name`.
    public static func named(_ name: String) -> (any DecodingStrategy.Type)? {
        all.first { $0.name == name }
    }

    /// Builds a strategy by name from option text (what the command line gives).
    public static func make(_ name: String, arguments: StrategyArguments, processors: ProcessorSettings = .none,
                            context: StrategyContext = StrategyContext()) throws -> any DecodingStrategy {
        guard let type = named(name) else {
            throw StrategyError("unknown strategy '\(name)'; available: \(names.joined(separator: ", "))")
        }
        return try type.init(arguments: arguments, processors: processors, context: context)
    }
}

extension DecodingStrategies {
    /// The strategy a fixture's record describes: `algorithm` with the recorded option values
    /// (`algorithm.parameters`, snake_case keys) and seed. Keys of the strategy's own options win
    /// over processor keys of the same name (contrastive search's `top_k` is its candidate count).
    public static func make(algorithm name: String, record: [(String, JSONValue)], seed: UInt64?,
                            context: StrategyContext = StrategyContext()) throws -> any DecodingStrategy {
        guard let type = named(name) else {
            throw StrategyError("unknown strategy '\(name)'; available: \(names.joined(separator: ", "))")
        }
        let ownKeys = Set(type.options.map(\.key))
        let own = StrategyArguments.fromRecord(record + (seed.map { [("seed", JSONValue.int(Int($0)))] } ?? []), options: type.options)
        let processors = type.processorUse == .none ? ProcessorSettings.none
            : try ProcessorSettings(arguments: StrategyArguments.fromRecord(record.filter { !ownKeys.contains($0.0) }, options: ProcessorSettings.options))
        return try type.init(arguments: own, processors: processors, context: context)
    }
}

/// The seed option shared by the strategies that draw random numbers.
public enum SeedOption {
    public static func option(default value: String? = nil, required: Bool = false, help: String) -> StrategyOption {
        StrategyOption("seed", .integer(0...Int.max), default: value, required: required, help: help)
    }
}

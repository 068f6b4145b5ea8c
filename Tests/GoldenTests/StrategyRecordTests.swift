import XCTest
import Decoding
import Formats
import Golden
import Transformer

/// A fixture's `algorithm.parameters` must be exactly what drove its run: the registry rebuilds
/// each strategy from nothing but the recorded values, and the rebuilt strategy must record the
/// same values and generate the same tokens. A parameter missing from the record (one that
/// drives the run) or one that drives nothing shows up as a difference.
final class StrategyRecordTests: XCTestCase {
    /// Record keys that describe a fixed procedure or input rather than an option (the portable
    /// generator, ADED's table source, the SHA-256 of the Medusa heads file that `--medusa-heads`
    /// named, of the PPD prompt-embedding file that `--ppd-prompts` named and of the Chimera weights
    /// file that `--chimera-weights` named); every other
    /// recorded key must be a declared option.
    static let descriptiveKeys: Set<String> = ["rng", "table", "medusa_heads_sha256", "ppd_prompts_sha256", "chimera_weights_sha256"]
    static let sharedKeys: Set<String> = ["max_new_tokens", "eos", "trace_top_k"]

    /// The strategy `DecodingStrategies` builds from a record's option values and seed alone.
    func rebuild(_ name: String, from record: [(String, JSONValue)], seed: UInt64?) throws -> any DecodingStrategy {
        try DecodingStrategies.make(algorithm: name, record: record, seed: seed)
    }

    func assertSameRecord(_ a: [(String, JSONValue)], _ b: [(String, JSONValue)], _ message: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(JSONValue.object(a).serialized(), JSONValue.object(b).serialized(), message, file: file, line: line)
    }

    func testEveryCataloguedFixtureIsRebuiltFromItsRecordAlone() throws {
        var models: [String: any CausalLanguageModel] = [:]
        var checked = Set<String>()
        for entry in try Catalog.entries(includeRealModel: false) {
            let model = try models[entry.modelKey] ?? SyntheticArchitectures.anyModel(named: entry.modelKey)
            models[entry.modelKey] = model
            let record = entry.strategy.parameters
            let type = try XCTUnwrap(DecodingStrategies.named(entry.algorithm))
            let declared = Set(type.options.map(\.key)).union(ProcessorSettings.options.map(\.key)).union(Self.descriptiveKeys)
            for (key, _) in record { XCTAssertTrue(declared.contains(key), "\(entry.id) records '\(key)', which no option of \(entry.algorithm) sets") }
            for (key, _) in entry.parameters where !Self.sharedKeys.contains(key) {
                XCTAssertTrue(record.contains { $0.0 == key }, "\(entry.id): '\(key)' is not the strategy's")
            }
            let rebuilt = try rebuild(entry.algorithm, from: record, seed: entry.seed)
            assertSameRecord(rebuilt.parameters, record, "\(entry.id): the record does not rebuild the strategy")
            XCTAssertEqual(rebuilt.seed, entry.seed, entry.id)
            let original = try entry.run(model)
            let again = try rebuilt.generate(model: model, prompt: entry.promptIDs, stopping: entry.stopping).generation
            XCTAssertEqual(again.outputIDs, original.outputIDs, "\(entry.id): the rebuilt strategy generates other tokens")
            XCTAssertEqual(again.trace, original.trace, entry.id)
            checked.insert(entry.algorithm)
        }
        XCTAssertEqual(checked, Set(DecodingStrategies.names), "every registered strategy has a catalogued fixture")
    }

    /// Each registered strategy with its defaults (required options given) records only declared
    /// keys, rebuilds from its record, and a changed option value changes the record.
    func testEveryRegisteredStrategyRecordsItsOptionsAndRebuildsFromThem() throws {
        // context-ids: cad needs its evidence (--context or --context-ids, neither declared required).
        let required: [String: String] = ["seed": "3", "penalty-alpha": "0.6", "draft-layers": "1", "context-ids": "1,2"]
        for type in DecodingStrategies.all {
            var values: [String: String] = [:]
            for option in type.options where option.required || ["draft-layers", "context-ids"].contains(option.name) { values[option.name] = required[option.name] }
            let strategy = try type.init(arguments: StrategyArguments(values), processors: .none, context: StrategyContext())
            let declared = Set(type.options.map(\.key)).union(Self.descriptiveKeys)
            for (key, _) in strategy.parameters { XCTAssertTrue(declared.contains(key), "\(type.name) records undeclared '\(key)'") }
            assertSameRecord(try rebuild(type.name, from: strategy.parameters, seed: strategy.seed).parameters, strategy.parameters, type.name)
            // Every option with a numeric default that the record shows must move the record when changed.
            for option in type.options {
                guard let d = option.defaultValue, strategy.parameters.contains(where: { $0.0 == option.key }) else { continue }
                var changed = values
                switch option.kind {
                case .integer(let r): changed[option.name] = String(Int(d)! == r.lowerBound ? r.lowerBound + 1 : r.lowerBound)
                case .number: changed[option.name] = String(Double(d)! == 0.5 ? 0.25 : 0.5)
                case .choice(let words): changed[option.name] = words.first { $0 != d }!
                case .text: continue
                }
                let other = try type.init(arguments: StrategyArguments(changed), processors: .none, context: StrategyContext())
                XCTAssertNotEqual(JSONValue.object(other.parameters).serialized(), JSONValue.object(strategy.parameters).serialized(),
                                  "\(type.name): --\(option.name) \(changed[option.name]!) leaves the record unchanged")
            }
        }
    }

    func testProcessorRecordNamesTheOrderOnlyWhenTwoProcessorsCanInteract() throws {
        let one = try ProcessorSettings(SamplingParameters(temperature: 0.7), order: "llama.cpp")
        XCTAssertEqual(one.recorded.map(\.0), ["temperature"])
        let two = try ProcessorSettings(SamplingParameters(temperature: 0.7, topK: 5), order: "llama.cpp")
        XCTAssertEqual(two.recorded.map(\.0), ["temperature", "top_k", "processor_order"])
        XCTAssertEqual(JSONValue.object(two.recorded).serialized(), #"{"temperature":0.7,"top_k":5,"processor_order":"llama.cpp"}"#)
    }

    func testBadOptionValuesNameTheOption() {
        func message(_ name: String, _ values: [String: String]) -> String {
            do { _ = try DecodingStrategies.make(name, arguments: StrategyArguments(values)); return "" } catch { return "\(error)" }
        }
        XCTAssertTrue(message("beam", ["num-beams": "0"]).contains("--num-beams must be in 1...256"))
        XCTAssertTrue(message("beam", ["num-beams": "2", "num-return-sequences": "3"]).contains("cannot exceed --num-beams"))
        XCTAssertTrue(message("beam", ["early-stopping": "maybe"]).contains("--early-stopping must be true, false or never"))
        XCTAssertTrue(message("sample", [:]).contains("--seed is required"))
        XCTAssertTrue(message("contrastive", [:]).contains("--penalty-alpha is required"))
        XCTAssertTrue(message("speculative", [:]).contains("needs --draft-layers N"))
        XCTAssertTrue(message("token-recycling", ["draft-threshold": "1"]).contains("--draft-threshold must be a probability in [0, 1)"))
        XCTAssertTrue(message("token-recycling", ["tree-shape": "bushy"]).contains("--tree-shape must be reference"))
        XCTAssertTrue(message("dola", ["dola-layers": "2,x"]).contains("--dola-layers must be high, low"))
        XCTAssertTrue(message("frobnicate", [:]).contains("unknown strategy 'frobnicate'"))
    }
}

import XCTest
import Decoding
import Transformer

/// Every registered strategy runs on the synthetic Qwen2 and GPT-2 models through the model
/// protocol alone (no per-architecture code in the strategies), and the strategies that verify
/// plain greedy decoding (`processorUse == .none`: speculative, prompt lookup, Token Recycling,
/// ADED, lookahead) reproduce greedy decoding token for token.
final class EveryStrategyOnEveryArchitectureTests: XCTestCase {
    /// Option values the strategies need beyond their defaults (as `StrategyRecordTests` gives them).
    static let required: [String: String] = ["seed": "3", "penalty-alpha": "0.6", "draft-layers": "1", "context-ids": "1,2",
                                                   // The shipped heads read SmolLM2's 576-wide states; seeded random heads fit any model.
                                                   "medusa-heads": "random:7:3",
                                                   // PPD and Chimera with seeded random weights (the shipped ones fit SmolLM2 only).
                                                   "ppd-prompts": "random:7:3", "chimera-weights": "random:7"]

    func testEveryRegisteredStrategyRunsAndTheGreedyVerifyingOnesEqualGreedy() throws {
        let prompt = [1, 2, 3, 4, 5, 17, 300, 17]
        let stopping = StoppingCriteria(maxNewTokens: 12)
        for name in SyntheticArchitectures.names {
            let model = try SyntheticArchitectures.anyModel(named: name)
            let greedy = try GreedyDecoding.Strategy().generate(model: model, prompt: prompt, stopping: stopping).generation.outputIDs
            XCTAssertEqual(greedy.count, 12)
            var lossless = 0
            for type in DecodingStrategies.all {
                var values: [String: String] = [:]
                for option in type.options where option.required || ["draft-layers", "context-ids", "medusa-heads", "ppd-prompts", "chimera-weights"].contains(option.name) {
                    values[option.name] = Self.required[option.name]
                }
                let strategy: any DecodingStrategy
                do {
                    strategy = try type.init(arguments: StrategyArguments(values), processors: .none, context: StrategyContext())
                } catch {
                    XCTFail("\(type.name): cannot be built from its defaults and \(values) (\(error)); give this test the option it needs")
                    continue
                }
                let output = try strategy.generate(model: model, prompt: prompt, stopping: stopping).generation.outputIDs
                XCTAssertEqual(output.count, 12, "\(type.name) on \(name)")
                XCTAssertTrue(output.allSatisfy { (0..<model.shape.vocabularySize).contains($0) }, "\(type.name) on \(name)")
                if type.processorUse == .none {
                    XCTAssertEqual(output, greedy, "\(type.name) on \(name) must reproduce greedy decoding")
                    lossless += 1
                }
            }
            XCTAssertGreaterThanOrEqual(lossless, 5, "speculative, prompt-lookup, token-recycling, aded, lookahead")
        }
    }
}

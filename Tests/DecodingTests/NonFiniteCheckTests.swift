import XCTest
import Tensors
import Transformer
@testable import Decoding

/// NaN or infinite logits are a typed error naming the first position and layer where a
/// non-finite value appears, never a generated token.
final class NonFiniteCheckTests: XCTestCase {
    /// `preset` (tiny-a by default) with every element of `tensor`, or only `onlyElement`, replaced by `value`.
    func poisonedModel(_ tensor: String, value: Float = .nan, onlyElement: Int? = nil, preset: SyntheticModels.Preset = SyntheticModels.tinyA) throws -> LlamaModel {
        let configuration = preset.configuration
        var byName: [String: (shape: [Int], values: [Float])] = [:]
        for t in SyntheticModels.huggingFaceTensors(configuration: configuration, seed: preset.seed) {
            byName[t.name] = (t.shape, t.values)
        }
        var poisoned = try XCTUnwrap(byName[tensor])
        if let i = onlyElement { poisoned.values[i] = value } else { poisoned.values = poisoned.values.map { _ in value } }
        byName[tensor] = poisoned
        return try LlamaModel(configuration: configuration, huggingFaceTensors: { name in
            guard let t = byName[name] else { throw ModelError.missingTensor(name) }
            return t
        }, origin: "poisoned")
    }

    func testAllFiniteAgreesWithANaiveScanOnEveryLengthAndPosition() {
        for count in [0, 1, 15, 16, 17, 33, 1025] {
            let clean = (0..<count).map { Float($0) * 0.5 - 3 }
            XCTAssertTrue(NonFiniteCheck.allFinite(clean), "\(count)")
            for bad: Float in [.nan, .infinity, -.infinity, .signalingNaN] {
                for position in Set([0, count / 2, count - 1]) where position >= 0 && position < count {
                    var values = clean
                    values[position] = bad
                    XCTAssertFalse(NonFiniteCheck.allFinite(values), "count \(count), \(bad) at \(position)")
                }
            }
        }
        // Large finite values whose difference or sum would overflow are still finite.
        XCTAssertTrue(NonFiniteCheck.allFinite([Float](repeating: .greatestFiniteMagnitude, count: 40)))
    }

    func testNaNWeightsInALayerAreReportedAtThatLayerAndPositionZeroByEveryDecodingStart() throws {
        let model = try poisonedModel("model.layers.1.mlp.down_proj.weight")
        let stopping = StoppingCriteria(maxNewTokens: 3)
        XCTAssertThrowsError(try GreedyDecoding.generate(model: model, prompt: [1, 2, 3], stopping: stopping)) { error in
            XCTAssertEqual(error as? ModelError, .nonFiniteActivations(layer: 1, position: 0))
        }
        let diagnosis = try NonFiniteCheck.diagnose(model: model, tokens: [1, 2, 3])
        XCTAssertEqual(diagnosis, .nonFiniteActivations(layer: 1, position: 0))
        XCTAssertTrue(diagnosis.description.contains("layer 1"), diagnosis.description)
    }

    func testAPoisonedEmbeddingRowIsFoundAtTheFirstPositionThatUsesIt() throws {
        // Only token 7's embedding row holds a NaN; positions before it stay finite (tiny-b: the
        // output head is not the embedding, so the other logits stay finite too).
        let preset = SyntheticModels.tinyB
        let model = try poisonedModel("model.embed_tokens.weight", onlyElement: 7 * preset.configuration.hiddenSize + 3, preset: preset)
        for chunk in [1, 2, 64] {
            XCTAssertEqual(try NonFiniteCheck.diagnose(model: model, tokens: [1, 2, 3, 7, 4], chunk: chunk), .nonFiniteActivations(layer: 0, position: 3))
        }
        XCTAssertNoThrow(try GreedyDecoding.generate(model: model, prompt: [1, 2, 3], stopping: StoppingCriteria(maxNewTokens: 1)))
    }

    func testANaNOutputNormLeavesEveryLayerFiniteAndBlamesTheLogits() throws {
        let model = try poisonedModel("model.norm.weight")
        XCTAssertEqual(try NonFiniteCheck.diagnose(model: model, tokens: [4, 5]), .nonFiniteActivations(layer: nil, position: 0))
    }

    func testTraceCheckFlagsNaNAndPlusInfinityButNotMaskedScores() {
        let fine = TraceStep(token: 1, logit: 2, topLogits: [.init(id: 1, logit: 2), .init(id: 0, logit: -.infinity)])
        let nan = TraceStep(token: 0, logit: .nan, topLogits: [])
        let inf = TraceStep(token: 0, logit: 1, topLogits: [.init(id: 0, logit: .infinity)])
        XCTAssertNil(NonFiniteCheck.firstNonFiniteStep([fine, fine]))
        XCTAssertEqual(NonFiniteCheck.firstNonFiniteStep([fine, nan, inf]), 1)
        XCTAssertEqual(NonFiniteCheck.firstNonFiniteStep([fine, inf]), 1)
    }

    func testAHealthyModelPassesTheCheckAndGeneratesAsBefore() throws {
        let model = try SyntheticModels.model(SyntheticModels.tinyA)
        let g = try GreedyDecoding.generate(model: model, prompt: [1, 2, 3], stopping: StoppingCriteria(maxNewTokens: 4))
        XCTAssertEqual(g.outputIDs.count, 4)
        XCTAssertNil(NonFiniteCheck.firstNonFiniteStep(g.trace))
    }
}

/// MAT (mean accepted tokens) counts the tokens verification steps emitted, not those they
/// accepted past the end of the generation.
final class SpeculativeStatisticsTests: XCTestCase {
    func testMATCountsOnlyEmittedTokensWhenMaxNewTokensCutsTheLastStep() throws {
        let model = try SyntheticModels.model(SyntheticModels.tinyA)
        for (maxNew, drafted) in [(4, 5), (2, 5), (7, 3), (12, 3)] {
            // The target drafting for itself: every drafted token is accepted.
            var drafter = DraftModelDrafter(model: model, numTokens: drafted)
            let g = try SpeculativeDecoding.generate(model: model, prompt: [1, 2, 3], drafter: &drafter, maxDraftTokens: drafted,
                                                     stopping: StoppingCriteria(maxNewTokens: maxNew))
            let s = g.statistics
            XCTAssertEqual(g.outputIDs.count, maxNew)
            // The first token comes from the prefill; every later one from a verification step.
            XCTAssertEqual(s.tokensFromVerification, maxNew - 1, "max \(maxNew), draft \(drafted)")
            XCTAssertEqual(s.verificationSteps, Int((Double(maxNew - 1) / Double(drafted + 1)).rounded(.up)))
            XCTAssertLessThanOrEqual(s.meanAcceptedTokens, Double(drafted + 1))
            XCTAssertEqual(s.meanAcceptedTokens, Double(maxNew - 1) / Double(s.verificationSteps), accuracy: 1e-12)
        }
    }
}

import Foundation
import XCTest
import Formats
import Tensors
import Transformer

final class SyntheticModelTests: XCTestCase {
    func testSyntheticWeightsAreAFunctionOfConfigurationAndSeed() {
        let c = SyntheticModels.tinyA.configuration
        let first = SyntheticModels.huggingFaceTensors(configuration: c, seed: 1)
        let again = SyntheticModels.huggingFaceTensors(configuration: c, seed: 1)
        let other = SyntheticModels.huggingFaceTensors(configuration: c, seed: 7)
        XCTAssertEqual(first.map(\.name), again.map(\.name))
        for (x, y) in zip(first, again) { assertBitIdentical(x.values, y.values, x.name) }
        XCTAssertNotEqual(first[0].values.prefix(8).map(\.bitPattern), other[0].values.prefix(8).map(\.bitPattern))
    }

    /// Pins the recipe documented on `SyntheticModels`: the first draws of seed 1 and the bounds.
    func testRecipeMatchesItsDocumentation() {
        let c = SyntheticModels.tinyA.configuration
        let tensors = SyntheticModels.huggingFaceTensors(configuration: c, seed: 1)
        var g = Xoshiro256StarStar(seed: 1)
        let embedding = tensors[0]
        XCTAssertEqual(embedding.name, "model.embed_tokens.weight")
        XCTAssertEqual(embedding.shape, [512, 64])
        for i in 0..<4 { XCTAssertEqual(embedding.values[i].bitPattern, (g.nextUniformFloat() * 2 - 1).bitPattern) }
        XCTAssertEqual(tensors.map(\.name).prefix(4), ["model.embed_tokens.weight", "model.layers.0.input_layernorm.weight",
                                                       "model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.k_proj.weight"])
        XCTAssertEqual(tensors.last?.name, "model.norm.weight", "tied: no lm_head")
        let b = SyntheticModels.huggingFaceTensors(configuration: SyntheticModels.tinyB.configuration, seed: 2)
        XCTAssertEqual(b.last?.name, "lm_head.weight")
        XCTAssertEqual(b.count, 1 + 3 * 9 + 2)
        let bound = Float((3.0 / 64.0).squareRoot())
        let q = tensors[2].values
        XCTAssertTrue(q.allSatisfy { abs($0) <= bound })
        XCTAssertGreaterThan(q.map(abs).max()!, bound * 0.99)
        let norm = tensors[1].values
        XCTAssertTrue(norm.allSatisfy { $0 >= 0.9375 && $0 <= 1.0625 })
    }

    func testCheckedInFixturesEqualRegeneratedBytes() throws {
        let regenerate = ProcessInfo.processInfo.environment["TOUCHSTONE_REGENERATE_FIXTURES"] == "1"
        for preset in SyntheticModels.presets {
            let fixture = ModelFixtures.directory(preset)
            if regenerate { try SyntheticModels.write(preset, to: fixture) }
            let fresh = ModelFixtures.temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: fresh) }
            try SyntheticModels.write(preset, to: fresh)
            for file in ["model.safetensors", "config.json"] {
                let expected = try Data(contentsOf: URL(fileURLWithPath: fixture + "/" + file))
                let actual = try Data(contentsOf: URL(fileURLWithPath: fresh + "/" + file))
                XCTAssertTrue(expected == actual, "\(preset.name)/\(file) differs from the regenerated file; if the recipe changed on purpose, rerun with TOUCHSTONE_REGENERATE_FIXTURES=1 and the peer script")
            }
        }
    }

    func testSafetensorsRoundTripGivesIdenticalLogits() throws {
        for (preset, model) in zip(SyntheticModels.presets, TinyModels.both) {
            let directory = ModelFixtures.temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            try SyntheticModels.write(preset, to: directory)
            let loaded = try LlamaModel(safetensorsDirectory: directory)
            XCTAssertEqual(loaded.configuration, model.configuration)
            let prompt = seededTokens(9, vocabularySize: preset.configuration.vocabularySize, seed: 11)
            let cacheA = KVCache(shape: model.shape), cacheB = KVCache(shape: loaded.shape)
            let a = try model.forward(tokens: prompt, cache: cacheA, logitRows: .all).logits
            let b = try loaded.forward(tokens: prompt, cache: cacheB, logitRows: .all).logits
            assertBitIdentical(a, b, preset.name)
            assertBitIdentical(try model.forward(tokens: [3], cache: cacheA).logits, try loaded.forward(tokens: [3], cache: cacheB).logits)
        }
    }

    func testConfigJSONRoundTripsThePresetConfiguration() throws {
        for preset in SyntheticModels.presets {
            let hf = try LlamaHFConfig(jsonData: preset.configuration.huggingFaceConfig().jsonData())
            XCTAssertEqual(LlamaConfiguration(hf), preset.configuration)
        }
    }
}

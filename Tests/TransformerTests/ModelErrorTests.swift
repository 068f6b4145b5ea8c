import XCTest
import Tensors
import Transformer

/// Invalid input becomes a typed `ModelError`, never a crash, and leaves the cache unchanged.
final class ModelErrorTests: XCTestCase {
    /// Runs `body` on `TinyModels.a` with a 3-token cache and checks that it throws `expected`
    /// (any `.invalidInput` when nil), leaves the cache at 3 slots, and that the cache still
    /// gives the same logits afterwards.
    func assertThrows(_ expected: ModelError?, file: StaticString = #filePath, line: UInt = #line,
                      _ body: (LlamaModel, KVCache) throws -> Void) throws {
        let model = TinyModels.a
        let cache = KVCache(shape: model.shape)
        _ = try model.forward(tokens: [1, 2, 3], cache: cache, logitRows: .none)
        let before = try model.forward(tokens: [4], cache: cache).logits
        cache.rollback(to: 3)
        XCTAssertThrowsError(try body(model, cache), file: file, line: line) { error in
            guard let e = error as? ModelError else { return XCTFail("not a ModelError: \(error)", file: file, line: line) }
            if let expected { XCTAssertEqual(e, expected, file: file, line: line) }
            if case .invalidInput = e {} else if expected == nil { XCTFail("expected invalidInput, got \(e)", file: file, line: line) }
            XCTAssertFalse(e.description.isEmpty)
        }
        XCTAssertEqual(cache.length, 3, "a failed forward must not change the cache", file: file, line: line)
        assertBitIdentical(try model.forward(tokens: [4], cache: cache).logits, before, "the cache still works", file: file, line: line)
    }

    func testTokenOutOfRangeThrowsTokenOutOfRange() throws {
        try assertThrows(.tokenOutOfRange(token: 512, vocabularySize: 512)) { m, c in _ = try m.forward(tokens: [5, 512], cache: c) }
        try assertThrows(.tokenOutOfRange(token: -1, vocabularySize: 512)) { m, c in _ = try m.forward(tokens: [-1], cache: c) }
    }

    func testContextOverflowThrowsContextOverflow() throws {
        try assertThrows(.contextOverflow(needed: 257, limit: 256)) { m, c in
            _ = try m.forward(tokens: [Int](repeating: 1, count: 254), cache: c)
        }
        try assertThrows(.contextOverflow(needed: 257, limit: 256)) { m, c in _ = try m.forward(tokens: [1], positions: [256], cache: c) }
    }

    func testNegativePositionThrowsInvalidInputNotContextOverflow() throws {
        try assertThrows(nil) { m, c in _ = try m.forward(tokens: [1], positions: [-1], cache: c) }
        try assertThrows(nil) { m, c in _ = try m.forward(tokens: [1, 2], positions: [3, -5], cache: c) }
    }

    func testCacheOfAnotherConfigurationThrowsInvalidInput() throws {
        // tiny-b: 3 layers, KV row width 48; tiny-a's cache: 2 layers, row width 32 (and back).
        XCTAssertThrowsError(try TinyModels.b.forward(tokens: [1, 2], cache: KVCache(shape: TinyModels.a.shape))) { error in
            guard case .invalidInput = error as? ModelError else { return XCTFail("expected invalidInput, got \(error)") }
        }
        try assertThrows(nil) { _, c in _ = try TinyModels.b.forward(tokens: [1], cache: c) }
        var wider = TinyModels.a.configuration
        wider.kvHeadCount = 4  // same layer count, wider rows
        try assertThrows(nil) { m, _ in _ = try m.forward(tokens: [1], cache: KVCache(shape: wider.shape)) }
    }

    func testBadTreeParentsThrowInvalidInput() throws {
        try assertThrows(nil) { m, c in _ = try m.forward(tokens: [1, 2], mask: .tree(parents: [-1, 1]), cache: c) }   // self-parent
        try assertThrows(nil) { m, c in _ = try m.forward(tokens: [1, 2], mask: .tree(parents: [1, -1]), cache: c) }   // child first
        try assertThrows(nil) { m, c in _ = try m.forward(tokens: [1, 2], mask: .tree(parents: [-2, 0]), cache: c) }   // below -1
        try assertThrows(nil) { m, c in _ = try m.forward(tokens: [1, 2], mask: .tree(parents: [-1]), cache: c) }      // count
    }

    func testExplicitMaskOfWrongSizeThrowsInvalidInput() throws {
        // Cache holds 3 slots, batch of 2: rows need 5 entries.
        let good = [true, true, true, true, false]
        try assertThrows(nil) { m, c in _ = try m.forward(tokens: [1, 2], mask: .explicit([good]), cache: c) }
        try assertThrows(nil) { m, c in _ = try m.forward(tokens: [1, 2], mask: .explicit([good, [true, true, true, true]]), cache: c) }
        try assertThrows(nil) { m, c in _ = try m.forward(tokens: [1, 2], mask: .explicit([good, good + [true]]), cache: c) }
        try assertThrows(nil) { m, c in _ = try m.forward(tokens: [1, 2], mask: .explicit([good, [Bool](repeating: false, count: 5)]), cache: c) }
    }

    func testOtherInvalidCallsThrowInvalidInput() throws {
        try assertThrows(nil) { m, c in _ = try m.forward(tokens: [], cache: c) }
        try assertThrows(nil) { m, c in _ = try m.forward(tokens: [1, 2], positions: [3], cache: c) }
        try assertThrows(nil) { m, c in _ = try m.forward(tokens: [1, 2], cache: c, logitRows: .rows([2])) }
    }

    func testInvalidConfigurationThrowsInvalidConfiguration() {
        var c = SyntheticModels.tinyA.configuration
        c.kvHeadCount = 3
        XCTAssertThrowsError(try SyntheticModels.model(configuration: c, seed: 1)) { error in
            guard case .invalidConfiguration = error as? ModelError else { return XCTFail("\(error)") }
        }
    }

    func testMissingOrMisshapenTensorsThrowTypedErrors() {
        let c = SyntheticModels.tinyB.configuration
        let tensors = SyntheticModels.huggingFaceTensors(configuration: c, seed: 2)
        func load(dropping dropped: String? = nil, reshaping reshaped: String? = nil) throws -> LlamaModel {
            try LlamaModel(configuration: c, huggingFaceTensors: { name in
                guard name != dropped, let t = tensors.first(where: { $0.name == name }) else { throw ModelError.missingTensor(name) }
                return (name == reshaped ? [t.shape.reversed().first!, t.shape.first!] : t.shape, t.values)
            }, origin: "test")
        }
        XCTAssertThrowsError(try load(dropping: "lm_head.weight")) { XCTAssertEqual($0 as? ModelError, .missingTensor("lm_head.weight")) }
        XCTAssertThrowsError(try load(reshaping: "model.layers.1.mlp.up_proj.weight")) {
            XCTAssertEqual($0 as? ModelError, .tensorShape(name: "model.layers.1.mlp.up_proj.weight", expected: [160, 96], found: [96, 160]))
        }
    }
}

import Foundation
import XCTest
@testable import Decoding
import Formats
import Tensors
import Tokenization
@testable import Transformer

final class ParallelPromptDecodingTests: XCTestCase {
    /// Every architecture: the Llama presets, Qwen2, GPT-2 and Gemma 3.
    static func models() throws -> [(name: String, model: any CausalLanguageModel)] {
        var result: [(name: String, model: any CausalLanguageModel)] = try SyntheticModels.presets.map { ($0.name, try SyntheticModels.model($0)) }
        for name in SyntheticArchitectures.names { result.append((name, try SyntheticArchitectures.anyModel(named: name))) }
        result.append(("gemma3", try TinyGemma3.model()))
        return result
    }

    func greedy(_ model: any CausalLanguageModel, _ prompt: [Int], _ n: Int, pool: ParallelFor = .shared) throws -> Generation {
        try GreedyDecoding.generate(model: model, prompt: prompt, stopping: StoppingCriteria(maxNewTokens: n), pool: pool)
    }

    // MARK: - Input embeddings in the model protocol

    /// An override equal to what `embed(token:)` writes gives bit-identical logits on every
    /// architecture (Gemma's given rows are post-scaling; GPT-2 still adds the position embedding),
    /// and a different override changes the overridden row's logits but not an earlier row's.
    func testInputEmbeddingsReplaceExactlyTheTokenEmbedding() throws {
        for (name, model) in try Self.models() {
            let C = model.shape.hiddenSize
            let tokens = [5, 9, 2, 7, 3]
            let plain = try model.forward(tokens: tokens, cache: model.makeCache(), logitRows: .all).logits
            var rows = [Float](repeating: 0, count: 2 * C)
            rows.withUnsafeMutableBufferPointer { p in
                model.embed(token: 2, into: p.baseAddress!)
                model.embed(token: 3, into: p.baseAddress! + C)
            }
            // The overridden rows carry token 0: only the given vectors count.
            let same = try model.forward(tokens: [5, 9, 0, 7, 0], inputEmbeddings: InputEmbeddings(rows: [2, 4], values: rows), positions: nil,
                                         mask: .causal, cache: model.makeCache(), logitRows: .all, taps: .none, pool: .shared).logits
            XCTAssertEqual(same, plain, name)
            var other = rows
            other[0] += 0.5
            let changed = try model.forward(tokens: tokens, inputEmbeddings: InputEmbeddings(rows: [2, 4], values: other), positions: nil,
                                            mask: .causal, cache: model.makeCache(), logitRows: .all, taps: .none, pool: .shared).logits
            let V = model.shape.vocabularySize
            XCTAssertEqual(Array(changed[0..<(2 * V)]), Array(plain[0..<(2 * V)]), "\(name): rows before the override are unchanged")
            XCTAssertNotEqual(Array(changed[(2 * V)..<(3 * V)]), Array(plain[(2 * V)..<(3 * V)]), "\(name): the overridden row changed")
        }
    }

    func testBadInputEmbeddingsThrowBeforeTheCacheChanges() throws {
        let model = try SyntheticModels.model(SyntheticModels.tinyA)
        let C = model.shape.hiddenSize
        let cache = model.makeCache()
        for bad in [InputEmbeddings(rows: [3], values: [Float](repeating: 0, count: C)),
                    InputEmbeddings(rows: [1, 0], values: [Float](repeating: 0, count: 2 * C)),
                    InputEmbeddings(rows: [0], values: [Float](repeating: 0, count: C + 1)),
                    InputEmbeddings(rows: [0], values: [Float](repeating: .nan, count: C))] {
            XCTAssertThrowsError(try model.forward(tokens: [1, 2], inputEmbeddings: bad, positions: nil, mask: .causal, cache: cache,
                                                   logitRows: .last, taps: .none, pool: .shared))
            XCTAssertEqual(cache.length, 0)
        }
    }

    // MARK: - Buffers

    /// `generate_buffers` worked by hand for K = 2 and nodes [0] (n 2), [1] (n 1), [0, 0] (n 1).
    ///
    /// Extended list, sorted (tree index): [-1] 1, [0] 2, [1] 3, [-1,-2] 4, [0,-1] 5, [0,0] 6,
    /// [1,-1] 7, [0,-1,-2] 8, [0,0,-1] 9. Only [0] (n 2) and the root (n K = 2) get a second marker.
    func testBuffersOfASmallTreeMatchHandComputedValues() throws {
        let tree = try PPDTree(nodes: [([0, 0], 1), ([1], 1), ([0], 2)], promptCount: 2)
        XCTAssertEqual(tree.realPaths, [[0], [1], [0, 0]])
        XCTAssertEqual(tree.extendedPaths, [[-1], [0], [1], [-1, -2], [0, -1], [0, 0], [1, -1], [0, -1, -2], [0, 0, -1]])
        XCTAssertEqual(tree.count, 10)
        XCTAssertEqual(tree.normalIndices, [0, 2, 3, 6])
        XCTAssertEqual(tree.specialIndices, [[1, 4], [5, 8], [7], [9]])
        XCTAssertEqual(tree.promptChainLengths, [2, 2, 1, 1])
        XCTAssertEqual(tree.parents, [-1, 0, 0, 0, 1, 2, 2, 3, 5, 6])
        XCTAssertEqual(tree.positionIDs, [0, 1, 1, 1, 2, 2, 2, 2, 3, 3])
        // Real node at depth d: last + 10 (d - 1) + 1; marker -j: -(K - j + 1).
        XCTAssertEqual(tree.treeIndices, [0, -2, 1, 2, -1, -2, 11, -2, -1, -2])
        XCTAssertEqual(tree.retrieveIndices, [[0, 1, 3], [0, 2, -1]])
        XCTAssertEqual(tree.depth, 2)
        // The mask row of [0,-1,-2] (tree index 8): root, [0] (2), [0,-1] (5), itself.
        XCTAssertEqual(tree.attentionMask[8].indices.filter { tree.attentionMask[8][$0] }, [0, 2, 5, 8])
        XCTAssertEqual(tree.attentionMask[6].indices.filter { tree.attentionMask[6][$0] }, [0, 2, 6])
    }

    /// Spec invariant 4 on every shipped table and a reference-shaped one: a prompt node's
    /// ancestors are its host's ancestors, the host and the earlier markers; `len(special) == n`;
    /// positions increase by one along every chain; the mask is the ancestor closure of `parents`;
    /// real nodes never see a prompt marker.
    func testBufferInvariantsHoldForEveryTable() throws {
        var tables: [PPDTreeTable] = []
        for K in 1...4 { for name in PPDTreeTable.namedTables where K == 3 || !name.hasPrefix("vicuna") { tables.append(try PPDTreeTable.parse(name, promptCount: K)) } }
        tables.append(try PPDTreeTable.parse(Self.referenceShaped, promptCount: 3))
        for table in tables {
            for (key, tree) in table.trees {
                let K = tree.promptCount
                let label = "K \(K) key \(key)"
                XCTAssertLessThanOrEqual(tree.depth, key, label)
                for (node, chain) in tree.specialIndices.enumerated() {
                    XCTAssertEqual(chain.count, tree.promptChainLengths[node], label)
                    let host = tree.normalIndices[node]
                    for (j, t) in chain.enumerated() {
                        XCTAssertEqual(tree.parents[t], j == 0 ? host : chain[j - 1], label)
                        XCTAssertEqual(tree.positionIDs[t], tree.positionIDs[host] + j + 1, label)
                        XCTAssertEqual(tree.treeIndices[t], -(K - (j + 1) + 1), label)
                        XCTAssertEqual(tree.extendedPaths[t - 1].last, -(j + 1), label)
                    }
                }
                var ancestors: [Set<Int>] = []
                for i in 0..<tree.count {
                    let p = tree.parents[i]
                    ancestors.append(p < 0 ? [i] : ancestors[p].union([i]))
                    XCTAssertEqual(Set(tree.attentionMask[i].indices.filter { tree.attentionMask[i][$0] }), ancestors[i].union([0]), label)
                    if p >= 0 { XCTAssertEqual(tree.positionIDs[i], tree.positionIDs[p] + 1, label) }
                }
                let markers = Set(tree.treeIndices.indices.filter { tree.treeIndices[$0] < 0 })
                for n in tree.normalIndices { XCTAssertTrue(ancestors[n].isDisjoint(with: markers), "\(label): real node \(n) sees a marker") }
                XCTAssertEqual(tree.normalIndices.count + markers.count, tree.count)
            }
        }
    }

    /// The spec's check values for the reference's `dynamic_sparse_trees_105`: 10 / 33 / 34 real
    /// nodes and 44 / 109 / 109 tree inputs for keys 1 / 2 / 3 (105 = real nodes + their prompt
    /// tokens, the root's 1 + 3 on top); the named tables need K = 3.
    func testReferenceTrees105HaveTheSpecsSizes() throws {
        let table = try PPDTreeTable.parse("vicuna-7b-105", promptCount: 3)
        XCTAssertEqual(table.trees.map(\.key), [1, 2, 3])
        XCTAssertEqual(table.trees.map { $0.tree.normalIndices.count - 1 }, [10, 33, 34])
        XCTAssertEqual(table.trees.map(\.tree.count), [44, 109, 109])
        XCTAssertEqual(table.trees.map(\.tree.depth), [1, 2, 3])
        // Key 1: ten depth-1 nodes, each with a chain of 3 prompt tokens; the retrieve rows are the ten leaves.
        let one = table.tree(forKey: 1)!
        XCTAssertEqual(one.specialIndices.map(\.count), [Int](repeating: 3, count: 11))
        XCTAssertEqual(one.retrieveIndices.count, 10)
        XCTAssertEqual(try PPDTreeTable.parse("vicuna-7b-10", promptCount: 3).trees.map { $0.tree.count - 4 }, [10, 10, 10])
        XCTAssertThrowsError(try PPDTreeTable.parse("vicuna-7b-105", promptCount: 2))
    }

    /// A table shaped like the reference's (`[path, acc, n]` entries, three keys, mixed n).
    static let referenceShaped = """
    {"1": [[[0], 0.48, 3], [[1], 0.14, 3], [[2], 0.07, 3]],
     "2": [[[0], 0.18, 2], [[1], 0.08, 2], [[0, 0], 0.12, 2], [[2], 0.05, 1], [[0, 1], 0.07, 1]],
     "3": [[[0], 0.18, 2], [[1], 0.08, 2], [[0, 0], 0.10, 2], [[0, 1], 0.07, 2], [[0, 0, 0], 0.02, 1], [[2], 0.05, 1]]}
    """

    func testTreeTablesParseAndBadTablesAreTypedErrors() throws {
        let named = try PPDTreeTable.parse("chain", promptCount: 3)
        let json = try PPDTreeTable.parse(#"{"3": [[[0, 0], 3], [[0], 3], [[0, 0, 0], 3]]}"#, promptCount: 3)
        XCTAssertEqual(named, json)
        XCTAssertEqual(named.tree(forKey: 3)!.count, 1 + 3 + 3 + 9)
        func message(_ text: String, _ K: Int = 3) -> String {
            do { _ = try PPDTreeTable.parse(text, promptCount: K); return "" } catch { return "\(error)" }
        }
        XCTAssertTrue(message("bushy").contains("unknown table 'bushy'"))
        XCTAssertTrue(message(#"{"4": [[[0], 3]], "3": [[[0], 3]]}"#).contains("depth key 4 outside 1...3"))
        XCTAssertTrue(message(#"{"3": [[[0], 3]], "1": [[[0], 1], [[0, 0], 1]]}"#).contains("at most d deep"))
        XCTAssertTrue(message(#"{"3": [[[0], 2]]}"#).contains("no tree for key 2"))
        XCTAssertTrue(message(#"{"2": [[[0], 2]]}"#).contains("no tree for depth key 3"))
        XCTAssertTrue(message(#"{"3": [[[0, 1], 3]]}"#).contains("without its prefix [0]"))
        XCTAssertTrue(message(#"{"3": [[[10], 3]]}"#).contains("ranks must be in 0..<10"))
        XCTAssertTrue(message(#"{"3": [[[0], 4]]}"#).contains("must be in 1...3"))
        XCTAssertTrue(message(#"{"3": [[[0], 3], [[0], 3]]}"#).contains("listed twice"))
        XCTAssertTrue(message(#"{"3": [[0, 3]]}"#).contains("is not [path, n]"))
        XCTAssertTrue(message("{nope").contains("is not a JSON object"))
    }

    // MARK: - Prompt embeddings

    func testSeededRandomPromptsAreReproducibleScaledAndDifferBySeed() throws {
        for (name, model) in try Self.models() {
            let a = PPDPrompts.random(seed: 3, count: 3, model: model)
            XCTAssertEqual(a, PPDPrompts.random(seed: 3, count: 3, model: model), name)
            XCTAssertNotEqual(a.values, PPDPrompts.random(seed: 4, count: 3, model: model).values, name)
            XCTAssertEqual(a.values.count, 3 * model.shape.hiddenSize)
            // RMS near the layer-0 inputs' RMS (a uniform draw with that RMS; n = 3C elements).
            let C = model.shape.hiddenSize
            var row = [Float](repeating: 0, count: C), sum = 0.0
            let ids = min(model.shape.vocabularySize, 1024)
            for t in 0..<ids {
                row.withUnsafeMutableBufferPointer { model.embed(token: t, into: $0.baseAddress!) }
                sum += row.reduce(0.0) { $0 + Double($1) * Double($1) }
            }
            let rho = (sum / Double(ids * C)).squareRoot()
            let rms = (a.values.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(a.values.count)).squareRoot()
            XCTAssertEqual(rms / rho, 1, accuracy: 0.25, name)
        }
    }

    func testPromptFilesRoundTripAndBadFilesAreTypedErrors() throws {
        let model = try SyntheticModels.model(SyntheticModels.tinyA)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ppd-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let prompts = PPDPrompts.random(seed: 5, count: 3, model: model)
        let path = dir.appendingPathComponent("p.safetensors").path
        try prompts.write(to: path, metadata: ["base_model": "tiny-a"])
        let loaded = try PPDPrompts.load(path: path)
        XCTAssertEqual(loaded.values, prompts.values)
        XCTAssertEqual(loaded.count, 3)
        // A file is accepted by the strategy and runs like the same embeddings given in memory.
        let strategy = try ParallelPromptDecoding.Strategy(prompts: path)
        XCTAssertNotNil(strategy.promptsSHA256)
        let fromFile = try strategy.generate(model: model, prompt: [1, 2, 3], stopping: StoppingCriteria(maxNewTokens: 10)).generation
        let inMemory = try ParallelPromptDecoding.generate(model: model, prompt: [1, 2, 3], prompts: prompts,
                                                           table: try PPDTreeTable.parse("chain", promptCount: 3),
                                                           stopping: StoppingCriteria(maxNewTokens: 10)).generation
        XCTAssertEqual(fromFile.outputIDs, inMemory.outputIDs)
        XCTAssertEqual(fromFile.trace, inMemory.trace)

        func message(_ body: () throws -> Void) -> String { do { try body(); return "" } catch { return "\(error)" } }
        // Wrong hidden size: the embeddings of another model.
        let wide = PPDPrompts(values: [Float](repeating: 0.1, count: 2 * 7), count: 2, hiddenSize: 7, origin: "w")
        let widePath = dir.appendingPathComponent("w.safetensors").path
        try wide.write(to: widePath)
        let m = message { _ = try ParallelPromptDecoding.Strategy(prompts: widePath).generate(model: model, prompt: [1], stopping: StoppingCriteria(maxNewTokens: 2)) }
        XCTAssertTrue(m.contains("7 wide but the model's hidden size is \(model.shape.hiddenSize)"), m)
        // Missing tensor, wrong rank, V > 1, metadata disagreeing, no file.
        func write(_ tensors: [(name: String, dtype: SafetensorsDType, shape: [Int], values: [Float])], _ meta: [String: String] = [:]) throws -> String {
            let p = dir.appendingPathComponent("\(UUID().uuidString).safetensors").path
            try SafetensorsWriter.write(tensors, metadata: meta, to: p)
            return p
        }
        let other = try write([(name: "weights", dtype: .f32, shape: [2, 4], values: [Float](repeating: 0, count: 8))])
        XCTAssertTrue(message { _ = try PPDPrompts.load(path: other) }.contains("no tensor 'prompt_embeddings'"))
        let flat = try write([(name: "prompt_embeddings", dtype: .f32, shape: [8], values: [Float](repeating: 0, count: 8))])
        XCTAssertTrue(message { _ = try PPDPrompts.load(path: flat) }.contains("expected [K, C]"))
        let ensemble = try write([(name: "prompt_embeddings", dtype: .f32, shape: [6, 4], values: [Float](repeating: 0, count: 24))],
                                 ["num_special_tokens": "3", "virtual_tokens_per_special_token": "2"])
        XCTAssertTrue(message { _ = try PPDPrompts.load(path: ensemble) }.contains("V = 1"))
        let disagree = try write([(name: "prompt_embeddings", dtype: .f32, shape: [2, 4], values: [Float](repeating: 0, count: 8))],
                                 ["num_special_tokens": "3"])
        XCTAssertTrue(message { _ = try PPDPrompts.load(path: disagree) }.contains("num_special_tokens = 3"))
        XCTAssertTrue(message { _ = try PPDPrompts.load(path: dir.appendingPathComponent("none").path) }.contains("no prompt-embedding file"))
        // An authors'-style adapter directory: adapter_config.json beside adapter_model.safetensors.
        let adapter = dir.appendingPathComponent("adapter")
        try FileManager.default.createDirectory(at: adapter, withIntermediateDirectories: true)
        let adapterModel = adapter.appendingPathComponent("adapter_model.safetensors").path
        try SafetensorsWriter.write([(name: "prompt_embeddings", dtype: .f32, shape: [6, 4], values: [Float](repeating: 0, count: 24))], metadata: [:], to: adapterModel)
        let configPath = adapter.appendingPathComponent("adapter_config.json")
        try Data(#"{"num_special_tokens": 3, "virtual_tokens_per_special_token": 2, "peft_type": "PROMPT_TUNING"}"#.utf8).write(to: configPath)
        XCTAssertTrue(message { _ = try PPDPrompts.load(path: adapterModel) }.contains("virtual_tokens_per_special_token = 2"))
        try Data(#"{"num_special_tokens": 3, "virtual_tokens_per_special_token": 1}"#.utf8).write(to: configPath)
        XCTAssertTrue(message { _ = try PPDPrompts.load(path: adapterModel) }.contains("num_special_tokens = 3 but the embeddings have 6 rows"))
        try Data(#"{"num_special_tokens": 6, "virtual_tokens_per_special_token": 1}"#.utf8).write(to: configPath)
        XCTAssertEqual(try PPDPrompts.load(path: adapterModel).count, 6)
        // Half precision loads as its widened values.
        let half = try write([(name: "prompt_embeddings", dtype: .f16, shape: [1, 4], values: [0.5, -1, 0.25, 2])])
        XCTAssertEqual(try PPDPrompts.load(path: half).values, [0.5, -1, 0.25, 2])
    }

    func testStrategyOptionsAreValidatedAndRecorded() throws {
        func message(_ values: [String: String]) -> String {
            do { _ = try DecodingStrategies.make("ppd", arguments: StrategyArguments(values)); return "" } catch { return "\(error)" }
        }
        // The default is the shipped SmolLM2 embeddings: loaded and named (with the file's SHA-256)
        // when the file is there, a message saying where it was looked for otherwise.
        if ShippedWeights.find(PPDPrompts.shippedRelativePath) != nil {
            XCTAssertEqual(message([:]), "")
            let shipped = try ParallelPromptDecoding.Strategy()
            XCTAssertEqual(shipped.parameters.first?.1, .string("shipped"))
            XCTAssertTrue(shipped.parameters.contains { $0.0 == "ppd_prompts_sha256" })
        } else {
            XCTAssertTrue(message([:]).contains("were not found"))
        }
        XCTAssertTrue(message(["ppd-prompts": "random:1"]).contains("random:SEED:K"))
        XCTAssertTrue(message(["ppd-prompts": "/nonexistent/p.safetensors"]).contains("no prompt-embedding file"))
        XCTAssertTrue(message(["ppd-prompts": "random:1:3", "ppd-tree": "bushy"]).contains("unknown table"))
        let s = try ParallelPromptDecoding.Strategy(prompts: "random:7:3", tree: "dynamic")
        XCTAssertEqual(JSONValue.object(s.parameters).serialized(), #"{"ppd_prompts":"random:7:3","ppd_tree":"dynamic"}"#)
        let rebuilt = try DecodingStrategies.make(algorithm: "ppd", record: s.parameters, seed: nil)
        XCTAssertEqual(JSONValue.object(rebuilt.parameters).serialized(), JSONValue.object(s.parameters).serialized())
        let model = try SyntheticModels.model(SyntheticModels.tinyB)
        let out = try s.generate(model: model, prompt: [4, 5, 6], stopping: StoppingCriteria(maxNewTokens: 16))
        let stats = Dictionary(uniqueKeysWithValues: out.statistics.map { ($0.0, $0.1) })
        XCTAssertEqual(stats["ppd_prompt_tokens"], .int(3))
        XCTAssertEqual(stats["tree_nodes"], .int(4))
        XCTAssertEqual(stats["tree_inputs"], .int(1 + 3 + 4 + 9 + 1))  // root, its 3 markers, 4 real nodes, the chain's 3 × 3 markers, [1]'s one
        XCTAssertGreaterThan(out.generation.statistics.meanAcceptedTokens, 0)
    }

    // MARK: - The loop

    /// Spec invariants 1 and 2: greedy PPD equals greedy decoding for random prompt embeddings, on
    /// every architecture, several prompts and every table; each step emits 1…depth + 1 ≤ K + 1.
    func testGreedyPPDEqualsGreedyForRandomPromptsOnEveryArchitecture() throws {
        let tables = PPDTreeTable.namedTables + [Self.referenceShaped]  // K = 3: every named table applies
        var accepted = 0
        for (name, model) in try Self.models() {
            let V = model.shape.vocabularySize
            for (p, prompt) in [[1, 2, 3, 4, 5], [17, 30, 17, 30, 17], [25], [9, 8, 7, 6, 5, 4, 3, 2]].enumerated() {
                let prompt = prompt.map { $0 % V }
                let reference = try greedy(model, prompt, 30)
                for (t, tableName) in tables.enumerated() {
                    let table = try PPDTreeTable.parse(tableName, promptCount: 3)
                    let prompts = PPDPrompts.random(seed: UInt64(10 * p + t), count: 3, model: model)
                    var perStep: [(emitted: Int, key: Int)] = []
                    let (g, run) = try ParallelPromptDecoding.run(model: model, prompt: prompt, prompts: prompts, table: table,
                                                                  stopping: StoppingCriteria(maxNewTokens: 30), traceTopK: 5, pool: .shared,
                                                                  onToken: nil) { _, _, tree, emitted in
                        perStep.append((emitted, tree.map { t in table.trees.first { $0.tree == t }!.key } ?? 0))
                    }
                    let label = "\(name) prompt \(p) table \(t)"
                    XCTAssertEqual(g.outputIDs, reference.outputIDs, label)
                    XCTAssertEqual(g.trace.map(\.logit), reference.trace.map(\.logit), label)
                    XCTAssertEqual(g.trace.map(\.topLogits), reference.trace.map(\.topLogits), label)
                    for s in perStep {
                        XCTAssertGreaterThanOrEqual(s.emitted, 1, label)
                        XCTAssertLessThanOrEqual(s.emitted, (table.tree(forKey: s.key)?.depth ?? 0) + 1, label)  // key 0: a plain step
                        XCTAssertLessThanOrEqual(s.emitted, 3 + 1, label)
                    }
                    let steps = g.trace.compactMap(\.accepted)
                    XCTAssertEqual(steps.count, g.statistics.verificationSteps, label)
                    XCTAssertEqual(run.acceptedLengths.reduce(0, +), steps.count, label)
                    // Steps whose tree did not fit after the cache (vicuna-7b-105's 109 inputs near a tiny
                    // model's context limit) verify the pending token alone and run under no key.
                    let plain = g.trace.filter { $0.drafted == [] }.count
                    XCTAssertEqual(run.keyCounts.reduce(0, +), steps.count - plain, label)
                    accepted += g.statistics.acceptedDraftTokens
                }
            }
        }
        XCTAssertGreaterThan(accepted, 100, "random prompt guesses were accepted often enough to exercise the update")
    }

    /// Spec invariant 3: after the prefill and after every step the cache holds exactly the prompt
    /// and every emitted token but the pending one, with the keys and values a plain forward over
    /// them computes (no prompt-token KV survives).
    func testKVCacheAfterEveryStepEqualsAPlainForwardOverTheIDs() throws {
        for (name, model) in try Self.models() {
            let prompt = [17, 30, 17, 30, 17].map { $0 % model.shape.vocabularySize }
            var checkedSteps = 0
            let table = try PPDTreeTable.parse(Self.referenceShaped, promptCount: 3)
            _ = try ParallelPromptDecoding.run(model: model, prompt: prompt, prompts: PPDPrompts.random(seed: 2, count: 3, model: model), table: table,
                                               stopping: StoppingCriteria(maxNewTokens: 24), traceTopK: 0, pool: .shared, onToken: nil) { cache, output, _, _ in
                let ids = prompt + output.dropLast()
                XCTAssertEqual(cache.length, ids.count)
                XCTAssertEqual(cache.positions, Array(0..<ids.count))
                let plain = model.makeCache()
                _ = try? model.forward(tokens: ids, cache: plain, logitRows: .none)
                for l in 0..<cache.layerCount {
                    for slot in 0..<ids.count {
                        for c in 0..<cache.rowWidth {
                            if cache.keyTiles[l][cache.tileIndex(slot, c)] != plain.keyTiles[l][plain.tileIndex(slot, c)]
                                || cache.valueTiles[l][cache.valueIndex(slot, c)] != plain.valueTiles[l][plain.valueIndex(slot, c)] {
                                XCTFail("\(name): layer \(l) slot \(slot) element \(c) differs after \(output.count) tokens"); return
                            }
                        }
                    }
                }
                checkedSteps += 1
            }
            XCTAssertGreaterThan(checkedSteps, 3, name)
        }
    }

    /// The prompt tokens' guesses depend on their embeddings: two seeds give different drafts
    /// (and the same output).
    func testDraftsComeFromThePromptEmbeddings() throws {
        let model = try SyntheticModels.model(SyntheticModels.tinyA)
        let table = try PPDTreeTable.parse("wide", promptCount: 3)
        func run(_ seed: UInt64) throws -> Generation {
            try ParallelPromptDecoding.generate(model: model, prompt: [3, 1, 4], prompts: PPDPrompts.random(seed: seed, count: 3, model: model),
                                                table: table, stopping: StoppingCriteria(maxNewTokens: 20)).generation
        }
        let a = try run(1), b = try run(2)
        XCTAssertEqual(a.outputIDs, b.outputIDs)
        XCTAssertNotEqual(a.trace.compactMap(\.drafted), b.trace.compactMap(\.drafted))
    }

    func testOutputIsIdenticalForOneTwoAndThreeThreads() throws {
        let model = try SyntheticModels.model(SyntheticModels.tinyB)
        let prompts = PPDPrompts.random(seed: 9, count: 3, model: model)
        let table = try PPDTreeTable.parse(Self.referenceShaped, promptCount: 3)
        var results: [Generation] = []
        for threads in [1, 2, 3] {
            let pool = ParallelFor(threadCount: threads)
            results.append(try ParallelPromptDecoding.generate(model: model, prompt: [5, 6, 7, 8], prompts: prompts, table: table,
                                                               stopping: StoppingCriteria(maxNewTokens: 24), pool: pool).generation)
        }
        XCTAssertEqual(results[0].outputIDs, results[1].outputIDs)
        XCTAssertEqual(results[0].trace, results[1].trace)
        XCTAssertEqual(results[0].trace, results[2].trace)
    }

    /// Near the context limit the tree no longer fits and steps verify the pending token alone;
    /// the output still equals greedy, up to the same context-limit stop. EOS ends both alike.
    func testContextLimitAndEndOfSequenceMatchGreedy() throws {
        let model = try SyntheticModels.model(SyntheticModels.tinyA)
        let limit = model.shape.contextLength
        let prompts = PPDPrompts.random(seed: 1, count: 3, model: model)
        let table = try PPDTreeTable.parse("wide", promptCount: 3)
        for promptLength in [limit - 40, limit - 2, limit - 1] {
            let prompt = (0..<promptLength).map { ($0 * 7 + 3) % model.shape.vocabularySize }
            let reference = try greedy(model, prompt, 100)
            let g = try ParallelPromptDecoding.generate(model: model, prompt: prompt, prompts: prompts, table: table,
                                                        stopping: StoppingCriteria(maxNewTokens: 100)).generation
            XCTAssertEqual(g.outputIDs, reference.outputIDs, "prompt length \(promptLength)")
            XCTAssertEqual(g.stopReason, reference.stopReason, "prompt length \(promptLength)")
        }
        let reference = try greedy(model, [1, 2, 3], 30)
        let eos = reference.outputIDs[7]
        let stop = StoppingCriteria(maxNewTokens: 30, endOfSequenceIDs: [eos])
        let plain = try GreedyDecoding.generate(model: model, prompt: [1, 2, 3], stopping: stop)
        let g = try ParallelPromptDecoding.generate(model: model, prompt: [1, 2, 3], prompts: prompts, table: table, stopping: stop).generation
        XCTAssertEqual(g.outputIDs, plain.outputIDs)
        XCTAssertEqual(g.outputIDs.last, eos)
    }

    /// On SmolLM2 (skipped without the model): greedy PPD equals greedy for seeded random prompt
    /// embeddings and for prompts made of real token embeddings ("Next word word"), on two
    /// prompts and two tables; the 576-wide embeddings are checked against the model.
    func testSmolLM2GreedyPPDEqualsGreedyWithRandomPrompts() throws {
        let loaded = try SmolLM2TestModel.load()
        let model = loaded.model, tokenizer = try XCTUnwrap(loaded.tokenizer)
        let prompts = [
            tokenizer.encode(ChatTemplate.chatML.apply(messages: [("user", "Write a Python function that reverses a list.")], addGenerationPrompt: true)),
            tokenizer.encode("The history of the city of Paris"),
        ]
        let C = model.shape.hiddenSize
        let words = tokenizer.encode(" Next word word")
        var textValues = [Float](repeating: 0, count: words.count * C)
        textValues.withUnsafeMutableBufferPointer { p in for (j, t) in words.enumerated() { model.embed(token: t, into: p.baseAddress! + j * C) } }
        let text = PPDPrompts(values: textValues, count: words.count, hiddenSize: C, origin: "text init")
        for (p, prompt) in prompts.enumerated() {
            let reference = try greedy(model, prompt, 40)
            for (embeddings, tableName) in [(PPDPrompts.random(seed: 1, count: 3, model: model), "wide"), (text, "chain"),
                                            (PPDPrompts.random(seed: 2, count: 3, model: model), Self.referenceShaped)] {
                let table = try PPDTreeTable.parse(tableName, promptCount: embeddings.count)
                let (g, _) = try ParallelPromptDecoding.generate(model: model, prompt: prompt, prompts: embeddings, table: table,
                                                                 stopping: StoppingCriteria(maxNewTokens: 40))
                XCTAssertEqual(g.outputIDs, reference.outputIDs, "prompt \(p) \(embeddings.origin)")
                XCTAssertEqual(g.trace.map(\.logit), reference.trace.map(\.logit))
            }
        }
    }
}

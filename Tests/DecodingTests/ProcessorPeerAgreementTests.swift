import Foundation
import XCTest
import Decoding
import Tensors
import Transformer
import Loader

/// Agreement with the independent peer: Hugging Face's own processor classes applied to its own
/// Float32 logits of SmolLM2-135M-Instruct (Fixtures/peer/processors/distributions.json, made by
/// Scripts/peer_processors.py). Touchstone must give the identical support and every stored
/// probability within 2e-5. Skips when the model file is absent.
final class ProcessorPeerAgreementTests: XCTestCase {
    static let fixture = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/peer/processors/distributions.json")

    static func parameters(_ json: [String: Any]) -> SamplingParameters {
        var p = SamplingParameters()
        p.temperature = json["temperature"] as? Double
        p.topK = json["top_k"] as? Int
        p.topP = json["top_p"] as? Double
        p.minP = json["min_p"] as? Double
        p.typicalP = json["typical_p"] as? Double
        p.epsilonCutoff = json["epsilon_cutoff"] as? Double
        p.etaCutoff = json["eta_cutoff"] as? Double
        p.repetitionPenalty = json["repetition_penalty"] as? Double
        p.noRepeatNgramSize = json["no_repeat_ngram_size"] as? Int
        p.minNewTokens = json["min_new_tokens"] as? Int
        p.badWordsIDs = json["bad_words_ids"] as? [[Int]]
        if let b = json["logit_bias"] as? [String: Double] {
            p.logitBias = Dictionary(uniqueKeysWithValues: b.map { (Int($0.key)!, $0.value) })
        }
        p.suppressTokens = json["suppress_tokens"] as? [Int]
        p.eosTokenIDs = json["eos_token_ids"] as? [Int] ?? []
        return p
    }

    struct Case {
        let name: String
        let parameters: SamplingParameters
        let supportSize: Int
        let ids: [Int]
        let probabilities: [Double]
    }

    static func load() throws -> (top: Int, prompts: [(ids: [Int], peerLogits: [Float], cases: [Case])]) {
        let doc = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: fixture)) as? [String: Any])
        let prompts = try XCTUnwrap(doc["prompts"] as? [[String: Any]]).map { prompt in
            let data = try Data(contentsOf: fixture.deletingLastPathComponent().appendingPathComponent(prompt["logits_file"] as! String))
            let logits = data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            let cases = (prompt["cases"] as! [[String: Any]]).map { c in
                Case(name: c["name"] as! String, parameters: parameters(c["parameters"] as! [String: Any]),
                     supportSize: c["support_size"] as! Int, ids: c["ids"] as! [Int], probabilities: c["probabilities"] as! [Double])
            }
            return (prompt["prompt_ids"] as! [Int], logits, cases)
        }
        return (try XCTUnwrap(doc["top"] as? Int), prompts)
    }

    /// Compares Touchstone's processed distribution of `logits` with a peer case; returns max |Δp|.
    @discardableResult
    static func compare(_ c: Case, logits: [Float], ids: [Int], top: Int, tolerance: Double, file: StaticString = #filePath, line: UInt = #line) throws -> Double {
        let chain = try ProcessorChain.make(c.parameters, order: .hf, sampling: true)
        var scores = logits
        chain.process(&scores, context: ProcessorContext(inputIDs: ids, promptLength: ids.count))
        let p = Sampler.probabilities(from: scores)
        let ours = SampleDecoding.distribution(ofProcessedScores: scores, limit: top)
        XCTAssertEqual(ours.supportSize, c.supportSize, "\(c.name) support size, prompt \(ids.prefix(6))", file: file, line: line)
        if ours.supportSize <= top {
            XCTAssertEqual(Set(ours.top.map(\.id)), Set(c.ids), "\(c.name) support, prompt \(ids.prefix(6))", file: file, line: line)
        }
        var maxDiff = 0.0
        for (id, q) in zip(c.ids, c.probabilities) { maxDiff = max(maxDiff, abs(Double(p[id]) - q)) }
        XCTAssertLessThanOrEqual(maxDiff, tolerance, "\(c.name), prompt \(ids.prefix(6))", file: file, line: line)
        return maxDiff
    }

    /// Same logits in, same processed distribution out: isolates the processors from the model.
    func testProcessorsOnThePeersOwnLogitsGiveItsSupportAndProbabilitiesWithin2e5() throws {
        let reference = try Self.load()
        XCTAssertEqual(reference.prompts.count, 3)
        var worst: [String: Double] = [:]
        for prompt in reference.prompts {
            XCTAssertEqual(prompt.peerLogits.count, 49152)
            for c in prompt.cases {
                let d = try Self.compare(c, logits: prompt.peerLogits, ids: prompt.ids, top: reference.top, tolerance: 2e-5)
                worst[c.name] = max(worst[c.name] ?? 0, d)
            }
        }
        for (name, d) in worst.sorted(by: { $0.key < $1.key }) { print("processors on peer logits — \(name): max |Δp| = \(d)") }
    }

    /// End to end: Touchstone's own SmolLM2 logits (≤ 8e-5 from the peer's) through Touchstone's
    /// processors: identical support and every probability within 2e-5 (the ARCHITECTURE target).
    func testProcessedDistributionsFromOurOwnLogitsMatchThePeer() throws {
        let path = ProcessInfo.processInfo.environment["TOUCHSTONE_MODEL"] ?? ModelStore.cachedPath(of: ModelStore.smolLM2)
        guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("SmolLM2 GGUF not found at \(path); run `touchstone fetch`") }
        let reference = try Self.load()
        let model = try ModelStore.load(path: path).model
        var worst: [String: Double] = [:]
        for prompt in reference.prompts {
            let cache = KVCache(shape: model.shape, initialCapacity: prompt.ids.count)
            let logits = Array(try model.forward(tokens: prompt.ids, cache: cache, logitRows: .last).logits(row: 0))
            var logitDiff: Float = 0
            for i in 0..<logits.count { logitDiff = max(logitDiff, abs(logits[i] - prompt.peerLogits[i])) }
            print("prompt \(prompt.ids.prefix(6)): max |Δlogit| vs peer = \(logitDiff)")
            for c in prompt.cases {
                let d = try Self.compare(c, logits: logits, ids: prompt.ids, top: reference.top, tolerance: 2e-5)
                worst[c.name] = max(worst[c.name] ?? 0, d)
            }
        }
        for (name, d) in worst.sorted(by: { $0.key < $1.key }) { print("end to end — \(name): max |Δp| = \(d)") }
    }
}

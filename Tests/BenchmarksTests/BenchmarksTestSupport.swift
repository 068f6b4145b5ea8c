import Foundation
import XCTest
import Tokenization
import Transformer

/// Fixtures of the benchmark tests: the repository's Fixtures directory, the tiny tokenizer and
/// synthetic models built in-process (no download).
enum BenchmarkFixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `Fixtures/tokenizer/tiny-tokenizer.json`: 601 ids, ChatML special tokens 1 and 2.
    static func tinyTokenizer() throws -> BPETokenizer {
        let data = try Data(contentsOf: root.appendingPathComponent("Fixtures/tokenizer/tiny-tokenizer.json"))
        return try BPETokenizer(tokenizerJSON: data, eosToken: "<|endoftext|>")
    }

    /// A synthetic model (the `SyntheticModels` recipe) whose vocabulary covers the tiny
    /// tokenizer's 601 ids, so ChatML prompts can run on it.
    static func modelForTinyTokenizer() throws -> any CausalLanguageModel {
        try SyntheticModels.model(configuration: LlamaConfiguration(hiddenSize: 32, intermediateSize: 64, layerCount: 2, headCount: 2, kvHeadCount: 1,
                                                                    vocabularySize: 608, contextLength: 256, rmsNormEpsilon: 1e-5,
                                                                    ropeTheta: 10000, tiedEmbeddings: true),
                                  seed: 7)
    }

    /// A file in the temporary directory holding `data`, removed by the caller.
    static func temporaryFile(_ name: String, _ data: Data) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("touchstone-benchmarks-\(getpid())-\(name)")
        try data.write(to: url)
        return url
    }
}

import Foundation
import XCTest
@testable import Formats

final class LlamaConfigTests: XCTestCase {
    /// SmolLM2-135M-Instruct's config.json (as published on the Hugging Face Hub, abridged).
    static let smolLM2 = """
    {
      "architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
      "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu", "hidden_size": 576,
      "initializer_range": 0.041666666666666664, "intermediate_size": 1536, "is_llama_config": true,
      "max_position_embeddings": 8192, "mlp_bias": false, "model_type": "llama",
      "num_attention_heads": 9, "num_hidden_layers": 30, "num_key_value_heads": 3,
      "pad_token_id": 2, "pretraining_tp": 1, "rms_norm_eps": 1e-05, "rope_interleaved": false,
      "rope_scaling": null, "rope_theta": 100000, "tie_word_embeddings": true,
      "torch_dtype": "bfloat16", "transformers_version": "4.42.3", "use_cache": true, "vocab_size": 49152
    }
    """

    func testParsesSmolLM2Config() throws {
        let config = try LlamaHFConfig(jsonData: Data(Self.smolLM2.utf8))
        XCTAssertEqual(config, LlamaHFConfig(hiddenSize: 576, intermediateSize: 1536, numHiddenLayers: 30,
                                             numAttentionHeads: 9, numKeyValueHeads: 3, vocabSize: 49152,
                                             maxPositionEmbeddings: 8192, headDim: nil, rmsNormEps: 1e-5,
                                             ropeTheta: 100000, tieWordEmbeddings: true, bosTokenId: 1, eosTokenId: 2))
        XCTAssertEqual(config.resolvedHeadDim, 64)
    }

    /// jsonData → init(jsonData:) is the identity, and the output is sorted, pretty JSON.
    func testJSONRoundTripAndLayout() throws {
        let config = LlamaHFConfig(hiddenSize: 64, intermediateSize: 96, numHiddenLayers: 2, numAttentionHeads: 4,
                                   numKeyValueHeads: 2, vocabSize: 259, maxPositionEmbeddings: 128, headDim: 16,
                                   rmsNormEps: 1e-5, ropeTheta: 10000, tieWordEmbeddings: false, bosTokenId: 1, eosTokenId: nil)
        let data = config.jsonData()
        XCTAssertEqual(try LlamaHFConfig(jsonData: data), config)
        let text = String(decoding: data, as: UTF8.self)
        XCTAssertTrue(text.hasPrefix("{\n  \"architectures\": [\n    \"LlamaForCausalLM\"\n  ],\n  \"bos_token_id\": 1,\n"), text)
        XCTAssertTrue(text.contains("\"rms_norm_eps\": 1e-05,\n"), text)
        XCTAssertTrue(text.contains("\"torch_dtype\": \"float32\""))
        XCTAssertFalse(text.contains("eos_token_id"))
        let keys = text.split(separator: "\n").filter { $0.hasPrefix("  \"") }.map { $0.split(separator: "\"")[1] }
        XCTAssertEqual(keys, keys.sorted())
    }

    func testErrorsNameTheKey() {
        func error(_ json: String) -> FormatError? {
            do { _ = try LlamaHFConfig(jsonData: Data(json.utf8)); return nil } catch { return error as? FormatError }
        }
        let base = "\"model_type\": \"llama\", \"hidden_size\": 8, \"intermediate_size\": 8, \"num_hidden_layers\": 1, \"num_attention_heads\": 2, \"vocab_size\": 10, \"rms_norm_eps\": 1e-6"
        XCTAssertNil(error("{\(base)}"))
        XCTAssertEqual(error("{\"model_type\": \"llama\"}"), .missingKey("hidden_size"))
        XCTAssertEqual(error("{\(base), \"max_position_embeddings\": \"big\"}"), .wrongType(key: "max_position_embeddings", expected: "an integer"))
        XCTAssertEqual(error("{\(base), \"num_key_value_heads\": 1.5}"), .wrongType(key: "num_key_value_heads", expected: "an integer"))
        XCTAssertEqual(error("{\(base), \"tie_word_embeddings\": 1}"), .wrongType(key: "tie_word_embeddings", expected: "true or false"))
        XCTAssertEqual(error("{\(base.replacingOccurrences(of: "\"llama\"", with: "\"mistral\""))}")?.caseName, "unsupported")
        XCTAssertEqual(error("{\(base), \"rope_scaling\": {\"type\": \"linear\", \"factor\": 2.0}}")?.caseName, "unsupported")
        XCTAssertEqual(error("{\(base), \"eos_token_id\": [2, 3]}")?.caseName, "wrongType")
        XCTAssertEqual(try LlamaHFConfig(jsonData: Data("{\(base), \"eos_token_id\": [7]}".utf8)).eosTokenId, 7)
        XCTAssertEqual(error("[1, 2]")?.caseName, "invalidJSON")
        XCTAssertEqual(error("{not json")?.caseName, "invalidJSON")
    }
}

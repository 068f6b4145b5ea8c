import XCTest
@testable import Formats

/// config.json token ids and RoPE base must be usable values, as the GGUF path requires.
final class ConfigTokenIDRangeTests: XCTestCase {
    let base = "\"model_type\": \"llama\", \"hidden_size\": 8, \"intermediate_size\": 8, \"num_hidden_layers\": 1, \"num_attention_heads\": 2, \"vocab_size\": 10, \"rms_norm_eps\": 1e-6"

    func error(_ json: String) -> FormatError? {
        do { _ = try LlamaHFConfig(jsonData: Data(json.utf8)); return nil } catch { return error as? FormatError }
    }

    func testEOSAndBOSIDsOutsideTheVocabularyAreRejectedNamingTheKey() {
        for (key, id) in [("eos_token_id", "9999"), ("eos_token_id", "-1"), ("eos_token_id", "10"), ("bos_token_id", "10"), ("eos_token_id", "[12]")] {
            let e = error("{\(base), \"\(key)\": \(id)}")
            XCTAssertEqual(e?.caseName, "wrongType", "\(key) \(id)")
            XCTAssertTrue(e.map { "\($0)" }?.contains(key) == true, "\(String(describing: e))")
        }
        for id in ["0", "9", "[9]"] { XCTAssertNil(error("{\(base), \"eos_token_id\": \(id)}"), id) }
    }

    func testNonPositiveRopeThetaIsRejected() {
        XCTAssertEqual(error("{\(base), \"rope_theta\": 0}")?.caseName, "wrongType")
        XCTAssertEqual(error("{\(base), \"rope_theta\": -5}")?.caseName, "wrongType")
        // 1e999 overflows to +inf in binary64 (or is refused by the JSON parser); either way it is an error.
        XCTAssertNotNil(error("{\(base), \"rope_theta\": 1e999}"))
    }
}

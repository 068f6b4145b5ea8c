import XCTest
@testable import Formats

/// Checks against the real SmolLM2-135M-Instruct Q4_1 GGUF (expectations verified with gguf-py's
/// GGUFReader); skipped when the file is absent.
final class RealModelTests: XCTestCase {
    func testSmolLM2GGUFParsesWithExpectedStructure() throws {
        guard let path = FixturePaths.realModel else { throw XCTSkip("real model not present") }
        let file = try GGUFFile(path: path)
        XCTAssertEqual(file.version, 3)
        XCTAssertEqual(file.alignment, 32)
        XCTAssertEqual(file.metadata["general.architecture"]?.string, "llama")
        XCTAssertEqual(file.metadata["llama.block_count"]?.int, 30)
        XCTAssertEqual(file.metadata["llama.embedding_length"]?.int, 576)
        XCTAssertEqual(file.metadata["llama.attention.head_count"]?.int, 9)
        XCTAssertEqual(file.metadata["llama.attention.head_count_kv"]?.int, 3)
        XCTAssertEqual(file.metadata["llama.feed_forward_length"]?.int, 1536)
        XCTAssertEqual(file.metadata["llama.attention.layer_norm_rms_epsilon"], .float32(1e-5))
        XCTAssertEqual(file.metadata["tokenizer.ggml.tokens"]?.strings?.count, 49152)
        XCTAssertEqual(file.metadata["tokenizer.ggml.merges"]?.strings?.count, 48900)
        XCTAssertEqual(file.metadataKeys.count, 33)
        XCTAssertEqual(file.metadataKeys.first, "general.architecture")
        XCTAssertEqual(file.tensors.count, 272)
        XCTAssertEqual(file.tensors.filter { $0.type == .q4_1 }.count, 210)
        XCTAssertEqual(file.tensors.filter { $0.type == .f32 }.count, 61)
        let embedding = try XCTUnwrap(file.tensor(named: "token_embd.weight"))
        XCTAssertEqual(embedding.type, .q8_0)
        XCTAssertEqual(embedding.shape, [576, 49152])
        XCTAssertEqual(embedding.offset, 1_785_664)
        XCTAssertEqual(embedding.byteCount, 30_081_024)
        XCTAssertEqual(file.tensor(named: "blk.0.attn_q.weight")?.type, .q4_1)
        XCTAssertEqual(file.tensor(named: "blk.0.attn_q.weight")?.shape, [576, 576])
        let norm = try file.dequantize(named: "blk.0.attn_norm.weight")
        XCTAssertEqual(norm.count, 576)
        XCTAssertTrue(norm.allSatisfy { $0.isFinite })
    }

    /// Dequantized real tensors hash (FNV-1a over little-endian 64-bit words of the Float32
    /// output) to the values gguf-py's `dequantize` gives for the same bytes.
    func testSmolLM2DequantizationMatchesGGUFPyHashes() throws {
        guard let path = FixturePaths.realModel else { throw XCTSkip("real model not present") }
        let file = try GGUFFile(path: path)
        func fnv(_ values: [Float]) -> UInt64 {
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for i in stride(from: 0, to: values.count, by: 2) {
                hash ^= UInt64(values[i].bitPattern) | UInt64(values[i + 1].bitPattern) << 32
                hash = hash &* 0x0000_0100_0000_01b3
            }
            return hash
        }
        XCTAssertEqual(fnv(try file.dequantize(named: "blk.0.attn_q.weight")), 0x5d78_87b7_bd70_4525)
        XCTAssertEqual(fnv(try file.dequantize(named: "blk.29.ffn_down.weight")), 0xdabe_c165_d353_bf25)
        let embedding = try XCTUnwrap(file.tensor(named: "token_embd.weight"))
        let firstRows = try dequantize(.q8_0, from: UnsafeRawBufferPointer(rebasing: file.data(for: embedding)[0..<(100 * 18 * 34)]), count: 100 * 576)
        XCTAssertEqual(fnv(firstRows), 0xec5c_821d_f065_8d65)
    }
}

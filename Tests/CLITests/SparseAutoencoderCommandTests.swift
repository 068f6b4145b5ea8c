import Foundation
import XCTest

/// `touchstone atoms` through the executable on the synthetic tiny-a model (hidden 64, 2 blocks),
/// with an autoencoder file written here byte by byte (safetensors layout).
final class SparseAutoencoderCommandTests: XCTestCase {
    var tinyModel: String { CommandLineTests.root.appendingPathComponent("Fixtures/models/tiny-a").path }

    /// A safetensors image of F32 tensors in the given order with `metadata`.
    func safetensors(_ tensors: [(String, [Int], [Float])], metadata: [String: String]) -> Data {
        var entries: [String] = ["\"__metadata__\":{" + metadata.sorted { $0.key < $1.key }.map { "\"\($0.key)\":\"\($0.value)\"" }.joined(separator: ",") + "}"]
        var body = Data(), offset = 0
        for (name, shape, values) in tensors {
            entries.append("\"\(name)\":{\"dtype\":\"F32\",\"shape\":[\(shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(offset + values.count * 4)]}")
            for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { body.append(contentsOf: $0) } }
            offset += values.count * 4
        }
        let header = Data(("{" + entries.joined(separator: ",") + "}").utf8)
        var out = Data()
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { out.append(contentsOf: $0) }
        return out + header + body
    }

    func testAtomsJSONListsEveryPositionsActiveAtomsSortedWithLensTokens() throws {
        guard FileManager.default.isExecutableFile(atPath: CommandLineTests.executable.path) else { throw XCTSkip("touchstone executable not found") }
        let d = 64, n = 12
        // Atom i reads and writes dimension i; b_e = 0.1 · i so every atom is active with a = x_i + 0.1 i.
        var encoder = [Float](repeating: 0, count: n * d), decoder = [Float](repeating: 0, count: d * n)
        for i in 0..<n { encoder[i * d + i] = 1; decoder[i * n + i] = 1 }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("atoms-\(getpid()).safetensors")
        defer { try? FileManager.default.removeItem(at: file) }
        try safetensors([("W_e", [n, d], encoder), ("b_e", [n], (0..<n).map { Float($0) * 0.1 }), ("W_d", [d, n], decoder),
                         ("b_d", [d], [Float](repeating: 0, count: d)), ("theta", [n], [Float](repeating: -100, count: n))],
                        metadata: ["activation": "jumprelu", "layer": "1"]).write(to: file)
        let r = try CommandLineTests.runProcess(CommandLineTests.executable,
                                                ["atoms", "--model", tinyModel, "--sae", file.path, "--prompt-ids", "3,17,200", "--top", "4", "--lens-top", "2", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let doc = try XCTUnwrap(JSONSerialization.jsonObject(with: r.stdoutData) as? [String: Any])
        XCTAssertEqual(doc["layer"] as? Int, 1)
        XCTAssertEqual(doc["activation"] as? String, "jumprelu")
        XCTAssertEqual(doc["atom_count"] as? Int, n)
        XCTAssertNotNil(doc["r2"] as? Double)
        let positions = try XCTUnwrap(doc["positions"] as? [[String: Any]])
        XCTAssertEqual(positions.map { $0["position"] as? Int }, [0, 1, 2])
        for p in positions {
            let atoms = try XCTUnwrap(p["atoms"] as? [[String: Any]])
            XCTAssertEqual(atoms.count, 4)
            let z = atoms.map { $0["activation"] as! Double }
            XCTAssertEqual(z, z.sorted(by: >))
            XCTAssertEqual((atoms[0]["lens"] as? [[Double]])?.count, 2)
            XCTAssertGreaterThan(p["squared_error"] as! Double, 0)   // only 12 of 64 dimensions are reconstructed
        }
        // --layer must match the file's metadata; a missing file is an error naming it.
        let wrong = try CommandLineTests.runProcess(CommandLineTests.executable, ["atoms", "--model", tinyModel, "--sae", file.path, "--layer", "2", "--prompt-ids", "3"])
        XCTAssertEqual(wrong.status, 2, wrong.stderr)
        XCTAssert(wrong.stderr.contains("trained on hidden_states[1]"), wrong.stderr)
        let missing = try CommandLineTests.runProcess(CommandLineTests.executable, ["atoms", "--model", tinyModel, "--sae", "/nonexistent.safetensors", "--prompt-ids", "3"])
        XCTAssertEqual(missing.status, 1, missing.stderr)
        XCTAssert(missing.stderr.contains("/nonexistent.safetensors"), missing.stderr)
    }
}

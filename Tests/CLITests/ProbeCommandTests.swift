import Foundation
import XCTest

/// `touchstone lens`, `touchstone neurons` and `--clamp-neuron` through the executable, on the
/// synthetic tiny-a model (2 blocks, FFN 128, vocabulary 512).
final class ProbeCommandTests: XCTestCase {
    var tinyModel: String { CommandLineTests.root.appendingPathComponent("Fixtures/models/tiny-a").path }

    func run(_ arguments: [String]) throws -> CommandLineTests.Run {
        guard FileManager.default.isExecutableFile(atPath: CommandLineTests.executable.path) else {
            throw XCTSkip("touchstone executable not found beside the test bundle")
        }
        return try CommandLineTests.runProcess(CommandLineTests.executable, arguments)
    }

    func json(_ r: CommandLineTests.Run) throws -> [String: Any] {
        XCTAssertEqual(r.status, 0, r.stderr)
        return try XCTUnwrap(JSONSerialization.jsonObject(with: r.stdoutData) as? [String: Any])
    }

    func testLensJSONHasEveryPositionAndLayerAndItsFinalLayerIsTheModelsArgmax() throws {
        let prompt = "3,17,200,5"
        let doc = try json(try run(["lens", "--model", tinyModel, "--prompt-ids", prompt, "--top", "3", "--json"]))
        let positions = try XCTUnwrap(doc["positions"] as? [[String: Any]])
        XCTAssertEqual(positions.map { $0["position"] as? Int }, [0, 1, 2, 3])
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("lens-logits-\(getpid()).f32").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        let logits = try json(try run(["logits", "--model", tinyModel, "--prompt-ids", prompt, "--out", out, "--json"]))
        let argmax = try XCTUnwrap(logits["argmax"] as? [Int])
        for (t, p) in positions.enumerated() {
            let layers = try XCTUnwrap(p["layers"] as? [[String: Any]])
            XCTAssertEqual(layers.map { $0["layer"] as? Int }, [0, 1, 2])
            let last = layers[2]
            XCTAssertEqual(last["kl_to_final"] as? Double, 0)
            let top = try XCTUnwrap(last["top"] as? [[Double]])
            XCTAssertEqual(top.count, 3)
            XCTAssertEqual(Int(top[0][0]), argmax[t])
        }
        let some = try json(try run(["lens", "--model", tinyModel, "--prompt-ids", prompt, "--layers", "2,0", "--no-norm", "--json"]))
        XCTAssertEqual(((some["positions"] as! [[String: Any]])[0]["layers"] as! [[String: Any]]).map { $0["layer"] as? Int }, [0, 2])
        XCTAssertEqual(some["norm"] as? Bool, false)
    }

    func testLensAndNeuronsRejectOutOfRangeLayersAndTokens() throws {
        for (args, message) in [(["lens", "--prompt-ids", "1,2", "--layers", "0,3"], "outside 0...2"),
                                (["lens", "--prompt-ids", "1,2", "--layers", "x"], "not a layer"),
                                (["neurons", "--layer", "2"], "outside 0...1"),
                                (["neurons", "--matrix", "sideways"], "--matrix"),
                                (["neurons", "--final-norm", "maybe"], "--final-norm"),
                                (["neurons", "--find", "512"], "outside the vocabulary")] {
            let r = try run(args + ["--model", tinyModel])
            XCTAssertEqual(r.status, 2, "\(args): \(r.stderr)")
            XCTAssert(r.stderr.contains(message), "\(args): \(r.stderr)")
        }
    }

    func testNeuronsDecodesEveryNeuronAndFindKeepsThoseWithThatTopToken() throws {
        let all = try json(try run(["neurons", "--model", tinyModel, "--top", "2", "--threads", "2", "--json"]))
        let neurons = try XCTUnwrap(all["neurons"] as? [[String: Any]])
        XCTAssertEqual(neurons.count, 2 * 128)
        let first = Int((neurons[0]["top"] as! [[Double]])[0][0])
        let expected = neurons.filter { Int(($0["top"] as! [[Double]])[0][0]) == first }.count
        let found = try json(try run(["neurons", "--model", tinyModel, "--find", "\(first)", "--json", "--threads", "1"]))
        XCTAssertEqual((found["neurons"] as? [[String: Any]])?.count, expected)
        XCTAssertEqual(found["token"] as? Int, first)
    }

    func testClampNeuronIsRecordedInGenerateAndOutOfRangeClampsAreUsageErrors() throws {
        let base = ["generate", "--model", tinyModel, "--prompt-ids", "1,2,3", "--max-new-tokens", "4", "--json"]
        let plain = try json(try run(base))
        let clamped = try json(try run(base + ["--clamp-neuron", "1:5:40", "--clamp-neuron", "0:7:-30:gated"]))
        let record = try XCTUnwrap((clamped["stats"] as? [String: Any])?["neuron_clamps"] as? [[Any]])
        XCTAssertEqual(record.count, 2)
        XCTAssertEqual(record[1][3] as? String, "gated")
        XCTAssertNil((plain["stats"] as? [String: Any])?["neuron_clamps"])
        for (clamp, message) in [("2:0:1", "layer 2 is outside"), ("0:128:1", "neuron 128 is outside"), ("0:1", "expected layer:neuron:value")] {
            let r = try run(base + ["--clamp-neuron", clamp])
            XCTAssertEqual(r.status, 2, r.stderr)
            XCTAssert(r.stderr.contains(message), r.stderr)
        }
    }
}

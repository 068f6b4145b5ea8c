import Foundation

/// Fixture locations relative to this file, so the tests work both in the standalone package and
/// after being copied into the main repository (`Tests/FormatsTests` → `Fixtures/formats`).
enum FixturePaths {
    static let formats: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // FormatsTests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()  // package root
        .appendingPathComponent("Fixtures/formats")

    static func url(_ relative: String) -> URL { formats.appendingPathComponent(relative) }

    /// The real SmolLM2 model, if present: TOUCHSTONE_MODEL, else the cache `touchstone fetch`
    /// fills (TOUCHSTONE_CACHE or ~/.cache/touchstone, resolved as `ModelStore` does; this target
    /// does not link `Transformer`).
    static var realModel: String? {
        let env = ProcessInfo.processInfo.environment
        let cache = env["TOUCHSTONE_CACHE"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory() + "/.cache/touchstone"
        let path = env["TOUCHSTONE_MODEL"] ?? cache + "/SmolLM2-135M-Instruct.Q4_1.gguf"
        return FileManager.default.fileExists(atPath: path) ? path : nil
    }

    /// A fresh temporary file path (not created).
    static func temporaryFile(_ suffix: String) -> String {
        NSTemporaryDirectory() + "touchstone-formats-\(UUID().uuidString)\(suffix)"
    }
}

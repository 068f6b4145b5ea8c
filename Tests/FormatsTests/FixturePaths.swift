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

    /// The real SmolLM2 model, if present (env TOUCHSTONE_MODEL overrides the default cache path).
    static var realModel: String? {
        let path = ProcessInfo.processInfo.environment["TOUCHSTONE_MODEL"]
            ?? "/root/.cache/touchstone/SmolLM2-135M-Instruct.Q4_1.gguf"
        return FileManager.default.fileExists(atPath: path) ? path : nil
    }

    /// A fresh temporary file path (not created).
    static func temporaryFile(_ suffix: String) -> String {
        NSTemporaryDirectory() + "touchstone-formats-\(UUID().uuidString)\(suffix)"
    }
}

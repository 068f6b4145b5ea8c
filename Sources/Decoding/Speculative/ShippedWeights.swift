import Foundation

/// Trained weights committed under `Weights/` (Medusa heads, PPD prompt embeddings, …): where a
/// `shipped` option value is looked for.
public enum ShippedWeights {
    /// The places a file `relativePath` (relative to the checkout) is looked for, in order: the
    /// checkout this file was compiled from (found via `#filePath`, as `FixtureStore` finds
    /// `Fixtures/`), then the current directory and up to four of its parents.
    public static func candidates(relativePath: String, sourceFile: String = #filePath,
                                  currentDirectory: String = FileManager.default.currentDirectoryPath) -> [String] {
        // <checkout>/Sources/Decoding/Speculative/ShippedWeights.swift → <checkout>
        var checkout = URL(fileURLWithPath: sourceFile)
        for _ in 0..<4 { checkout = checkout.deletingLastPathComponent() }
        var result = [checkout.appendingPathComponent(relativePath).path]
        var dir = URL(fileURLWithPath: currentDirectory)
        for _ in 0..<5 {
            result.append(dir.appendingPathComponent(relativePath).path)
            dir = dir.deletingLastPathComponent()
        }
        var seen = Set<String>()
        return result.filter { seen.insert($0).inserted }
    }

    /// The first existing candidate of `relativePath`, or nil.
    public static func find(_ relativePath: String) -> String? {
        candidates(relativePath: relativePath).first { FileManager.default.fileExists(atPath: $0) }
    }
}

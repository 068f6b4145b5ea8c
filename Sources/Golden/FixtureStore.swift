import Foundation

/// A directory of golden fixtures laid out as `<root>/<model>/<name>.json` (the shipped one is
/// `Fixtures/golden/` of the Touchstone checkout), and how to find the shipped one from a
/// package that depends on Touchstone.
///
/// SwiftPM checks a dependency out as a full source tree — the package directory itself for
/// `.package(path:)`, `.build/checkouts/<name>/` for `.package(url:from:)` — and compiles this
/// file from there, so `#filePath` points into that tree while its tests run. `shipped()`
/// searches, in order: `$TOUCHSTONE_FIXTURES` (a `golden` directory, or a directory containing
/// one), the checkout this file was compiled from, then the current directory and its parents.
/// Nothing is copied into a resource bundle, so the fixtures stay the repository's files.
public struct FixtureStore: Equatable {
    /// The directory that holds `<model>/<name>.json`.
    public let root: URL

    public init(root: URL) {
        self.root = root
    }

    /// The fixtures shipped with Touchstone (see the type's documentation for the search order).
    /// Throws `GoldenError.fixturesNotFound` listing the places searched.
    public static func shipped() throws -> FixtureStore {
        let candidates = searchedDirectories()
        for url in candidates where isFixtureDirectory(url) { return FixtureStore(root: url) }
        throw GoldenError.fixturesNotFound(searched: candidates.map(\.path))
    }

    /// The directories `shipped()` tries, in order.
    public static func searchedDirectories(environment: [String: String] = ProcessInfo.processInfo.environment,
                                           sourceFile: String = #filePath,
                                           currentDirectory: String = FileManager.default.currentDirectoryPath) -> [URL] {
        var result: [URL] = []
        if let env = environment["TOUCHSTONE_FIXTURES"], !env.isEmpty {
            let url = URL(fileURLWithPath: env)
            result.append(url.lastPathComponent == "golden" ? url : url.appendingPathComponent("golden"))
        }
        // <checkout>/Sources/Golden/FixtureStore.swift → <checkout>/Fixtures/golden
        let checkout = URL(fileURLWithPath: sourceFile).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        result.append(checkout.appendingPathComponent("Fixtures/golden"))
        var dir = URL(fileURLWithPath: currentDirectory)
        for _ in 0..<4 {
            result.append(dir.appendingPathComponent("Fixtures/golden"))
            dir = dir.deletingLastPathComponent()
        }
        return result
    }

    static func isFixtureDirectory(_ url: URL) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    /// The file of a fixture named `<model>/<name>` (a `.json` suffix is accepted).
    public func url(named name: String) -> URL {
        root.appendingPathComponent(name.hasSuffix(".json") ? name : name + ".json")
    }

    /// Loads the fixture named `<model>/<name>`, e.g. `"smollm2/greedy-0"`. Throws
    /// `GoldenError.fixtureNotFound` (with the names this store has) or `.invalid`.
    public func fixture(named name: String) throws -> Fixture {
        let url = url(named: name)
        guard FileManager.default.fileExists(atPath: url.path) else {
            let known = (try? names()) ?? []
            throw GoldenError.fixtureNotFound(name: name, root: root.path, known: known)
        }
        return try Fixture(contentsOf: url)
    }

    /// The names (`<model>/<name>`) of every fixture in the store, sorted.
    public func names() throws -> [String] {
        let fm = FileManager.default
        guard let models = try? fm.contentsOfDirectory(atPath: root.path) else {
            throw GoldenError.io(path: root.path, reason: "cannot list the directory")
        }
        var result: [String] = []
        for model in models.sorted() {
            let dir = root.appendingPathComponent(model)
            guard Self.isFixtureDirectory(dir), let files = try? fm.contentsOfDirectory(atPath: dir.path) else { continue }
            result += files.filter { $0.hasSuffix(".json") }.map { "\(model)/\(String($0.dropLast(5)))" }
        }
        return result.sorted()
    }
}

extension Fixture {
    /// Reads and parses a fixture file. Throws `GoldenError.io` or `.invalid` (naming the file).
    public init(contentsOf url: URL) throws {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw GoldenError.io(path: url.path, reason: "cannot read the file")
        }
        do {
            try self.init(jsonData: data)
        } catch GoldenError.invalid(let message) {
            throw GoldenError.invalid("\(url.path): \(message)")
        }
    }

    /// A fixture by name from the shipped store (`"smollm2/greedy-0"`) or by path (anything
    /// ending in `.json` that exists as a file).
    public static func load(_ nameOrPath: String) throws -> Fixture {
        if nameOrPath.hasSuffix(".json"), FileManager.default.fileExists(atPath: nameOrPath) {
            return try Fixture(contentsOf: URL(fileURLWithPath: nameOrPath))
        }
        return try FixtureStore.shipped().fixture(named: nameOrPath)
    }

    /// Tokens a candidate should generate for this fixture (fixtures ignore EOS, so this is the
    /// run's `max_new_tokens`).
    public var maxNewTokens: Int { outputIDs.count }
}

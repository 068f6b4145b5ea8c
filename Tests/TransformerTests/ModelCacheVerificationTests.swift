import XCTest
import Formats
import Transformer
@testable import Loader

/// A cached model is verified before use (size, then a digest stamp, then the full SHA-256), and
/// an interrupted fetch's work directory does not stay in the cache forever.
final class ModelCacheVerificationTests: XCTestCase {
    var directory = ""

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("touchstone-cache-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// A 100 000-byte file and a KnownModel whose digest and size are those of the file.
    func makeCachedFile() throws -> (ModelStore.KnownModel, String) {
        var bytes = [UInt8](repeating: 0, count: 100_000)
        for i in bytes.indices { bytes[i] = UInt8(truncatingIfNeeded: i &* 2654435761 >> 7) }
        let path = directory + "/fake.gguf"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let model = ModelStore.KnownModel(name: "fake", pypiPackage: "none", version: "0", pathInWheel: "fake.gguf", fileName: "fake.gguf",
                                          sha256: try SHA256.hexDigest(ofFile: path), byteCount: bytes.count)
        return (model, path)
    }

    func testAnIntactFileIsVerifiedOnceByDigestAndThenByItsStamp() throws {
        let (model, path) = try makeCachedFile()
        var logs: [String] = []
        try ModelStore.verifyCachedFile(model, at: path, log: { logs.append($0) })
        XCTAssertEqual(logs.count, 1, "the first use hashes the file")
        let stamp = try String(contentsOfFile: ModelStore.stampPath(of: path), encoding: .utf8)
        XCTAssertTrue(stamp.hasPrefix(model.sha256 + " 100000 "), stamp)
        try ModelStore.verifyCachedFile(model, at: path, log: { logs.append($0) })
        XCTAssertEqual(logs.count, 1, "the stamp makes the second use cheap")
    }

    func testAFlippedByteIsCaughtEvenWithAStampFromBefore() throws {
        let (model, path) = try makeCachedFile()
        try ModelStore.verifyCachedFile(model, at: path)
        let handle = try XCTUnwrap(FileHandle(forUpdatingAtPath: path))
        try handle.seek(toOffset: 5000)
        let old = try XCTUnwrap(handle.readData(ofLength: 1).first)
        try handle.seek(toOffset: 5000)
        handle.write(Data([old ^ 0x01]))
        try handle.close()
        // Same size; the write moved the modification time, so the stamp is stale and the digest is recomputed.
        XCTAssertThrowsError(try ModelStore.verifyCachedFile(model, at: path)) { error in
            let e = error as? ModelStore.CacheError
            XCTAssertTrue(e?.reason.contains("SHA-256") == true, "\(error)")
            XCTAssertTrue("\(error)".contains("touchstone fetch"), "\(error)")
        }
    }

    func testATruncatedFileIsRejectedBySizeWithAFetchSuggestion() throws {
        let (model, path) = try makeCachedFile()
        try ModelStore.verifyCachedFile(model, at: path)
        let handle = try XCTUnwrap(FileHandle(forUpdatingAtPath: path))
        try handle.truncate(atOffset: 60_000)
        try handle.close()
        XCTAssertThrowsError(try ModelStore.verifyCachedFile(model, at: path)) { error in
            XCTAssertTrue("\(error)".contains("60000 bytes") && "\(error)".contains("truncated"), "\(error)")
            XCTAssertTrue("\(error)".contains("touchstone fetch"), "\(error)")
        }
    }

    func testAStampWithAnotherDigestDoesNotVouchForTheFile() throws {
        let (model, path) = try makeCachedFile()
        try ModelStore.verifyCachedFile(model, at: path)
        let other = ModelStore.KnownModel(name: "fake", pypiPackage: "none", version: "0", pathInWheel: "fake.gguf", fileName: "fake.gguf",
                                          sha256: String(repeating: "0", count: 64), byteCount: model.byteCount)
        XCTAssertThrowsError(try ModelStore.verifyCachedFile(other, at: path))
    }

    func testDownloadDirectoriesOfDeadProcessesAreRemovedAndLiveOnesKept() throws {
        // A pid that is not alive: a child that has exited and been reaped.
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/true")
        try child.run()
        child.waitUntilExit()
        let dead = child.processIdentifier
        let mine = ProcessInfo.processInfo.processIdentifier
        for name in [".download-\(dead)", ".download-\(mine)", ".download-1", ".download-notapid"] {
            try FileManager.default.createDirectory(atPath: directory + "/" + name + "/sub", withIntermediateDirectories: true)
        }
        let removed = ModelStore.removeStaleDownloads(in: directory)
        XCTAssertEqual(removed, [directory + "/.download-\(dead)"])
        let left = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        XCTAssertEqual(left, [".download-1", ".download-\(mine)", ".download-notapid"].sorted())
    }

    func testResolvingAKnownModelVerifiesTheCachedCopy() throws {
        let previous = ProcessInfo.processInfo.environment["TOUCHSTONE_CACHE"]
        setenv("TOUCHSTONE_CACHE", directory, 1)
        // Restore what the run was given: later tests (the vocabulary suite, Gemma) find their
        // files through it.
        defer { if let previous { setenv("TOUCHSTONE_CACHE", previous, 1) } else { unsetenv("TOUCHSTONE_CACHE") } }
        let path = ModelStore.cachedPath(of: ModelStore.smolLM2)
        try Data(repeating: 7, count: 1000).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try ModelStore.resolve("smollm2-135m", log: { _ in })) { error in
            XCTAssertTrue("\(error)".contains("touchstone fetch"), "\(error)")
        }
    }
}

/// Configuration values that pass a sign check but are not numbers a model can use.
final class ConfigurationValidationTests: XCTestCase {
    func testInfiniteOrNaNRopeThetaAndEpsilonAreRejected() {
        let base = SyntheticModels.tinyA.configuration
        for theta in [Double.infinity, .nan, 0, -1] {
            var c = base
            c.ropeTheta = theta
            XCTAssertThrowsError(try c.validate(), "rope theta \(theta)") { error in
                XCTAssertTrue("\(error)".contains("rope theta"), "\(error)")
            }
        }
        var c = base
        c.rmsNormEpsilon = .infinity
        XCTAssertThrowsError(try c.validate())
        XCTAssertNoThrow(try base.validate())
    }
}

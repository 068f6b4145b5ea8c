import Foundation
import Formats
import Tensors
import Transformer
import Loader
import Decoding
import Golden

/// `touchstone fixtures`: regenerates every golden fixture (or checks them with `--check`).
func fixturesCommand(_ raw: [String]) throws {
    let args = try Arguments(command: "fixtures", raw, valueOptions: ["dir", "only", "threads"], flagOptions: ["check", "skip-real-model"])
    try configureThreads(args)
    let root = (args.string("dir") ?? "Fixtures") + "/golden"
    let check = args.has("check")
    var entries = try Catalog.entries(includeRealModel: !args.has("skip-real-model"))
    if let only = args.string("only") { entries = entries.filter { $0.id.contains(only) } }
    if entries.isEmpty { throw CLIError("no fixture matches --only \(args.string("only") ?? "")") }
    var models: [String: any CausalLanguageModel] = [:]
    func model(_ key: String) throws -> any CausalLanguageModel {
        if let m = models[key] { return m }
        let m: any CausalLanguageModel
        if !Catalog.realModelKeys.contains(key) {
            m = try SyntheticArchitectures.anyModel(named: key)
        } else {
            let known = Catalog.knownModel(for: key) ?? ModelStore.smolLM2
            m = try ModelStore.load(path: try ModelStore.resolve(known.name, log: { printError($0) })).model
        }
        models[key] = m
        return m
    }
    var changed: [String] = []
    for (i, entry) in entries.enumerated() {
        let path = "\(root)/\(entry.id).json"
        printError("[\(i + 1)/\(entries.count)] \(entry.id) …")
        let fixture = try Catalog.make(entry, model: try model(entry.modelKey))
        let text = fixture.serialized()
        let existing = FileManager.default.contents(atPath: path).flatMap { String(data: $0, encoding: .utf8) }
        if existing == text { continue }
        changed.append(path)
        if check {
            printError("  would change: \(path)\(existing == nil ? " (missing)" : "")")
        } else {
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            printError("  wrote \(path)")
        }
    }
    if check && !changed.isEmpty {
        throw CLIError("\(changed.count) of \(entries.count) fixtures would change; run `touchstone fixtures` to regenerate them", usage: false)
    }
    printError(check ? "all \(entries.count) fixtures are up to date" : "\(entries.count) fixtures, \(changed.count) written")
}

/// `touchstone verify FIXTURE CANDIDATE`: diffs another backend's trace against a fixture.
/// Exit 0 on a match; 1 on a mismatch, an unreadable or invalid fixture or candidate (the message
/// names the field); 2 for a usage error (wrong arguments, a negative or non-finite --tolerance).
func verifyCommand(_ raw: [String]) throws {
    let args = try Arguments(command: "verify", raw, valueOptions: ["tolerance", "threads"], flagOptions: ["json"], positionalLimit: 2)
    guard args.positional.count == 2 else { throw CLIError("usage: touchstone verify FIXTURE.json CANDIDATE.json [--tolerance T] [--json]") }
    var tolerance: Float?
    if let raw = args.string("tolerance") {
        guard let t = Double(raw), t.isFinite, t >= 0, Float(t).isFinite else {
            throw CLIError("--tolerance must be a finite number ≥ 0 (an absolute logit difference), got '\(raw)'")
        }
        tolerance = Float(t)
    }
    func read(_ path: String) throws -> Data {
        guard let d = FileManager.default.contents(atPath: path) else { throw CLIError("cannot read \(path)", usage: false) }
        return d
    }
    let reference: Fixture
    do { reference = try Fixture(jsonData: try read(args.positional[0])) } catch let e as GoldenError {
        throw CLIError("\(args.positional[0]): \(e)", usage: false)
    }
    let candidate: CandidateTrace
    do { candidate = try CandidateTrace(jsonData: try read(args.positional[1])) } catch let e as CandidateError {
        throw CLIError("\(args.positional[1]): \(e) (schema: DOCS.md section 7; a candidate needs at least \"output_ids\")", usage: false)
    }
    let report = Verifier.verify(candidate: candidate, against: reference, tolerance: tolerance)
    if args.has("json") {
        var fields: [(String, JSONValue)] = [("matches", .bool(report.matches)), ("compared_steps", .int(report.comparedSteps)),
                                             ("max_logit_difference", .float(report.maxLogitDifference))]
        if let d = report.firstDivergence {
            fields.append(("first_divergence", .object([
                ("step", .int(d.step)), ("kind", .string(d.kind)),
                ("reference_token", d.referenceToken.map { .int($0) } ?? .null),
                ("candidate_token", d.candidateToken.map { .int($0) } ?? .null),
                ("reference_top2_margin", d.referenceTopTwoMargin.map { .float($0) } ?? .null),
            ])))
        }
        fields.append(("compared", .object([
            ("depth", .string(report.depth.rawValue)), ("tokens", .int(report.comparedTokens)),
            ("chosen_logits", .int(report.comparedChosenLogits)), ("top_logits", .int(report.comparedTopLogits)),
        ])))
        fields.append(("tolerance", .float(report.tolerance)))
        if let at = report.maxLogitDifferenceAt {
            fields.append(("max_logit_difference_at", .object([("step", .int(at.step)), ("id", .int(at.id))])))
        }
        fields.append(("messages", .array(report.messages.map { .string($0) })))
        printJSON(.object(fields))
    } else {
        for m in report.messages { print(m) }
    }
    if !report.matches { exit(1) }
}

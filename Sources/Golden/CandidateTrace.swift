import Foundation
import Decoding

/// What another backend produced for a fixture's prompt, checked against the fixture by
/// `FixtureCheck` and `touchstone verify`.
///
/// The candidate schema (DOCS.md section 7) is a subset of the fixture's and of
/// `touchstone generate --json`'s output, so either can be used as a candidate:
///
///     {"output_ids": [ids…],                    required: non-negative integers
///      "prompt_ids": [ids…],                    optional: must equal the fixture's prompt
///      "trace": [                               optional: omit it to compare tokens only;
///        {"token": id,                          when present, one step per output id, and
///         "step": i,                            each step's token equals output_ids[i]
///         "logit": x,                           optional, finite number
///         "probability": p,                     optional, finite, in [0, 1]
///         "top": [[id, logit], …],              optional, distinct ids, finite logits
///                                               or null (−∞: a masked token, as fixtures write it)
///         "drafted": [ids…], "accepted": n}]}   optional (speculative methods)
///
/// Other keys (`text`, `stats`, …) are ignored. `null` counts as absent. Anything else that does
/// not fit the schema is a `CandidateError` naming the field, never silently skipped.
public struct CandidateTrace: Equatable {
    /// The prompt the candidate ran, when it says (checked against the fixture's).
    public var promptIDs: [Int]?
    public var outputIDs: [Int]
    /// One step per output id, or `nil` when only tokens are given. Steps reuse the fixture's
    /// step type; absent logits are `nil`, an absent `top` is empty.
    public var steps: [Fixture.Step]?

    public init(outputIDs: [Int], steps: [Fixture.Step]? = nil, promptIDs: [Int]? = nil) {
        self.outputIDs = outputIDs
        self.steps = steps
        self.promptIDs = promptIDs
    }

    /// The candidate of a generation made with Touchstone's own decoding strategies (for
    /// example over a model whose forward pass is the backend under test).
    public init(generation: Generation) {
        self.init(outputIDs: generation.outputIDs,
                  steps: generation.trace.map { s in
                      Fixture.Step(token: s.token, logit: s.logit, probability: s.probability, top: s.topLogits.map { ($0.id, $0.logit) },
                                   drafted: s.drafted, accepted: s.accepted)
                  },
                  promptIDs: generation.promptIDs)
    }

    /// The candidate of a fixture (for comparing two fixture files).
    public init(fixture: Fixture) {
        self.init(outputIDs: fixture.outputIDs, steps: fixture.trace.isEmpty ? nil : fixture.trace,
                  promptIDs: fixture.promptIDs.isEmpty ? nil : fixture.promptIDs)
    }

    /// Parses and validates a candidate document (see the type's documentation). Throws
    /// `CandidateError` naming the first field that does not fit the schema.
    public init(jsonData data: Data) throws {
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data) } catch {
            throw CandidateError(field: "", problem: "not valid JSON (\(error.localizedDescription))")
        }
        guard let doc = object as? [String: Any] else {
            throw CandidateError(field: "(document)", problem: "must be a JSON object with at least \"output_ids\"")
        }
        guard let output = doc["output_ids"], !(output is NSNull) else {
            throw CandidateError(field: "output_ids", problem: "is missing; a candidate needs at least {\"output_ids\": [...]}")
        }
        let outputIDs = try StrictJSON.ids(output, "output_ids")
        let promptIDs = try StrictJSON.optional(doc["prompt_ids"]).map { try StrictJSON.ids($0, "prompt_ids") }
        var steps: [Fixture.Step]?
        if let trace = StrictJSON.optional(doc["trace"]) {
            guard let array = trace as? [Any] else { throw CandidateError(field: "trace", problem: "must be an array of steps") }
            try CandidateTrace.checkLength(steps: array.count, outputs: outputIDs.count)
            steps = try array.enumerated().map { i, value in try StrictJSON.step(value, index: i) }
        }
        self.init(outputIDs: outputIDs, steps: steps, promptIDs: promptIDs)
        try validate()
    }

    static func checkLength(steps: Int, outputs: Int) throws {
        guard steps == outputs else {
            throw CandidateError(field: "trace", problem: "has \(steps) steps but output_ids has \(outputs) tokens; give one step per output token, or omit \"trace\" to compare tokens only")
        }
    }

    /// Checks the invariants of the schema on a value built in code: non-negative ids, one trace
    /// step per output id with the same token, finite logits, probabilities in [0, 1], distinct
    /// ids in each `top` list, `accepted` at most the number drafted.
    public func validate() throws {
        func ids(_ values: [Int], _ field: String) throws {
            if let i = values.firstIndex(where: { $0 < 0 }) {
                throw CandidateError(field: "\(field)[\(i)]", problem: "is \(values[i]); token ids are non-negative integers")
            }
        }
        try ids(outputIDs, "output_ids")
        if let promptIDs { try ids(promptIDs, "prompt_ids") }
        guard let steps else { return }
        try Self.checkLength(steps: steps.count, outputs: outputIDs.count)
        for (i, s) in steps.enumerated() {
            let f = "trace[\(i)]"
            guard s.token == outputIDs[i] else {
                throw CandidateError(field: "\(f).token", problem: "is \(s.token) but output_ids[\(i)] is \(outputIDs[i]); the trace must describe the output")
            }
            if let l = s.logit, !l.isFinite { throw CandidateError(field: "\(f).logit", problem: "is \(l); logits must be finite numbers") }
            if let p = s.probability, !(p.isFinite && p >= 0 && p <= 1) {
                throw CandidateError(field: "\(f).probability", problem: "is \(p); a probability is a number in [0, 1]")
            }
            var seen = Set<Int>()
            for (j, entry) in s.top.enumerated() {
                if entry.id < 0 { throw CandidateError(field: "\(f).top[\(j)][0]", problem: "is \(entry.id); token ids are non-negative integers") }
                if !(entry.logit.isFinite || entry.logit == -.infinity) {
                    throw CandidateError(field: "\(f).top[\(j)][1]", problem: "is \(entry.logit); logits are finite numbers, or null (−∞) for a masked token")
                }
                if !seen.insert(entry.id).inserted {
                    throw CandidateError(field: "\(f).top[\(j)]", problem: "repeats token id \(entry.id); each id appears once in a top list")
                }
            }
            if let d = s.drafted { try ids(d, "\(f).drafted") }
            if let a = s.accepted {
                if a < 0 { throw CandidateError(field: "\(f).accepted", problem: "is \(a); it counts accepted draft tokens (≥ 0)") }
                if let d = s.drafted, a > d.count {
                    throw CandidateError(field: "\(f).accepted", problem: "is \(a) but only \(d.count) tokens were drafted")
                }
            }
        }
    }
}

/// Type checks for JSONSerialization values, strict where Foundation is lenient: `true` is not
/// the number 1, `6.5` is not an id, a number outside Float's range is not a logit.
enum StrictJSON {
    static func optional(_ value: Any?) -> Any? {
        guard let value, !(value is NSNull) else { return nil }
        return value
    }

    private static func number(_ value: Any) -> NSNumber? {
        guard let n = value as? NSNumber, !(value is String) else { return nil }
        return String(cString: n.objCType) == "c" ? nil : n   // JSON true/false
    }

    private static func describe(_ value: Any) -> String {
        switch value {
        case is String: return "a string"
        case is NSNull: return "null"
        case is [Any]: return "an array"
        case is [String: Any]: return "an object"
        default:
            if let n = value as? NSNumber, String(cString: n.objCType) == "c" { return "a boolean" }
            return "\(value)"
        }
    }

    static func int(_ value: Any, _ field: String) throws -> Int {
        guard let n = number(value), let i = value as? Int, Double(i) == n.doubleValue else {
            throw CandidateError(field: field, problem: "must be an integer, found \(describe(value))")
        }
        return i
    }

    static func ids(_ value: Any, _ field: String) throws -> [Int] {
        guard let array = value as? [Any] else { throw CandidateError(field: field, problem: "must be an array of token ids, found \(describe(value))") }
        return try array.enumerated().map { i, v in try int(v, "\(field)[\(i)]") }
    }

    /// A Float; `nullMeans` is what JSON `null` stands for (nil: not allowed).
    static func float(_ value: Any, _ field: String, nullMeans: Float? = nil) throws -> Float {
        if value is NSNull, let nullMeans { return nullMeans }
        guard let n = number(value) else { throw CandidateError(field: field, problem: "must be a number, found \(describe(value))") }
        let f = Float(n.doubleValue)
        guard f.isFinite else { throw CandidateError(field: field, problem: "is \(n.doubleValue), outside the range of Float") }
        return f
    }

    static func step(_ value: Any, index i: Int) throws -> Fixture.Step {
        let f = "trace[\(i)]"
        guard let s = value as? [String: Any] else { throw CandidateError(field: f, problem: "must be an object {\"token\": id, …}, found \(describe(value))") }
        if let step = optional(s["step"]) {
            let n = try int(step, "\(f).step")
            guard n == i else { throw CandidateError(field: "\(f).step", problem: "is \(n), expected \(i) (steps are numbered from 0 in order)") }
        }
        guard let tokenValue = optional(s["token"]) else { throw CandidateError(field: "\(f).token", problem: "is missing") }
        let token = try int(tokenValue, "\(f).token")
        let logit = try optional(s["logit"]).map { try float($0, "\(f).logit") }
        let probability = try optional(s["probability"]).map { try float($0, "\(f).probability") }
        var top: [(id: Int, logit: Float)] = []
        if let t = optional(s["top"]) {
            guard let entries = t as? [Any] else { throw CandidateError(field: "\(f).top", problem: "must be an array of [id, logit] pairs, found \(describe(t))") }
            for (j, entry) in entries.enumerated() {
                guard let pair = entry as? [Any], pair.count == 2 else {
                    throw CandidateError(field: "\(f).top[\(j)]", problem: "must be a pair [id, logit], found \(describe(entry))\((entry as? [Any]).map { " of \($0.count) elements" } ?? "")")
                }
                // null: a logit JSON cannot hold, which fixtures write for -inf (a masked token).
                top.append((try int(pair[0], "\(f).top[\(j)][0]"), try float(pair[1], "\(f).top[\(j)][1]", nullMeans: -.infinity)))
            }
        }
        let drafted = try optional(s["drafted"]).map { try ids($0, "\(f).drafted") }
        let accepted = try optional(s["accepted"]).map { try int($0, "\(f).accepted") }
        return Fixture.Step(token: token, logit: logit, probability: probability, top: top, drafted: drafted, accepted: accepted)
    }
}

/// A candidate trace that does not fit the schema: the field (`trace[3].top[1][1]`, in JSON
/// path notation) and what is wrong with it.
public struct CandidateError: Error, Equatable, CustomStringConvertible {
    public var field: String
    public var problem: String

    public init(field: String, problem: String) {
        self.field = field
        self.problem = problem
    }

    public var description: String {
        field.isEmpty ? "invalid candidate: \(problem)" : "invalid candidate: \(field) \(problem)"
    }
}

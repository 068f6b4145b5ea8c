import Foundation
import Formats
import Decoding

/// A golden fixture: everything needed to reproduce one generation and to check another
/// backend's output against it. Versioned JSON; the schema is documented in DOCS.md section 7
/// ("Golden fixtures").
public struct Fixture: Equatable {
    public static let schema = "touchstone-fixture/1"

    /// Where the model came from.
    public enum ModelIdentity: Equatable {
        /// A model file, named and pinned by its SHA-256.
        case file(name: String, sha256: String)
        /// A synthetic model built from a preset and a seed (also written as safetensors in
        /// `Fixtures/models/<preset>/`).
        case synthetic(preset: String, seed: UInt64, config: JSONValue)
    }

    public struct Step: Equatable {
        public var token: Int
        public var logit: Float?
        public var probability: Float?
        /// `(id, logit)`, logit descending then id ascending.
        public var top: [(id: Int, logit: Float)]
        /// Speculative methods: the drafted tokens and how many were accepted.
        public var drafted: [Int]?
        public var accepted: Int?

        public init(token: Int, logit: Float?, probability: Float?, top: [(id: Int, logit: Float)], drafted: [Int]? = nil, accepted: Int? = nil) {
            self.token = token
            self.logit = logit
            self.probability = probability
            self.top = top
            self.drafted = drafted
            self.accepted = accepted
        }

        public static func == (a: Step, b: Step) -> Bool {
            a.token == b.token && a.logit == b.logit && a.probability == b.probability && a.drafted == b.drafted && a.accepted == b.accepted
                && a.top.count == b.top.count && zip(a.top, b.top).allSatisfy { $0.id == $1.id && $0.logit == $1.logit }
        }

        /// The margin between the two best logits (how near a tie this step was).
        public var topTwoMargin: Float? { top.count >= 2 ? top[0].logit - top[1].logit : nil }
    }

    public var name: String
    /// "regression" for fixtures produced by Touchstone itself; "peer" for fixtures from an
    /// independent implementation.
    public var origin: String
    public var model: ModelIdentity
    public var promptIDs: [Int]
    public var algorithm: String
    /// Every parameter of the algorithm, in a stable order.
    public var parameters: [(String, JSONValue)]
    public var seed: UInt64?
    public var outputIDs: [Int]
    public var trace: [Step]
    /// Absolute tolerance for logits when verifying another backend.
    public var logitTolerance: Float

    public init(name: String, origin: String = "regression", model: ModelIdentity, promptIDs: [Int], algorithm: String,
                parameters: [(String, JSONValue)], seed: UInt64?, outputIDs: [Int], trace: [Step], logitTolerance: Float = 2e-3) {
        self.name = name
        self.origin = origin
        self.model = model
        self.promptIDs = promptIDs
        self.algorithm = algorithm
        self.parameters = parameters
        self.seed = seed
        self.outputIDs = outputIDs
        self.trace = trace
        self.logitTolerance = logitTolerance
    }

    public static func == (a: Fixture, b: Fixture) -> Bool { a.json() == b.json() }

    /// Builds the fixture of a generation.
    public init(name: String, model: ModelIdentity, algorithm: String, parameters: [(String, JSONValue)], seed: UInt64?, generation: Generation) {
        self.init(name: name, model: model, promptIDs: generation.promptIDs, algorithm: algorithm, parameters: parameters, seed: seed,
                  outputIDs: generation.outputIDs,
                  trace: generation.trace.map { s in
                      Step(token: s.token, logit: s.logit, probability: s.probability, top: s.topLogits.map { ($0.id, $0.logit) },
                           drafted: s.drafted, accepted: s.accepted)
                  })
    }

    // MARK: JSON

    public func json() -> JSONValue {
        let modelJSON: JSONValue
        switch model {
        case .file(let name, let sha):
            modelJSON = .object([("file", .string(name)), ("sha256", .string(sha))])
        case .synthetic(let preset, let seed, let config):
            modelJSON = .object([("synthetic", .string(preset)), ("seed", .int(Int(seed))), ("config", config)])
        }
        return .object([
            ("schema", .string(Fixture.schema)),
            ("name", .string(name)),
            ("origin", .string(origin)),
            ("note", .string(origin == "regression"
                ? "Produced by Touchstone itself (a regression fixture, not an independent reference). Regenerate with `touchstone fixtures`."
                : "Produced by an independent implementation.")),
            ("model", modelJSON),
            ("prompt_ids", .ints(promptIDs)),
            ("algorithm", .object([("name", .string(algorithm)), ("parameters", .object(parameters))])),
            ("seed", seed.map { .int(Int($0)) } ?? .null),
            ("output_ids", .ints(outputIDs)),
            ("tolerance", .object([("logit", .float(logitTolerance))])),
            ("trace", .array(trace.enumerated().map { i, s in Fixture.stepJSON(i, s) })),
        ])
    }

    static func stepJSON(_ i: Int, _ s: Step) -> JSONValue {
        var fields: [(String, JSONValue)] = [("step", .int(i)), ("token", .int(s.token))]
        if let l = s.logit { fields.append(("logit", .float(l))) }
        if let p = s.probability { fields.append(("probability", .float(p))) }
        fields.append(("top", .array(s.top.map { .array([.int($0.id), .float($0.logit)]) })))
        if let d = s.drafted { fields.append(("drafted", .ints(d))) }
        if let a = s.accepted { fields.append(("accepted", .int(a))) }
        return .object(fields)
    }

    /// The fixture as a file: indented JSON with a final newline.
    public func serialized() -> String { json().serialized(indent: 1) + "\n" }

    /// Parses a fixture (or, with `lenient`, a candidate trace that only has `output_ids` and
    /// optionally `trace`).
    public init(jsonData data: Data, lenient: Bool = false) throws {
        guard let doc = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw GoldenError.invalid("not a JSON object")
        }
        func require<T>(_ key: String, _ type: T.Type) throws -> T {
            guard let v = doc[key] as? T else { throw GoldenError.invalid("missing or ill-typed key \"\(key)\"") }
            return v
        }
        if !lenient {
            let schema = try require("schema", String.self)
            guard schema == Fixture.schema else { throw GoldenError.invalid("schema \"\(schema)\" is not \(Fixture.schema)") }
        }
        let outputIDs = try require("output_ids", [Int].self)
        var trace: [Step] = []
        if let steps = doc["trace"] as? [[String: Any]] {
            // One step per output token, numbered in order, each naming that token: otherwise the
            // verifier would compare a candidate against a document that contradicts itself.
            guard steps.isEmpty || steps.count == outputIDs.count else {
                throw GoldenError.invalid("the trace has \(steps.count) steps but output_ids has \(outputIDs.count) tokens")
            }
            for (i, s) in steps.enumerated() {
                guard let token = s["token"] as? Int else { throw GoldenError.invalid("trace step \(i) has no token") }
                guard token == outputIDs[i] else {
                    throw GoldenError.invalid("trace step \(i) has token \(token) but output_ids[\(i)] is \(outputIDs[i])")
                }
                if let number = s["step"], (number as? Int) != i {
                    throw GoldenError.invalid("trace step \(i) is numbered \(number) (steps are numbered from 0 in order)")
                }
                let top = (s["top"] as? [[Any]] ?? []).compactMap { pair -> (id: Int, logit: Float)? in
                    guard pair.count == 2, let id = pair[0] as? Int else { return nil }
                    // JSON cannot hold -inf (a masked token's logit); fixtures write it as null.
                    if pair[1] is NSNull { return (id, -Float.infinity) }
                    guard let l = (pair[1] as? NSNumber)?.floatValue else { return nil }
                    return (id, l)
                }
                trace.append(Step(token: token, logit: (s["logit"] as? NSNumber)?.floatValue,
                                  probability: (s["probability"] as? NSNumber)?.floatValue, top: top,
                                  drafted: s["drafted"] as? [Int], accepted: s["accepted"] as? Int))
            }
        }
        let model: ModelIdentity
        if let m = doc["model"] as? [String: Any], let file = m["file"] as? String {
            model = .file(name: file, sha256: m["sha256"] as? String ?? "")
        } else if let m = doc["model"] as? [String: Any], let preset = m["synthetic"] as? String {
            guard let seed = UInt64(exactly: m["seed"] as? Int ?? 0) else { throw GoldenError.invalid("the model seed must be a non-negative integer") }
            model = .synthetic(preset: preset, seed: seed, config: .null)
        } else {
            if !lenient { throw GoldenError.invalid("missing model identity") }
            model = .file(name: "", sha256: "")
        }
        let algorithm = doc["algorithm"] as? [String: Any]
        var seed: UInt64? = nil
        if let value = doc["seed"] as? Int {
            guard let s = UInt64(exactly: value) else { throw GoldenError.invalid("seed \(value) is negative; seeds are non-negative integers") }
            seed = s
        }
        let tolerance = ((doc["tolerance"] as? [String: Any])?["logit"] as? NSNumber)?.floatValue ?? 2e-3
        guard tolerance.isFinite, tolerance >= 0 else { throw GoldenError.invalid("tolerance.logit must be a finite non-negative number") }
        self.init(name: doc["name"] as? String ?? "", origin: doc["origin"] as? String ?? "candidate", model: model,
                  promptIDs: doc["prompt_ids"] as? [Int] ?? [], algorithm: algorithm?["name"] as? String ?? "",
                  parameters: [], seed: seed, outputIDs: outputIDs, trace: trace, logitTolerance: tolerance)
        // The candidate schema's invariants hold for a fixture too (non-negative ids, finite
        // logits, probabilities in [0, 1], distinct ids in each top list, accepted ≤ drafted).
        do { try CandidateTrace(fixture: self).validate() } catch let error as CandidateError {
            throw GoldenError.invalid("\(error)")
        }
    }
}

public enum GoldenError: Error, CustomStringConvertible, Equatable {
    case invalid(String)
    /// No fixture of that name in the store; `known` lists the names it has.
    case fixtureNotFound(name: String, root: String, known: [String])
    /// The shipped fixtures directory was not found in any of the places searched.
    case fixturesNotFound(searched: [String])
    case io(path: String, reason: String)

    public var description: String {
        switch self {
        case .invalid(let m): return "invalid fixture: \(m)"
        case .fixtureNotFound(let name, let root, let known):
            let some = known.prefix(6).joined(separator: ", ")
            return "no fixture named \"\(name)\" in \(root) (names look like \"smollm2/greedy-0\"; it has \(known.count): \(some)\(known.count > 6 ? ", …" : ""))"
        case .fixturesNotFound(let searched):
            return "cannot find Touchstone's Fixtures/golden directory; searched \(searched.joined(separator: ", ")). Set TOUCHSTONE_FIXTURES to it, or use FixtureStore(root:)"
        case .io(let path, let reason): return "\(path): \(reason)"
        }
    }
}

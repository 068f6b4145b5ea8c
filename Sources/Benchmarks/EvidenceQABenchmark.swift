import Foundation
import Formats
import Tokenization
import Transformer
import Decoding

/// One evidence-plus-question case whose answer the evidence changes (a counterfactual fact, as
/// in the CAD paper's NQ-Swap setting): `Fixtures/evidence-qa/cases.json` is an array of these.
public struct EvidenceQACase: Sendable, Equatable, Decodable {
    public var context: String
    public var question: String
    /// What the evidence says the answer is.
    public var evidenceAnswer: String
    /// What the model is expected to know without the evidence.
    public var parametricAnswer: String

    enum CodingKeys: String, CodingKey {
        case context, question
        case evidenceAnswer = "evidence_answer"
        case parametricAnswer = "parametric_answer"
    }

    public init(context: String, question: String, evidenceAnswer: String, parametricAnswer: String) {
        self.context = context
        self.question = question
        self.evidenceAnswer = evidenceAnswer
        self.parametricAnswer = parametricAnswer
    }

    public static let shippedFileRelativePath = "Fixtures/evidence-qa/cases.json"

    /// Reads a JSON array of cases.
    public static func read(contentsOfFile path: String) throws -> [EvidenceQACase] {
        guard let data = FileManager.default.contents(atPath: path) else { throw BenchmarkError.evidenceCasesUnreadable(path: path, reason: "no readable file there") }
        let cases: [EvidenceQACase]
        do { cases = try JSONDecoder().decode([EvidenceQACase].self, from: data) } catch {
            throw BenchmarkError.evidenceCasesUnreadable(path: path, reason: "not a JSON array of cases with four string fields")
        }
        if cases.isEmpty { throw BenchmarkError.evidenceCasesUnreadable(path: path, reason: "the array is empty") }
        return cases
    }

    /// Where the answer text stands: containing the evidence's answer, the parametric one, both or neither
    /// (case-insensitive substring tests).
    public func classify(_ answer: String) -> (evidence: Bool, parametric: Bool) {
        let a = answer.lowercased()
        return (a.contains(evidenceAnswer.lowercased()), a.contains(parametricAnswer.lowercased()))
    }
}

/// `touchstone bench --evidence-qa`: how often each strategy answers with the evidence rather than
/// with what the model knew, on counterfactual evidence-plus-question cases, and what each costs
/// per token against greedy decoding in the same run.
///
/// Every method sees the case through the ChatML template (SmolLM2's default system message). A
/// method with `evidenceAsContext == false` gets one user turn `evidence\n\nquestion`
/// (`ContextAwareDecoding.userTurn`); CAD gets the question alone as its prompt and the evidence as
/// its context, placed inside the user turn (`ContextAwareDecoding.placeEvidence`), so its context
/// stream is exactly the other methods' prompt.
public enum EvidenceQABenchmark {
    /// A labelled strategy of the comparison.
    public struct Method: Sendable {
        public var label: String
        public var strategy: String
        /// Strategy and processor options as typed on the command line (without `--`).
        public var arguments: [String: String]
        /// Whether the evidence goes in the strategy's `--context-ids` (CAD) instead of the prompt.
        public var evidenceAsContext: Bool

        public init(_ label: String, strategy: String, arguments: [String: String] = [:], evidenceAsContext: Bool = false) {
            self.label = label
            self.strategy = strategy
            self.arguments = arguments
            self.evidenceAsContext = evidenceAsContext
        }
    }

    /// Greedy on evidence + question, CAD α 0.5 and 1.0, and contrastive decoding with its
    /// defaults on the same prompt as greedy when that strategy is registered. The first method
    /// is the cost baseline.
    public static var defaultMethods: [Method] {
        var methods = [
            Method("greedy", strategy: "greedy"),
            Method("cad α=0.5", strategy: "cad", arguments: ["cad-alpha": "0.5"], evidenceAsContext: true),
            Method("cad α=1.0", strategy: "cad", arguments: ["cad-alpha": "1.0"], evidenceAsContext: true),
        ]
        if DecodingStrategies.named("contrastive-decoding") != nil { methods.append(Method("contrastive-decoding", strategy: "contrastive-decoding")) }
        return methods
    }

    /// One method's figures over every case.
    public struct Row: Sendable, Equatable {
        public var label: String
        public var cases = 0
        /// Answers containing the evidence's answer (and not the parametric one), the parametric
        /// one (and not the evidence's), both, neither.
        public var evidence = 0, parametric = 0, both = 0, neither = 0
        public var tokens = 0
        public var seconds = 0.0
        public var answers: [String] = []
        /// Seconds per generated token (prefill and decode).
        public var secondsPerToken: Double { tokens == 0 ? 0 : seconds / Double(tokens) }
    }

    public struct Report: Sendable {
        public var rows: [Row]
        public var maxNewTokens: Int
        /// Why a method could not run (e.g. a required option), by label.
        public var skipped: [(label: String, reason: String)]

        /// `rows[i].secondsPerToken / rows[0].secondsPerToken`.
        public func costRelativeToBaseline(_ row: Row) -> Double {
            guard let base = rows.first, base.secondsPerToken > 0 else { return 0 }
            return row.secondsPerToken / base.secondsPerToken
        }

        public func table() -> String {
            var lines = ["evidence-QA: \(rows.first?.cases ?? 0) counterfactual cases, ChatML, up to \(maxNewTokens) new tokens",
                         "method                  evidence  parametric  both  neither   ms/token  cost vs \(rows.first?.label ?? "-")"]
            for r in rows {
                lines.append(String(format: "%@%8d  %10d  %4d  %7d  %9.1f  %6.2f×", r.label.padding(toLength: 22, withPad: " ", startingAt: 0),
                                    r.evidence, r.parametric, r.both, r.neither, r.secondsPerToken * 1000, costRelativeToBaseline(r)))
            }
            for s in skipped { lines.append("skipped \(s.label): \(s.reason)") }
            return lines.joined(separator: "\n")
        }

        public func json() -> JSONValue {
            .object([
                ("max_new_tokens", .int(maxNewTokens)),
                ("methods", .array(rows.map { r in
                    .object([("label", .string(r.label)), ("cases", .int(r.cases)), ("evidence", .int(r.evidence)),
                             ("parametric", .int(r.parametric)), ("both", .int(r.both)), ("neither", .int(r.neither)),
                             ("tokens", .int(r.tokens)), ("seconds", .double(r.seconds)),
                             ("cost_vs_baseline", .double(costRelativeToBaseline(r))),
                             ("answers", .array(r.answers.map { .string($0) }))])
                })),
                ("skipped", .array(skipped.map { .object([("label", .string($0.label)), ("reason", .string($0.reason))]) })),
            ])
        }
    }

    /// Runs every method on every case (greedy-style stopping: EOS or `maxNewTokens`).
    public static func run(model: any CausalLanguageModel, tokenizer: any Tokenizer, cases: [EvidenceQACase], methods: [Method] = defaultMethods,
                           maxNewTokens: Int = 24, endOfSequenceIDs: Set<Int>, progress: ((String) -> Void)? = nil) throws -> Report {
        func encode(_ user: String) -> [Int] {
            tokenizer.encode(ChatTemplate.chatML.apply(messages: [(role: "user", content: user)], addGenerationPrompt: true))
        }
        var rows: [Row] = [], skipped: [(label: String, reason: String)] = []
        let stopping = StoppingCriteria(maxNewTokens: maxNewTokens, endOfSequenceIDs: endOfSequenceIDs)
        for method in methods {
            var row = Row(label: method.label)
            let processorNames = Set(ProcessorSettings.options.map(\.name))
            do {
                for (i, c) in cases.enumerated() {
                    let withEvidence = encode(ContextAwareDecoding.userTurn(evidence: c.context, query: c.question))
                    var arguments = method.arguments.filter { !processorNames.contains($0.key) }
                    let prompt: [Int]
                    if method.evidenceAsContext {
                        prompt = encode(c.question)
                        let placed = try ContextAwareDecoding.placeEvidence(contextStream: withEvidence, nullStream: prompt)
                        arguments["context-ids"] = placed.ids.map(String.init).joined(separator: ",")
                        arguments["context-position"] = String(placed.position)
                    } else {
                        prompt = withEvidence
                    }
                    let processors = try ProcessorSettings(arguments: StrategyArguments(method.arguments.filter { processorNames.contains($0.key) }))
                    let strategy = try DecodingStrategies.make(method.strategy, arguments: StrategyArguments(arguments), processors: processors)
                    let start = monotonicSeconds()
                    let generation = try strategy.generate(model: model, prompt: prompt, stopping: stopping).generation
                    row.seconds += monotonicSeconds() - start
                    row.tokens += generation.outputIDs.count
                    let answer = try tokenizer.decode(generation.outputIDs, skipSpecialTokens: true)
                    row.answers.append(answer)
                    row.cases += 1
                    switch c.classify(answer) {
                    case (true, false): row.evidence += 1
                    case (false, true): row.parametric += 1
                    case (true, true): row.both += 1
                    case (false, false): row.neither += 1
                    }
                    progress?("[\(method.label) \(i + 1)/\(cases.count)] \(answer.debugDescription)")
                }
                rows.append(row)
            } catch let e as StrategyError where rows.count > 0 {
                skipped.append((method.label, e.description))
            }
        }
        return Report(rows: rows, maxNewTokens: maxNewTokens, skipped: skipped)
    }
}

/// A measurement harness could not run; each message says what to change.
public enum BenchmarkError: Error, Equatable, CustomStringConvertible {
    /// The Spec-Bench question file is missing or unreadable.
    case questionsUnreadable(path: String)
    /// Line `line` (1-based) of `source` is not a Spec-Bench question object.
    case malformedQuestion(source: String, line: Int)
    /// A Spec-Bench run was given no methods (it needs at least the baseline).
    case noMethods
    /// A method name matches none of the available methods (nor a variant `name@…`).
    case unknownMethod(name: String, available: [String])
    /// A harness parameter is outside its range.
    case invalidParameter(name: String, value: String, expected: String)
    /// The text file of the tokenizer benchmark is missing or unreadable.
    case textFileUnreadable(path: String)
    /// The text file of the tokenizer benchmark is neither a JSON array of strings nor UTF-8 text.
    case textFileNotText(path: String)
    /// A competing process for `bench --busy` could not be started (`posix_spawn` returned `code`).
    case cannotStartProcess(path: String, code: Int)
    /// The evidence-QA case file is missing, unreadable, or not a JSON array of cases.
    case evidenceCasesUnreadable(path: String, reason: String)

    public var description: String {
        switch self {
        case .evidenceCasesUnreadable(let path, let reason):
            return "cannot use the evidence-QA cases at \(path): \(reason); give a JSON array of {\"context\", \"question\", \"evidence_answer\", \"parametric_answer\"} objects"
        case .questionsUnreadable(let path):
            return "cannot read the Spec-Bench questions at \(path): give an existing JSONL file with one {\"question_id\", \"category\", \"turns\": [...]} object per line"
        case .malformedQuestion(let source, let line):
            return "\(source) line \(line): expected {\"question_id\", \"category\", \"turns\": [...]} with a category string and at least one turn; fix or remove that line"
        case .noMethods:
            return "a Spec-Bench run needs at least one method, the baseline (greedy) first"
        case .unknownMethod(let name, let available):
            return "unknown method '\(name)'; available: \(available.joined(separator: ", "))"
        case .invalidParameter(let name, let value, let expected):
            return "\(name) must be \(expected), got \(value)"
        case .textFileUnreadable(let path):
            return "cannot read the text file \(path): give an existing file (a JSON array of strings, or UTF-8 text)"
        case .textFileNotText(let path):
            return "\(path) is neither a JSON array of strings nor UTF-8 text: convert it to UTF-8 or give a JSON array of strings"
        case .cannotStartProcess(let path, let code):
            return "cannot start the competing process \(path) (posix_spawn error \(code)): check that the file exists and is executable, or run bench without --busy"
        }
    }
}

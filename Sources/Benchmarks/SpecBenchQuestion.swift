import Foundation

/// One question of Spec-Bench (Xia et al., "Unlocking Efficiency in Large Language Model
/// Inference: A Comprehensive Survey of Speculative Decoding", ACL 2024 Findings,
/// arXiv:2401.07851): its id, its category and the first of its user turns, which is what the
/// benchmark prompts with.
public struct SpecBenchQuestion: Sendable, Equatable {
    public var id: Int
    public var category: String
    public var firstTurn: String

    public init(id: Int, category: String, firstTurn: String) {
        self.id = id
        self.category = category
        self.firstTurn = firstTurn
    }

    /// Where the question set that ships with Touchstone lives, relative to the package root.
    public static let shippedFileRelativePath = "Fixtures/spec-bench/question.jsonl"

    /// The first of `directories` that holds `shippedFileRelativePath`, as a path; nil when none
    /// does. The directories are tried in the order given.
    public static func locateShippedFile(searching directories: [String]) -> String? {
        for directory in directories {
            let path = URL(fileURLWithPath: directory).appendingPathComponent(shippedFileRelativePath).path
            if FileManager.default.isReadableFile(atPath: path) { return path }
        }
        return nil
    }

    /// Reads a Spec-Bench `question.jsonl` (see `parse(jsonLines:source:)`).
    public static func read(contentsOfFile path: String) throws -> [SpecBenchQuestion] {
        guard let data = FileManager.default.contents(atPath: path) else { throw BenchmarkError.questionsUnreadable(path: path) }
        return try parse(jsonLines: data, source: path)
    }

    /// Parses JSON Lines: one object per line with a `category` string and a `turns` array of
    /// strings (at least one); `question_id` is optional (the 0-based line index when absent).
    /// Lines end with `\n` or `\r\n`; blank lines are skipped but still counted, so an error
    /// names the line as an editor shows it (`BenchmarkError.malformedQuestion`, 1-based).
    /// Questions are returned in file order.
    public static func parse(jsonLines data: Data, source: String) throws -> [SpecBenchQuestion] {
        var questions: [SpecBenchQuestion] = []
        let bytes = [UInt8](data)
        var lineStart = 0
        var lineIndex = 0
        while lineStart <= bytes.count {
            var lineEnd = lineStart
            while lineEnd < bytes.count && bytes[lineEnd] != UInt8(ascii: "\n") { lineEnd += 1 }
            var contentEnd = lineEnd
            if contentEnd > lineStart && bytes[contentEnd - 1] == UInt8(ascii: "\r") { contentEnd -= 1 }
            let line = bytes[lineStart..<contentEnd]
            let blank = line.allSatisfy { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
            if !blank {
                guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
                      let category = object["category"] as? String, let turns = object["turns"] as? [String], let first = turns.first else {
                    throw BenchmarkError.malformedQuestion(source: source, line: lineIndex + 1)
                }
                questions.append(SpecBenchQuestion(id: object["question_id"] as? Int ?? lineIndex, category: category, firstTurn: first))
            }
            lineStart = lineEnd + 1
            lineIndex += 1
        }
        return questions
    }
}

/// The questions a run uses and the categories it reports, in file order.
public struct SpecBenchSelection: Sendable, Equatable {
    /// Every category of the file that was asked for, in order of first appearance (a category
    /// whose questions were all skipped is still listed; the report leaves it out).
    public var categories: [String]
    /// Per category in `categories` order: its questions in file order, after skipping
    /// `skippingPerCategory` and keeping at most `perCategory`.
    public var questions: [SpecBenchQuestion]

    /// `categories` nil selects every category; otherwise only those named (file order kept,
    /// unknown names ignored).
    public init(from questions: [SpecBenchQuestion], categories wanted: [String]? = nil, perCategory: Int, skippingPerCategory skip: Int = 0) {
        var categories: [String] = []
        for q in questions where !categories.contains(q.category) { categories.append(q.category) }
        if let wanted { categories = categories.filter { wanted.contains($0) } }
        self.categories = categories
        self.questions = categories.flatMap { c in questions.filter { $0.category == c }.dropFirst(max(0, skip)).prefix(max(0, perCategory)) }
    }
}

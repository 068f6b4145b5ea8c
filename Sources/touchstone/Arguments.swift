import Foundation

/// A user-facing command-line error: printed to stderr, exit status 2 (usage) or 1 (runtime).
struct CLIError: Error, CustomStringConvertible {
    let description: String
    let isUsage: Bool
    init(_ message: String, usage: Bool = true) {
        description = message
        isUsage = usage
    }
}

/// Hand-written parsing of `--name value`, `--name=value` and `--flag`.
struct Arguments {
    let command: String
    private(set) var values: [String: String] = [:]
    private(set) var flags: Set<String> = []
    private(set) var positional: [String] = []
    private var consumed: Set<String> = []

    /// `valueOptions` take a value; `flagOptions` do not. Anything else is an error.
    init(command: String, _ raw: [String], valueOptions: Set<String>, flagOptions: Set<String>) throws {
        self.command = command
        var i = 0
        while i < raw.count {
            let arg = raw[i]
            if arg.hasPrefix("--") {
                var name = String(arg.dropFirst(2))
                var inline: String? = nil
                if let eq = name.firstIndex(of: "=") {
                    inline = String(name[name.index(after: eq)...])
                    name = String(name[..<eq])
                }
                if valueOptions.contains(name) {
                    if let inline { values[name] = inline } else {
                        guard i + 1 < raw.count else { throw CLIError("--\(name) needs a value (touchstone help \(command))") }
                        values[name] = raw[i + 1]
                        i += 1
                    }
                } else if flagOptions.contains(name) {
                    if inline != nil { throw CLIError("--\(name) takes no value") }
                    flags.insert(name)
                } else {
                    let known = (valueOptions.union(flagOptions)).sorted().map { "--" + $0 }.joined(separator: " ")
                    throw CLIError("unknown option --\(name) for '\(command)'. Options: \(known)")
                }
            } else {
                positional.append(arg)
            }
            i += 1
        }
    }

    func string(_ name: String) -> String? { values[name] }
    func has(_ name: String) -> Bool { flags.contains(name) }

    func int(_ name: String, default value: Int? = nil, range: ClosedRange<Int>? = nil) throws -> Int? {
        guard let raw = values[name] else { return value }
        guard let v = Int(raw) else { throw CLIError("--\(name) must be an integer, got '\(raw)'") }
        if let range, !range.contains(v) { throw CLIError("--\(name) must be in \(range.lowerBound)...\(range.upperBound), got \(v)") }
        return v
    }

    func double(_ name: String) throws -> Double? {
        guard let raw = values[name] else { return nil }
        guard let v = Double(raw), v.isFinite else { throw CLIError("--\(name) must be a number, got '\(raw)'") }
        return v
    }

    /// The parts of a comma-separated option value, trimmed; empty parts are kept (`1,,2` has
    /// three parts), so a caller that parses each part rejects them.
    static func commaSeparated(_ text: String) -> [String] {
        text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
    }

    /// A comma-separated list of non-negative integers (`1,2,3`; spaces allowed).
    func ids(_ name: String) throws -> [Int]? {
        guard let raw = values[name] else { return nil }
        let parts = raw.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        var out: [Int] = []
        for p in parts {
            guard let v = Int(p), v >= 0 else { throw CLIError("--\(name): '\(p)' is not a token id (expected comma-separated non-negative integers)") }
            out.append(v)
        }
        if out.isEmpty { throw CLIError("--\(name) is empty; give comma-separated token ids like 1,2,3") }
        return out
    }
}

/// Writes to stderr.
func printError(_ message: String) {
    FileHandle.standardError.write((message + "\n").data(using: .utf8)!)
}

/// Writes to stderr without a newline (progress lines that `\r` rewrites).
func writeStderr(_ text: String) {
    FileHandle.standardError.write(text.data(using: .utf8)!)
}

/// Writes to stdout without a newline and flushes (for streaming).
func writeStdout(_ text: String) {
    FileHandle.standardOutput.write(text.data(using: .utf8)!)
}

import Foundation
#if canImport(Glibc)
import Glibc
#endif

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

    /// `valueOptions` take a value; `flagOptions` do not. Anything else is an error, and so is an
    /// option given twice or more than `positionalLimit` arguments that are not options (only
    /// `verify` takes any).
    init(command: String, _ raw: [String], valueOptions: Set<String>, flagOptions: Set<String>, positionalLimit: Int = 0) throws {
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
                if (values[name] != nil && !Arguments.repeatable.contains(name)) || flags.contains(name) {
                    throw CLIError("--\(name) is given more than once; give it once")
                }
                if valueOptions.contains(name) {
                    var value: String
                    if let inline { value = inline } else {
                        guard i + 1 < raw.count else { throw CLIError("--\(name) needs a value (touchstone help \(command))") }
                        value = raw[i + 1]
                        i += 1
                    }
                    // A repeatable option's values join as one comma-separated list.
                    if let earlier = values[name] { value = earlier + "," + value }
                    values[name] = value
                } else if flagOptions.contains(name) {
                    if inline != nil { throw CLIError("--\(name) takes no value") }
                    flags.insert(name)
                } else {
                    let known = (valueOptions.union(flagOptions)).sorted().map { "--" + $0 }.joined(separator: " ")
                    throw CLIError("unknown option --\(name) for '\(command)'. Options: \(known)")
                }
            } else {
                guard positional.count < positionalLimit else {
                    throw CLIError("unexpected argument '\(arg)' for '\(command)' (options start with --; touchstone help \(command))")
                }
                positional.append(arg)
            }
            i += 1
        }
    }

    /// Options that may be given several times (their values are joined with commas).
    static let repeatable: Set<String> = ["clamp-neuron"]

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

// MARK: output

/// Every byte the CLI writes to stdout or stderr goes through `write(2)` here, with its result
/// checked: a failed write (a full disk or `/dev/full`, a broken pipe with SIGPIPE ignored, a
/// closed descriptor) ends the process with a message on stderr and exit status 1 — never a
/// crash, never a silent success. When stderr itself cannot be written, the exit status is the
/// only report.
enum StandardStreams {
    /// Exit status after a failed write to stdout or stderr.
    static let writeFailureStatus: Int32 = 1
    nonisolated(unsafe) private static var closedAtStart: Set<Int32> = []

    /// Run first: a standard descriptor that is closed when the process starts is held open on
    /// /dev/null (so no file the process opens later takes its number) and remembered as closed,
    /// so that writing to it still fails.
    static func claimClosedDescriptors() {
        for fd: Int32 in [0, 1, 2] where fcntl(fd, F_GETFD) == -1 {
            let opened = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY)
            if opened == fd { closedAtStart.insert(fd) } else if opened >= 0 { close(opened) }
        }
    }

    /// Writes all of `text` to `fd` (1 or 2), retrying short writes and EINTR; the errno of the
    /// failure otherwise (EBADF for a descriptor that was closed at start).
    static func write(_ text: String, to fd: Int32) -> Int32? {
        if closedAtStart.contains(fd) { return EBADF }
        var bytes = Array(text.utf8)
        return bytes.withUnsafeMutableBytes { buffer -> Int32? in
            var offset = 0
            while offset < buffer.count {
                let n = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                offset += n
            }
            return nil
        }
    }

    /// Ends the process after a failed write to `stream` ("stdout" or "stderr").
    static func fail(_ stream: String, errno code: Int32) -> Never {
        if stream != "stderr" {
            _ = write("touchstone: error: cannot write to \(stream): \(String(cString: strerror(code))) — the output is incomplete\n", to: 2)
        }
        exit(writeFailureStatus)
    }

    /// Flushes C stdio's stdout (anything written by a library through `printf`/`Swift.print`)
    /// and fails like `write` if it ever failed.
    static func flushBufferedOutput() {
        if fflush(stdout) != 0 || ferror(stdout) != 0 { fail("stdout", errno: errno == 0 ? EIO : errno) }
    }
}

/// Writes to stderr (a line).
func printError(_ message: String) {
    writeStderr(message + "\n")
}

/// Writes to stderr without a newline (progress lines that `\r` rewrites).
func writeStderr(_ text: String) {
    if let code = StandardStreams.write(text, to: 2) { StandardStreams.fail("stderr", errno: code) }
}

/// Writes to stdout without a newline, unbuffered (for streaming).
func writeStdout(_ text: String) {
    if let code = StandardStreams.write(text, to: 1) { StandardStreams.fail("stdout", errno: code) }
}

/// Writes a line to stdout. Shadows `Swift.print` in this module so that every command's output
/// is checked.
func print(_ line: String) {
    writeStdout(line + "\n")
}

import Foundation
import Formats

/// One option a decoding strategy takes: its command-line name, the values it accepts, its
/// default and one line of help. The CLI's parsing, validation and `help generate` come from these
/// declarations, and fixtures record option values under `key`.
public struct StrategyOption: Sendable {
    /// The values an option accepts.
    public enum Kind: Sendable, Equatable {
        /// A whole number in the range.
        case integer(ClosedRange<Int>)
        /// A finite number, in the range when one is given.
        case number(ClosedRange<Double>?)
        /// One of the listed words.
        case choice([String])
        /// Free text the strategy interprets (a list, a file path, a model name).
        case text(placeholder: String)
    }

    /// The name after `--` on the command line (kebab-case).
    public let name: String
    /// The key of this option in fixtures and JSON statistics (snake_case).
    public let key: String
    public let kind: Kind
    /// The value used when the option is absent, written as it would be typed; nil = no default
    /// (the option is optional, or `required`).
    public let defaultValue: String?
    public let required: Bool
    public let help: String

    public init(_ name: String, key: String? = nil, _ kind: Kind, default defaultValue: String? = nil, required: Bool = false, help: String) {
        self.name = name
        self.key = key ?? name.replacingOccurrences(of: "-", with: "_")
        self.kind = kind
        self.defaultValue = defaultValue
        self.required = required
        self.help = help
    }

    /// `--num-beams N (4, 1...256)  beams kept per step` — one line of `help generate`.
    public var helpLine: String {
        var placeholder: String
        var detail: [String] = []
        switch kind {
        case .integer(let r):
            placeholder = "N"
            detail.append("\(r.lowerBound)...\(r.upperBound == Int.max ? "" : String(r.upperBound))")
        case .number(let r):
            placeholder = "X"
            if let r { detail.append("\(Self.format(r.lowerBound))...\(Self.format(r.upperBound))") }
        case .choice(let words): placeholder = words.joined(separator: "|")
        case .text(let p): placeholder = p
        }
        if let d = defaultValue { detail.insert("default \(d)", at: 0) }
        if required { detail.insert("required", at: 0) }
        let head = "--\(name) \(placeholder)" + (detail.isEmpty ? "" : " (\(detail.joined(separator: ", ")))")
        return head + "  " + help
    }

    private static func format(_ x: Double) -> String {
        x == x.rounded() && abs(x) < 1e15 ? String(Int(x)) : String(x)
    }
}

/// A strategy option given a bad value, a missing required option, or an option a strategy does
/// not take. The message names the option and says what it accepts.
public struct StrategyError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The values given for a strategy's options, as text (what the command line or a fixture's
/// record holds). Typed reads validate against the option's declaration and fall back to its
/// default.
public struct StrategyArguments: Sendable {
    public private(set) var values: [String: String]

    public init(_ values: [String: String] = [:]) { self.values = values }

    /// Whether the option was given (defaults do not count).
    public func has(_ option: StrategyOption) -> Bool { values[option.name] != nil }

    /// The given text, else the default.
    public func text(_ option: StrategyOption) throws -> String? {
        guard let raw = values[option.name] ?? option.defaultValue else {
            if option.required { throw StrategyError("--\(option.name) is required: \(option.help)") }
            return nil
        }
        if case .choice(let words) = option.kind, !words.contains(raw.lowercased()) {
            throw StrategyError("--\(option.name) must be \(Self.alternatives(words)), got '\(raw)'")
        }
        return raw
    }

    public func int(_ option: StrategyOption) throws -> Int? {
        guard let raw = try text(option) else { return nil }
        guard let v = Int(raw.trimmingCharacters(in: .whitespaces)) else { throw StrategyError("--\(option.name) must be an integer, got '\(raw)'") }
        if case .integer(let range) = option.kind, !range.contains(v) {
            throw StrategyError("--\(option.name) must be in \(range.lowerBound)...\(range.upperBound), got \(v)")
        }
        return v
    }

    public func double(_ option: StrategyOption) throws -> Double? {
        guard let raw = try text(option) else { return nil }
        guard let v = Double(raw.trimmingCharacters(in: .whitespaces)), v.isFinite else { throw StrategyError("--\(option.name) must be a number, got '\(raw)'") }
        if case .number(let range?) = option.kind, !range.contains(v) {
            throw StrategyError("--\(option.name) must be in \(range.lowerBound)...\(range.upperBound), got \(raw)")
        }
        return v
    }

    /// The arguments that rebuild a recorded parameter list (`key: value` pairs of a fixture) for
    /// these options: each value written as it would be typed.
    public static func fromRecord(_ parameters: [(String, JSONValue)], options: [StrategyOption]) -> StrategyArguments {
        var values: [String: String] = [:]
        for (key, value) in parameters {
            guard let option = options.first(where: { $0.key == key }) else { continue }
            switch value {
            case .int(let i): values[option.name] = String(i)
            case .double(let d): values[option.name] = String(d)
            case .float(let f): values[option.name] = String(f)
            case .string(let s): values[option.name] = s
            case .bool(let b): values[option.name] = b ? "true" : "false"
            default: continue
            }
        }
        return StrategyArguments(values)
    }

    static func alternatives(_ words: [String]) -> String {
        words.count <= 1 ? (words.first ?? "") : words.dropLast().joined(separator: ", ") + " or " + words.last!
    }
}

import Foundation
import Formats

/// Compares two activation dumps (`ActivationDump`) array by array, in the reference's forward
/// order, and names the first place where the error jumps: the likely faulty operation.
///
/// For a reference array `a` and the candidate's array `b` of the same name and shape:
///
///     max_abs_error  = max_i |a_i − b_i|                  (Float64)
///     normalized_mse = Σ_i (a_i − b_i)² / Σ_i a_i²        (Float64 sums in index order)
///
/// A pair of equal values (same bits, NaN included) differs by 0; a non-finite difference
/// otherwise makes both errors +∞. When `Σ a_i² = 0`, `normalized_mse` is 0 if the arrays are
/// equal and +∞ if not.
///
/// **The jump rule.** Walk the arrays both dumps hold, in the reference's order, keeping
/// `previous` = the normalized MSE of the array compared just before (0 before the first). The
/// first jump is the first array whose normalized MSE exceeds both `rule.floor` (1e-6 by
/// default: a relative RMS error of 1e-3, far above Float32 rounding, which gives ~1e-14) and
/// `rule.ratio × previous` (100× by default). An error that grows gradually through the layers
/// (different reduction orders, accumulated rounding) never jumps; an operation that is wrong
/// jumps where it runs. Arrays missing from the candidate are skipped (reported); a shape
/// mismatch is reported and skipped. Separately, `firstDifference` is the first array that is
/// not bit-identical at all — the place to look when a port should be exact.
public enum Explainer {
    /// The thresholds of the jump rule.
    public struct Rule: Equatable, Sendable {
        /// Normalized MSE at or below which an array never counts as a jump.
        public var floor: Double
        /// How many times the previous array's normalized MSE an array must exceed.
        public var ratio: Double

        public init(floor: Double = 1e-6, ratio: Double = 100) {
            self.floor = floor
            self.ratio = ratio
        }
    }

    /// One reference array and how the candidate's compares.
    public struct Comparison: Equatable {
        public enum Status: String, Sendable {
            case compared
            case missing = "missing_in_candidate"
            case shapeMismatch = "shape_mismatch"
        }
        public var name: String
        public var layer: Int?
        public var operation: String
        public var shape: [Int]
        public var status: Status
        /// The candidate's shape when it differs.
        public var candidateShape: [Int]?
        /// 0 when not compared.
        public var maxAbsError: Double
        public var normalizedMSE: Double
        /// Row-major index of the largest |Δ| (the first one among equals), when any differs.
        public var worstIndex: Int?
    }

    public struct Report: Equatable {
        public var rule: Rule
        /// Every reference array, in forward order.
        public var comparisons: [Comparison]
        /// Index in `comparisons` of the first array that is not bit-identical.
        public var firstDifference: Int?
        /// Index in `comparisons` of the first jump, and of the compared array before it.
        public var firstJump: Int?
        public var jumpPredecessor: Int?
        /// Notes: prompt mismatch, missing or extra arrays.
        public var notes: [String]

        public var comparedCount: Int { comparisons.filter { $0.status == .compared }.count }
        /// No jump, no shape mismatch, and at least one array compared.
        public var passes: Bool {
            firstJump == nil && comparedCount > 0 && !comparisons.contains { $0.status == .shapeMismatch }
        }
    }

    /// `(max |a − b|, Σ(a − b)² / Σa², index of the largest |Δ|)`; see the type's
    /// documentation for the edge cases. `a` and `b` have the same count.
    public static func errors(reference a: [Float], candidate b: [Float]) -> (maxAbs: Double, normalizedMSE: Double, worstIndex: Int?) {
        precondition(a.count == b.count, "Explainer.errors: \(a.count) reference values, \(b.count) candidate values")
        var maxAbs = 0.0, squared = 0.0, reference = 0.0
        var worst: Int? = nil
        for i in 0..<a.count {
            let x = Double(a[i])
            reference += x * x
            if a[i].bitPattern == b[i].bitPattern { continue }
            var d = abs(x - Double(b[i]))
            if !d.isFinite || d.isNaN { d = .infinity }
            squared += d * d
            if d > maxAbs || worst == nil { maxAbs = d; worst = i }
        }
        let normalized: Double
        if squared == 0 { normalized = 0 } else if reference == 0 || !reference.isFinite || !squared.isFinite { normalized = .infinity } else { normalized = squared / reference }
        return (maxAbs, normalized, maxAbs > 0 ? worst : nil)
    }

    /// Compares `candidate` with `reference` (see the type's documentation).
    public static func explain(reference: ActivationDump, candidate: ActivationDump, rule: Rule = Rule()) -> Report {
        var notes: [String] = []
        if !reference.promptIDs.isEmpty && !candidate.promptIDs.isEmpty && reference.promptIDs != candidate.promptIDs {
            notes.append("prompt ids differ: reference \(reference.promptIDs), candidate \(candidate.promptIDs) — the dumps are of different prompts")
        }
        let byName = Dictionary(candidate.entries.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var comparisons: [Comparison] = []
        var firstDifference: Int? = nil, firstJump: Int? = nil, predecessor: Int? = nil
        var previous = 0.0
        var previousIndex: Int? = nil
        var missing: [String] = []
        for r in reference.entries {
            var c = Comparison(name: r.name, layer: r.layer, operation: r.operation, shape: r.shape, status: .compared,
                               candidateShape: nil, maxAbsError: 0, normalizedMSE: 0, worstIndex: nil)
            guard let b = byName[r.name] else {
                c.status = .missing
                missing.append(r.name)
                comparisons.append(c)
                continue
            }
            guard b.shape == r.shape, b.values.count == r.values.count else {
                c.status = .shapeMismatch
                c.candidateShape = b.shape
                comparisons.append(c)
                continue
            }
            let e = errors(reference: r.values, candidate: b.values)
            c.maxAbsError = e.maxAbs
            c.normalizedMSE = e.normalizedMSE
            c.worstIndex = e.worstIndex
            let index = comparisons.count
            if firstDifference == nil && e.maxAbs > 0 { firstDifference = index }
            if firstJump == nil && e.normalizedMSE > rule.floor && e.normalizedMSE > rule.ratio * previous {
                firstJump = index
                predecessor = previousIndex
            }
            previous = e.normalizedMSE
            previousIndex = index
            comparisons.append(c)
        }
        if !missing.isEmpty {
            notes.append("\(missing.count) reference array(s) missing from the candidate, skipped: \(missing.prefix(8).joined(separator: ", "))\(missing.count > 8 ? ", …" : "")")
        }
        let referenceNames = Set(reference.entries.map(\.name))
        let extra = candidate.entries.filter { !referenceNames.contains($0.name) }.map(\.name)
        if !extra.isEmpty {
            notes.append("\(extra.count) candidate array(s) not in the reference, ignored: \(extra.prefix(8).joined(separator: ", "))\(extra.count > 8 ? ", …" : "")")
        }
        return Report(rule: rule, comparisons: comparisons, firstDifference: firstDifference, firstJump: firstJump,
                      jumpPredecessor: predecessor, notes: notes)
    }
}

extension Explainer.Report {
    /// "token t, column j" of a row-major `[T, width]` index.
    static func position(_ index: Int?, shape: [Int]) -> String? {
        guard let index, shape.count == 2, shape[1] > 0 else { return index.map { "element \($0)" } }
        return "token \(index / shape[1]), column \(index % shape[1])"
    }

    private static func number(_ x: Double) -> String {
        if x == 0 { return "0" }
        if !x.isFinite { return "inf" }
        return String(format: "%.3e", x)
    }

    private static func setting(_ x: Double) -> String { String(format: "%g", x) }

    /// A sentence naming the first jump (or saying there is none).
    public var jumpSummary: String {
        guard let j = firstJump else {
            return "no jump: no array's normalized MSE exceeds both the floor \(Self.setting(rule.floor)) and \(Self.setting(rule.ratio))× the array before it"
        }
        let c = comparisons[j]
        let before = jumpPredecessor.map { "\(comparisons[$0].name)'s \(Self.number(comparisons[$0].normalizedMSE))" } ?? "0 (it is the first array compared)"
        var s = "first jump: \(c.name)\(c.layer.map { " (block \($0))" } ?? "") — normalized MSE \(Self.number(c.normalizedMSE)) exceeds the floor \(Self.setting(rule.floor)) and \(Self.setting(rule.ratio))× \(before)"
        if let p = Self.position(c.worstIndex, shape: c.shape) { s += "; largest |Δ| \(Self.number(c.maxAbsError)) at \(p)" }
        if !c.operation.isEmpty { s += ". Likely faulty operation: \(c.operation)" }
        return s
    }

    /// The report as text lines: a table of every array, the first difference, the jump, notes.
    public var lines: [String] {
        let width = max(24, (comparisons.map(\.name.count).max() ?? 0) + 2)
        func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count) }
        var out = [pad("array", width) + pad("shape", 14) + pad("max |Δ|", 12) + "normalized MSE"]
        for (i, c) in comparisons.enumerated() {
            let shape = c.shape.map(String.init).joined(separator: "×")
            var line = pad(c.name, width) + pad(shape, 14)
            switch c.status {
            case .compared: line += pad(Self.number(c.maxAbsError), 12) + Self.number(c.normalizedMSE)
            case .missing: line += "(missing in the candidate)"
            case .shapeMismatch: line += "(candidate shape \((c.candidateShape ?? []).map(String.init).joined(separator: "×")))"
            }
            if i == firstJump { line += "   <- first jump" }
            out.append(line)
        }
        if let d = firstDifference {
            out.append("first difference: \(comparisons[d].name) (every array before it is bit-identical)")
        } else if comparedCount > 0 {
            out.append("every compared array is bit-identical (\(comparedCount) arrays)")
        }
        out.append(jumpSummary)
        out.append(contentsOf: notes)
        return out
    }

    /// The report as one JSON document (keys documented in DOCS.md section 7.1).
    public var json: JSONValue {
        func describe(_ index: Int?) -> JSONValue {
            guard let index else { return .null }
            let c = comparisons[index]
            return .object([("index", .int(index)), ("name", .string(c.name)), ("layer", c.layer.map { .int($0) } ?? .null),
                            ("operation", .string(c.operation)), ("max_abs_error", .double(c.maxAbsError)),
                            ("normalized_mse", .double(c.normalizedMSE)),
                            ("worst_position", Self.position(c.worstIndex, shape: c.shape).map { .string($0) } ?? .null)])
        }
        return .object([
            ("passes", .bool(passes)),
            ("rule", .object([("floor", .double(rule.floor)), ("ratio", .double(rule.ratio))])),
            ("compared_arrays", .int(comparedCount)),
            ("first_difference", describe(firstDifference)),
            ("first_jump", describe(firstJump)),
            ("jump_predecessor", describe(jumpPredecessor)),
            ("arrays", .array(comparisons.map { c in
                .object([("name", .string(c.name)), ("layer", c.layer.map { .int($0) } ?? .null), ("shape", .ints(c.shape)),
                         ("status", .string(c.status.rawValue)),
                         ("max_abs_error", c.status == .compared ? .double(c.maxAbsError) : .null),
                         ("normalized_mse", c.status == .compared ? .double(c.normalizedMSE) : .null)])
            })),
            ("notes", .array(notes.map { .string($0) })),
            ("summary", .string(jumpSummary)),
        ])
    }
}

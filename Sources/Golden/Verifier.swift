import Foundation

/// Compares a candidate trace from another backend with a fixture.
///
/// Tokens must match exactly; where both sides give a chosen token's logit (or top logits for the
/// same ids), they must agree within the tolerance (the fixture's, unless one is given). At the
/// first divergence the report gives the step, both tokens, and the reference's top-2 margin, so
/// a near-tie (small margin) can be told from a bug (large margin). The report always says what
/// was compared — tokens only, chosen logits, top-k logits — and how many values.
public enum Verifier {
    public struct Report: Equatable {
        public var matches: Bool
        /// Steps compared completely before the first divergence (all steps on a match).
        public var comparedSteps: Int
        public var firstDivergence: Divergence?
        /// Largest |Δlogit| seen over the compared values (chosen tokens and shared top ids).
        public var maxLogitDifference: Float
        /// Where the largest |Δlogit| was seen: the step and the token id whose logits differed.
        public var maxLogitDifferenceAt: (step: Int, id: Int)?
        /// Token positions compared (a divergent token counts), chosen-token logits compared,
        /// and top-k logits compared (ids present in both top lists).
        public var comparedTokens: Int
        public var comparedChosenLogits: Int
        public var comparedTopLogits: Int
        /// The absolute logit tolerance the comparison used.
        public var tolerance: Float
        public var messages: [String]

        /// What was compared, by the deepest kind of value that was.
        public var depth: Depth {
            comparedTopLogits > 0 ? .topLogits : comparedChosenLogits > 0 ? .chosenLogits : .tokensOnly
        }

        /// "24 tokens, 24 chosen logits, 120 top-k logits compared".
        public var comparedDescription: String {
            func n(_ count: Int, _ what: String) -> String { "\(count) \(what)" }
            var parts = [n(comparedTokens, comparedTokens == 1 ? "token" : "tokens")]
            if comparedChosenLogits > 0 || comparedTopLogits > 0 {
                parts.append(n(comparedChosenLogits, comparedChosenLogits == 1 ? "chosen logit" : "chosen logits"))
                parts.append(n(comparedTopLogits, comparedTopLogits == 1 ? "top-k logit" : "top-k logits"))
                return parts.joined(separator: ", ") + " compared"
            }
            return parts[0] + " compared (tokens only: no logits to compare)"
        }

        /// Every message, one per line: what diverged (if anything) and what was compared.
        public var summary: String { messages.joined(separator: "\n") }

        public static func == (a: Report, b: Report) -> Bool {
            a.matches == b.matches && a.comparedSteps == b.comparedSteps && a.firstDivergence == b.firstDivergence
                && a.maxLogitDifference == b.maxLogitDifference && a.maxLogitDifferenceAt?.step == b.maxLogitDifferenceAt?.step
                && a.maxLogitDifferenceAt?.id == b.maxLogitDifferenceAt?.id && a.comparedTokens == b.comparedTokens
                && a.comparedChosenLogits == b.comparedChosenLogits && a.comparedTopLogits == b.comparedTopLogits
                && a.tolerance == b.tolerance && a.messages == b.messages
        }
    }

    /// The deepest kind of value a report compared.
    public enum Depth: String, Equatable {
        case tokensOnly = "tokens only"
        case chosenLogits = "chosen logits"
        case topLogits = "top-k logits"
    }

    public struct Divergence: Equatable {
        public var step: Int
        public var referenceToken: Int?
        public var candidateToken: Int?
        public var referenceTopTwoMargin: Float?
        /// The candidate's logit for the reference's token, when the candidate reports it.
        public var candidateLogitOfReferenceToken: Float?
        public var kind: String   // "token", "logit", "length", "prompt"
    }

    /// Compares a candidate given as a fixture-shaped document (an empty trace means tokens
    /// only). Kept for callers of the first API; `verify(candidate:against:tolerance:)` is
    /// the strict form.
    public static func verify(reference: Fixture, candidate: Fixture) -> Report {
        verify(reference: reference, outputIDs: candidate.outputIDs, steps: candidate.trace.isEmpty ? nil : candidate.trace,
               promptIDs: candidate.promptIDs.isEmpty ? nil : candidate.promptIDs, tolerance: reference.logitTolerance)
    }

    /// Compares a candidate with a fixture within `tolerance` (default: the fixture's).
    /// The candidate should be valid (`CandidateTrace.validate()`); a trace shorter than the
    /// output is compared where it exists.
    public static func verify(candidate: CandidateTrace, against reference: Fixture, tolerance: Float? = nil) -> Report {
        verify(reference: reference, outputIDs: candidate.outputIDs, steps: candidate.steps, promptIDs: candidate.promptIDs,
               tolerance: tolerance ?? reference.logitTolerance)
    }

    static func verify(reference: Fixture, outputIDs: [Int], steps: [Fixture.Step]?, promptIDs: [Int]?, tolerance: Float) -> Report {
        var report = Report(matches: false, comparedSteps: 0, firstDivergence: nil, maxLogitDifference: 0, maxLogitDifferenceAt: nil,
                            comparedTokens: 0, comparedChosenLogits: 0, comparedTopLogits: 0, tolerance: tolerance, messages: [])
        func finish(_ divergence: Divergence?, _ message: String?) -> Report {
            report.firstDivergence = divergence
            report.matches = divergence == nil
            if let message { report.messages.append(message) }
            var compared = report.comparedDescription
            if report.comparedChosenLogits + report.comparedTopLogits > 0 {
                compared += String(format: "; max |Δlogit| %.3g", report.maxLogitDifference)
                if let at = report.maxLogitDifferenceAt, report.maxLogitDifference > 0 { compared += " at step \(at.step), token \(at.id)" }
                compared += " (tolerance \(tolerance))"
            }
            report.messages.append((divergence == nil ? "" : "before the divergence: ") + compared)
            return report
        }
        if let promptIDs, !reference.promptIDs.isEmpty, promptIDs != reference.promptIDs {
            let d = Divergence(step: 0, referenceToken: nil, candidateToken: nil, referenceTopTwoMargin: nil,
                               candidateLogitOfReferenceToken: nil, kind: "prompt")
            return finish(d, "candidate diverges before step 0: its prompt_ids \(promptIDs) are not the fixture's \(reference.promptIDs); run the fixture's prompt")
        }
        let n = max(reference.outputIDs.count, outputIDs.count)
        for step in 0..<n {
            let r = step < reference.outputIDs.count ? reference.outputIDs[step] : nil
            let c = step < outputIDs.count ? outputIDs[step] : nil
            let rs = step < reference.trace.count ? reference.trace[step] : nil
            let cs = steps.flatMap { step < $0.count ? $0[step] : nil }
            report.comparedTokens += 1
            if r != c {
                let candidateLogit = cs?.top.first(where: { $0.id == r })?.logit
                let d = Divergence(step: step, referenceToken: r, candidateToken: c, referenceTopTwoMargin: rs?.topTwoMargin,
                                   candidateLogitOfReferenceToken: candidateLogit, kind: r == nil || c == nil ? "length" : "token")
                return finish(d, describe(d))
            }
            guard let rs, let cs else { report.comparedSteps = step + 1; continue }
            var diffs: [(id: Int, difference: Float)] = []
            // Equal infinities (both masked) differ by 0; a masked and an unmasked logit by ∞.
            func difference(_ a: Float, _ b: Float) -> Float { a == b ? 0 : abs(a - b) }
            if let a = rs.logit, let b = cs.logit {
                diffs.append((rs.token, difference(a, b)))
                report.comparedChosenLogits += 1
            }
            for (id, logit) in rs.top {
                if let other = cs.top.first(where: { $0.id == id }) {
                    diffs.append((id, difference(logit, other.logit)))
                    report.comparedTopLogits += 1
                }
            }
            for (id, d) in diffs {
                if d > report.maxLogitDifference || report.maxLogitDifferenceAt == nil {
                    report.maxLogitDifference = max(report.maxLogitDifference, d)
                    report.maxLogitDifferenceAt = (step, id)
                }
                if !(d <= tolerance) {
                    let div = Divergence(step: step, referenceToken: r, candidateToken: c, referenceTopTwoMargin: rs.topTwoMargin,
                                         candidateLogitOfReferenceToken: cs.logit, kind: "logit")
                    return finish(div, "candidate diverges at step \(step) (logit): token \(r!) matches but the logit of token \(id) differs by \(d) > tolerance \(tolerance)")
                }
            }
            report.comparedSteps = step + 1
        }
        return finish(nil, String(format: "all \(n) tokens match; max |Δlogit| %.3g (tolerance \(tolerance))", report.maxLogitDifference))
    }

    static func describe(_ d: Divergence) -> String {
        let r = d.referenceToken.map(String.init) ?? "(end)"
        let c = d.candidateToken.map(String.init) ?? "(end)"
        var s = "candidate diverges at step \(d.step) (\(d.kind)): reference token \(r), candidate token \(c)"
        if let m = d.referenceTopTwoMargin {
            s += String(format: "; reference top-2 margin %.6g", m)
            s += m < 1e-2 ? " (a near-tie: small numeric differences can flip it)" : " (not a near-tie: likely a real bug)"
        }
        if let l = d.candidateLogitOfReferenceToken { s += "; candidate's logit for the reference token \(l)" }
        return s
    }
}

/// Compares a candidate trace from another backend with a fixture.
///
/// Tokens must match exactly; where both sides give a chosen token's logit (or top logits for the
/// same ids), they must agree within the fixture's tolerance. At the first divergence the report
/// gives the step, both tokens, and the reference's top-2 margin, so a near-tie (small margin)
/// can be told from a bug (large margin).
public enum Verifier {
    public struct Report: Equatable {
        public var matches: Bool
        public var comparedSteps: Int
        public var firstDivergence: Divergence?
        /// Largest |Δlogit| seen over the compared steps (chosen tokens and shared top ids).
        public var maxLogitDifference: Float
        public var messages: [String]
    }

    public struct Divergence: Equatable {
        public var step: Int
        public var referenceToken: Int?
        public var candidateToken: Int?
        public var referenceTopTwoMargin: Float?
        /// The candidate's logit for the reference's token, when the candidate reports it.
        public var candidateLogitOfReferenceToken: Float?
        public var kind: String   // "token", "logit", "length"
    }

    public static func verify(reference: Fixture, candidate: Fixture) -> Report {
        var messages: [String] = []
        var maxDiff: Float = 0
        let n = max(reference.outputIDs.count, candidate.outputIDs.count)
        if !candidate.promptIDs.isEmpty && candidate.promptIDs != reference.promptIDs {
            messages.append("prompt ids differ: the candidate did not run the fixture's prompt")
        }
        for step in 0..<n {
            let r = step < reference.outputIDs.count ? reference.outputIDs[step] : nil
            let c = step < candidate.outputIDs.count ? candidate.outputIDs[step] : nil
            let rs = step < reference.trace.count ? reference.trace[step] : nil
            let cs = step < candidate.trace.count ? candidate.trace[step] : nil
            if r != c {
                let candidateLogit = cs?.top.first(where: { $0.id == r })?.logit
                let d = Divergence(step: step, referenceToken: r, candidateToken: c, referenceTopTwoMargin: rs?.topTwoMargin,
                                   candidateLogitOfReferenceToken: candidateLogit, kind: r == nil || c == nil ? "length" : "token")
                messages.append(describe(d))
                return Report(matches: false, comparedSteps: step, firstDivergence: d, maxLogitDifference: maxDiff, messages: messages)
            }
            if let rs, let cs {
                var diffs: [Float] = []
                if let a = rs.logit, let b = cs.logit { diffs.append(abs(a - b)) }
                for (id, logit) in rs.top {
                    if let other = cs.top.first(where: { $0.id == id }) { diffs.append(abs(logit - other.logit)) }
                }
                for d in diffs {
                    maxDiff = max(maxDiff, d)
                    if !(d <= reference.logitTolerance) {
                        let div = Divergence(step: step, referenceToken: r, candidateToken: c, referenceTopTwoMargin: rs.topTwoMargin,
                                             candidateLogitOfReferenceToken: cs.logit, kind: "logit")
                        messages.append("step \(step): token \(r!) matches but a logit differs by \(d) > tolerance \(reference.logitTolerance)")
                        return Report(matches: false, comparedSteps: step, firstDivergence: div, maxLogitDifference: maxDiff, messages: messages)
                    }
                }
            }
        }
        messages.append("all \(n) tokens match; max |Δlogit| \(maxDiff) (tolerance \(reference.logitTolerance))")
        return Report(matches: true, comparedSteps: n, firstDivergence: nil, maxLogitDifference: maxDiff, messages: messages)
    }

    static func describe(_ d: Divergence) -> String {
        let r = d.referenceToken.map(String.init) ?? "(end)"
        let c = d.candidateToken.map(String.init) ?? "(end)"
        var s = "first divergence at step \(d.step): reference token \(r), candidate token \(c)"
        if let m = d.referenceTopTwoMargin {
            s += String(format: "; reference top-2 margin %.6g", m)
            s += m < 1e-2 ? " (a near-tie: small numeric differences can flip it)" : " (not a near-tie: likely a real bug)"
        }
        if let l = d.candidateLogitOfReferenceToken { s += "; candidate's logit for the reference token \(l)" }
        return s
    }
}

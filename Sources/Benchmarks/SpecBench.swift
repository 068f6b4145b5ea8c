import Foundation
import Tensors
import Tokenization
import Transformer
import Decoding

/// A prompt of the benchmark: its question and the token ids the methods generate from.
public struct SpecBenchPrompt: Sendable, Equatable {
    public var question: SpecBenchQuestion
    public var ids: [Int]

    public init(question: SpecBenchQuestion, ids: [Int]) {
        self.question = question
        self.ids = ids
    }

    /// The question's first turn as a ChatML user message with the generation prompt, encoded.
    public init(question: SpecBenchQuestion, tokenizer: any Tokenizer) {
        self.question = question
        ids = tokenizer.encode(ChatTemplate.chatML.apply(messages: [(role: "user", content: question.firstTurn)], addGenerationPrompt: true))
    }
}

/// What one generation of one method on one question measured.
public struct SpecBenchRun: Sendable, Equatable {
    public var questionID: Int
    public var category: String
    public var method: String
    /// New tokens generated.
    public var tokens: Int
    /// Wall time of the whole generation (prefill included), as Spec-Bench times it.
    public var seconds: Double
    /// Decoding time only (prefill excluded).
    public var decodeSeconds: Double
    /// Verification steps, and the tokens they produced (MAT = stepTokens / steps). A method
    /// without verification (greedy) counts one token per step after the prefill's.
    public var steps: Int
    public var stepTokens: Int
    /// Whether the output equals the baseline's on the same question.
    public var identicalToBaseline: Bool

    public init(questionID: Int, category: String, method: String, tokens: Int, seconds: Double, decodeSeconds: Double,
                steps: Int, stepTokens: Int, identicalToBaseline: Bool) {
        self.questionID = questionID
        self.category = category
        self.method = method
        self.tokens = tokens
        self.seconds = seconds
        self.decodeSeconds = decodeSeconds
        self.steps = steps
        self.stepTokens = stepTokens
        self.identicalToBaseline = identicalToBaseline
    }
}

/// Reported after every generation of a Spec-Bench run.
public struct SpecBenchProgress: Sendable {
    /// Generations finished, of `totalRuns` (questions × methods).
    public var completedRuns: Int
    public var totalRuns: Int
    public var run: SpecBenchRun
    /// Seconds since the run started.
    public var elapsedSeconds: Double

    /// `[3/26] writing q81 prompt-lookup: 1024 tokens, 162.2 tok/s — 31 s elapsed`.
    public var statusLine: String {
        String(format: "[%d/%d] %@ q%d %@: %d tokens, %.1f tok/s — %.0f s elapsed", completedRuns, totalRuns, run.category, run.questionID,
               run.method, run.tokens, Double(run.tokens) / max(run.seconds, 1e-9), elapsedSeconds)
    }

    /// Set when this generation differs from the baseline's: `MISMATCH: … differs from greedy on question N`.
    public var mismatchMessage: String? {
        run.identicalToBaseline ? nil : "MISMATCH: \(run.method) differs from greedy on question \(run.questionID)"
    }
}

/// Spec-Bench (Xia et al., ACL 2024 Findings, arXiv:2401.07851): every method on the first turn
/// of each question, greedy, batch size 1; MAT, tokens/s and speedup over the baseline measured in
/// the same run, per category, and token identity with the baseline checked for every generation.
public enum SpecBench {
    /// Runs `methods` in order on each prompt in order (so methods alternate question by
    /// question and drift of the machine's speed spreads over all of them). The first method is
    /// the baseline (greedy): identity and speedup are relative to it. `categories` orders the
    /// report (default: the prompts' categories in order of first appearance).
    public static func run(model: any CausalLanguageModel, prompts: [SpecBenchPrompt], methods: [SpecBenchMethod], stopping: StoppingCriteria,
                           categories: [String]? = nil, progress: (SpecBenchProgress) -> Void = { _ in }) throws -> SpecBenchReport {
        guard !methods.isEmpty else { throw BenchmarkError.noMethods }
        var runs: [SpecBenchRun] = []
        let started = monotonicSeconds()
        for prompt in prompts {
            var reference: [Int]? = nil
            for method in methods {
                let t0 = monotonicSeconds()
                let g = try method.run(model, prompt.ids, stopping)
                let seconds = monotonicSeconds() - t0
                if reference == nil { reference = g.outputIDs }
                let stats = g.statistics
                let verified = stats.verificationSteps > 0
                let run = SpecBenchRun(questionID: prompt.question.id, category: prompt.question.category, method: method.name,
                                       tokens: g.outputIDs.count, seconds: seconds, decodeSeconds: stats.decodeSeconds,
                                       steps: verified ? stats.verificationSteps : max(0, g.outputIDs.count - 1),
                                       stepTokens: verified ? stats.tokensFromVerification : max(0, g.outputIDs.count - 1),
                                       identicalToBaseline: g.outputIDs == reference!)
                runs.append(run)
                progress(SpecBenchProgress(completedRuns: runs.count, totalRuns: prompts.count * methods.count, run: run,
                                           elapsedSeconds: monotonicSeconds() - started))
            }
        }
        var order: [String] = []
        for p in prompts where !order.contains(p.question.category) { order.append(p.question.category) }
        return SpecBenchReport(runs: runs, methods: methods.map(\.name), categories: categories ?? order, questionCount: prompts.count,
                               maxNewTokens: stopping.maxNewTokens, threadCount: ParallelFor.shared.threadCount)
    }

    /// Encodes each question with `tokenizer` (`SpecBenchPrompt(question:tokenizer:)`) and runs them.
    public static func run(model: any CausalLanguageModel, tokenizer: any Tokenizer, selection: SpecBenchSelection, methods: [SpecBenchMethod],
                           stopping: StoppingCriteria, progress: (SpecBenchProgress) -> Void = { _ in }) throws -> SpecBenchReport {
        try run(model: model, prompts: selection.questions.map { SpecBenchPrompt(question: $0, tokenizer: tokenizer) }, methods: methods,
                stopping: stopping, categories: selection.categories, progress: progress)
    }
}

import Formats
import Transformer
import Loader
import Decoding

func lookaheadSizes(_ args: Arguments, defaults: (Int, Int, Int)) throws -> (Int, Int, Int) {
    (try args.int("window-size", default: defaults.0, range: 1...64)!,
     try args.int("ngram-size", default: defaults.1, range: 2...16)!,
     try args.int("guess-set-size", default: defaults.2, range: 0...64)!)
}

/// Spec-Bench runs Lookahead with sizes that suit a 2-core CPU unless told otherwise.
func lookaheadSpecBenchMethods(_ args: Arguments, model: any CausalLanguageModel) throws -> [SpecBenchMethod] {
    let (w, n, g) = try lookaheadSizes(args, defaults: (3, 2, 3))
    return [SpecBenchMethod(name: "lookahead") { m, p, s in
        try LookaheadDecoding.generate(model: m, prompt: p, windowSize: w, ngramSize: n, guessSetSize: g, stopping: s, traceTopK: 0)
    }]
}

import Formats
import Transformer
import Decoding

/// Lookahead decoding from the command line: `--window-size W --ngram-size N --guess-set-size G`.
func runLookahead(_ args: Arguments, model: LlamaModel, prompt: [Int], stopping: StoppingCriteria, traceTopK: Int,
                  onToken: ((Int) -> Void)?, extra: [(String, JSONValue)]) throws -> (Generation, [(ids: [Int], score: Double)]?, [(String, JSONValue)]) {
    let (w, n, g) = try lookaheadSizes(args, defaults: (7, 5, 7))
    var extra = extra
    extra.append(("window_size", .int(w)))
    extra.append(("ngram_size", .int(n)))
    extra.append(("guess_set_size", .int(g)))
    let generation = try LookaheadDecoding.generate(model: model, prompt: prompt, windowSize: w, ngramSize: n, guessSetSize: g,
                                                    stopping: stopping, traceTopK: traceTopK, onToken: onToken)
    return (generation, nil, extra)
}

func lookaheadSizes(_ args: Arguments, defaults: (Int, Int, Int)) throws -> (Int, Int, Int) {
    (try args.int("window-size", default: defaults.0, range: 1...64)!,
     try args.int("ngram-size", default: defaults.1, range: 2...16)!,
     try args.int("guess-set-size", default: defaults.2, range: 0...64)!)
}

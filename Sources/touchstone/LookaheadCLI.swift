import Formats
import Transformer
import Loader
import Decoding

func lookaheadSizes(_ args: Arguments, defaults: (Int, Int, Int)) throws -> (Int, Int, Int) {
    (try args.int("window-size", default: defaults.0, range: 1...64)!,
     try args.int("ngram-size", default: defaults.1, range: 2...16)!,
     try args.int("guess-set-size", default: defaults.2, range: 0...64)!)
}

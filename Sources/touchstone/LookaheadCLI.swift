import Formats
import Transformer
import Decoding

/// Lookahead decoding from the command line (filled in when the method lands).
func runLookahead(_ args: Arguments, model: LlamaModel, prompt: [Int], stopping: StoppingCriteria, traceTopK: Int,
                  onToken: ((Int) -> Void)?, extra: [(String, JSONValue)]) throws -> (Generation, [(ids: [Int], score: Double)]?, [(String, JSONValue)]) {
    throw CLIError("lookahead decoding is not available yet")
}

func lookaheadSpecBenchMethods(_ args: Arguments, model: LlamaModel) throws -> [SpecBenchMethod] { [] }

import Transformer
import Decoding

/// Methods beyond the built-in ones (filled in as drafters land).
func extraSpecBenchMethods(_ args: Arguments, model: LlamaModel) -> [SpecBenchMethod] {
    []
}

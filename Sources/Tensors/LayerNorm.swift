/// LayerNorm with a bias (GPT-2's `ln_1`, `ln_2`, `ln_f`; PyTorch `nn.LayerNorm`).
extension Kernels {
    /// `y[i] = ((x[i] - mean) * r) * weight[i] + bias[i]` with
    ///
    ///     mean = (Σ x[i]) / n                      // the sum strictly left to right
    ///     var  = (Σ (x[i] - mean) * (x[i] - mean)) / n   // biased (÷ n), left to right
    ///     r    = 1 / sqrt(var + eps)
    ///
    /// every operation one binary32 rounding (no fused multiply-add). PyTorch's CPU kernel
    /// accumulates the moments in its own order and evaluates `x * r + (−mean * r)`, so the two
    /// agree to a few ulp, not bit for bit. A constant row gives `var = 0` and `y = bias`. `y`
    /// may alias `x`. `n` must be at least 1.
    @inlinable
    public static func layerNorm(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, epsilon: Float,
                                 count n: Int, into y: UnsafeMutablePointer<Float>) {
        var sum: Float = 0
        for i in 0..<n { sum = sum + x[i] }
        let mean = sum / Float(n)
        var squares: Float = 0
        for i in 0..<n {
            let d = x[i] - mean
            squares = squares + d * d
        }
        let variance = squares / Float(n)
        let r = 1 / (variance + epsilon).squareRoot()
        for i in 0..<n { y[i] = ((x[i] - mean) * r) * weight[i] + bias[i] }
    }
}

/// Kernels of the architectures that follow Hugging Face's layout instead of llama.cpp's Llama
/// GGUF layout (Gemma 3 first): rotary embedding on halves and the tanh-approximated GELU.
extension Kernels {
    /// Rotary position embedding on halves (Hugging Face `apply_rotary_pos_emb` with
    /// `rotate_half`; llama.cpp's NEOX mode): for `i` in `0..<dim/2`, with `h = dim/2`,
    /// `c = cos[i]`, `s = sin[i]`,
    ///
    ///     x'[i]     = x[i] * c - x[i + h] * s      // HF: x[i]*c + (-x[i+h])*s, the same bits
    ///     x'[i + h] = x[i + h] * c + x[i] * s
    ///
    /// each product rounded, then the difference or sum (no fused multiply-add).
    @inlinable
    public static func ropeHalves(_ x: UnsafeMutablePointer<Float>, cos: UnsafePointer<Float>, sin: UnsafePointer<Float>, dimension: Int) {
        let h = dimension / 2
        for i in 0..<h {
            let x0 = x[i], x1 = x[i + h]
            let c = cos[i], s = sin[i]
            x[i] = x0 * c - x1 * s
            x[i + h] = x1 * c + x0 * s
        }
    }

    /// GELU with the tanh approximation (PyTorch `gelu(approximate="tanh")`, Hugging Face
    /// `gelu_pytorch_tanh`), in Float32, left to right:
    ///
    ///     inner = β * (x + κ * ((x * x) * x))      β = Float(√2 · 2/√π · 0.5) = Float(√(2/π)), κ = 0.044715
    ///     gelu  = (0.5 * x) * (1 + tanh(inner))    tanh: DeterministicMath.tanh
    ///
    /// PyTorch's vectorized CPU kernel evaluates the same formula with its own tanh, so the two
    /// agree to a few ulp, not bit for bit.
    @inlinable
    public static func geluTanh(_ x: Float) -> Float {
        let beta: Float = 0.7978845608028654  // √(2/π), rounded to Float32
        let kappa: Float = 0.044715
        let cube = (x * x) * x
        let inner = beta * (x + kappa * cube)
        return (0.5 * x) * (1 + DeterministicMath.tanh(inner))
    }

    /// `out[i] = geluTanh(gate[i]) * up[i]` (GeGLU). `out` may alias `gate`.
    @inlinable
    public static func geluTanhGLU(gate: UnsafePointer<Float>, up: UnsafePointer<Float>, count n: Int, into out: UnsafeMutablePointer<Float>) {
        for i in 0..<n { out[i] = geluTanh(gate[i]) * up[i] }
    }
}

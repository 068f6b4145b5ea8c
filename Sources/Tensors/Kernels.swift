/// Vector kernels with documented reduction orders (determinism contract D1).
///
/// Every function here performs IEEE-754 binary32 operations in exactly the order its comment
/// states, with separate multiply and add roundings (never fused). `NaiveKernels` in the tests
/// spells out the same orders one scalar at a time, and the tests compare bit for bit.
public enum Kernels {
    /// Dot product `Σ a[i] * b[i]` in the 16-lane order:
    ///
    ///     lane[l] = 0 for l in 0..<16
    ///     for chunk k = 0, 16, 32, … while k + 16 <= n: lane[l] = lane[l] + a[k+l] * b[k+l]
    ///     for the tail (k = n - n % 16): lane[l] = lane[l] + a[k+l] * b[k+l] for l < n % 16
    ///     result = ((lane[0] + lane[1]) + lane[2]) + … + lane[15]
    ///
    /// Empty input gives +0.
    @inlinable
    public static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count n: Int) -> Float {
        var acc = SIMD16<Float>()
        var k = 0
        let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
        while k + 16 <= n {
            acc = acc + ra.loadUnaligned(fromByteOffset: k * 4, as: SIMD16<Float>.self) * rb.loadUnaligned(fromByteOffset: k * 4, as: SIMD16<Float>.self)
            k += 16
        }
        if k < n {
            for l in 0..<(n - k) { acc[l] = acc[l] + a[k + l] * b[k + l] }
        }
        var s = acc[0]
        for l in 1..<16 { s = s + acc[l] }
        return s
    }

    /// `y[i] = weight[i] * (x[i] * r)` with `r = 1 / sqrt(mean + eps)`,
    /// `mean = (Σ x[i] * x[i]) / n`, the sum taken strictly left to right. (Hugging Face's Llama
    /// RMSNorm: `weight * (x * rsqrt(mean(x²) + eps))`.) `y` may alias `x`.
    @inlinable
    public static func rmsNorm(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, epsilon: Float, count n: Int, into y: UnsafeMutablePointer<Float>) {
        var ss: Float = 0
        for i in 0..<n { ss = ss + x[i] * x[i] }
        let mean = ss / Float(n)
        let r = 1 / (mean + epsilon).squareRoot()
        for i in 0..<n { y[i] = weight[i] * (x[i] * r) }
    }

    /// In-place softmax: `m = max x`, `e[i] = exp(x[i] - m)` (DeterministicMath.exp),
    /// `s = Σ e[i]` left to right, `x[i] = e[i] / s`. Entries equal to `-inf` become +0. If every
    /// entry is `-inf` the result is all zeros (no NaN). A `+inf` or NaN entry makes every output
    /// NaN (`inf − inf`), as in PyTorch.
    @inlinable
    public static func softmax(_ x: UnsafeMutablePointer<Float>, count n: Int) {
        if n == 0 { return }
        var m = -Float.infinity
        for i in 0..<n where x[i] > m { m = x[i] }
        if m == -.infinity {
            for i in 0..<n { x[i] = 0 }
            return
        }
        // e[i] = exp(x[i] - m), 16 at a time with the SIMD exp (bit-identical to the scalar one).
        var i = 0
        let mv = SIMD16<Float>(repeating: m)
        let raw = UnsafeMutableRawPointer(x)
        while i + 16 <= n {
            let v = raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
            raw.storeBytes(of: DeterministicMath.exp(v - mv), toByteOffset: i * 4, as: SIMD16<Float>.self)
            i += 16
        }
        while i < n {
            x[i] = DeterministicMath.exp(x[i] - m)
            i += 1
        }
        var s: Float = 0
        for i in 0..<n { s = s + x[i] }
        for i in 0..<n { x[i] = x[i] / s }
    }

    /// Rotary position embedding on adjacent pairs (llama.cpp's "normal" mode, matching the GGUF
    /// row order of Q and K): for `i` in `0..<dim/2`,
    /// `(x[2i], x[2i+1]) ← (x[2i]·c − x[2i+1]·s, x[2i]·s + x[2i+1]·c)` with `c = cos[i]`,
    /// `s = sin[i]`, each product rounded, then the difference or sum.
    @inlinable
    public static func ropeAdjacentPairs(_ x: UnsafeMutablePointer<Float>, cos: UnsafePointer<Float>, sin: UnsafePointer<Float>, dimension: Int) {
        for i in 0..<(dimension / 2) {
            let x0 = x[2 * i], x1 = x[2 * i + 1]
            let c = cos[i], s = sin[i]
            x[2 * i] = x0 * c - x1 * s
            x[2 * i + 1] = x0 * s + x1 * c
        }
    }

    /// `out[i] = silu(gate[i]) * up[i]` (SwiGLU), with `DeterministicMath.silu`.
    @inlinable
    public static func swiGLU(gate: UnsafePointer<Float>, up: UnsafePointer<Float>, count n: Int, into out: UnsafeMutablePointer<Float>) {
        for i in 0..<n { out[i] = DeterministicMath.silu(gate[i]) * up[i] }
    }

    /// `x[i] = x[i] + y[i]`.
    @inlinable
    public static func add(_ y: UnsafePointer<Float>, into x: UnsafeMutablePointer<Float>, count n: Int) {
        for i in 0..<n { x[i] = x[i] + y[i] }
    }

    /// The index of the largest value; ties go to the lowest index (D4). NaN entries are never
    /// chosen; if all entries are NaN (or `n == 0`) the result is 0.
    @inlinable
    public static func argmax(_ x: UnsafePointer<Float>, count n: Int) -> Int {
        // Vector path: the largest non-NaN value (NaN never compares greater), then the first
        // index holding a value equal to it (-0 == +0, as in the scalar comparison below).
        if n >= 32 {
            let raw = UnsafeRawPointer(x)
            var lanes = SIMD16<Float>(repeating: -.infinity)
            var i = 0
            while i + 16 <= n {
                let v = raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
                lanes.replace(with: v, where: v .> lanes)
                i += 16
            }
            var m = lanes.max()
            while i < n { if x[i] > m { m = x[i] }; i += 1 }
            if m > -.infinity {  // otherwise all NaN or -inf: the scalar loop decides
                i = 0
                let mv = SIMD16<Float>(repeating: m)
                while i + 16 <= n {
                    if any(raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self) .== mv) { break }
                    i += 16
                }
                while x[i] != m { i += 1 }
                return i
            }
        }
        var best = 0
        var bestValue = -Float.infinity
        var found = false
        for i in 0..<n where !x[i].isNaN {
            if !found || x[i] > bestValue {
                best = i
                bestValue = x[i]
                found = true
            }
        }
        return best
    }

    /// The `k` largest entries as `(index, value)`, ordered by value descending then index
    /// ascending (D4). NaN entries are excluded. `k` larger than the count returns all entries.
    public static func topK(_ x: UnsafePointer<Float>, count n: Int, k: Int) -> [(index: Int, value: Float)] {
        if k <= 0 || n == 0 { return [] }
        @inline(__always) func before(_ a: (index: Int, value: Float), _ b: (index: Int, value: Float)) -> Bool {
            a.value > b.value || (a.value == b.value && a.index < b.index)
        }
        if k >= n / 8 {
            var all: [(index: Int, value: Float)] = []
            all.reserveCapacity(n)
            for i in 0..<n where !x[i].isNaN { all.append((i, x[i])) }
            all.sort(by: before)
            return Array(all.prefix(k))
        }
        // Keep a sorted buffer of the best k seen so far (insertion by binary search).
        var best: [(index: Int, value: Float)] = []
        best.reserveCapacity(k + 1)
        var i = 0
        while i < n {
            // Once k entries are held, a later entry enters only if it is strictly greater than
            // the k-th (an equal value has a larger index and loses the tie; NaN compares false):
            // skip whole chunks of 16 that hold no such entry.
            if best.count == k, i & 15 == 0, i + 16 <= n {
                let chunk = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<Float>.self)
                if !any(chunk .> SIMD16(repeating: best[k - 1].value)) { i &+= 16; continue }
            }
            let v = x[i]
            defer { i &+= 1 }
            if v.isNaN { continue }
            if best.count == k, !before((i, v), best[k - 1]) { continue }
            var lo = 0, hi = best.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if before(best[mid], (i, v)) { lo = mid + 1 } else { hi = mid }
            }
            best.insert((i, v), at: lo)
            if best.count > k { best.removeLast() }
        }
        return best
    }
}

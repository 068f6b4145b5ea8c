/// How a `WeightMatrix` keeps its elements in memory.
///
/// Quantized encodings keep the blocks' integers and decode each element inside the kernel with
/// the reference formula, so a quantized matrix and its exact Float32 dequantization give
/// bit-identical products.
public enum WeightEncoding: String, Sendable {
    /// Float32 elements.
    case f32
    /// ggml Q8_0 blocks of 32: element = `d * Float(q)` (q: Int8, d: Float16 widened exactly).
    case q8_0
    /// ggml Q4_1 blocks of 32: element = `d * Float(q) + m` — multiply, round, add, round
    /// (q: 4-bit unsigned; d, m: Float16 widened exactly). Byte `j` of a block holds element `j`
    /// in its low nibble and element `j + 16` in its high nibble.
    case q4_1
    /// ggml Q5_0 blocks of 32: element = `d * Float(q - 16)` (q: 5-bit unsigned, low nibble as
    /// Q4_1's, bit 4 from the little-endian 32-bit `qh`; d: Float16 widened exactly).
    case q5_0
    /// ggml Q4_K super-blocks of 256: sub-block `s` (32 elements) has 6-bit scale `sc` and minimum
    /// `m`; element = `(d * Float(sc)) * Float(q) - (dmin * Float(m))`, each product and the
    /// difference rounded (q: 4-bit, nibble `s % 2` of `qs[32 * (s / 2) + e % 32]`).
    case q4_K
    /// ggml Q6_K super-blocks of 256: element = `(d * Float(sc)) * Float(q - 32)`, scale `sc`
    /// (Int8) per 16 elements, q: 6-bit (4 low bits from `ql`, 2 high bits from `qh`).
    case q6_K

    /// Elements of one row-major ggml block (1 for f32).
    public var ggmlBlockColumns: Int {
        switch self {
        case .f32: return 1
        case .q8_0, .q4_1, .q5_0: return 32
        case .q4_K, .q6_K: return 256
        }
    }

    /// Bytes of one row-major ggml block of `ggmlBlockColumns` elements (0 for f32).
    public var ggmlBlockBytes: Int {
        switch self {
        case .f32: return 0
        case .q8_0: return 34
        case .q4_1: return 20
        case .q5_0: return 22
        case .q4_K: return 144
        case .q6_K: return 210
        }
    }
}

/// A weight matrix `W` of shape `[rows, columns]` used as `y = W x` (rows are outputs).
///
/// **Reduction order (the contract every kernel and every port must follow):** for each output
/// row `r` and each input vector `x`,
///
///     var s: Float = 0
///     for c in 0..<columns { s = s + W[r][c] * x[c] }   // multiply, round, add, round
///
/// strictly left to right, with `W[r][c]` the exact Float32 value of the element. The kernels
/// compute 16 rows at a time ("panels": one SIMD16 lane per row, `x[c]` broadcast), so each
/// lane's sum follows this order exactly and no horizontal reduction exists. Results are
/// therefore independent of the thread count (panels are split across threads) and of how many
/// tokens are multiplied together (D2, D3).
///
/// Storage: panels of 16 rows (the last one padded with zero rows). Per encoding, one panel is
/// a sequence of blocks: f32 — one block per column, 16 floats `[lane]`; q8_0 — per 32 columns,
/// 16 scales (Float32) then 32×16 `Int8` laid `[column][lane]`; q4_1 — per 32 columns, 16 scales
/// `d`, 16 minimums `m` (Float32), then 16×16 bytes `[byte j][lane]` as in the ggml block;
/// q5_0 — the q8_0 layout with `q - 16` as the Int8; q4_K — per 32 columns (one sub-block), 16
/// products `d * Float(sc)`, 16 products `dmin * Float(m)` (Float32, rounded once each, as the
/// reference rounds them), then 16×16 nibble bytes laid as q4_1's; q6_K — per 16 columns, 16
/// products `d * Float(sc)` then 16×16 `Int8` `q - 32` `[column][lane]`. Each panel element is
/// therefore decoded with exactly the reference formula's operations.
public final class WeightMatrix: @unchecked Sendable {
    public let rows: Int
    public let columns: Int
    public let encoding: WeightEncoding

    let panelCount: Int
    let blocksPerPanel: Int
    let panelBytes: Int
    let storage: UnsafeMutableRawPointer

    /// Row-major source kept for the naive reference path (`multiplyNaive`).
    let source: UnsafeRawPointer
    let sourceOwner: AnyObject?
    let ownsSource: Bool

    /// Builds a matrix from row-major Float32 values (copied).
    public convenience init(rows: Int, columns: Int, values: [Float]) {
        precondition(values.count == rows * columns, "values.count must equal rows * columns")
        let bytes = UnsafeMutableRawPointer.allocate(byteCount: max(1, values.count * 4), alignment: 64)
        values.withUnsafeBytes { bytes.copyMemory(from: $0.baseAddress!, byteCount: values.count * 4) }
        self.init(rows: rows, columns: columns, encoding: .f32, rowMajor: UnsafeRawPointer(bytes), owner: nil, ownsSource: true)
    }

    /// Builds a matrix from row-major ggml data of `encoding` (Float32 for `.f32`). The bytes are
    /// not copied for the reference path: `owner` must keep them alive (e.g. a memory-mapped file).
    public convenience init(rows: Int, columns: Int, encoding: WeightEncoding, rowMajorBytes: UnsafeRawPointer, owner: AnyObject?) {
        self.init(rows: rows, columns: columns, encoding: encoding, rowMajor: rowMajorBytes, owner: owner, ownsSource: false)
    }

    private init(rows: Int, columns: Int, encoding: WeightEncoding, rowMajor: UnsafeRawPointer, owner: AnyObject?, ownsSource: Bool) {
        precondition(rows > 0 && columns > 0, "a weight matrix needs at least one row and one column")
        if encoding != .f32 { precondition(columns % encoding.ggmlBlockColumns == 0, "\(encoding) rows must be whole \(encoding.ggmlBlockColumns)-element blocks") }
        self.rows = rows
        self.columns = columns
        self.encoding = encoding
        self.source = rowMajor
        self.sourceOwner = owner
        self.ownsSource = ownsSource
        panelCount = (rows + 15) / 16
        switch encoding {
        case .f32:
            blocksPerPanel = columns
            panelBytes = columns * 64
        case .q8_0:
            blocksPerPanel = columns / 32
            panelBytes = blocksPerPanel * Q8_0Panel.blockBytes
        case .q4_1:
            blocksPerPanel = columns / 32
            panelBytes = blocksPerPanel * Q4_1Panel.blockBytes
        case .q5_0:
            blocksPerPanel = columns / 32
            panelBytes = blocksPerPanel * Q8_0Panel.blockBytes
        case .q4_K:
            blocksPerPanel = columns / 32
            panelBytes = blocksPerPanel * Q4_KPanel.blockBytes
        case .q6_K:
            blocksPerPanel = columns / 16
            panelBytes = blocksPerPanel * Q6_KPanel.blockBytes
        }
        storage = UnsafeMutableRawPointer.allocate(byteCount: panelCount * panelBytes, alignment: 64)
        storage.initializeMemory(as: UInt8.self, repeating: 0, count: panelCount * panelBytes)
        pack()
    }

    deinit {
        storage.deallocate()
        if ownsSource { UnsafeMutableRawPointer(mutating: source).deallocate() }
    }

    /// Bytes read from the packed panels for one product (what the fast kernels stream).
    public var packedByteCount: Int { panelCount * panelBytes }

    private func pack() {
        let rowBytes = encoding == .f32 ? columns * 4 : columns / encoding.ggmlBlockColumns * encoding.ggmlBlockBytes
        for r in 0..<rows {
            let p = r / 16, lane = r % 16
            let panel = storage + p * panelBytes
            let row = source + r * rowBytes
            switch encoding {
            case .f32:
                let out = panel.assumingMemoryBound(to: Float.self)
                for c in 0..<columns {
                    out[c * 16 + lane] = row.loadUnaligned(fromByteOffset: c * 4, as: Float.self)
                }
            case .q8_0:
                for b in 0..<blocksPerPanel {
                    let block = row + b * 34
                    let dst = panel + b * Q8_0Panel.blockBytes
                    dst.storeBytes(of: halfToFloat(block.loadUnaligned(as: UInt16.self)), toByteOffset: lane * 4, as: Float.self)
                    for j in 0..<32 {
                        dst.storeBytes(of: block.load(fromByteOffset: 2 + j, as: Int8.self), toByteOffset: 64 + j * 16 + lane, as: Int8.self)
                    }
                }
            case .q4_1:
                for b in 0..<blocksPerPanel {
                    let block = row + b * 20
                    let dst = panel + b * Q4_1Panel.blockBytes
                    dst.storeBytes(of: halfToFloat(block.loadUnaligned(as: UInt16.self)), toByteOffset: lane * 4, as: Float.self)
                    dst.storeBytes(of: halfToFloat(block.loadUnaligned(fromByteOffset: 2, as: UInt16.self)), toByteOffset: 64 + lane * 4, as: Float.self)
                    for j in 0..<16 {
                        dst.storeBytes(of: block.load(fromByteOffset: 4 + j, as: UInt8.self), toByteOffset: 128 + j * 16 + lane, as: UInt8.self)
                    }
                }
            case .q5_0:
                for b in 0..<blocksPerPanel {
                    let block = row + b * 22
                    let dst = panel + b * Q8_0Panel.blockBytes
                    dst.storeBytes(of: halfToFloat(block.loadUnaligned(as: UInt16.self)), toByteOffset: lane * 4, as: Float.self)
                    for j in 0..<32 {
                        dst.storeBytes(of: Int8(Q5_0Block.quant(block, j) - 16), toByteOffset: 64 + j * 16 + lane, as: Int8.self)
                    }
                }
            case .q4_K:
                for b in 0..<blocksPerPanel {  // b: sub-block of 32 columns
                    let block = row + (b / 8) * 144, s = b % 8
                    let (scale, minimum) = Q4_KBlock.scaleAndMinimum(block, s)
                    let dst = panel + b * Q4_KPanel.blockBytes
                    dst.storeBytes(of: scale, toByteOffset: lane * 4, as: Float.self)
                    dst.storeBytes(of: minimum, toByteOffset: 64 + lane * 4, as: Float.self)
                    for j in 0..<16 {
                        let low = Q4_KBlock.quant(block, 32 * s + j), high = Q4_KBlock.quant(block, 32 * s + j + 16)
                        dst.storeBytes(of: low | (high << 4), toByteOffset: 128 + j * 16 + lane, as: UInt8.self)
                    }
                }
            case .q6_K:
                for b in 0..<blocksPerPanel {  // b: group of 16 columns
                    let block = row + (b / 16) * 210, g = b % 16
                    let dst = panel + b * Q6_KPanel.blockBytes
                    dst.storeBytes(of: Q6_KBlock.scale(block, 16 * g), toByteOffset: lane * 4, as: Float.self)
                    for j in 0..<16 {
                        dst.storeBytes(of: Int8(Q6_KBlock.quant(block, 16 * g + j) - 32), toByteOffset: 64 + j * 16 + lane, as: Int8.self)
                    }
                }
            }
        }
    }

    /// The exact Float32 value of element `[row, column]`, decoded from the row-major source with
    /// the reference formula.
    public func element(row r: Int, column c: Int) -> Float {
        switch encoding {
        case .f32:
            return source.loadUnaligned(fromByteOffset: (r * columns + c) * 4, as: Float.self)
        case .q8_0:
            let block = source + (r * (columns / 32) + c / 32) * 34
            let d = halfToFloat(block.loadUnaligned(as: UInt16.self))
            return d * Float(block.load(fromByteOffset: 2 + c % 32, as: Int8.self))
        case .q4_1:
            let block = source + (r * (columns / 32) + c / 32) * 20
            let d = halfToFloat(block.loadUnaligned(as: UInt16.self))
            let m = halfToFloat(block.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
            let i = c % 32
            let byte = block.load(fromByteOffset: 4 + i % 16, as: UInt8.self)
            let q = i < 16 ? byte & 0x0F : byte >> 4
            return d * Float(q) + m
        case .q5_0:
            let block = source + (r * (columns / 32) + c / 32) * 22
            let d = halfToFloat(block.loadUnaligned(as: UInt16.self))
            return d * Float(Q5_0Block.quant(block, c % 32) - 16)
        case .q4_K:
            let block = source + (r * (columns / 256) + c / 256) * 144
            let e = c % 256
            let (scale, minimum) = Q4_KBlock.scaleAndMinimum(block, e / 32)
            let scaled = scale * Float(Q4_KBlock.quant(block, e))
            return scaled - minimum
        case .q6_K:
            let block = source + (r * (columns / 256) + c / 256) * 210
            let e = c % 256
            return Q6_KBlock.scale(block, e) * Float(Q6_KBlock.quant(block, e) - 32)
        }
    }

    /// Writes row `r` as exact Float32 values into `out[0..<columns]`.
    public func decodeRow(_ r: Int, into out: UnsafeMutablePointer<Float>) {
        for c in 0..<columns { out[c] = element(row: r, column: c) }
    }

    /// The naive scalar reference: `y[t][r] = Σ_c W[r][c] * x[t][c]` in the documented order,
    /// element by element from the row-major source, on the calling thread.
    /// `x`: `[tokens, columns]`, `y`: `[tokens, rows]`.
    public func multiplyNaive(_ x: UnsafePointer<Float>, tokens: Int, into y: UnsafeMutablePointer<Float>) {
        for t in 0..<tokens {
            for r in 0..<rows {
                var s: Float = 0
                for c in 0..<columns { s = s + element(row: r, column: c) * x[t * columns + c] }
                y[t * rows + r] = s
            }
        }
    }

    /// `y = W x` for `tokens` input vectors at once: each block of a panel is decoded once into
    /// a small scratch buffer and used for every token (eight at a time, then the rest in one group). `x`: `[tokens, columns]`, `y`: `[tokens, rows]`. Bit-identical to
    /// `multiplyNaive` for any `tokens` and any thread count.
    public func multiply(_ x: UnsafePointer<Float>, tokens: Int, into y: UnsafeMutablePointer<Float>, pool: ParallelFor = .shared) {
        switch encoding {
        case .f32: run(F32Panel.self, x, tokens, y, pool)
        case .q8_0: run(Q8_0Panel.self, x, tokens, y, pool)
        case .q4_1: run(Q4_1Panel.self, x, tokens, y, pool)
        case .q5_0: run(Q8_0Panel.self, x, tokens, y, pool)
        case .q4_K: run(Q4_KPanel.self, x, tokens, y, pool)
        case .q6_K: run(Q6_KPanel.self, x, tokens, y, pool)
        }
    }

    /// Convenience over arrays: `x` is `[tokens, columns]`; returns `[tokens, rows]`.
    public func multiply(_ x: [Float], tokens: Int = 1, pool: ParallelFor = .shared) -> [Float] {
        precondition(x.count == tokens * columns, "x must hold tokens × columns values")
        var y = [Float](repeating: 0, count: tokens * rows)
        x.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { yp in multiply(xp.baseAddress!, tokens: tokens, into: yp.baseAddress!, pool: pool) }
        }
        return y
    }

    @inline(never)
    private func run<C: PanelCodec>(_ codec: C.Type, _ x: UnsafePointer<Float>, _ tokens: Int, _ y: UnsafeMutablePointer<Float>, _ pool: ParallelFor) {
        if tokens <= 0 { return }
        let storage = UnsafeRawPointer(self.storage)
        let panelBytes = self.panelBytes, rows = self.rows, columns = self.columns
        // Columns handled per step: one quantized block, or 32 Float32 columns.
        let step = C.blockColumns == 1 ? 32 : C.blockColumns
        // Panels are split across participants (independent outputs only, D2).
        pool.run(count: panelCount) { lower, upper in
            // Scratch: one block's decoded weights (`step` columns × 16 lanes), then one running
            // sum of 16 lanes per token.
            withUnsafeTemporaryAllocation(of: SIMD16<Float>.self, capacity: step + tokens) { buffer in
                let decoded = buffer.baseAddress!
                let sums = decoded + step
                for p in lower..<upper {
                    let panel = storage + p * panelBytes
                    for t in 0..<tokens { sums[t] = SIMD16<Float>() }
                    var c0 = 0
                    while c0 < columns {
                        let n = min(step, columns - c0)
                        // Decode the block once (Float32 panels are used in place) …
                        let w: UnsafePointer<SIMD16<Float>>
                        if C.blockColumns == 1 {
                            w = (panel + c0 * 64).assumingMemoryBound(to: SIMD16<Float>.self)
                        } else {
                            var j = 0
                            C.forEachColumn(panel + (c0 / C.blockColumns) * C.blockBytes) { v in decoded[j] = v; j &+= 1 }
                            w = UnsafePointer(decoded)
                        }
                        // … and use it for every token, carrying each token's sums across blocks.
                        // Eight tokens at a time, then the rest in one group: a group's cost is
                        // mostly its walk over the block, so 5 tokens as one group beat 4 + 1.
                        let xc = x + c0
                        var t = 0
                        while t + 8 <= tokens { accumulate8(w, n, xc + t * columns, columns, sums + t); t &+= 8 }
                        let xt = xc + t * columns, st = sums + t
                        switch tokens - t {
                        case 1: accumulate1(w, n, xt, st)
                        case 2: accumulate2(w, n, xt, columns, st)
                        case 3: accumulate(Three.self, w, n, xt, columns, st)
                        case 4: accumulate4(w, n, xt, columns, st)
                        case 5: accumulate(Five.self, w, n, xt, columns, st)
                        case 6: accumulate(Six.self, w, n, xt, columns, st)
                        case 7: accumulate(Seven.self, w, n, xt, columns, st)
                        default: break
                        }
                        c0 &+= n
                    }
                    let valid = min(16, rows - p * 16)
                    for t in 0..<tokens { store(sums[t], y + t * rows + p * 16, valid) }
                }
            }
        }
    }
}

// MARK: - Panel codecs: how one block of a 16-row panel yields the weights of each column.

protocol PanelCodec {
    /// Columns per block.
    static var blockColumns: Int { get }
    /// Bytes per block of a 16-row panel.
    static var blockBytes: Int { get }
    /// Calls `body` with the 16 rows' exact Float32 weights of each column of `block`, columns
    /// in increasing order.
    static func forEachColumn(_ block: UnsafeRawPointer, _ body: (SIMD16<Float>) -> Void)
}

enum F32Panel: PanelCodec {
    @inline(__always) static var blockColumns: Int { 1 }
    @inline(__always) static var blockBytes: Int { 64 }
    @inline(__always) static func forEachColumn(_ block: UnsafeRawPointer, _ body: (SIMD16<Float>) -> Void) {
        body(block.load(as: SIMD16<Float>.self))
    }
}

enum Q8_0Panel: PanelCodec {
    @inline(__always) static var blockColumns: Int { 32 }
    @inline(__always) static var blockBytes: Int { 64 + 32 * 16 }
    @inline(__always) static func forEachColumn(_ block: UnsafeRawPointer, _ body: (SIMD16<Float>) -> Void) {
        let d = block.load(as: SIMD16<Float>.self)
        for j in 0..<32 {
            body(d * widen(block.load(fromByteOffset: 64 + j * 16, as: SIMD16<Int8>.self)))
        }
    }
}

enum Q4_1Panel: PanelCodec {
    @inline(__always) static var blockColumns: Int { 32 }
    @inline(__always) static var blockBytes: Int { 128 + 16 * 16 }
    @inline(__always) static func forEachColumn(_ block: UnsafeRawPointer, _ body: (SIMD16<Float>) -> Void) {
        let d = block.load(as: SIMD16<Float>.self)
        let m = block.load(fromByteOffset: 64, as: SIMD16<Float>.self)
        let low = SIMD16<UInt8>(repeating: 0x0F)
        for j in 0..<16 {  // columns 0..<16: low nibbles
            body(d * widen(block.load(fromByteOffset: 128 + j * 16, as: SIMD16<UInt8>.self) & low) + m)
        }
        for j in 0..<16 {  // columns 16..<32: high nibbles
            body(d * widen(block.load(fromByteOffset: 128 + j * 16, as: SIMD16<UInt8>.self) &>> 4) + m)
        }
    }
}

/// Q4_K: as Q4_1's panel, with the sub-block's `d * sc` and `dmin * m` products in place of `d`
/// and `m`, and a subtraction: `(d·sc) * Float(q) - (dmin·m)`.
enum Q4_KPanel: PanelCodec {
    @inline(__always) static var blockColumns: Int { 32 }
    @inline(__always) static var blockBytes: Int { 128 + 16 * 16 }
    @inline(__always) static func forEachColumn(_ block: UnsafeRawPointer, _ body: (SIMD16<Float>) -> Void) {
        let d = block.load(as: SIMD16<Float>.self)
        let m = block.load(fromByteOffset: 64, as: SIMD16<Float>.self)
        let low = SIMD16<UInt8>(repeating: 0x0F)
        for j in 0..<16 {  // columns 0..<16: low nibbles
            body(d * widen(block.load(fromByteOffset: 128 + j * 16, as: SIMD16<UInt8>.self) & low) - m)
        }
        for j in 0..<16 {  // columns 16..<32: high nibbles
            body(d * widen(block.load(fromByteOffset: 128 + j * 16, as: SIMD16<UInt8>.self) &>> 4) - m)
        }
    }
}

/// Q6_K: per 16 columns, the group's `d * sc` product and `q - 32` as Int8: `(d·sc) * Float(q - 32)`.
enum Q6_KPanel: PanelCodec {
    @inline(__always) static var blockColumns: Int { 16 }
    @inline(__always) static var blockBytes: Int { 64 + 16 * 16 }
    @inline(__always) static func forEachColumn(_ block: UnsafeRawPointer, _ body: (SIMD16<Float>) -> Void) {
        let d = block.load(as: SIMD16<Float>.self)
        for j in 0..<16 {
            body(d * widen(block.load(fromByteOffset: 64 + j * 16, as: SIMD16<Int8>.self)))
        }
    }
}

// MARK: - Reading ggml blocks (the reference formulas' inputs), shared by packing and `element`.

/// ggml `block_q5_0` (22 bytes): `d: f16`, `qh: u32` (bit i = bit 4 of element i), `qs[16]`
/// (byte j: element j in the low nibble, element j + 16 in the high nibble).
enum Q5_0Block {
    /// The 5-bit quant (0...31) of element `i` (0..<32).
    @inline(__always) static func quant(_ block: UnsafeRawPointer, _ i: Int) -> Int {
        let qh = UInt32(littleEndian: block.loadUnaligned(fromByteOffset: 2, as: UInt32.self))
        let byte = block.load(fromByteOffset: 6 + i % 16, as: UInt8.self)
        let low = i < 16 ? byte & 0x0F : byte >> 4
        return Int(low) | Int((qh >> UInt32(i)) & 1) << 4
    }
}

/// ggml `block_q4_K` (144 bytes): `d: f16`, `dmin: f16`, `scales[12]` (eight 6-bit scale/min
/// pairs), `qs[128]`.
enum Q4_KBlock {
    /// `(d * Float(sc), dmin * Float(m))` of sub-block `s` (0..<8), each product rounded once.
    @inline(__always) static func scaleAndMinimum(_ block: UnsafeRawPointer, _ s: Int) -> (Float, Float) {
        let d = halfToFloat(block.loadUnaligned(as: UInt16.self))
        let dmin = halfToFloat(block.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
        @inline(__always) func byte(_ i: Int) -> UInt8 { block.load(fromByteOffset: 4 + i, as: UInt8.self) }
        let sc: UInt8, m: UInt8
        if s < 4 {
            sc = byte(s) & 0x3F
            m = byte(4 + s) & 0x3F
        } else {
            sc = (byte(8 + s - 4) & 0x0F) | ((byte(s - 4) >> 2) & 0x30)
            m = (byte(8 + s - 4) >> 4) | ((byte(4 + s - 4) >> 2) & 0x30)
        }
        return (d * Float(sc), dmin * Float(m))
    }

    /// The 4-bit quant of element `e` (0..<256): nibble `s % 2` of `qs[32 * (s / 2) + e % 32]`, `s = e / 32`.
    @inline(__always) static func quant(_ block: UnsafeRawPointer, _ e: Int) -> UInt8 {
        let s = e / 32
        return (block.load(fromByteOffset: 16 + 32 * (s / 2) + e % 32, as: UInt8.self) >> UInt8(4 * (s % 2))) & 0x0F
    }
}

/// ggml `block_q6_K` (210 bytes): `ql[128]`, `qh[64]`, `scales[16]: int8`, `d: f16`.
enum Q6_KBlock {
    /// `d * Float(scales[e / 16])` for element `e` (0..<256), rounded once.
    @inline(__always) static func scale(_ block: UnsafeRawPointer, _ e: Int) -> Float {
        let d = halfToFloat(block.loadUnaligned(fromByteOffset: 208, as: UInt16.self))
        return d * Float(block.load(fromByteOffset: 192 + e / 16, as: Int8.self))
    }

    /// The 6-bit quant (0...63) of element `e`: group `g = e / 32`, lane `l = e % 32`; low nibble
    /// `ql[64 * (g / 4) + 32 * (g % 2) + l] >> (4 * (g / 2 % 2))`, high bits `qh[32 * (g / 4) + l] >> (2 * (g % 4)) & 3`.
    @inline(__always) static func quant(_ block: UnsafeRawPointer, _ e: Int) -> Int {
        let g = e / 32, l = e % 32
        let low = (block.load(fromByteOffset: 64 * (g / 4) + 32 * (g % 2) + l, as: UInt8.self) >> UInt8(4 * ((g / 2) % 2))) & 0x0F
        let high = (block.load(fromByteOffset: 128 + 32 * (g / 4) + l, as: UInt8.self) >> UInt8(2 * (g % 4))) & 3
        return Int(low | (high << 4))
    }
}

/// Exact integer-to-float widening, written as a lane loop: the standard library's generic
/// SIMD conversions are not inlined and run several times slower; this loop compiles to vector
/// converts.
@inline(__always)
func widen(_ v: SIMD16<Int8>) -> SIMD16<Float> {
    var r = SIMD16<Float>()
    for l in 0..<16 { r[l] = Float(v[l]) }
    return r
}

@inline(__always)
func widen(_ v: SIMD16<UInt8>) -> SIMD16<Float> {
    var r = SIMD16<Float>()
    for l in 0..<16 { r[l] = Float(v[l]) }
    return r
}

// MARK: - Micro-kernels. Each lane accumulates one output row, columns strictly in order.

/// Stores the first `valid` lanes of `acc` at `y`.
@inline(__always)
private func store(_ acc: SIMD16<Float>, _ y: UnsafeMutablePointer<Float>, _ valid: Int) {
    if valid >= 16 {
        UnsafeMutableRawPointer(y).storeBytes(of: acc, as: SIMD16<Float>.self)
    } else {
        for l in 0..<valid { y[l] = acc[l] }
    }
}

// Each lane of `sums[t]` is one output row's running sum for token `t`; `w[j]` holds the 16
// rows' weights of column `c0 + j`, and `x` points at column `c0` of the first token (tokens
// `stride` apart). Columns are added strictly in order, one multiply and one add each.

@inline(__always)
private func accumulate1(_ w: UnsafePointer<SIMD16<Float>>, _ n: Int, _ x: UnsafePointer<Float>, _ sums: UnsafeMutablePointer<SIMD16<Float>>) {
    var s0 = sums[0]
    for j in 0..<n { s0 = s0 + w[j] * SIMD16<Float>(repeating: x[j]) }
    sums[0] = s0
}

@inline(__always)
private func accumulate2(_ w: UnsafePointer<SIMD16<Float>>, _ n: Int, _ x: UnsafePointer<Float>, _ stride: Int, _ sums: UnsafeMutablePointer<SIMD16<Float>>) {
    var s0 = sums[0], s1 = sums[1]
    let x1 = x + stride
    for j in 0..<n {
        let v = w[j]
        s0 = s0 + v * SIMD16<Float>(repeating: x[j])
        s1 = s1 + v * SIMD16<Float>(repeating: x1[j])
    }
    sums[0] = s0; sums[1] = s1
}

@inline(__always)
private func accumulate4(_ w: UnsafePointer<SIMD16<Float>>, _ n: Int, _ x: UnsafePointer<Float>, _ stride: Int, _ sums: UnsafeMutablePointer<SIMD16<Float>>) {
    var s0 = sums[0], s1 = sums[1], s2 = sums[2], s3 = sums[3]
    let x1 = x + stride, x2 = x + 2 * stride, x3 = x + 3 * stride
    for j in 0..<n {
        let v = w[j]
        s0 = s0 + v * SIMD16<Float>(repeating: x[j])
        s1 = s1 + v * SIMD16<Float>(repeating: x1[j])
        s2 = s2 + v * SIMD16<Float>(repeating: x2[j])
        s3 = s3 + v * SIMD16<Float>(repeating: x3[j])
    }
    sums[0] = s0; sums[1] = s1; sums[2] = s2; sums[3] = s3
}

@inline(__always)
private func accumulate8(_ w: UnsafePointer<SIMD16<Float>>, _ n: Int, _ x: UnsafePointer<Float>, _ stride: Int, _ sums: UnsafeMutablePointer<SIMD16<Float>>) {
    var s0 = sums[0], s1 = sums[1], s2 = sums[2], s3 = sums[3], s4 = sums[4], s5 = sums[5], s6 = sums[6], s7 = sums[7]
    let x1 = x + stride, x2 = x + 2 * stride, x3 = x + 3 * stride
    let x4 = x + 4 * stride, x5 = x + 5 * stride, x6 = x + 6 * stride, x7 = x + 7 * stride
    for j in 0..<n {
        let v = w[j]
        s0 = s0 + v * SIMD16<Float>(repeating: x[j])
        s1 = s1 + v * SIMD16<Float>(repeating: x1[j])
        s2 = s2 + v * SIMD16<Float>(repeating: x2[j])
        s3 = s3 + v * SIMD16<Float>(repeating: x3[j])
        s4 = s4 + v * SIMD16<Float>(repeating: x4[j])
        s5 = s5 + v * SIMD16<Float>(repeating: x5[j])
        s6 = s6 + v * SIMD16<Float>(repeating: x6[j])
        s7 = s7 + v * SIMD16<Float>(repeating: x7[j])
    }
    sums[0] = s0; sums[1] = s1; sums[2] = s2; sums[3] = s3; sums[4] = s4; sums[5] = s5; sums[6] = s6; sums[7] = s7
}

/// A token count fixed at compile time: `accumulate(Three.self, …)` specializes to straight-line
/// code for exactly three tokens (the `k > i` tests fold away).
protocol TokenGroup { static var count: Int { get } }
enum Three: TokenGroup { @inline(__always) static var count: Int { 3 } }
enum Five: TokenGroup { @inline(__always) static var count: Int { 5 } }
enum Six: TokenGroup { @inline(__always) static var count: Int { 6 } }
enum Seven: TokenGroup { @inline(__always) static var count: Int { 7 } }

/// The same walk as `accumulate8` for `G.count` (≤ 8) tokens. Groups of 1, 2, 4 and 8 keep their
/// hand-written kernels: routed through this one they measured a few per cent slower here.
@inline(__always)
private func accumulate<G: TokenGroup>(_ group: G.Type, _ w: UnsafePointer<SIMD16<Float>>, _ n: Int, _ x: UnsafePointer<Float>, _ stride: Int, _ sums: UnsafeMutablePointer<SIMD16<Float>>) {
    let k = G.count
    let zero = SIMD16<Float>()
    var s0 = sums[0]
    var s1 = k > 1 ? sums[1] : zero, s2 = k > 2 ? sums[2] : zero, s3 = k > 3 ? sums[3] : zero
    var s4 = k > 4 ? sums[4] : zero, s5 = k > 5 ? sums[5] : zero, s6 = k > 6 ? sums[6] : zero, s7 = k > 7 ? sums[7] : zero
    for j in 0..<n {
        let v = w[j]
        s0 = s0 + v * SIMD16<Float>(repeating: x[j])
        if k > 1 { s1 = s1 + v * SIMD16<Float>(repeating: x[stride + j]) }
        if k > 2 { s2 = s2 + v * SIMD16<Float>(repeating: x[2 * stride + j]) }
        if k > 3 { s3 = s3 + v * SIMD16<Float>(repeating: x[3 * stride + j]) }
        if k > 4 { s4 = s4 + v * SIMD16<Float>(repeating: x[4 * stride + j]) }
        if k > 5 { s5 = s5 + v * SIMD16<Float>(repeating: x[5 * stride + j]) }
        if k > 6 { s6 = s6 + v * SIMD16<Float>(repeating: x[6 * stride + j]) }
        if k > 7 { s7 = s7 + v * SIMD16<Float>(repeating: x[7 * stride + j]) }
    }
    sums[0] = s0
    if k > 1 { sums[1] = s1 }
    if k > 2 { sums[2] = s2 }
    if k > 3 { sums[3] = s3 }
    if k > 4 { sums[4] = s4 }
    if k > 5 { sums[5] = s5 }
    if k > 6 { sums[6] = s6 }
    if k > 7 { sums[7] = s7 }
}

/// IEEE binary16 → binary32, exact (subnormals, infinities and NaN payloads preserved).
@inlinable
public func halfToFloat(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exponent = UInt32(h >> 10) & 0x1F
    let mantissa = UInt32(h & 0x03FF)
    if exponent == 0x1F { return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13)) }
    if exponent == 0 {
        if mantissa == 0 { return Float(bitPattern: sign) }
        // Subnormal: mantissa × 2^-24, exact in binary32.
        let magnitude = Float(mantissa) * Float(bitPattern: 0x3380_0000)
        return sign != 0 ? -magnitude : magnitude
    }
    return Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13))
}

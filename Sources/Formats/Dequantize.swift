// Decoding ggml block formats to Float32, bit-identical to gguf-py's numpy dequantizers
// (`gguf/quants.py`, gguf 0.19). numpy evaluates each array expression as separate Float32
// operations, each rounded once, so the order of operations below is part of the contract. No
// fused multiply-add is used anywhere. All scales (`d`, `m`, `dmin`) are stored as binary16 and
// widened exactly to Float32 first; integer quants are converted to Float32 exactly.
//
// Per-type formulas (each operator rounds to Float32 before the next):
//   F32   x
//   F16   widen(h)                      BF16  bits << 16
//   Q4_0  d * Float(q - 8)              q: 4-bit, 0...15
//   Q4_1  (d * Float(q)) + m
//   Q5_0  d * Float(q - 16)             q: 5-bit, 0...31
//   Q5_1  (d * Float(q)) + m
//   Q8_0  Float(q) * d                  q: int8
//   Q2_K  (d * Float(sc & 15)) * Float(q) - (dmin * Float(sc >> 4))   per 16 elements
//   Q3_K  (d * Float(sc6 - 32)) * Float(q)                            q: -4...3, per 16 elements
//   Q4_K  (d * Float(sc)) * Float(q) - (dmin * Float(m))              6-bit sc, m, per 32 elements
//   Q5_K  same as Q4_K with 5-bit q
//   Q6_K  (d * Float(sc)) * Float(q - 32)                             int8 sc, per 16 elements

/// Decodes `count` elements of `type` from `bytes` into `out`, bit-identical to gguf-py.
///
/// - Parameters:
///   - type: the element type; must satisfy ``GGMLType/isDequantizable``.
///   - bytes: at least `count / type.blockSize * type.blockBytes` bytes of blocks.
///   - count: number of elements; a multiple of `type.blockSize`.
///   - out: room for `count` Floats.
/// - Throws: ``FormatError/unsupportedType(tensor:type:)`` for types that cannot be decoded,
///   ``FormatError/sizeMismatch(context:expected:actual:)`` when `count` is not a whole number of
///   blocks or `bytes` is too short.
public func dequantize(_ type: GGMLType, from bytes: UnsafeRawBufferPointer, count: Int,
                       into out: UnsafeMutablePointer<Float>) throws {
    try dequantize(type, from: bytes, count: count, into: out, tensorName: "(unnamed)")
}

/// As ``dequantize(_:from:count:into:)``, returning a new array.
public func dequantize(_ type: GGMLType, from bytes: UnsafeRawBufferPointer, count: Int) throws -> [Float] {
    try dequantizedArray(type, from: bytes, count: count, tensorName: "(unnamed)")
}

func dequantizedArray(_ type: GGMLType, from bytes: UnsafeRawBufferPointer, count: Int,
                      tensorName: String) throws -> [Float] {
    guard type.isDequantizable else { throw FormatError.unsupportedType(tensor: tensorName, type: type.name) }
    guard count >= 0, let needed = type.byteCount(elementCount: count) else {
        throw FormatError.sizeMismatch(context: "tensor \(tensorName): \(count) elements is not a whole number of \(type.name) blocks of \(type.blockSize)",
                                       expected: type.blockSize, actual: count % type.blockSize)
    }
    guard bytes.count >= needed else {
        throw FormatError.sizeMismatch(context: "tensor \(tensorName) (\(type.name), \(count) elements)", expected: needed, actual: bytes.count)
    }
    return try [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
        if let base = buffer.baseAddress, count > 0 {
            try dequantize(type, from: bytes, count: count, into: base, tensorName: tensorName)
        }
        initialized = count
    }
}

func dequantize(_ type: GGMLType, from bytes: UnsafeRawBufferPointer, count: Int,
                into out: UnsafeMutablePointer<Float>, tensorName: String) throws {
    guard type.isDequantizable else { throw FormatError.unsupportedType(tensor: tensorName, type: type.name) }
    guard count >= 0, let needed = type.byteCount(elementCount: count) else {
        throw FormatError.sizeMismatch(context: "tensor \(tensorName): \(count) elements is not a whole number of \(type.name) blocks of \(type.blockSize)",
                                       expected: type.blockSize, actual: count % type.blockSize)
    }
    guard bytes.count >= needed else {
        throw FormatError.sizeMismatch(context: "tensor \(tensorName) (\(type.name), \(count) elements)", expected: needed, actual: bytes.count)
    }
    guard count > 0, let base = bytes.baseAddress else { return }
    let blocks = count / type.blockSize
    let step = type.blockBytes
    let width = type.blockSize
    for block in 0..<blocks {
        let b = base + block * step
        let o = out + block * width
        switch type {
        case .f32: o.pointee = Float(bitPattern: UInt32(littleEndian: b.loadUnaligned(as: UInt32.self)))
        case .f16: o.pointee = half(b, 0)
        case .bf16: o.pointee = bfloat16ToFloat(UInt16(littleEndian: b.loadUnaligned(as: UInt16.self)))
        case .q4_0: decodeQ4_0(b, o)
        case .q4_1: decodeQ4_1(b, o)
        case .q5_0: decodeQ5_0(b, o)
        case .q5_1: decodeQ5_1(b, o)
        case .q8_0: decodeQ8_0(b, o)
        case .q2_K: decodeQ2_K(b, o)
        case .q3_K: decodeQ3_K(b, o)
        case .q4_K: decodeQ4_K(b, o)
        case .q5_K: decodeQ5_K(b, o)
        case .q6_K: decodeQ6_K(b, o)
        default: throw FormatError.unsupportedType(tensor: tensorName, type: type.name)
        }
    }
}

@inline(__always) private func half(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
    float16ToFloat(UInt16(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
}

@inline(__always) private func byte(_ p: UnsafeRawPointer, _ offset: Int) -> UInt8 {
    p.load(fromByteOffset: offset, as: UInt8.self)
}

/// Q4_0 block (18 bytes): `d: f16`, `qs[16]`. Element `j` is the low nibble of `qs[j]`, element
/// `j + 16` the high nibble. Value: `d * Float(q - 8)`.
@inline(__always) private func decodeQ4_0(_ b: UnsafeRawPointer, _ o: UnsafeMutablePointer<Float>) {
    let d = half(b, 0)
    for j in 0..<16 {
        let q = byte(b, 2 + j)
        o[j] = d * Float(Int(q & 0x0F) - 8)
        o[j + 16] = d * Float(Int(q >> 4) - 8)
    }
}

/// Q4_1 block (20 bytes): `d: f16`, `m: f16`, `qs[16]` (nibbles as Q4_0). Value: `(d * q) + m`.
@inline(__always) private func decodeQ4_1(_ b: UnsafeRawPointer, _ o: UnsafeMutablePointer<Float>) {
    let d = half(b, 0)
    let m = half(b, 2)
    for j in 0..<16 {
        let q = byte(b, 4 + j)
        let low = d * Float(q & 0x0F)
        let high = d * Float(q >> 4)
        o[j] = low + m
        o[j + 16] = high + m
    }
}

/// The 5-bit quant `i` (0...31) of a Q5_0/Q5_1 block: nibble as in Q4_0, bit `i` of the
/// little-endian `qh` word as bit 4.
@inline(__always) private func fiveBit(_ qs: UnsafeRawPointer, _ qh: UInt32, _ i: Int) -> Int {
    let low = i < 16 ? byte(qs, i) & 0x0F : byte(qs, i - 16) >> 4
    let high = UInt8(truncatingIfNeeded: (qh >> UInt32(i)) & 1)
    return Int(low | (high << 4))
}

/// Q5_0 block (22 bytes): `d: f16`, `qh: u32`, `qs[16]`. Value: `d * Float(q - 16)`.
@inline(__always) private func decodeQ5_0(_ b: UnsafeRawPointer, _ o: UnsafeMutablePointer<Float>) {
    let d = half(b, 0)
    let qh = UInt32(littleEndian: b.loadUnaligned(fromByteOffset: 2, as: UInt32.self))
    for i in 0..<32 { o[i] = d * Float(fiveBit(b + 6, qh, i) - 16) }
}

/// Q5_1 block (24 bytes): `d: f16`, `m: f16`, `qh: u32`, `qs[16]`. Value: `(d * Float(q)) + m`.
@inline(__always) private func decodeQ5_1(_ b: UnsafeRawPointer, _ o: UnsafeMutablePointer<Float>) {
    let d = half(b, 0)
    let m = half(b, 2)
    let qh = UInt32(littleEndian: b.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
    for i in 0..<32 {
        let scaled = d * Float(fiveBit(b + 8, qh, i))
        o[i] = scaled + m
    }
}

/// Q8_0 block (34 bytes): `d: f16`, `qs[32]: int8`. Value: `Float(q) * d`.
@inline(__always) private func decodeQ8_0(_ b: UnsafeRawPointer, _ o: UnsafeMutablePointer<Float>) {
    let d = half(b, 0)
    for i in 0..<32 { o[i] = Float(Int8(bitPattern: byte(b, 2 + i))) * d }
}

/// Q2_K block (84 bytes): `scales[16]` (low nibble scale, high nibble min), `qs[64]`, `d: f16`,
/// `dmin: f16`. Element `e` (group `g = e / 32`, lane `l = e % 32`) has 2-bit
/// `q = qs[32 * (g / 4) + l] >> (2 * (g % 4)) & 3` and scale byte `sc = scales[e / 16]`.
/// Value: `(d * Float(sc & 15)) * Float(q) - (dmin * Float(sc >> 4))`.
@inline(__always) private func decodeQ2_K(_ b: UnsafeRawPointer, _ o: UnsafeMutablePointer<Float>) {
    let d = half(b, 80)
    let dmin = half(b, 82)
    for e in 0..<256 {
        let g = e / 32, l = e % 32
        let q = (byte(b, 16 + 32 * (g / 4) + l) >> UInt8(2 * (g % 4))) & 3
        let sc = byte(b, e / 16)
        let dl = d * Float(sc & 0x0F)
        let ml = dmin * Float(sc >> 4)
        let scaled = dl * Float(q)
        o[e] = scaled - ml
    }
}

/// Q3_K block (110 bytes): `hmask[32]`, `qs[64]`, `scales[12]` (sixteen 6-bit scales: low
/// nibbles in bytes 0...7, top two bits in bytes 8...11), `d: f16`. Element `e` (group
/// `g = e / 32`, lane `l`) has `q = (qs[32 * (g / 4) + l] >> (2 * (g % 4)) & 3) - 4 * (1 - hbit)`
/// with `hbit = hmask[l] >> g & 1`. Value: `(d * Float(scale - 32)) * Float(q)`, scale index `e / 16`.
@inline(__always) private func decodeQ3_K(_ b: UnsafeRawPointer, _ o: UnsafeMutablePointer<Float>) {
    let d = half(b, 108)
    for e in 0..<256 {
        let i = e / 16
        let scaleLow = i < 8 ? byte(b, 96 + i) & 0x0F : byte(b, 96 + i - 8) >> 4
        let scaleHigh = (byte(b, 96 + 8 + i % 4) >> UInt8(2 * (i / 4))) & 3
        let dl = d * Float(Int(scaleLow | (scaleHigh << 4)) - 32)
        let g = e / 32, l = e % 32
        let low = (byte(b, 32 + 32 * (g / 4) + l) >> UInt8(2 * (g % 4))) & 3
        let hbit = (byte(b, l) >> UInt8(g)) & 1
        let q = Int(low) - Int((hbit ^ 1) << 2)
        o[e] = dl * Float(q)
    }
}

/// The eight 6-bit (scale, min) pairs of a Q4_K/Q5_K block from its 12 packed scale bytes at `s`.
@inline(__always) private func scaleMin(_ s: UnsafeRawPointer, _ j: Int) -> (scale: UInt8, min: UInt8) {
    if j < 4 {
        return (byte(s, j) & 0x3F, byte(s, 4 + j) & 0x3F)
    }
    let scale = (byte(s, 8 + j - 4) & 0x0F) | ((byte(s, j - 4) >> 2) & 0x30)
    let min = (byte(s, 8 + j - 4) >> 4) | ((byte(s, 4 + j - 4) >> 2) & 0x30)
    return (scale, min)
}

/// Q4_K block (144 bytes): `d: f16`, `dmin: f16`, `scales[12]`, `qs[128]`. Sub-block `s = e / 32`
/// takes nibble `s % 2` of `qs[32 * (s / 2) + e % 32]`.
/// Value: `(d * Float(sc)) * Float(q) - (dmin * Float(m))`.
@inline(__always) private func decodeQ4_K(_ b: UnsafeRawPointer, _ o: UnsafeMutablePointer<Float>) {
    let d = half(b, 0)
    let dmin = half(b, 2)
    for s in 0..<8 {
        let (sc, mn) = scaleMin(b + 4, s)
        let ds = d * Float(sc)
        let ms = dmin * Float(mn)
        for l in 0..<32 {
            let q = (byte(b, 16 + 32 * (s / 2) + l) >> UInt8(4 * (s % 2))) & 0x0F
            let scaled = ds * Float(q)
            o[32 * s + l] = scaled - ms
        }
    }
}

/// Q5_K block (176 bytes): `d: f16`, `dmin: f16`, `scales[12]`, `qh[32]`, `qs[128]`. As Q4_K,
/// with bit `s` of `qh[l]` as the quant's bit 4. Value: `(d * Float(sc)) * Float(q) - (dmin * Float(m))`.
@inline(__always) private func decodeQ5_K(_ b: UnsafeRawPointer, _ o: UnsafeMutablePointer<Float>) {
    let d = half(b, 0)
    let dmin = half(b, 2)
    for s in 0..<8 {
        let (sc, mn) = scaleMin(b + 4, s)
        let ds = d * Float(sc)
        let ms = dmin * Float(mn)
        for l in 0..<32 {
            let low = (byte(b, 48 + 32 * (s / 2) + l) >> UInt8(4 * (s % 2))) & 0x0F
            let high = (byte(b, 16 + l) >> UInt8(s)) & 1
            let scaled = ds * Float(low | (high << 4))
            o[32 * s + l] = scaled - ms
        }
    }
}

/// Q6_K block (210 bytes): `ql[128]`, `qh[64]`, `scales[16]: int8`, `d: f16`. Element `e`
/// (group `g = e / 32`, lane `l`): low nibble `ql[64 * (g / 4) + 32 * (g % 2) + l] >> (4 * (g / 2 % 2))`,
/// high bits `qh[32 * (g / 4) + l] >> (2 * (g % 4)) & 3`.
/// Value: `(d * Float(scales[e / 16])) * Float(q - 32)`.
@inline(__always) private func decodeQ6_K(_ b: UnsafeRawPointer, _ o: UnsafeMutablePointer<Float>) {
    let d = half(b, 208)
    for e in 0..<256 {
        let g = e / 32, l = e % 32
        let low = (byte(b, 64 * (g / 4) + 32 * (g % 2) + l) >> UInt8(4 * ((g / 2) % 2))) & 0x0F
        let high = (byte(b, 128 + 32 * (g / 4) + l) >> UInt8(2 * (g % 4))) & 3
        let q = Int(low | (high << 4)) - 32
        let ds = d * Float(Int8(bitPattern: byte(b, 192 + e / 16)))
        o[e] = ds * Float(q)
    }
}

import Foundation

/// NumPy's `.npy` format (format version 1.0), Float32 little-endian, C order: what
/// `numpy.load` reads and `numpy.save` writes for a `float32` array. Written by hand so that
/// Touchstone needs no dependency.
///
/// Layout: the 6 bytes `\x93NUMPY`, the version bytes `1, 0`, the header length `n` as a
/// little-endian UInt16, `n` bytes of ASCII header — a Python dict literal
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }` padded with spaces and ended by
/// `\n` so that `10 + n` is a multiple of 64 — then the elements, 4 bytes each, little-endian,
/// last axis fastest.
///
/// The reader also accepts versions 2.0 and 3.0 (UInt32 header length), as `numpy.save` writes
/// for very large headers, and any dict key order; it rejects every dtype other than `<f4` and
/// Fortran order, with a message that says how to convert.
public enum NPY {
    /// The bytes of a `.npy` file holding `values` with `shape` (a 0-d array for `[]`).
    /// Precondition: `values.count` is the product of `shape` (callers build both together).
    public static func encode(_ values: [Float], shape: [Int]) -> Data {
        precondition(shape.reduce(1, *) == values.count, "NPY.encode: \(values.count) values for shape \(shape)")
        let shapeText: String
        switch shape.count {
        case 0: shapeText = "()"
        case 1: shapeText = "(\(shape[0]),)"
        default: shapeText = "(" + shape.map(String.init).joined(separator: ", ") + ")"
        }
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shapeText), }"
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var data = Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0])
        let n = UInt16(header.utf8.count)
        data.append(contentsOf: [UInt8(n & 0xFF), UInt8(n >> 8)])
        data.append(contentsOf: Array(header.utf8))
        var body = [UInt8](repeating: 0, count: values.count * 4)
        for (i, v) in values.enumerated() {
            let b = v.bitPattern
            body[4 * i] = UInt8(b & 0xFF)
            body[4 * i + 1] = UInt8((b >> 8) & 0xFF)
            body[4 * i + 2] = UInt8((b >> 16) & 0xFF)
            body[4 * i + 3] = UInt8(b >> 24)
        }
        data.append(contentsOf: body)
        return data
    }

    /// Reads a `.npy` file's bytes. `name` is used in error messages (the file's path).
    /// Throws `GoldenError.invalid` for anything but a little-endian Float32 C-order array, or
    /// a truncated or oversized file.
    public static func decode(_ data: Data, name: String) throws -> (shape: [Int], values: [Float]) {
        let bytes = [UInt8](data)
        func fail(_ m: String) -> GoldenError { .invalid("\(name): \(m)") }
        guard bytes.count >= 10, bytes[0] == 0x93, Array(bytes[1..<6]) == Array("NUMPY".utf8) else {
            throw fail("not a .npy file (no \\x93NUMPY magic)")
        }
        let major = bytes[6]
        let headerLength: Int, headerStart: Int
        switch major {
        case 1:
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw fail("truncated header") }
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            headerStart = 12
        default:
            throw fail(".npy format version \(major).\(bytes[7]) is not supported (1.0, 2.0, 3.0 are)")
        }
        guard headerStart + headerLength <= bytes.count,
              let header = String(bytes: bytes[headerStart..<(headerStart + headerLength)], encoding: .utf8) else {
            throw fail("truncated or non-text header")
        }
        func value(of key: String) throws -> Substring {
            guard let keyRange = header.range(of: "'\(key)'") ?? header.range(of: "\"\(key)\""),
                  let colon = header[keyRange.upperBound...].firstIndex(of: ":") else {
                throw fail("header has no '\(key)': \(header)")
            }
            return header[header.index(after: colon)...].drop(while: { $0 == " " })
        }
        let descr = try value(of: "descr")
        guard descr.hasPrefix("'<f4'") || descr.hasPrefix("\"<f4\"") else {
            let shown = descr.prefix(while: { $0 != "," })
            throw fail("dtype \(shown) is not little-endian float32 ('<f4'); convert with array.astype('<f4')")
        }
        let fortran = try value(of: "fortran_order")
        if fortran.hasPrefix("True") { throw fail("Fortran-order array; save numpy.ascontiguousarray(array) instead") }
        guard fortran.hasPrefix("False") else { throw fail("unreadable fortran_order in header: \(header)") }
        let shapeText = try value(of: "shape")
        guard shapeText.first == "(", let close = shapeText.firstIndex(of: ")") else { throw fail("unreadable shape in header: \(header)") }
        var shape: [Int] = []
        for part in shapeText[shapeText.index(after: shapeText.startIndex)..<close].split(separator: ",") {
            let trimmed = part.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            guard let d = Int(trimmed), d >= 0 else { throw fail("shape entry '\(trimmed)' is not a non-negative integer") }
            shape.append(d)
        }
        var count = 1
        for d in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow else { throw fail("shape \(shape) is too large") }
            count = product
        }
        let start = headerStart + headerLength
        guard bytes.count - start == count * 4 else {
            throw fail("shape \(shape) needs \(count * 4) bytes of data, file has \(bytes.count - start) — the file is truncated or not a float32 array")
        }
        var values = [Float](repeating: 0, count: count)
        for i in 0..<count {
            let o = start + 4 * i
            let bits = UInt32(bytes[o]) | UInt32(bytes[o + 1]) << 8 | UInt32(bytes[o + 2]) << 16 | UInt32(bytes[o + 3]) << 24
            values[i] = Float(bitPattern: bits)
        }
        return (shape, values)
    }
}

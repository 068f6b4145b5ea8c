import Foundation

/// Builds a GGUF version 3 file: ordered metadata of every value type and tensors given as raw
/// bytes of any ggml type.
///
/// Layout written: header, metadata in insertion order, tensor infos in insertion order, zero
/// padding to ``alignment``, then each tensor's bytes followed by zero padding to ``alignment``
/// (as gguf-py's `GGUFWriter` does). When the alignment is not 32, `general.alignment` (`uint32`)
/// is appended to the metadata unless it was added explicitly.
public struct GGUFWriter: Sendable {
    /// Data alignment in bytes (a power of two).
    public private(set) var alignment: Int
    private var entries: [(key: String, value: GGUFValue)] = []
    private var tensors: [(name: String, type: GGMLType, shape: [Int], bytes: [UInt8])] = []

    /// - Parameter alignment: data alignment, a power of two (default 32).
    public init(alignment: Int = 32) {
        precondition(alignment > 0 && alignment & (alignment - 1) == 0, "alignment must be a power of two")
        self.alignment = alignment
    }

    /// Appends a metadata entry. Throws ``FormatError/duplicateKey(_:)`` for a repeated key,
    /// ``FormatError/invalidHeader(_:)`` for an array whose elements are not all of one case, and
    /// ``FormatError/invalidAlignment(_:)`` for a `general.alignment` that is not a `uint32`
    /// power of two.
    public mutating func addMetadata(_ key: String, _ value: GGUFValue) throws {
        guard !entries.contains(where: { $0.key == key }) else { throw FormatError.duplicateKey(key) }
        try Self.validateHomogeneous(value, key: key)
        if key == "general.alignment" {
            guard case let .uint32(raw) = value, raw > 0, raw <= 65536, raw & (raw - 1) == 0 else {
                throw FormatError.invalidAlignment(value.int.map { UInt64($0) } ?? UInt64.max)
            }
            alignment = Int(raw)
        }
        entries.append((key, value))
    }

    private static func validateHomogeneous(_ value: GGUFValue, key: String) throws {
        guard case let .array(items) = value, let first = items.first else { return }
        for item in items {
            guard item.typeCode == first.typeCode else {
                throw FormatError.invalidHeader("metadata \(key): GGUF arrays must hold elements of one type")
            }
            try validateHomogeneous(item, key: key)
        }
    }

    /// Appends a tensor. `shape` is in ggml order (`shape[0]` contiguous); `bytes` must hold
    /// exactly `elementCount / type.blockSize * type.blockBytes` bytes. Throws
    /// ``FormatError/duplicateName(_:)``, ``FormatError/invalidShape(tensor:shape:reason:)`` or
    /// ``FormatError/sizeMismatch(context:expected:actual:)``.
    public mutating func addTensor(name: String, type: GGMLType, shape: [Int], bytes: [UInt8]) throws {
        guard !tensors.contains(where: { $0.name == name }) else { throw FormatError.duplicateName(name) }
        let rawShape = shape.map { UInt64(clamping: $0) }
        guard (1...4).contains(shape.count), shape.allSatisfy({ $0 > 0 }) else {
            throw FormatError.invalidShape(tensor: name, shape: rawShape, reason: "needs 1 to 4 dimensions, each at least 1")
        }
        var elements = 1
        for size in shape {
            let (product, overflow) = elements.multipliedReportingOverflow(by: size)
            guard !overflow else { throw FormatError.invalidShape(tensor: name, shape: rawShape, reason: "element count overflows") }
            elements = product
        }
        guard shape[0] % type.blockSize == 0, let expected = type.byteCount(elementCount: elements) else {
            throw FormatError.invalidShape(tensor: name, shape: rawShape, reason: "first dimension must be a multiple of the \(type.name) block size \(type.blockSize)")
        }
        guard bytes.count == expected else {
            throw FormatError.sizeMismatch(context: "tensor \(name) (\(type.name), shape \(shape))", expected: expected, actual: bytes.count)
        }
        tensors.append((name, type, shape, bytes))
    }

    /// Appends a Float32 tensor (`values.count` must equal the product of `shape`).
    public mutating func addTensor(name: String, shape: [Int], values: [Float]) throws {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(values.count * 4)
        for v in values { appendLittleEndian(v.bitPattern, to: &bytes) }
        try addTensor(name: name, type: .f32, shape: shape, bytes: bytes)
    }

    /// The complete file image.
    public func bytes() -> [UInt8] {
        var metadata = entries
        if alignment != GGUFFile.defaultAlignment, !metadata.contains(where: { $0.key == "general.alignment" }) {
            metadata.append(("general.alignment", .uint32(UInt32(alignment))))
        }
        var out: [UInt8] = Array("GGUF".utf8)
        appendLittleEndian(UInt32(3), to: &out)
        appendLittleEndian(UInt64(tensors.count), to: &out)
        appendLittleEndian(UInt64(metadata.count), to: &out)
        for (key, value) in metadata {
            appendString(key, to: &out)
            appendLittleEndian(value.typeCode, to: &out)
            appendValue(value, to: &out)
        }
        var offset = 0
        for tensor in tensors {
            appendString(tensor.name, to: &out)
            appendLittleEndian(UInt32(tensor.shape.count), to: &out)
            for size in tensor.shape { appendLittleEndian(UInt64(size), to: &out) }
            appendLittleEndian(tensor.type.rawValue, to: &out)
            appendLittleEndian(UInt64(offset), to: &out)
            offset += padded(tensor.bytes.count)
        }
        out += [UInt8](repeating: 0, count: padded(out.count) - out.count)
        for tensor in tensors {
            out += tensor.bytes
            out += [UInt8](repeating: 0, count: padded(tensor.bytes.count) - tensor.bytes.count)
        }
        return out
    }

    /// Writes ``bytes()`` to `path` atomically. Throws ``FormatError/io(path:reason:)``.
    public func write(to path: String) throws {
        do {
            try Data(bytes()).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw FormatError.io(path: path, reason: "cannot write: \(error.localizedDescription)")
        }
    }

    private func padded(_ count: Int) -> Int { (count + alignment - 1) / alignment * alignment }

    private func appendString(_ s: String, to out: inout [UInt8]) {
        let utf8 = Array(s.utf8)
        appendLittleEndian(UInt64(utf8.count), to: &out)
        out += utf8
    }

    private func appendValue(_ value: GGUFValue, to out: inout [UInt8]) {
        switch value {
        case let .uint8(v): out.append(v)
        case let .int8(v): out.append(UInt8(bitPattern: v))
        case let .uint16(v): appendLittleEndian(v, to: &out)
        case let .int16(v): appendLittleEndian(v, to: &out)
        case let .uint32(v): appendLittleEndian(v, to: &out)
        case let .int32(v): appendLittleEndian(v, to: &out)
        case let .float32(v): appendLittleEndian(v.bitPattern, to: &out)
        case let .bool(v): out.append(v ? 1 : 0)
        case let .string(v): appendString(v, to: &out)
        case let .uint64(v): appendLittleEndian(v, to: &out)
        case let .int64(v): appendLittleEndian(v, to: &out)
        case let .float64(v): appendLittleEndian(v.bitPattern, to: &out)
        case let .array(items):
            // An empty array is written with element type uint8.
            appendLittleEndian(items.first?.typeCode ?? 0, to: &out)
            appendLittleEndian(UInt64(items.count), to: &out)
            for item in items { appendValue(item, to: &out) }
        }
    }
}

func appendLittleEndian<T: FixedWidthInteger>(_ value: T, to out: inout [UInt8]) {
    withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
}

/// A bounds-checked little-endian reader over raw bytes. Every read first checks that the bytes
/// exist, so a malformed file produces ``FormatError/truncated(context:needed:offset:available:)``
/// instead of reading past the end.
struct ByteCursor {
    let bytes: UnsafeRawBufferPointer
    private(set) var position: Int = 0

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    var remaining: Int { bytes.count - position }

    mutating func require(_ count: Int, _ context: @autoclosure () -> String) throws {
        guard count >= 0, count <= remaining else {
            throw FormatError.truncated(context: context(), needed: count, offset: position, available: bytes.count)
        }
    }

    mutating func readInteger<T: FixedWidthInteger>(_: T.Type, _ context: @autoclosure () -> String) throws -> T {
        try require(MemoryLayout<T>.size, context())
        let value = T(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: T.self))
        position += MemoryLayout<T>.size
        return value
    }

    mutating func readBytes(_ count: Int, _ context: @autoclosure () -> String) throws -> UnsafeRawBufferPointer {
        try require(count, context())
        let slice = UnsafeRawBufferPointer(rebasing: bytes[position..<(position + count)])
        position += count
        return slice
    }

    /// A GGUF string: a `u64` byte length, then that many UTF-8 bytes. A length larger than the
    /// whole input is `absurdLength`; one that merely runs past the end is `truncated`.
    mutating func readGGUFString(_ context: @autoclosure () -> String) throws -> String {
        let length = try readInteger(UInt64.self, context())
        guard length <= UInt64(bytes.count) else {
            throw FormatError.absurdLength(context: context(), length: length, inputSize: bytes.count)
        }
        let raw = try readBytes(Int(length), context())  // throws `truncated` past the end
        guard let text = String(validating: raw, as: UTF8.self) else {
            throw FormatError.invalidUTF8(context: context())
        }
        return text
    }
}

/// Where a tensor lives in a GGUF file and how to read it.
public struct GGUFTensorInfo: Sendable, Equatable {
    /// The tensor's name, e.g. `"blk.0.attn_q.weight"`.
    public let name: String
    /// Dimensions in ggml order: `shape[0]` is the contiguous (column) dimension, so a matrix
    /// with `rows` rows of `columns` elements has shape `[columns, rows]`.
    public let shape: [Int]
    /// The element type.
    public let type: GGMLType
    /// Absolute byte offset of the tensor's data in the file.
    public let offset: Int
    /// Bytes of data: `elementCount / type.blockSize * type.blockBytes`.
    public let byteCount: Int

    /// The product of `shape` (validated not to overflow when the file was read).
    public var elementCount: Int { shape.reduce(1, *) }

    public init(name: String, shape: [Int], type: GGMLType, offset: Int, byteCount: Int) {
        self.name = name
        self.shape = shape
        self.type = type
        self.offset = offset
        self.byteCount = byteCount
    }
}

/// A parsed GGUF file (versions 2 and 3): metadata, tensor directory and access to tensor data.
///
/// Format (all little-endian): magic `GGUF`, `u32` version, `u64` tensor count, `u64` metadata
/// count; metadata entries (`string` key, `u32` value type, value); tensor infos (`string` name,
/// `u32` dimension count, `u64` dimensions, `u32` ggml type, `u64` offset relative to the data
/// section); padding to `general.alignment` (default 32); the data section.
///
/// Every count, length and offset is checked against the bytes that remain before it is used, so
/// malformed files throw a ``FormatError`` naming the key or tensor at fault instead of crashing
/// or allocating hugely. Checks: magic; version 2 or 3; counts that cannot fit in the file;
/// string lengths; array counts and nesting depth (at most ``maximumArrayNesting``); unknown value
/// types; invalid UTF-8 in keys, strings and names; duplicate keys and tensor names; alignment
/// (power of two); 1...4 dimensions, each nonzero, product without overflow, first dimension a
/// multiple of the block size; known ggml type; offsets aligned and data inside the file.
public final class GGUFFile: @unchecked Sendable {
    /// Deepest accepted nesting of arrays inside arrays (an array of scalars has depth 1).
    public static let maximumArrayNesting = 4
    static let defaultAlignment = 32

    /// The file's path, or nil for an in-memory file.
    public let path: String?
    /// The GGUF version (2 or 3).
    public let version: UInt32
    /// Data alignment: `general.alignment`, or 32 when absent.
    public let alignment: Int
    /// Metadata by key.
    public let metadata: [String: GGUFValue]
    /// Metadata keys in file order.
    public let metadataKeys: [String]
    /// Tensors in file order.
    public let tensors: [GGUFTensorInfo]
    /// Absolute offset of the data section.
    public let dataOffset: Int
    /// Size of the whole file in bytes.
    public var fileSize: Int { storage.count }

    private let storage: MappedBytes
    private let tensorIndex: [String: Int]

    /// Memory-maps the file at `path` read-only and parses it. Throws ``FormatError``.
    public convenience init(path: String) throws {
        try self.init(storage: MappedBytes(mapping: path), path: path)
    }

    /// Parses an in-memory GGUF image (the bytes are copied).
    public convenience init(bytes: [UInt8]) throws {
        try self.init(storage: MappedBytes(copying: bytes), path: nil)
    }

    private init(storage: MappedBytes, path: String?) throws {
        self.storage = storage
        self.path = path
        var cursor = ByteCursor(storage.buffer)

        let magic = try cursor.readBytes(4, "GGUF header (magic)")
        guard Array(magic) == Array("GGUF".utf8) else {
            throw FormatError.badMagic(found: Array(magic), expected: "GGUF")
        }
        version = try cursor.readInteger(UInt32.self, "GGUF header (version)")
        guard version == 2 || version == 3 else { throw FormatError.unsupportedVersion(version) }
        let tensorCount = try cursor.readInteger(UInt64.self, "GGUF header (tensor count)")
        let metadataCount = try cursor.readInteger(UInt64.self, "GGUF header (metadata count)")
        // A count larger than the bytes that remain cannot be right even at one byte per item:
        // reject it before allocating. Smaller counts are read item by item (capacity reserved
        // only for what the remaining bytes could hold), so a cut-off file reports `truncated`.
        guard tensorCount <= UInt64(cursor.remaining) else {
            throw FormatError.absurdCount(context: "GGUF header: tensor count", count: tensorCount, remainingBytes: cursor.remaining)
        }
        guard metadataCount <= UInt64(cursor.remaining) else {
            throw FormatError.absurdCount(context: "GGUF header: metadata count", count: metadataCount, remainingBytes: cursor.remaining)
        }

        var metadata: [String: GGUFValue] = [:]
        var keys: [String] = []
        keys.reserveCapacity(min(Int(metadataCount), cursor.remaining / 13))  // 13: smallest entry
        for index in 0..<Int(metadataCount) {
            let key = try cursor.readGGUFString("metadata entry #\(index) key")
            let typeCode = try cursor.readInteger(UInt32.self, "metadata \(key): value type")
            let value = try Self.readValue(typeCode: typeCode, from: &cursor, key: key, depth: 0)
            guard metadata.updateValue(value, forKey: key) == nil else { throw FormatError.duplicateKey(key) }
            keys.append(key)
        }
        self.metadata = metadata
        self.metadataKeys = keys

        if let value = metadata["general.alignment"] {
            guard let raw = value.int, raw > 0, raw <= 65536, raw & (raw - 1) == 0 else {
                throw FormatError.invalidAlignment(value.int.map { UInt64($0) } ?? UInt64.max)
            }
            alignment = raw
        } else {
            alignment = Self.defaultAlignment
        }

        struct RawTensor { let name: String; let shape: [Int]; let type: GGMLType; let offset: UInt64; let byteCount: Int }
        var rawTensors: [RawTensor] = []
        rawTensors.reserveCapacity(min(Int(tensorCount), cursor.remaining / 24))  // 24: smallest tensor info
        var index: [String: Int] = [:]
        for number in 0..<Int(tensorCount) {
            let name = try cursor.readGGUFString("tensor #\(number) name")
            let dimensionCount = try cursor.readInteger(UInt32.self, "tensor \(name): dimension count")
            guard (1...4).contains(dimensionCount) else {
                throw FormatError.invalidShape(tensor: name, shape: [], reason: "\(dimensionCount) dimensions (must be 1 to 4) — the file is corrupt")
            }
            var rawShape: [UInt64] = []
            for _ in 0..<Int(dimensionCount) {
                rawShape.append(try cursor.readInteger(UInt64.self, "tensor \(name): dimensions"))
            }
            let typeCode = try cursor.readInteger(UInt32.self, "tensor \(name): type")
            guard let type = GGMLType(rawValue: typeCode) else {
                throw FormatError.unknownType(tensor: name, rawValue: typeCode)
            }
            let offset = try cursor.readInteger(UInt64.self, "tensor \(name): offset")
            var shape: [Int] = []
            var elements = 1
            for dimension in rawShape {
                guard dimension > 0, let size = Int(exactly: dimension) else {
                    throw FormatError.invalidShape(tensor: name, shape: rawShape, reason: "every dimension must be at least 1 — the file is corrupt")
                }
                let (product, overflow) = elements.multipliedReportingOverflow(by: size)
                guard !overflow else {
                    throw FormatError.invalidShape(tensor: name, shape: rawShape, reason: "element count overflows — the file is corrupt")
                }
                elements = product
                shape.append(size)
            }
            guard shape[0] % type.blockSize == 0 else {
                throw FormatError.invalidShape(tensor: name, shape: rawShape, reason: "first dimension \(shape[0]) is not a multiple of the \(type.name) block size \(type.blockSize)")
            }
            guard let byteCount = type.byteCount(elementCount: elements) else {
                throw FormatError.invalidShape(tensor: name, shape: rawShape, reason: "byte size overflows — the file is corrupt")
            }
            guard index.updateValue(rawTensors.count, forKey: name) == nil else { throw FormatError.duplicateName(name) }
            rawTensors.append(RawTensor(name: name, shape: shape, type: type, offset: offset, byteCount: byteCount))
        }

        // The data section starts at the next multiple of the alignment.
        let headerEnd = cursor.position
        let dataOffset = (headerEnd + alignment - 1) / alignment * alignment
        self.dataOffset = dataOffset
        let fileSize = storage.count
        var tensors: [GGUFTensorInfo] = []
        tensors.reserveCapacity(rawTensors.count)
        for raw in rawTensors {
            guard raw.offset % UInt64(alignment) == 0 else {
                throw FormatError.misaligned(tensor: raw.name, offset: raw.offset, alignment: alignment)
            }
            guard raw.offset < UInt64(fileSize), case let absolute = dataOffset + Int(raw.offset), absolute < fileSize else {
                throw FormatError.offsetOutOfBounds(tensor: raw.name, offset: raw.offset, fileSize: fileSize)
            }
            guard raw.byteCount <= fileSize - absolute else {
                throw FormatError.truncated(context: "tensor \(raw.name)", needed: raw.byteCount, offset: absolute, available: fileSize)
            }
            tensors.append(GGUFTensorInfo(name: raw.name, shape: raw.shape, type: raw.type, offset: absolute, byteCount: raw.byteCount))
        }
        self.tensors = tensors
        self.tensorIndex = index
    }

    /// Reads one metadata value of GGUF type `typeCode`; arrays recurse up to ``maximumArrayNesting``.
    private static func readValue(typeCode: UInt32, from cursor: inout ByteCursor, key: String, depth: Int) throws -> GGUFValue {
        let context = "metadata \(key)"
        switch typeCode {
        case 0: return .uint8(try cursor.readInteger(UInt8.self, context))
        case 1: return .int8(try cursor.readInteger(Int8.self, context))
        case 2: return .uint16(try cursor.readInteger(UInt16.self, context))
        case 3: return .int16(try cursor.readInteger(Int16.self, context))
        case 4: return .uint32(try cursor.readInteger(UInt32.self, context))
        case 5: return .int32(try cursor.readInteger(Int32.self, context))
        case 6: return .float32(Float(bitPattern: try cursor.readInteger(UInt32.self, context)))
        case 7: return .bool(try cursor.readInteger(UInt8.self, context) != 0)
        case 8: return .string(try cursor.readGGUFString(context))
        case 10: return .uint64(try cursor.readInteger(UInt64.self, context))
        case 11: return .int64(try cursor.readInteger(Int64.self, context))
        case 12: return .float64(Double(bitPattern: try cursor.readInteger(UInt64.self, context)))
        case 9:
            guard depth < maximumArrayNesting else {
                throw FormatError.nestingTooDeep(context: context, depth: depth + 1, limit: maximumArrayNesting)
            }
            let elementType = try cursor.readInteger(UInt32.self, "\(context): array element type")
            let count = try cursor.readInteger(UInt64.self, "\(context): array length")
            guard let elementSize = minimumEncodedSize(typeCode: elementType) else {
                throw FormatError.unknownValueType(key: key, rawValue: elementType)
            }
            guard count <= UInt64(cursor.remaining) else {
                throw FormatError.absurdCount(context: "\(context): array length", count: count, remainingBytes: cursor.remaining)
            }
            var items: [GGUFValue] = []
            items.reserveCapacity(min(Int(count), cursor.remaining / elementSize))
            for _ in 0..<Int(count) {
                items.append(try readValue(typeCode: elementType, from: &cursor, key: key, depth: depth + 1))
            }
            return .array(items)
        default:
            throw FormatError.unknownValueType(key: key, rawValue: typeCode)
        }
    }

    /// Fewest bytes a value of this type can occupy; nil for unknown types.
    private static func minimumEncodedSize(typeCode: UInt32) -> Int? {
        switch typeCode {
        case 0, 1, 7: return 1
        case 2, 3: return 2
        case 4, 5, 6: return 4
        case 8, 10, 11, 12: return 8
        case 9: return 12
        default: return nil
        }
    }

    /// The tensor named `name`, or nil.
    public func tensor(named name: String) -> GGUFTensorInfo? {
        tensorIndex[name].map { tensors[$0] }
    }

    /// The raw bytes of a tensor; valid while this `GGUFFile` is alive. An info that does not
    /// lie inside this file yields an empty buffer.
    public func data(for info: GGUFTensorInfo) -> UnsafeRawBufferPointer {
        guard let base = storage.base, info.offset >= 0, info.byteCount >= 0,
              info.offset <= storage.count, info.byteCount <= storage.count - info.offset else {
            return UnsafeRawBufferPointer(start: nil, count: 0)
        }
        return UnsafeRawBufferPointer(start: base + info.offset, count: info.byteCount)
    }

    /// The tensor decoded to Float32 in ggml order (bit-identical to gguf-py's `dequantize`).
    /// Throws ``FormatError/unsupportedType(tensor:type:)`` for types that cannot be decoded.
    public func dequantize(_ info: GGUFTensorInfo) throws -> [Float] {
        try dequantizedArray(info.type, from: data(for: info), count: info.elementCount, tensorName: info.name)
    }

    /// The tensor named `name` decoded to Float32; throws ``FormatError/missingKey(_:)`` if absent.
    public func dequantize(named name: String) throws -> [Float] {
        guard let info = tensor(named: name) else { throw FormatError.missingKey(name) }
        return try dequantize(info)
    }
}

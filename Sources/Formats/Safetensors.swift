import Foundation

/// The safetensors element types Touchstone reads and writes.
public enum SafetensorsDType: String, Sendable, CaseIterable {
    case f32 = "F32", f16 = "F16", bf16 = "BF16"

    /// Bytes per element.
    public var byteSize: Int { self == .f32 ? 4 : 2 }
}

/// One tensor entry of a safetensors header.
public struct SafetensorsTensorInfo: Sendable, Equatable {
    public let name: String
    public let dtype: SafetensorsDType
    /// Dimensions in row-major order, as written (the last dimension is contiguous).
    public let shape: [Int]
    /// Absolute byte offset of the data in the file.
    public let offset: Int
    public let byteCount: Int

    /// The product of `shape` (1 for a scalar, 0 if any dimension is 0).
    public var elementCount: Int { shape.reduce(1, *) }
}

/// A parsed safetensors file.
///
/// Format: `u64` little-endian header length `N`; `N` bytes of UTF-8 JSON mapping each tensor
/// name to `{"dtype", "shape", "data_offsets": [begin, end]}` (offsets relative to the byte
/// buffer after the header) plus an optional `"__metadata__"` string-to-string map; the byte
/// buffer. Validation follows the reference implementation: header within the file and at most
/// 100 MB, valid UTF-8 JSON object, every entry well-typed, `begin <= end`,
/// `elements * dtypeSize == end - begin`, and the tensors, sorted by offset, tile the buffer
/// exactly (no gap, no overlap, no trailing bytes). Only F32, F16 and BF16 are accepted.
public final class SafetensorsFile: @unchecked Sendable {
    /// The reference implementation's limit on the JSON header size.
    public static let maximumHeaderSize = 100_000_000

    /// The file's path, or nil for an in-memory file.
    public let path: String?
    /// The `__metadata__` map (empty when absent).
    public let metadata: [String: String]
    /// Tensors sorted by name.
    public let tensors: [SafetensorsTensorInfo]

    private let storage: MappedBytes
    private let tensorIndex: [String: Int]

    /// Memory-maps and validates the file at `path`. Throws ``FormatError``.
    public convenience init(path: String) throws {
        try self.init(storage: MappedBytes(mapping: path), path: path)
    }

    /// Validates an in-memory safetensors image (the bytes are copied).
    public convenience init(bytes: [UInt8]) throws {
        try self.init(storage: MappedBytes(copying: bytes), path: nil)
    }

    private init(storage: MappedBytes, path: String?) throws {
        self.storage = storage
        self.path = path
        var cursor = ByteCursor(storage.buffer)
        let headerLength = try cursor.readInteger(UInt64.self, "safetensors header length")
        guard headerLength <= UInt64(cursor.remaining) else {
            throw FormatError.truncated(context: "safetensors JSON header", needed: Int(clamping: headerLength),
                                        offset: 8, available: storage.count)
        }
        guard headerLength <= UInt64(Self.maximumHeaderSize) else {
            throw FormatError.invalidHeader("safetensors header of \(headerLength) bytes exceeds the \(Self.maximumHeaderSize)-byte limit")
        }
        let headerBytes = try cursor.readBytes(Int(headerLength), "safetensors JSON header")
        guard headerBytes.first == UInt8(ascii: "{") else {
            throw FormatError.invalidJSON("safetensors header must be a JSON object starting with '{'")
        }
        guard String(validating: headerBytes, as: UTF8.self) != nil else {
            throw FormatError.invalidUTF8(context: "safetensors JSON header")
        }
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: Data(headerBytes), options: [])
        } catch {
            throw FormatError.invalidJSON("safetensors header: \(error.localizedDescription)")
        }
        guard let header = json as? [String: Any] else {
            throw FormatError.invalidJSON("safetensors header must be a JSON object")
        }

        var metadata: [String: String] = [:]
        if let raw = header["__metadata__"] {
            guard let map = raw as? [String: Any] else {
                throw FormatError.invalidHeader("__metadata__ must be an object of strings")
            }
            for (key, value) in map {
                guard let text = value as? String else {
                    throw FormatError.invalidHeader("__metadata__ entry \"\(key)\" must be a string")
                }
                metadata[key] = text
            }
        }
        self.metadata = metadata

        let bufferStart = cursor.position
        let bufferLength = cursor.remaining
        struct Entry { let info: SafetensorsTensorInfo; let begin: Int; let end: Int }
        var entries: [Entry] = []
        for name in header.keys.sorted() where name != "__metadata__" {
            guard let fields = header[name] as? [String: Any] else {
                throw FormatError.invalidHeader("tensor \(name): entry must be an object with dtype, shape and data_offsets")
            }
            guard let dtypeName = fields["dtype"] as? String else {
                throw FormatError.invalidHeader("tensor \(name): missing or non-string \"dtype\"")
            }
            guard let dtype = SafetensorsDType(rawValue: dtypeName) else {
                throw FormatError.unsupportedDType(tensor: name, dtype: dtypeName)
            }
            guard let rawShape = fields["shape"] as? [Any], let shape = Self.nonNegativeInts(rawShape) else {
                throw FormatError.invalidHeader("tensor \(name): \"shape\" must be an array of non-negative integers")
            }
            guard let rawOffsets = fields["data_offsets"] as? [Any], let offsets = Self.nonNegativeInts(rawOffsets),
                  offsets.count == 2 else {
                throw FormatError.invalidHeader("tensor \(name): \"data_offsets\" must be [begin, end] with non-negative integers")
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin <= end else {
                throw FormatError.invalidHeader("tensor \(name): data_offsets [\(begin), \(end)] has begin after end")
            }
            var elements = 1
            for size in shape {
                let (product, overflow) = elements.multipliedReportingOverflow(by: size)
                guard !overflow else {
                    throw FormatError.invalidShape(tensor: name, shape: shape.map { UInt64($0) }, reason: "element count overflows")
                }
                elements = product
            }
            let (byteCount, overflow) = elements.multipliedReportingOverflow(by: dtype.byteSize)
            guard !overflow, byteCount == end - begin else {
                throw FormatError.sizeMismatch(context: "tensor \(name) (\(dtype.rawValue), shape \(shape)) data_offsets [\(begin), \(end)]",
                                               expected: overflow ? Int.max : byteCount, actual: end - begin)
            }
            guard end <= bufferLength else {
                throw FormatError.truncated(context: "tensor \(name)", needed: byteCount, offset: bufferStart + begin, available: storage.count)
            }
            let info = SafetensorsTensorInfo(name: name, dtype: dtype, shape: shape, offset: bufferStart + begin, byteCount: byteCount)
            entries.append(Entry(info: info, begin: begin, end: end))
        }

        // The tensors, in offset order, must tile the byte buffer exactly.
        var expectedBegin = 0
        for entry in entries.sorted(by: { ($0.begin, $0.end, $0.info.name) < ($1.begin, $1.end, $1.info.name) }) {
            if entry.begin < expectedBegin {
                throw FormatError.overlappingData(tensor: entry.info.name, reason: "data_offsets [\(entry.begin), \(entry.end)] overlap the previous tensor, which ends at \(expectedBegin)")
            }
            if entry.begin > expectedBegin {
                throw FormatError.overlappingData(tensor: entry.info.name, reason: "data_offsets [\(entry.begin), \(entry.end)] leave a gap after byte \(expectedBegin)")
            }
            expectedBegin = entry.end
        }
        guard expectedBegin == bufferLength else {
            throw FormatError.invalidHeader("the tensors cover \(expectedBegin) bytes but the data buffer has \(bufferLength)")
        }
        tensors = entries.map(\.info)
        tensorIndex = Dictionary(uniqueKeysWithValues: tensors.enumerated().map { ($1.name, $0) })
    }

    /// JSON integers ≥ 0 (booleans and fractions rejected), or nil.
    private static func nonNegativeInts(_ values: [Any]) -> [Int]? {
        var result: [Int] = []
        for value in values {
            guard let number = value as? NSNumber else { return nil }
            // JSON booleans also arrive as NSNumber; their Objective-C type code is "c" or "B".
            let code = String(cString: number.objCType)
            guard code != "c", code != "B" else { return nil }
            let double = number.doubleValue
            guard double >= 0, double <= 9.0e15, double.rounded(.towardZero) == double,
                  let int = value as? Int, int >= 0 else { return nil }
            result.append(int)
        }
        return result
    }

    /// The tensor named `name`, or nil.
    public func tensor(named name: String) -> SafetensorsTensorInfo? {
        tensorIndex[name].map { tensors[$0] }
    }

    /// The raw bytes of a tensor; valid while this object is alive. An info that does not lie
    /// inside this file yields an empty buffer.
    public func data(for info: SafetensorsTensorInfo) -> UnsafeRawBufferPointer {
        guard let base = storage.base, info.offset >= 0, info.byteCount >= 0,
              info.offset <= storage.count, info.byteCount <= storage.count - info.offset else {
            return UnsafeRawBufferPointer(start: nil, count: 0)
        }
        return UnsafeRawBufferPointer(start: base + info.offset, count: info.byteCount)
    }

    /// The tensor's values as Float32 in row-major order; F16 and BF16 are widened exactly.
    /// Throws ``FormatError/missingKey(_:)`` when there is no such tensor.
    public func floats(named name: String) throws -> [Float] {
        guard let info = tensor(named: name) else { throw FormatError.missingKey(name) }
        let bytes = data(for: info)
        let count = info.elementCount
        let type: GGMLType
        switch info.dtype {
        case .f32: type = .f32
        case .f16: type = .f16
        case .bf16: type = .bf16
        }
        return try dequantizedArray(type, from: bytes, count: count, tensorName: name)
    }
}

/// Writes safetensors files the way the reference implementation lays them out.
public enum SafetensorsWriter {
    /// Writes `tensors` and `metadata` to `path`.
    ///
    /// Layout: the compact JSON header — `__metadata__` first (when non-empty, its keys sorted),
    /// then the tensors sorted by name (byte order), each as `{"dtype", "shape", "data_offsets"}`
    /// — padded with spaces to a multiple of 8 bytes; then the data of each tensor in the same
    /// sorted-name order. For files whose tensors share one dtype this is byte-identical to the
    /// reference `safetensors` library (which, for mixed dtypes, puts wider dtypes first). Values are narrowed with ``floatToFloat16Bits(_:)`` / ``floatToBFloat16Bits(_:)``
    /// (round to nearest even). Throws ``FormatError/duplicateName(_:)``,
    /// ``FormatError/sizeMismatch(context:expected:actual:)`` when `values.count` differs from the
    /// shape's product, or ``FormatError/io(path:reason:)``.
    public static func write(_ tensors: [(name: String, dtype: SafetensorsDType, shape: [Int], values: [Float])],
                             metadata: [String: String], to path: String) throws {
        let image = try bytes(tensors, metadata: metadata)
        do {
            try Data(image).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw FormatError.io(path: path, reason: "cannot write: \(error.localizedDescription)")
        }
    }

    /// The file image that ``write(_:metadata:to:)`` writes.
    public static func bytes(_ tensors: [(name: String, dtype: SafetensorsDType, shape: [Int], values: [Float])],
                             metadata: [String: String]) throws -> [UInt8] {
        let sorted = tensors.sorted { Array($0.name.utf8).lexicographicallyPrecedes(Array($1.name.utf8)) }
        var data: [UInt8] = []
        var entries: [(key: String, json: String)] = []
        var previous: String?
        for tensor in sorted {
            guard tensor.name != previous else { throw FormatError.duplicateName(tensor.name) }
            previous = tensor.name
            guard tensor.name != "__metadata__" else { throw FormatError.invalidHeader("a tensor may not be named __metadata__") }
            var elements = 1
            for size in tensor.shape {
                let (product, overflow) = elements.multipliedReportingOverflow(by: size)
                guard size >= 0, !overflow else {
                    throw FormatError.invalidShape(tensor: tensor.name, shape: tensor.shape.map { UInt64(clamping: $0) }, reason: "dimensions must be non-negative")
                }
                elements = product
            }
            guard elements == tensor.values.count else {
                throw FormatError.sizeMismatch(context: "tensor \(tensor.name) shape \(tensor.shape) (element counts)",
                                               expected: elements, actual: tensor.values.count)
            }
            let begin = data.count
            for value in tensor.values {
                switch tensor.dtype {
                case .f32: appendLittleEndian(value.bitPattern, to: &data)
                case .f16: appendLittleEndian(floatToFloat16Bits(value), to: &data)
                case .bf16: appendLittleEndian(floatToBFloat16Bits(value), to: &data)
                }
            }
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            entries.append((tensor.name, "{\"dtype\":\"\(tensor.dtype.rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(begin),\(data.count)]}"))
        }
        if !metadata.isEmpty {
            let pairs = metadata.keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
                .map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }
            entries.insert(("__metadata__", "{" + pairs.joined(separator: ",") + "}"), at: 0)
        }
        var header = Array(("{" + entries.map { "\(jsonString($0.key)):\($0.json)" }.joined(separator: ",") + "}").utf8)
        header += [UInt8](repeating: UInt8(ascii: " "), count: (8 - header.count % 8) % 8)
        var out: [UInt8] = []
        out.reserveCapacity(8 + header.count + data.count)
        appendLittleEndian(UInt64(header.count), to: &out)
        out += header
        out += data
        return out
    }
}

/// `text` as a JSON string literal (quotes, backslash and control characters escaped).
func jsonString(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case "\u{08}": out += "\\b"
        case "\u{0C}": out += "\\f"
        default:
            if scalar.value < 0x20 {
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return out + "\""
}

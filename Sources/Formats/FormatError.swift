/// Every way a model file, header or config can be rejected.
///
/// Readers in this module never crash or allocate unboundedly on malformed input: each count,
/// length and offset is checked against the bytes that remain before it is used, and the first
/// problem found becomes one of these cases. `description` is a sentence that names the tensor or
/// key involved and says what is wrong; `caseName` is the bare case name (used by the
/// broken-file corpus manifest).
public enum FormatError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file could not be opened, measured or mapped.
    case io(path: String, reason: String)
    /// `context` needs `needed` bytes at `offset`, but the input ends at `available`.
    case truncated(context: String, needed: Int, offset: Int, available: Int)
    /// The first bytes are not the expected magic.
    case badMagic(found: [UInt8], expected: String)
    /// A GGUF version other than 2 or 3.
    case unsupportedVersion(UInt32)
    /// A count (tensors, metadata entries, array items) larger than the number of bytes that
    /// remain, so it cannot be right even at one byte per item.
    case absurdCount(context: String, count: UInt64, remainingBytes: Int)
    /// A string length larger than the whole file.
    case absurdLength(context: String, length: UInt64, inputSize: Int)
    /// Arrays nested deeper than the reader accepts.
    case nestingTooDeep(context: String, depth: Int, limit: Int)
    /// A tensor whose data starts at or beyond the end of the file.
    case offsetOutOfBounds(tensor: String, offset: UInt64, fileSize: Int)
    /// A tensor offset that is not a multiple of the file's alignment.
    case misaligned(tensor: String, offset: UInt64, alignment: Int)
    /// A ggml tensor type number this reader does not know.
    case unknownType(tensor: String, rawValue: UInt32)
    /// A GGUF metadata value type number this reader does not know.
    case unknownValueType(key: String, rawValue: UInt32)
    /// A tensor shape that is empty, has too many dimensions, a zero or overflowing dimension, or
    /// a first dimension that is not a multiple of the block size.
    case invalidShape(tensor: String, shape: [UInt64], reason: String)
    /// A byte count that does not match what the shape and type require.
    case sizeMismatch(context: String, expected: Int, actual: Int)
    /// A string that is not valid UTF-8.
    case invalidUTF8(context: String)
    /// Two tensors with the same name.
    case duplicateName(String)
    /// Two metadata entries with the same key.
    case duplicateKey(String)
    /// `general.alignment` is missing a sane value (must be a power of two, 1...65536).
    case invalidAlignment(UInt64)
    /// A structurally invalid header (safetensors header, GGUF array element type, ...).
    case invalidHeader(String)
    /// Text that is not valid JSON, or JSON of the wrong shape.
    case invalidJSON(String)
    /// A required key is absent.
    case missingKey(String)
    /// A key is present but holds a value of the wrong type or range.
    case wrongType(key: String, expected: String)
    /// A safetensors dtype this module does not read.
    case unsupportedDType(tensor: String, dtype: String)
    /// A ggml type that can be parsed but not dequantized.
    case unsupportedType(tensor: String, type: String)
    /// Two safetensors tensors whose byte ranges overlap, leave a gap, or are out of order.
    case overlappingData(tensor: String, reason: String)
    /// A feature of the input that Touchstone deliberately does not implement.
    case unsupported(String)

    /// The bare case name, e.g. `"truncated"`.
    public var caseName: String {
        switch self {
        case .io: return "io"
        case .truncated: return "truncated"
        case .badMagic: return "badMagic"
        case .unsupportedVersion: return "unsupportedVersion"
        case .absurdCount: return "absurdCount"
        case .absurdLength: return "absurdLength"
        case .nestingTooDeep: return "nestingTooDeep"
        case .offsetOutOfBounds: return "offsetOutOfBounds"
        case .misaligned: return "misaligned"
        case .unknownType: return "unknownType"
        case .unknownValueType: return "unknownValueType"
        case .invalidShape: return "invalidShape"
        case .sizeMismatch: return "sizeMismatch"
        case .invalidUTF8: return "invalidUTF8"
        case .duplicateName: return "duplicateName"
        case .duplicateKey: return "duplicateKey"
        case .invalidAlignment: return "invalidAlignment"
        case .invalidHeader: return "invalidHeader"
        case .invalidJSON: return "invalidJSON"
        case .missingKey: return "missingKey"
        case .wrongType: return "wrongType"
        case .unsupportedDType: return "unsupportedDType"
        case .unsupportedType: return "unsupportedType"
        case .overlappingData: return "overlappingData"
        case .unsupported: return "unsupported"
        }
    }

    public var description: String {
        switch self {
        case let .io(path, reason):
            return "\(path): \(reason)"
        case let .truncated(context, needed, offset, available):
            return "\(context): expected \(needed) bytes at offset \(offset), file has \(available) — the file is truncated"
        case let .badMagic(found, expected):
            let hex = found.map { String($0, radix: 16, uppercase: true) }.joined(separator: " ")
            return "bad magic: expected \(expected), found bytes [\(hex)] — this is not a \(expected) file"
        case let .unsupportedVersion(version):
            return "GGUF version \(version) is not supported (only versions 2 and 3) — re-convert the model with a current llama.cpp"
        case let .absurdCount(context, count, remaining):
            return "\(context): count \(count) cannot fit in the \(remaining) bytes that remain — the file is truncated or corrupt"
        case let .absurdLength(context, length, remaining):
            return "\(context): string length \(length) is larger than the whole input (\(remaining) bytes) — the file is corrupt"
        case let .nestingTooDeep(context, depth, limit):
            return "\(context): arrays nested \(depth) deep (limit \(limit)) — the file is corrupt"
        case let .offsetOutOfBounds(tensor, offset, fileSize):
            return "tensor \(tensor): data offset \(offset) is past the end of the file (\(fileSize) bytes) — the file is truncated or corrupt"
        case let .misaligned(tensor, offset, alignment):
            return "tensor \(tensor): data offset \(offset) is not a multiple of the alignment \(alignment) — the file is corrupt"
        case let .unknownType(tensor, raw):
            return "tensor \(tensor): unknown ggml type \(raw) — the file is corrupt or newer than this reader"
        case let .unknownValueType(key, raw):
            return "metadata \(key): unknown value type \(raw) — the file is corrupt or newer than this reader"
        case let .invalidShape(tensor, shape, reason):
            return "tensor \(tensor): invalid shape \(shape): \(reason)"
        case let .sizeMismatch(context, expected, actual):
            return "\(context): expected \(expected) bytes, got \(actual) — shape, type and data disagree"
        case let .invalidUTF8(context):
            return "\(context): string is not valid UTF-8 — the file is corrupt"
        case let .duplicateName(name):
            return "tensor \(name) appears more than once — the file is corrupt"
        case let .duplicateKey(key):
            return "metadata key \(key) appears more than once — the file is corrupt"
        case let .invalidAlignment(value):
            return "general.alignment \(value) must be a power of two between 1 and 65536 — the file is corrupt"
        case let .invalidHeader(reason):
            return "invalid header: \(reason)"
        case let .invalidJSON(reason):
            return "invalid JSON: \(reason)"
        case let .missingKey(key):
            return "required key \"\(key)\" is missing"
        case let .wrongType(key, expected):
            return "key \"\(key)\" must be \(expected)"
        case let .unsupportedDType(tensor, dtype):
            return "tensor \(tensor): dtype \(dtype) is not supported (only F32, F16, BF16) — convert the checkpoint to one of these"
        case let .unsupportedType(tensor, type):
            return "tensor \(tensor): ggml type \(type) cannot be dequantized (supported: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K) — re-quantize the model"
        case let .overlappingData(tensor, reason):
            return "tensor \(tensor): \(reason) — the file is corrupt"
        case let .unsupported(reason):
            return "unsupported: \(reason)"
        }
    }
}

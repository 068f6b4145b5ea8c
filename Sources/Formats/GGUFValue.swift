/// One GGUF metadata value. The case is the on-disk value type (GGUF value-type numbers 0...12).
public enum GGUFValue: Sendable, Equatable {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case float32(Float), bool(Bool), string(String), array([GGUFValue])
    case uint64(UInt64), int64(Int64), float64(Double)

    /// The GGUF value-type number written before the value.
    public var typeCode: UInt32 {
        switch self {
        case .uint8: return 0
        case .int8: return 1
        case .uint16: return 2
        case .int16: return 3
        case .uint32: return 4
        case .int32: return 5
        case .float32: return 6
        case .bool: return 7
        case .string: return 8
        case .array: return 9
        case .uint64: return 10
        case .int64: return 11
        case .float64: return 12
        }
    }

    /// The value of any integer case as `Int`; nil for other cases and for a `uint64` above `Int.max`.
    public var int: Int? {
        switch self {
        case let .uint8(v): return Int(v)
        case let .int8(v): return Int(v)
        case let .uint16(v): return Int(v)
        case let .int16(v): return Int(v)
        case let .uint32(v): return Int(v)
        case let .int32(v): return Int(v)
        case let .uint64(v): return Int(exactly: v)
        case let .int64(v): return Int(v)
        default: return nil
        }
    }

    /// The value of a float case (`float32` widened exactly) or of an integer case; nil otherwise.
    public var double: Double? {
        switch self {
        case let .float32(v): return Double(v)
        case let .float64(v): return v
        case let .uint64(v): return Double(v)
        default: return int.map(Double.init)
        }
    }

    /// The text of a `string` value.
    public var string: String? {
        if case let .string(s) = self { return s }
        return nil
    }

    /// The value of a `bool`.
    public var bool: Bool? {
        if case let .bool(b) = self { return b }
        return nil
    }

    /// The elements of an `array` value.
    public var array: [GGUFValue]? {
        if case let .array(a) = self { return a }
        return nil
    }

    /// The elements of an array whose elements are all strings.
    public var strings: [String]? {
        guard let items = array else { return nil }
        var result: [String] = []
        result.reserveCapacity(items.count)
        for item in items {
            guard let s = item.string else { return nil }
            result.append(s)
        }
        return result
    }

    /// The elements of an array whose elements are all integers (each representable as `Int`).
    public var ints: [Int]? {
        guard let items = array else { return nil }
        var result: [Int] = []
        result.reserveCapacity(items.count)
        for item in items {
            guard let i = item.int else { return nil }
            result.append(i)
        }
        return result
    }

    /// The elements of an array whose elements are all floats or integers, as Double.
    public var doubles: [Double]? {
        guard let items = array else { return nil }
        var result: [Double] = []
        result.reserveCapacity(items.count)
        for item in items {
            guard let d = item.double else { return nil }
            result.append(d)
        }
        return result
    }
}

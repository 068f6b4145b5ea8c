/// A read-only map from byte strings (vocabulary pieces) to ids: open addressing with linear
/// probing over FNV-1a hashes, keys kept in one byte arena. Same answers as a
/// `[ArraySlice<UInt8>: Int32]` filled in id order (a repeated key maps to its last id), without
/// `Hasher`'s per-byte cost; lookups take a pointer and a length. Iteration order never matters.
struct ByteStringTable: Sendable {
    private var arena: [UInt8] = []
    private var keyStart: [Int32] = []
    private var keyLength: [Int32] = []
    /// Per slot: -1 (empty) or the index of a key in `keyStart`/`keyLength`/`ids`.
    private var slots: [Int32]
    private var ids: [Int32] = []
    private let mask: Int

    /// `keys[i]` maps to id `i`; a key given twice maps to its last index.
    init(_ keys: [[UInt8]]) {
        var capacity = 16
        while capacity < 2 * max(1, keys.count) { capacity <<= 1 }
        mask = capacity - 1
        slots = [Int32](repeating: -1, count: capacity)
        for (id, key) in keys.enumerated() {
            let found = key.withUnsafeBufferPointer { find($0.baseAddress, $0.count) }
            if found.index >= 0 {
                ids[found.index] = Int32(id)
            } else {
                slots[found.slot] = Int32(ids.count)
                keyStart.append(Int32(arena.count))
                keyLength.append(Int32(key.count))
                arena.append(contentsOf: key)
                ids.append(Int32(id))
            }
        }
    }

    /// The id of the `count` bytes at `bytes`, or nil.
    @inline(__always)
    func id(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> Int32? {
        let found = find(bytes, count)
        return found.index >= 0 ? ids[found.index] : nil
    }

    /// The key index of the bytes (or -1) and the slot where it is or would go.
    @inline(__always)
    private func find(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> (index: Int, slot: Int) {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for i in 0..<count { h = (h ^ UInt64(bytes![i])) &* 0x0000_0100_0000_01B3 }
        var slot = Int(truncatingIfNeeded: h ^ (h >> 29)) & mask
        return arena.withUnsafeBufferPointer { keys in
            while true {
                let index = Int(slots[slot])
                if index < 0 { return (-1, slot) }
                if Int(keyLength[index]) == count {
                    let start = Int(keyStart[index])
                    var equal = true
                    var i = 0
                    while i < count {
                        if keys[start + i] != bytes![i] { equal = false; break }
                        i += 1
                    }
                    if equal { return (index, slot) }
                }
                slot = (slot + 1) & mask
            }
        }
    }
}

/// Remembers the BPE result of each distinct word (raw UTF-8 bytes → token ids).
///
/// An open-addressing hash table whose keys and values live in two flat arenas, so a lookup
/// hashes the bytes once and compares them in place, without allocating. When it holds
/// `maximumEntries` words it is cleared and starts over (results never depend on the cache).
struct WordCache {
    static let maximumWordBytes = 64
    private static let slotCount = 1 << 17
    private static let maximumEntries = 1 << 16

    // Per slot: hash (0 = empty; real hashes have the top bit set), then arena positions.
    private var keyArena: [UInt8] = []
    private var valueArena: [Int32] = []
    private var entryCount = 0

    /// Tables are allocated on the first insertion (an unused cache costs nothing).
    private var hashes: [UInt64] = []
    private var keyStarts: [Int32] = []
    private var valueStarts: [Int32] = []
    private var keyLengths: [UInt8] = []
    private var valueLengths: [UInt8] = []

    @inline(__always)
    static func hash(_ word: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in word { h = (h ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        return h | 0x8000_0000_0000_0000
    }

    /// Appends the cached ids of `word` to `output` and returns true, or returns false.
    @inline(__always)
    func appendCached(_ word: UnsafeBufferPointer<UInt8>, hash: UInt64, to output: inout [Int]) -> Bool {
        if hashes.isEmpty { return false }
        let mask = WordCache.slotCount - 1
        var slot = Int(truncatingIfNeeded: hash) & mask
        return hashes.withUnsafeBufferPointer { hashes in
            while true {
                let h = hashes[slot]
                if h == 0 { return false }
                if h == hash && Int(keyLengths[slot]) == word.count {
                    let start = Int(keyStarts[slot])
                    let equal = keyArena.withUnsafeBufferPointer { arena in
                        memcmpEqual(arena.baseAddress! + start, word.baseAddress!, word.count)
                    }
                    if equal {
                        let valueStart = Int(valueStarts[slot])
                        let count = Int(valueLengths[slot])
                        valueArena.withUnsafeBufferPointer { values in
                            for k in 0..<count { output.append(Int(values[valueStart + k])) }
                        }
                        return true
                    }
                }
                slot = (slot + 1) & mask
            }
        }
    }

    mutating func insert(_ word: UnsafeBufferPointer<UInt8>, hash: UInt64, ids: ArraySlice<Int32>) {
        if hashes.isEmpty {
            hashes = [UInt64](repeating: 0, count: WordCache.slotCount)
            keyStarts = [Int32](repeating: 0, count: WordCache.slotCount)
            valueStarts = [Int32](repeating: 0, count: WordCache.slotCount)
            keyLengths = [UInt8](repeating: 0, count: WordCache.slotCount)
            valueLengths = [UInt8](repeating: 0, count: WordCache.slotCount)
        }
        if entryCount >= WordCache.maximumEntries { clear() }
        let mask = WordCache.slotCount - 1
        var slot = Int(truncatingIfNeeded: hash) & mask
        while hashes[slot] != 0 { slot = (slot + 1) & mask }
        hashes[slot] = hash
        keyStarts[slot] = Int32(keyArena.count)
        keyLengths[slot] = UInt8(word.count)
        valueStarts[slot] = Int32(valueArena.count)
        valueLengths[slot] = UInt8(ids.count)
        keyArena.append(contentsOf: word)
        valueArena.append(contentsOf: ids)
        entryCount += 1
    }

    /// `insert` for ids held as `Int`s (each fits in `Int32`: ids index a vocabulary).
    mutating func insert(_ word: UnsafeBufferPointer<UInt8>, hash: UInt64, ids: ArraySlice<Int>) {
        insert(word, hash: hash, ids: ArraySlice(ids.map { Int32(truncatingIfNeeded: $0) }))
    }

    mutating func clear() {
        for i in 0..<hashes.count { hashes[i] = 0 }
        keyArena.removeAll(keepingCapacity: true)
        valueArena.removeAll(keepingCapacity: true)
        entryCount = 0
    }
}

@inline(__always)
private func memcmpEqual(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ count: Int) -> Bool {
    var i = 0
    while i < count {
        if a[i] != b[i] { return false }
        i += 1
    }
    return true
}

/// Merge rules by rank, and the BPE merge loop over one pre-tokenized word.
///
/// Semantics are those of Hugging Face `tokenizers` (`Word::merge_all`): the word starts as one
/// symbol per byte; repeatedly, among all adjacent pairs that have a merge rule, the pair with
/// the lowest rank is merged, ties (the same pair occurring several times) going to the leftmost
/// occurrence; one occurrence is merged per step. It stops when no adjacent pair has a rule.
/// GPT-2's original loop (merge every occurrence of the best pair at once) gives the same result
/// for any vocabulary whose merges were learned in rank order.
///
/// Two implementations share these semantics: a quadratic scan for short words (the common
/// case; cache friendly, no allocation) and a binary heap with a linked list for long words
/// (O(n log n), so a 10 000-character word costs milliseconds). Tests prove them identical.
struct MergeTable: Sendable {
    /// Open-addressing hash table: key = left id << 32 | right id, value = rank << 32 | merged id.
    private var keys: [UInt64]
    private var values: [UInt64]
    private let mask: Int
    static let empty = UInt64.max
    static let noMerge = UInt64.max

    init(capacityFor count: Int) {
        var capacity = 16
        while capacity < count * 2 { capacity <<= 1 }
        keys = [UInt64](repeating: MergeTable.empty, count: capacity)
        values = [UInt64](repeating: 0, count: capacity)
        mask = capacity - 1
    }

    @inline(__always)
    static func slot(_ key: UInt64, _ mask: Int) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> 32) & mask
    }

    /// Inserts or overwrites (a later duplicate rule replaces an earlier one, as in `tokenizers`).
    mutating func insert(left: Int32, right: Int32, rank: Int, merged: Int32) {
        let key = UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
        var s = MergeTable.slot(key, mask)
        while keys[s] != MergeTable.empty && keys[s] != key { s = (s + 1) & mask }
        keys[s] = key
        values[s] = UInt64(rank) << 32 | UInt64(UInt32(bitPattern: merged))
    }

    /// `rank << 32 | merged id` for the pair, or `noMerge`.
    @inline(__always)
    func lookup(_ left: Int32, _ right: Int32) -> UInt64 {
        let key = UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
        return keys.withUnsafeBufferPointer { k in
            var s = MergeTable.slot(key, mask)
            while true {
                let found = k[s]
                if found == key { return values.withUnsafeBufferPointer { $0[s] } }
                if found == MergeTable.empty { return MergeTable.noMerge }
                s = (s + 1) & mask
            }
        }
    }

    /// Merges `symbols` in place (short-word path). `pairs` is scratch space.
    func mergeByScan(_ symbols: inout [Int32], pairs: inout [UInt64]) {
        var n = symbols.count
        if n < 2 { return }
        pairs.removeAll(keepingCapacity: true)
        for i in 0..<(n - 1) { pairs.append(lookup(symbols[i], symbols[i + 1])) }
        symbols.withUnsafeMutableBufferPointer { sym in
            pairs.withUnsafeMutableBufferPointer { pair in
                while n > 1 {
                    var best = 0
                    var bestValue = pair[0]
                    for i in 1..<(n - 1) where pair[i] < bestValue {
                        best = i
                        bestValue = pair[i]
                    }
                    if bestValue == MergeTable.noMerge { break }
                    sym[best] = Int32(truncatingIfNeeded: bestValue & 0xFFFF_FFFF)
                    // Remove symbol best+1 and pair best (pair best+1 becomes pair best, recomputed).
                    var k = best + 1
                    while k < n - 1 { sym[k] = sym[k + 1]; k += 1 }
                    k = best
                    while k < n - 2 { pair[k] = pair[k + 1]; k += 1 }
                    n -= 1
                    if best > 0 { pair[best - 1] = lookup(sym[best - 1], sym[best]) }
                    if best < n - 1 { pair[best] = lookup(sym[best], sym[best + 1]) }
                }
            }
        }
        symbols.removeLast(symbols.count - n)
    }

    /// Merges `symbols` in place with a priority queue (long-word path).
    func mergeByHeap(_ symbols: inout [Int32]) {
        let n = symbols.count
        if n < 2 { return }
        var next = [Int32](unsafeUninitializedCapacity: n) { buffer, count in
            for i in 0..<n { buffer[i] = Int32(i + 1) }
            buffer[n - 1] = -1
            count = n
        }
        var previous = [Int32](unsafeUninitializedCapacity: n) { buffer, count in
            for i in 0..<n { buffer[i] = Int32(i - 1) }
            count = n
        }
        var alive = [Bool](repeating: true, count: n)
        // Heap entries: rank << 32 | position, so the minimum is (lowest rank, leftmost).
        var heap = MinHeap()
        for i in 0..<(n - 1) {
            let value = lookup(symbols[i], symbols[i + 1])
            if value != MergeTable.noMerge { heap.push(value & 0xFFFF_FFFF_0000_0000 | UInt64(i)) }
        }
        while let top = heap.pop() {
            let position = Int(top & 0xFFFF_FFFF)
            let rank = top >> 32
            guard alive[position], next[position] >= 0 else { continue }
            let right = Int(next[position])
            let value = lookup(symbols[position], symbols[right])
            // A stale entry: the pair at this position changed since it was queued.
            guard value != MergeTable.noMerge, value >> 32 == rank else { continue }
            symbols[position] = Int32(truncatingIfNeeded: value & 0xFFFF_FFFF)
            alive[right] = false
            next[position] = next[right]
            if next[right] >= 0 { previous[Int(next[right])] = Int32(position) }
            if previous[position] >= 0 {
                let left = Int(previous[position])
                let leftValue = lookup(symbols[left], symbols[position])
                if leftValue != MergeTable.noMerge { heap.push(leftValue & 0xFFFF_FFFF_0000_0000 | UInt64(left)) }
            }
            if next[position] >= 0 {
                let rightValue = lookup(symbols[position], symbols[Int(next[position])])
                if rightValue != MergeTable.noMerge { heap.push(rightValue & 0xFFFF_FFFF_0000_0000 | UInt64(position)) }
            }
        }
        var result: [Int32] = []
        result.reserveCapacity(n)
        var i = 0
        while i >= 0 {
            result.append(symbols[i])
            i = Int(next[i])
        }
        symbols = result
    }
}

/// A binary min-heap of `UInt64`.
struct MinHeap {
    private var items: [UInt64] = []

    mutating func push(_ value: UInt64) {
        items.append(value)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            if items[parent] <= items[child] { break }
            items.swapAt(parent, child)
            child = parent
        }
    }

    mutating func pop() -> UInt64? {
        guard let first = items.first else { return nil }
        let last = items.removeLast()
        if items.isEmpty { return first }
        items[0] = last
        var parent = 0
        let count = items.count
        while true {
            let left = 2 * parent + 1
            if left >= count { break }
            let right = left + 1
            let smaller = right < count && items[right] < items[left] ? right : left
            if items[parent] <= items[smaller] { break }
            items.swapAt(parent, smaller)
            parent = smaller
        }
        return first
    }
}

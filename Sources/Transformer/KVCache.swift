/// The key/value cache of one sequence: per layer, keys and values of every cached token,
/// `[slots, kvHeads * headDim]` each, in slot order.
///
/// A forward pass appends its tokens at slots `length..<length + T` and advances `length`.
/// Speculative methods then either keep everything, `rollback(to:)` a shorter length, or
/// `keep(slots:after:)` an accepted tree path, which moves those slots (in the given order)
/// to `base..<base + n` and truncates the rest.
public final class KVCache {
    public let layerCount: Int
    /// Floats per token per layer (`kvHeads * headDim`).
    public let rowWidth: Int
    /// The most slots this cache may hold (the model's context length).
    public let limit: Int
    /// Committed slots.
    public private(set) var length: Int = 0
    /// Position id of each slot (for diagnostics and tree bookkeeping).
    public private(set) var positions: [Int] = []

    var capacity: Int
    var keys: [UnsafeMutablePointer<Float>]
    var values: [UnsafeMutablePointer<Float>]

    public init(configuration c: LlamaConfiguration, initialCapacity: Int = 256) {
        layerCount = c.layerCount
        rowWidth = c.kvHeadCount * c.headDimension
        limit = c.contextLength
        let slots = max(1, min(initialCapacity, c.contextLength))
        capacity = slots
        keys = (0..<c.layerCount).map { _ in .allocate(capacity: slots * c.kvHeadCount * c.headDimension) }
        values = (0..<c.layerCount).map { _ in .allocate(capacity: slots * c.kvHeadCount * c.headDimension) }
    }

    deinit {
        for p in keys { p.deallocate() }
        for p in values { p.deallocate() }
    }

    /// Makes room for `count` more slots (growing geometrically) and reserves them; returns the
    /// first new slot. Throws when the context limit would be exceeded.
    func append(count: Int, positions newPositions: [Int]) throws -> Int {
        let needed = length + count
        if needed > limit { throw ModelError.contextOverflow(needed: needed, limit: limit) }
        if needed > capacity {
            var newCapacity = capacity
            while newCapacity < needed { newCapacity *= 2 }
            newCapacity = min(newCapacity, max(limit, needed))
            for l in 0..<layerCount {
                for which in 0..<2 {
                    let old = which == 0 ? keys[l] : values[l]
                    let fresh = UnsafeMutablePointer<Float>.allocate(capacity: newCapacity * rowWidth)
                    fresh.update(from: old, count: length * rowWidth)
                    old.deallocate()
                    if which == 0 { keys[l] = fresh } else { values[l] = fresh }
                }
            }
            capacity = newCapacity
        }
        let first = length
        length = needed
        positions.append(contentsOf: newPositions)
        return first
    }

    /// Forgets every slot at or after `newLength`.
    public func rollback(to newLength: Int) {
        precondition(newLength >= 0 && newLength <= length, "rollback(to: \(newLength)) outside 0...\(length)")
        length = newLength
        positions.removeLast(positions.count - newLength)
    }

    /// Keeps `slots` (each ≥ `base`, strictly increasing) as slots `base..<base + slots.count`
    /// and drops every other slot at or after `base`. Used to commit an accepted tree path.
    public func keep(slots: [Int], after base: Int) {
        precondition(base <= length, "base \(base) beyond the cache length \(length)")
        var previous = base - 1
        for s in slots {
            precondition(s > previous && s < length, "kept slots must be increasing and inside the cache")
            previous = s
        }
        for (i, s) in slots.enumerated() where s != base + i {
            for l in 0..<layerCount {
                (keys[l] + (base + i) * rowWidth).update(from: keys[l] + s * rowWidth, count: rowWidth)
                (values[l] + (base + i) * rowWidth).update(from: values[l] + s * rowWidth, count: rowWidth)
            }
            positions[base + i] = positions[s]
        }
        rollback(to: base + slots.count)
    }

    /// Empties the cache.
    public func reset() { rollback(to: 0) }
}

/// Which cached and new tokens each new token attends to.
public enum AttentionMask: Sendable, Equatable {
    /// Token `i` of the batch sees every cached slot and batch tokens `0...i`.
    case causal
    /// A draft tree (a chain is a tree): `parents[i]` is the batch index of token `i`'s parent,
    /// or -1 when its parent is the last cached token. Token `i` sees every cached slot, its
    /// ancestors in the batch, and itself. Parents must come before children.
    case tree(parents: [Int])
    /// `allowed[i][j]` says whether batch token `i` sees slot `j` (`j < cacheLength + T`, where
    /// slots `cacheLength + k` are the batch tokens). Every row must allow at least one slot.
    case explicit([[Bool]])

    /// For each batch token, the visible slots in increasing order.
    func visibleSlots(cacheLength base: Int, batch t: Int) throws -> [[Int]] {
        switch self {
        case .causal:
            return (0..<t).map { i in Array(0...(base + i)) }
        case .tree(let parents):
            guard parents.count == t else { throw ModelError.invalidInput("tree mask has \(parents.count) parents for \(t) tokens") }
            var result: [[Int]] = []
            for i in 0..<t {
                let p = parents[i]
                guard p >= -1 && p < i else { throw ModelError.invalidInput("tree node \(i) has parent \(p); parents must precede their children") }
                var chain = p == -1 ? Array(0..<base) : result[p]
                chain.append(base + i)
                result.append(chain)
            }
            return result
        case .explicit(let allowed):
            guard allowed.count == t else { throw ModelError.invalidInput("explicit mask has \(allowed.count) rows for \(t) tokens") }
            return try allowed.enumerated().map { i, row in
                guard row.count == base + t else { throw ModelError.invalidInput("mask row \(i) has \(row.count) entries; expected \(base + t)") }
                let slots = row.indices.filter { row[$0] }
                if slots.isEmpty { throw ModelError.invalidInput("mask row \(i) allows no slot") }
                return slots
            }
        }
    }

    /// Default position ids: `cacheLength + i` for causal and explicit masks; for a tree,
    /// `cacheLength + depth(i)` where roots have depth 0.
    func defaultPositions(cacheLength base: Int, batch t: Int) -> [Int] {
        if case .tree(let parents) = self, parents.count == t {
            var depth = [Int](repeating: 0, count: t)
            for i in 0..<t where parents[i] >= 0 && parents[i] < i { depth[i] = depth[parents[i]] + 1 }
            return depth.map { base + $0 }
        }
        return (0..<t).map { base + $0 }
    }
}

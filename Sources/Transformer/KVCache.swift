import Tensors

/// The key/value cache of one sequence: per layer, keys and values of every cached token,
/// in tiles of 16 slots that never move when the cache grows. Key tiles are
/// `[slot / 16][kvHeads * headDim][slot % 16]` (16 slots scored with one contiguous vector per
/// key dimension; one slot's key dimensions sit 16 floats apart). Value tiles are
/// `[slot / 16][kvHead][slot % 16][headDim]`, so one head's value rows are contiguous within a
/// tile.
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
    /// Floats per head (`headDim`).
    let headDimension: Int
    /// Per layer, `keyTiles[l][tileIndex(slot, c)]` is key element `c` of `slot`.
    var keyTiles: [UnsafeMutablePointer<Float>]
    /// Per layer, `valueTiles[l][valueIndex(slot, c)]` is value element `c` of `slot`.
    var valueTiles: [UnsafeMutablePointer<Float>]

    /// Where dimension `c` of slot `slot` sits in a layer's key tiles.
    @inline(__always) func tileIndex(_ slot: Int, _ c: Int) -> Int { (slot >> 4) * rowWidth * 16 + c * 16 + (slot & 15) }

    /// Where value element `c` (head `c / headDim`, dimension `c % headDim`) of `slot` sits in a
    /// layer's value tiles.
    @inline(__always) func valueIndex(_ slot: Int, _ c: Int) -> Int {
        (slot >> 4) * rowWidth * 16 + (c / headDimension) * 16 * headDimension + (slot & 15) * headDimension + c % headDimension
    }

    /// Layer `l`'s tiles as the tensor layer's attention reads them (same index formulas as
    /// `tileIndex` and `valueIndex`). Valid until the next `append` grows the cache.
    func keysAndValues(layer l: Int) -> TiledKeyValues {
        TiledKeyValues(keys: keyTiles[l], values: valueTiles[l], rowWidth: rowWidth, headDimension: headDimension)
    }

    /// Floats allocated per layer for the key (or value) tiles of `slots` slots (whole tiles).
    private static func tileFloats(_ slots: Int, rowWidth: Int) -> Int { (slots + 15) / 16 * 16 * rowWidth }

    /// An empty cache for a model of this shape with room for `initialCapacity` slots (it grows
    /// up to `shape.contextLength`).
    public init(shape c: ModelShape, initialCapacity: Int = 256) {
        layerCount = c.layerCount
        rowWidth = c.kvRowWidth
        limit = c.contextLength
        let slots = max(1, min(initialCapacity, c.contextLength))
        capacity = slots
        headDimension = c.headDimension
        let tileFloats = Self.tileFloats(slots, rowWidth: rowWidth)
        keyTiles = (0..<c.layerCount).map { _ in .allocate(capacity: tileFloats) }
        valueTiles = (0..<c.layerCount).map { _ in .allocate(capacity: tileFloats) }
    }

    deinit {
        for p in keyTiles { p.deallocate() }
        for p in valueTiles { p.deallocate() }
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
                // Tiles do not move when the capacity grows.
                for which in 0..<2 {
                    let old = which == 0 ? keyTiles[l] : valueTiles[l]
                    let fresh = UnsafeMutablePointer<Float>.allocate(capacity: Self.tileFloats(newCapacity, rowWidth: rowWidth))
                    fresh.update(from: old, count: Self.tileFloats(length, rowWidth: rowWidth))
                    old.deallocate()
                    if which == 0 { keyTiles[l] = fresh } else { valueTiles[l] = fresh }
                }
            }
            capacity = newCapacity
        }
        let first = length
        length = needed
        positions.append(contentsOf: newPositions)
        return first
    }

    /// Writes the keys and values of slots `first..<first + count` (rows of `rowWidth` floats)
    /// for layer `l` into the tiles.
    func store(layer l: Int, first: Int, count: Int, keys k: UnsafePointer<Float>, values v: UnsafePointer<Float>) {
        let kt = keyTiles[l], vt = valueTiles[l]
        for t in 0..<count {
            for c in 0..<rowWidth {
                kt[tileIndex(first + t, c)] = k[t * rowWidth + c]
                vt[valueIndex(first + t, c)] = v[t * rowWidth + c]
            }
        }
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
                let kt = keyTiles[l], vt = valueTiles[l]
                for c in 0..<rowWidth {
                    kt[tileIndex(base + i, c)] = kt[tileIndex(s, c)]
                    vt[valueIndex(base + i, c)] = vt[valueIndex(s, c)]
                }
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

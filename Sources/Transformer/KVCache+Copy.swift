extension KVCache {
    /// An independent copy: the same slots, positions and tile contents, with room for at least
    /// `capacity` slots (default: the current length). Later appends and rollbacks of either cache
    /// leave the other unchanged. Used to run several attention modes from one prefill.
    public func copy(capacity requested: Int? = nil) -> KVCache {
        let kvHeads = rowWidth / headDimension
        let shape = ModelShape(layerCount: layerCount, hiddenSize: rowWidth, headCount: kvHeads, kvHeadCount: kvHeads, headDimension: headDimension,
                               vocabularySize: 0, contextLength: limit, tiedEmbeddings: false)
        let copy = KVCache(shape: shape, initialCapacity: max(length, requested ?? length))
        // `length` never exceeds `limit`, so this append cannot throw.
        guard (try? copy.append(count: length, positions: positions)) != nil else { preconditionFailure("a cache longer than its limit") }
        let floats = (length + 15) / 16 * 16 * rowWidth  // whole tiles
        for l in 0..<layerCount {
            copy.keyTiles[l].update(from: keyTiles[l], count: floats)
            copy.valueTiles[l].update(from: valueTiles[l], count: floats)
        }
        return copy
    }
}

import Tensors

/// Top-k filtering (Fan, Lewis and Dauphin 2018, "Hierarchical Neural Story Generation",
/// arXiv:1805.04833).
///
/// - `.huggingFace` (`TopKLogitsWarper`): `k' = min(max(k, minTokensToKeep), V)`; `v` = the
///   `k'`-th largest score; every score strictly below `v` becomes `-inf`. **Ties at the k-th
///   value are all kept**, so more than `k` tokens can survive.
/// - `.llamaCpp` / `.mlx`: exactly `min(k, V)` tokens survive: the first `k` in D4 order (score
///   descending, id ascending), so among tokens tied at the cut-off the lowest ids are kept.
///   (llama.cpp's partial sort and MLX's `argpartition` leave tie order unspecified; Touchstone
///   pins D4.) llama.cpp treats `k <= 0` as "no filtering"; so does Touchstone for every semantics.
///
/// `k >= V` keeps everything. `-inf` entries count as scores (Hugging Face's `torch.topk` does the same).
public struct TopK: LogitsProcessor {
    public var name: String { "top_k" }
    public var k: Int
    public var minTokensToKeep: Int
    public var semantics: ProcessorSemantics

    public init(_ k: Int, minTokensToKeep: Int = 1, semantics: ProcessorSemantics = .huggingFace) {
        self.k = k
        self.minTokensToKeep = minTokensToKeep
        self.semantics = semantics
    }

    public func process(_ scores: inout [Float], context: ProcessorContext) {
        guard k > 0, !scores.isEmpty else { return }
        switch semantics {
        case .huggingFace:
            let kk = min(max(k, minTokensToKeep), scores.count)
            let v = ProcessorMath.kthLargest(scores, kk)
            for i in 0..<scores.count where scores[i] < v { scores[i] = -.infinity }
        case .llamaCpp, .mlx:
            if k >= scores.count { return }
            let keep = scores.withUnsafeBufferPointer { Kernels.topK($0.baseAddress!, count: $0.count, k: k) }
            var kept = [Bool](repeating: false, count: scores.count)
            for e in keep { kept[e.index] = true }
            for i in 0..<scores.count where !kept[i] { scores[i] = -.infinity }
        }
    }
}

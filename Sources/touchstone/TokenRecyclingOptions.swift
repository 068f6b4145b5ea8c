import Foundation
import Decoding
import Benchmarks

// Token Recycling options of `generate --strategy token-recycling` and `bench --spec-bench`.

/// The Token Recycling trees of the benchmark: `--tree-nodes N` or a comma-separated list of
/// sizes in 1…80 (default 80), `--tree-shape` with one shape for every size or one per size,
/// and `--draft-threshold` (a probability in [0, 1), default 0 = off) likewise. Without any of the
/// three options: `TokenRecyclingVariant.defaults` (the paper's 80-node tree and a 6-node chain
/// with threshold 0.3), so a default run reports both; names are `TokenRecyclingVariant.variants`'.
func tokenRecyclingVariants(_ args: Arguments) throws -> [TokenRecyclingVariant] {
    if args.string("tree-nodes") == nil && args.string("tree-shape") == nil && args.string("draft-threshold") == nil {
        return TokenRecyclingVariant.defaults
    }
    let limit = TokenRecyclingTree.reference.count
    let nodesText = args.string("tree-nodes") ?? "80"
    var sizes: [Int] = []
    for part in Arguments.commaSeparated(nodesText) {
        guard let n = Int(part), (1...limit).contains(n) else {
            throw CLIError("--tree-nodes must be a node count in 1…\(limit) or a comma-separated list of them, not '\(nodesText)'")
        }
        sizes.append(n)
    }
    let shapes = try perTree(args, "tree-shape", default: "reference", count: sizes.count).map(treeShape)
    let thresholds = try perTree(args, "draft-threshold", default: "0", count: sizes.count).map(draftThreshold)
    return try TokenRecyclingVariant.variants((0..<sizes.count).map { (nodes: sizes[$0], shape: shapes[$0], draftThreshold: thresholds[$0]) })
}

/// A `--draft-threshold` value: a probability in [0, 1) (0 = off).
func draftThreshold(_ text: String) throws -> Double {
    guard let p = Double(text), p >= 0, p < 1 else {
        throw CLIError("--draft-threshold must be a probability in [0, 1) (0 = off), or one per --tree-nodes value, not '\(text)'")
    }
    return p
}

/// The values of a per-tree option: one for every tree, or one per tree (comma-separated).
private func perTree(_ args: Arguments, _ option: String, default value: String, count: Int) throws -> [String] {
    var values = Arguments.commaSeparated(args.string(option) ?? value)
    if values.count == 1 { values = Array(repeating: values[0], count: count) }
    guard values.count == count else {
        throw CLIError("--\(option) needs one value, or one per --tree-nodes value (\(count)), not \(values.count)")
    }
    return values
}

/// A `--tree-shape` value.
func treeShape(_ text: String) throws -> TokenRecyclingTreeShape {
    guard let shape = TokenRecyclingTreeShape(rawValue: text) else {
        throw CLIError("--tree-shape must be reference (the paper's template, first N nodes), compact (the N most often accepted nodes) or chain (N first candidates in a row), not '\(text)'")
    }
    return shape
}

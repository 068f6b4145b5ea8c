import XCTest
import Decoding
import Tensors

/// The tree buffers against the authors' `generate_medusa_buffers` (check values quoted from their
/// code's output for `mc_sim_7b_63`), a hand-built small tree, and the invariants every table keeps.
final class MedusaTreeTests: XCTestCase {
    func testMcSim7b63BuffersMatchTheReferenceCheckValues() throws {
        let tree = try MedusaTree.named("mc_sim_7b_63")
        XCTAssertEqual(tree.count - 1, 63, "63 nodes")
        XCTAssertEqual(tree.depthCounts, [10, 28, 23, 2])
        XCTAssertEqual(tree.retrieveIndices.count, 42, "42 leaves")
        XCTAssertTrue(tree.retrieveIndices.allSatisfy { $0.count == 5 })
        XCTAssertEqual(tree.retrieveIndices.first, [0, 1, 11, 39, 63])
        XCTAssertEqual(tree.retrieveIndices.last, [0, 1, 19, -1, -1])
    }

    /// `[[1], [0], [0, 0]]` worked by hand through `generate_medusa_buffers`.
    func testSmallTreeBuffersWorkedByHand() throws {
        let tree = try MedusaTree(choices: [[1], [0], [0, 0]])
        XCTAssertEqual(tree.choices, [[0], [1], [0, 0]])
        XCTAssertEqual(tree.treeIndices, [0, 1, 2, 11])  // rank + 10·(depth − 1) + 1
        XCTAssertEqual(tree.positionIDs, [0, 1, 1, 2])
        XCTAssertEqual(tree.attentionMask, [[true, false, false, false], [true, true, false, false],
                                            [true, false, true, false], [true, true, false, true]])
        // Reversed sorted order: [0, 0] → [0, 1, 3]; [1] → [0, 2, -1]; [0] is a recorded prefix.
        XCTAssertEqual(tree.retrieveIndices, [[0, 1, 3], [0, 2, -1]])
        XCTAssertEqual(tree.parents, [-1, 0, 0, 1])
    }

    /// Seeded random valid tables: every prefix of a path listed, ranks below 10.
    func randomTables(count: Int, seed: UInt64) -> [[[Int]]] {
        var g = Xoshiro256StarStar(seed: seed)
        return (0..<count).map { _ in
            var paths: [[Int]] = []
            var set = Set<[Int]>()
            let n = 1 + Int(g.next() % 30)
            while paths.count < n {
                let parent = paths.isEmpty || g.next() % 3 == 0 ? [] : paths[Int(g.next() % UInt64(paths.count))]
                let child = parent + [Int(g.next() % 10)]
                if child.count <= 5, set.insert(child).inserted { paths.append(child) }
            }
            return paths.shuffled(using: &g)
        }
    }

    func testEveryTableKeepsTheBufferInvariants() throws {
        var tables = MedusaTree.namedTables.map(\.paths)
        tables += randomTables(count: 40, seed: 17)
        for paths in tables {
            let tree = try MedusaTree(choices: paths)
            let T = tree.count
            // Depth of each tree index from the parents.
            var depth = [Int](repeating: 0, count: T)
            for i in 1..<T {
                XCTAssertLessThan(tree.parents[i], i, "parents precede children")
                depth[i] = depth[tree.parents[i]] + 1
                XCTAssertEqual(depth[i], tree.choices[i - 1].count)
                XCTAssertEqual(tree.treeIndices[i], tree.choices[i - 1].last! + 10 * (depth[i] - 1) + 1)
            }
            XCTAssertEqual(tree.positionIDs, depth, "positions are depths")
            for i in 0..<T {
                // Row i sees exactly its ancestors and itself: depth + 1 ones, lower-triangular.
                var ancestors = Set([i]); var a = i
                while a > 0 { a = tree.parents[a]; ancestors.insert(a) }
                XCTAssertEqual(tree.attentionMask[i].filter { $0 }.count, depth[i] + 1)
                for j in 0..<T { XCTAssertEqual(tree.attentionMask[i][j], ancestors.contains(j), "mask[\(i)][\(j)]") }
            }
            var covered = Set<Int>()
            let width = tree.retrieveIndices.map(\.count).max()!
            XCTAssertEqual(width, tree.depth + 1)
            for row in tree.retrieveIndices {
                XCTAssertEqual(row.count, width)
                XCTAssertEqual(row[0], 0)
                let real = row.filter { $0 >= 0 }
                XCTAssertEqual(Array(row[real.count...]), [Int](repeating: -1, count: width - real.count), "padding only at the end")
                for k in 1..<real.count { XCTAssertEqual(tree.parents[real[k]], real[k - 1], "rows are root-to-leaf chains") }
                XCTAssertFalse(tree.parents.contains(real.last!), "a row ends at a leaf")
                covered.formUnion(real)
            }
            XCTAssertEqual(covered, Set(0..<T), "every node is in some row")
            XCTAssertEqual(tree.retrieveIndices.count, (0..<T).filter { !tree.parents.contains($0) }.count, "one row per leaf")
        }
    }

    func testNamedTablesAndPrefixesParse() throws {
        XCTAssertEqual(try MedusaTree.parse("chain-3"), [[0], [0, 0], [0, 0, 0]])
        XCTAssertEqual(try MedusaTree.parse("tree-6"), Array(MedusaTree.mcSim7b63.prefix(6)))
        XCTAssertEqual(try MedusaTree.parse("mc_sim_7b_63:4"), [[0], [0, 0], [1], [0, 1]])
        XCTAssertEqual(try MedusaTree.parse(" [[0], [1], [0, 0]] "), [[0], [1], [0, 0]])
        // Every listed prefix of mc_sim_7b_63 is ancestor-closed (it is the order nodes were added).
        for n in 1...63 { XCTAssertNoThrow(try MedusaTree.named("mc_sim_7b_63:\(n)"), "\(n)") }
    }

    func testBadChoicesAreTypedErrorsThatSayWhatIsWrong() {
        func message(_ text: String) -> String {
            do { _ = try MedusaTree.named(text); return "" } catch let e as MedusaError { return e.description } catch { return "untyped \(error)" }
        }
        XCTAssertTrue(message("[]").contains("empty"))
        XCTAssertTrue(message("[[0], []]").contains("empty path"))
        XCTAssertTrue(message("[[0], [0, 1, 0]]").contains("without its prefix [0, 1]"))
        XCTAssertTrue(message("[[10]]").contains("rank 10"))
        XCTAssertTrue(message("[[0], [0]]").contains("listed twice"))
        XCTAssertTrue(message("[[0], \"a\"]").contains("not a JSON list"))
        XCTAssertTrue(message("bushy").contains("unknown table 'bushy'"))
        XCTAssertTrue(message("chain-3:9").contains("fewer than 9"))
        XCTAssertTrue(message("chain-3:x").contains("path count"))
    }
}

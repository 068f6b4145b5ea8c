import XCTest
import Tensors
import Transformer

/// D2 (thread count) and the naive-kernel reference path.
final class ThreadInvarianceTests: XCTestCase {
    /// Prefill (all rows), a tree batch and two decode steps, concatenated (`invarianceTrace`).
    func trace(_ model: LlamaModel, pool: ParallelFor) throws -> [Float] { try invarianceTrace(model, pool: pool) }

    func testLogitsAreIdenticalForOneTwoAndThreeThreads() throws {
        for model in TinyModels.both {
            var traces: [[Float]] = []
            for threads in [1, 2, 3] {
                let pool = ParallelFor(threadCount: threads)
                defer { pool.shutdown() }
                traces.append(try trace(model, pool: pool))
            }
            assertBitIdentical(traces[0], traces[1], "\(model.origin) 1 vs 2 threads")
            assertBitIdentical(traces[0], traces[2], "\(model.origin) 1 vs 3 threads")
        }
    }

    func testNaiveKernelsGiveBitIdenticalLogits() throws {
        for preset in SyntheticModels.presets {
            // A separate instance: `useNaiveKernels` is a property of the shared test models.
            let naive = try SyntheticModels.model(preset)
            naive.useNaiveKernels = true
            let fast = try SyntheticModels.model(preset)
            let pool = ParallelFor(threadCount: 2)
            defer { pool.shutdown() }
            assertBitIdentical(try trace(naive, pool: pool), try trace(fast, pool: pool), preset.name)
        }
    }
}

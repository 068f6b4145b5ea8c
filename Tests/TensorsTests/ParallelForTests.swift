import XCTest
import Synchronization
import Tensors
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `ParallelFor` (D2): each index is processed exactly once, slices follow the documented
/// partition `[t * count / n, (t + 1) * count / n)`, the caller runs slice 0 (and any slice no
/// worker claimed in time), and many
/// consecutive small jobs neither hang nor lose work.
final class ParallelForTests: XCTestCase {
    /// Records what the bodies of one run saw, from any thread.
    final class Recorder: @unchecked Sendable {
        struct Slice: Equatable { let lower: Int; let upper: Int; let thread: pthread_t }
        let slices = Mutex<[Slice]>([])
        let visits = Mutex<[Int]>([])
    }

    static let counts = [0, 1, 2, 3, 4, 5, 7, 1000]

    func testRunSplitsIntoTheDocumentedContiguousSlicesAndTheCallerIsParticipantZero() {
        let caller = pthread_self()
        for n in 1...5 {
            let pool = ParallelFor(threadCount: n)
            defer { pool.shutdown() }
            XCTAssertEqual(pool.threadCount, n)
            for count in Self.counts {
                for _ in 0..<3 {
                    let recorder = Recorder()
                    pool.run(count: count) { lower, upper in
                        recorder.slices.withLock { $0.append(.init(lower: lower, upper: upper, thread: pthread_self())) }
                    }
                    let slices = recorder.slices.withLock { $0 }.sorted { $0.lower < $1.lower }
                    let documented = (0..<n).map { t in (t * count / n, (t + 1) * count / n) }.filter { $0.0 < $0.1 }
                    XCTAssertEqual(slices.map(\.lower), documented.map(\.0), "threads \(n) count \(count)")
                    XCTAssertEqual(slices.map(\.upper), documented.map(\.1), "threads \(n) count \(count)")
                    // A worker runs at most its own slice of a job; every other slice it did not
                    // claim in time runs on the caller. So two slices share a thread only on the caller.
                    for (i, a) in slices.enumerated() {
                        for b in slices[(i + 1)...] where pthread_equal(a.thread, b.thread) != 0 {
                            XCTAssertNotEqual(pthread_equal(a.thread, caller), 0, "threads \(n) count \(count): two slices on one worker thread")
                        }
                    }
                    if count / n > 0, let first = slices.first {
                        XCTAssertNotEqual(pthread_equal(first.thread, caller), 0, "threads \(n) count \(count): slice 0 not on the caller")
                    }
                }
            }
        }
    }

    func testForEachVisitsEveryIndexExactlyOnce() {
        for n in 1...5 {
            let pool = ParallelFor(threadCount: n)
            defer { pool.shutdown() }
            for count in Self.counts {
                let recorder = Recorder()
                pool.forEach(count) { i in recorder.visits.withLock { $0.append(i) } }
                XCTAssertEqual(recorder.visits.withLock { $0 }.sorted(), Array(0..<count), "threads \(n) count \(count)")
            }
        }
    }

    func testManyConsecutiveSmallJobsCompleteWithoutLosingWork() {
        // 10,000 jobs on a two-thread pool (2,000 on the oversubscribed 3- and 5-thread pools:
        // with more threads than cores each job waits for every worker to be scheduled), each
        // count in 1...6; every index adds (index + 1) to a counter, so a skipped or repeated
        // slice changes the total.
        final class Counter: @unchecked Sendable { let total = Atomic<Int>(0) }
        for (n, jobs) in [(2, 10_000), (3, 2_000), (5, 2_000)] {
            let pool = ParallelFor(threadCount: n)
            defer { pool.shutdown() }
            let counter = Counter()
            var expected = 0
            for job in 0..<jobs {
                let count = 1 + job % 6
                expected += count * (count + 1) / 2
                pool.run(count: count) { lower, upper in
                    var local = 0
                    for i in lower..<upper { local += i + 1 }
                    counter.total.wrappingAdd(local, ordering: .relaxed)
                }
                // run returns only after every slice is done: the total is complete here.
                if job % 1000 == 999 {
                    XCTAssertEqual(counter.total.load(ordering: .relaxed), expected, "threads \(n) after job \(job)")
                }
            }
            XCTAssertEqual(counter.total.load(ordering: .relaxed), expected, "threads \(n)")
        }
    }

    func testPoolsOfDifferentSizesWorkSideBySide() {
        // Independent pools do not share state: interleaved runs on two pools stay exact.
        let a = ParallelFor(threadCount: 2), b = ParallelFor(threadCount: 3)
        defer { a.shutdown(); b.shutdown() }
        for count in [1, 2, 3, 10, 1000] {
            var outA = [Int](repeating: 0, count: count), outB = [Int](repeating: 0, count: count)
            outA.withUnsafeMutableBufferPointer { pa in
                outB.withUnsafeMutableBufferPointer { pb in
                    let pa = pa.baseAddress!, pb = pb.baseAddress!
                    a.forEach(count) { i in pa[i] += i * 2 }
                    b.forEach(count) { i in pb[i] += i * 3 }
                    a.forEach(count) { i in pa[i] += 1 }
                }
            }
            XCTAssertEqual(outA, (0..<count).map { $0 * 2 + 1 })
            XCTAssertEqual(outB, (0..<count).map { $0 * 3 })
        }
    }
}

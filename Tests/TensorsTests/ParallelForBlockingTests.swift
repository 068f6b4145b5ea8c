import XCTest
import Synchronization
import Foundation
import Tensors
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The spin-then-block path of `ParallelFor`: jobs published to workers that have blocked, many
/// tiny jobs, nested and concurrent calls, results identical for 1, 2, 3 and 8 threads, and a
/// shutdown that ends every worker thread.
final class ParallelForBlockingTests: XCTestCase {
    final class Counter: @unchecked Sendable { let total = Atomic<Int>(0) }

    /// Sleeps long enough for every idle worker to pass its spin phase and block.
    func sleepPastTheSpinPhase() {
        var ts = timespec(tv_sec: 0, tv_nsec: 20 * ParallelFor.workerSpinNanoseconds)
        nanosleep(&ts, nil)
    }

    /// out[i] = a sequential Float recurrence of length 1 + i % 97 seeded by i: a result that
    /// changes if any index is skipped, repeated, or computed from another index's state.
    static func fill(_ out: UnsafeMutablePointer<Float>, _ lower: Int, _ upper: Int) {
        for i in lower..<upper {
            var x = Float(i) * 0.001 + 0.5
            for k in 0..<(1 + i % 97) { x = x * 0.999 + Float(k) * 1e-4 }
            out[i] = x
        }
    }

    static func serial(_ count: Int) -> [Float] {
        var out = [Float](repeating: .nan, count: count)
        out.withUnsafeMutableBufferPointer { fill($0.baseAddress!, 0, count) }
        return out
    }

    func testJobsPublishedAfterTheWorkersBlockedCompleteExactly() {
        for n in [2, 3, 8] {
            let pool = ParallelFor(threadCount: n)
            defer { pool.shutdown() }
            for round in 0..<20 {
                sleepPastTheSpinPhase()
                let count = 1 + round * 37
                var out = [Float](repeating: .nan, count: count)
                out.withUnsafeMutableBufferPointer { p in
                    let base = p.baseAddress!
                    pool.run(count: count) { lower, upper in Self.fill(base, lower, upper) }
                }
                XCTAssertEqual(out.map(\.bitPattern), Self.serial(count).map(\.bitPattern), "threads \(n) round \(round)")
            }
        }
    }

    func testManyTinyJobsAlternatingWithPausesLoseNoWork() {
        // Bursts of tiny jobs (workers spinning) separated by pauses (workers blocked): every
        // index adds (index + 1), so a lost or repeated slice changes the total.
        for n in [2, 3, 8] {
            let pool = ParallelFor(threadCount: n)
            defer { pool.shutdown() }
            let counter = Counter()
            var expected = 0
            for burst in 0..<30 {
                if burst % 3 == 0 { sleepPastTheSpinPhase() }
                for job in 0..<200 {
                    let count = 1 + (burst + job) % 9
                    expected += count * (count + 1) / 2
                    pool.run(count: count) { lower, upper in
                        var local = 0
                        for i in lower..<upper { local += i + 1 }
                        counter.total.wrappingAdd(local, ordering: .relaxed)
                    }
                }
                XCTAssertEqual(counter.total.load(ordering: .relaxed), expected, "threads \(n) after burst \(burst)")
            }
        }
    }

    func testResultsAreBitIdenticalForOneTwoThreeAndEightThreads() {
        for count in [1, 2, 7, 64, 1025] {
            let reference = Self.serial(count).map(\.bitPattern)
            for n in [1, 2, 3, 8] {
                let pool = ParallelFor(threadCount: n)
                defer { pool.shutdown() }
                for repetition in 0..<3 {
                    if repetition == 1 { sleepPastTheSpinPhase() }
                    var out = [Float](repeating: .nan, count: count)
                    out.withUnsafeMutableBufferPointer { p in
                        let base = p.baseAddress!
                        pool.run(count: count) { lower, upper in Self.fill(base, lower, upper) }
                    }
                    XCTAssertEqual(out.map(\.bitPattern), reference, "threads \(n) count \(count) repetition \(repetition)")
                }
            }
        }
    }

    func testNestedRunExecutesTheDocumentedSlicesInOrderOnTheCallingThread() {
        final class Log: @unchecked Sendable { let entries = Mutex<[(outer: Int, lower: Int, upper: Int, sameThread: Bool)]>([]) }
        for n in [2, 3, 8] {
            let pool = ParallelFor(threadCount: n)
            defer { pool.shutdown() }
            let log = Log()
            let innerCount = 11
            pool.run(count: n) { lower, upper in
                for outer in lower..<upper {
                    let thread = pthread_self()
                    pool.run(count: innerCount) { a, b in
                        log.entries.withLock { $0.append((outer, a, b, pthread_equal(thread, pthread_self()) != 0)) }
                    }
                }
            }
            let entries = log.entries.withLock { $0 }
            let documented = (0..<n).map { t in (t * innerCount / n, (t + 1) * innerCount / n) }.filter { $0.0 < $0.1 }
            for outer in 0..<n {
                let mine = entries.filter { $0.outer == outer }
                XCTAssertEqual(mine.map(\.lower), documented.map(\.0), "threads \(n) outer \(outer)")
                XCTAssertEqual(mine.map(\.upper), documented.map(\.1), "threads \(n) outer \(outer)")
                XCTAssertTrue(mine.allSatisfy(\.sameThread), "threads \(n) outer \(outer): a nested slice left its thread")
            }
        }
    }

    func testConcurrentCallersFromSeveralThreadsEachGetExactResults() {
        let pool = ParallelFor(threadCount: 3)
        defer { pool.shutdown() }
        final class Outputs: @unchecked Sendable { let rows = Mutex<[[Float]]>([[Float]](repeating: [], count: 4)) }
        let outputs = Outputs()
        let counts = [5, 64, 333, 1025]
        DispatchQueue.concurrentPerform(iterations: counts.count) { k in
            var out = [Float](repeating: .nan, count: counts[k])
            for _ in 0..<50 {
                out.withUnsafeMutableBufferPointer { p in
                    let base = p.baseAddress!
                    pool.run(count: counts[k]) { lower, upper in Self.fill(base, lower, upper) }
                }
            }
            outputs.rows.withLock { $0[k] = out }
        }
        for (k, count) in counts.enumerated() {
            XCTAssertEqual(outputs.rows.withLock { $0[k] }.map(\.bitPattern), Self.serial(count).map(\.bitPattern), "count \(count)")
        }
    }

    #if os(Linux)
    /// Worker threads of all pools in this process (threads named `ParallelFor.workerThreadName`
    /// in /proc/self/task; other threads, such as Dispatch's, come and go on their own).
    func threadCount() -> Int {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        return tasks.filter { task in
            let name = (try? String(contentsOfFile: "/proc/self/task/\(task)/comm", encoding: .utf8)) ?? ""
            return name.trimmingCharacters(in: .whitespacesAndNewlines) == ParallelFor.workerThreadName
        }.count
    }

    func testShutdownEndsEveryWorkerThreadWhetherSpinningOrBlocked() {
        for (n, blocked) in [(4, false), (4, true), (8, true), (2, false)] {
            let before = threadCount()
            let pool = ParallelFor(threadCount: n)
            pool.forEach(100) { _ in }
            XCTAssertEqual(threadCount(), before + n - 1, "threads \(n): the pool starts n - 1 workers")
            if blocked { sleepPastTheSpinPhase() }
            pool.shutdown()
            XCTAssertEqual(threadCount(), before, "threads \(n) blocked \(blocked): workers still running after shutdown()")
            pool.shutdown()  // a second shutdown does nothing
            XCTAssertEqual(threadCount(), before)
        }
    }
    #endif
}

import Foundation
import XCTest
import Tensors
import Benchmarks
#if canImport(Glibc)
import Glibc
#endif

/// `bench --busy`: competing processes are started, reported by PID and always ended; the busy
/// benchmark measures both configurations every round and stops its load before returning.
final class BusyMachineTests: XCTestCase {
    func isRunning(_ pid: pid_t) -> Bool { kill(pid, 0) == 0 }

    func testCompetingLoadStartsEveryProcessAndStopEndsAndReapsThemAll() throws {
        let load = try CompetingLoad(shellLoops: 2, seconds: 60)
        let pids = load.processIDs
        XCTAssertEqual(pids.count, 2)
        XCTAssertEqual(Set(pids).count, 2)
        for pid in pids { XCTAssertTrue(isRunning(pid), "pid \(pid) not running after start") }
        load.stop()
        XCTAssertEqual(load.processIDs, [])
        // Reaped: the PID no longer names a process (not even a zombie) of ours.
        for pid in pids { XCTAssertFalse(isRunning(pid), "pid \(pid) still exists after stop()") }
        load.stop()  // idempotent
    }

    func testDroppingACompetingLoadEndsItsProcesses() throws {
        var pids: [pid_t] = []
        do {
            let load = try CompetingLoad(shellLoops: 1, seconds: 60)
            pids = load.processIDs
            XCTAssertTrue(isRunning(pids[0]))
        }
        for pid in pids { XCTAssertFalse(isRunning(pid), "pid \(pid) outlived its CompetingLoad") }
    }

    func testAMissingExecutableIsATypedErrorAndLeavesNoProcess() {
        XCTAssertThrowsError(try CompetingLoad(processes: 2, executable: "/nonexistent/touchstone", arguments: ["burn"])) { error in
            guard case BenchmarkError.cannotStartProcess(let path, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(path, "/nonexistent/touchstone")
        }
    }

    func testBusyBenchmarkMeasuresBothConfigurationsEveryRoundAndStopsItsLoad() throws {
        let model = try BenchmarkFixtures.modelForTinyTokenizer()
        let pool = ParallelFor(threadCount: 2)
        defer { pool.shutdown() }
        var started: CompetingLoad? = nil
        let report = try BusyMachineBenchmark.run(model: model, options: .init(competingProcesses: 1, rounds: 3, promptLength: 4, decodeTokens: 3),
                                                  pool: pool, load: { n in
            let load = try CompetingLoad(shellLoops: n, seconds: 60)
            started = load
            return load
        })
        XCTAssertEqual(report.singleThreadRates.count, 3)
        XCTAssertEqual(report.poolRates.count, 3)
        XCTAssertTrue((report.singleThreadRates + report.poolRates).allSatisfy { $0.isFinite && $0 > 0 })
        XCTAssertEqual(report.threadCount, 2)
        XCTAssertEqual(started?.processIDs, [], "the load was not stopped")
        let json = report.json().serialized()
        for key in ["busy_processes", "decode_tokens_per_second", "decode_tokens_per_second_1_thread", "busy_ratio_threads_to_1_thread"] {
            XCTAssertTrue(json.contains("\"\(key)\""), key)
        }
    }

    func testBusyBenchmarkRejectsZeroRoundsBeforeStartingAnyProcess() throws {
        let model = try BenchmarkFixtures.modelForTinyTokenizer()
        var loadStarted = false
        XCTAssertThrowsError(try BusyMachineBenchmark.run(model: model, options: .init(competingProcesses: 1, rounds: 0),
                                                          load: { n in loadStarted = true; return try CompetingLoad(shellLoops: n, seconds: 5) }))
        XCTAssertFalse(loadStarted)
    }
}

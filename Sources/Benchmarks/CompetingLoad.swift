import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// CPU-bound background processes for measuring speed on a busy machine (`bench --busy N`).
///
/// Each process is started with `posix_spawn` and ends on its own after its bounded run
/// (`touchstone burn --seconds S` runs `burnCPU(seconds:)`); `stop()` (also called by `deinit`)
/// ends every process still running by its PID with SIGKILL and reaps it, so none is left behind
/// whether the measurement finished or threw.
public final class CompetingLoad {
    /// The PIDs of the processes started (in order); empty after `stop()`.
    public private(set) var processIDs: [pid_t] = []

    /// Starts `processes` copies of `executable` with `arguments` (argument 0 is `executable`).
    /// Throws `BenchmarkError.cannotStartProcess` after ending any already started.
    public init(processes: Int, executable: String, arguments: [String]) throws {
        for _ in 0..<max(0, processes) {
            var pid: pid_t = 0
            let argv = ([executable] + arguments).map { strdup($0) } + [nil]
            defer { for p in argv { free(p) } }
            let result = argv.withUnsafeBufferPointer { posix_spawn(&pid, executable, nil, nil, UnsafeMutablePointer(mutating: $0.baseAddress!), environ) }
            if result != 0 {
                stop()
                throw BenchmarkError.cannotStartProcess(path: executable, code: Int(result))
            }
            processIDs.append(pid)
        }
    }

    /// `processes` shells each running `while :; do :; done` for at most `seconds` (the shell's
    /// own loop checks the time), for tests and for machines without the touchstone binary.
    public convenience init(shellLoops processes: Int, seconds: Int) throws {
        let script = "end=$(( $(date +%s) + \(max(1, seconds)) )); while [ $(date +%s) -lt $end ]; do i=0; while [ $i -lt 10000 ]; do i=$((i+1)); done; done"
        try self.init(processes: processes, executable: "/bin/sh", arguments: ["-c", script])
    }

    /// Ends every process still running (SIGKILL by PID) and waits for it. Idempotent.
    public func stop() {
        for pid in processIDs {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        }
        processIDs = []
    }

    deinit { stop() }
}

/// Keeps one core busy for `seconds` (integer and floating-point work on registers, the clock
/// read every 2^16 iterations), then returns. What `touchstone burn` runs.
public func burnCPU(seconds: Double) {
    let end = monotonicSecondsNow() + max(0, seconds)
    var x: UInt64 = 0x9E37_79B9_7F4A_7C15
    var f = 1.0
    while monotonicSecondsNow() < end {
        for _ in 0..<(1 << 16) {
            x = x &* 6364136223846793005 &+ 1442695040888963407
            f = f * 1.000000001 + 1e-9
        }
    }
    // Keeps the loop's results alive.
    if x == 0 && f < 0 { print(x, f) }
}

/// The path of the running executable (`/proc/self/exe` resolved on Linux, else argument 0).
public func currentExecutablePath() -> String {
    #if os(Linux)
    var buffer = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    if n > 0 { return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) }
    #endif
    return CommandLine.arguments[0]
}

private func monotonicSecondsNow() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

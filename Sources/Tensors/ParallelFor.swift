import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A deterministic parallel-for over independent outputs (determinism contract D2).
///
/// `ParallelFor.run(count:body:)` splits `0..<count` into `threadCount` contiguous ranges of
/// near-equal size: participant `t` gets `[t * count / n, (t + 1) * count / n)`. Each index is
/// processed by exactly one participant and no reduction is ever split across participants, so
/// results are bit-identical for any thread count: callers must only split over independent
/// outputs (matrix rows, attention heads, vocabulary entries).
///
/// Workers are persistent threads that spin on an atomic generation counter, then back off to
/// `sched_yield` and short sleeps when idle, because waking a blocked thread costs as much as a
/// small matrix-vector product on these machines. The calling thread is participant 0.
public final class ParallelFor: @unchecked Sendable {
    /// The process-wide pool used by kernels. Replace it with `ParallelFor.configure(threads:)`.
    nonisolated(unsafe) public private(set) static var shared = ParallelFor(threadCount: ParallelFor.availableCores)

    /// The number of online cores.
    public static var availableCores: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

    /// Replaces the shared pool (call before any parallel work starts; not thread-safe).
    public static func configure(threads: Int) {
        let n = max(1, threads)
        if shared.threadCount != n {
            shared.shutdown()
            shared = ParallelFor(threadCount: n)
        }
    }

    public let threadCount: Int

    private let generation = Atomic<Int>(0)
    private let finished = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)
    // Published before `generation` is incremented (release) and read after it is observed (acquire).
    nonisolated(unsafe) private var job: ((Int, Int) -> Void)? = nil
    nonisolated(unsafe) private var jobCount = 0

    public init(threadCount: Int) {
        self.threadCount = max(1, threadCount)
        for worker in 1..<self.threadCount {
            // Workers keep the pool alive until `shutdown()`.
            let thread = WorkerThread { self.workerLoop(index: worker) }
            thread.start()
        }
    }

    /// Stops the worker threads once they are idle. The pool must not be used afterwards.
    public func shutdown() { stopping.store(true, ordering: .releasing) }

    /// Calls `body(lower, upper)` once per participant with its contiguous slice of `0..<count`
    /// (empty slices are skipped). Returns when every slice is done. Not re-entrant: call it from
    /// one thread at a time, never from inside `body`, and never after `shutdown()`.
    public func run(count: Int, _ body: (_ lower: Int, _ upper: Int) -> Void) {
        if count <= 0 { return }
        precondition(!stopping.load(ordering: .relaxed), "ParallelFor.run called after shutdown()")
        let n = threadCount
        if n == 1 || count == 1 {
            body(0, count)
            return
        }
        withoutActuallyEscaping(body) { escaping in
            job = escaping
            jobCount = count
            finished.store(0, ordering: .relaxed)
            generation.wrappingAdd(1, ordering: .releasing)
            let upper = count / n
            if upper > 0 { escaping(0, upper) }
            var spins = 0
            while finished.load(ordering: .acquiring) < n - 1 {
                spins += 1
                if spins > 1 << 16 { sched_yield() }
            }
            job = nil
        }
    }

    /// Calls `body(i)` for every `i` in `0..<count`, split as in `run(count:_:)`.
    @inlinable
    public func forEach(_ count: Int, _ body: (Int) -> Void) {
        run(count: count) { lower, upper in
            for i in lower..<upper { body(i) }
        }
    }

    private func workerLoop(index: Int) {
        // Generation 0 is the pool's initial state, so a worker that starts late still sees
        // the first job (its generation is 1).
        var seen = 0
        while true {
            var idle = 0
            var current = generation.load(ordering: .acquiring)
            while current == seen {
                if stopping.load(ordering: .relaxed) { return }
                idle += 1
                if idle > 200_000 {
                    // Long idle: sleep briefly so an idle process does not burn a core.
                    var ts = timespec(tv_sec: 0, tv_nsec: idle > 2_000_000 ? 1_000_000 : 50_000)
                    nanosleep(&ts, nil)
                    idle += 10_000
                } else if idle > 20_000 {
                    sched_yield()
                }
                current = generation.load(ordering: .acquiring)
            }
            seen = current
            let n = threadCount
            let count = jobCount
            let lower = index * count / n
            let upper = (index + 1) * count / n
            if upper > lower, let job { job(lower, upper) }
            finished.wrappingAdd(1, ordering: .releasing)
        }
    }
}

/// A detached POSIX thread running a closure (Foundation's `Thread` is avoided so that this
/// module needs nothing beyond the standard library and libc).
private final class WorkerThread {
    let body: () -> Void
    init(_ body: @escaping () -> Void) { self.body = body }

    func start() {
        let context = Unmanaged.passRetained(self).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(&thread, nil, { raw in
            let worker = Unmanaged<WorkerThread>.fromOpaque(raw!).takeRetainedValue()
            worker.body()
            return nil
        }, context)
        precondition(result == 0, "could not start a worker thread (pthread_create returned \(result))")
        pthread_detach(thread)
    }
}

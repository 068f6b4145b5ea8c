import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A deterministic parallel-for over independent outputs (determinism contract D2).
///
/// `ParallelFor.run(count:body:)` splits `0..<count` into `threadCount` contiguous slices of
/// near-equal size: slice `t` is `[t * count / n, (t + 1) * count / n)`. Each slice is processed
/// exactly once, by one thread, and no reduction is ever split across slices, so results are
/// bit-identical for any thread count: callers must only split over independent outputs (matrix
/// rows, attention heads, vocabulary entries).
///
/// Scheduling (DOCS.md section 2.3, "spin, then block"):
/// - Workers are persistent threads. Between jobs a worker spins on an atomic generation counter
///   for `workerSpinNanoseconds`, then blocks on a condition variable until the next job, so an
///   idle or oversubscribed worker gives its core away.
/// - The calling thread runs slice 0 itself, then runs every slice that no worker has claimed
///   yet (a worker that is asleep or descheduled never makes the caller wait), then waits for
///   the slices workers did claim: spinning for `callerSpinNanoseconds`, then blocking.
/// - Which thread runs a slice depends on timing; which slices exist, and so every result, does
///   not.
///
/// A call made while the pool is already running a job (from inside `body`, or from a second
/// thread) runs the same slices on the calling thread, in order: nesting is allowed and
/// deterministic, it just does not add parallelism.
public final class ParallelFor: @unchecked Sendable {
    /// The process-wide pool used by kernels. Replace it with `ParallelFor.configure(threads:)`.
    nonisolated(unsafe) public private(set) static var shared = ParallelFor(threadCount: ParallelFor.availableCores)

    /// The number of online cores.
    public static var availableCores: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

    /// How long an idle worker spins for the next job before it blocks (50 µs: longer than the
    /// serial gaps between the products of one decode step, shorter than a scheduler time slice).
    public static let workerSpinNanoseconds = 50_000
    /// How long the caller spins for the slices workers claimed before it blocks (20 µs: a
    /// slice that is still running after that is on a thread that lost its core).
    public static let callerSpinNanoseconds = 20_000

    /// Replaces the shared pool (call before any parallel work starts; not thread-safe).
    public static func configure(threads: Int) {
        let n = max(1, threads)
        if shared.threadCount != n {
            shared.shutdown()
            shared = ParallelFor(threadCount: n)
        }
    }

    public let threadCount: Int

    /// Incremented once per published job; workers wait for it to change.
    private let generation = Atomic<Int>(0)
    /// Slices 1..<n of the current job not finished yet.
    private let pending = Atomic<Int>(0)
    /// The current job's `count` (read by workers before they claim a slice).
    private let jobCount = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)
    /// True while a job is running: a call that finds it set runs its slices inline.
    private let busy = Atomic<Bool>(false)
    private let sleepingWorkers = Atomic<Int>(0)
    private let callerSleeping = Atomic<Bool>(false)
    private let startedWorkers = Atomic<Int>(0)
    /// `claims[t]` = the last generation in which slice `t` was claimed; claiming is a
    /// compare-and-exchange to the current generation, so each slice runs once per job.
    private let claims: UnsafeMutablePointer<Atomic<Int>>
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let workAvailable: UnsafeMutablePointer<pthread_cond_t>
    private let jobDone: UnsafeMutablePointer<pthread_cond_t>
    /// Joined by `shutdown()`.
    private var threads: [pthread_t] = []
    // Written before `generation` is incremented; read by a worker only after it claimed a slice
    // of that generation, which the caller cannot finish (and so overwrite) before the slice is done.
    nonisolated(unsafe) private var job: ((Int, Int) -> Void)? = nil

    public init(threadCount: Int) {
        self.threadCount = max(1, threadCount)
        claims = .allocate(capacity: self.threadCount)
        for t in 0..<self.threadCount { (claims + t).initialize(to: Atomic<Int>(0)) }
        mutex = .allocate(capacity: 1)
        workAvailable = .allocate(capacity: 1)
        jobDone = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(workAvailable, nil)
        pthread_cond_init(jobDone, nil)
        for worker in 1..<self.threadCount {
            // Workers keep the pool alive until `shutdown()`.
            threads.append(startThread { self.workerLoop(index: worker) })
        }
        // Returns once every worker runs (and carries its name), so a pool is whole when made.
        while startedWorkers.load(ordering: .acquiring) < self.threadCount - 1 { sched_yield() }
    }

    deinit {
        // Reached only after `shutdown()` (running workers hold the pool).
        pthread_cond_destroy(jobDone)
        pthread_cond_destroy(workAvailable)
        pthread_mutex_destroy(mutex)
        jobDone.deallocate()
        workAvailable.deallocate()
        mutex.deallocate()
        claims.deinitialize(count: threadCount)
        claims.deallocate()
    }

    /// Stops the worker threads and waits until they have exited. The pool must not be used
    /// afterwards; calling `shutdown()` again does nothing.
    public func shutdown() {
        if stopping.exchange(true, ordering: .sequentiallyConsistent) { return }
        pthread_mutex_lock(mutex)
        pthread_cond_broadcast(workAvailable)
        pthread_mutex_unlock(mutex)
        for thread in threads { pthread_join(thread, nil) }
        threads = []
    }

    /// Calls `body(lower, upper)` once per non-empty slice of `0..<count` (slice `t` of `n` is
    /// `[t * count / n, (t + 1) * count / n)`; slice 0 runs on the calling thread) and returns
    /// when every slice is done. `body` must write only outputs of its own slice. Never call it
    /// after `shutdown()`.
    public func run(count: Int, _ body: (_ lower: Int, _ upper: Int) -> Void) {
        if count <= 0 { return }
        precondition(!stopping.load(ordering: .relaxed), "ParallelFor.run called after shutdown()")
        let n = threadCount
        if n == 1 || count == 1 {
            body(0, count)
            return
        }
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            // Nested (or concurrent) call: the same slices, in order, on this thread.
            for t in 0..<n where Self.lower(t, count, n) < Self.lower(t + 1, count, n) {
                body(Self.lower(t, count, n), Self.lower(t + 1, count, n))
            }
            return
        }
        defer { busy.store(false, ordering: .releasing) }
        withoutActuallyEscaping(body) { escaping in
            job = escaping
            jobCount.store(count, ordering: .relaxed)
            let g = generation.load(ordering: .relaxed) &+ 1
            var others = 0
            for t in 1..<n {
                if Self.lower(t, count, n) < Self.lower(t + 1, count, n) {
                    others += 1
                } else {
                    // Empty slices count as claimed, so a late worker never claims one for a later job.
                    claims[t].store(g, ordering: .relaxed)
                }
            }
            pending.store(others, ordering: .relaxed)
            generation.store(g, ordering: .sequentiallyConsistent)
            if sleepingWorkers.load(ordering: .sequentiallyConsistent) > 0 {
                pthread_mutex_lock(mutex)
                pthread_cond_broadcast(workAvailable)
                pthread_mutex_unlock(mutex)
            }
            let upper0 = Self.lower(1, count, n)
            if upper0 > 0 { escaping(0, upper0) }
            // Take every slice no worker has claimed yet, from the last (the workers that start
            // late are the likeliest not to have started).
            var t = n - 1
            while t >= 1 {
                let lower = Self.lower(t, count, n), upper = Self.lower(t + 1, count, n)
                if lower < upper && claim(t, generation: g) {
                    escaping(lower, upper)
                    finishSlice()
                }
                t -= 1
            }
            waitForPendingSlices()
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

    /// The first index of slice `t` of `n` over `0..<count`.
    @inline(__always)
    private static func lower(_ t: Int, _ count: Int, _ n: Int) -> Int { t * count / n }

    private func claim(_ t: Int, generation g: Int) -> Bool {
        let last = claims[t].load(ordering: .relaxed)
        return last < g && claims[t].compareExchange(expected: last, desired: g, ordering: .acquiringAndReleasing).exchanged
    }

    private func finishSlice() {
        if pending.subtract(1, ordering: .sequentiallyConsistent).newValue == 0
            && callerSleeping.load(ordering: .sequentiallyConsistent) {
            pthread_mutex_lock(mutex)
            pthread_cond_signal(jobDone)
            pthread_mutex_unlock(mutex)
        }
    }

    private func waitForPendingSlices() {
        if pending.load(ordering: .acquiring) == 0 { return }
        let deadline = Self.nanoseconds() + Self.callerSpinNanoseconds
        var spins = 0
        while pending.load(ordering: .acquiring) > 0 {
            spins &+= 1
            if spins & 63 == 0 && Self.nanoseconds() > deadline {
                pthread_mutex_lock(mutex)
                callerSleeping.store(true, ordering: .sequentiallyConsistent)
                while pending.load(ordering: .sequentiallyConsistent) > 0 { pthread_cond_wait(jobDone, mutex) }
                callerSleeping.store(false, ordering: .relaxed)
                pthread_mutex_unlock(mutex)
                return
            }
        }
    }

    /// The name worker threads carry (in /proc/self/task/*/comm on Linux, and in debuggers).
    public static let workerThreadName = "parallel-for"

    private func workerLoop(index: Int) {
        #if os(Linux)
        Self.nameThisThread(Self.workerThreadName)
        #endif
        startedWorkers.wrappingAdd(1, ordering: .releasing)
        // Generation 0 is the pool's initial state, so a worker that starts late still sees
        // the first job (its generation is 1).
        var seen = 0
        while true {
            var current = generation.load(ordering: .acquiring)
            if current == seen {
                let deadline = Self.nanoseconds() + Self.workerSpinNanoseconds
                var spins = 0
                while current == seen {
                    if stopping.load(ordering: .relaxed) { return }
                    spins &+= 1
                    if spins & 63 == 0 && Self.nanoseconds() > deadline {
                        pthread_mutex_lock(mutex)
                        sleepingWorkers.wrappingAdd(1, ordering: .sequentiallyConsistent)
                        while generation.load(ordering: .sequentiallyConsistent) == seen && !stopping.load(ordering: .relaxed) {
                            pthread_cond_wait(workAvailable, mutex)
                        }
                        sleepingWorkers.wrappingSubtract(1, ordering: .relaxed)
                        pthread_mutex_unlock(mutex)
                        if stopping.load(ordering: .relaxed) { return }
                    }
                    current = generation.load(ordering: .acquiring)
                }
            }
            seen = current
            let n = threadCount, count = jobCount.load(ordering: .relaxed)
            let lower = Self.lower(index, count, n), upper = Self.lower(index + 1, count, n)
            if lower < upper && claim(index, generation: current) {
                job?(lower, upper)
                finishSlice()
            }
        }
    }

    #if os(Linux)
    /// Sets the calling thread's name (`pthread_setname_np` is not exported to Swift's Glibc).
    private static func nameThisThread(_ name: String) {
        let fd = open("/proc/thread-self/comm", O_WRONLY)
        if fd < 0 { return }
        _ = name.withCString { write(fd, $0, strlen($0)) }
        close(fd)
    }
    #endif

    /// CLOCK_MONOTONIC in nanoseconds.
    private static func nanoseconds() -> Int {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int(ts.tv_sec) * 1_000_000_000 + Int(ts.tv_nsec)
    }
}

/// Starts a joinable POSIX thread running `body` (Foundation's `Thread` is avoided so that this
/// module needs nothing beyond the standard library and libc).
private func startThread(_ body: @escaping () -> Void) -> pthread_t {
    final class Box { let body: () -> Void; init(_ body: @escaping () -> Void) { self.body = body } }
    let context = Unmanaged.passRetained(Box(body)).toOpaque()
    var thread = pthread_t()
    let result = pthread_create(&thread, nil, { raw in
        let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
        box.body()
        return nil
    }, context)
    precondition(result == 0, "could not start a worker thread (pthread_create returned \(result))")
    return thread
}

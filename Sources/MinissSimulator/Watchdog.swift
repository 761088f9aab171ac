import CMinissLinux
import Miniss
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Says so when a simulated job has not returned for a long time. Scheduling is cooperative: a
/// job that loops without ever suspending (often a loop that swallows the error of a cancelled
/// `sleep` or `read`, which throw at once) or that blocks forever in the kernel cannot be
/// preempted, so the run hangs. One thread for the whole process checks every running
/// simulation once a second and prints, once per job, which seed and shard are stuck and how to
/// replay them — so a hang in a test or a sweep explains itself instead of timing out silently.
package final class SimulationWatchdog: Sendable {
    package static let shared = SimulationWatchdog()
    /// How long a job may run before it is reported (10 s; tests lower it).
    package let limit = Atomic<UInt64>(10_000_000_000)
    /// Every report so far, for tests.
    package let reports = Lock<[String]>([])

    /// One running simulation, as the watchdog sees it.
    final class Watched: Sendable {
        let description: String
        /// When the current job started (monotonic ns), or 0 between jobs.
        let jobStart = Atomic<UInt64>(0)
        let shard = Atomic<Int>(0)
        let reportedJob = Atomic<UInt64>(0)

        init(description: String) { self.description = description }

        /// Marks the start of a job on `shard` (the simulator's thread, every job: two relaxed
        /// stores).
        func starting(_ started: UInt64, shard: Int) {
            self.shard.store(shard, ordering: .relaxed)
            jobStart.store(started, ordering: .relaxed)
        }

        func finished() {
            jobStart.store(0, ordering: .relaxed)
        }
    }

    private let watched = Lock<[ObjectIdentifier: Watched]>([:])
    private let thread = Lock<OSThread?>(nil)

    /// Starts watching a run; the watchdog's thread starts with the first.
    func watch(_ run: Watched) {
        watched.withLock { $0[ObjectIdentifier(run)] = run }
        thread.withLock { thread in
            guard thread == nil else { return }
            thread = OSThread(name: "miniss-sim-watch") { [self] in loop() }
        }
    }

    func stopWatching(_ run: Watched) {
        _ = watched.withLock { $0.removeValue(forKey: ObjectIdentifier(run)) }
    }

    private func loop() {
        while true {
            sleep(1)
            let runs = watched.withLock { Array($0.values) }
            for run in runs {
                let started = run.jobStart.load(ordering: .relaxed)
                // Read after `started`: a job that began since is not mistaken for an old one.
                let now = miniss_monotonic_ns()
                guard started != 0, now > started, now - started >= limit.load(ordering: .relaxed),
                    run.reportedJob.exchange(started, ordering: .relaxed) != started
                else { continue }
                let message =
                    "miniss simulator: \(run.description): a job on shard \(run.shard.load(ordering: .relaxed)) has run for "
                    + "\(Duration.nanoseconds(Int64(now - started))) without returning. Scheduling is cooperative: a loop that never "
                    + "suspends (one that swallows the error of a cancelled sleep or read, which throw at once) or a call "
                    + "that blocks forever cannot be preempted, so this run hangs.\n"
                reports.withLock { $0.append(message) }
                _ = message.withCString { write(2, $0, strlen($0)) }
            }
        }
    }
}

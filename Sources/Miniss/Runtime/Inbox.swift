import Synchronization

/// Jobs handed to a shard by threads that do not own it. A mutex-protected batch that the shard
/// swaps out whole, plus a flag the shard can poll without taking the lock.
package final class Inbox: Sendable {
    private struct State {
        var jobs: [ShardJob] = []
        var isClosed = false
    }

    private let state = Lock(State())
    private let pending = Atomic<Bool>(false)

    package init() {}

    /// Adds a job (any thread). Returns false, leaving the job with the caller, once the inbox
    /// is closed.
    package func push(_ job: ShardJob) -> Bool {
        let accepted = state.withLock { state in
            guard !state.isClosed else { return false }
            state.jobs.append(job)
            return true
        }
        // Sequentially consistent: pairs with the parking shard's store of its `parked` flag
        // and load of this flag (a Dekker handshake: one side always sees the other).
        if accepted { pending.store(true, ordering: .sequentiallyConsistent) }
        return accepted
    }

    /// Refuses every later `push`. Jobs already pushed stay for a last `drain`.
    package func close() {
        state.withLock { $0.isClosed = true }
    }

    /// Whether jobs may be waiting. Cheap; a `true` may be stale, never a missed `push`.
    package var hasJobs: Bool { pending.load(ordering: .sequentiallyConsistent) }

    /// Moves every waiting job into `queue`, in push order. Returns how many moved.
    ///
    /// Skips the lock while the `pending` flag is clear, so a job whose `push` has appended it
    /// but not yet raised the flag waits for the next drain. `force` takes the lock regardless:
    /// after ``close()`` that is the last drain, and it must not leave such a job behind.
    package func drain(into queue: inout JobQueue, scratch: inout [ShardJob], force: Bool = false) -> Int {
        guard force || pending.load(ordering: .acquiring) else { return 0 }
        pending.store(false, ordering: .sequentiallyConsistent)
        state.withLock { swap(&$0.jobs, &scratch) }
        let moved = scratch.count
        for job in scratch { queue.append(job) }
        scratch.removeAll(keepingCapacity: true)
        return moved
    }
}

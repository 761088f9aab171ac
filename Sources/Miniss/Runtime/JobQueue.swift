/// One unit of work for a shard's run loop.
package enum ShardJob: Sendable {
    /// A job that runs in a nonisolated context with the shard as its task executor (task
    /// bodies, resumptions, jobs routed from the global executor).
    case task(UnownedJob)
    /// A job that runs isolated to the shard's serial executor (shard-bound actors).
    case actor(UnownedJob)
    /// A job to run once the time is the given deadline (nanoseconds) or later: a
    /// `Task.sleep` wake-up handed over by another thread.
    case timer(UnownedJob, deadlineNanoseconds: UInt64)
    /// Engine-internal work (cancelling a timer, shutdown steps). Runs only on the shard; one
    /// that arrives after the shard's thread has ended is dropped (see ShardEngine).
    case call(@Sendable () -> Void)
}

/// A growable FIFO ring buffer of jobs, owned by one thread. No allocation once it has grown to
/// the peak backlog.
package struct JobQueue: ~Copyable {
    // SAFETY: `storage` holds `capacity` slots, of which the `count` slots starting at `head`
    // (wrapping) are initialized. It is allocated in init, replaced only by grow(), freed in
    // deinit; the queue is ~Copyable and owned by one shard, touched only by its thread.
    private var storage: UnsafeMutablePointer<ShardJob>
    private var capacity: Int
    private var head = 0
    package private(set) var count = 0

    package init(initialCapacity: Int = 256) {
        precondition(
            initialCapacity > 0 && initialCapacity & (initialCapacity - 1) == 0,
            "JobQueue capacity must be a power of two")
        capacity = initialCapacity
        storage = .allocate(capacity: initialCapacity)
    }

    deinit {
        for offset in 0..<count {
            (storage + ((head + offset) & (capacity - 1))).deinitialize(count: 1)
        }
        storage.deallocate()
    }

    package var isEmpty: Bool { count == 0 }

    package mutating func append(_ job: ShardJob) {
        if count == capacity { grow() }
        (storage + ((head + count) & (capacity - 1))).initialize(to: job)
        count += 1
    }

    package mutating func popFirst() -> ShardJob? {
        guard count > 0 else { return nil }
        let job = (storage + head).move()
        head = (head + 1) & (capacity - 1)
        count -= 1
        return job
    }

    /// The job at `offset` from the head (a simulator's view of the queue).
    package func peek(at offset: Int) -> ShardJob {
        precondition(offset >= 0 && offset < count, "JobQueue offset \(offset) out of 0..<\(count)")
        return storage[(head + offset) & (capacity - 1)]
    }

    /// Removes and returns the job at `offset` from the head, keeping the others in order (a
    /// simulator taking jobs out of FIFO order; O(count)).
    package mutating func remove(at offset: Int) -> ShardJob {
        precondition(offset >= 0 && offset < count, "JobQueue offset \(offset) out of 0..<\(count)")
        let mask = capacity - 1
        let job = (storage + ((head + offset) & mask)).move()
        var index = offset
        while index + 1 < count {
            (storage + ((head + index) & mask)).moveInitialize(from: storage + ((head + index + 1) & mask), count: 1)
            index += 1
        }
        count -= 1
        return job
    }

    private mutating func grow() {
        let newCapacity = capacity * 2
        let bigger = UnsafeMutablePointer<ShardJob>.allocate(capacity: newCapacity)
        for offset in 0..<count {
            (bigger + offset).initialize(to: (storage + ((head + offset) & (capacity - 1))).move())
        }
        storage.deallocate()
        storage = bigger
        capacity = newCapacity
        head = 0
    }
}

import CMinissLinux
import Synchronization

/// The part of a shard that spawning needs, kept apart from ``ShardEngine`` (whose SPI
/// conformance cannot be exposed to inlinable code) so that `spawn` is inlined into, and
/// specialized in, the caller's module: unspecialized, every spawn paid several
/// generic-metadata lookups (about a fifth of its cost).
@usableFromInline
package final class TaskSpawner: Sendable {
    // SAFETY: unowned(unsafe) avoids a cycle; the engine owns this spawner, and a running task
    // keeps the engine alive through its executor preference.
    unowned(unsafe) let engine: ShardEngine

    init(engine: ShardEngine) {
        self.engine = engine
    }

    /// The spawner of the shard that owns the calling thread, if any.
    @usableFromInline
    static var current: TaskSpawner? { ShardEngine.current?.spawner }

    @usableFromInline
    var executor: any TaskExecutor { engine }

    @usableFromInline
    func register(_ record: TaskRecord) { engine.register(record) }

    @usableFromInline
    func unregister(_ record: TaskRecord) { engine.unregister(record) }

    /// Under a simulator, remembers where the task was spawned (for failure reports).
    @usableFromInline
    func noteSpawn(_ record: TaskRecord, file: StaticString, line: UInt) {
        if engine.simulationHooks != nil { record.spawnSite = "\(file):\(line)" }
    }

    /// Spawns `body` as a task on the shard; `completion` (if any) runs on the shard with the
    /// result, before the task finishes. Any thread.
    @inlinable
    func spawn<T: Sendable>(
        _ body: sending @escaping () async throws -> T,
        completion: (@Sendable (Result<T, any Error>) -> Void)? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) -> JoinHandle<T> {
        let record = TaskRecord.Of<T>()
        noteSpawn(record, file: file, line: line)
        let task = Task<T, any Error>(executorPreference: executor) { [self] in
            register(record)
            let result: Result<T, any Error>
            do {
                // A task cancelled before it started does not run its body.
                try Task.checkCancellation()
                result = .success(try await body())
            } catch {
                result = .failure(error)
            }
            completion?(result)
            record.complete(with: result)
            unregister(record)
            return try result.get()
        }
        return JoinHandle(task: task, record: record)
    }
}

extension ShardEngine {
    func register(_ record: TaskRecord) {
        guard isCurrent else {
            // The shard's thread has ended (the job was handed to the global executor): the
            // task still runs, cancelled, so whoever awaits it is not left hanging.
            withUnsafeCurrentTask { $0?.cancel() }
            return
        }
        withUnsafeCurrentTask { record.task = $0 }
        if let hooks = simulationHooks, let site = record.spawnSite, let task = record.task {
            hooks.spawnSites[task.hashValue] = site
        }
        record.isRegistered = true
        taskList.insert(record)
        liveTaskCount += 1
        if isStopping { record.task?.cancel() }
    }

    /// Where each task still alive on this shard was spawned (`file:line`, or `?` when it was
    /// not recorded), newest first: for the simulator's deadlock and livelock reports.
    package var liveTaskSpawnSites: [String] {
        var sites: [String] = []
        taskList.forEach { sites.append($0.spawnSite ?? "?") }
        return sites
    }

    func unregister(_ record: TaskRecord) {
        guard record.isRegistered else { return }
        record.isRegistered = false
        taskList.remove(record)
        record.task = nil
        liveTaskCount -= 1
    }
}

/// Bookkeeping for one spawned task: lets the shard cancel it at shutdown, and backs
/// ``JoinHandle/isFinished`` and waits from outside the runtime.
@usableFromInline
package class TaskRecord: @unchecked Sendable {
    // SAFETY (@unchecked Sendable): `task`, `isRegistered`, `next` and `previous` are used only
    // on the owning shard's thread (register/unregister/shutdown run there); the completion
    // state of `Of<T>` is behind a mutex.
    var task: UnsafeCurrentTask?
    var isRegistered = false
    /// Where the task was spawned, `file:line` (recorded under a simulator only).
    var spawnSite: String?
    var next: TaskRecord?
    // SAFETY: unowned(unsafe) avoids a retain cycle; a linked record's predecessor is alive
    // because the list retains every linked record (through `first` or a `next`).
    unowned(unsafe) var previous: TaskRecord?

    @usableFromInline
    init() {}

    /// The record of a task returning `T`: holds the result for ``JoinHandle/isFinished`` and
    /// for waiters outside the runtime.
    @usableFromInline
    final class Of<T: Sendable>: TaskRecord, @unchecked Sendable {
        // SAFETY (@unchecked Sendable): as TaskRecord; `completion` is behind its lock.
        // Inlinable (with its storage) so that spawn's caller specializes it; see TaskSpawner.
        @usableFromInline
        struct Completion {
            @usableFromInline var result: Result<T, any Error>?
            @usableFromInline var outsideWaiters: [UnsafeContinuation<T, any Error>] = []

            @inlinable init() {}
        }

        @usableFromInline
        let completion: Lock<Completion>

        @inlinable
        override init() {
            completion = Lock(Completion())
        }

        var isFinished: Bool { completion.withLock { $0.result != nil } }

        /// Stores the result and resumes the waiters from outside the runtime. Called once, on
        /// the shard, as the task's body ends.
        @inlinable
        func complete(with result: Result<T, any Error>) {
            let waiters = completion.withLock { state in
                state.result = result
                return state.outsideWaiters.isEmpty ? [] : state.outsideWaiters
            }
            guard !waiters.isEmpty else { return }
            TaskRecord.withRoutingSuspended {
                for waiter in waiters { waiter.resume(with: result) }
            }
        }

        /// The result, for a task that does not run on a shard. It never awaits the Swift task
        /// itself: that would be resumed from the shard's thread and adopted by the shard.
        func valueFromOutside() async throws -> T {
            try await withUnsafeThrowingContinuation { continuation in
                let ready = completion.withLock { state -> Result<T, any Error>? in
                    if let result = state.result { return result }
                    state.outsideWaiters.append(continuation)
                    return nil
                }
                if let ready { continuation.resume(with: ready) }
            }
        }
    }

    /// Runs `body` with the global-executor routing of this thread suspended. Waiters from
    /// outside the runtime, resumed with routing in force, would be adopted onto the shard's
    /// thread by the hook; suspended, they go back to the executor they came from.
    @usableFromInline
    static func withRoutingSuspended(_ body: () -> Void) {
        let wasSuspended = miniss_set_routing_suspended(true)
        defer { _ = miniss_set_routing_suspended(wasSuspended) }
        body()
    }

    /// An intrusive doubly linked list of live tasks; O(1) insert and remove.
    struct ListHead {
        private var first: TaskRecord?

        mutating func insert(_ record: TaskRecord) {
            record.next = first
            record.previous = nil
            first?.previous = record
            first = record
        }

        mutating func remove(_ record: TaskRecord) {
            if let previous = record.previous { previous.next = record.next } else { first = record.next }
            record.next?.previous = record.previous
            record.next = nil
            record.previous = nil
        }

        func forEach(_ body: (TaskRecord) -> Void) {
            var cursor = first
            while let record = cursor {
                cursor = record.next
                body(record)
            }
        }
    }
}

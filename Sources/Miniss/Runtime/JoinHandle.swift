/// A handle on a task spawned on a shard: await its value, cancel it, ask if it finished.
///
/// Dropping the handle does not cancel the task (it runs to completion, like `Task`).
///
/// ```swift
/// let handle = runtime.spawn { try await fetchAnswer() }
/// handle.cancel()                     // if the answer is no longer wanted
/// let answer = try await handle.value // or the error / CancellationError
/// ```
public struct JoinHandle<Success: Sendable>: Sendable {
    private let task: Task<Success, any Error>?
    private let record: TaskRecord.Of<Success>?
    private let failure: MinissError?

    @usableFromInline
    init(task: Task<Success, any Error>, record: TaskRecord.Of<Success>) {
        self.task = task
        self.record = record
        self.failure = nil
    }

    private init(failure: MinissError) {
        self.task = nil
        self.record = nil
        self.failure = failure
    }

    /// A handle for a task that could not be started; awaiting it throws `error`.
    @usableFromInline
    static func failed(_ error: MinissError) -> JoinHandle {
        JoinHandle(failure: error)
    }

    /// The task's result. Throws what the task threw; `CancellationError` if it was cancelled
    /// before it started (its body then never runs); ``MinissError`` if it could not be spawned
    /// (for example ``MinissError/Code/runtimeNotRunning``).
    ///
    /// Awaited outside the runtime, the waiting task resumes on the executor it came from, not
    /// on the shard that ran the spawned task.
    public var value: Success {
        get async throws {
            if let failure { throw failure }
            if ShardEngine.current == nil, let record {
                return try await record.valueFromOutside()
            }
            return try await task!.value
        }
    }

    /// Requests cancellation: a task that has not started will not run its body; a running task
    /// sees `Task.isCancelled`, and Miniss sleeps and timeouts in it end with
    /// `CancellationError`. Safe from any thread, any number of times.
    public func cancel() {
        task?.cancel()
    }

    /// Whether the task has finished (returned, thrown, or never started because spawning
    /// failed). When true, ``value`` no longer suspends for long.
    public var isFinished: Bool {
        record?.isFinished ?? true
    }

    /// Whether cancellation was requested.
    public var isCancelled: Bool {
        task?.isCancelled ?? false
    }
}

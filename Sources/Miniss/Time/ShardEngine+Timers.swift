/// What a timer does when it fires.
package enum TimerAction {
    /// Run a job: a `Task.sleep` wake-up handed to the shard through `SchedulingExecutor`.
    case job(UnownedJob)
    /// Resume a task suspended in ``sleep(for:tolerance:)``.
    case resume(Sleeper)
}

extension ShardEngine {
    /// Schedules `job` to run once the time is `deadlineNanoseconds` or later.
    package func schedule(_ job: UnownedJob, atNanoseconds deadlineNanoseconds: UInt64) {
        precondition(isCurrent, "ShardEngine.schedule must run on shard \(id)'s thread")
        if isDraining {
            ready.append(.task(job))
        } else {
            _ = wheel.insert(deadline: tick(notBefore: deadlineNanoseconds), .job(job))
        }
    }

    /// Suspends the calling task until `deadlineNanoseconds`; cancellation resumes it early with
    /// `CancellationError`, and removes its timer.
    package func sleep(untilNanoseconds deadlineNanoseconds: UInt64) async throws {
        precondition(isCurrent, "ShardEngine.sleep must run on shard \(id)'s thread")
        try Task.checkCancellation()
        if isStopping { throw CancellationError() }
        // Already due: no timer, no suspension.
        if deadlineNanoseconds <= nowNanoseconds { return }
        let sleeper = Sleeper()
        try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Void, any Error>) in
                sleeper.continuation = continuation
                sleeper.timer = wheel.insert(deadline: tick(notBefore: deadlineNanoseconds), .resume(sleeper))
            }
        } onCancel: {
            // Any thread: the timer belongs to the shard, so the shard cancels it.
            self.execute { [self] in
                if let timer = sleeper.timer, wheel.cancel(timer) != nil {
                    sleeper.resume(with: .failure(CancellationError()))
                }
            }
        }
    }
}

/// A task suspended in ``ShardEngine/sleep(untilNanoseconds:)``.
package final class Sleeper: @unchecked Sendable {
    // SAFETY (@unchecked Sendable): created, fired and cancelled on the owning shard's thread
    // only (the cancellation handler forwards to that thread with `execute`).
    var continuation: UnsafeContinuation<Void, any Error>?
    var timer: TimerID?

    /// Resumes the sleeping task once; later calls do nothing.
    func resume(with result: Result<Void, any Error>) {
        guard let continuation else { return }
        self.continuation = nil
        timer = nil
        continuation.resume(with: result)
    }
}

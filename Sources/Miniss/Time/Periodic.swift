import Synchronization

/// A task that runs a closure at a fixed period until cancelled. Returned by
/// ``spawnPeriodic(every:missedTickBehavior:_:)`` and
/// ``Runtime/spawnPeriodic(on:every:missedTickBehavior:_:)``.
///
/// ```swift
/// let heartbeat = spawnPeriodic(every: .seconds(1)) { await sendHeartbeat() }
/// ...
/// heartbeat.cancel()
/// try await heartbeat.wait()
/// ```
public struct PeriodicHandle: Sendable {
    let handle: JoinHandle<Void>
    let state: PeriodicState

    /// Stops the task: no run starts after this call; a run in progress is cancelled.
    public func cancel() {
        state.cancelRequested.store(true, ordering: .releasing)
        handle.cancel()
    }

    /// Whether the task has stopped (cancelled, failed, or its runtime shut down).
    public var isFinished: Bool { handle.isFinished }

    /// How many runs of the closure have completed.
    public var completedRuns: Int { state.completedRuns.load(ordering: .acquiring) }

    /// Waits until the task stops. Returns normally when it stopped because of ``cancel()``;
    /// throws the closure's error if a run failed (which stops the task).
    public func wait() async throws {
        do {
            try await handle.value
        } catch is CancellationError where state.cancelRequested.load(ordering: .acquiring) {
            return
        }
    }
}

final class PeriodicState: Sendable {
    let cancelRequested = Atomic<Bool>(false)
    let completedRuns = Atomic<Int>(0)
}

/// Runs `body` every `period` on the current shard, starting one period from now, until the
/// returned handle is cancelled or a run throws.
///
/// Runs never overlap: when a run takes longer than the period, `missedTickBehavior` (default
/// ``Interval/MissedTickBehavior/skip``) decides when the next one starts.
public func spawnPeriodic(
    every period: Duration, missedTickBehavior: Interval.MissedTickBehavior = .skip,
    _ body: @escaping @Sendable () async throws -> Void
) -> PeriodicHandle {
    guard let engine = ShardEngine.current else {
        return PeriodicHandle(handle: .failed(MinissError.notOnShard("spawnPeriodic")), state: PeriodicState())
    }
    return engine.spawnPeriodic(every: period, missedTickBehavior: missedTickBehavior, body)
}

extension ShardEngine {
    func spawnPeriodic(
        every period: Duration, missedTickBehavior: Interval.MissedTickBehavior,
        _ body: @escaping @Sendable () async throws -> Void
    ) -> PeriodicHandle {
        let state = PeriodicState()
        guard period.nanosecondsClamped >= 1 else {
            let error = MinissError.invalidArgument("spawnPeriodic period must be at least 1 ns, got \(period)")
            return PeriodicHandle(handle: .failed(error), state: state)
        }
        let handle = spawner.spawn {
            var interval = try Interval(every: period, missedTickBehavior: missedTickBehavior)
            while true {
                try await interval.tick()
                // The tick may have fired just before a cancel: no run starts after cancel().
                try Task.checkCancellation()
                try await body()
                state.completedRuns.add(1, ordering: .releasing)
            }
        }
        return PeriodicHandle(handle: handle, state: state)
    }
}

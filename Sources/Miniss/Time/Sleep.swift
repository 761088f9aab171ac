/// Suspends the calling task for `duration` on the current shard's timer wheel.
///
/// Never returns early (it may return up to one timer tick late, 1 ms by default). If the task
/// is cancelled while it sleeps, it resumes at once with `CancellationError` and the timer is
/// removed.
///
/// ```swift
/// try await sleep(for: .milliseconds(250))
/// ```
///
/// - Throws: `CancellationError`; ``MinissError`` (``MinissError/Code/notOnShard``) off a shard,
///   (``MinissError/Code/invalidArgument``) for a negative duration.
public func sleep(for duration: Duration) async throws {
    guard duration >= .zero else {
        throw MinissError.invalidArgument("sleep(for:) needs a duration >= 0, got \(duration)")
    }
    let clock = ShardClock()
    guard ShardEngine.current != nil else { throw MinissError.notOnShard("sleep(for:)") }
    try await clock.sleep(until: clock.now.advanced(by: duration))
}

/// Suspends the calling task until `deadline` on the current shard's clock. Returns at once if
/// the deadline has passed. See ``sleep(for:)``.
public func sleep(until deadline: ShardClock.Instant) async throws {
    try await ShardClock().sleep(until: deadline)
}

/// Runs `operation`, and cancels it if it has not finished after `duration`.
///
/// The operation runs as a child task on the current shard. When the deadline passes first, the
/// operation is cancelled and `timeout` throws ``MinissError`` with code
/// ``MinissError/Code/timedOut`` once the operation has returned (cancellation is cooperative:
/// an operation that ignores it delays the error).
///
/// ```swift
/// let reply = try await timeout(after: .seconds(2)) { try await connection.read() }
/// ```
public func timeout<T: Sendable>(
    after duration: Duration, _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    guard duration >= .zero else {
        throw MinissError.invalidArgument("timeout(after:) needs a duration >= 0, got \(duration)")
    }
    guard ShardEngine.current != nil else { throw MinissError.notOnShard("timeout(after:)") }
    return try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await sleep(for: duration)
            throw MinissError.timedOut(after: duration)
        }
        defer { group.cancelAll() }
        // The first child to finish decides: a value or the operation's error, or timedOut.
        return try await group.next()!
    }
}

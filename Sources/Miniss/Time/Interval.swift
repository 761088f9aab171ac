/// Ticks at a fixed period on the current shard's clock.
///
/// ```swift
/// var interval = try Interval(every: .milliseconds(100))
/// for _ in 0..<10 {
///     try await interval.tick()   // 100 ms, 200 ms, ... after creation
///     await flushMetrics()
/// }
/// ```
///
/// The first tick is one period after creation (or at `startingAt`). When the caller falls
/// behind by a whole period or more, ``MissedTickBehavior`` decides what happens.
public struct Interval: Sendable {
    /// What to do with ticks the caller missed because it was busy for a period or longer.
    public enum MissedTickBehavior: Sendable, Equatable {
        /// Deliver every missed tick at once, back to back, until caught up (fixed rate).
        case burst
        /// Restart the schedule: the next tick is one period after the late one was taken.
        case delay
        /// Drop the missed ticks: the next tick is the next one of the original schedule that
        /// is still in the future.
        case skip
    }

    /// Time between ticks.
    public let period: Duration
    /// How missed ticks are handled.
    public var missedTickBehavior: MissedTickBehavior
    /// When the next tick is due.
    public private(set) var nextTick: ShardClock.Instant

    /// Creates an interval whose first tick is at `start`, or one period from now.
    ///
    /// - Throws: ``MinissError`` (``MinissError/Code/invalidArgument``) if `period` is shorter
    ///   than 1 ns.
    public init(
        every period: Duration, startingAt start: ShardClock.Instant? = nil,
        missedTickBehavior: MissedTickBehavior = .burst
    ) throws {
        guard period.nanosecondsClamped >= 1 else {
            throw MinissError.invalidArgument("Interval period must be at least 1 ns, got \(period)")
        }
        self.period = period
        self.missedTickBehavior = missedTickBehavior
        self.nextTick = start ?? ShardClock().now.advanced(by: period)
    }

    /// Waits for the next tick and returns the instant it was scheduled for (the actual time is
    /// that instant or later).
    ///
    /// - Throws: `CancellationError` if the task is cancelled while waiting;
    ///   ``MinissError/Code/notOnShard`` off a shard.
    @discardableResult
    public mutating func tick() async throws -> ShardClock.Instant {
        let clock = ShardClock()
        let scheduled = nextTick
        try await clock.sleep(until: scheduled)
        let now = clock.now
        nextTick = scheduled.advanced(by: period)
        if now >= nextTick {
            switch missedTickBehavior {
            case .burst:
                break
            case .delay:
                nextTick = now.advanced(by: period)
            case .skip:
                // The first tick of the original schedule that is strictly after `now`.
                let periodNanoseconds = period.nanosecondsClamped
                let behind = now.nanoseconds - scheduled.nanoseconds
                let periods = behind / periodNanoseconds + 1
                nextTick = scheduled.advanced(
                    by: .nanoseconds(periods.multipliedReportingOverflow(by: periodNanoseconds).partialValue))
            }
        }
        return scheduled
    }
}

import CMinissLinux

/// The clock of the shard the calling task runs on: the monotonic clock in production, virtual
/// time under `Runtime(configuration: .init(time: .virtual))` and the simulator.
///
/// Because it conforms to `Clock`, standard APIs run on the shard's timer wheel:
///
/// ```swift
/// let clock = ShardClock()
/// let start = clock.now
/// try await clock.sleep(for: .milliseconds(5))
/// print(start.duration(to: clock.now))  // >= 5 ms, never less
/// ```
///
/// Read off a shard, `now` is the monotonic clock, and `sleep` throws ``MinissError`` with code
/// ``MinissError/Code/notOnShard``.
public struct ShardClock: Clock, Sendable {
    /// A point on a shard's time line, in nanoseconds since an arbitrary origin.
    public struct Instant: InstantProtocol, Sendable, Hashable, Comparable, CustomStringConvertible {
        /// Nanoseconds since the time line's origin.
        public var nanoseconds: Int64

        /// Creates an instant `nanoseconds` after the origin.
        public init(nanoseconds: Int64) {
            self.nanoseconds = nanoseconds
        }

        /// The instant `duration` later (earlier, if negative), clamped to the representable range.
        public func advanced(by duration: Duration) -> Instant {
            Instant(nanoseconds: nanoseconds.addingClamped(duration.nanosecondsClamped))
        }

        /// The time from this instant to `other` (negative if `other` is earlier).
        public func duration(to other: Instant) -> Duration {
            .nanoseconds(other.nanoseconds.subtractingClamped(nanoseconds))
        }

        /// Whether `lhs` comes before `rhs`.
        public static func < (lhs: Instant, rhs: Instant) -> Bool {
            lhs.nanoseconds < rhs.nanoseconds
        }

        /// The instant as a duration since the origin.
        public var description: String { "ShardClock.Instant(\(Duration.nanoseconds(nanoseconds)))" }
    }

    /// Creates the clock. It has no state: it always reads the current shard's time.
    public init() {}

    /// The current shard's time (the monotonic clock off a shard).
    public var now: Instant {
        let nanoseconds = ShardEngine.current?.nowNanoseconds ?? miniss_monotonic_ns()
        return Instant(nanoseconds: Int64(clamping: nanoseconds))
    }

    /// The timer wheel's tick: sleeps end on a tick boundary, at most one tick late.
    public var minimumResolution: Duration {
        .nanoseconds(Int64(ShardEngine.current?.tickNanoseconds ?? 1_000_000))
    }

    /// Suspends until `deadline`; never returns early. Throws `CancellationError` if the task
    /// is cancelled while sleeping (the timer is removed at once).
    public func sleep(until deadline: Instant, tolerance: Duration? = nil) async throws {
        guard let engine = ShardEngine.current else { throw MinissError.notOnShard("ShardClock.sleep") }
        try await engine.sleep(untilNanoseconds: UInt64(clamping: max(0, deadline.nanoseconds)))
    }
}

extension Int64 {
    func addingClamped(_ other: Int64) -> Int64 {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? (other > 0 ? .max : .min) : sum
    }

    func subtractingClamped(_ other: Int64) -> Int64 {
        let (difference, overflow) = subtractingReportingOverflow(other)
        return overflow ? (other < 0 ? .max : .min) : difference
    }
}

#if compiler(>=6.3)
    @_spi(ExperimentalScheduling) import _Concurrency

    /// `Task.sleep`, `ContinuousClock.sleep` and friends, called from a task running on a shard,
    /// hand their wake-up job to the shard through this SPI (Swift 6.3), so the wake-up is a
    /// timer on the shard's wheel instead of a Dispatch timer on another thread.
    ///
    /// Without it (other compilers) those sleeps still work, through the global executor's
    /// timer, and their wake-ups arrive through the shard's inbox.
    extension ShardEngine: SchedulingExecutor {
        package func enqueue<C: Clock>(
            _ job: consuming ExecutorJob, at instant: C.Instant, tolerance: C.Duration?, clock: C
        ) {
            let job = UnownedJob(job)
            let deadline = deadlineNanoseconds(for: instant, of: clock)
            if isCurrent {
                schedule(job, atNanoseconds: deadline)
            } else {
                submit(.timer(job, deadlineNanoseconds: deadline))
            }
        }
    }
#endif

extension ShardEngine {
    /// Converts an instant of any clock to this engine's time line.
    ///
    /// `ShardClock` instants are already on it. Other clocks' instants become "now plus the
    /// remaining delay", measured on that clock (the standard library passes an absolute
    /// `ContinuousClock` instant computed just before this call).
    func deadlineNanoseconds<C: Clock>(for instant: C.Instant, of clock: C) -> UInt64 {
        if let shardInstant = instant as? ShardClock.Instant {
            return UInt64(clamping: max(0, shardInstant.nanoseconds))
        }
        guard let delay = clock.now.duration(to: instant) as? Duration else {
            preconditionFailure(
                "Miniss shards schedule sleeps on clocks whose Duration is Swift.Duration; \(C.self) is not one")
        }
        // The engine rounds the deadline up to a tick. In virtual time `now` is on a tick, so a
        // whole-tick sleep comes out exact: the few real nanoseconds between the caller reading
        // its clock and this call shrink the delay by less than a tick.
        return nowNanoseconds &+ UInt64(max(0, delay.nanosecondsClamped))
    }
}

extension Duration {
    /// The duration in whole nanoseconds, clamped to `Int64`.
    var nanosecondsClamped: Int64 {
        let (seconds, attoseconds) = components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        let (sum, overflow2) = scaled.addingReportingOverflow(attoseconds / 1_000_000_000)
        if overflow2 { return seconds < 0 ? .min : .max }
        return sum
    }
}

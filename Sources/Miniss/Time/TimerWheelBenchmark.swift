import CMinissLinux

/// Measures the timer wheel inside this module, where it is specialized exactly as the shard
/// engine uses it (a benchmark in another module would time unspecialized generic code).
package enum TimerWheelBenchmark {
    package struct Result: Sendable {
        package var insertNanoseconds: Double
        package var cancelNanoseconds: Double
        package var expiryNanoseconds: Double
        package var fired: Int
    }

    /// With `pending` timers spread over `spreadTicks`, times `operations` inserts and cancels
    /// (median of `repetitions` rounds), then expiry: the wheel advances from one expiration to
    /// the next, as a shard does, until `operations` timers have fired, each fired timer being
    /// replaced by a later one so the pending count stays put.
    package static func run(pending: Int, operations: Int, repetitions: Int, spreadTicks: UInt64 = 1 << 20)
        -> Result
    {
        var random = SeededRandom(seed: UInt64(pending))
        var wheel = TimerWheel<TimerAction?>(startTick: 0, initialCapacity: pending + operations)
        for _ in 0..<pending { _ = wheel.insert(deadline: UInt64.random(in: 1...spreadTicks, using: &random), nil) }
        let deadlines = (0..<operations).map { _ in UInt64.random(in: 1...spreadTicks, using: &random) }
        var ids: [TimerID] = []
        ids.reserveCapacity(operations)

        var inserts: [Double] = []
        var cancels: [Double] = []
        for _ in 0..<max(1, repetitions) {
            ids.removeAll(keepingCapacity: true)
            let insertStart = miniss_monotonic_ns()
            for deadline in deadlines { ids.append(wheel.insert(deadline: deadline, nil)) }
            let cancelStart = miniss_monotonic_ns()
            for id in ids { _ = wheel.cancel(id) }
            let end = miniss_monotonic_ns()
            inserts.append(Double(cancelStart - insertStart) / Double(operations))
            cancels.append(Double(end - cancelStart) / Double(operations))
        }
        let insert = inserts.sorted()[inserts.count / 2]

        // Expiry, timed as a whole; the refill inserts are taken out at the insert cost measured
        // above (clock reads around each advance would cost more than the advance itself).
        let refillDelays = (0..<operations + 64).map { _ in UInt64.random(in: 1...spreadTicks, using: &random) }
        var fired = 0
        let expiryStart = miniss_monotonic_ns()
        while fired < operations, let next = wheel.nextExpiration() {
            var firedNow = 0
            wheel.advance(to: next) { _, _ in firedNow += 1 }
            for index in 0..<firedNow {
                _ = wheel.insert(deadline: next + refillDelays[(fired + index) % refillDelays.count], nil)
            }
            fired += firedNow
        }
        let expiryTotal = Double(miniss_monotonic_ns() - expiryStart)
        let expiry = max(0, expiryTotal - insert * Double(fired)) / Double(max(fired, 1))
        return Result(
            insertNanoseconds: insert, cancelNanoseconds: cancels.sorted()[cancels.count / 2],
            expiryNanoseconds: expiry, fired: fired)
    }
}

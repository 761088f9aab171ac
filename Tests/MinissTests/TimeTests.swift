import Synchronization
import Testing

@testable import Miniss

/// Timers in virtual time: every figure below is exact, whatever the machine's load.
@Suite("Sleep, timeout, interval, periodic tasks")
struct TimeTests {
    @Test func sleepEndsOnTheFirstTickAtOrAfterItsDeadline() throws {
        let durations = try inVirtualTime { () -> [Duration] in
            var result: [Duration] = []
            for requested: Duration in [.zero, .microseconds(1), .milliseconds(1), .microseconds(1500), .seconds(2)] {
                let start = ShardClock().now
                try await sleep(for: requested)
                result.append(elapsed(since: start))
            }
            return result
        }
        #expect(durations == [.zero, .milliseconds(1), .milliseconds(1), .milliseconds(2), .seconds(2)])
    }

    @Test(arguments: [
        Duration.milliseconds(63), .milliseconds(64), .milliseconds(65), .milliseconds(4096), .milliseconds(4097),
        .milliseconds(262_144), .milliseconds(16_777_217), .seconds(3600), .seconds(5 * 3600), .seconds(86_400 * 30),
        .milliseconds(68_719_476_737),  // past the wheel's 2^36-tick window: the overflow list
    ])
    func sleepsAcrossWheelLevelsAndHoursAheadAreExact(duration: Duration) throws {
        let measured = try inVirtualTime { () -> Duration in
            let start = ShardClock().now
            try await sleep(for: duration)
            return elapsed(since: start)
        }
        #expect(measured == duration)
    }

    @Test func manyTimersFireInDeadlineOrderNeverEarly() throws {
        let records = try inVirtualTime { () -> [(due: Duration, woke: Duration)] in
            var random = SeededRandom(seed: 42)
            let start = ShardClock().now
            let log = EventLog<(due: Duration, woke: Duration)>()
            let handles = (0..<500).map { _ in
                let due = Duration.milliseconds(Int64.random(in: 0...300_000, using: &random))
                return spawn {
                    try await sleep(until: start.advanced(by: due))
                    log.append((due, elapsed(since: start)))
                }
            }
            for handle in handles { try await handle.value }
            return log.all
        }
        #expect(records.count == 500)
        #expect(records.allSatisfy { $0.woke == $0.due }, "a timer fired early or late")
        #expect(records.map(\.due) == records.map(\.due).sorted())
    }

    @Test func sleepUntilThePastReturnsAtOnce() throws {
        let measured = try inVirtualTime { () -> Duration in
            try await sleep(for: .seconds(1))
            let start = ShardClock().now
            try await sleep(until: start.advanced(by: .seconds(-1)))
            return elapsed(since: start)
        }
        #expect(measured == .zero)
    }

    @Test func negativeDurationsAreRejected() throws {
        try inVirtualTime {
            let error = await #expect(throws: MinissError.self) { try await sleep(for: .seconds(-1)) }
            #expect(error?.code == .invalidArgument)
            await #expect(throws: MinissError.self) { try await timeout(after: .seconds(-1)) { 1 } }
        }
    }

    @Test func standardClockAPIsRunOnTheShardClock() throws {
        let measured = try inVirtualTime { () -> Duration in
            let clock = ShardClock()
            let start = clock.now
            try await clock.sleep(for: .seconds(90))
            return start.duration(to: clock.now)
        }
        #expect(measured == .seconds(90))
    }

    // MARK: timeout

    @Test func timeoutFiresAndCancelsTheOperation() throws {
        let (code, measured, operationCancelled) = try inVirtualTime { () -> (MinissError.Code?, Duration, Bool) in
            let start = ShardClock().now
            let cancelled = Atomic<Bool>(false)
            do {
                _ = try await timeout(after: .seconds(1)) {
                    do {
                        try await sleep(for: .seconds(10))
                    } catch is CancellationError {
                        cancelled.store(true, ordering: .relaxed)
                        throw CancellationError()
                    }
                    return 1
                }
                return (nil, elapsed(since: start), false)
            } catch let error as MinissError {
                return (error.code, elapsed(since: start), cancelled.load(ordering: .relaxed))
            }
        }
        #expect(code == .timedOut)
        #expect(measured == .seconds(1))
        #expect(operationCancelled)
    }

    @Test func timeoutDoesNotFireWhenTheOperationFinishesFirst() throws {
        let (value, measured) = try inVirtualTime { () -> (Int, Duration) in
            let start = ShardClock().now
            let value = try await timeout(after: .seconds(10)) {
                try await sleep(for: .seconds(1))
                return 5
            }
            // The timeout's timer must be gone: nothing fires later.
            try await sleep(for: .seconds(30))
            return (value, elapsed(since: start))
        }
        #expect(value == 5)
        #expect(measured == .seconds(31))
    }

    @Test func timeoutPassesTheOperationsErrorThrough() throws {
        try inVirtualTime {
            await #expect(throws: TestFailure(tag: 1)) {
                try await timeout(after: .seconds(1)) { () async throws -> Int in throw TestFailure(tag: 1) }
            }
        }
    }

    // MARK: Interval

    @Test func intervalTicksAtFixedInstants() throws {
        let ticks = try inVirtualTime { () -> [Duration] in
            let start = ShardClock().now
            var interval = try Interval(every: .milliseconds(100))
            var ticks: [Duration] = []
            for _ in 0..<5 {
                let scheduled = try await interval.tick()
                #expect(ShardClock().now >= scheduled)
                ticks.append(elapsed(since: start))
            }
            return ticks
        }
        #expect(ticks == [100, 200, 300, 400, 500].map { .milliseconds($0) })
    }

    /// Takes the first tick, stays busy for 350 ms, then takes three more ticks; returns the
    /// instants (relative to the start) at which the ticks completed.
    static func ticksAfterStall(_ behavior: Interval.MissedTickBehavior) throws -> [Duration] {
        try inVirtualTime {
            let start = ShardClock().now
            var interval = try Interval(every: .milliseconds(100), missedTickBehavior: behavior)
            var ticks: [Duration] = []
            try await interval.tick()
            ticks.append(elapsed(since: start))
            try await sleep(for: .milliseconds(350))
            for _ in 0..<4 {
                try await interval.tick()
                ticks.append(elapsed(since: start))
            }
            return ticks
        }
    }

    @Test func missedTicksBurst() throws {
        #expect(try Self.ticksAfterStall(.burst) == [100, 450, 450, 450, 500].map { .milliseconds($0) })
    }

    @Test func missedTicksDelay() throws {
        #expect(try Self.ticksAfterStall(.delay) == [100, 450, 550, 650, 750].map { .milliseconds($0) })
    }

    @Test func missedTicksSkip() throws {
        #expect(try Self.ticksAfterStall(.skip) == [100, 450, 500, 600, 700].map { .milliseconds($0) })
    }

    @Test func intervalRejectsPeriodsShorterThanANanosecond() {
        #expect(throws: MinissError.self) { try Interval(every: .zero) }
        #expect(throws: MinissError.self) { try Interval(every: .seconds(-1)) }
        let halfNanosecond = Duration(secondsComponent: 0, attosecondsComponent: 500_000_000)
        #expect(throws: MinissError.self) { try Interval(every: halfNanosecond) }
    }

    // MARK: Periodic tasks

    @Test func periodicTaskRunsEachPeriodUntilCancelled() throws {
        let (runsBeforeCancel, runsAfterCancel, times) = try inVirtualTime { () -> (Int, Int, [Duration]) in
            let start = ShardClock().now
            let log = EventLog<Duration>()
            let periodic = spawnPeriodic(every: .seconds(1)) { log.append(elapsed(since: start)) }
            try await sleep(for: .milliseconds(5500))
            let before = periodic.completedRuns
            periodic.cancel()
            try await periodic.wait()  // returns normally: stopped by cancel
            #expect(periodic.isFinished)
            try await sleep(for: .seconds(10))
            return (before, periodic.completedRuns, log.all)
        }
        #expect(runsBeforeCancel == 5)
        #expect(runsAfterCancel == 5, "a cancelled periodic task must not run again")
        #expect(times == (1...5).map { .seconds($0) })
    }

    @Test func noRunStartsAfterCancelEvenWhenTheTickIsDue() throws {
        let runs = try inVirtualTime { () -> Int in
            let periodic = spawnPeriodic(every: .seconds(1)) {}
            // Both timers fire at 1 s; this task runs first and cancels while the periodic
            // task's wake-up is already queued.
            try await sleep(for: .seconds(1))
            periodic.cancel()
            try await periodic.wait()
            return periodic.completedRuns
        }
        #expect(runs == 0)
    }

    @Test func periodicTaskStopsAndReportsAFailingRun() throws {
        try inVirtualTime {
            let runs = Atomic<Int>(0)
            let periodic = spawnPeriodic(every: .milliseconds(10)) {
                if runs.add(1, ordering: .relaxed).newValue == 3 { throw TestFailure(tag: 3) }
            }
            await #expect(throws: TestFailure(tag: 3)) { try await periodic.wait() }
            try await sleep(for: .seconds(1))
            #expect(runs.load(ordering: .relaxed) == 3)
        }
    }

    @Test func periodicTaskRejectsANonPositivePeriod() throws {
        try inVirtualTime {
            let error = await #expect(throws: MinissError.self) {
                try await spawnPeriodic(every: .zero) {}.wait()
            }
            #expect(error?.code == .invalidArgument)
        }
    }

    @Test func runtimeSpawnPeriodicStopsAtShutdown() async throws {
        let runtime = try realTimeRuntime()
        let periodic = runtime.spawnPeriodic(every: .seconds(3600)) {}
        runtime.shutdown()
        #expect(periodic.isFinished)
        #expect(periodic.completedRuns == 0)
    }
}

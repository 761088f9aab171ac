import Foundation
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

/// Many tasks sleeping and being cancelled at random instants, checked against what must happen:
/// a sleeper that is not cancelled wakes exactly at its deadline; one cancelled first ends at
/// the cancel instant with CancellationError; none wakes early or twice.
@Suite("Timers under cancellation, randomized")
struct RandomizedTimerTests {
    struct Plan: Sendable {
        var deadline: Duration
        var cancelAt: Duration?
    }

    enum Outcome: Sendable, Equatable {
        case woke(at: Duration)
        case cancelled(at: Duration)
        /// Cancelled before the task started: its body never ran.
        case neverStarted
    }

    static func run(seed: UInt64) throws -> String? {
        var random = SeededRandom(seed: seed)
        let plans = (0..<200).map { _ -> Plan in
            // Multiples of 10 ms, so deadlines and cancels often coincide (the tie rule).
            let deadline = Duration.milliseconds(Int64.random(in: 0...5_000, using: &random) / 10 * 10)
            let cancelAt =
                Bool.random(using: &random)
                ? Duration.milliseconds(Int64.random(in: 0...6_000, using: &random) / 10 * 10) : nil
            return Plan(deadline: deadline, cancelAt: cancelAt)
        }
        let outcomes = try inVirtualTime { () -> [Outcome] in
            let start = ShardClock().now
            let results = EventLog<(Int, Outcome)>()
            let handles = plans.enumerated().map { index, plan in
                spawn {
                    do {
                        try await sleep(until: start.advanced(by: plan.deadline))
                        results.append((index, .woke(at: elapsed(since: start))))
                    } catch is CancellationError {
                        results.append((index, .cancelled(at: elapsed(since: start))))
                    }
                }
            }
            // The canceller: at each planned instant, cancel that sleeper.
            let cancels = plans.enumerated().compactMap { index, plan in plan.cancelAt.map { ($0, index) } }
                .sorted { $0.0 < $1.0 }
            for (instant, index) in cancels {
                try await sleep(until: start.advanced(by: instant))
                handles[index].cancel()
            }
            for handle in handles { _ = try? await handle.value }
            let byIndex = Dictionary(results.all, uniquingKeysWith: { first, _ in first })
            guard byIndex.count == results.all.count else { return [] }  // someone finished twice
            return plans.indices.map { byIndex[$0] ?? .neverStarted }
        }
        guard outcomes.count == plans.count else { return "seed \(seed): a sleeper finished twice" }
        for (index, (plan, outcome)) in zip(plans, outcomes).enumerated() {
            // A sleeper wakes at its deadline unless its cancel came strictly first. At the same
            // instant, the sleeper's timer was inserted before the canceller's, so it wakes.
            // Cancels at instant 0 happen before the canceller first suspends, so before any
            // sleeper has started.
            let expected: Outcome
            if plan.cancelAt == .zero {
                expected = .neverStarted
            } else if let cancelAt = plan.cancelAt, cancelAt < plan.deadline {
                expected = .cancelled(at: cancelAt)
            } else {
                expected = .woke(at: plan.deadline)
            }
            if outcome != expected {
                return
                    "seed \(seed): sleeper \(index) (deadline \(plan.deadline), cancel \(String(describing: plan.cancelAt))) "
                    + "gave \(outcome), expected \(expected)"
            }
        }
        return nil
    }

    @Test func sleepersAndCancelsMatchTheirSchedule() throws {
        let seeds: [UInt64] =
            ProcessInfo.processInfo.environment["MINISS_SEED"].flatMap(UInt64.init).map { [$0] } ?? Array(1...25)
        for seed in seeds {
            if let failure = try Self.run(seed: seed) {
                Issue.record(
                    "\(failure)\nreplay: MINISS_SEED=\(seed) swift test --filter sleepersAndCancelsMatchTheirSchedule")
                return
            }
        }
    }
}

import Dispatch
import Miniss
import MinissSimulator
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Shared state for the programs below; each program runs on one simulator thread.
final class Box<Value>: @unchecked Sendable {
    // SAFETY (@unchecked Sendable): written by simulated tasks, which all run on the simulator's
    // one thread, and read by the test after `run` has joined that thread.
    var value: Value
    init(_ value: Value) { self.value = value }
}

/// Small programs, some deliberately buggy: the simulator must find the bugs within a stated
/// number of seeds, replay them exactly, and pass the correct versions on every seed.
@Suite("Simulator")
struct SimulatorTests {
    // A lost update: two tasks read, await, then write back.
    static func lostUpdate(awaitsBetween: Bool) -> @Sendable () async throws -> Void {
        {
            let balance = Box(0)
            let deposits = (0..<2).map { _ in
                spawn {
                    let read = balance.value
                    if awaitsBetween { await Shard.yield() }
                    balance.value = read + 1
                }
            }
            for deposit in deposits { try await deposit.value }
            invariant(balance.value == 2, "lost update: balance is \(balance.value), expected 2")
        }
    }

    // An ordering bug between two shards: the read is sent by a task that may run before the
    // task that sends the write.
    static func crossShardOrdering(awaitsWrite: Bool) -> @Sendable () async throws -> Void {
        {
            let flag = Box(false)
            let writer = spawn { try await submit(to: 1) { flag.value = true } }
            if awaitsWrite { try await writer.value }
            let reader = spawn { try await submit(to: 1) { flag.value } }
            let seen = try await reader.value
            try await writer.value
            invariant(seen, "shard 1 handled the read before the write")
        }
    }

    /// A one-value mailbox: `receive` waits until `deliver` (or takes what came first).
    final class Mailbox: @unchecked Sendable {
        // SAFETY (@unchecked Sendable): used by simulated tasks on the simulator's one thread;
        // `releaseOpenMailboxes` touches it only after the run has ended.
        var waiter: CheckedContinuation<Int, Never>?
        var value: Int?

        func deliver(_ value: Int) {
            if let waiter {
                self.waiter = nil
                waiter.resume(returning: value)
            } else {
                self.value = value
            }
        }

        func receive() async -> Int {
            if let value { return value }
            return await withCheckedContinuation { waiter = $0 }
        }
    }

    // A missed cancellation: the producer is cancelled before it delivers and never tells the
    // consumer, which then waits forever (a deadlock).
    /// Mailboxes whose consumer may be left waiting by a deadlocked run. A task that waits
    /// forever keeps its shard engine alive; the tests release them afterwards so LeakSanitizer
    /// sees no leak (a deadlocked program in production would leak the same way).
    static let openMailboxes = Mutex<[Mailbox]>([])

    static func releaseOpenMailboxes() {
        let mailboxes = openMailboxes.withLock { mailboxes in
            defer { mailboxes = [] }
            return mailboxes
        }
        for mailbox in mailboxes where mailbox.waiter != nil { mailbox.deliver(0) }
    }

    static func missedCancellation(resumesOnCancel: Bool) -> @Sendable () async throws -> Void {
        {
            let mailbox = Mailbox()
            openMailboxes.withLock { $0.append(mailbox) }
            let consumer = spawn { await mailbox.receive() }
            let producer = spawn {
                do {
                    try await sleep(for: .milliseconds(Simulation.random(in: 0..<10)))
                    mailbox.deliver(42)
                } catch {
                    if resumesOnCancel { mailbox.deliver(-1) }
                }
            }
            try await sleep(for: .milliseconds(5))
            producer.cancel()
            _ = try await consumer.value
        }
    }

    /// The first seed in 0..<limit that fails, with its result.
    static func firstFailure(
        shards: Int, strategy: SimulationStrategy = .random, limit: UInt64,
        _ program: @escaping @Sendable () async throws -> Void
    ) -> SimulationResult? {
        for seed in 0..<limit {
            let result = Simulation(seed: seed, shards: shards, strategy: strategy).run(program)
            if !result.passed { return result }
        }
        return nil
    }

    @Test func findsALostUpdateAndReplaysIt() throws {
        let failure = try #require(Self.firstFailure(shards: 1, limit: 20, Self.lostUpdate(awaitsBetween: true)))
        #expect(failure.failure?.kind == .invariant)
        #expect(failure.failure?.message.contains("lost update") == true)
        #expect(failure.failure?.backtrace?.isEmpty == false, "the report carries the failing task's stack")
        #expect(failure.failure?.replayCommand.contains("Simulation(seed: \(failure.seed), shards: 1") == true)
        let replay = Simulation(seed: failure.seed, shards: 1).run(Self.lostUpdate(awaitsBetween: true))
        #expect(replay.traceHash == failure.traceHash, "a replay must follow the identical schedule")
        #expect(replay.failure?.kind == .invariant)
    }

    @Test func findsACrossShardOrderingBug() throws {
        for strategy in [SimulationStrategy.random, .pct(depth: 2)] {
            let failure = try #require(
                Self.firstFailure(
                    shards: 2, strategy: strategy, limit: 50, Self.crossShardOrdering(awaitsWrite: false)),
                "\(strategy) must find the ordering bug within 50 seeds")
            #expect(failure.failure?.kind == .invariant)
            let replay = Simulation(seed: failure.seed, shards: 2, strategy: strategy)
                .run(Self.crossShardOrdering(awaitsWrite: false))
            #expect(replay.traceHash == failure.traceHash)
        }
    }

    @Test func findsAMissedCancellation() throws {
        defer { Self.releaseOpenMailboxes() }
        let failure = try #require(
            Self.firstFailure(shards: 1, limit: 50, Self.missedCancellation(resumesOnCancel: false)))
        #expect(failure.failure?.kind == .deadlock)
        let replay = Simulation(seed: failure.seed, shards: 1).run(Self.missedCancellation(resumesOnCancel: false))
        #expect(replay.traceHash == failure.traceHash)
    }

    @Test func correctProgramsPassEverySeed() {
        defer { Self.releaseOpenMailboxes() }
        for seed in UInt64(0)..<100 {
            #expect(Simulation(seed: seed, shards: 1).run(Self.lostUpdate(awaitsBetween: false)).passed)
            #expect(Simulation(seed: seed, shards: 2).run(Self.crossShardOrdering(awaitsWrite: true)).passed)
            #expect(
                Simulation(seed: seed, shards: 2, strategy: .pct(depth: 3)).run(
                    Self.crossShardOrdering(awaitsWrite: true)
                )
                .passed)
            #expect(Simulation(seed: seed, shards: 1).run(Self.missedCancellation(resumesOnCancel: true)).passed)
        }
    }

    @Test func virtualTimeJumpsToTheNextTimer() {
        let elapsed = Box(Duration.zero)
        let plainTaskShard = Box<Int?>(nil)
        let result = Simulation(seed: 1, shards: 2).run {
            let clock = ShardClock()
            let start = clock.now
            try await sleep(for: .seconds(3600))
            try await clock.sleep(for: .seconds(60))
            try await submit(to: 1) { try await sleep(for: .seconds(1)) }
            // A plain Task {} started on a shard stays on it under the simulator too.
            await Task { plainTaskShard.value = Shard.current?.id }.value
            elapsed.value = start.duration(to: clock.now)
        }
        #expect(result.passed, "\(result)")
        #expect(elapsed.value == .seconds(3661), "virtual time is exact")
        #expect(plainTaskShard.value == 0)
    }

    @Test func aSeedRunTwiceGivesTheSameTrace() {
        for seed in UInt64(0)..<30 {
            for program in [Self.lostUpdate(awaitsBetween: true), Self.crossShardOrdering(awaitsWrite: false)] {
                let first = Simulation(seed: seed, shards: 2).run(program)
                let second = Simulation(seed: seed, shards: 2).run(program)
                #expect(first.traceHash == second.traceHash, "seed \(seed) diverged")
                #expect(first.steps == second.steps)
            }
        }
    }

    @Test func taskSleepRunsInVirtualTime() {
        let elapsed = Box(Duration.zero)
        let result = Simulation(seed: 1, shards: 1).run {
            let start = ShardClock().now
            try await Task.sleep(for: .seconds(60))
            elapsed.value = start.duration(to: ShardClock().now)
        }
        #expect(result.passed, "\(result)")
        #expect(elapsed.value <= .seconds(60) && elapsed.value >= .seconds(59.999))
    }

    @Test func anEscapeToARealThreadIsReported() {
        let result = Simulation(seed: 1, shards: 1).run {
            // A continuation resumed by a real thread: the simulation cannot control when.
            await withCheckedContinuation { continuation in
                DispatchQueue.global().async { continuation.resume() }
            }
        }
        #expect(result.failure?.kind == .determinismViolation || result.failure?.kind == .deadlock)
    }

    @Test func aLivelockStopsAtItsBudgetAndNamesTheSpinningTask() {
        let simulation = Simulation(seed: 3, shards: 1)
        simulation.stepBudget = 1_000
        let result = simulation.run {
            // Ignores cancellation and keeps yielding past the budget (each yield is two jobs
            // here); shutdown and the final drain, each bounded by the budget too, run the rest,
            // so the task still ends.
            spawn { for _ in 0..<1_200 { await Shard.yield() } }
        }
        #expect(result.failure?.kind == .livelock, "\(result)")
        #expect(result.failure?.message.contains("SimulatorTests.swift:") == true, "\(result)")
        #expect(result.steps == 1_000)
    }

    @Test func aDeadlockReportNamesTheWaitingTasks() {
        let result = Simulation(seed: 3, shards: 1).run {
            // Nobody ever connects: the accept waits forever after the main task returned.
            let listener = try TCPListener(bindingTo: Simulation.address(ofShard: 0, port: 9))
            spawn { _ = try await listener.accept() }
        }
        #expect(result.failure?.kind == .deadlock, "\(result)")
        #expect(result.failure?.message.contains("main task has returned") == true, "\(result)")
        #expect(result.failure?.message.contains("SimulatorTests.swift:") == true, "\(result)")
        #expect(result.failure?.replayCommand.contains("Simulation(seed: 3, shards: 1") == true, "\(result)")
    }

    @Test func aPlainProgramCanCheckItsOwnDeterminism() {
        let simulation = Simulation(seed: 5, shards: 2)
        #expect(simulation.checkDeterminism { try await submit(to: 1) { await Shard.yield() } } == nil)
        let leaky = Simulation(seed: 5, shards: 1)
        let mismatch = leaky.checkDeterminism {
            for _ in 0..<(LeakyCounter.next() % 3) { await Shard.yield() }
        }
        #expect(mismatch?.description.contains("first differing event") == true, "\(String(describing: mismatch))")
    }

    @Test func aJobThatDoesNotReturnIsReportedWhileItRuns() {
        SimulationWatchdog.shared.limit.store(200_000_000, ordering: .relaxed)
        defer { SimulationWatchdog.shared.limit.store(10_000_000_000, ordering: .relaxed) }
        let simulation = Simulation(seed: 424_242, shards: 1)
        simulation.blockingThreshold = .seconds(60)  // this job computes; it does not block
        _ = simulation.run {
            // Spins for 1.5 s of real time without suspending (the watchdog looks once a second).
            let start = ContinuousClock.now
            while ContinuousClock.now - start < .milliseconds(1_500) {}
        }
        let reports = SimulationWatchdog.shared.reports.withLock { $0 }
        #expect(
            reports.contains { $0.contains("seed 424242") && $0.contains("without returning") },
            "\(reports)")
    }

    @Test func aBlockingCallIsReported() {
        let simulation = Simulation(seed: 1, shards: 2)
        simulation.blockingThreshold = .milliseconds(200)
        let result = simulation.run {
            try await submit(to: 1) {
                // Blocks the simulator's one thread for at least 400 ms of real time, twice the
                // threshold, whatever the machine's load.
                _ = usleep(400_000)
            }
        }
        #expect(result.failure?.kind == .determinismViolation, "\(result)")
        #expect(result.failure?.message.contains("blocked the simulator's thread") == true, "\(result)")
        #expect(result.failure?.message.contains("shard 1") == true, "\(result)")
    }
}

import CMinissLinux
import Synchronization
import Testing

@testable import Miniss

@Suite("Runtime, spawn and join handles")
struct RuntimeTests {
    @Test func runReturnsTheBodysValue() throws {
        let runtime = try realTimeRuntime()
        defer { runtime.shutdown() }
        #expect(try runtime.run { 6 * 7 } == 42)
        #expect(try runtime.run { Shard.current?.id } == 0)
    }

    @Test func runRethrowsTheBodysError() throws {
        let runtime = try realTimeRuntime()
        defer { runtime.shutdown() }
        #expect(throws: TestFailure(tag: 3)) { try runtime.run { throw TestFailure(tag: 3) } }
    }

    @Test func spawnedTasksReturnTheirValues() throws {
        let sum = try inVirtualTime {
            let handles = (0..<200).map { index in spawn { index * 2 } }
            var sum = 0
            for handle in handles { sum += try await handle.value }
            return sum
        }
        #expect(sum == (0..<200).reduce(0) { $0 + $1 * 2 })
    }

    @Test func spawnedTaskErrorsReachTheJoiner() throws {
        try inVirtualTime {
            let handle = spawn { () async throws -> Int in throw TestFailure(tag: 9) }
            await #expect(throws: TestFailure(tag: 9)) { try await handle.value }
            #expect(handle.isFinished)
        }
    }

    @Test func cancelBeforeStartSkipsTheBody() throws {
        try inVirtualTime {
            let ran = Atomic<Bool>(false)
            let handle = spawn { ran.store(true, ordering: .relaxed) }
            handle.cancel()  // the task is queued behind this one: it has not started
            await #expect(throws: CancellationError.self) { try await handle.value }
            let bodyRan = ran.load(ordering: .relaxed)
            #expect(!bodyRan)
            #expect(handle.isCancelled && handle.isFinished)
        }
    }

    @Test func cancelDuringSleepWakesTheTaskAtOnce() throws {
        try inVirtualTime {
            let start = ShardClock().now
            let sleeper = spawn { try await sleep(for: .seconds(10)) }
            try await sleep(for: .seconds(1))
            #expect(!sleeper.isFinished)
            sleeper.cancel()
            await #expect(throws: CancellationError.self) { try await sleeper.value }
            #expect(elapsed(since: start) == .seconds(1), "the cancelled sleep must not run to its deadline")
            #expect(sleeper.isFinished)
        }
    }

    @Test func cancelFromAnotherThreadReachesASleepingTask() async throws {
        let runtime = try realTimeRuntime()
        defer { runtime.shutdown() }
        let handle = runtime.spawn { try await sleep(for: .seconds(3600)) }
        handle.cancel()
        await #expect(throws: CancellationError.self) { try await handle.value }
    }

    @Test func cancellationReachesAwaitingTasks() throws {
        try inVirtualTime {
            // The inner task waits for a child; cancelling it reaches the child's sleep.
            let outer = spawn {
                let child = spawn { try await sleep(for: .seconds(60)) }
                try await withTaskCancellationHandler {
                    try await child.value
                } onCancel: {
                    child.cancel()
                }
            }
            try await sleep(for: .milliseconds(5))
            outer.cancel()
            await #expect(throws: CancellationError.self) { try await outer.value }
        }
    }

    @Test func awaitingFromOutsideDoesNotMoveTheWaiterOntoTheShard() async throws {
        let runtime = try realTimeRuntime()
        defer { runtime.shutdown() }
        for _ in 0..<20 {
            _ = try await runtime.spawn { await Shard.yield() }.value
            #expect(Shard.current == nil, "the awaiting test task was adopted by the shard")
        }
    }

    @Test func runOnAShardThreadIsAnError() throws {
        let runtime = try realTimeRuntime()
        defer { runtime.shutdown() }
        let code = try runtime.run { () -> MinissError.Code? in
            do {
                _ = try runtime.run { 1 }
                return nil
            } catch let error as MinissError {
                return error.code
            }
        }
        #expect(code == .runCalledFromShard)
    }

    @Test func workAfterShutdownIsRefusedWithAClearError() async throws {
        let runtime = try realTimeRuntime()
        runtime.shutdown()
        runtime.shutdown()  // idempotent
        #expect(!runtime.isAcceptingWork)
        let error = try #require(throws: MinissError.self) { try runtime.run { 1 } }
        #expect(error.code == .runtimeNotRunning)
        #expect(error.message.contains("shut down"))
        await #expect(throws: MinissError.runtimeNotRunning("spawn")) { try await runtime.spawn { 1 }.value }
    }

    @Test func shutdownCancelsTasksInFlight() async throws {
        let runtime = try realTimeRuntime()
        let sleepers = (0..<10).map { _ in runtime.spawn { try await sleep(for: .seconds(3600)) } }
        let untracked = runtime.spawn {
            // A plain Task sleeping through Task.sleep: not owned by the runtime.
            Task { try? await Task.sleep(for: .seconds(3600)) }
            return 0
        }
        _ = try await untracked.value
        runtime.shutdown()
        for sleeper in sleepers {
            #expect(sleeper.isFinished)
            await #expect(throws: CancellationError.self) { try await sleeper.value }
        }
    }

    @Test func shutdownFromInsideTheRuntimeDoesNotDeadlock() throws {
        let runtime = try realTimeRuntime()
        let value = try runtime.run {
            runtime.shutdown()  // cannot join its own thread: requests the stop and returns
            return 7
        }
        #expect(value == 7)
        #expect(!runtime.isAcceptingWork)
        runtime.shutdown()
    }

    @Test(.timeLimit(.minutes(1)))
    func tasksPreferringAStoppedShardStillComplete() async throws {
        let runtime = try realTimeRuntime()
        let shard = runtime.shard(0)
        runtime.shutdown()
        // The shard's thread is gone: the task runs on the global executor, and its sleep (a
        // wake-up handed to the dead shard) ends at once instead of hanging or crashing.
        let value = await Task(executorPreference: shard.taskExecutor) { () -> Int in
            try? await Task.sleep(for: .seconds(3600))
            return 1
        }.value
        #expect(value == 1)
    }

    @Test func shardThreadsArePinnedToTheirCPU() throws {
        let runtime = try Runtime(shards: 1, configuration: .init(pinThreads: true, idleSpin: .zero))
        defer { runtime.shutdown() }
        let cpu = try runtime.run { miniss_current_cpu() }
        #expect(cpu == miniss_allowed_cpu(0))
    }

    @Test func invalidConfigurationsAreRejected() {
        #expect(throws: MinissError.self) { try Runtime(shards: 0) }
        #expect(throws: MinissError.self) { try Runtime(shards: 2, configuration: .init(time: .virtual)) }
        #expect(throws: MinissError.self) { try Runtime(configuration: .init(timerTick: .zero)) }
        #expect(throws: MinissError.self) { try Runtime(configuration: .init(budgetJobs: 0)) }
        let error = try? #require(throws: MinissError.self) { try Runtime(shards: -3) }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains("-3") == true)
    }

    @Test func spawnOnAMissingShardFails() async throws {
        let runtime = try realTimeRuntime()
        defer { runtime.shutdown() }
        let error = await #expect(throws: MinissError.self) { try await runtime.spawn(on: 5) { 1 }.value }
        #expect(error?.code == .invalidArgument)
    }

    @Test func shardOnlyAPIsOffAShardSayWhy() async {
        let error = await #expect(throws: MinissError.self) { try await sleep(for: .seconds(1)) }
        #expect(error?.code == .notOnShard)
        await #expect(throws: MinissError.self) { try await spawn { 1 }.value }
        await #expect(throws: MinissError.self) { try await timeout(after: .seconds(1)) { 1 } }
        #expect(Shard.current == nil)
    }

    @Test(arguments: [IOBackend.uring, .epoll, .automatic])
    func eachBackendStartsAndWakesForForeignWork(backend: IOBackend) async throws {
        // MINISS_BACKEND overrides the configuration; io_uring may be refused (seccomp,
        // kernel.io_uring_disabled), and then the error must say so.
        let effective = try IOBackend.fromEnvironment() ?? backend
        let runtime: Runtime
        do {
            runtime = try realTimeRuntime(backend: backend)
        } catch let error as MinissError where effective == .uring && error.code == .backendUnavailable {
            #expect(error.message.contains("io_uring_setup") && error.message.contains("errno"))
            return
        }
        defer { runtime.shutdown() }
        switch effective {
        case .epoll: #expect(runtime.backendName == "epoll")
        case .uring: #expect(runtime.backendName == "io_uring")
        case .automatic: #expect(["io_uring", "epoll"].contains(runtime.backendName))
        }
        // The shard parks with nothing to do; work from this (foreign) thread must wake it.
        for round in 0..<50 {
            #expect(try await runtime.spawn { round }.value == round)
        }
    }

    @Test func backendNamesParse() throws {
        #expect(try IOBackend.parse("URING") == .uring)
        #expect(try IOBackend.parse("io_uring") == .uring)
        #expect(try IOBackend.parse("epoll") == .epoll)
        let error = try #require(throws: MinissError.self) { try IOBackend.parse("kqueue", source: "MINISS_BACKEND") }
        #expect(error.message.contains("MINISS_BACKEND=kqueue"))
    }
}

@Suite("Executor routing")
struct ExecutorRoutingTests {
    @Test func plainTasksAndDetachedTasksStayOnTheShard() throws {
        let routedBefore = GlobalExecutorHook.counts.routed
        let ids = try inVirtualTime { () -> [Int?] in
            let plain = Task { Shard.current?.id }
            let detached = Task.detached { Shard.current?.id }
            let nested = Task { await Task { Shard.current?.id }.value }
            return [await plain.value, await detached.value, await nested.value]
        }
        #expect(ids == [0, 0, 0])
        #expect(GlobalExecutorHook.counts.routed > routedBefore, "the hook routed nothing")
    }

    @Test func taskSleepRunsOnTheShardsWheel() throws {
        // In virtual time an hour passes instantly, but only if the wake-up is a shard timer.
        let (elapsedTime, shard) = try inVirtualTime { () -> (Duration, Int?) in
            let start = ShardClock().now
            try await Task.sleep(for: .seconds(3600))
            return (elapsed(since: start), Shard.current?.id)
        }
        #expect(shard == 0)
        #expect(Self.isWithinOneTickBelow(elapsedTime, .seconds(3600)))
    }

    @Test func taskSleepInAPlainTaskAlsoRunsOnTheShard() throws {
        let elapsedTime = try inVirtualTime { () -> Duration in
            let start = ShardClock().now
            let inner = Task { () -> Int? in
                try? await ContinuousClock().sleep(for: .seconds(60))
                return Shard.current?.id
            }
            #expect(await inner.value == 0)
            return elapsed(since: start)
        }
        #expect(Self.isWithinOneTickBelow(elapsedTime, .seconds(60)))
    }

    /// `Task.sleep` passes an instant of the real clock, read just before the shard converts
    /// it; a thread stall of more than a tick between the two can shorten the virtual sleep by
    /// one tick. Miniss's own `sleep` is exact (see TimeTests).
    static func isWithinOneTickBelow(_ measured: Duration, _ requested: Duration) -> Bool {
        measured <= requested && measured >= requested - .milliseconds(1)
    }

    actor Counter {
        let shard: Shard
        var value = 0
        var offShardCalls = 0

        init(on shard: Shard) { self.shard = shard }

        nonisolated var unownedExecutor: UnownedSerialExecutor {
            shard.serialExecutor.asUnownedSerialExecutor()
        }

        func increment() {
            if Shard.current != shard { offShardCalls += 1 }
            value += 1
        }
    }

    @Test func shardBoundActorsRunOnTheirShard() async throws {
        let runtime = try realTimeRuntime()
        defer { runtime.shutdown() }
        let counter = Counter(on: runtime.shard(0))
        try await runtime.spawn {
            for _ in 0..<1000 { await counter.increment() }
        }.value
        for _ in 0..<100 {
            await counter.increment()  // from the test's own (foreign) task
            #expect(Shard.current == nil, "a foreign caller was adopted by the shard")
        }
        #expect(await counter.value == 1100)
        #expect(await counter.offShardCalls == 0)
    }

    @Test func yieldLetsOtherTasksRunInFIFOOrder() throws {
        let order = try inVirtualTime { () -> [String] in
            let log = EventLog<String>()
            let a = spawn {
                for step in 0..<3 {
                    log.append("a\(step)")
                    await Shard.yield()
                }
            }
            let b = spawn {
                for step in 0..<3 {
                    log.append("b\(step)")
                    await Shard.yield()
                }
            }
            try await a.value
            try await b.value
            return log.all
        }
        #expect(order == ["a0", "b0", "a1", "b1", "a2", "b2"])
    }
}

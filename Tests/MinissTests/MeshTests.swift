import Synchronization
import Testing

@testable import Miniss

/// Cross-shard calls on real threads. Outcomes are checked, never timings.
@Suite("Shard mesh and submit(to:)")
struct MeshTests {
    static func twoShards(ringCapacity: Int = 256) throws -> Runtime {
        try Runtime(shards: 2, configuration: .init(pinThreads: false, idleSpin: .zero, ringCapacity: ringCapacity))
    }

    @Test func valuesAndErrorsComeBackToTheCallersShard() throws {
        let runtime = try Self.twoShards()
        defer { runtime.shutdown() }
        let (remoteShard, callerShard, count) = try runtime.run { () -> (Int?, Int?, Int) in
            let remote = try await submit(to: 1) { Shard.current?.id }
            return (remote, Shard.current?.id, Shard.count)
        }
        #expect(remoteShard == 1)
        #expect(callerShard == 0, "the caller must resume on its own shard")
        #expect(count == 2)
        #expect(throws: TestFailure(tag: 4)) {
            try runtime.run { try await submit(to: 1) { () async throws -> Int in throw TestFailure(tag: 4) } }
        }
    }

    @Test func submitToTheOwnShardRunsInPlace() throws {
        let runtime = try Self.twoShards()
        defer { runtime.shutdown() }
        #expect(try runtime.run { try await submit(to: 0) { Shard.current?.id } } == 0)
    }

    @Test func badShardIdsAreRejected() throws {
        let runtime = try Self.twoShards()
        defer { runtime.shutdown() }
        let code = try runtime.run { () -> MinissError.Code? in
            do {
                _ = try await submit(to: 7) { 1 }
                return nil
            } catch let error as MinissError {
                return error.code
            }
        }
        #expect(code == .invalidArgument)
    }

    @Test func messagesBetweenTwoShardsKeepTheirOrder() throws {
        let runtime = try Self.twoShards()
        defer { runtime.shutdown() }
        let order = try runtime.run { () -> [Int] in
            let log = EventLog<Int>()
            // Each task posts its request as soon as it runs, and tasks run in spawn order.
            let handles = (0..<1000).map { index in spawn { try await submit(to: 1) { log.append(index) } } }
            for handle in handles { try await handle.value }
            return log.all
        }
        #expect(order == Array(0..<1000))
    }

    @Test(arguments: [2, 8])
    func aFullRingHoldsMessagesBackWithoutLosingAny(ringCapacity: Int) throws {
        let runtime = try Self.twoShards(ringCapacity: ringCapacity)
        defer { runtime.shutdown() }
        let sum = try runtime.run { () -> Int in
            let handles = (0..<2000).map { index in spawn { try await submit(to: 1) { index } } }
            var sum = 0
            for handle in handles { sum += try await handle.value }
            return sum
        }
        #expect(sum == (0..<2000).reduce(0, +))
    }

    @Test func cancellingTheCallerCancelsTheRemoteTask() throws {
        let runtime = try Self.twoShards()
        defer { runtime.shutdown() }
        let outcome = try runtime.run { () -> String in
            let caller = spawn { try await submit(to: 1) { try await sleep(for: .seconds(3600)) } }
            await Shard.yield()
            caller.cancel()
            do {
                try await caller.value
                return "finished"
            } catch is CancellationError {
                return "cancelled"
            }
        }
        #expect(outcome == "cancelled")
    }

    @Test func callsFromOutsideTheRuntimeWork() async throws {
        let runtime = try Self.twoShards()
        defer { runtime.shutdown() }
        #expect(try await runtime.submit(to: 1) { Shard.current?.id } == 1)
        let error = await #expect(throws: MinissError.self) { try await submit(to: 1) { 1 } }
        #expect(error?.code == .notOnShard)
    }

    @Test(.timeLimit(.minutes(1)))
    func aSpinningShardNoticesMessages() throws {
        // With a 30 s idle spin, a shard that only watched its inbox while spinning would take
        // up to 30 s to see each message: these calls would outlast the time limit.
        let runtime = try Runtime(shards: 2, configuration: .init(pinThreads: false, idleSpin: .seconds(30)))
        defer { runtime.shutdown() }
        let sum = try runtime.run { () -> Int in
            var sum = 0
            for index in 0..<5 { sum += try await submit(to: 1) { index } }
            return sum
        }
        #expect(sum == 10)
    }

    @Test(.timeLimit(.minutes(1)))
    func shutdownWaitsForCallsFromTasksItDoesNotTrack() async throws {
        // A plain Task on a shard is not registered with the runtime; its requests and replies
        // must still keep the shards alive until they have arrived.
        let runtime = try Self.twoShards()
        let outcomes = EventLog<String>()
        _ = try await runtime.spawn {
            Task {
                do {
                    try await submit(to: 1) { try await sleep(for: .seconds(3600)) }
                    outcomes.append("first finished")
                } catch {
                    outcomes.append("first failed: \(error)")
                }
                // Either the stopping shard cancels it, or the mesh has closed: both end it.
                do {
                    _ = try await submit(to: 1) { 0 }
                    outcomes.append("second finished")
                } catch {
                    outcomes.append("second failed: \(error)")
                }
            }
            return 0
        }.value
        runtime.shutdown()
        let all = outcomes.all
        #expect(all.count == 2, "the untracked task never finished: \(all)")
        #expect(all.first?.hasPrefix("first failed") == true)
    }

    @Test(.timeLimit(.minutes(1)))
    func shutdownWithCallsInFlightEndsEveryCall() async throws {
        let runtime = try Self.twoShards(ringCapacity: 2)
        let calls = (0..<200).map { index in
            runtime.spawn(on: index % 2) {
                try await submit(to: 1 - index % 2) { try await sleep(for: .seconds(3600)) }
            }
        }
        // Let some requests reach the other shard before stopping; the outcome is the same
        // whether they did or not.
        _ = try await runtime.submit(to: 1) { 0 }
        runtime.shutdown()
        for call in calls {
            #expect(call.isFinished)
            await #expect(throws: CancellationError.self) { try await call.value }
        }
    }
}

/// A counter that lives on one shard.
actor ShardCounter {
    let shard: Shard
    var values: [Int] = []
    init(on shard: Shard) { self.shard = shard }
    nonisolated var unownedExecutor: UnownedSerialExecutor { shard.serialExecutor.asUnownedSerialExecutor() }

    func append(_ value: Int) -> Int? {
        shard.serialExecutor.checkIsolated()
        values.append(value)
        return Shard.current?.id
    }
}

@Suite("Shard-bound actors across shards")
struct ShardActorMeshTests {
    @Test func callsFromAnotherShardRunOnTheActorsShardInOrder() throws {
        let runtime = try MeshTests.twoShards(ringCapacity: 4)
        defer { runtime.shutdown() }
        let counter = ShardCounter(on: runtime.shard(1))
        let (shards, callerShard) = try runtime.run { () -> (Set<Int?>, Int?) in
            var shards = Set<Int?>()
            // More calls than the ring holds: the backlog keeps them in order.
            for value in 0..<1_000 { shards.insert(await counter.append(value)) }
            return (shards, Shard.current?.id)
        }
        #expect(shards == [1], "every call must run on the actor's shard")
        #expect(callerShard == 0, "the caller must come back to its own shard")
        let values = try runtime.run { await counter.values }
        #expect(values == Array(0..<1_000))
    }
}

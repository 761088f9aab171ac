import Synchronization
import Testing

@testable import Miniss

@Suite("Sharded services")
struct ShardedTests {
    /// Not Sendable on purpose: each instance lives on one shard.
    final class Counter {
        let createdOn: Int?
        var hits = 0
        init() { createdOn = Shard.current?.id }
    }

    static func twoShards() throws -> Runtime {
        try Runtime(shards: 2, configuration: .init(pinThreads: false, idleSpin: .zero))
    }

    @Test func eachShardGetsItsOwnInstanceCreatedThere() async throws {
        let runtime = try Self.twoShards()
        defer { runtime.shutdown() }
        let counters = try await Sharded<Counter>.start(on: runtime) { _ in Counter() }
        #expect(counters.count == 2)
        for shard in 0..<2 {
            #expect(try await counters.invoke(on: shard) { $0.createdOn } == shard)
            #expect(try await counters.invoke(on: shard) { _ in Shard.current?.id } == shard)
        }
        try await counters.stop()
    }

    @Test func mapReduceFoldsEveryShardInOrder() async throws {
        let runtime = try Self.twoShards()
        defer { runtime.shutdown() }
        let counters = try await Sharded<Counter>.start(on: runtime) { _ in Counter() }
        for _ in 0..<3 { _ = try await counters.invoke(on: 0) { counter in counter.hits += 1 } }
        for _ in 0..<5 { _ = try await counters.invoke(on: 1) { counter in counter.hits += 1 } }
        let total = try await counters.mapReduce({ $0.hits }, into: 0, +=)
        let perShard = try await counters.mapReduce({ $0.hits }, into: [Int]()) { $0.append($1) }
        #expect(total == 8)
        #expect(perShard == [3, 5])
        try await counters.stop()
    }

    @Test func localIsTheCallingShardsInstance() throws {
        let runtime = try Self.twoShards()
        defer { runtime.shutdown() }
        let created = try runtime.run { () -> [Int?] in
            let counters = try await Sharded<Counter>.start(on: runtime) { _ in Counter() }
            let here = try counters.local.createdOn
            let there = try await submit(to: 1) { try counters.local.createdOn }
            try await counters.stop()
            return [here, there]
        }
        #expect(created == [0, 1])
    }

    @Test func stopRunsOnEveryShardAndLaterUseIsAnError() async throws {
        let runtime = try Self.twoShards()
        defer { runtime.shutdown() }
        let stoppedOn = EventLog<Int?>()
        let counters = try await Sharded<Counter>.start(on: runtime) { _ in Counter() }
        try await counters.stop { _ in stoppedOn.append(Shard.current?.id) }
        #expect(Set(stoppedOn.all) == [0, 1])
        let error = await #expect(throws: MinissError.self) { try await counters.invoke(on: 0) { $0.hits } }
        #expect(error?.code == .serviceStopped)
        try await counters.stop()  // again: nothing to do
        #expect(stoppedOn.all.count == 2)
    }

    @Test func aFailedStartReleasesWhatWasCreated() async throws {
        let runtime = try Self.twoShards()
        defer { runtime.shutdown() }
        final class Tracked {
            static let live = Atomic<Int>(0)
            init() { Self.live.add(1, ordering: .relaxed) }
            deinit { Self.live.subtract(1, ordering: .relaxed) }
        }
        await #expect(throws: TestFailure(tag: 1)) {
            _ = try await Sharded<Tracked>.start(on: runtime) { shard in
                if shard.id == 1 { throw TestFailure(tag: 1) }
                return Tracked()
            }
        }
        #expect(Tracked.live.load(ordering: .relaxed) == 0)
    }

    @Test func badShardIdsAreRejected() async throws {
        let runtime = try Self.twoShards()
        defer { runtime.shutdown() }
        let counters = try await Sharded<Counter>.start(on: runtime) { _ in Counter() }
        let error = await #expect(throws: MinissError.self) { try await counters.invoke(on: 9) { $0.hits } }
        #expect(error?.code == .invalidArgument)
        try await counters.stop()
    }
}

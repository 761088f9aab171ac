import Synchronization

@testable import Miniss

/// A runtime in virtual time: sleeping takes no wall time, and the result does not depend on
/// the machine's speed or load.
@discardableResult
func inVirtualTime<T: Sendable>(_ body: sending @escaping () async throws -> T) throws -> T {
    let runtime = try Runtime(
        shards: 1, configuration: .init(time: .virtual, pinThreads: false, idleSpin: .zero))
    defer { runtime.shutdown() }
    return try runtime.run(body)
}

/// A runtime on the real clock, for tests that must not depend on time at all.
func realTimeRuntime(backend: IOBackend = .automatic) throws -> Runtime {
    try Runtime(shards: 1, configuration: .init(backend: backend, pinThreads: false, idleSpin: .zero))
}

/// Time elapsed on the shard clock since `start`.
func elapsed(since start: ShardClock.Instant) -> Duration {
    start.duration(to: ShardClock().now)
}

/// A thread-safe log of events, for checking order.
final class EventLog<Event: Sendable>: Sendable {
    private let events = Lock<[Event]>([])
    func append(_ event: Event) { events.withLock { $0.append(event) } }
    var all: [Event] { events.withLock { $0 } }
}

struct TestFailure: Error, Equatable {
    let tag: Int
}

import Synchronization

/// A message between shards: a call to run on the receiving shard's thread.
package typealias MeshCall = @Sendable () -> Void

/// The N×N mesh of single-producer / single-consumer rings between a runtime's shards (as in
/// Seastar's `smp` queues): the ring from shard `a` to shard `b` is written only by `a`'s
/// thread and read only by `b`'s, so no message takes a lock.
///
/// A message that does not fit (the ring is full) waits in the sender's backlog for that
/// target, flushed by the sender's loop in order; nothing is dropped and no thread blocks.
/// Callers of ``submit(to:_:)`` wait for their reply, so a slow shard slows its callers down
/// (back-pressure).
///
/// Shutdown: a stopping shard counts itself quiescent (no task, job, message, backlog, or reply
/// it is still waiting for) and keeps serving messages until every shard is. A request in
/// flight keeps its sender's reply count up, so the count cannot reach N while one is pending,
/// whoever sent it. Reaching N closes the mesh for good: a later `submit(to:)` (from work a
/// stopped shard still drains) throws instead of posting to a shard that is gone.
package final class Mesh: Sendable {
    package let shardCount: Int
    package let ringCapacity: Int
    private let rings: [SPSCRing<MeshCall, PaddedAtomicIndex>]
    /// The shards, to wake a parked receiver. Strong: each engine drops its reference to the
    /// mesh when its loop ends, which breaks the cycle once every shard has stopped.
    private let engines: [ShardEngine]
    private let quiescentShards = Atomic<Int>(0)
    private let closed = Atomic<Bool>(false)

    package init(engines: [ShardEngine], ringCapacity: Int) {
        precondition(
            ringCapacity >= 2 && ringCapacity & (ringCapacity - 1) == 0, "ring capacity must be a power of two")
        self.shardCount = engines.count
        self.ringCapacity = ringCapacity
        self.engines = engines
        self.rings = (0..<(engines.count * engines.count)).map { _ in SPSCRing(capacity: ringCapacity) }
    }

    func engine(_ id: Int) -> ShardEngine { engines[id] }

    @inline(__always)
    private func ring(from source: Int, to target: Int) -> SPSCRing<MeshCall, PaddedAtomicIndex> {
        rings[source &* shardCount &+ target]
    }

    /// Tries to put `call` on the ring from `source` to `target`; the caller keeps it on failure.
    /// On `source`'s thread.
    func tryPush(_ call: @escaping MeshCall, from source: Int, to target: Int) -> Bool {
        ring(from: source, to: target).tryPush(call)
    }

    /// Wakes `target` if it is parked, after messages were published to it.
    func notify(_ target: Int) {
        // Dekker handshake with the receiver's idle(): it stores `parked` then reads the rings;
        // we published, then read `parked`. The fence orders our release store before that.
        atomicMemoryFence(ordering: .sequentiallyConsistent)
        engines[target].wakeIfParked()
    }

    /// Moves every message waiting for `target` onto its run queue. On `target`'s thread.
    package func receive(into target: ShardEngine) -> Int {
        var received = 0
        for source in 0..<shardCount where source != target.id {
            received &+= ring(from: source, to: target.id).popAll { target.ready.append(.call($0)) }
        }
        return received
    }

    /// Whether a message is waiting for `target`. On `target`'s thread.
    package func hasMessages(for target: ShardEngine) -> Bool {
        for source in 0..<shardCount where source != target.id {
            if ring(from: source, to: target.id).hasPublishedElements { return true }
        }
        return false
    }

    // MARK: Shutdown

    /// A stopping shard has nothing left to do (or has work again, `quiescent == false`).
    func setQuiescent(_ quiescent: Bool) {
        if quiescent {
            if quiescentShards.add(1, ordering: .sequentiallyConsistent).newValue == shardCount {
                closed.store(true, ordering: .sequentiallyConsistent)
                for engine in engines { engine.wakeIfParked() }
            }
        } else {
            quiescentShards.subtract(1, ordering: .sequentiallyConsistent)
        }
    }

    /// Whether every shard has been stopping and quiescent at once: then no message was in
    /// flight, and none may be sent any more. Once true, stays true.
    var isClosed: Bool { closed.load(ordering: .sequentiallyConsistent) }
}

/// One `submit(to:)` in flight: the caller's continuation, the reply, and the remote task.
final class RemoteCall<T: Sendable>: Sendable {
    private struct State {
        var continuation: UnsafeContinuation<T, any Error>?
        var result: Result<T, any Error>?
        var remote: JoinHandle<T>?
        var cancelRequested = false
    }

    private let state = Lock(State())

    /// The reply arrived (on the caller's shard).
    func complete(with result: Result<T, any Error>) {
        let continuation = state.withLock { state -> UnsafeContinuation<T, any Error>? in
            guard let continuation = state.continuation else {
                state.result = result
                return nil
            }
            state.continuation = nil
            return continuation
        }
        continuation?.resume(with: result)
    }

    /// Waits for the reply.
    func value() async throws -> T {
        try await withUnsafeThrowingContinuation { continuation in
            let ready = state.withLock { state -> Result<T, any Error>? in
                if let result = state.result { return result }
                state.continuation = continuation
                return nil
            }
            if let ready { continuation.resume(with: ready) }
        }
    }

    /// The remote task started (on the target shard).
    func started(_ handle: JoinHandle<T>) {
        let cancel = state.withLock { state -> Bool in
            state.remote = handle
            return state.cancelRequested
        }
        if cancel { handle.cancel() }
    }

    /// The caller was cancelled (any thread): cancel the remote task, now or when it starts.
    func cancel() {
        let remote = state.withLock { state -> JoinHandle<T>? in
            state.cancelRequested = true
            return state.remote
        }
        remote?.cancel()
    }
}

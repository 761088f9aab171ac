/// Runs `body` on shard `shard` of the current runtime and returns its value to the calling
/// task, which stays on its own shard.
///
/// The request and the reply travel over the lock-free rings between the two shards. Cancelling
/// the caller cancels the remote task (the caller then receives what the remote task returns or
/// throws, typically `CancellationError`). Requests from one shard to another are delivered in
/// the order they were sent, and on a running shard their bodies start in that order; each body
/// is its own task, so bodies that suspend interleave (and ``MinissSimulator`` explores other
/// start orders of ready tasks, keeping the delivery order). To order two requests, await the
/// first. On the caller's own shard, `body` runs in place.
///
/// ```swift
/// let count = try await submit(to: 1) { await counters.local.value }
/// ```
///
/// - Throws: what `body` throws; `CancellationError`; ``MinissError`` with
///   ``MinissError/Code/notOnShard`` off a shard (use ``Runtime/submit(to:_:)``) or
///   ``MinissError/Code/invalidArgument`` for a shard id out of range.
public func submit<T: Sendable>(to shard: Int, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    guard let engine = ShardEngine.current else { throw MinissError.notOnShard("submit(to:)") }
    return try await engine.submit(to: shard, body)
}

extension Shard {
    /// The number of shards in the runtime the calling code runs on (1 off a shard).
    public static var count: Int { ShardEngine.current?.mesh?.shardCount ?? 1 }
}

extension Runtime {
    /// Runs `body` on shard `shard` and returns its value; callable from any thread or task.
    /// From a shard, prefer the free function ``submit(to:_:)``, which uses the shard mesh.
    /// Cancelling the caller cancels the remote task.
    public func submit<T: Sendable>(to shard: Int, _ body: @escaping @Sendable () async throws -> T) async throws
        -> T
    {
        if let engine = ShardEngine.current, owns(engine) {
            return try await engine.submit(to: shard, body)
        }
        let handle = spawn(on: shard) { try await body() }
        return try await withTaskCancellationHandler {
            try await handle.value
        } onCancel: {
            handle.cancel()
        }
    }
}

extension ShardEngine {
    func submit<T: Sendable>(to target: Int, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let shardCount = mesh?.shardCount ?? 1
        guard (0..<shardCount).contains(target) else {
            throw MinissError.invalidArgument("shard id \(target) is out of range 0..<\(shardCount)")
        }
        if target == id { return try await body() }
        guard let mesh, !mesh.isClosed else { throw MinissError.runtimeNotRunning("submit(to:)") }
        try Task.checkCancellation()  // a cancelled caller sends nothing
        let call = RemoteCall<T>()
        let source = id
        // Counted until the reply is back, so this shard cannot count itself quiescent (and
        // the mesh cannot close) while the request or its reply is in flight.
        pendingReplies += 1
        post(
            {
                // On the target shard: run the body as a task there; its completion (also when
                // it was cancelled before starting) posts the reply back.
                let remote = mesh.engine(target)
                let handle = remote.spawner.spawn(
                    { try await body() },
                    completion: { result in
                        remote.post(
                            {
                                mesh.engine(source).pendingReplies -= 1
                                call.complete(with: result)
                            }, to: source)
                    })
                call.started(handle)
            }, to: target)
        return try await withTaskCancellationHandler {
            try await call.value()
        } onCancel: {
            call.cancel()
        }
    }
}

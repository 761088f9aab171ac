/// The serial executor of one shard, for actors that live on it.
///
/// An actor whose `unownedExecutor` is a shard's serial executor runs every method on that
/// shard's thread: a call from a task on the same shard costs no thread hop.
///
/// ```swift
/// actor Counter {
///     let shard: Shard
///     var value = 0
///     init(on shard: Shard) { self.shard = shard }
///     nonisolated var unownedExecutor: UnownedSerialExecutor {
///         shard.serialExecutor.asUnownedSerialExecutor()
///     }
///     func increment() { value += 1 }
/// }
/// ```
///
/// It is a separate object from the shard's task executor on purpose: running nonisolated task
/// jobs with only the task executor set avoids the extra hops the Swift runtime makes when it
/// believes a nonisolated call is actor-isolated.
public final class ShardSerialExecutor: SerialExecutor {
    // SAFETY: `unowned(unsafe)` avoids a retain cycle with the engine that owns this facade. The
    // engine outlives it: the facade is created and owned by the engine, and actors hold only an
    // unowned reference to their executor, kept valid by the `Shard` value they store.
    unowned(unsafe) let engine: ShardEngine

    init(engine: ShardEngine) {
        self.engine = engine
    }

    /// The id of the shard this executor runs on.
    public var shardID: Int { engine.id }

    /// Queues an actor job on the shard (from any thread). From another shard of the same
    /// runtime the job travels over that shard's ring to this one (no lock); from any other
    /// thread it goes through the shard's inbox.
    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        if let sender = ShardEngine.current, sender !== engine, let mesh = sender.mesh, !mesh.isClosed,
            engine.id < mesh.shardCount, mesh.engine(engine.id) === engine
        {
            let target = engine
            // The call runs on the target's thread, in its loop: run the job right there.
            sender.post({ target.run(.actor(job)) }, to: target.id)
            return
        }
        engine.submit(.actor(job))
    }

    /// The unowned reference actors return from `unownedExecutor`.
    public func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    /// Traps unless called on the shard's thread.
    public func checkIsolated() {
        precondition(
            engine.isCurrent,
            "expected to run on shard \(engine.id)'s thread (an actor bound to it), but this is another thread")
    }

    /// Whether the calling thread is the shard's thread.
    public func isIsolatingCurrentContext() -> Bool? {
        engine.isCurrent
    }
}

import CMinissLinux

/// Routes work that Swift hands to its global executor back onto the shard it came from.
///
/// `Task {}`, `Task.detached {}`, default actors and `Task.sleep` wake-ups do not keep a task
/// executor preference, so Swift enqueues them on the global executor, a Dispatch thread pool.
/// The runtime hook `swift_task_enqueueGlobal_hook` (the one SwiftNIO also uses) sees every such
/// enqueue; Miniss routes those made *on a shard's thread* to that shard and passes all others
/// (test runners, other libraries, threads Miniss does not own) to the previous implementation.
///
/// What still escapes: a task without executor preference that is resumed from a thread Miniss
/// does not own (for example a continuation resumed by a Dispatch callback) continues on the
/// global executor, because nothing ties that task to a shard any more. Tasks started with
/// ``Runtime/spawn(on:_:)`` or ``spawn(_:)`` keep their shard preference and always return.
package enum GlobalExecutorHook {
    /// Installs the hook once per process. Cheap to call again.
    package static let isInstalled: Bool = miniss_install_global_hook { router, job in
        guard let router, let job else { return }
        // SAFETY: the hook calls us only on a thread whose router is set, and the router is a
        // ShardEngine kept alive while it is installed (ShardEngine.withCurrent). `job` is a
        // `Job *` the runtime hands over for us to run exactly once; UnownedJob is a
        // single-pointer wrapper around it.
        let engine = Unmanaged<ShardEngine>.fromOpaque(router).takeUnretainedValue()
        engine.enqueueGlobal(unsafeBitCast(job, to: UnownedJob.self))
    }

    /// Jobs routed to shards and jobs passed through, since the process started.
    static var counts: (routed: UInt64, passedThrough: UInt64) {
        (miniss_hook_routed_count(), miniss_hook_passed_count())
    }
}

import CMinissLinux
import Synchronization

/// One shard's engine: run queue, timer wheel, foreign-thread inbox and I/O driver, owned by
/// one thread. It is also the shard's `TaskExecutor`: tasks spawned on the shard carry it as
/// their executor preference.
///
/// Every source of nondeterminism reaches the engine through a seam: the order jobs run in
/// (``runNext()`` takes the FIFO head; a simulator may run jobs from ``ready`` in its own
/// order through ``run(_:)``), the time
/// (``timeSource``), and blocking/I/O (``driver``). The production loop is ``runLoop()``; a
/// simulator drives the same engine through ``runNext()``, ``drainInbox()``, ``expireTimers()``.
package final class ShardEngine: TaskExecutor, @unchecked Sendable {
    // SAFETY (@unchecked Sendable): the mutable state (`ready`, `wheel`, task list, flags without
    // atomics) is touched only by the thread that runs the engine — the thread whose current
    // router (a thread-local) is this engine. Other threads reach the engine only through
    // `enqueue`, `execute` and `requestStop`, which detect that they are foreign and go through
    // the mutex-protected `inbox` and the atomic `parked` flag.

    package let id: Int
    package let timeSource: any TimeSource
    package let tickNanoseconds: UInt64
    let idleSpinNanoseconds: UInt64
    let budgetJobs: Int

    package var ready = JobQueue()
    package var wheel: TimerWheel<TimerAction>
    package let inbox = Inbox()
    private var inboxScratch: [ShardJob] = []

    /// The I/O backend, created on the shard's thread by ``attach(driver:)``.
    package private(set) var driver: (any ShardDriver)?
    private let parked = Atomic<Bool>(false)

    /// Set (on the shard thread) once shutdown has begun: new tasks start cancelled, sleeps
    /// fail with `CancellationError`.
    package private(set) var isStopping = false
    /// Set (on the shard thread) during the final drain: timers no longer wait.
    package private(set) var isDraining = false

    /// The rings to the other shards (nil for a lone shard, and once the loop has ended).
    package var mesh: Mesh?
    /// Messages to each shard that did not fit in its ring yet, oldest first.
    var outboundBacklog: [[MeshCall]] = []
    package internal(set) var backlogCount = 0
    /// Whether this shard has told the mesh it is stopping with nothing left to do.
    var isQuiescent = false
    /// Requests this shard has sent whose replies have not arrived yet.
    var pendingReplies = 0

    /// Set by a simulator that drives this engine (nil in production).
    package var simulationHooks: SimulationHooks?

    /// The tasks spawned on this shard that are still running (see ShardEngine+Tasks.swift).
    var taskList = TaskRecord.ListHead()
    package internal(set) var liveTaskCount = 0

    /// What `spawn` uses (see ``TaskSpawner``). Set once in `init`, read from any thread.
    package private(set) var spawner: TaskSpawner!

    /// The serial-executor facade for shard-bound actors. Set once in `init`, read from any
    /// thread.
    package private(set) var serialExecutor: ShardSerialExecutor!

    package init(
        id: Int, timeSource: any TimeSource, tickNanoseconds: UInt64 = 1_000_000,
        idleSpinNanoseconds: UInt64 = 0, budgetJobs: Int = 256
    ) {
        precondition(tickNanoseconds > 0, "tickNanoseconds must be positive")
        precondition(budgetJobs > 0, "budgetJobs must be positive")
        self.id = id
        self.timeSource = timeSource
        self.tickNanoseconds = tickNanoseconds
        self.idleSpinNanoseconds = idleSpinNanoseconds
        self.budgetJobs = budgetJobs
        self.wheel = TimerWheel(startTick: timeSource.nowNanoseconds / tickNanoseconds)
        self.spawner = TaskSpawner(engine: self)
        self.serialExecutor = ShardSerialExecutor(engine: self)
    }

    // MARK: Thread identity

    /// The engine that owns the calling thread, if any.
    package static var current: ShardEngine? {
        guard let router = miniss_current_router() else { return nil }
        // SAFETY: the router thread-local is set only by `withCurrent`, which holds a strong
        // reference to the engine for as long as the pointer is installed.
        return Unmanaged<ShardEngine>.fromOpaque(router).takeUnretainedValue()
    }

    /// Whether the calling thread is the one running this engine.
    package var isCurrent: Bool {
        // SAFETY: only compares addresses; no reference is created from the pointer.
        miniss_current_router() == Unmanaged.passUnretained(self).toOpaque()
    }

    /// Runs `body` with this engine installed as the calling thread's router.
    package func withCurrent<R>(_ body: () throws -> R) rethrows -> R {
        let previous = miniss_current_router()
        // SAFETY: `self` stays alive for the whole call (it is the receiver), and the previous
        // router is restored before returning, so the pointer never outlives the engine.
        miniss_set_current_router(Unmanaged.passUnretained(self).toOpaque())
        defer { miniss_set_current_router(previous) }
        return try withExtendedLifetime(self) { try body() }
    }

    // MARK: Enqueueing (any thread)

    package func enqueue(_ job: consuming ExecutorJob) {
        submit(.task(UnownedJob(job)))
    }

    /// Adds a job: straight onto the run queue from the shard thread, through the inbox (and a
    /// wake-up if the shard is parked) from any other thread.
    package func submit(_ job: ShardJob) {
        if isCurrent {
            ready.append(job)
        } else {
            submitForeign(job)
        }
    }

    /// Runs `call` on the shard thread, after the job that is running now.
    package func execute(_ call: @escaping @Sendable () -> Void) {
        submit(.call(call))
    }

    /// Runs `call` on the shard thread, like ``execute(_:)``; returns false (and drops `call`)
    /// once the shard's thread has ended.
    package func tryExecute(_ call: @escaping @Sendable () -> Void) -> Bool {
        if isCurrent {
            ready.append(.call(call))
            return true
        }
        guard inbox.push(.call(call)) else { return false }
        wakeIfParked()
        return true
    }

    private func submitForeign(_ job: ShardJob) {
        simulationHooks?.noteForeignSubmit(shard: id)
        guard inbox.push(job) else {
            return Self.runAfterShutdown(job, shard: id)
        }
        wakeIfParked()
    }

    /// Wakes the shard if it is parked (any thread; the caller has published its work).
    package func wakeIfParked() {
        if parked.exchange(false, ordering: .sequentiallyConsistent) {
            driver?.wake()
        }
    }

    /// A job that arrives after the shard's thread has ended cannot be dropped (its task would
    /// hang forever): tasks continue on the global executor, and so do sleep wake-ups, at once
    /// (as at shutdown). Engine calls only make sense on the shard (cancelling a timer of a
    /// stopped shard, stopping it again) and are dropped. Actors bound to a dead shard are a
    /// programming error.
    private static func runAfterShutdown(_ job: ShardJob, shard: Int) {
        switch job {
        case .task(let job), .timer(let job, _): globalConcurrentExecutor.enqueue(job)
        case .call: break
        case .actor:
            preconditionFailure("an actor bound to shard \(shard) was used after its Runtime shut down")
        }
    }

    /// Called by the global-executor hook for jobs enqueued on this engine's thread (plain
    /// `Task {}`, `Task.detached`, `Task.sleep` wake-ups, default actors).
    package func enqueueGlobal(_ job: UnownedJob) {
        ready.append(.task(job))
    }

    // MARK: Running jobs (shard thread)

    /// Runs the next job in FIFO order. Returns false if the run queue was empty.
    @discardableResult
    package func runNext() -> Bool {
        guard let job = ready.popFirst() else { return false }
        run(job)
        return true
    }

    /// Runs one job that was taken off the run queue.
    package func run(_ job: ShardJob) {
        switch job {
        case .task(let job):
            job.runSynchronously(on: asUnownedTaskExecutor())
        case .actor(let job):
            // Callers of a shard-bound actor may be tasks from outside the runtime; when the
            // method returns they are enqueued from this thread, and routing would adopt them
            // onto the shard. Suspended routing sends them back to their own executor (tasks
            // spawned on the shard return through their executor preference regardless).
            let wasSuspended = miniss_set_routing_suspended(true)
            defer { _ = miniss_set_routing_suspended(wasSuspended) }
            job.runSynchronously(
                isolatedTo: serialExecutor.asUnownedSerialExecutor(), taskExecutor: asUnownedTaskExecutor())
        case .timer(let job, let deadline):
            schedule(job, atNanoseconds: deadline)
        case .call(let call):
            call()
        }
    }

    /// Moves jobs from other threads onto the run queue (`force`: even if none is flagged yet).
    @discardableResult
    package func drainInbox(force: Bool = false) -> Int {
        inbox.drain(into: &ready, scratch: &inboxScratch, force: force)
    }

    // MARK: Time (shard thread)

    package var nowNanoseconds: UInt64 { timeSource.nowNanoseconds }

    /// The first tick at or after `nanoseconds`: a timer placed there never fires early.
    package func tick(notBefore nanoseconds: UInt64) -> UInt64 {
        nanoseconds / tickNanoseconds + (nanoseconds % tickNanoseconds == 0 ? 0 : 1)
    }

    /// Fires every timer that is due. Returns how many fired.
    @discardableResult
    package func expireTimers() -> Int {
        guard let next = wheel.nextExpiration() else { return 0 }
        let nowTick = timeSource.nowNanoseconds / tickNanoseconds
        guard next <= nowTick else { return 0 }
        var fired = 0
        wheel.advance(to: nowTick) { _, action in
            fired += 1
            fire(action)
        }
        return fired
    }

    private func fire(_ action: TimerAction) {
        switch action {
        case .job(let job): ready.append(.task(job))
        case .resume(let sleeper): sleeper.resume(with: .success(()))
        }
    }

    // MARK: The production loop (shard thread)

    /// Installs the driver. Called once, on the shard's thread, before ``runLoop()``.
    package func attach(driver: any ShardDriver) {
        precondition(self.driver == nil, "shard \(id) already has a driver")
        self.driver = driver
    }

    /// Runs the shard until ``requestStop()`` has been processed and every task the shard owns
    /// has finished, then drains what is left and closes the driver. Must run with this engine
    /// as the thread's router (``withCurrent(_:)``).
    package func runLoop() {
        precondition(isCurrent, "runLoop must run on the shard's own thread")
        precondition(driver != nil, "attach(driver:) must be called before runLoop()")
        while true {
            var budget = budgetJobs
            while budget > 0, runNext() { budget -= 1 }
            drainInbox()
            if let mesh {
                if backlogCount > 0 { flushOutbound(mesh) }
                _ = mesh.receive(into: self)
            }
            expireTimers()
            if isStopping && updateQuiescence() { break }
            if ready.isEmpty {
                idle()
            } else if let driver, driver.hasPendingIO {
                // Busy, with I/O outstanding: submit and reap without waiting (one enter).
                driver.park(timeoutNanoseconds: 0)
            }
        }
        finalDrain()
        mesh = nil
        driver?.close()
    }

    /// Whether a stopping shard may end its loop: it has nothing left, and (with other shards)
    /// every shard has nothing left, so no message can still arrive.
    private func updateQuiescence() -> Bool {
        let quiescent =
            liveTaskCount == 0 && ready.isEmpty && backlogCount == 0 && pendingReplies == 0 && !inbox.hasJobs
            && !(mesh?.hasMessages(for: self) ?? false)
        guard let mesh else { return quiescent }
        if quiescent != isQuiescent {
            isQuiescent = quiescent
            mesh.setQuiescent(quiescent)
        }
        return quiescent && mesh.isClosed
    }

    /// Nothing is runnable: spin briefly for work from other threads, then park until the next
    /// timer (or jump to it, in virtual time).
    private func idle() {
        // Spinning would delay I/O completions, which arrive only through a park.
        if idleSpinNanoseconds > 0 && !timeSource.isVirtual && !(driver?.hasPendingIO ?? false) {
            let spinUntil = timeSource.nowNanoseconds + idleSpinNanoseconds
            var polls = 0
            while true {
                if hasReasonToWake { return }
                polls &+= 1
                // A backlog waits for room in a ring its receiver drains silently: retry now
                // and then instead of spinning the whole idle period.
                if backlogCount > 0 && polls & 255 == 0 { return }
                if polls & 31 == 0 && timeSource.nowNanoseconds >= spinUntil { break }
            }
        }
        let nextTick = wheel.nextExpiration()
        if timeSource.isVirtual, let nextTick {
            // Nothing can happen before the next timer: move time there instead of waiting.
            timeSource.advance(to: nextTick * tickNanoseconds)
            return
        }
        parked.store(true, ordering: .sequentiallyConsistent)
        // Dekker handshake with submitForeign and Mesh.notify: either we see their work here,
        // or they see `parked` (the fence orders our store before the rings' acquire loads).
        atomicMemoryFence(ordering: .sequentiallyConsistent)
        if hasReasonToWake {
            parked.store(false, ordering: .sequentiallyConsistent)
            return
        }
        var timeout: UInt64? = nil
        if let nextTick {
            let deadline = nextTick * tickNanoseconds
            let now = timeSource.nowNanoseconds
            timeout = deadline > now ? deadline - now : 0
        }
        if backlogCount > 0 {
            // A full ring is drained by its receiver, which does not tell us: look again soon
            // (the epoll driver rounds this up to 1 ms).
            timeout = min(timeout ?? Self.backlogRetryNanoseconds, Self.backlogRetryNanoseconds)
        }
        driver?.park(timeoutNanoseconds: timeout)
        parked.store(false, ordering: .sequentiallyConsistent)
    }

    static let backlogRetryNanoseconds: UInt64 = 50_000

    /// Whether an idle shard must get back to its loop: another thread or shard handed it
    /// work, or (stopping) every shard has become quiescent, so it can end.
    private var hasReasonToWake: Bool {
        guard let mesh else { return inbox.hasJobs }
        return inbox.hasJobs || mesh.hasMessages(for: self) || (isQuiescent && mesh.isClosed)
    }

    // MARK: Messages to other shards (shard thread)

    /// Sends `call` to run on shard `target`, in order with this shard's earlier messages to it.
    /// Never blocks and never drops: a full ring leaves the message in the backlog.
    func post(_ call: @escaping MeshCall, to target: Int) {
        guard let mesh else { preconditionFailure("shard \(id) has no mesh to post to shard \(target)") }
        precondition(isCurrent, "messages are posted from the sending shard's thread")
        if outboundBacklog.isEmpty { outboundBacklog = Array(repeating: [], count: mesh.shardCount) }
        if outboundBacklog[target].isEmpty && mesh.tryPush(call, from: id, to: target) {
            mesh.notify(target)
        } else {
            outboundBacklog[target].append(call)
            backlogCount += 1
        }
    }

    /// Moves backlogged messages into rings that have room again, oldest first.
    package func flushOutbound(_ mesh: Mesh) {
        for target in outboundBacklog.indices where !outboundBacklog[target].isEmpty {
            var sent = 0
            for call in outboundBacklog[target] {
                guard mesh.tryPush(call, from: id, to: target) else { break }
                sent += 1
            }
            if sent > 0 {
                outboundBacklog[target].removeFirst(sent)
                backlogCount -= sent
                mesh.notify(target)
            }
        }
    }

    // MARK: Tasks and shutdown (shard thread unless noted)

    /// Asks the shard to stop: it cancels its tasks, lets them finish, then ends its loop. Any
    /// thread; idempotent.
    package func requestStop() {
        execute { [self] in
            guard !isStopping else { return }
            isStopping = true
            taskList.forEach { $0.task?.cancel() }
        }
    }

    /// Last steps on the shard thread: refuse new foreign work, release sleepers and timers, run
    /// what is left.
    package func finalDrain(jobBudget: Int = 10_000_000) {
        isStopping = true
        isDraining = true
        inbox.close()
        // Forced: a push that appended before the close but has not raised the flag yet.
        drainInbox(force: true)
        if let mesh { _ = mesh.receive(into: self) }
        // I/O still in flight (a listener's armed accept, a foreign task's read) completes now,
        // cancelled, so the kernel owns no buffer once the loop is gone.
        driver?.cancelAll()
        for action in wheel.removeAll() {
            switch action {
            // A `Task.sleep` wake-up: runs early, so its task can finish (cancelled sleeps are
            // no-ops; a task the runtime does not own sees its sleep end at shutdown).
            case .job(let job): ready.append(.task(job))
            case .resume(let sleeper): sleeper.resume(with: .failure(CancellationError()))
            }
        }
        // Bounded: a task that keeps rescheduling itself forever is reported, not spun on.
        var remainingJobs = jobBudget
        while remainingJobs > 0, runNext() {
            remainingJobs -= 1
            if ready.isEmpty { drainInbox() }
        }
        if !ready.isEmpty {
            print("miniss: shard \(id) stopped with \(ready.count) jobs still runnable; they were not run")
        }
    }
}

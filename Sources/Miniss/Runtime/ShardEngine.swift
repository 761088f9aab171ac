import CMinissLinux
import Synchronization

/// What a timer does when it fires.
package enum TimerAction {
    /// Run a job: a `Task.sleep` wake-up handed to the shard through `SchedulingExecutor`.
    case job(UnownedJob)
    /// Resume a task suspended in ``sleep(for:tolerance:)``.
    case resume(Sleeper)
}

/// One shard's engine: run queue, timer wheel, foreign-thread inbox and I/O driver, owned by
/// one thread. It is also the shard's `TaskExecutor`: tasks spawned on the shard carry it as
/// their executor preference.
///
/// Every source of nondeterminism reaches the engine through a seam: the order jobs run in
/// (``runNext()`` takes the FIFO head; a simulator may pick from ``ready`` itself), the time
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

    private var taskList = TaskRecord.ListHead()
    package private(set) var liveTaskCount = 0

    /// The serial-executor facade for shard-bound actors.
    package private(set) lazy var serialExecutor = ShardSerialExecutor(engine: self)

    // Counters (shard thread only).
    package private(set) var jobsRun: UInt64 = 0
    package private(set) var timersFired: UInt64 = 0
    package private(set) var parks: UInt64 = 0

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

    private func submitForeign(_ job: ShardJob) {
        guard inbox.push(job) else {
            return Self.runAfterShutdown(job, shard: id)
        }
        if parked.exchange(false, ordering: .sequentiallyConsistent) {
            driver?.wake()
        }
    }

    /// A job that arrives after the shard's thread has ended cannot be dropped (its task would
    /// hang forever): tasks continue on the global executor; actors bound to a dead shard are a
    /// programming error.
    private static func runAfterShutdown(_ job: ShardJob, shard: Int) {
        switch job {
        case .task(let job): globalConcurrentExecutor.enqueue(job)
        case .call(let call): call()
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
        jobsRun &+= 1
        switch job {
        case .task(let job):
            job.runSynchronously(on: asUnownedTaskExecutor())
        case .actor(let job):
            job.runSynchronously(
                isolatedTo: serialExecutor.asUnownedSerialExecutor(), taskExecutor: asUnownedTaskExecutor())
        case .call(let call):
            call()
        }
    }

    /// Moves jobs from other threads onto the run queue.
    @discardableResult
    package func drainInbox() -> Int {
        inbox.drain(into: &ready, scratch: &inboxScratch)
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
        timersFired &+= UInt64(fired)
        return fired
    }

    private func fire(_ action: TimerAction) {
        switch action {
        case .job(let job): ready.append(.task(job))
        case .resume(let sleeper): sleeper.resume(with: .success(()))
        }
    }

    /// Schedules `job` to run once the time is `deadlineNanoseconds` or later.
    package func schedule(_ job: UnownedJob, atNanoseconds deadlineNanoseconds: UInt64) {
        precondition(isCurrent, "ShardEngine.schedule must run on shard \(id)'s thread")
        if isDraining {
            ready.append(.task(job))
        } else {
            _ = wheel.insert(deadline: tick(notBefore: deadlineNanoseconds), .job(job))
        }
    }

    /// Suspends the calling task until `deadlineNanoseconds`; cancellation resumes it early with
    /// `CancellationError`, and removes its timer.
    package func sleep(untilNanoseconds deadlineNanoseconds: UInt64) async throws {
        precondition(isCurrent, "ShardEngine.sleep must run on shard \(id)'s thread")
        try Task.checkCancellation()
        if isStopping { throw CancellationError() }
        let sleeper = Sleeper()
        try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Void, any Error>) in
                sleeper.continuation = continuation
                sleeper.timer = wheel.insert(deadline: tick(notBefore: deadlineNanoseconds), .resume(sleeper))
            }
        } onCancel: {
            // Any thread: the timer belongs to the shard, so the shard cancels it.
            self.execute { [self] in
                if let timer = sleeper.timer, wheel.cancel(timer) != nil {
                    sleeper.resume(with: .failure(CancellationError()))
                }
            }
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
            expireTimers()
            if ready.isEmpty {
                if isStopping && liveTaskCount == 0 && !inbox.hasJobs { break }
                idle()
            }
        }
        finalDrain()
        driver?.close()
    }

    /// Nothing is runnable: spin briefly for work from other threads, then park until the next
    /// timer (or jump to it, in virtual time).
    private func idle() {
        if idleSpinNanoseconds > 0 && !timeSource.isVirtual {
            let spinUntil = timeSource.nowNanoseconds + idleSpinNanoseconds
            while !inbox.hasJobs && timeSource.nowNanoseconds < spinUntil {}
            if inbox.hasJobs { return }
        }
        let nextTick = wheel.nextExpiration()
        if timeSource.isVirtual, let nextTick {
            // Nothing can happen before the next timer: move time there instead of waiting.
            timeSource.advance(to: nextTick * tickNanoseconds)
            return
        }
        parked.store(true, ordering: .sequentiallyConsistent)
        // Dekker handshake with submitForeign: either we see its job here, or it sees `parked`.
        if inbox.hasJobs {
            parked.store(false, ordering: .sequentiallyConsistent)
            return
        }
        var timeout: UInt64? = nil
        if let nextTick {
            let deadline = nextTick * tickNanoseconds
            let now = timeSource.nowNanoseconds
            timeout = deadline > now ? deadline - now : 0
        }
        parks &+= 1
        driver?.park(timeoutNanoseconds: timeout)
        parked.store(false, ordering: .sequentiallyConsistent)
    }

    // MARK: Tasks and shutdown (shard thread unless noted)

    /// Spawns `body` as a task on this shard; `completion` (if any) runs on the shard with the
    /// result, before the task finishes. Any thread.
    package func spawnTask<T: Sendable>(
        _ body: sending @escaping () async throws -> T,
        completion: (@Sendable (Result<T, any Error>) -> Void)? = nil
    ) -> JoinHandle<T> {
        let record = TaskRecord.Of<T>()
        let task = Task<T, any Error>(executorPreference: self) { [self] in
            register(record)
            defer { unregister(record) }
            let result: Result<T, any Error>
            do {
                // A task cancelled before it started does not run its body.
                try Task.checkCancellation()
                result = .success(try await body())
            } catch {
                result = .failure(error)
            }
            completion?(result)
            record.complete(with: result)
            return try result.get()
        }
        return JoinHandle(task: task, record: record)
    }

    private func register(_ record: TaskRecord) {
        guard isCurrent else {
            // The shard's thread has ended (the job was handed to the global executor): the
            // task still runs, cancelled, so whoever awaits it is not left hanging.
            withUnsafeCurrentTask { $0?.cancel() }
            return
        }
        withUnsafeCurrentTask { record.task = $0 }
        record.isRegistered = true
        taskList.insert(record)
        liveTaskCount += 1
        if isStopping { record.task?.cancel() }
    }

    private func unregister(_ record: TaskRecord) {
        defer { record.markFinished() }
        guard record.isRegistered else { return }
        record.isRegistered = false
        taskList.remove(record)
        record.task = nil
        liveTaskCount -= 1
    }

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
    private func finalDrain() {
        isStopping = true
        isDraining = true
        inbox.close()
        drainInbox()
        for action in wheel.removeAll() {
            switch action {
            // A `Task.sleep` wake-up: runs early, so its task can finish (cancelled sleeps are
            // no-ops; a task the runtime does not own sees its sleep end at shutdown).
            case .job(let job): ready.append(.task(job))
            case .resume(let sleeper): sleeper.resume(with: .failure(CancellationError()))
            }
        }
        // Bounded: a task that keeps rescheduling itself forever is reported, not spun on.
        var remainingJobs = 10_000_000
        while remainingJobs > 0, runNext() {
            remainingJobs -= 1
            if ready.isEmpty { drainInbox() }
        }
        if !ready.isEmpty {
            print("miniss: shard \(id) stopped with \(ready.count) jobs still runnable; they were not run")
        }
    }
}

/// A task suspended in ``ShardEngine/sleep(untilNanoseconds:)``.
package final class Sleeper: @unchecked Sendable {
    // SAFETY (@unchecked Sendable): created, fired and cancelled on the owning shard's thread
    // only (the cancellation handler forwards to that thread with `execute`).
    var continuation: UnsafeContinuation<Void, any Error>?
    var timer: TimerID?

    /// Resumes the sleeping task once; later calls do nothing.
    func resume(with result: Result<Void, any Error>) {
        guard let continuation else { return }
        self.continuation = nil
        timer = nil
        continuation.resume(with: result)
    }
}

/// Bookkeeping for one spawned task: lets the shard cancel it at shutdown, and backs
/// ``JoinHandle/isFinished`` and waits from outside the runtime.
package class TaskRecord: @unchecked Sendable {
    // SAFETY (@unchecked Sendable): `task`, `isRegistered`, `next` and `previous` are used only
    // on the owning shard's thread (register/unregister/shutdown run there); `finished` is
    // atomic; the result and waiters of `Of<T>` are behind a mutex.
    var task: UnsafeCurrentTask?
    var isRegistered = false
    var next: TaskRecord?
    // SAFETY: unowned(unsafe) avoids a retain cycle; a linked record's predecessor is alive
    // because the list retains every linked record (through `first` or a `next`).
    unowned(unsafe) var previous: TaskRecord?
    private let finished = Atomic<Bool>(false)

    var isFinished: Bool { finished.load(ordering: .acquiring) }
    func markFinished() { finished.store(true, ordering: .releasing) }

    /// The record of a task returning `T`: keeps the result for waiters outside the runtime.
    final class Of<T: Sendable>: TaskRecord, @unchecked Sendable {
        private struct State {
            var result: Result<T, any Error>?
            var waiters: [UnsafeContinuation<T, any Error>] = []
        }

        private let state = Mutex(State())

        /// Stores the result and resumes the outside waiters. Called once, on the shard.
        func complete(with result: Result<T, any Error>) {
            let waiters = state.withLock { state in
                state.result = result
                defer { state.waiters = [] }
                return state.waiters
            }
            guard !waiters.isEmpty else { return }
            // The waiters are tasks from outside the runtime. Resumed with the shard's routing
            // in force, the global-executor hook would adopt them onto this shard's thread;
            // suspending the routing sends them back to the executor they came from.
            let router = miniss_current_router()
            miniss_set_current_router(nil)
            defer { miniss_set_current_router(router) }
            for waiter in waiters { waiter.resume(with: result) }
        }

        /// Waits for the result from a task that does not run on a shard.
        func valueFromOutside() async throws -> T {
            try await withUnsafeThrowingContinuation { continuation in
                let ready = state.withLock { state -> Result<T, any Error>? in
                    if let result = state.result { return result }
                    state.waiters.append(continuation)
                    return nil
                }
                if let ready { continuation.resume(with: ready) }
            }
        }
    }

    /// An intrusive doubly linked list of live tasks; O(1) insert and remove.
    struct ListHead {
        private var first: TaskRecord?

        mutating func insert(_ record: TaskRecord) {
            record.next = first
            record.previous = nil
            first?.previous = record
            first = record
        }

        mutating func remove(_ record: TaskRecord) {
            if let previous = record.previous { previous.next = record.next } else { first = record.next }
            record.next?.previous = record.previous
            record.next = nil
            record.previous = nil
        }

        func forEach(_ body: (TaskRecord) -> Void) {
            var cursor = first
            while let record = cursor {
                cursor = record.next
                body(record)
            }
        }
    }
}

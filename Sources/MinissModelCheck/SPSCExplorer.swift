import Miniss

#if canImport(Glibc)
    import Glibc
#endif

/// Runs the real ring under a chosen schedule: the producer and the consumer are two OS threads
/// that pass a baton, so exactly one of them runs at a time, and only the baton holder decides
/// who runs next. Every shared-index load and store of the ring (through ``SPSCSteppingIndex``)
/// is bracketed by scheduling points, so the ring code itself runs unmodified.
///
/// The executions explored are sequentially consistent: the steps of the two threads
/// interleave, and every memory access sees the latest write. Weak-memory reorderings that
/// release/acquire permits but SC does not are out of scope (the real-thread stress mode and
/// `make tsan` cover the orderings on real hardware).
///
/// A thread whose call made no progress (a full ring for the producer, an empty one for the
/// consumer) waits until the other side stores an index, unless it already has since the call
/// began: retrying before that would read the same indices and fail the same way, so the
/// skipped schedules only repeat failed attempts. This keeps runs finite without counting
/// busy-waiting as steps, as CHESS's fair scheduling does.
final class SPSCExplorer: @unchecked Sendable {
    // SAFETY (@unchecked Sendable): the fields below are touched only by the baton holder: the
    // main thread between runs, or during a run the one worker thread whose semaphore was last
    // posted (`current`). Handing the baton is a sem_post followed by the receiver's sem_wait,
    // which orders every access before the hand-over with every access after it.
    static let producer = 0
    static let consumer = 1
    /// The semaphore the main thread waits on during a run.
    private static let mainThread = 2
    /// The value every slot holds before a run starts: reading a slot never written in the run
    /// shows up as this value.
    static let sentinel = -1

    let capacity: Int
    let items: Int
    let plantedBug: SPSCPlantedBug
    let maxSteps: Int

    /// The explorer a ring under construction belongs to (read by ``SPSCSteppingIndex/init(_:)``).
    @TaskLocal static var building: SPSCExplorer?

    private let semaphores: UnsafeMutablePointer<sem_t>
    private var threads: [pthread_t] = []
    private var shuttingDown = false

    // Per-run state.
    private(set) var ring: SPSCRing<Int, SPSCSteppingIndex>?
    private var picker: any SPSCSchedulePicker = SPSCRandomPicker(seed: 0)
    private var scheduled = false
    private(set) var aborted = false
    private var current = -1
    private var finished = [false, false]
    private var parked = [false, false]
    /// The step in which each thread last stored an index.
    private var lastStoreStep = [0, 0]
    private(set) var step = 0
    private var schedule: [Int] = []
    private var preemptions = 0
    private var failure: (kind: SPSCFailureKind, message: String)?
    private var events: [[SPSCEvent]] = [[], []]
    private var received: [Int] = []
    private var indexesBuilt = 0
    private var logging = false
    private var log: [String] = []

    /// The result of one run.
    struct Run {
        var steps: Int
        var schedule: [Int]
        var preemptions: Int
        var failure: (kind: SPSCFailureKind, message: String)?
        var log: [String]
    }

    init(capacity: Int, items: Int, plantedBug: SPSCPlantedBug, maxSteps: Int) {
        self.capacity = capacity
        self.items = items
        self.plantedBug = plantedBug
        self.maxSteps = maxSteps
        // SAFETY: three semaphores (producer, consumer, main), destroyed and freed in deinit
        // after `shutdown()` has joined both workers.
        semaphores = .allocate(capacity: 3)
        for index in 0..<3 { sem_init(semaphores + index, 0, 0) }
        for worker in [Self.producer, Self.consumer] { threads.append(startWorker(worker)) }
    }

    deinit {
        precondition(threads.isEmpty, "SPSCExplorer released without shutdown()")
        for index in 0..<3 { sem_destroy(semaphores + index) }
        semaphores.deallocate()
    }

    /// Ends both worker threads. Call once, between runs.
    func shutdown() {
        shuttingDown = true
        post(Self.producer)
        post(Self.consumer)
        for thread in threads { pthread_join(thread, nil) }
        threads.removeAll()
    }

    // MARK: Running one schedule

    /// Runs the workload once under `picker`; with `logging`, records what each step did.
    func run<Picker: SPSCSchedulePicker>(_ picker: inout Picker, logging: Bool = false) -> Run {
        picker.startRun()
        self.picker = picker
        self.logging = logging
        resetRunState()
        // Build the ring outside the schedule, then pass `capacity` sentinels through it: every
        // slot holds the sentinel and the indices start past a wrap.
        scheduled = false
        indexesBuilt = 0
        let ring = Self.$building.withValue(self) { makeRing() }
        var written = 0
        for _ in 0..<(4 * capacity) where written < capacity {
            // A planted bug may refuse pushes early: drain and go on until every slot was written.
            if ring.tryPushWithoutPublishing(Self.sentinel) {
                written += 1
            } else {
                ring.publish()
                ring.popAll { _ in }
            }
        }
        ring.publish()
        ring.popAll { _ in }
        self.ring = ring
        scheduled = true

        if let first = chooseNext(running: nil) {
            current = first
            post(first)
            wait(Self.mainThread)
        }
        scheduled = false
        self.ring = nil
        picker = self.picker as! Picker
        if failure == nil { failure = checkHistory() }
        flushLogLine()
        return Run(steps: step, schedule: schedule, preemptions: preemptions, failure: failure, log: log)
    }

    private func makeRing() -> SPSCRing<Int, SPSCSteppingIndex> {
        #if DEBUG
            return SPSCRing(capacity: capacity, mutant: plantedBug.ringMutant)
        #else
            precondition(plantedBug == .none, "planted bugs exist only in debug builds")
            return SPSCRing(capacity: capacity)
        #endif
    }

    private func resetRunState() {
        aborted = false
        current = -1
        finished = [false, false]
        parked = [false, false]
        lastStoreStep = [0, 0]
        step = 0
        schedule.removeAll(keepingCapacity: true)
        preemptions = 0
        failure = nil
        events = [[], []]
        received.removeAll(keepingCapacity: true)
        log.removeAll()
    }

    // MARK: Scheduling (called by the baton holder)

    /// A scheduling point inside a ring operation (before or after a shared-index access).
    func schedulingPoint() {
        guard scheduled, !aborted else { return }
        let me = current
        guard let next = chooseNext(running: me), next != me else { return }
        handOver(from: me, to: next)
    }

    /// The calling thread's call invoked at step `invocationStep` made no progress: unless the
    /// other side has stored an index since then, the caller waits until it does (or the run is
    /// aborted).
    func waitForOtherSide(sinceStep invocationStep: Int) {
        guard scheduled, !aborted else { return }
        let me = current
        let other = 1 - me
        if lastStoreStep[other] > invocationStep { return }  // a retry may see something new
        if finished[other] || parked[other] {
            fail(.deadlock, deadlockMessage(waiting: me))
            return
        }
        parked[me] = true
        guard let next = chooseNext(running: me) else {
            parked[me] = false
            return
        }
        handOver(from: me, to: next)
    }

    /// A shared index was stored: the other side, if waiting, may run again.
    func didStore(_ label: String, _ value: Int) {
        guard scheduled else { return }
        parked[1 - current] = false
        lastStoreStep[current] = step
        note("store \(label)=\(value)")
    }

    /// The calling thread's workload is done: the baton goes to the other thread, or back to
    /// the main thread when both are done.
    func finishWorkload() {
        let me = current
        finished[me] = true
        parked[me] = false
        let other = 1 - me
        if finished[other] {
            post(Self.mainThread)
            return
        }
        if !aborted {
            if parked[other] {
                fail(.deadlock, deadlockMessage(waiting: other))
            } else {
                _ = chooseNext(running: me)
            }
        }
        current = other
        post(other)
    }

    /// Takes one step: asks the picker which runnable thread goes next. nil if the step bound
    /// is exceeded (the run is then aborted).
    private func chooseNext(running: Int?) -> Int? {
        step += 1
        if step > maxSteps {
            step -= 1
            fail(
                .stepBoundExceeded,
                "still running after \(maxSteps) steps (\(received.count) of \(items) received): livelock or runaway loop"
            )
            return nil
        }
        var runnable: [Int] = []
        runnable.reserveCapacity(2)
        for thread in [Self.producer, Self.consumer] where !finished[thread] && !parked[thread] {
            runnable.append(thread)
        }
        precondition(!runnable.isEmpty, "no runnable thread at a scheduling point")
        let point = SPSCChoicePoint(runnable: runnable, running: running, step: step)
        let next = picker.pick(point)
        precondition(runnable.contains(next), "the picker chose a thread that cannot run")
        if point.isPreemption(next) { preemptions += 1 }
        schedule.append(next)
        if logging {
            flushLogLine()
            logLine = "step \(step) \(next == Self.producer ? "P" : "C"):"
        }
        return next
    }

    private func handOver(from me: Int, to next: Int) {
        current = next
        post(next)
        wait(me)
    }

    private func fail(_ kind: SPSCFailureKind, _ message: String) {
        if failure == nil { failure = (kind, message) }
        aborted = true
    }

    private func deadlockMessage(waiting: Int) -> String {
        let other = 1 - waiting
        let got = "\(received.count) of \(items) received"
        switch (waiting, finished[other]) {
        case (Self.consumer, true):
            return
                "the producer has pushed every item but the consumer finds the ring empty (\(got)): elements lost or never published"
        case (Self.producer, true):
            return "the consumer has finished but the producer still finds the ring full (\(got))"
        default:
            return "the producer waits for room while the consumer waits for elements (\(got))"
        }
    }

    // MARK: History

    /// Records a completed call of the calling thread, invoked at `invocationStep`.
    func record(_ call: SPSCCall, invokedAt invocationStep: Int) {
        events[current].append(SPSCEvent(call: call, invocationStep: invocationStep, responseStep: step))
        note("=> \(call)")
    }

    /// Records values the consumer received.
    func consumerReceived(_ value: Int) { received.append(value) }

    private func checkHistory() -> (kind: SPSCFailureKind, message: String)? {
        for (position, value) in received.enumerated() where value != position + 1 {
            let expected = position + 1
            let what =
                if value == Self.sentinel {
                    "the sentinel \(value): a slot never written in this run"
                } else if value < expected {
                    "\(value) again: a duplicate or a stale slot"
                } else if value <= items {
                    "\(value): \(expected) was lost or overtaken"
                } else {
                    "\(value): a value never pushed"
                }
            return (.wrongValue, "the consumer expected \(expected) but got \(what)")
        }
        if received.count != items {
            return (.wrongValue, "the consumer received \(received.count) values, expected \(items)")
        }
        let check = SPSCLinearizabilityCheck(
            capacity: capacity, producer: events[Self.producer], consumer: events[Self.consumer])
        return check.violation().map { (.notLinearizable, $0) }
    }

    // MARK: Step log

    private var logLine = ""

    /// Adds what the running thread did to the current step's log line.
    func note(_ text: @autoclosure () -> String) {
        guard logging, scheduled else { return }
        logLine += " " + text()
    }

    private func flushLogLine() {
        if logLine.hasSuffix(":") { logLine += " (plain code only)" }
        if !logLine.isEmpty { log.append(logLine) }
        logLine = ""
    }

    /// A label for the next index the ring under construction creates: the ring creates the
    /// producer's `tail` first, then the consumer's `head` (a label for traces only).
    func nextIndexLabel() -> String {
        defer { indexesBuilt += 1 }
        return indexesBuilt == 0 ? "tail" : "head"
    }

    // MARK: Threads

    private func post(_ index: Int) { sem_post(semaphores + index) }

    /// Waits for the baton. It blocks at once: spinning first (tried: 50 to 2,000 polls) did not
    /// pay on a shared two-core machine, where the spinner competes with the thread it waits for.
    private func wait(_ index: Int) {
        while sem_wait(semaphores + index) != 0 {}  // retried on EINTR
    }

    private final class WorkerContext {
        let explorer: SPSCExplorer
        let worker: Int
        init(explorer: SPSCExplorer, worker: Int) {
            self.explorer = explorer
            self.worker = worker
        }
    }

    private func startWorker(_ worker: Int) -> pthread_t {
        var handle = pthread_t()
        // SAFETY: the context is retained here and released exactly once by the new thread.
        let context = Unmanaged.passRetained(WorkerContext(explorer: self, worker: worker)).toOpaque()
        let result = pthread_create(
            &handle, nil,
            { argument in
                let context = Unmanaged<WorkerContext>.fromOpaque(argument!).takeRetainedValue()
                context.explorer.workerLoop(context.worker)
                return nil
            }, context)
        precondition(result == 0, "pthread_create failed with errno \(result)")
        return handle
    }

    private func workerLoop(_ worker: Int) {
        while true {
            wait(worker)
            if shuttingDown { return }
            if worker == Self.producer { runProducer() } else { runConsumer() }
            finishWorkload()
        }
    }
}

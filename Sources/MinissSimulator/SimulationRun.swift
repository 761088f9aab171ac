import CMinissLinux
import Miniss

#if canImport(Glibc)
    import Glibc
#endif

/// One run of a ``Simulation``: the engines, the clock, the generator and the event log.
struct SimulationRun {
    let simulation: Simulation
    let time = VirtualTimeSource()
    var random: SeededRandom
    let engines: [ShardEngine]
    let hooks: SimulationHooks
    let mesh: Mesh?
    /// The network and disk outside the shards.
    let world: SimulatedWorld
    var steps = 0
    var jobsRun = 0
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    var recent: [Event] = []
    var stepBuffer: [Step] = []
    var choiceBuffer: [Int] = []
    var recentNext = 0
    var ioEvents: IOEventLog?
    var blocking: BlockingDetector
    /// What the process-wide watchdog sees of this run (reports a job that never returns).
    let watched: SimulationWatchdog.Watched
    /// Set when a job blocked the thread (reported as a determinism violation).
    var blockedJob: String?
    var trace: [String] = []
    /// PCT: each shard's priority (higher runs first) and the steps where the running shard drops.
    var priorities: [Int] = []
    var changePoints: Set<Int> = []
    var lowestPriority = 0

    init(simulation: Simulation) {
        // `Task {}`, `Task.sleep` wake-ups and default actors reach the engines through the
        // global-executor hook, exactly as on real shards.
        precondition(GlobalExecutorHook.isInstalled, "the global executor hook could not be installed")
        self.simulation = simulation
        random = SeededRandom(seed: simulation.seed)
        blocking = BlockingDetector(threshold: simulation.blockingThreshold)
        watched = SimulationWatchdog.Watched(
            description: "seed \(simulation.seed) (\(simulation.strategy), faults \(simulation.faults)) of "
                + "\(simulation.scenarioName)")
        hooks = SimulationHooks(seed: simulation.seed ^ 0x9e37_79b9_7f4a_7c15)
        let time = self.time
        engines = (0..<simulation.shardCount).map { id in
            ShardEngine(id: id, timeSource: time, tickNanoseconds: 1_000_000, idleSpinNanoseconds: 0)
        }
        if simulation.shardCount > 1 {
            let mesh = Mesh(engines: engines, ringCapacity: 1024)
            for engine in engines { engine.mesh = mesh }
            self.mesh = mesh
        } else {
            mesh = nil
        }
        world = SimulatedWorld(
            shards: simulation.shardCount, time: time, seed: simulation.seed,
            plan: simulation.faults.plan(seed: simulation.seed))
        for engine in engines {
            engine.attach(driver: SimulatedDriver(world: world, shard: engine.id))
            engine.simulationHooks = hooks
        }
        if case .pct(let depth) = simulation.strategy {
            priorities = Array(1...simulation.shardCount).shuffled(using: &random)
            // Change points among the first steps a typical run takes (k); PCT's guarantee
            // holds for bugs within that horizon.
            let horizon = 2_000
            while changePoints.count < max(0, depth - 1) {
                changePoints.insert(Int.random(in: 1...horizon, using: &random))
            }
        }
    }

    /// A step the simulator can take.
    enum Step {
        case run(shard: Int)
        case deliver(shard: Int)
        /// The shard's earliest due I/O event (a segment arrives, an operation completes).
        case io(shard: Int)
    }

    mutating func execute(_ body: @escaping @Sendable () async throws -> Void) -> SimulationResult {
        SimulationWatchdog.shared.watch(watched)
        defer { SimulationWatchdog.shared.stopWatching(watched) }
        // I/O events go into the trace hash like scheduling steps.
        let ioEvents = IOEventLog()
        world.record = { shard, what, value in ioEvents.pending.append((shard, what, value)) }
        self.ioEvents = ioEvents
        // The program's top-level task; its error (if any) is the run's failure.
        let rootError = ErrorBox()
        let root = engines[0].withCurrent {
            spawn {
                do { try await body() } catch { rootError.error = error }
            }
        }
        var failure: SimulationFailure?
        while failure == nil {
            if let broken = hooks.failure {
                failure = makeFailure(
                    .invariant, "\(broken.message) (\(broken.file):\(broken.line))",
                    backtrace: broken.backtrace.description, spawnSite: broken.spawnSite)
                break
            }
            if hooks.hasEscapes, let escape = hooks.escapes.first {
                failure = makeFailure(.determinismViolation, escape)
                break
            }
            if let blockedJob {
                failure = makeFailure(.determinismViolation, blockedJob)
                break
            }
            if steps >= simulation.stepBudget {
                failure = makeFailure(
                    .livelock,
                    "no end after \(steps) steps (the step budget); \(rootState(root)); still alive: \(liveTasks())")
                break
            }
            let candidates = runnableSteps()
            if candidates.isEmpty {
                guard let next = nextTime() else {
                    if !root.isFinished || engines.contains(where: { $0.liveTaskCount > 0 }) {
                        // Before calling it a deadlock: a real thread may be about to hand a
                        // task back (an escape). Give it a moment so the report names the
                        // cause; this only chooses between two failure reports.
                        if hooks.escapes.isEmpty { usleep(5_000) }
                        if let escape = hooks.escapes.first {
                            failure = makeFailure(.determinismViolation, escape)
                            break
                        }
                        failure = makeFailure(
                            .deadlock,
                            "nothing can run and no timer or I/O is pending; \(rootState(root)); "
                                + "still waiting: \(liveTasks())")
                    }
                    break
                }
                if next > time.nowNanoseconds {
                    time.advance(to: next)
                    log(Event(step: steps, kind: .time, shard: 0, first: Int(next / 1_000), second: 0))
                }
                for engine in engines { engine.withCurrent { _ = engine.expireTimers() } }
                continue
            }
            take(pick(candidates))
        }
        // The last job's time ends here.
        noteJobStart(at: miniss_monotonic_ns(), shard: -1)
        if failure == nil, let blockedJob { failure = makeFailure(.determinismViolation, blockedJob) }
        if failure == nil, let error = rootError.error {
            failure = makeFailure(.error, "the program threw \(error)")
        }
        shutDown()
        world.tearDown()
        return SimulationResult(
            seed: simulation.seed, strategy: simulation.strategy, steps: steps, jobsRun: jobsRun,
            virtualTime: .nanoseconds(Int64(time.nowNanoseconds)), traceHash: hash, trace: trace,
            faults: world.plan, failure: failure)
    }

    /// Whether the program's top-level task is done, for deadlock and livelock reports.
    func rootState(_ root: JoinHandle<Void>) -> String {
        root.isFinished ? "the program's main task has returned" : "the program's main task has not returned"
    }

    /// The tasks still alive, per shard, with where they were spawned.
    func liveTasks() -> String {
        let shards = engines.compactMap { engine -> String? in
            guard engine.liveTaskCount > 0 else { return nil }
            let sites = engine.withCurrent { engine.liveTaskSpawnSites }
            var counts: [(String, Int)] = []
            for site in sites {
                if let index = counts.firstIndex(where: { $0.0 == site }) {
                    counts[index].1 += 1
                } else {
                    counts.append((site, 1))
                }
            }
            let list = counts.map { $0.1 == 1 ? $0.0 : "\($0.0) ×\($0.1)" }.joined(separator: ", ")
            return "shard \(engine.id): \(engine.liveTaskCount) task(s) spawned at \(list)"
        }
        return shards.isEmpty ? "no task" : shards.joined(separator: "; ")
    }

    /// When something happens next with nothing runnable now: the earliest timer or I/O event
    /// (nanoseconds), or nil when nothing is pending at all.
    func nextTime() -> UInt64? {
        let timer = engines.compactMap({ $0.wheel.nextExpiration() }).min().map { $0 * 1_000_000 }
        switch (timer, world.nextEventTime) {
        case (let timer?, let event?): return min(timer, event)
        case (let timer?, nil): return timer
        case (nil, let event): return event
        }
    }

    /// What could happen next: a shard running one of its ready jobs, or a shard receiving the
    /// messages other shards published to it.
    mutating func runnableSteps() -> [Step] {
        // Reuses one buffer: a step allocates nothing once it has grown.
        var steps = stepBuffer
        stepBuffer = []
        steps.removeAll(keepingCapacity: true)
        defer { stepBuffer = steps }
        for engine in engines {
            engine.drainInbox()
            if let mesh, engine.backlogCount > 0 { engine.withCurrent { engine.flushOutbound(mesh) } }
            if !engine.ready.isEmpty { steps.append(.run(shard: engine.id)) }
            if let mesh, mesh.hasMessages(for: engine) { steps.append(.deliver(shard: engine.id)) }
            if world.hasDueEvent(on: engine.id) { steps.append(.io(shard: engine.id)) }
        }
        return steps
    }

    mutating func pick(_ candidates: [Step]) -> Step {
        switch simulation.strategy {
        case .random:
            return candidates[Int.random(in: 0..<candidates.count, using: &random)]
        case .pct:
            var shard = highestPriorityShard(in: candidates)
            if changePoints.contains(steps) {
                // The shard that would run now drops below every other.
                lowestPriority -= 1
                priorities[shard] = lowestPriority
                shard = highestPriorityShard(in: candidates)
            }
            // Within that shard, any of its steps (a job, a delivery, an I/O event) at random.
            let count = candidates.reduce(0) { $0 + (shardOf($1) == shard ? 1 : 0) }
            var chosen = Int.random(in: 0..<count, using: &random)
            for step in candidates where shardOf(step) == shard {
                if chosen == 0 { return step }
                chosen -= 1
            }
            preconditionFailure("the chosen shard has no step")
        }
    }

    func highestPriorityShard(in candidates: [Step]) -> Int {
        shardOf(candidates.max { priorities[shardOf($0)] < priorities[shardOf($1)] }!)
    }

    func shardOf(_ step: Step) -> Int {
        switch step {
        case .run(let shard), .deliver(let shard), .io(let shard): return shard
        }
    }

    mutating func take(_ step: Step) {
        steps += 1
        switch step {
        case .deliver(let shard):
            let engine = engines[shard]
            let count = engine.withCurrent { mesh!.receive(into: engine) }
            log(Event(step: steps, kind: .deliver, shard: shard, first: count, second: 0))
        case .run(let shard):
            let engine = engines[shard]
            let offset = chooseJob(engine)
            let job = engine.ready.remove(at: offset)
            log(
                Event(
                    step: steps, kind: Event.kind(of: job), shard: shard, first: offset, second: engine.ready.count + 1)
            )
            jobsRun += 1
            // One clock read per job: it ends the previous job's time and starts this one's.
            let started = miniss_monotonic_ns()
            noteJobStart(at: started, shard: shard)
            watched.starting(started, shard: shard)
            engine.withCurrent { engine.run(job) }
        case .io(let shard):
            let engine = engines[shard]
            log(Event(step: steps, kind: .io, shard: shard, first: 0, second: 0))
            engine.withCurrent { world.runDueEvent(on: shard) }
        }
        logIOEvents()
    }

    /// Checks whether the previous job blocked the thread (from its start to `now`: the steps in
    /// between are the simulator's own and never block), and starts timing the next one
    /// (`shard` -1 at the end of the run).
    mutating func noteJobStart(at now: UInt64, shard: Int) {
        guard let blocked = blocking.jobStarting(at: now, shard: shard), blockedJob == nil else { return }
        blockedJob =
            "a job on shard \(blocked.shard) blocked the simulator's thread for \(blocked.elapsed) of real time: "
            + "a blocking call (a sleep, a real socket or file, a lock or semaphore another thread holds) "
            + "escapes virtual time; use sleep(for:), TCPStream, File and submit(to:) instead"
    }

    /// Folds what the world recorded during the last step into the trace.
    mutating func logIOEvents() {
        guard let ioEvents, !ioEvents.pending.isEmpty else { return }
        for (shard, what, value) in ioEvents.pending {
            log(Event(step: steps, kind: .ioDetail, shard: shard, first: what.rawValue, second: value))
        }
        ioEvents.pending.removeAll(keepingCapacity: true)
    }

    /// Which ready job of `engine` runs, uniformly among its task and actor jobs and its oldest
    /// engine call (calls keep their order: per-pair message order is part of the contract).
    /// Both strategies choose within a shard this way; PCT's priorities decide between shards.
    mutating func chooseJob(_ engine: ShardEngine) -> Int {
        var choices = choiceBuffer
        choiceBuffer = []
        choices.removeAll(keepingCapacity: true)
        defer { choiceBuffer = choices }
        var sawCall = false
        for offset in 0..<engine.ready.count {
            switch engine.ready.peek(at: offset) {
            case .task, .actor: choices.append(offset)
            case .call, .timer:
                if !sawCall {
                    choices.append(offset)
                    sawCall = true
                }
            }
        }
        return choices[Int.random(in: 0..<choices.count, using: &random)]
    }

    /// FNV-1a over 64-bit words.
    mutating func mix(_ value: UInt64) {
        hash = (hash ^ value) &* 0x100_0000_01b3
    }

    /// Records an event: folded into the trace hash, kept among the recent ones, and kept
    /// whole when the simulation records full traces. Formatting waits until a report needs it.
    mutating func log(_ event: Event) {
        mix(UInt64(event.step))
        mix(UInt64(event.kind.rawValue))
        mix(UInt64(event.shard))
        mix(UInt64(bitPattern: Int64(event.first)))
        mix(UInt64(bitPattern: Int64(event.second)))
        // A ring of the last `reportedEvents` events; `recentEvents` puts them in order.
        if recent.count < simulation.reportedEvents {
            recent.append(event)
        } else if !recent.isEmpty {
            recent[recentNext] = event
            recentNext = (recentNext + 1) % recent.count
        }
        if simulation.recordsFullTrace { trace.append(event.description) }
    }

    func makeFailure(
        _ kind: SimulationFailure.Kind, _ message: String, backtrace: String? = nil, spawnSite: String? = nil
    ) -> SimulationFailure {
        SimulationFailure(
            kind: kind, message: message, seed: simulation.seed, strategy: simulation.strategy,
            replayCommand: replayCommand,
            faults: world.plan, backtrace: backtrace, spawnSite: spawnSite,
            lastEvents: (recent[recentNext...] + recent[..<recentNext]).map(\.description))
    }

    /// How to run this seed again: the CLI line for a registered scenario, the code otherwise.
    var replayCommand: String {
        guard simulation.scenarioName != Simulation.unnamedProgram else {
            return "run the program again with Simulation(seed: \(simulation.seed), shards: \(simulation.shardCount), "
                + "strategy: \(strategyCode)) and faults = \(faultsCode) (recordsFullTrace = true prints every event)"
        }
        let faults = simulation.faults == .swarm || simulation.faults == .none ? " --faults \(simulation.faults)" : ""
        return "miniss-sim replay --scenario \(simulation.scenarioName) --seed \(simulation.seed) "
            + "--strategy \(strategyArgument)\(faults)"
    }

    var strategyCode: String {
        switch simulation.strategy {
        case .random: return ".random"
        case .pct(let depth): return ".pct(depth: \(depth))"
        }
    }

    var faultsCode: String {
        switch simulation.faults {
        case .none: return ".none"
        case .swarm: return ".swarm"
        case .plan(let plan): return ".plan(\(plan))"
        }
    }

    var strategyArgument: String {
        switch simulation.strategy {
        case .random: return "random"
        case .pct(let depth): return "pct:\(depth)"
        }
    }

    /// Cancels what is left, runs it to the end in FIFO order, and releases the engines.
    mutating func shutDown() {
        for engine in engines { engine.requestStop() }
        // Bounded by the step budget too: a task that ignores cancellation and keeps yielding
        // must not cost a livelocked run far more than its budget.
        var remaining = min(simulation.stepBudget, 100_000)
        while remaining > 0 {
            let candidates = runnableSteps()
            guard let step = candidates.first else {
                // Timers and I/O still to come (a file write issued while cancelling lands).
                guard let next = nextTime() else { break }
                time.advance(to: max(time.nowNanoseconds, next))
                for engine in engines { engine.withCurrent { _ = engine.expireTimers() } }
                remaining -= 1
                continue
            }
            switch step {
            case .deliver(let shard):
                let engine = engines[shard]
                _ = engine.withCurrent { mesh!.receive(into: engine) }
            case .run(let shard):
                let engine = engines[shard]
                watched.starting(miniss_monotonic_ns(), shard: shard)
                engine.withCurrent { _ = engine.runNext() }
                watched.finished()
            case .io(let shard):
                engines[shard].withCurrent { world.runDueEvent(on: shard) }
            }
            remaining -= 1
        }
        for engine in engines {
            watched.starting(miniss_monotonic_ns(), shard: engine.id)
            engine.withCurrent { engine.finalDrain(jobBudget: min(simulation.stepBudget, 100_000)) }
            watched.finished()
            engine.mesh = nil
            engine.simulationHooks = nil
        }
    }
}

/// The top-level task's error, written on the simulator's thread.
final class ErrorBox: @unchecked Sendable {
    // SAFETY (@unchecked Sendable): written and read only on the simulator's thread.
    var error: (any Error)?
}

/// One scheduling event, kept as numbers (formatted only for reports and traces).
struct Event: CustomStringConvertible {
    enum Kind: UInt8 {
        case runTask, runActor, runTimerHandOver, runCall, deliver, time, io, ioDetail
    }

    var step: Int
    var kind: Kind
    var shard: Int
    /// `.run*`: the job's position in the run queue; `.deliver`: messages; `.time`: the time in
    /// µs; `.ioDetail`: what happened (``IOEventKind``).
    var first: Int
    /// `.run*`: the run queue's length before the job was taken; `.ioDetail`: a result or count.
    var second: Int

    static func kind(of job: ShardJob) -> Kind {
        switch job {
        case .task: return .runTask
        case .actor: return .runActor
        case .timer: return .runTimerHandOver
        case .call: return .runCall
        }
    }

    var description: String {
        switch kind {
        case .runTask, .runActor, .runTimerHandOver, .runCall:
            let what = ["a task job", "an actor job", "a timer hand-over", "an engine call"][Int(kind.rawValue)]
            return "[\(step)] shard \(shard) runs \(what) #\(first) of \(second)"
        case .deliver:
            return "[\(step)] deliver \(first) message(s) to shard \(shard)"
        case .time:
            return "[\(step)] time \(Duration.microseconds(first))"
        case .io:
            return "[\(step)] shard \(shard) runs its next I/O event"
        case .ioDetail:
            let what = IOEventKind(rawValue: first).map { "\($0)" } ?? "?"
            return "[\(step)]   shard \(shard) I/O: \(what) \(second)"
        }
    }
}

/// What the world recorded during a step, waiting to be folded into the trace.
final class IOEventLog {
    var pending: [(Int, IOEventKind, Int)] = []
}

/// Notices a job that blocked the simulator's thread in the kernel (a sleep, a blocking read, a
/// lock another thread holds): such a call escapes virtual time, and what it waits for is not
/// under the seed's control. Each job is timed with the monotonic clock (cheap); only a job
/// that took at least `threshold` of real time is checked against the thread's voluntary
/// context switches, sampled every 256 jobs — so computing for a long time is not mistaken for
/// blocking. The threshold is high (``Simulation/blockingThreshold``, 1 s) because a loaded
/// machine makes short waits on other threads' locks ordinary (tens of milliseconds under the
/// sanitizers); a shorter block goes unnoticed (a limit stated in docs/simulator.md).
struct BlockingDetector {
    let threshold: UInt64
    private var switchesAtSample = miniss_thread_voluntary_switches()
    private var jobsSinceSample = 0
    private var lastStart: UInt64 = 0
    private var lastShard = 0

    init(threshold: Duration) {
        self.threshold = threshold.nanoseconds
    }

    /// Called as each job starts (and once at the end of the run): the previous job's shard
    /// and real time, if it took at least `threshold` and the thread blocked meanwhile.
    mutating func jobStarting(at now: UInt64, shard: Int) -> (shard: Int, elapsed: Duration)? {
        defer {
            lastStart = now
            lastShard = shard
        }
        let elapsed = lastStart == 0 ? 0 : now &- lastStart
        jobsSinceSample += 1
        guard elapsed >= threshold else {
            if jobsSinceSample >= 256 {
                switchesAtSample = miniss_thread_voluntary_switches()
                jobsSinceSample = 0
            }
            return nil
        }
        let switches = miniss_thread_voluntary_switches()
        defer {
            switchesAtSample = switches
            jobsSinceSample = 0
        }
        return switches > switchesAtSample ? (lastShard, .nanoseconds(Int64(elapsed))) : nil
    }
}

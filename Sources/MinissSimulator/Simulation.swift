import Miniss

/// How the simulator picks the next step among everything that could run.
public enum SimulationStrategy: Sendable, Hashable, CustomStringConvertible {
    /// Every step uniformly at random among the runnable ones (which shard runs, which of its
    /// ready tasks, when a cross-shard message is delivered, when a due I/O event runs).
    case random
    /// PCT (Burckhardt et al.) across shards: each shard gets a random priority, the runnable
    /// shard with the highest runs, and at `depth − 1` random steps (within the first 2,000) the
    /// running shard drops to the lowest priority. It targets bugs that need `depth` ordering
    /// constraints between shards (depth 2: one shard's step that must come "too early"). Within
    /// a shard, its next step (a ready job, its messages, its next I/O event) is chosen at random,
    /// as with `random`.
    case pct(depth: Int)

    /// `random` or `pct(depth: d)`.
    public var description: String {
        switch self {
        case .random: return "random"
        case .pct(let depth): return "pct(depth: \(depth))"
        }
    }

    /// Parses `random`, `pct` (depth 3) or `pct:<depth>`.
    public init?(parsing text: String) {
        if text == "random" {
            self = .random
        } else if text == "pct" {
            self = .pct(depth: 3)
        } else if text.hasPrefix("pct:"), let depth = Int(text.dropFirst(4)), depth >= 1 {
            self = .pct(depth: depth)
        } else {
            return nil
        }
    }
}

/// Runs async code written against the ordinary Miniss API on `shards` virtual shards, all on
/// the calling thread, with every scheduling decision, the clock and every random draw taken
/// from one seeded generator. A run is a pure function of (program, seed, strategy): the same
/// seed replays the same schedule, step by step, and the trace hash proves it.
///
/// ```swift
/// let result = Simulation(seed: 7312, shards: 2).run {
///     let counter = Counter()
///     try await submit(to: 1) { ... }
///     invariant(counter.value == 2, "lost update: \(counter.value)")
/// }
/// if let failure = result.failure { print(failure) }   // seed, replay command, backtrace, events
/// ```
///
/// `Task {}`, `Task.sleep`, `sleep(for:)`, `ShardClock` and `submit(to:)` all run in virtual
/// time on the simulator's thread: when nothing can run, time jumps to the next timer. Work that
/// arrives from another thread (a Dispatch callback, a real thread) is reported as a
/// determinism violation. TCP between the shards (each shard is a host, see
/// ``address(ofShard:port:)``) and files run on a simulated network and disk, with the faults
/// of ``faults``; UDP and signals are not simulated (they fail with `EOPNOTSUPP`).
public final class Simulation {
    /// The seed every decision derives from.
    public let seed: UInt64
    /// The number of virtual shards.
    public let shardCount: Int
    /// How steps are picked.
    public let strategy: SimulationStrategy
    /// Steps after which a run that has not finished fails as a livelock.
    public var stepBudget = 1_000_000
    /// How many of the last scheduling events a failure report shows.
    public var reportedEvents = 40
    /// Keep every event (for `replay` and the determinism check), not only the last ones.
    public var recordsFullTrace = false
    /// A name for the program, used in the replay command (`miniss-sim replay --scenario …`);
    /// a program that is not a registered scenario gets a replay line in code instead.
    public var scenarioName = Simulation.unnamedProgram

    /// The ``scenarioName`` of a program that is not a registered scenario.
    public static let unnamedProgram = "<your program>"
    /// The faults the simulated network and disk inject (``FaultMode/swarm``: each seed draws
    /// its own mix).
    public var faults = FaultMode.none
    /// A job that blocks the simulator's thread in the kernel (a sleep, a real socket, a lock
    /// another thread holds) for at least this much real time fails the run as a
    /// `determinismViolation`. Shorter blocks are not reported: on a loaded machine, waits of
    /// tens of milliseconds on other threads' locks are ordinary.
    public var blockingThreshold: Duration = .seconds(1)

    /// Creates a simulation. Nothing runs until ``run(_:)``.
    public init(seed: UInt64, shards: Int = 1, strategy: SimulationStrategy = .random) {
        precondition(shards >= 1 && shards <= 64, "a simulation has 1 to 64 shards")
        self.seed = seed
        self.shardCount = shards
        self.strategy = strategy
    }

    /// A seeded random number for the program under simulation: the same seed gives the same
    /// draws. Outside a simulation it falls back to the system generator.
    public static func random(in range: Range<Int>) -> Int {
        guard let hooks = ShardEngine.current?.simulationHooks else { return Int.random(in: range) }
        return Int.random(in: range, using: &hooks.random)
    }

    /// The address of shard `shard`'s simulated host: `10.0.0.<shard + 1>:<port>`. A listener
    /// bound there (or on `0.0.0.0`) on that shard is reached from every shard; `127.0.0.1`
    /// reaches the caller's own shard only.
    public static func address(ofShard shard: Int, port: Int) -> SocketAddress {
        SimulatedWorld.hostAddress(ofShard: shard, port: port)
    }

    /// The faults of the run the caller is part of, or nil outside a simulation.
    public static var currentFaults: FaultPlan? {
        (ShardEngine.current?.driver as? SimulatedDriver)?.faults
    }

    /// Whether a network fault — a reset, or a partition that held or broke one of its
    /// segments — touched the connection whose local end, on the calling shard, has
    /// `localAddress` (take it right after connecting: a closed stream has none). False outside
    /// a simulation.
    public static func wasDisturbed(connectionAt localAddress: SocketAddress) -> Bool {
        guard let engine = ShardEngine.current, let driver = engine.driver as? SimulatedDriver else { return false }
        return driver.wasDisturbed("\(engine.id)/\(localAddress)")
    }

    /// Simulates a power loss of the disk, from code running under the simulator: each file
    /// keeps what was synced and a random part of what was not (some unsynced writes survive,
    /// some are lost, some are torn with the plan's ``FaultPlan/tornWrites`` chance), and every
    /// file open before the crash fails with `EIO` from then on; open the files again to
    /// recover. Does nothing outside a simulation.
    public static func crashDisk() {
        (ShardEngine.current?.driver as? SimulatedDriver)?.crashDisk()
    }

    /// Arms a crash (as ``crashDisk()``) right after the `count`-th file operation from now
    /// takes effect — a write landing before its sync, a sync, a read: the moments crash
    /// consistency depends on. A crash before then (``crashDisk()``) disarms it. Does nothing
    /// outside a simulation.
    public static func crashDisk(afterFileOperations count: Int) {
        precondition(count >= 1, "crashDisk(afterFileOperations:) needs a count >= 1, got \(count)")
        (ShardEngine.current?.driver as? SimulatedDriver)?.armDiskCrash(afterFileOperations: count)
    }

    /// Runs `body` twice with this seed, strategy and faults and compares the schedules (trace
    /// hash and step count); nil when they agree. On a mismatch it reruns both with full traces
    /// and reports the first event that differs. Create the program's state inside `body`:
    /// state shared between the runs makes them differ, as anything else the seed does not
    /// control does (the real clock, a global, another thread, hash-table order).
    ///
    /// ```swift
    /// if let mismatch = Simulation(seed: 7, shards: 2).checkDeterminism(program) { print(mismatch) }
    /// ```
    public func checkDeterminism(_ body: @escaping @Sendable () async throws -> Void) -> DeterminismMismatch? {
        let keepsTrace = recordsFullTrace
        defer { recordsFullTrace = keepsTrace }
        recordsFullTrace = false
        return compareRerun(of: run(body)) { body }
    }

    /// Runs the program once more and compares with `first` (a run of this simulation); on a
    /// mismatch reruns it twice with full traces to find the first differing event. Each run
    /// gets a fresh program from `makeProgram`.
    func compareRerun(
        of first: SimulationResult, _ makeProgram: () -> @Sendable () async throws -> Void
    ) -> DeterminismMismatch? {
        let keepsTrace = recordsFullTrace
        defer { recordsFullTrace = keepsTrace }
        recordsFullTrace = false
        let second = run(makeProgram())
        guard first.traceHash != second.traceHash || first.steps != second.steps else { return nil }
        recordsFullTrace = true
        return DeterminismMismatch(
            scenario: scenarioName, first: first, second: second, firstTrace: run(makeProgram()).trace,
            secondTrace: run(makeProgram()).trace)
    }

    /// Runs `body` as a task on shard 0 until it and everything it started has finished (or
    /// the run fails), and returns what happened.
    public func run(_ body: @escaping @Sendable () async throws -> Void) -> SimulationResult {
        // On a thread of its own: the caller may itself be running a Swift task (a test), whose
        // executor state must not mix with the simulated tasks'.
        let box = ResultBox()
        let thread = OSThread(name: "miniss-sim") { [self] in
            var run = SimulationRun(simulation: self)
            box.result = run.execute(body)
        }
        thread.join()
        return box.result!
    }
}

/// The outcome of one simulated run.
public struct SimulationResult: Sendable, CustomStringConvertible {
    /// The seed.
    public var seed: UInt64
    /// The strategy.
    public var strategy: SimulationStrategy
    /// Scheduling steps taken.
    public var steps: Int
    /// Jobs run (task and actor jobs, engine calls).
    public var jobsRun: Int
    /// The virtual time at the end.
    public var virtualTime: Duration
    /// A hash of every scheduling event: equal hashes mean the same schedule.
    public var traceHash: UInt64
    /// Every event, when ``Simulation/recordsFullTrace`` was set.
    public var trace: [String]
    /// The faults the run injected.
    public var faults: FaultPlan
    /// Why the run failed, or nil.
    public var failure: SimulationFailure?

    /// Whether the run passed.
    public var passed: Bool { failure == nil }

    /// One line: seed, steps, time, hash, and the failure if any.
    public var description: String {
        let head =
            "seed \(seed) (\(strategy)): \(passed ? "passed" : "FAILED"), \(steps) steps, \(jobsRun) jobs, "
            + "virtual time \(virtualTime), trace hash \(String(traceHash, radix: 16))"
        guard let failure else { return head }
        return head + "\n" + failure.description
    }
}

/// Why a simulated run failed, with what is needed to understand and replay it.
public struct SimulationFailure: Sendable, CustomStringConvertible {
    /// The kind of failure.
    public enum Kind: String, Sendable {
        /// An ``invariant(_:_:file:line:)`` did not hold.
        case invariant
        /// The program threw an error out of its top-level task.
        case error
        /// Nothing can run, no timer is pending, and tasks are still waiting.
        case deadlock
        /// The step budget ran out.
        case livelock
        /// Work arrived from a thread other than the simulator's.
        case determinismViolation
    }

    /// The kind of failure.
    public var kind: Kind
    /// What went wrong.
    public var message: String
    /// The seed and strategy.
    public var seed: UInt64
    /// The strategy.
    public var strategy: SimulationStrategy
    /// A one-line command that replays the run.
    public var replayCommand: String
    /// The faults the run injected.
    public var faults: FaultPlan
    /// The failing task's stack (invariants), symbolized.
    public var backtrace: String?
    /// Where the failing task was spawned, if known.
    public var spawnSite: String?
    /// The last scheduling events before the failure, oldest first.
    public var lastEvents: [String]

    /// The full report.
    public var description: String {
        var text =
            "\(kind.rawValue): \(message)\n  seed \(seed), strategy \(strategy), faults: \(faults)\n"
            + "  replay: \(replayCommand)\n"
        if let backtrace { text += "  backtrace:\n" + indent(backtrace) }
        if let spawnSite { text += "  spawned at:\n" + indent(spawnSite) }
        text += "  last \(lastEvents.count) events:\n" + lastEvents.map { "    " + $0 }.joined(separator: "\n")
        return text
    }

    private func indent(_ text: String) -> String {
        text.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n") + "\n"
    }
}

/// Carries a result out of the simulator's thread (written before `join`, read after).
private final class ResultBox: @unchecked Sendable {
    // SAFETY (@unchecked Sendable): written by the simulator thread before it ends, read by the
    // caller after joining it.
    var result: SimulationResult?
}

import Miniss

/// A named program to run under the simulator over many seeds: what `miniss-sim run`,
/// `make sim` and `make replay` drive.
///
/// A scenario builds a fresh program for every run, so no state leaks from one seed to the
/// next, and states its invariants with ``Miniss/invariant(_:_:file:line:)``.
///
/// ```swift
/// let scenario = SimulationScenario.named("cross-shard-counter")!
/// for seed in UInt64(0)..<1_000 {
///     let result = scenario.run(seed: seed, strategy: .pct(depth: 3))
///     if let failure = result.failure { print(failure); break }
/// }
/// ```
public struct SimulationScenario: Sendable, CustomStringConvertible {
    /// The name used on the command line (`--scenario cross-shard-counter`).
    public let name: String
    /// One sentence: what the program does and what its invariants check.
    public let summary: String
    /// The number of virtual shards the program runs on.
    public let shardCount: Int
    /// Whether the program has a planted bug, to show what a failure report looks like. Such a
    /// scenario runs by name but is left out of ``sweep`` (and `--scenario all`).
    public let isDeliberatelyBuggy: Bool
    /// The faults a run injects unless the caller says otherwise (`miniss-sim --faults`).
    public let faults: FaultMode
    private let programFactory: @Sendable () -> @Sendable () async throws -> Void

    /// Creates a scenario. `program` is called once per run and returns the code to simulate;
    /// create the run's shared state inside the returned closure (or in `program`).
    ///
    /// ```swift
    /// let mine = SimulationScenario(name: "my-cache", summary: "…", shards: 2) {
    ///     { try await exerciseCache() }
    /// }
    /// ```
    public init(
        name: String, summary: String, shards: Int, isDeliberatelyBuggy: Bool = false, faults: FaultMode = .none,
        program: @escaping @Sendable () -> @Sendable () async throws -> Void
    ) {
        precondition(shards >= 1 && shards <= 64, "a scenario runs on 1 to 64 shards")
        self.name = name
        self.summary = summary
        self.shardCount = shards
        self.isDeliberatelyBuggy = isDeliberatelyBuggy
        self.faults = faults
        self.programFactory = program
    }

    /// A fresh copy of the program, for one run.
    public func makeProgram() -> @Sendable () async throws -> Void {
        programFactory()
    }

    /// A simulation of this scenario for `seed`, with the scenario's shard count, name (so a
    /// failure's replay command names it) and faults (unless `faults` overrides them). Set its
    /// other properties before calling `run`.
    public func simulation(
        seed: UInt64, strategy: SimulationStrategy = .random, faults: FaultMode? = nil
    ) -> Simulation {
        let simulation = Simulation(seed: seed, shards: shardCount, strategy: strategy)
        simulation.scenarioName = name
        simulation.faults = faults ?? self.faults
        return simulation
    }

    /// Runs the scenario once for `seed`; `recordsFullTrace` keeps every event (for a replay or
    /// a timeline); `faults` overrides the scenario's own.
    public func run(
        seed: UInt64, strategy: SimulationStrategy = .random, faults: FaultMode? = nil, recordsFullTrace: Bool = false
    ) -> SimulationResult {
        let simulation = simulation(seed: seed, strategy: strategy, faults: faults)
        simulation.recordsFullTrace = recordsFullTrace
        return simulation.run(makeProgram())
    }

    /// The name, and a note if the scenario is deliberately buggy.
    public var description: String {
        isDeliberatelyBuggy ? "\(name) (deliberately buggy)" : name
    }
}

extension SimulationScenario {
    /// Every shipped scenario, the deliberately buggy ones included.
    public static let all: [SimulationScenario] = [
        crossShardCounter(plantedBug: nil),
        timersUnderCancellation(plantedBug: nil),
        echoServer,
        logCrashRecovery,
        buggyLostUpdate,
        buggyEchoWholeReads,
        buggyLogAckBeforeSync,
    ]

    /// The scenarios that must pass every seed: ``all`` without the deliberately buggy ones.
    /// `miniss-sim run --scenario all` and `make sim` run these.
    public static var sweep: [SimulationScenario] {
        all.filter { !$0.isDeliberatelyBuggy }
    }

    /// The shipped scenario called `name`, or nil.
    public static func named(_ name: String) -> SimulationScenario? {
        all.first { $0.name == name }
    }

    /// The names of the shipped scenarios, for error messages.
    public static var names: [String] {
        all.map(\.name)
    }

    /// `buggy-lost-update`: the cross-shard counter with a planted lost update (the counter
    /// awaits between reading and writing the count), to show a failure report and a timeline.
    public static let buggyLostUpdate = crossShardCounter(plantedBug: .lostUpdate)
}

/// Two runs of the same seed that did not follow the same schedule.
public struct DeterminismMismatch: Sendable, CustomStringConvertible {
    /// The scenario's name.
    public var scenario: String
    /// The seed.
    public var seed: UInt64
    /// The strategy.
    public var strategy: SimulationStrategy
    /// The trace hashes of the two runs.
    public var traceHashes: (first: UInt64, second: UInt64)
    /// The index in the trace of the first event that differs between two reruns with full
    /// traces, or nil if the reruns agreed (the difference did not show up again).
    public var firstDifferenceIndex: Int?
    /// That event in each rerun (nil where a trace had already ended).
    public var firstDifference: (first: String?, second: String?)

    /// The mismatch between two runs of one seed, located with the full traces of two reruns.
    init(
        scenario: String, first: SimulationResult, second: SimulationResult, firstTrace: [String],
        secondTrace: [String]
    ) {
        self.scenario = scenario
        seed = first.seed
        strategy = first.strategy
        traceHashes = (first.traceHash, second.traceHash)
        firstDifferenceIndex = nil
        firstDifference = (nil, nil)
        for index in 0..<max(firstTrace.count, secondTrace.count) {
            let left = index < firstTrace.count ? firstTrace[index] : nil
            let right = index < secondTrace.count ? secondTrace[index] : nil
            if left != right {
                firstDifferenceIndex = index
                firstDifference = (left, right)
                break
            }
        }
    }

    /// What differed, and where.
    public var description: String {
        var text =
            "nondeterminism: scenario \(scenario), seed \(seed) (\(strategy)): trace hash "
            + "\(String(traceHashes.first, radix: 16)) vs \(String(traceHashes.second, radix: 16))"
        if let index = firstDifferenceIndex {
            text += "\n  first differing event (#\(index)):"
            text += "\n    run 1: \(firstDifference.first ?? "<trace ended>")"
            text += "\n    run 2: \(firstDifference.second ?? "<trace ended>")"
        } else {
            text += "\n  the two reruns with full traces agreed: the difference did not show up again"
        }
        return text
    }
}

extension SimulationScenario {
    /// Runs `seed` twice and compares the schedules (trace hash and step count); nil when they
    /// agree. On a mismatch it reruns both with full traces and reports the first event that
    /// differs. A mismatch means the program (or the runtime) reads something the seed does not
    /// control: the real clock, a global random generator, another thread, hash-table order.
    ///
    /// ```swift
    /// if let mismatch = scenario.checkDeterminism(seed: 42) { print(mismatch) }
    /// ```
    public func checkDeterminism(
        seed: UInt64, strategy: SimulationStrategy = .random, faults: FaultMode? = nil
    ) -> DeterminismMismatch? {
        checkDeterminism(of: run(seed: seed, strategy: strategy, faults: faults))
    }

    /// Runs `first`'s seed and strategy once more and compares the schedules, as
    /// ``checkDeterminism(seed:strategy:)`` does; for a sweep that already has the first run.
    public func checkDeterminism(of first: SimulationResult) -> DeterminismMismatch? {
        // The plan the first run drew reproduces its world exactly, whatever mode chose it.
        simulation(seed: first.seed, strategy: first.strategy, faults: .plan(first.faults))
            .compareRerun(of: first, makeProgram)
    }
}

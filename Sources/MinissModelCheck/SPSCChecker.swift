import Miniss

/// A model checker for Miniss's single-producer / single-consumer ring.
///
/// It drives the real `SPSCRing` (elements are `Int`, the capacity tiny) with one producer and
/// one consumer thread, one step at a time, under a schedule chosen by an ``SPSCStrategy``.
/// The ring's shared indices are replaced, through the ring's `RingIndex` seam, by an index
/// whose every load and store is surrounded by scheduling points, so the production code runs
/// unmodified. Each run's history is then checked against a sequential bounded FIFO: nothing
/// lost, duplicated, reordered or invented; a push fails only when the ring is full and a pop
/// comes back empty only when nothing is published (see the model below). Deadlocks and runs
/// that exceed a step bound are failures too.
///
/// ```swift
/// let checker = try SPSCChecker(capacity: 2, items: 3)
/// print(checker.run(.exhaustive(preemptionBound: 2)))
/// print(checker.runMany(seeds: 0..<1_000) { .pct(seed: $0, depth: 3) })
/// ```
///
/// **The model.** The ring holds published elements `Q`, pushed-but-unpublished ones `U`, and
/// `F` elements the consumer has taken but whose slots it has not yet freed. It is *full* when
/// `|Q| + |U| + F == capacity` and *empty* to the consumer when `Q` is empty. A failed push
/// must be explained by a moment inside the call at which the ring was full — for the real ring
/// that is the producer's acquire load of `head`, which shows `pushed − head == capacity`; a
/// `nil` pop by a moment at which `Q` was empty (its load of `tail` equals its own head).
/// `popAll` takes all of `Q` at one moment and frees the slots at a later one, as the ring does
/// (it frees with one store after reading). A history passes when some order of these actions,
/// consistent with each thread's program order and with real time, is legal for the model.
///
/// **Limits.** Executions are sequentially consistent (no weak-memory reordering); plain code
/// between two shared-index accesses runs as one step (so two slot accesses inside one
/// `popAll` are never interleaved with the other thread); a thread that made no progress waits
/// for the other side's next store instead of spinning. Planted bugs (``SPSCPlantedBug``) exist
/// only in debug builds.
public struct SPSCChecker: Sendable {
    /// The ring capacity (a power of two, at least 2).
    public let capacity: Int
    /// How many values (1...items) the producer pushes per run.
    public let items: Int
    /// The bug planted in the ring, if any.
    public let plantedBug: SPSCPlantedBug
    /// A run that takes more steps than this fails with ``SPSCFailureKind/stepBoundExceeded``.
    public var maxSteps: Int

    /// Whether this build carries the planted bugs (debug builds of Miniss do).
    public static var plantedBugsAreAvailable: Bool {
        #if DEBUG
            true
        #else
            false
        #endif
    }

    /// A checker for a ring of `capacity` through which the producer pushes `items` values.
    /// Throws when the capacity is not a power of two >= 2, `items` < 1, or a bug is planted in
    /// a release build.
    public init(capacity: Int = 2, items: Int = 3, plantedBug: SPSCPlantedBug = .none) throws(SPSCCheckerError) {
        guard capacity >= 2, capacity & (capacity - 1) == 0 else { throw .invalidCapacity(capacity) }
        guard items >= 1 else { throw .invalidItemCount(items) }
        guard plantedBug == .none || Self.plantedBugsAreAvailable else { throw .plantedBugsNeedDebugBuild(plantedBug) }
        self.capacity = capacity
        self.items = items
        self.plantedBug = plantedBug
        // A correct run takes about 10 steps per item; the bound leaves ample room.
        self.maxSteps = 200 + 40 * (items + capacity)
    }

    /// Runs `strategy`: one run for a seed or a replay, every schedule within the bound for
    /// ``SPSCStrategy/exhaustive(preemptionBound:maxSchedules:)``. With `shrink`, the report's
    /// ``SPSCCheckReport/minimalFailure`` holds the first failure shrunk and traced.
    public func run(_ strategy: SPSCStrategy, stopAtFirstFailure: Bool = true, shrink: Bool = true) -> SPSCCheckReport {
        let clock = ContinuousClock()
        let started = clock.now
        var report = makeReport(strategy.description)
        withExplorer { explorer in
            switch strategy {
            case .exhaustive(let bound, let maxSchedules):
                var picker = SPSCExhaustivePicker(preemptionBound: bound)
                var exhausted = false
                while true {
                    report.record(outcome(explorer.run(&picker), strategy: strategy, seed: nil))
                    if stopAtFirstFailure && !report.passed { break }
                    guard picker.advance() else {
                        exhausted = true
                        break
                    }
                    if report.schedulesExplored >= maxSchedules { break }
                }
                report.isComplete = exhausted
            default:
                report.record(runOnce(strategy, explorer: explorer, expectedSteps: nil))
            }
        }
        report.elapsed = clock.now - started
        if shrink, let first = report.failures.first { report.minimalFailure = self.shrink(first) }
        return report
    }

    /// Runs one strategy per seed (e.g. `{ .random(seed: $0) }`), stopping at the first failure
    /// unless told otherwise. PCT's k (the run length its change points are drawn from) is
    /// measured once, on a run without preemptions.
    public func runMany(
        seeds: some Sequence<UInt64>, stopAtFirstFailure: Bool = true, shrink: Bool = true,
        strategy: (UInt64) -> SPSCStrategy
    ) -> SPSCCheckReport {
        let clock = ContinuousClock()
        let started = clock.now
        var report = makeReport("")
        var names: Set<String> = []
        withExplorer { explorer in
            let expectedSteps = calibratedSteps(explorer)
            for seed in seeds {
                let chosen = strategy(seed)
                names.insert(Self.family(of: chosen))
                report.record(runOnce(chosen, explorer: explorer, expectedSteps: expectedSteps))
                if stopAtFirstFailure && !report.passed {
                    report.isComplete = false
                    break
                }
            }
        }
        report.strategy = names.sorted().joined(separator: "+") + " over \(report.schedulesExplored) seeds"
        report.elapsed = clock.now - started
        if shrink, let first = report.failures.first { report.minimalFailure = self.shrink(first) }
        return report
    }

    /// Replays a line printed as ``SPSCFailure/replayLine`` (`capacity=2 items=3 bug=none
    /// schedule=PPCPC`).
    public static func replay(line: String) throws(SPSCCheckerError) -> SPSCCheckReport {
        var fields: [String: String] = [:]
        for token in line.split(separator: " ") {
            let parts = token.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { throw .malformedReplay("'\(token)' is not key=value") }
            fields[String(parts[0])] = String(parts[1])
        }
        guard let capacity = fields["capacity"].flatMap({ Int($0) }) else { throw .malformedReplay("no capacity=") }
        guard let items = fields["items"].flatMap({ Int($0) }) else { throw .malformedReplay("no items=") }
        guard let bug = SPSCPlantedBug(rawValue: fields["bug"] ?? "none") else {
            throw .malformedReplay("unknown bug '\(fields["bug"] ?? "")'")
        }
        guard let schedule = fields["schedule"], schedule.allSatisfy({ $0 == "P" || $0 == "C" }) else {
            throw .malformedReplay("schedule= must be letters P and C")
        }
        return try SPSCChecker(capacity: capacity, items: items, plantedBug: bug).run(
            .replay(schedule: schedule), shrink: false)
    }

    /// What each step of a schedule did, one line per step (`step 4 C: load tail=3 => tryPop() -> 1`).
    public func trace(schedule: String) -> [String] {
        var lines: [String] = []
        withExplorer { explorer in
            var picker = SPSCReplayPicker(schedule: Self.threads(schedule))
            let run = explorer.run(&picker, logging: true)
            lines = run.log
            if let failure = run.failure { lines.append("=> \(failure.kind.rawValue): \(failure.message)") }
        }
        return lines
    }

    /// The failure with the fewest items, then the fewest preemptions, found by exhaustive
    /// search (at most 3 preemptions and 5,000 schedules per size), traced step by step; the
    /// original failure, traced, when that search finds nothing.
    public func shrink(_ failure: SPSCFailure) -> SPSCFailure {
        for smallerItems in 1...items {
            guard var smaller = try? SPSCChecker(capacity: capacity, items: smallerItems, plantedBug: plantedBug) else {
                continue
            }
            smaller.maxSteps = maxSteps
            for bound in 0...min(3, max(failure.preemptions, 1)) {
                let report = smaller.run(.exhaustive(preemptionBound: bound, maxSchedules: 5_000), shrink: false)
                if var found = report.failures.first {
                    found.trace = smaller.trace(schedule: found.schedule)
                    return found
                }
            }
        }
        var traced = failure
        traced.trace = trace(schedule: failure.schedule)
        return traced
    }

    // MARK: Internals

    private func makeReport(_ strategy: String) -> SPSCCheckReport {
        SPSCCheckReport(strategy: strategy, capacity: capacity, items: items, plantedBug: plantedBug)
    }

    private func withExplorer(_ body: (SPSCExplorer) -> Void) {
        let explorer = SPSCExplorer(capacity: capacity, items: items, plantedBug: plantedBug, maxSteps: maxSteps)
        defer { explorer.shutdown() }
        body(explorer)
    }

    /// The length of a run without preemptions: PCT's k.
    private func calibratedSteps(_ explorer: SPSCExplorer) -> Int {
        var picker = SPSCExhaustivePicker(preemptionBound: 0)
        return max(10, explorer.run(&picker).steps)
    }

    private func runOnce(_ strategy: SPSCStrategy, explorer: SPSCExplorer, expectedSteps: Int?) -> SPSCRunOutcome {
        switch strategy {
        case .random(let seed):
            var picker = SPSCRandomPicker(seed: seed)
            return outcome(explorer.run(&picker), strategy: strategy, seed: seed)
        case .pct(let seed, let depth):
            var picker = SPSCPCTPicker(
                seed: seed, depth: depth, expectedSteps: expectedSteps ?? calibratedSteps(explorer))
            return outcome(explorer.run(&picker), strategy: strategy, seed: seed)
        case .replay(let schedule):
            var picker = SPSCReplayPicker(schedule: Self.threads(schedule))
            var replayed = outcome(explorer.run(&picker), strategy: strategy, seed: nil)
            replayed.replayDivergedAtStep = picker.divergedAtStep
            return replayed
        case .exhaustive(let bound, _):
            // One schedule of the search: the one without preemptions.
            var picker = SPSCExhaustivePicker(preemptionBound: bound)
            return outcome(explorer.run(&picker), strategy: strategy, seed: nil)
        }
    }

    private func outcome(_ run: SPSCExplorer.Run, strategy: SPSCStrategy, seed: UInt64?) -> SPSCRunOutcome {
        let failure = run.failure.map { kind, message in
            SPSCFailure(
                kind: kind, message: message, strategy: strategy.description, seed: seed,
                schedule: String(run.schedule.map { $0 == SPSCExplorer.producer ? "P" : "C" }),
                preemptions: run.preemptions, capacity: capacity, items: items, plantedBug: plantedBug)
        }
        return SPSCRunOutcome(steps: run.steps, failure: failure)
    }

    private static func threads(_ schedule: String) -> [Int] {
        schedule.map { $0 == "P" ? SPSCExplorer.producer : SPSCExplorer.consumer }
    }

    private static func family(of strategy: SPSCStrategy) -> String {
        switch strategy {
        case .random: "random"
        case .pct(_, let depth): "pct(depth: \(depth))"
        case .exhaustive(let bound, _): "exhaustive(preemptionBound: \(bound))"
        case .replay: "replay"
        }
    }
}

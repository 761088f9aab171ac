/// A model checker for Miniss's hierarchical timer wheel.
///
/// Each seed generates a random sequence of inserts, cancels (pending, fired, cancelled twice,
/// stale ids), advances (by zero, one tick, a few, exactly to slot and level boundaries, huge
/// jumps), `nextExpiration` queries and the odd `removeAll`, with ticks biased to slot, level
/// and 2^36-tick window boundaries. The real wheel and a reference model run the sequence in
/// lockstep; after every operation the checker verifies that
///
/// - every timer fires exactly once, in the first `advance(to: t)` with `t >= deadline` — never
///   in an earlier advance (early) and never in a later one (late);
/// - the timers of one advance fire in deadline order, equal deadlines in insertion order, an
///   overdue insert counting as due at the tick it was inserted at (the wheel's promise);
/// - a cancelled timer never fires, and only the first cancel of a pending timer returns its
///   payload (cancels through fired, cancelled or reused ids return `nil`);
/// - `nextExpiration()` is `nil` exactly when nothing is pending and otherwise no later than the
///   earliest pending deadline (the wheel does not promise equality: it names cascade ticks too);
/// - the pending count, the current tick and `removeAll()` agree with the model.
///
/// A failure carries its seed, the failing operation's index, a one-line replay command and the
/// sequence shrunk by delta debugging. ``mutationSelfTest(maxSeeds:firstSeed:)`` runs the checker
/// against the planted bugs of debug builds to show that it can fail.
///
/// ```swift
/// let checker = TimerWheelChecker(operations: 2_000)
/// let report = checker.runMany(seeds: 1...500)
/// print(report)  // "timer wheel: 500 seed(s), 1000000 operations, … operations/s, passed"
/// ```
public struct TimerWheelChecker: Sendable {
    /// Operations generated per seed.
    public var operations: Int
    /// Whether failures found by ``run(seed:mutant:)`` and ``runMany(seeds:mutant:stopAtFirstFailure:)``
    /// are shrunk before they are reported.
    public var shrinksFailures: Bool
    /// The most replays one ``shrink(_:)`` may spend.
    public var shrinkReplayBudget: Int

    /// Creates a checker that runs `operations` operations per seed.
    public init(operations: Int = 2_000, shrinksFailures: Bool = true, shrinkReplayBudget: Int = 20_000) {
        precondition(operations > 0, "operations must be positive")
        self.operations = operations
        self.shrinksFailures = shrinksFailures
        self.shrinkReplayBudget = shrinkReplayBudget
    }

    /// The sequence `seed` generates: the same for the correct wheel and every mutant, and a
    /// prefix of the sequence of any larger `operations`.
    public static func scenario(seed: UInt64, operations: Int) -> TimerWheelScenario {
        var generator = TimerWheelOperationGenerator(seed: seed)
        let startTick = generator.startTick()
        var model = TimerWheelReferenceModel(now: startTick)
        var sequence: [TimerWheelOperation] = []
        sequence.reserveCapacity(operations)
        for _ in 0..<operations {
            let operation = generator.next(model)
            sequence.append(operation)
            switch operation {
            case .insert(let label, let deadline): _ = model.insert(label: label, deadline: deadline)
            case .cancel(let label): _ = model.cancel(label: label)
            case .advance(let tick): _ = model.advance(to: tick)
            case .removeAll: _ = model.removeAll()
            case .nextExpiration: break
            }
        }
        return TimerWheelScenario(startTick: startTick, operations: sequence)
    }

    /// Checks one seed against the correct wheel, or against the planted bug `mutant` (debug
    /// builds only; see ``TimerWheelCheckMutant/isCompiledIn``).
    public func run(seed: UInt64, mutant: TimerWheelCheckMutant? = nil) -> TimerWheelCheckReport {
        runMany(seeds: [seed], mutant: mutant)
    }

    /// Checks each seed in turn; with `stopAtFirstFailure` the run ends at the first failing seed.
    public func runMany(
        seeds: some Sequence<UInt64>, mutant: TimerWheelCheckMutant? = nil, stopAtFirstFailure: Bool = true
    ) -> TimerWheelCheckReport {
        var seedsRun: [UInt64] = []
        var operationsRun = 0
        var failures: [TimerWheelCheckFailure] = []
        var elapsed = Duration.zero
        let clock = ContinuousClock()
        for seed in seeds {
            seedsRun.append(seed)
            let started = clock.now
            let (failure, applied) = check(seed: seed, mutant: mutant)
            elapsed += clock.now - started
            operationsRun += applied
            guard let failure else { continue }
            failures.append(shrinksFailures ? shrink(failure) : failure)
            if stopAtFirstFailure { break }
        }
        return TimerWheelCheckReport(
            seeds: seedsRun, mutant: mutant, operationsRun: operationsRun, elapsed: elapsed, failures: failures)
    }

    /// Runs a given sequence (for example a shrunk one, or one written by hand) and returns its
    /// first failure, not shrunk, with no seed.
    public func replay(_ scenario: TimerWheelScenario, mutant: TimerWheelCheckMutant? = nil) -> TimerWheelCheckFailure?
    {
        var execution = TimerWheelExecution(startTick: scenario.startTick, mutant: mutant)
        for (index, operation) in scenario.operations.enumerated() {
            guard let violation = execution.apply(operation) else { continue }
            return TimerWheelCheckFailure(
                kind: violation.kind, message: violation.message, seed: nil, mutant: mutant, operationIndex: index,
                scenario: TimerWheelScenario(
                    startTick: scenario.startTick, operations: Array(scenario.operations[...index])))
        }
        return nil
    }

    /// Shrinks a failure's sequence by delta debugging: removes runs of operations (halves, then
    /// quarters, … down to single operations, until no single removal keeps it failing) as long
    /// as the rest still fails with the same ``TimerWheelCheckFailure/kind``, then renumbers the
    /// timers t0, t1, … in insertion order. Returns `failure` with ``TimerWheelCheckFailure/shrunk``
    /// set to a sequence that fails, no longer than the original.
    public func shrink(_ failure: TimerWheelCheckFailure) -> TimerWheelCheckFailure {
        let startTick = failure.scenario.startTick
        var replays = 0
        var message = failure.message
        /// The index the sequence fails at, if it still fails the same way.
        func failingIndex(_ operations: [TimerWheelOperation]) -> Int? {
            replays += 1
            let scenario = TimerWheelScenario(startTick: startTick, operations: operations)
            guard let found = replay(scenario, mutant: failure.mutant), found.kind == failure.kind else { return nil }
            message = found.message
            return found.operationIndex
        }
        var best = failure.scenario.operations
        if let index = failingIndex(best) { best = Array(best[...index]) } else { return failure }
        var chunk = max(1, best.count / 2)
        while replays < shrinkReplayBudget {
            var removedAny = false
            var start = 0
            while start < best.count, replays < shrinkReplayBudget {
                var candidate = best
                candidate.removeSubrange(start..<min(start + chunk, best.count))
                if let index = failingIndex(candidate) {
                    best = Array(candidate[...index])
                    removedAny = true
                } else {
                    start += chunk
                }
            }
            if chunk > 1 {
                chunk /= 2
            } else if !removedAny {
                break
            }
        }
        let renumbered = Self.renumbered(best)
        if failingIndex(renumbered) != nil {
            best = renumbered
        } else {
            _ = failingIndex(best)  // for its message
        }
        var shrunk = failure
        shrunk.shrunk = TimerWheelScenario(startTick: startTick, operations: best)
        shrunk.shrunkMessage = message
        return shrunk
    }

    /// Runs every planted bug against seeds `firstSeed`, `firstSeed + 1`, … (at most `maxSeeds`
    /// each) and reports, per bug, whether it was caught, after how many seeds, and how short its
    /// failing sequence shrank. Empty in release builds, which carry no planted bugs.
    public func mutationSelfTest(maxSeeds: Int, firstSeed: UInt64 = 1) -> [TimerWheelMutantResult] {
        guard TimerWheelCheckMutant.isCompiledIn else { return [] }
        return TimerWheelCheckMutant.allCases.map { mutant in
            for offset in 0..<maxSeeds {
                let seed = firstSeed &+ UInt64(offset)
                if let failure = check(seed: seed, mutant: mutant).failure {
                    return TimerWheelMutantResult(mutant: mutant, failure: shrink(failure), seedsRun: offset + 1)
                }
            }
            return TimerWheelMutantResult(mutant: mutant, failure: nil, seedsRun: maxSeeds)
        }
    }

    /// Generates and runs one seed; returns its first failure (not shrunk) and the operations applied.
    func check(seed: UInt64, mutant: TimerWheelCheckMutant?) -> (failure: TimerWheelCheckFailure?, applied: Int) {
        var generator = TimerWheelOperationGenerator(seed: seed)
        let startTick = generator.startTick()
        var execution = TimerWheelExecution(startTick: startTick, mutant: mutant)
        var sequence: [TimerWheelOperation] = []
        sequence.reserveCapacity(operations)
        for index in 0..<operations {
            let operation = generator.next(execution.model)
            sequence.append(operation)
            guard let violation = execution.apply(operation) else { continue }
            let failure = TimerWheelCheckFailure(
                kind: violation.kind, message: violation.message, seed: seed, mutant: mutant, operationIndex: index,
                scenario: TimerWheelScenario(startTick: startTick, operations: sequence))
            return (failure, index + 1)
        }
        return (nil, operations)
    }

    /// The same sequence with timers labelled 0, 1, … in insertion order.
    static func renumbered(_ operations: [TimerWheelOperation]) -> [TimerWheelOperation] {
        var labels: [Int: Int] = [:]
        return operations.map { operation in
            switch operation {
            case .insert(let label, let deadline):
                let new = labels[label] ?? labels.count
                labels[label] = new
                return .insert(timer: new, deadline: deadline)
            case .cancel(let label):
                // A cancel of a label never inserted stays a no-op under a label no insert uses.
                return .cancel(timer: labels[label] ?? -1 - label)
            case .advance, .nextExpiration, .removeAll:
                return operation
            }
        }
    }
}

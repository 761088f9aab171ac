#if DEBUG
    import Miniss
#endif

/// A bug planted in the real `TimerWheel` to prove the checker can fail (mutation testing).
///
/// The bugs are compiled into debug builds of Miniss only; ``isCompiledIn`` says whether this
/// build has them. Release builds run the checker against the correct wheel alone.
///
/// ```swift
/// if TimerWheelCheckMutant.isCompiledIn {
///     let report = TimerWheelChecker().run(seed: 7, mutant: .cascadeDropsTimer)
///     print(report.failures.first?.description ?? "not caught")
/// }
/// ```
public enum TimerWheelCheckMutant: String, CaseIterable, Sendable, CustomStringConvertible {
    /// A deadline exactly 64^L ticks ahead (L ≥ 1) is filed one level too low, in the slot the
    /// wheel stands on, so each cascade re-files it there (the advance livelocks or fires late).
    case levelOffByOne
    /// A processed slot's due check is `deadline <= tick + 1`: a timer one tick past a level
    /// boundary fires when the wheel cascades exactly at that boundary.
    case firesOneTickEarly
    /// Cascading a slot forgets to re-link its last entry: that timer never fires.
    case cascadeDropsTimer
    /// Cascading prepends instead of appending: equal deadlines lose their insertion order.
    case cascadeReversesTies
    /// `cancel` frees the id and returns the payload but leaves the timer linked: it still fires.
    case cancelLeavesEntryLinked
    /// Removing a slot's first timer clears the slot's occupancy bit even when timers remain.
    case bitmapClearedEarly
    /// The overflow list's window is taken from its first entry instead of its earliest one.
    case overflowWindowWrong
    /// Ids are not generation-checked: a stale id cancels the timer that reuses its slab node.
    case staleGenerationAccepted

    /// Whether this build carries the planted bugs (debug builds do, release builds do not).
    public static var isCompiledIn: Bool {
        #if DEBUG
            true
        #else
            false
        #endif
    }

    /// The mutant's name, as the command line spells it.
    public var description: String { rawValue }

    static let unavailableMessage =
        "planted timer-wheel bugs exist only in debug builds; check TimerWheelCheckMutant.isCompiledIn first"

    #if DEBUG
        var wheelMutant: TimerWheelMutant {
            switch self {
            case .levelOffByOne: .levelOffByOne
            case .firesOneTickEarly: .firesOneTickEarly
            case .cascadeDropsTimer: .cascadeDropsTimer
            case .cascadeReversesTies: .cascadeReversesTies
            case .cancelLeavesEntryLinked: .cancelLeavesEntryLinked
            case .bitmapClearedEarly: .bitmapClearedEarly
            case .overflowWindowWrong: .overflowWindowWrong
            case .staleGenerationAccepted: .staleGenerationAccepted
            }
        }
    #endif
}

/// One violated check: which, where, how to replay it, and the shortest failing sequence found.
public struct TimerWheelCheckFailure: Sendable, Hashable, CustomStringConvertible {
    /// The property of the wheel's contract that was violated.
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// An advance kept processing lists past the bound the wheel keeps (it would hang).
        case livelock
        /// A timer fired in an advance whose target is before its deadline.
        case firedEarly
        /// A pending timer did not fire in the advance that reached its deadline.
        case firedLate
        /// A timer fired a second time.
        case firedTwice
        /// A cancelled timer fired.
        case cancelledTimerFired
        /// A payload that no insert used was fired.
        case unknownTimerFired
        /// A timer fired with an id other than the one its insert returned.
        case wrongTimerID
        /// Due timers fired out of (effective deadline, insertion order).
        case firingOrder
        /// Cancelling a pending timer did not return its payload.
        case cancelReturnedWrongPayload
        /// Cancelling through a fired or cancelled timer's id removed a pending timer.
        case staleCancelRemovedTimer
        /// `nextExpiration()` named a tick after the earliest pending deadline.
        case nextExpirationTooLate
        /// `nextExpiration()` was `nil` with timers pending.
        case nextExpirationMissing
        /// `nextExpiration()` named a tick with nothing pending.
        case nextExpirationSpurious
        /// The wheel's pending count differs from the model's.
        case countMismatch
        /// After `advance(to:)` the wheel's current tick is not the target.
        case currentTickMismatch
        /// `removeAll()` returned other timers than the pending ones, or out of deadline order.
        case removeAllMismatch
    }

    /// The violated property.
    public let kind: Kind
    /// What happened, with ticks and timers (`t5` is the timer inserted with payload 5).
    public let message: String
    /// The seed that generated the run, or `nil` for a replayed ``TimerWheelScenario``.
    public let seed: UInt64?
    /// The planted bug the wheel carried, or `nil` for the correct wheel.
    public let mutant: TimerWheelCheckMutant?
    /// Index of the failing operation in the original run.
    public let operationIndex: Int
    /// The original run up to and including the failing operation.
    public let scenario: TimerWheelScenario
    /// A shorter sequence that fails with the same ``kind`` (see ``TimerWheelChecker/shrink(_:)``),
    /// or `nil` if it was not shrunk.
    public var shrunk: TimerWheelScenario?
    /// What the ``shrunk`` sequence's last operation violates (same ``kind``; the timers and
    /// ticks are the shrunk sequence's own), or `nil` if it was not shrunk.
    public var shrunkMessage: String?

    /// Creates a failure record (the checker makes these; public for tools that store them).
    public init(
        kind: Kind, message: String, seed: UInt64?, mutant: TimerWheelCheckMutant?, operationIndex: Int,
        scenario: TimerWheelScenario, shrunk: TimerWheelScenario? = nil, shrunkMessage: String? = nil
    ) {
        self.kind = kind
        self.message = message
        self.seed = seed
        self.mutant = mutant
        self.operationIndex = operationIndex
        self.scenario = scenario
        self.shrunk = shrunk
        self.shrunkMessage = shrunkMessage
    }

    /// One line that replays the failure: the test run for a seed of the correct wheel, the
    /// `miniss-check` command line when a mutant is involved.
    public var replayCommand: String {
        guard let seed else { return "replay the scenario with TimerWheelChecker.replay(_:mutant:)" }
        let operations = operationIndex + 1
        if let mutant {
            return "miniss-check wheel --seed \(seed) --operations \(operations) --mutant \(mutant)"
        }
        return
            "MINISS_SEED=\(seed) MINISS_OPERATIONS=\(operations) swift test --disable-xctest --filter TimerWheelCheckerTests"
            + "  (or: miniss-check wheel --seed \(seed) --operations \(operations))"
    }

    /// The failure, its replay line and the shrunk sequence as a numbered list.
    public var description: String {
        let origin = seed.map { "seed \($0)" } ?? "scenario"
        let wheel = mutant.map { "wheel with planted bug \($0)" } ?? "wheel"
        var text = "\(kind) at operation \(operationIndex) of \(origin) (\(wheel)): \(message)\n"
        text += "replay: \(replayCommand)\n"
        if let shrunk {
            text += "shrunk from \(scenario.operations.count) to \(shrunk.operations.count) operations"
            text += shrunkMessage.map { ", whose last fails with: \($0)" } ?? ""
            text += "\n\(shrunk)"
        } else {
            text += "sequence (\(scenario.operations.count) operations, not shrunk)"
        }
        return text
    }
}

/// The outcome of checking one or more seeds.
public struct TimerWheelCheckReport: Sendable, CustomStringConvertible {
    /// The seeds that were run, in order (a run that stops at a failure ends with its seed).
    public let seeds: [UInt64]
    /// The planted bug the wheel carried, or `nil` for the correct wheel.
    public let mutant: TimerWheelCheckMutant?
    /// Operations applied to the wheel and the model, over all seeds.
    public let operationsRun: Int
    /// Time spent running operations (shrinking excluded).
    public let elapsed: Duration
    /// The failures found, at most one per seed, shrunk if the checker shrinks.
    public let failures: [TimerWheelCheckFailure]

    /// Creates a report (the checker makes these).
    public init(
        seeds: [UInt64], mutant: TimerWheelCheckMutant?, operationsRun: Int, elapsed: Duration,
        failures: [TimerWheelCheckFailure]
    ) {
        self.seeds = seeds
        self.mutant = mutant
        self.operationsRun = operationsRun
        self.elapsed = elapsed
        self.failures = failures
    }

    /// Whether every seed passed.
    public var passed: Bool { failures.isEmpty }

    /// Checked operations per second of ``elapsed``.
    public var operationsPerSecond: Double {
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        return seconds > 0 ? Double(operationsRun) / seconds : 0
    }

    /// A summary line, then each failure.
    public var description: String {
        let wheel = mutant.map { "wheel with planted bug \($0)" } ?? "timer wheel"
        let rate = Int(operationsPerSecond.rounded())
        var text =
            "\(wheel): \(seeds.count) seed(s), \(operationsRun) operations, \(rate) operations/s, "
            + (passed ? "passed" : "\(failures.count) failure(s)")
        for failure in failures { text += "\n" + failure.description }
        return text
    }
}

/// How the checker fared against one planted bug in ``TimerWheelChecker/mutationSelfTest(maxSeeds:firstSeed:)``.
public struct TimerWheelMutantResult: Sendable, CustomStringConvertible {
    /// The planted bug.
    public let mutant: TimerWheelCheckMutant
    /// The first failure (shrunk), or `nil` if no seed caught the bug.
    public let failure: TimerWheelCheckFailure?
    /// Seeds run until the first failure (that seed included), or all seeds tried if none failed.
    public let seedsRun: Int

    /// Creates a result (the checker makes these).
    public init(mutant: TimerWheelCheckMutant, failure: TimerWheelCheckFailure?, seedsRun: Int) {
        self.mutant = mutant
        self.failure = failure
        self.seedsRun = seedsRun
    }

    /// Whether some seed caught the bug.
    public var caught: Bool { failure != nil }
    /// Seeds needed to catch the bug, or `nil` if none did.
    public var seedsToDetection: Int? { caught ? seedsRun : nil }
    /// Length of the shrunk failing sequence, or `nil` if not caught.
    public var shrunkLength: Int? { failure.map { $0.shrunk?.operations.count ?? $0.scenario.operations.count } }

    /// `mutant: caught by seed N after K operations as kind, shrunk to L operations`.
    public var description: String {
        guard let failure else { return "\(mutant): NOT caught in \(seedsRun) seed(s)" }
        return
            "\(mutant): caught in \(seedsRun) seed(s) (seed \(failure.seed ?? 0), operation \(failure.operationIndex), "
            + "\(failure.kind)), shrunk to \(shrunkLength ?? 0) operation(s)"
    }
}

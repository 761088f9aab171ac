import Miniss

/// How ``SPSCChecker`` picks which side of the ring takes the next step.
///
/// A *step* runs one thread from one scheduling point to the next. Scheduling points sit just
/// before and just after every shared-index load and store, so each atomic operation is a step
/// of its own and so is the plain code between two of them (slot writes and reads included).
public enum SPSCStrategy: Sendable, Hashable, CustomStringConvertible {
    /// At every scheduling point, a runnable thread picked uniformly at random. The seed replays
    /// the run exactly.
    case random(seed: UInt64)
    /// Probabilistic concurrency testing (Burckhardt et al., ASPLOS 2010): the two threads get
    /// random distinct priorities, the highest-priority runnable thread runs, and at `depth − 1`
    /// random steps the running thread drops below every other priority. A bug that needs `depth`
    /// ordering constraints is found by each run with probability at least 1 / (2 · k^(depth−1)),
    /// where k is the run's length in steps (the checker takes k from a run without
    /// preemptions). Depth 2 targets one badly placed preemption (a publish before a write);
    /// depth 3, two. Depths below 1 count as 1 (no change points).
    case pct(seed: UInt64, depth: Int)
    /// Every schedule with at most `preemptionBound` preemptions, depth first (as loom and CHESS
    /// do). A preemption is a switch away from a thread that could have gone on; switches at a
    /// thread that waits or ends are free. Stops after `maxSchedules` schedules, and the report
    /// says whether the search completed. A negative bound counts as 0.
    case exhaustive(preemptionBound: Int, maxSchedules: Int = 1_000_000)
    /// Replays a schedule printed in a failure: one letter per step, `P` for the producer and `C`
    /// for the consumer.
    case replay(schedule: String)

    /// A short name with the parameters, as printed in reports.
    public var description: String {
        switch self {
        case .random(let seed): "random(seed: \(seed))"
        case .pct(let seed, let depth): "pct(seed: \(seed), depth: \(depth))"
        case .exhaustive(let bound, let maxSchedules):
            "exhaustive(preemptionBound: \(bound), maxSchedules: \(maxSchedules))"
        case .replay(let schedule): "replay(schedule: \(schedule))"
        }
    }
}

/// A bug planted in the ring under test. Planted bugs exist only in debug builds of Miniss
/// (see ``SPSCChecker/plantedBugsAreAvailable``); each names one realistic mistake in a Lamport
/// queue, and ``SPSCChecker/mutationSelfTest(items:capacity:seedBudget:preemptionBound:)``
/// shows the checker catches each one.
public enum SPSCPlantedBug: String, CaseIterable, Sendable, Hashable {
    /// The production ring, no bug.
    case none
    /// The full test compares with `capacity + 1`: one element too many is admitted and
    /// overwrites the oldest unread slot.
    case fullCheckOffByOne
    /// The full test compares with `capacity − 1`: a push fails while a slot is free (every
    /// value still arrives; only the full/empty model catches it).
    case fullCheckOneEarly
    /// A push stores `tail` before it writes the slot.
    case publishBeforeWrite
    /// `tryPush` never publishes; its element shows up only at a later batch publish, if any.
    case missingPublish
    /// Positions map to slots with `mask − 1`: slots collide.
    case wrapMaskOffByOne
    /// `tryPop` stores `head` (freeing the slot) before it moves the element out.
    case popFreesBeforeRead
    /// The producer refreshes its cached head from its own `tail` (a head/tail typo).
    case staleCachedHead

    #if DEBUG
        /// The ring's own name for this bug.
        var ringMutant: SPSCRingMutant {
            switch self {
            case .none: .none
            case .fullCheckOffByOne: .fullCheckOffByOne
            case .fullCheckOneEarly: .fullCheckOneEarly
            case .publishBeforeWrite: .publishBeforeWrite
            case .missingPublish: .missingPublish
            case .wrapMaskOffByOne: .wrapMaskOffByOne
            case .popFreesBeforeRead: .popFreesBeforeRead
            case .staleCachedHead: .staleCachedHead
            }
        }
    #endif
}

/// A checker configuration or replay line that cannot be run, with what to change.
public enum SPSCCheckerError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The ring capacity must be a power of two, at least 2.
    case invalidCapacity(Int)
    /// The workload needs at least one item.
    case invalidItemCount(Int)
    /// This build has no planted bugs (release builds compile them out).
    case plantedBugsNeedDebugBuild(SPSCPlantedBug)
    /// A replay line could not be read.
    case malformedReplay(String)

    /// What went wrong and what to do about it.
    public var description: String {
        switch self {
        case .invalidCapacity(let capacity):
            "capacity \(capacity) is not a power of two >= 2; use 2, 4, 8, ..."
        case .invalidItemCount(let items):
            "items must be at least 1 (got \(items))"
        case .plantedBugsNeedDebugBuild(let bug):
            "planted bug \(bug.rawValue) exists only in debug builds; build without -c release"
        case .malformedReplay(let reason):
            "cannot read the replay line: \(reason); expected e.g. 'capacity=2 items=3 bug=none schedule=PPCPC'"
        }
    }
}

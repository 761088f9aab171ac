/// What kind of misbehaviour a checked run showed.
public enum SPSCFailureKind: String, Sendable, Hashable {
    /// The consumer received a value other than the next one pushed: an element was lost,
    /// duplicated, reordered, invented, or read from a slot never written in this run.
    case wrongValue
    /// Every value arrived in order, but no sequential bounded FIFO explains the history: a push
    /// failed while the ring had room, or a pop found it empty while it held a published element.
    case notLinearizable
    /// Both sides wait for each other, or one waits for a side that has finished (elements that
    /// were pushed never become visible).
    case deadlock
    /// The run took more steps than the bound allows (a livelock or runaway loop).
    case stepBoundExceeded
}

/// One failing run: what went wrong, and everything needed to replay it.
public struct SPSCFailure: Sendable, Hashable, CustomStringConvertible {
    /// The kind of failure.
    public var kind: SPSCFailureKind
    /// What the checker saw, in one line.
    public var message: String
    /// The strategy that produced the run (its seed, when it has one).
    public var strategy: String
    /// The seed of a random or PCT run; nil for exhaustive runs and replays.
    public var seed: UInt64?
    /// Which thread took each step: `P` producer, `C` consumer. Replays the run exactly.
    public var schedule: String
    /// How many of the schedule's switches were preemptions.
    public var preemptions: Int
    /// The ring capacity of the run.
    public var capacity: Int
    /// How many items the producer pushed in the run.
    public var items: Int
    /// The bug planted in the ring.
    public var plantedBug: SPSCPlantedBug
    /// The run step by step (each scheduling step and the operation it performed), filled in for
    /// the shrunk failure of a report; empty otherwise.
    public var trace: [String] = []

    /// The replay line ``SPSCChecker/replay(line:)`` reads back.
    public var replayLine: String {
        "capacity=\(capacity) items=\(items) bug=\(plantedBug.rawValue) schedule=\(schedule)"
    }

    /// A shell command that replays this failure in the test suite.
    public var replayCommand: String {
        "MINISS_SPSC_REPLAY='\(replayLine)' swift test --disable-xctest --filter SPSCCheckerTests.replayFromEnvironment"
    }

    /// The failure, its schedule and replay command, and the trace when there is one.
    public var description: String {
        var lines = [
            "\(kind.rawValue): \(message)",
            "  strategy \(strategy), capacity \(capacity), items \(items), bug \(plantedBug.rawValue), "
                + "\(schedule.count) steps, \(preemptions) preemption(s)",
            "  schedule \(schedule)",
            "  replay: \(replayCommand)",
        ]
        lines += trace.map { "    " + $0 }
        return lines.joined(separator: "\n")
    }

    /// Whether `other` is the same misbehaviour on the same schedule (strategy names aside).
    public func reproduces(_ other: SPSCFailure) -> Bool {
        kind == other.kind && message == other.message && schedule == other.schedule
    }
}

/// The outcome of ``SPSCChecker/run(_:)`` or ``SPSCChecker/runMany(seeds:stopAtFirstFailure:strategy:)``.
public struct SPSCCheckReport: Sendable, CustomStringConvertible {
    /// The strategy (or strategies) used.
    public var strategy: String
    /// The ring capacity checked.
    public var capacity: Int
    /// The items pushed per run.
    public var items: Int
    /// The bug planted in the ring.
    public var plantedBug: SPSCPlantedBug
    /// How many schedules (runs) were executed.
    public var schedulesExplored = 0
    /// Scheduling steps over all runs.
    public var stepsExplored = 0
    /// The most steps one run took.
    public var longestRunSteps = 0
    /// Exhaustive: every schedule within the bound was run. Seeds: every seed was run (no stop at
    /// a failure). Replays: always true.
    public var isComplete = true
    /// How many runs failed.
    public var failingRuns = 0
    /// The number of runs up to and including the first failing one, if any failed.
    public var runsUntilFirstFailure: Int?
    /// The first few failures (at most ``maxRecordedFailures``).
    public var failures: [SPSCFailure] = []
    /// The first failure shrunk to the fewest items and preemptions that still fail, with its
    /// step-by-step trace; nil when every run passed.
    public var minimalFailure: SPSCFailure?
    /// Replays only: the first step at which the run did not follow the schedule (it came from
    /// another build or configuration); nil when it was followed to the letter.
    public var replayDivergedAtStep: Int?
    /// Wall time of the check, for the throughput figures (never asserted in tests).
    public var elapsed: Duration = .zero

    /// How many failures a report keeps.
    public static let maxRecordedFailures = 5

    /// Whether every run passed.
    public var passed: Bool { failingRuns == 0 }

    /// Schedules per second of wall time.
    public var schedulesPerSecond: Double { Self.rate(schedulesExplored, elapsed) }

    /// Steps per second of wall time.
    public var stepsPerSecond: Double { Self.rate(stepsExplored, elapsed) }

    static func rate(_ count: Int, _ elapsed: Duration) -> Double {
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        return seconds > 0 ? Double(count) / seconds : 0
    }

    /// A summary line, then the shrunk failure (or the first one) if any.
    public var description: String {
        let verdict = passed ? "PASS" : "FAIL (\(failingRuns) failing run(s))"
        var text =
            "SPSC \(strategy) capacity \(capacity) items \(items) bug \(plantedBug.rawValue): \(verdict); "
            + "\(schedulesExplored) schedules\(isComplete ? "" : " (incomplete)"), \(stepsExplored) steps, "
            + "longest \(longestRunSteps) steps, \(Int(schedulesPerSecond)) schedules/s, \(Int(stepsPerSecond)) steps/s"
        if let step = replayDivergedAtStep { text += "\nthe run left the replayed schedule at step \(step)" }
        if let failure = minimalFailure ?? failures.first { text += "\n" + failure.description }
        return text
    }

    mutating func record(_ outcome: SPSCRunOutcome) {
        schedulesExplored += 1
        stepsExplored += outcome.steps
        longestRunSteps = max(longestRunSteps, outcome.steps)
        if replayDivergedAtStep == nil { replayDivergedAtStep = outcome.replayDivergedAtStep }
        guard let failure = outcome.failure else { return }
        failingRuns += 1
        if runsUntilFirstFailure == nil { runsUntilFirstFailure = schedulesExplored }
        if failures.count < Self.maxRecordedFailures { failures.append(failure) }
    }
}

/// One run's result, inside the checker.
struct SPSCRunOutcome {
    var steps: Int
    var failure: SPSCFailure?
    var replayDivergedAtStep: Int?
}

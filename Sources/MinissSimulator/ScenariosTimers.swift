import Miniss

/// A bug to plant in `timers-under-cancellation`, to show that its invariants catch it.
package enum TimersUnderCancellationBug: Sendable {
    /// A sleeper swallows `CancellationError` (`try? await sleep(…)`) and carries on as if its
    /// sleep had completed.
    case swallowsCancellation
    /// A sleeper sleeps 1 ms less than asked (a timer that fires a tick early).
    case wakesEarly
}

extension SimulationScenario {
    /// The timers scenario, correct (`plantedBug: nil`) or with a planted bug.
    package static func timersUnderCancellation(plantedBug: TimersUnderCancellationBug?) -> SimulationScenario {
        let bugName: String
        switch plantedBug {
        case nil: bugName = ""
        case .swallowsCancellation: bugName = "buggy-swallowed-cancellation"
        case .wakesEarly: bugName = "buggy-early-wake"
        }
        return SimulationScenario(
            name: plantedBug == nil ? "timers-under-cancellation" : bugName,
            summary:
                "sleepers with random durations on shards 0 and 1, a random subset cancelled at random virtual "
                + "times; checks each ends exactly at its deadline or at its cancellation, never both",
            shards: 2, isDeliberatelyBuggy: plantedBug != nil
        ) { TimersUnderCancellation.program(plantedBug: plantedBug) }
    }
}

/// `timers-under-cancellation`: 16–32 sleepers on shards 0 and 1, each sleeping a random whole
/// number of milliseconds (0–49; half through `sleep(for:)`, half through
/// `ShardClock.sleep(until:)`), and cancellers on shard 0 that cancel about a third of them at
/// random virtual times (before, at or after their deadlines; for shard 1's sleepers the
/// cancellation crosses shards).
///
/// Invariants, and the bugs they catch:
/// - a sleeper cancelled before its deadline never completes normally — a sleep that ignores
///   cancellation or a cancellation handler that loses the race with the timer (the planted
///   ``TimersUnderCancellationBug/swallowsCancellation``);
/// - a sleeper that completes does so exactly at start + duration on the shard's clock (in
///   virtual time a whole-millisecond sleep is exact: never early, and not a tick late) — a
///   timer wheel that fires early or late, a wrong tick rounding (the planted
///   ``TimersUnderCancellationBug/wakesEarly``);
/// - a cancelled sleeper ends at the instant of its cancellation (cancellation ends a sleep at
///   once), and only if a cancellation was requested no later than its deadline — a timer not
///   removed on cancellation, a spurious `CancellationError`;
/// - every sleeper finishes — a sleeper whose timer was lost (otherwise the simulator reports
///   a deadlock).
enum TimersUnderCancellation {
    static let sleeperShards = 2
    static let maxDurationMilliseconds = 50
    /// Cancellations are drawn up to a little past the longest deadline.
    static let maxCancelMilliseconds = 60

    enum Outcome {
        case completed(at: ShardClock.Instant)
        case cancelled(at: ShardClock.Instant)
    }

    /// What each sleeper was asked to do and what happened.
    final class Board: @unchecked Sendable {
        // SAFETY (@unchecked Sendable): written by the sleepers (each its own slot, on its
        // shard) and the cancellers (on shard 0), read by the root task; the scenario runs only
        // under the simulator, whose shards all run on its one thread.
        let durations: [Duration]
        var starts: [ShardClock.Instant?]
        var cancellations: [ShardClock.Instant?]
        var outcomes: [Outcome?]

        init(durations: [Duration]) {
            self.durations = durations
            starts = Array(repeating: nil, count: durations.count)
            cancellations = Array(repeating: nil, count: durations.count)
            outcomes = Array(repeating: nil, count: durations.count)
        }
    }

    static func program(plantedBug: TimersUnderCancellationBug?) -> @Sendable () async throws -> Void {
        {
            let origin = ShardClock().now
            let count = Simulation.random(in: 16..<33)
            let durations = (0..<count).map { _ in
                Duration.milliseconds(Simulation.random(in: 0..<maxDurationMilliseconds))
            }
            let board = Board(durations: durations)
            var handles: [JoinHandle<Void>] = []
            for index in 0..<count {
                let shard = Simulation.random(in: 0..<sleeperShards)
                if shard == 0 {
                    handles.append(spawn { try await sleeper(index, board: board, plantedBug: plantedBug) })
                } else {
                    handles.append(
                        try await submit(to: shard) {
                            spawn { try await sleeper(index, board: board, plantedBug: plantedBug) }
                        })
                }
            }
            var cancellers: [JoinHandle<Void>] = []
            for index in 0..<count where Simulation.random(in: 0..<3) == 0 {
                let at = origin.advanced(by: .milliseconds(Simulation.random(in: 0..<maxCancelMilliseconds)))
                let handle = handles[index]
                cancellers.append(
                    spawn {
                        try await sleep(until: at)
                        board.cancellations[index] = ShardClock().now
                        handle.cancel()
                    })
            }
            for canceller in cancellers { try await canceller.value }
            var finished = 0
            for (index, handle) in handles.enumerated() {
                do {
                    try await handle.value
                } catch is CancellationError {
                    // Cancelled before it started: its body never ran.
                    invariant(
                        board.cancellations[index] != nil && board.starts[index] == nil,
                        "sleeper \(index) threw CancellationError without being cancelled before it started")
                }
                finished += 1
            }
            invariant(finished == count, "only \(finished) of \(count) sleepers finished")
            for index in 0..<count where board.starts[index] != nil {
                invariant(board.outcomes[index] != nil, "sleeper \(index) started but recorded no outcome")
            }
        }
    }

    /// One sleeper: sleeps its duration, records how it ended, and checks it against the
    /// cancellation recorded so far.
    static func sleeper(_ index: Int, board: Board, plantedBug: TimersUnderCancellationBug?) async throws {
        let clock = ShardClock()
        let start = clock.now
        board.starts[index] = start
        let duration = board.durations[index]
        let deadline = start.advanced(by: duration)
        let asked = plantedBug == .wakesEarly ? max(.zero, duration - .milliseconds(1)) : duration
        do {
            if plantedBug == .swallowsCancellation {
                try? await sleep(for: asked)
            } else if index.isMultiple(of: 2) {
                try await sleep(for: asked)
            } else {
                try await clock.sleep(until: start.advanced(by: asked))
            }
            let end = clock.now
            board.outcomes[index] = .completed(at: end)
            if let cancelled = board.cancellations[index] {
                invariant(
                    cancelled >= deadline,
                    "sleeper \(index) completed normally although it was cancelled at \(cancelled), "
                        + "before its deadline \(deadline)")
            }
            invariant(
                end == deadline,
                "sleeper \(index) (\(duration) from \(start)) completed at \(end), not exactly at its deadline \(deadline)"
            )
        } catch is CancellationError {
            let end = clock.now
            board.outcomes[index] = .cancelled(at: end)
            guard let cancelled = board.cancellations[index] else {
                invariant(false, "sleeper \(index) got CancellationError at \(end) but nobody cancelled it")
                return
            }
            invariant(
                cancelled <= deadline,
                "sleeper \(index) was cancelled at \(cancelled), after its deadline \(deadline), yet did not complete")
            invariant(
                end == max(start, cancelled),
                "sleeper \(index) was cancelled at \(cancelled) but its sleep ended only at \(end)")
        }
    }
}

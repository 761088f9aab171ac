/// One step of a timer-wheel check: what the checker does to the wheel and, in lockstep, to its
/// reference model.
///
/// Ticks are absolute, so a sequence keeps its meaning when the shrinker removes steps from it:
/// advances stay in order (a subsequence of rising targets still rises) and a deadline still
/// names the same slot and level boundary.
///
/// ```swift
/// let scenario = TimerWheelScenario(startTick: 4_000, operations: [
///     .insert(timer: 0, deadline: 4_096),
///     .advance(to: 4_096),
/// ])
/// ```
public enum TimerWheelOperation: Sendable, Hashable, CustomStringConvertible {
    /// Inserts the timer labelled `timer` (its payload) with an absolute `deadline` in ticks.
    case insert(timer: Int, deadline: UInt64)
    /// Cancels the timer labelled `timer` through the id its insert returned, whether it is
    /// pending, already fired or already cancelled (a stale id). A label that was never inserted
    /// (its insert was shrunk away) makes this a no-op.
    case cancel(timer: Int)
    /// Advances the wheel to the absolute tick `to` (never below the current tick; a lower
    /// target, possible only in a hand-written scenario, is skipped).
    case advance(to: UInt64)
    /// Asks the wheel for its next expiration and checks it against the model.
    case nextExpiration
    /// Removes every pending timer at once.
    case removeAll

    /// The operation on one line, with absolute ticks (``TimerWheelScenario`` adds offsets
    /// relative to the current tick).
    public var description: String {
        switch self {
        case .insert(let timer, let deadline): "insert t\(timer) deadline \(deadline)"
        case .cancel(let timer): "cancel t\(timer)"
        case .advance(let tick): "advance to \(tick)"
        case .nextExpiration: "nextExpiration"
        case .removeAll: "removeAll"
        }
    }
}

/// A complete, replayable timer-wheel check input: the wheel's start tick and the operations.
///
/// Its `description` is the readable form printed with a failure, one numbered operation a line
/// with each tick also given relative to the wheel's current tick:
///
/// ```
/// start at tick 1000
///   0. insert t0 deadline 1065 (now+65)
///   1. advance to 1064 (now+64)
/// ```
public struct TimerWheelScenario: Sendable, Hashable, CustomStringConvertible {
    /// The wheel's tick when it is created.
    public var startTick: UInt64
    /// The operations, applied in order.
    public var operations: [TimerWheelOperation]

    /// Creates a scenario that starts the wheel at `startTick` and applies `operations`.
    public init(startTick: UInt64, operations: [TimerWheelOperation]) {
        self.startTick = startTick
        self.operations = operations
    }

    /// The scenario as a numbered list, ticks annotated relative to the current tick.
    public var description: String {
        var lines = ["start at tick \(startTick)"]
        var now = startTick
        for (index, operation) in operations.enumerated() {
            var line = "\(index). \(operation)"
            switch operation {
            case .insert(_, let deadline):
                line += " (\(Self.relative(deadline, to: now)))"
            case .advance(let tick):
                line += " (\(Self.relative(tick, to: now)))"
                now = max(now, tick)
            case .cancel, .nextExpiration, .removeAll:
                break
            }
            lines.append("  " + line)
        }
        return lines.joined(separator: "\n")
    }

    /// `now`, `now+N` or `now-N`, with N in powers of 64 where it is one (`now+64^2`).
    static func relative(_ tick: UInt64, to now: UInt64) -> String {
        if tick == now { return "now" }
        let sign = tick > now ? "+" : "-"
        let distance = tick > now ? tick - now : now - tick
        for power in 1...6 where distance == UInt64(1) << (6 * UInt64(power)) {
            return power == 1 ? "now\(sign)64" : "now\(sign)64^\(power)"
        }
        return "now\(sign)\(distance)"
    }
}

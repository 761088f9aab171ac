import Miniss

/// The specification the wheel is checked against: a sorted list of pending timers and the fate
/// of every timer ever inserted. It follows the wheel's documented contract directly:
///
/// - a pending timer fires in the first `advance(to: t)` with `t >= deadline`, and never in an
///   earlier one (so it is never early, and at most "one advance" late: the advance that passes
///   its deadline is the one that fires it);
/// - the timers due in one advance fire ordered by effective deadline, ties in insertion order,
///   where the effective deadline of a timer inserted overdue (`deadline <= now`) is `now`;
/// - a cancelled or fired timer never fires again, and only the first cancel of a pending timer
///   returns its payload.
struct TimerWheelReferenceModel {
    enum State { case pending, fired, cancelled }

    struct Timer {
        let deadline: UInt64
        /// `max(deadline, now at insertion)`: the key that orders firing.
        let effectiveDeadline: UInt64
        let sequence: Int
        let insertedAt: UInt64
        var state: State
    }

    struct Pending {
        let deadline: UInt64
        let sequence: Int
        let label: Int
    }

    private(set) var now: UInt64
    /// Pending timers sorted by (deadline, insertion sequence).
    private(set) var live: [Pending] = []
    /// Labels of fired and cancelled timers (targets for stale cancels).
    private(set) var dead: [Int] = []
    private(set) var timers: [Int: Timer] = [:]
    private var sequence = 0

    init(now: UInt64) {
        self.now = now
    }

    /// Records an insert; `false` if the label is taken (possible only in a hand-written scenario).
    mutating func insert(label: Int, deadline: UInt64) -> Bool {
        guard timers[label] == nil else { return false }
        timers[label] = Timer(
            deadline: deadline, effectiveDeadline: max(deadline, now), sequence: sequence, insertedAt: now,
            state: .pending)
        let entry = Pending(deadline: deadline, sequence: sequence, label: label)
        live.insert(entry, at: liveIndex(deadline: deadline, sequence: sequence))
        sequence += 1
        return true
    }

    /// Records a cancel; returns whether the timer was pending.
    mutating func cancel(label: Int) -> Bool {
        guard let timer = timers[label], timer.state == .pending else { return false }
        live.remove(at: liveIndex(deadline: timer.deadline, sequence: timer.sequence))
        timers[label]!.state = .cancelled
        dead.append(label)
        return true
    }

    /// Moves to `tick` and returns the labels that must fire, in the order they must fire.
    mutating func advance(to tick: UInt64) -> [Int] {
        precondition(tick >= now, "the model cannot move back")
        let dueCount = liveIndex(deadline: tick, sequence: Int.max)
        let due = live[..<dueCount].map(\.label).sorted { a, b in
            let (x, y) = (timers[a]!, timers[b]!)
            return (x.effectiveDeadline, x.sequence) < (y.effectiveDeadline, y.sequence)
        }
        live.removeFirst(dueCount)
        for label in due { timers[label]!.state = .fired }
        dead.append(contentsOf: due)
        now = tick
        return due
    }

    /// Cancels everything pending; returns the labels in deadline order.
    mutating func removeAll() -> [Int] {
        let labels = live.map(\.label)
        for label in labels { timers[label]!.state = .cancelled }
        dead.append(contentsOf: labels)
        live.removeAll()
        return labels
    }

    /// The first position whose (deadline, sequence) is not below the given one.
    private func liveIndex(deadline: UInt64, sequence: Int) -> Int {
        var low = 0
        var high = live.count
        while low < high {
            let middle = (low + high) / 2
            if (live[middle].deadline, live[middle].sequence) < (deadline, sequence) {
                low = middle + 1
            } else {
                high = middle
            }
        }
        return low
    }

    /// A timer for failure messages: `t5 (deadline 1065, inserted at 1000)`.
    func describe(_ label: Int) -> String {
        guard let timer = timers[label] else { return "t\(label) (never inserted)" }
        return "t\(label) (deadline \(timer.deadline), inserted at \(timer.insertedAt))"
    }
}

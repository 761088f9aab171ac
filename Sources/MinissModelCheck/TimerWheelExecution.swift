import Miniss

/// One run in progress: the real wheel (with or without a planted bug) and the reference model,
/// driven in lockstep, one operation at a time. Every operation is followed by the checks that
/// the contract allows, and the first violation ends the run.
struct TimerWheelExecution: ~Copyable {
    /// What went wrong, before the checker attaches seed, index and sequence.
    struct Violation: Equatable {
        var kind: TimerWheelCheckFailure.Kind
        var message: String
    }

    private var wheel: TimerWheel<Int>
    private(set) var model: TimerWheelReferenceModel
    private var ids: [Int: TimerID] = [:]

    init(startTick: UInt64, mutant: TimerWheelCheckMutant?) {
        #if DEBUG
            wheel = TimerWheel(startTick: startTick, initialCapacity: 8, mutant: mutant?.wheelMutant ?? .none)
        #else
            precondition(mutant == nil, TimerWheelCheckMutant.unavailableMessage)
            wheel = TimerWheel(startTick: startTick, initialCapacity: 8)
        #endif
        model = TimerWheelReferenceModel(now: startTick)
    }

    /// Applies `operation` to the wheel and the model; returns the first violated check.
    mutating func apply(_ operation: TimerWheelOperation) -> Violation? {
        let violation: Violation?
        switch operation {
        case .insert(let label, let deadline):
            guard model.insert(label: label, deadline: deadline) else { return nil }
            ids[label] = wheel.insert(deadline: deadline, label)
            violation = nil
        case .cancel(let label):
            violation = cancel(label)
        case .advance(let tick):
            violation = advance(to: tick)
        case .nextExpiration:
            violation = checkNextExpiration()
        case .removeAll:
            violation = removeAll()
        }
        if let violation { return violation }
        let count = wheel.count
        guard count == model.live.count else {
            return Violation(
                kind: .countMismatch,
                message: "after \(operation): wheel count \(count), model has \(model.live.count) pending")
        }
        return nil
    }

    private mutating func cancel(_ label: Int) -> Violation? {
        guard let id = ids[label], let timer = model.timers[label] else { return nil }
        let before = model.describe(label)
        let result = wheel.cancel(id)
        let wasPending = model.cancel(label: label)
        if wasPending, result != label {
            return Violation(
                kind: .cancelReturnedWrongPayload,
                message: "cancel of pending \(before) returned \(result.map { "t\($0)" } ?? "nil")")
        }
        if !wasPending, let result {
            let fate = timer.state == .fired ? "fired" : "cancelled"
            return Violation(
                kind: .staleCancelRemovedTimer,
                message: "cancel of \(fate) t\(label) (stale \(id)) returned t\(result): \(model.describe(result))")
        }
        return nil
    }

    private mutating func advance(to target: UInt64) -> Violation? {
        let start = model.now
        guard target >= start else { return nil }
        if let violation = checkNextExpiration() { return violation }
        var fired: [(id: TimerID, label: Int)] = []
        wheel.advance(to: target) { id, label in fired.append((id, label)) }
        let span = "advance from \(start) to \(target) (\(TimerWheelScenario.relative(target, to: start)))"
        #if DEBUG
            if wheel.mutantLivelocked {
                return Violation(
                    kind: .livelock,
                    message:
                        "\(span) processed more than 8 lists per slab node without finishing (a livelock: the real wheel would hang)"
                )
            }
        #endif
        var seen = Set<Int>()
        for (id, label) in fired {
            guard let timer = model.timers[label] else {
                return Violation(kind: .unknownTimerFired, message: "\(span) fired t\(label), never inserted")
            }
            if !seen.insert(label).inserted || timer.state == .fired {
                return Violation(kind: .firedTwice, message: "\(span) fired \(model.describe(label)) again")
            }
            if timer.state == .cancelled {
                return Violation(
                    kind: .cancelledTimerFired, message: "\(span) fired cancelled \(model.describe(label))")
            }
            if timer.deadline > target {
                return Violation(
                    kind: .firedEarly,
                    message: "\(span) fired \(model.describe(label)), \(timer.deadline - target) tick(s) early")
            }
            if id != ids[label] {
                return Violation(
                    kind: .wrongTimerID, message: "\(span) fired t\(label) as \(id); its insert returned \(ids[label]!)"
                )
            }
        }
        let expected = model.advance(to: target)
        if let missing = expected.first(where: { !seen.contains($0) }) {
            return Violation(kind: .firedLate, message: "\(span) did not fire \(model.describe(missing))")
        }
        let order = fired.map(\.label)
        if order != expected {
            let at = order.indices.first { order[$0] != expected[$0] }!  // same set, no repeats: they differ somewhere
            return Violation(
                kind: .firingOrder,
                message: "\(span) fired t\(order[at]) as #\(at), expected \(model.describe(expected[at])) "
                    + "(\(model.describe(order[at])) comes later by (effective deadline, insertion order))")
        }
        let tick = wheel.currentTick
        guard tick == target else {
            return Violation(kind: .currentTickMismatch, message: "after \(span) the wheel says it is at \(tick)")
        }
        return nil
    }

    /// `nil` exactly when nothing is pending, else no later than the earliest pending deadline
    /// (or now, for an overdue timer, which fires at the next advance whatever its target).
    /// The wheel promises no more: it may name an earlier tick where it only has to cascade.
    private func checkNextExpiration() -> Violation? {
        let next = wheel.nextExpiration()
        guard let earliest = model.live.first else {
            guard let next else { return nil }
            return Violation(kind: .nextExpirationSpurious, message: "nextExpiration is \(next) with nothing pending")
        }
        let bound = max(earliest.deadline, model.now)
        guard let next else {
            return Violation(
                kind: .nextExpirationMissing,
                message: "nextExpiration is nil at \(model.now) with \(model.describe(earliest.label)) pending")
        }
        guard next <= bound else {
            return Violation(
                kind: .nextExpirationTooLate,
                message: "nextExpiration is \(next) at \(model.now), after \(model.describe(earliest.label))")
        }
        return nil
    }

    private mutating func removeAll() -> Violation? {
        let removed = wheel.removeAll()
        let expected = model.removeAll()
        let deadlines = removed.map { model.timers[$0]?.deadline ?? 0 }
        guard Set(removed) == Set(expected), removed.count == expected.count,
            zip(deadlines, deadlines.dropFirst()).allSatisfy({ $0 <= $1 })
        else {
            return Violation(
                kind: .removeAllMismatch,
                message: "removeAll returned \(removed.map { "t\($0)" }), expected \(expected.map { "t\($0)" }) "
                    + "in deadline order")
        }
        return checkNextExpiration()
    }
}

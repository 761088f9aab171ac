import Miniss

/// Draws the next operation of a seeded run from the reference model's state (never from the
/// wheel's), so a seed yields the same sequence for the correct wheel and for every mutant.
///
/// Ticks are biased to where timer wheels break: slot and level boundaries (multiples of 64^k
/// and ±1 around them, absolute and relative to now), the current tick, the past, equal
/// deadlines (FIFO ties), and the far future past the 2^36-tick window (the overflow list).
struct TimerWheelOperationGenerator {
    private var random: SeededRandom
    private var nextLabel = 0

    init(seed: UInt64) {
        random = SeededRandom(seed: seed)
    }

    /// The wheel's start tick for this seed: anywhere in the first four 2^36-tick windows, often
    /// exactly on or next to a window boundary.
    mutating func startTick() -> UInt64 {
        let window = UInt64(1) << 36
        switch random.next() % 4 {
        case 0: return window * (random.next() % 4) + random.next() % 2  // on a boundary (0 too), or just after
        case 1: return window * (1 + random.next() % 3) - 1  // just before one
        default: return random.next() % (window * 4)
        }
    }

    mutating func next(_ model: TimerWheelReferenceModel) -> TimerWheelOperation {
        let roll = random.next() % 200
        switch roll {
        case 0..<80:
            return insert(model)
        case 80..<116:
            if !model.live.isEmpty, random.next() % 3 != 0 {
                return .cancel(timer: model.live[Int(random.next() % UInt64(model.live.count))].label)
            }
            if !model.dead.isEmpty {
                return .cancel(timer: model.dead[Int(random.next() % UInt64(model.dead.count))])
            }
            return insert(model)
        case 116..<166:
            return .advance(to: advanceTarget(model))
        case 199 where random.next() % 2 == 0:
            return .removeAll
        default:
            return .nextExpiration
        }
    }

    private mutating func insert(_ model: TimerWheelReferenceModel) -> TimerWheelOperation {
        defer { nextLabel += 1 }
        return .insert(timer: nextLabel, deadline: deadline(model))
    }

    /// -1, 0 or +1.
    private mutating func nudge() -> UInt64 { (random.next() % 3) &- 1 }

    /// 64^k for k in `range` (64^6 = 2^36 is the overflow window).
    private mutating func span(_ range: ClosedRange<UInt64>) -> UInt64 {
        UInt64(1) << (6 * (range.lowerBound + random.next() % UInt64(range.count)))
    }

    /// The first multiple of `span` after `tick`.
    private func nextMultiple(of span: UInt64, after tick: UInt64) -> UInt64 {
        (tick / span + 1) * span
    }

    private mutating func deadline(_ model: TimerWheelReferenceModel) -> UInt64 {
        let now = model.now
        switch random.next() % 13 {
        case 0:
            return now
        case 1:
            return now - min(now, 1 + random.next() % 1_000)  // the recent past
        case 2:
            return now == 0 ? 0 : random.next() % now  // anywhere in the past
        case 3, 4:
            return now &+ span(0...6) &+ nudge()  // exactly 64^k ahead, ±1
        case 5, 6:
            return nextMultiple(of: span(1...6), after: now) &+ nudge()  // on a slot or level boundary
        case 7:
            return now &+ 1 &+ random.next() % 200
        case 8:
            return now &+ random.next() % span(1...6)  // spread within a level
        case 9:
            // Later 2^36-tick windows: their boundaries ±1, or anywhere in them.
            let window = UInt64(1) << 36
            let boundary = nextMultiple(of: window, after: now) &+ window * (random.next() % 4)
            return random.next() % 2 == 0 ? boundary &+ nudge() : boundary &+ random.next() % window
        case 10, 11:
            // A tie with a pending timer (FIFO order), or next to the earliest one.
            guard !model.live.isEmpty else { return now &+ random.next() % 64 }
            if random.next() % 2 == 0 { return model.live[0].deadline &+ nudge() }
            return model.live[Int(random.next() % UInt64(model.live.count))].deadline
        default:
            return random.next() % 64 == 0 ? UInt64.max : now &+ random.next() % (UInt64(1) << 40)
        }
    }

    private mutating func advanceTarget(_ model: TimerWheelReferenceModel) -> UInt64 {
        let now = model.now
        let target: UInt64
        switch random.next() % 12 {
        case 0: target = now  // by zero
        case 1: target = now + 1
        case 2: target = now + 2 + random.next() % 69
        case 3, 4: target = nextMultiple(of: span(1...6), after: now) &+ nudge()  // exactly to a boundary, ±1
        case 5: target = now &+ span(1...6) &+ nudge()
        case 6:
            // The earliest pending deadline, or just before or after it.
            target = model.live.first.map { $0.deadline &+ nudge() } ?? now + 1
        case 7:
            target = model.live.isEmpty ? now : model.live[Int(random.next() % UInt64(model.live.count))].deadline
        case 8: target = now + random.next() % 4_096
        case 9, 10: target = now + (random.next() % (UInt64(1) << 37)) >> (random.next() % 37)  // huge jumps
        default: target = now + (UInt64(1) << 36) &+ nudge()
        }
        // Never back, and at most 2^42 ticks ahead, so 2^53 ticks bound any run and the end of
        // time (a `UInt64.max` deadline) is never reached.
        return min(max(target, now), now + (UInt64(1) << 42))
    }
}

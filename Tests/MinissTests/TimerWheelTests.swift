import Foundation
import Testing

@testable import Miniss

@Suite("Timer wheel")
struct TimerWheelTests {
    /// Fires everything up to `tick`, returning the payloads in firing order.
    static func advance(_ wheel: inout TimerWheel<Int>, to tick: UInt64) -> [Int] {
        var fired: [Int] = []
        wheel.advance(to: tick) { _, payload in fired.append(payload) }
        return fired
    }

    @Test func firesAtDeadlineNeverBefore() {
        var wheel = TimerWheel<Int>()
        _ = wheel.insert(deadline: 10, 1)
        #expect(Self.advance(&wheel, to: 9).isEmpty)
        let count = wheel.count
        #expect(count == 1)
        #expect(Self.advance(&wheel, to: 10) == [1])
        let countAfter = wheel.count
        #expect(countAfter == 0)
        #expect(Self.advance(&wheel, to: 1000).isEmpty, "a timer fires once")
    }

    static let boundaryDeadlines: [UInt64] = [
        63, 64, 65, 4095, 4096, 4097, 262_143, 262_144, 262_145, 16_777_215, 16_777_216,
        1_073_741_823, 1_073_741_824, 1_073_741_825, 68_719_476_735, 68_719_476_736, 68_719_476_737,
        3_600_000, 86_400_000, 10 * 68_719_476_736 + 5,
    ]

    @Test(arguments: boundaryDeadlines)
    func levelBoundaryDeadlines(deadline: UInt64) {
        var wheel = TimerWheel<Int>()
        _ = wheel.insert(deadline: deadline, 7)
        let next = wheel.nextExpiration()!
        #expect(next <= deadline)
        #expect(Self.advance(&wheel, to: deadline - 1).isEmpty, "fired before deadline \(deadline)")
        #expect(Self.advance(&wheel, to: deadline) == [7], "did not fire at deadline \(deadline)")
        let isEmpty = wheel.isEmpty
        #expect(isEmpty)
    }

    @Test func stepwiseAdvanceAcrossLevelsFiresOnTime() {
        // Advancing one step at a time through cascades must still fire exactly at the deadline.
        var wheel = TimerWheel<Int>(startTick: 4000)
        let deadlines: [UInt64] = [4095, 4096, 4097, 4160, 8191, 8192, 266_240]
        for (index, deadline) in deadlines.enumerated() { _ = wheel.insert(deadline: deadline, index) }
        var tick: UInt64 = 4000
        while !wheel.isEmpty {
            let next = wheel.nextExpiration()!
            #expect(next > tick || next == tick)
            tick = next
            for payload in Self.advance(&wheel, to: tick) {
                #expect(deadlines[payload] == tick, "timer \(payload) due \(deadlines[payload]) fired at \(tick)")
            }
        }
    }

    @Test func pastDeadlineFiresAtNextAdvance() {
        var wheel = TimerWheel<Int>(startTick: 500)
        _ = wheel.insert(deadline: 100, 1)
        _ = wheel.insert(deadline: 500, 2)
        let next = wheel.nextExpiration()
        #expect(next == 500)
        #expect(Self.advance(&wheel, to: 500) == [1, 2])
    }

    @Test func cancelRemovesAndStaleIdsAreHarmless() {
        var wheel = TimerWheel<Int>()
        let a = wheel.insert(deadline: 100, 1)
        let b = wheel.insert(deadline: 100, 2)
        #expect(wheel.cancel(a) == 1)
        #expect(wheel.cancel(a) == nil, "second cancel is a no-op")
        let count = wheel.count
        #expect(count == 1)
        let c = wheel.insert(deadline: 50, 3)  // reuses a's node with a new generation
        #expect(wheel.cancel(a) == nil, "a stale id must not cancel the node's new timer")
        #expect(Self.advance(&wheel, to: 100) == [3, 2])
        #expect(wheel.cancel(b) == nil, "cancel after firing is a no-op")
        #expect(wheel.cancel(c) == nil)
        let isEmpty = wheel.isEmpty
        #expect(isEmpty)
    }

    @Test func equalDeadlinesFireInInsertionOrder() {
        var wheel = TimerWheel<Int>()
        _ = wheel.insert(deadline: 5000, 0)  // level 2 at insertion
        _ = Self.advance(&wheel, to: 4990)
        _ = wheel.insert(deadline: 5000, 1)  // level 0
        _ = wheel.insert(deadline: 5000, 2)
        #expect(Self.advance(&wheel, to: 6000) == [0, 1, 2])
    }

    @Test func removeAllReturnsPendingInDeadlineOrder() {
        var wheel = TimerWheel<Int>()
        _ = wheel.insert(deadline: 300, 3)
        _ = wheel.insert(deadline: 1 << 40, 4)
        _ = wheel.insert(deadline: 7, 1)
        _ = wheel.insert(deadline: 90, 2)
        #expect(wheel.removeAll() == [1, 2, 3, 4])
        let drained = wheel.isEmpty && wheel.nextExpiration() == nil
        #expect(drained)
    }

    @Test func growsPastInitialCapacity() {
        var wheel = TimerWheel<Int>(initialCapacity: 1)
        for index in 0..<10_000 { _ = wheel.insert(deadline: UInt64(index % 977) * 13, index) }
        #expect(wheel.count == 10_000)
        #expect(Self.advance(&wheel, to: 1 << 20).count == 10_000)
    }

    // MARK: Randomized, against a reference model

    /// The reference: a plain list of pending timers; due ones fire sorted by (deadline, order),
    /// where a deadline that had already passed at insertion counts as the insertion tick.
    struct Model {
        var pending: [(id: TimerID, deadline: UInt64, effective: UInt64, order: Int, payload: Int)] = []
        var now: UInt64

        mutating func advance(to tick: UInt64) -> [Int] {
            let due = pending.filter { $0.deadline <= tick }.sorted {
                ($0.effective, $0.order) < ($1.effective, $1.order)
            }
            pending.removeAll { $0.deadline <= tick }
            now = tick
            return due.map(\.payload)
        }
    }

    /// Deadlines biased towards slot and level boundaries, the present, the past and far away.
    static func interestingDeadline(now: UInt64, _ random: inout SeededRandom) -> UInt64 {
        let spans: [UInt64] = [1, 64, 4096, 1 << 18, 1 << 24, 1 << 30, 1 << 36, 1 << 40]
        let span = spans.randomElement(using: &random)!
        switch random.next() % 6 {
        case 0: return now
        case 1: return now &- UInt64.random(in: 0...min(now, 100), using: &random)
        case 2: return (now / span + 1) * span &+ UInt64.random(in: 0...2, using: &random) &- 1
        case 3: return now &+ span &+ UInt64.random(in: 0...2, using: &random) &- 1
        case 4: return now &+ UInt64.random(in: 0...200, using: &random)
        default: return now &+ UInt64.random(in: 0..<span * 64, using: &random)
        }
    }

    static func checkAgainstModel(seed: UInt64, operations: Int) -> String? {
        var random = SeededRandom(seed: seed)
        let start = UInt64.random(in: 0..<(1 << 38), using: &random)
        var wheel = TimerWheel<Int>(startTick: start, initialCapacity: 8)
        var model = Model(now: start)
        var stale: [TimerID] = []
        var nextPayload = 0
        var inserted: [Int: (deadline: UInt64, now: UInt64)] = [:]
        for step in 0..<operations {
            switch random.next() % 10 {
            case 0...4:
                let deadline = interestingDeadline(now: model.now, &random)
                let id = wheel.insert(deadline: deadline, nextPayload)
                model.pending.append((id, deadline, max(deadline, model.now), nextPayload, nextPayload))
                inserted[nextPayload] = (deadline, model.now)
                nextPayload += 1
            case 5, 6:
                if !model.pending.isEmpty, random.next() % 4 != 0 {
                    let index = Int.random(in: 0..<model.pending.count, using: &random)
                    let entry = model.pending.remove(at: index)
                    guard wheel.cancel(entry.id) == entry.payload else {
                        return "seed \(seed) step \(step): cancel of pending \(entry.id) did not return its payload"
                    }
                    stale.append(entry.id)
                } else if let id = stale.randomElement(using: &random) {
                    guard wheel.cancel(id) == nil else {
                        return "seed \(seed) step \(step): cancel of stale \(id) removed a live timer"
                    }
                }
            default:
                let target: UInt64
                switch random.next() % 5 {
                case 0: target = model.now
                case 1: target = model.now + UInt64.random(in: 1...70, using: &random)
                case 2: target = wheel.nextExpiration().map { max($0, model.now) } ?? model.now + 1
                case 3: target = model.pending.map(\.deadline).min().map { max($0, model.now) } ?? model.now
                default: target = model.now + UInt64.random(in: 0..<(1 << 37), using: &random) >> (random.next() % 37)
                }
                if let next = wheel.nextExpiration(), let earliest = model.pending.map(\.deadline).min(),
                    next > max(earliest, model.now)
                {
                    return
                        "seed \(seed) step \(step): nextExpiration \(next) is after the earliest deadline \(earliest)"
                }
                let before = model.now
                let fired = advance(&wheel, to: target)
                for id in model.pending.filter({ $0.deadline <= target }).map(\.id) { stale.append(id) }
                let expected = model.advance(to: target)
                guard fired == expected else {
                    let details = fired.map { "\($0): due \(inserted[$0]!.deadline), inserted at \(inserted[$0]!.now)" }
                    return
                        "seed \(seed) step \(step): advance from \(before) to \(target) fired \(fired), expected \(expected) (\(details))"
                }
            }
            guard wheel.count == model.pending.count else {
                return "seed \(seed) step \(step): count \(wheel.count), model has \(model.pending.count)"
            }
        }
        return nil
    }

    @Test func randomOperationsMatchReferenceModel() {
        // Replay one seed with MINISS_SEED=<n>.
        let seeds: [UInt64] =
            ProcessInfo.processInfo.environment["MINISS_SEED"].flatMap(UInt64.init).map { [$0] } ?? Array(1...300)
        for seed in seeds {
            if let failure = Self.checkAgainstModel(seed: seed, operations: 1_500) {
                Issue.record(
                    "\(failure)\nreplay: MINISS_SEED=\(seed) swift test --filter randomOperationsMatchReferenceModel")
                return
            }
        }
    }
}

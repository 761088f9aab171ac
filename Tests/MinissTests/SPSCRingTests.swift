import Synchronization
import Testing

@testable import Miniss

#if canImport(Glibc)
    import Glibc
#endif

@Suite("SPSC ring")
struct SPSCRingTests {
    typealias Ring<T> = SPSCRing<T, PaddedAtomicIndex>

    @Test func fifoWithFullAndEmptyEdges() {
        let ring = Ring<Int>(capacity: 4)
        #expect(ring.tryPop() == nil, "a new ring is empty")
        for value in 0..<4 { #expect(ring.tryPush(value)) }
        #expect(!ring.tryPush(99), "push must fail only when full")
        #expect(ring.tryPop() == 0)
        #expect(ring.tryPop() == 1)
        #expect(ring.tryPush(4) && ring.tryPush(5), "freed slots are reused across the wrap")
        #expect(!ring.tryPush(6))
        var drained: [Int] = []
        while let value = ring.tryPop() { drained.append(value) }
        #expect(drained == [2, 3, 4, 5])
        #expect(ring.tryPop() == nil)
    }

    @Test func unpublishedPushesAreInvisibleUntilPublish() {
        let ring = Ring<Int>(capacity: 8)
        #expect(ring.tryPushWithoutPublishing(1) && ring.tryPushWithoutPublishing(2))
        #expect(ring.tryPop() == nil)
        ring.publish()
        var seen: [Int] = []
        #expect(ring.popAll { seen.append($0) } == 2)
        #expect(seen == [1, 2])
        #expect(ring.popAll { _ in } == 0)
    }

    final class DeinitCounter: @unchecked Sendable {
        // SAFETY (@unchecked Sendable): no stored state; the count is an atomic.
        static let live = Atomic<Int>(0)
        init() { Self.live.add(1, ordering: .relaxed) }
        deinit { Self.live.subtract(1, ordering: .relaxed) }
    }

    @Test func elementsLeftInTheRingAreReleased() {
        let before = DeinitCounter.live.load(ordering: .relaxed)
        do {
            let ring = Ring<DeinitCounter>(capacity: 8)
            for _ in 0..<5 { _ = ring.tryPush(DeinitCounter()) }
            _ = ring.tryPushWithoutPublishing(DeinitCounter())
            _ = ring.tryPop()
        }
        #expect(DeinitCounter.live.load(ordering: .relaxed) == before)
    }

    /// A waiting side spins briefly, then sleeps: two busy-waiting threads on an oversubscribed
    /// machine hand over a tiny ring about once per scheduler tick, which can take minutes.
    static func backOff(_ waits: inout Int) {
        waits += 1
        if waits < 8 { sched_yield() } else { usleep(20) }
    }

    /// Two real threads; every value must arrive exactly once, in order. Run under `make tsan`
    /// too, where it checks the release/acquire handshake on real memory.
    @Test(.timeLimit(.minutes(2)), arguments: [2, 64])
    func realThreadsKeepFIFOOrder(capacity: Int) {
        // Long runs belong to the stress suite; this one must finish fast even on a loaded machine.
        let count = 20_000
        let ring = Ring<Int>(capacity: capacity)
        let failure = Atomic<Int>(-1)
        let producer = OSThread(name: "ring-producer") {
            var next = 0
            // Stops early if the consumer has already seen a wrong value (it no longer pops).
            var waits = 0
            while next < count && failure.load(ordering: .relaxed) == -1 {
                if ring.tryPush(next) {
                    next += 1
                    waits = 0
                } else {
                    Self.backOff(&waits)
                }
            }
        }
        let consumer = OSThread(name: "ring-consumer") {
            var expected = 0
            var waits = 0
            while expected < count {
                guard let value = ring.tryPop() else {
                    Self.backOff(&waits)
                    continue
                }
                waits = 0
                if value != expected {
                    failure.store(expected, ordering: .relaxed)
                    return
                }
                expected += 1
            }
        }
        producer.join()
        consumer.join()
        let firstWrong = failure.load(ordering: .relaxed)
        #expect(firstWrong == -1, "value \(firstWrong) arrived out of order, lost or duplicated")
        #expect(ring.tryPop() == nil)
    }
}

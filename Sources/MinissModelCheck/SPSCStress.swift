import CMinissLinux
import Miniss
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The outcome of ``SPSCChecker/stress(items:capacity:pinThreads:)``.
public struct SPSCStressReport: Sendable, CustomStringConvertible {
    /// Items the producer pushed.
    public var items: Int
    /// The ring capacity.
    public var capacity: Int
    /// Items the consumer received in order before the run ended.
    public var itemsReceivedInOrder: Int
    /// The first out-of-order arrival, as "expected X, got Y"; nil when every item arrived in order.
    public var firstMismatch: String?
    /// The CPUs the producer and consumer were pinned to; empty when not pinned.
    public var pinnedCPUs: [Int]
    /// Wall time from start to the last item received.
    public var elapsed: Duration
    /// Times a side found the ring full (producer) or empty (consumer) and backed off.
    public var producerBackoffs: Int
    /// Times the consumer found the ring empty and backed off.
    public var consumerBackoffs: Int

    /// Whether every item arrived exactly once, in order.
    public var passed: Bool { firstMismatch == nil && itemsReceivedInOrder == items }

    /// Items moved per second of wall time.
    public var itemsPerSecond: Double { SPSCCheckReport.rate(itemsReceivedInOrder, elapsed) }

    /// One line: verdict, throughput and the setup.
    public var description: String {
        let verdict = passed ? "PASS" : "FAIL (\(firstMismatch ?? "incomplete"))"
        let pinning = pinnedCPUs.isEmpty ? "not pinned" : "pinned to CPUs \(pinnedCPUs)"
        return "SPSC stress \(items) items, capacity \(capacity): \(verdict); \(Int(itemsPerSecond)) items/s, "
            + "\(pinning), backoffs producer \(producerBackoffs) consumer \(consumerBackoffs)"
    }
}

extension SPSCChecker {
    /// Moves `items` values through a production `SPSCRing<Int, PaddedAtomicIndex>` between two
    /// real threads (pinned to two allowed CPUs when `pinThreads`), mixing `tryPush`, batched
    /// pushes, `tryPop` and `popAll`, and checks they arrive exactly once and in order. This
    /// checks the real memory orderings on this machine, which the model checker (sequentially
    /// consistent) does not. A side that keeps finding the ring full or empty spins briefly,
    /// then yields, then sleeps 20 µs per attempt, so the run finishes on an oversubscribed
    /// machine too (slowly).
    public static func stress(items: Int, capacity: Int = 1024, pinThreads: Bool = true) throws(SPSCCheckerError)
        -> SPSCStressReport
    {
        guard capacity >= 2, capacity & (capacity - 1) == 0 else { throw .invalidCapacity(capacity) }
        guard items >= 1 else { throw .invalidItemCount(items) }
        let ring = SPSCRing<Int, PaddedAtomicIndex>(capacity: capacity)
        let state = SPSCStressState()
        let cpus = pinThreads && miniss_allowed_cpu_count() >= 2 ? [miniss_allowed_cpu(0), miniss_allowed_cpu(1)] : []
        let clock = ContinuousClock()
        let started = clock.now
        let producer = SPSCStressThread {
            if let cpu = cpus.first { _ = miniss_pin_current_thread(cpu) }
            var next = 0
            var backoff = SPSCBackoff()
            var round = 0
            while next < items && !state.stopped.load(ordering: .relaxed) {
                round &+= 1
                var progressed = false
                if round & 1 == 0 {
                    if ring.tryPush(next) {
                        next += 1
                        progressed = true
                    }
                } else {
                    // A batch of up to 8 with one publish.
                    while next < items && ring.tryPushWithoutPublishing(next) {
                        next += 1
                        progressed = true
                        if next & 7 == 0 { break }
                    }
                    if progressed { ring.publish() }
                }
                if progressed { backoff.reset() } else { backoff.wait(counting: state.producerBackoffs) }
            }
        }
        let consumer = SPSCStressThread {
            if cpus.count > 1 { _ = miniss_pin_current_thread(cpus[1]) }
            var expected = 0
            var backoff = SPSCBackoff()
            var round = 0
            var mismatch: (Int, Int)?
            while expected < items && mismatch == nil {
                round &+= 1
                var received = 0
                if round & 1 == 0 {
                    if let value = ring.tryPop() {
                        if value != expected { mismatch = (expected, value) } else { expected += 1 }
                        received = 1
                    }
                } else {
                    received = ring.popAll { value in
                        if mismatch == nil && value != expected { mismatch = (expected, value) }
                        if mismatch == nil { expected += 1 }
                    }
                }
                if received > 0 { backoff.reset() } else { backoff.wait(counting: state.consumerBackoffs) }
            }
            state.received.store(expected, ordering: .relaxed)
            if let (wanted, got) = mismatch {
                state.mismatch.withLock { $0 = "expected \(wanted), got \(got)" }
                state.stopped.store(true, ordering: .relaxed)
            }
        }
        producer.join()
        consumer.join()
        let elapsed = clock.now - started
        return SPSCStressReport(
            items: items, capacity: capacity, itemsReceivedInOrder: state.received.load(ordering: .relaxed),
            firstMismatch: state.mismatch.withLock { $0 }, pinnedCPUs: cpus.map(Int.init), elapsed: elapsed,
            producerBackoffs: state.producerBackoffs.load(ordering: .relaxed),
            consumerBackoffs: state.consumerBackoffs.load(ordering: .relaxed))
    }
}

/// Shared by the two stress threads.
private final class SPSCStressState: Sendable {
    let stopped = Atomic<Bool>(false)
    let received = Atomic<Int>(0)
    let producerBackoffs = Atomic<Int>(0)
    let consumerBackoffs = Atomic<Int>(0)
    let mismatch = Lock<String?>(nil)
}

/// Spin, then yield, then sleep: two busy-waiting threads on an oversubscribed machine would
/// otherwise hand a small ring over about once per scheduler tick.
private struct SPSCBackoff {
    private var attempts = 0

    mutating func reset() { attempts = 0 }

    mutating func wait(counting counter: borrowing Atomic<Int>) {
        attempts += 1
        if attempts < 64 { return }
        counter.add(1, ordering: .relaxed)
        if attempts < 128 { sched_yield() } else { usleep(20) }
    }
}

/// A joinable OS thread running one closure.
private final class SPSCStressThread {
    private var handle = pthread_t()

    private final class Body {
        let run: @Sendable () -> Void
        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }

    init(_ body: @escaping @Sendable () -> Void) {
        // SAFETY: the body is retained here and released exactly once by the new thread.
        let context = Unmanaged.passRetained(Body(body)).toOpaque()
        let result = pthread_create(
            &handle, nil,
            { argument in
                Unmanaged<Body>.fromOpaque(argument!).takeRetainedValue().run()
                return nil
            }, context)
        precondition(result == 0, "pthread_create failed with errno \(result)")
    }

    func join() { pthread_join(handle, nil) }
}

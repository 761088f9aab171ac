import Synchronization

/// The shared index operations the ring performs, behind a seam: production uses
/// ``PaddedAtomicIndex`` (a `Synchronization.Atomic` on its own cache lines); a model checker
/// substitutes an implementation that stops at every operation to explore interleavings. The
/// ring is generic over it, so in release builds the seam specializes away.
package protocol RingIndex: AnyObject, Sendable {
    init(_ value: Int)
    /// Reads a value published by the other side.
    func loadAcquiring() -> Int
    /// Publishes a value to the other side.
    func storeReleasing(_ value: Int)
}

/// An atomic index alone on its cache lines (128 bytes on each side: adjacent-line prefetch
/// pairs lines on x86).
package final class PaddedAtomicIndex: RingIndex {
    private let paddingBefore: (Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int) = (
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
    )
    private let value: Atomic<Int>
    private let paddingAfter: (Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int) = (
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
    )

    package init(_ value: Int) {
        self.value = Atomic(value)
    }

    @inline(__always)
    package func loadAcquiring() -> Int { value.load(ordering: .acquiring) }

    @inline(__always)
    package func storeReleasing(_ newValue: Int) { value.store(newValue, ordering: .releasing) }
}

/// A bounded, lock-free, single-producer / single-consumer ring (Lamport's queue with cached
/// indices, as in Seastar's `smp` queues and rigtorp's SPSCQueue).
///
/// - The producer owns `tail`, the consumer owns `head`; each reads the other's index only when
///   its cached copy says the ring is full (producer) or empty (consumer).
/// - Orderings: the producer writes a slot, then publishes `tail` with release; the consumer
///   loads `tail` with acquire before reading the slot. The consumer moves a value out, then
///   publishes `head` with release; the producer loads `head` with acquire before reusing the
///   slot. Each side reads its own index from a plain variable (only it writes the index).
/// - Batched publish: ``tryPushWithoutPublishing(_:)`` fills slots and ``publish()`` makes them
///   visible with one release store; ``tryPop()`` frees slots one at a time, ``popAll(_:)`` in
///   one store.
///
/// Exactly one thread may push and one thread may pop at a time.
package final class SPSCRing<Element, Index: RingIndex>: @unchecked Sendable {
    // SAFETY (@unchecked Sendable): slots in [head, tail) belong to the consumer, the others to
    // the producer; the index handshake above hands each slot over with release/acquire, so no
    // slot is accessed by both sides at once. `producer` fields are touched only by the
    // producing thread, `consumer` fields only by the consuming thread.
    package let capacity: Int
    private let mask: Int
    private let slots: UnsafeMutablePointer<Element>
    private let producer: ProducerSide
    private let consumer: ConsumerSide

    private final class ProducerSide {
        let tail: Index
        /// The next slot to fill (published up to `tail`).
        var pendingTail = 0
        /// The last `head` the producer saw: slots before it are free.
        var cachedHead = 0
        init() { tail = Index(0) }
    }

    private final class ConsumerSide {
        let head: Index
        /// The consumer's own head (published to `head`).
        var localHead = 0
        /// The last `tail` the consumer saw: slots before it are full.
        var cachedTail = 0
        init() { head = Index(0) }
    }

    /// Creates a ring holding up to `capacity` elements (a power of two, at least 2).
    package init(capacity: Int) {
        precondition(capacity >= 2 && capacity & (capacity - 1) == 0, "SPSCRing capacity must be a power of two >= 2")
        self.capacity = capacity
        self.mask = capacity - 1
        self.slots = .allocate(capacity: capacity)
        self.producer = ProducerSide()
        self.consumer = ConsumerSide()
    }

    deinit {
        // No thread uses the ring any more: everything still queued is deinitialized here.
        var index = consumer.localHead
        while index != producer.pendingTail {
            (slots + (index & mask)).deinitialize(count: 1)
            index &+= 1
        }
        slots.deallocate()
    }

    // MARK: Producer

    /// Adds `element` and publishes it. Returns false (and leaves the element with the caller)
    /// when the ring is full.
    @inline(__always)
    package func tryPush(_ element: Element) -> Bool {
        guard tryPushWithoutPublishing(element) else { return false }
        publish()
        return true
    }

    /// Adds `element` without making it visible to the consumer yet; ``publish()`` does that
    /// for every element added since the last publish.
    @inline(__always)
    package func tryPushWithoutPublishing(_ element: Element) -> Bool {
        let tail = producer.pendingTail
        if tail &- producer.cachedHead == capacity {
            producer.cachedHead = consumer.head.loadAcquiring()
            if tail &- producer.cachedHead == capacity { return false }
        }
        (slots + (tail & mask)).initialize(to: element)
        producer.pendingTail = tail &+ 1
        return true
    }

    /// Makes every element added so far visible to the consumer.
    @inline(__always)
    package func publish() {
        producer.tail.storeReleasing(producer.pendingTail)
    }

    // MARK: Consumer

    /// Removes the oldest element, or returns nil when the ring is empty.
    @inline(__always)
    package func tryPop() -> Element? {
        let head = consumer.localHead
        if head == consumer.cachedTail {
            consumer.cachedTail = producer.tail.loadAcquiring()
            if head == consumer.cachedTail { return nil }
        }
        let element = (slots + (head & mask)).move()
        consumer.localHead = head &+ 1
        consumer.head.storeReleasing(head &+ 1)
        return element
    }

    /// Whether the producer has published elements the consumer has not taken. On the
    /// consumer's thread.
    package var hasPublishedElements: Bool {
        producer.tail.loadAcquiring() != consumer.localHead
    }

    /// Removes every element published so far, oldest first, calling `body` for each, and frees
    /// their slots with one store. Returns how many were removed.
    @discardableResult
    package func popAll(_ body: (Element) -> Void) -> Int {
        var head = consumer.localHead
        consumer.cachedTail = producer.tail.loadAcquiring()
        let end = consumer.cachedTail
        let count = end &- head
        while head != end {
            body((slots + (head & mask)).move())
            head &+= 1
        }
        if count > 0 {
            consumer.localHead = head
            consumer.head.storeReleasing(head)
        }
        return count
    }
}

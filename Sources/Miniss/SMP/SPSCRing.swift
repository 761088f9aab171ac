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

#if DEBUG
    /// A bug planted in one ring (debug builds only), so the model checker in
    /// `MinissModelCheck` can prove it catches the mistakes a Lamport queue invites. Each case
    /// names the line it breaks; ``none`` is the production code. Mutants overwrite live slots
    /// and read dead ones, so use them only with trivial elements such as `Int`.
    package enum SPSCRingMutant: CaseIterable, Sendable {
        /// The production ring.
        case none
        /// The full test compares with `capacity + 1`: the ring admits one element too many and
        /// the extra one overwrites the oldest unread slot.
        case fullCheckOffByOne
        /// The full test compares with `capacity - 1` (the classic "one slot stays empty" ring
        /// without adjusting the size): a push fails while a slot is free. Every value still
        /// arrives, so only the full/empty part of the model catches it.
        case fullCheckOneEarly
        /// `tryPushWithoutPublishing` stores `tail` before it writes the slot: the consumer can
        /// read the slot before the value is there.
        case publishBeforeWrite
        /// `tryPush` forgets to publish: its element becomes visible only at the next
        /// ``SPSCRing/publish()``, if any.
        case missingPublish
        /// Positions map to slots with `mask - 1` instead of `mask`: slots collide (at capacity 2
        /// every element lands in slot 0), so a push overwrites an unread element.
        case wrapMaskOffByOne
        /// `tryPop` publishes `head` before it moves the element out: the producer can overwrite
        /// the slot being read.
        case popFreesBeforeRead
        /// The producer refreshes `cachedHead` from its own `tail` (a head/tail typo): it sees
        /// free room that does not exist and overwrites unread slots.
        case staleCachedHead
    }
#endif

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
    // producing thread, `consumer` fields only by the consuming thread. `mutant` (debug builds)
    // is written only by the initializer, before the ring is shared.
    package let capacity: Int
    private let mask: Int
    private let slots: UnsafeMutablePointer<Element>
    private let producer: ProducerSide
    private let consumer: ConsumerSide
    #if DEBUG
        /// The planted bug (``SPSCRingMutant/none`` unless made by ``init(capacity:mutant:)``);
        /// set before the ring is shared.
        package private(set) var mutant = SPSCRingMutant.none
    #endif

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

    #if DEBUG
        /// Debug builds only: a ring carrying a planted bug, for the model checker.
        package convenience init(capacity: Int, mutant: SPSCRingMutant) {
            self.init(capacity: capacity)
            self.mutant = mutant
        }
    #endif

    deinit {
        // No thread uses the ring any more: everything still queued is deinitialized here.
        var index = consumer.localHead
        while index != producer.pendingTail {
            slot(index).deinitialize(count: 1)
            index &+= 1
        }
        slots.deallocate()
    }

    /// The slot that position `index` (a free-running counter) maps to.
    @inline(__always)
    private func slot(_ index: Int) -> UnsafeMutablePointer<Element> {
        #if DEBUG
            if mutant == .wrapMaskOffByOne { return slots + (index & (mask &- 1)) }  // BUG (planted)
        #endif
        return slots + (index & mask)
    }

    /// How many unread elements make the ring full: `capacity` (one more in a planted bug).
    @inline(__always)
    private var fullCount: Int {
        #if DEBUG
            if mutant == .fullCheckOffByOne { return capacity + 1 }  // BUG (planted)
            if mutant == .fullCheckOneEarly { return capacity - 1 }  // BUG (planted)
        #endif
        return capacity
    }

    // MARK: Producer

    /// Adds `element` and publishes it. Returns false (and leaves the element with the caller)
    /// when the ring is full.
    @inline(__always)
    package func tryPush(_ element: Element) -> Bool {
        #if DEBUG
            if mutant == .missingPublish { return tryPushWithoutPublishing(element) }  // BUG (planted)
        #endif
        guard tryPushWithoutPublishing(element) else { return false }
        publish()
        return true
    }

    /// Adds `element` without making it visible to the consumer yet; ``publish()`` does that
    /// for every element added since the last publish.
    @inline(__always)
    package func tryPushWithoutPublishing(_ element: Element) -> Bool {
        let tail = producer.pendingTail
        if tail &- producer.cachedHead == fullCount {
            producer.cachedHead = consumer.head.loadAcquiring()
            #if DEBUG
                if mutant == .staleCachedHead { producer.cachedHead = producer.tail.loadAcquiring() }  // BUG (planted)
            #endif
            if tail &- producer.cachedHead == fullCount { return false }
        }
        #if DEBUG
            if mutant == .publishBeforeWrite { producer.tail.storeReleasing(tail &+ 1) }  // BUG (planted)
        #endif
        slot(tail).initialize(to: element)
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
        #if DEBUG
            if mutant == .popFreesBeforeRead {  // BUG (planted): frees the slot, then reads it
                consumer.localHead = head &+ 1
                consumer.head.storeReleasing(head &+ 1)
                return slot(head).move()
            }
        #endif
        let element = slot(head).move()
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
            body(slot(head).move())
            head &+= 1
        }
        if count > 0 {
            consumer.localHead = head
            consumer.head.storeReleasing(head)
        }
        return count
    }
}

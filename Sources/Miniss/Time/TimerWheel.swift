/// Identifies one timer in a ``TimerWheel``. Stale after the timer fires or is cancelled: the
/// generation no longer matches, so a late `cancel` is a harmless no-op.
package struct TimerID: Hashable, Sendable, CustomStringConvertible {
    package let index: UInt32
    package let generation: UInt32

    package var description: String { "timer#\(index).\(generation)" }
}

/// A hierarchical timing wheel (Varghese & Lauck), one per shard, owned by the shard's thread.
///
/// Time is counted in ticks. Six levels of 64 slots cover 2^36 ticks (about 2.2 years at 1 ms);
/// a timer further out than the current 2^36-tick window waits in an overflow list until its
/// window starts. A timer sits at the level of the highest 6-bit group in which its deadline
/// differs from the wheel's current tick, so every level-`L` timer expires after every
/// level-`L-1` timer; when the wheel reaches a slot of level `L > 0` it moves (cascades) that
/// slot's timers down, each timer moving at most six times in its life.
///
/// - insert and cancel are O(1): intrusive doubly linked lists over a node slab, no allocation
///   once the slab has grown to the peak number of pending timers;
/// - finding the next expiry is O(levels) with one 64-bit occupancy bitmap per level;
/// - a timer fires exactly once, at `advance(to:)` with a tick `>= deadline`, never before;
///   timers fire in deadline order, equal deadlines in insertion order; a deadline that had
///   already passed when the timer was inserted counts as the tick it was inserted at.
package struct TimerWheel<Payload>: ~Copyable {
    package static var levelCount: Int { 6 }
    package static var slotsPerLevel: Int { 64 }
    /// Ticks covered by the levels; deadlines in a later window of this size overflow.
    package static var windowTicks: UInt64 { 1 << 36 }

    private static var slotBits: UInt64 { 6 }
    private static var slotMask: UInt64 { 63 }
    private static var overflowList: Int { 6 * 64 }
    private static var listCount: Int { 6 * 64 + 1 }
    private static var noNode: Int32 { -1 }
    private static var freeLocation: Int16 { -1 }

    private struct Node {
        var next: Int32
        var prev: Int32
        var generation: UInt32
        /// The list the node is linked in (`level * 64 + slot`, or `overflowList`), or -1 if free.
        var location: Int16
        var deadline: UInt64
        var payload: Payload?
    }

    // SAFETY: `nodes`, `heads`, `tails` and `occupied` are allocated by `init`, grown only by
    // `grow()`, and freed only by `deinit`. The wheel is ~Copyable, so exactly one owner holds
    // them, and it is only touched by the shard thread that owns the wheel.
    private var nodes: UnsafeMutablePointer<Node>
    private var capacity: Int
    private var initialized: Int = 0
    private var freeHead: Int32 = -1
    private let heads: UnsafeMutablePointer<Int32>
    private let tails: UnsafeMutablePointer<Int32>
    private let occupied: UnsafeMutablePointer<UInt64>

    /// The wheel's current tick: every timer with a deadline at or before it has fired.
    package private(set) var currentTick: UInt64
    /// Number of pending (inserted, not yet fired or cancelled) timers.
    package private(set) var count: Int = 0

    package var isEmpty: Bool { count == 0 }

    #if DEBUG
        /// The planted bug this instance carries (debug builds only; `.none` unless the model checker
        /// asked for one through ``init(startTick:initialCapacity:mutant:)``).
        package private(set) var mutant: TimerWheelMutant = .none
        /// Set when a mutant drove one `advance` past the bound the correct wheel keeps (each timer
        /// moves at most seven times: six cascades and one overflow re-placement, so an advance
        /// processes at most `7 * pending + 1` lists). The correct wheel would hang on the same bug; a
        /// mutant stops the advance instead, so the checker can report it.
        package private(set) var mutantLivelocked = false

        /// Creates an empty wheel that carries the planted bug `mutant` (debug builds only).
        package init(startTick: UInt64 = 0, initialCapacity: Int = 64, mutant: TimerWheelMutant) {
            self.init(startTick: startTick, initialCapacity: initialCapacity)
            self.mutant = mutant
        }
    #endif

    /// Creates an empty wheel whose current tick is `startTick`.
    package init(startTick: UInt64 = 0, initialCapacity: Int = 64) {
        precondition(initialCapacity > 0, "initialCapacity must be positive")
        currentTick = startTick
        capacity = initialCapacity
        nodes = .allocate(capacity: initialCapacity)
        heads = .allocate(capacity: Self.listCount)
        heads.initialize(repeating: Self.noNode, count: Self.listCount)
        tails = .allocate(capacity: Self.listCount)
        tails.initialize(repeating: Self.noNode, count: Self.listCount)
        occupied = .allocate(capacity: Self.levelCount)
        occupied.initialize(repeating: 0, count: Self.levelCount)
    }

    deinit {
        nodes.deinitialize(count: initialized)
        nodes.deallocate()
        heads.deallocate()
        tails.deallocate()
        occupied.deallocate()
    }

    // MARK: Public operations

    /// Adds a timer that fires at the first `advance(to:)` reaching `deadline` (in ticks). A
    /// deadline at or before the current tick fires at the next `advance`.
    package mutating func insert(deadline: UInt64, _ payload: Payload) -> TimerID {
        let index = allocateNode()
        nodes[index].deadline = deadline
        nodes[index].payload = payload
        link(index, into: list(for: deadline))
        count += 1
        return TimerID(index: UInt32(index), generation: nodes[index].generation)
    }

    /// Removes a pending timer and returns its payload; `nil` if it already fired or was
    /// cancelled (or the id is from another wheel).
    package mutating func cancel(_ id: TimerID) -> Payload? {
        guard let index = liveIndex(id) else { return nil }
        #if DEBUG
            if mutant == .cancelLeavesEntryLinked {
                // Frees the id and hands the payload back, but the node stays linked in its list.
                count -= 1
                nodes[index].generation &+= 1
                return nodes[index].payload
            }
        #endif
        unlink(index)
        count -= 1
        return freeNode(index)
    }

    /// The earliest tick at which `advance(to:)` has work to do (fire or cascade), or `nil` if
    /// no timer is pending. Never later than the earliest pending deadline, so sleeping until
    /// this tick never oversleeps a timer.
    package func nextExpiration() -> UInt64? {
        if let slot = nextOccupiedSlot() { return slot.start }
        return overflowWindowStart()
    }

    /// Moves the wheel to `tick`, calling `fire` for every timer whose deadline is `<= tick`, in
    /// deadline order (ties in insertion order; see the type's documentation for overdue
    /// inserts). `fire` must not use the wheel.
    package mutating func advance(to tick: UInt64, _ fire: (TimerID, Payload) -> Void) {
        precondition(tick >= currentTick, "the wheel cannot move back: \(tick) < \(currentTick)")
        #if DEBUG
            var mutantIterations = 0
        #endif
        while true {
            #if DEBUG
                if mutant != .none {
                    mutantIterations += 1
                    if mutantIterations > 8 * (initialized + 1) {
                        mutantLivelocked = true
                        break
                    }
                }
            #endif
            if let slot = nextOccupiedSlot() {
                guard slot.start <= tick else { break }
                currentTick = max(currentTick, slot.start)
                processList(slot.level * Self.slotsPerLevel + slot.index, fire)
            } else if let windowStart = overflowWindowStart(), windowStart <= tick {
                currentTick = windowStart
                processList(Self.overflowList, fire)
            } else {
                break
            }
        }
        currentTick = tick
    }

    /// Removes every pending timer, returning their payloads in deadline order.
    package mutating func removeAll() -> [Payload] {
        var pending: [(UInt64, Int, Payload)] = []
        for index in 0..<initialized where nodes[index].location != Self.freeLocation {
            let deadline = nodes[index].deadline
            unlink(index)
            count -= 1
            if let payload = freeNode(index) { pending.append((deadline, index, payload)) }
        }
        pending.sort { ($0.0, $0.1) < ($1.0, $1.1) }
        return pending.map(\.2)
    }

    // MARK: Placement

    /// The list a timer with `deadline` belongs in, relative to the current tick.
    private func list(for deadline: UInt64) -> Int {
        if deadline <= currentTick {
            return Int(currentTick & Self.slotMask)  // level 0, the current slot
        }
        let differing = deadline ^ currentTick
        if differing >> 36 != 0 { return Self.overflowList }
        let highestBit = 63 - (differing | Self.slotMask).leadingZeroBitCount
        let level = highestBit / 6
        #if DEBUG
            if mutant == .levelOffByOne, level > 0,
                deadline &- currentTick == UInt64(1) << (UInt64(level) * Self.slotBits)
            {
                // A distance of exactly 64^level is taken to still fit the level below.
                let lower = level - 1
                return lower * Self.slotsPerLevel + Int((deadline >> (UInt64(lower) * Self.slotBits)) & Self.slotMask)
            }
        #endif
        let slot = Int((deadline >> (UInt64(level) * Self.slotBits)) & Self.slotMask)
        return level * Self.slotsPerLevel + slot
    }

    private struct Slot {
        var level: Int
        var index: Int
        var start: UInt64
    }

    private func nextOccupiedSlot() -> Slot? {
        for level in 0..<Self.levelCount {
            let bits = occupied[level]
            if bits == 0 { continue }
            let shift = UInt64(level) * Self.slotBits
            let position = Int((currentTick >> shift) & Self.slotMask)
            // Every timer at this level lies in the current window of the level above, at or
            // after the current slot, so the first occupied slot from `position` is the next.
            let rotated = (bits >> UInt64(position)) | (bits << UInt64((64 - position) & 63))
            let slot = (position + rotated.trailingZeroBitCount) & 63
            #if DEBUG
                // Planted bugs may misfile timers; the checker reports what that does instead.
                assert(
                    slot >= position || mutant != .none,
                    "timer wheel level \(level) wrapped: slot \(slot) < \(position)")
            #else
                assert(slot >= position, "timer wheel level \(level) wrapped: slot \(slot) < \(position)")
            #endif
            let levelSpan = shift + Self.slotBits
            let levelStart = levelSpan >= 64 ? 0 : currentTick & ~((UInt64(1) << levelSpan) - 1)
            return Slot(level: level, index: slot, start: levelStart + (UInt64(slot) << shift))
        }
        return nil
    }

    /// Start of the 2^36-tick window holding the earliest overflowed timer, if any.
    private func overflowWindowStart() -> UInt64? {
        var index = heads[Self.overflowList]
        guard index != Self.noNode else { return nil }
        var earliest = UInt64.max
        #if DEBUG
            if mutant == .overflowWindowWrong {
                // Assumes the overflow list is sorted: the head's window, not the earliest one.
                return nodes[Int(index)].deadline & ~(Self.windowTicks - 1)
            }
        #endif
        while index != Self.noNode {
            earliest = min(earliest, nodes[Int(index)].deadline)
            index = nodes[Int(index)].next
        }
        return earliest & ~(Self.windowTicks - 1)
    }

    /// Detaches one list, then fires each timer that is due and re-places the others.
    private mutating func processList(_ list: Int, _ fire: (TimerID, Payload) -> Void) {
        var index = heads[list]
        heads[list] = Self.noNode
        tails[list] = Self.noNode
        if list != Self.overflowList { clearOccupied(list) }
        while index != Self.noNode {
            let node = Int(index)
            index = nodes[node].next
            #if DEBUG
                if mutant != .none, processMutated(node, from: list, isLast: index == Self.noNode, fire) { continue }
            #endif
            if nodes[node].deadline <= currentTick {
                let id = TimerID(index: UInt32(node), generation: nodes[node].generation)
                count -= 1
                let payload = freeNode(node)!
                fire(id, payload)
            } else {
                link(node, into: self.list(for: nodes[node].deadline))
            }
        }
    }

    // MARK: Lists and slab

    private mutating func link(_ node: Int, into list: Int) {
        let tail = tails[list]
        nodes[node].location = Int16(list)
        nodes[node].prev = tail
        nodes[node].next = Self.noNode
        if tail == Self.noNode {
            heads[list] = Int32(node)
            if list != Self.overflowList { setOccupied(list) }
        } else {
            nodes[Int(tail)].next = Int32(node)
        }
        tails[list] = Int32(node)
    }

    private mutating func unlink(_ node: Int) {
        let list = Int(nodes[node].location)
        let prev = nodes[node].prev
        let next = nodes[node].next
        if prev == Self.noNode { heads[list] = next } else { nodes[Int(prev)].next = next }
        if next == Self.noNode { tails[list] = prev } else { nodes[Int(next)].prev = prev }
        if heads[list] == Self.noNode && list != Self.overflowList { clearOccupied(list) }
        #if DEBUG
            if mutant == .bitmapClearedEarly, prev == Self.noNode, list != Self.overflowList {
                // Clears the slot's bit whenever its head goes, even if entries remain behind it.
                clearOccupied(list)
            }
        #endif
    }

    private func setOccupied(_ list: Int) {
        occupied[list / Self.slotsPerLevel] |= UInt64(1) << UInt64(list % Self.slotsPerLevel)
    }

    private func clearOccupied(_ list: Int) {
        occupied[list / Self.slotsPerLevel] &= ~(UInt64(1) << UInt64(list % Self.slotsPerLevel))
    }

    private func liveIndex(_ id: TimerID) -> Int? {
        let index = Int(id.index)
        guard index < initialized, nodes[index].location != Self.freeLocation,
            nodes[index].generation == id.generation
        else {
            #if DEBUG
                // The stale-id mutant accepts any generation: a dead timer's id cancels its node's reuse.
                if mutant == .staleGenerationAccepted, index < initialized, nodes[index].location != Self.freeLocation {
                    return index
                }
            #endif
            return nil
        }
        return index
    }

    private mutating func allocateNode() -> Int {
        if freeHead != Self.noNode {
            let index = Int(freeHead)
            freeHead = nodes[index].next
            return index
        }
        if initialized == capacity { grow() }
        nodes.advanced(by: initialized).initialize(
            to: Node(
                next: Self.noNode, prev: Self.noNode, generation: 0, location: Self.freeLocation,
                deadline: 0, payload: nil))
        initialized += 1
        return initialized - 1
    }

    /// Returns a node to the free list and takes its payload out.
    private mutating func freeNode(_ index: Int) -> Payload? {
        let payload = nodes[index].payload.take()
        nodes[index].location = Self.freeLocation
        nodes[index].generation &+= 1
        nodes[index].next = freeHead
        freeHead = Int32(index)
        return payload
    }

    #if DEBUG
        /// The planted bugs of `processList` for one detached entry; `true` if the mutant handled it.
        private mutating func processMutated(
            _ node: Int, from list: Int, isLast: Bool, _ fire: (TimerID, Payload) -> Void
        ) -> Bool {
            let deadline = nodes[node].deadline
            switch mutant {
            case .firesOneTickEarly where deadline == currentTick &+ 1:
                let id = TimerID(index: UInt32(node), generation: nodes[node].generation)
                count -= 1
                fire(id, freeNode(node)!)
                return true
            case .cascadeDropsTimer
            where isLast && deadline > currentTick && list >= Self.slotsPerLevel
                && list != Self.overflowList:
                // The last entry of a cascaded slot is never re-linked: it is orphaned (in no list, id
                // dead, still counted), so nothing can reach it again.
                nodes[node].location = Self.freeLocation
                return true
            case .cascadeReversesTies where deadline > currentTick:
                linkFirst(node, into: self.list(for: deadline))
                return true
            default:
                return false
            }
        }

        /// `link` at the front of the list instead of the back (the `cascadeReversesTies` mutant).
        private mutating func linkFirst(_ node: Int, into list: Int) {
            let head = heads[list]
            nodes[node].location = Int16(list)
            nodes[node].prev = Self.noNode
            nodes[node].next = head
            if head == Self.noNode {
                tails[list] = Int32(node)
                if list != Self.overflowList { setOccupied(list) }
            } else {
                nodes[Int(head)].prev = Int32(node)
            }
            heads[list] = Int32(node)
        }
    #endif

    private mutating func grow() {
        let newCapacity = capacity * 2
        precondition(newCapacity <= Int(Int32.max), "timer wheel is full (\(capacity) timers)")
        let bigger = UnsafeMutablePointer<Node>.allocate(capacity: newCapacity)
        // SAFETY: moves the `initialized` live nodes into the new slab, then frees the old one;
        // nothing else holds a pointer into the slab (links are indices).
        bigger.moveInitialize(from: nodes, count: initialized)
        nodes.deallocate()
        nodes = bigger
        capacity = newCapacity
    }
}

#if DEBUG
    /// Planted bugs for the timer-wheel model checker (`MinissModelCheck.TimerWheelChecker`): each
    /// is a realistic small mistake in the real wheel, compiled only into debug builds and chosen per
    /// instance with ``TimerWheel/init(startTick:initialCapacity:mutant:)``. A checker that does not
    /// catch each of them is too weak to trust when it passes the correct wheel.
    package enum TimerWheelMutant: String, CaseIterable, Sendable {
        /// The real wheel.
        case none
        /// A deadline exactly `64^L` ticks ahead (L ≥ 1) is filed one level too low, in the slot the
        /// wheel stands on, so every cascade re-files it there: `advance` livelocks or fires it late.
        case levelOffByOne
        /// The due check of a processed slot is off by one (`deadline <= currentTick + 1`): a timer
        /// one tick past a level boundary fires when the wheel cascades exactly at that boundary.
        case firesOneTickEarly
        /// Cascading a slot forgets to re-link its last entry: that timer never fires.
        case cascadeDropsTimer
        /// Cascading prepends instead of appending, so equal deadlines lose their insertion order.
        case cascadeReversesTies
        /// `cancel` frees the id and returns the payload but leaves the node linked: it fires anyway.
        case cancelLeavesEntryLinked
        /// Removing a slot's head clears its occupancy bit even when entries remain: they are lost.
        case bitmapClearedEarly
        /// The overflow list is assumed sorted: its window is taken from the head, not the earliest.
        case overflowWindowWrong
        /// Ids are not generation-checked: a stale id cancels whatever timer reuses its node.
        case staleGenerationAccepted
    }
#endif

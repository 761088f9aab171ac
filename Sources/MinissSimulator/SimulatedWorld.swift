import CMinissLinux
import Miniss

#if canImport(Glibc)
    import Glibc
#endif

/// Everything outside the shards in one simulated run: the network between them, the disk,
/// the descriptors they hold, and the events in flight (segments on the wire, completions).
///
/// It lives on the simulator's thread. Each shard's ``SimulatedDriver`` forwards its I/O here;
/// nothing happens at once: a completion or a segment's arrival is an event at a virtual time,
/// and the simulator chooses when a due event runs among everything else that could run. Every
/// random draw (latencies, faults) comes from the run's seed.
final class SimulatedWorld {
    let shardCount: Int
    let time: VirtualTimeSource
    let plan: FaultPlan
    var random: SeededRandom
    /// One queue of events per shard (the shard that an event touches).
    private var queues: [EventQueue]
    private var sequence: UInt64 = 0
    /// Descriptors by number; numbers start at `simulatedDescriptorBase` and are never reused.
    var objects: [Int32: SimulatedObject] = [:]
    private var nextDescriptor = simulatedDescriptorBase
    /// Listeners by (shard, port).
    var listeners: [ListenerKey: [SimulatedListener]] = [:]
    var nextEphemeralPort: [Int]
    var partitions: [Partition] = []
    /// Every endpoint created (closed ones too), to break their cycles at the end.
    var endpoints: [SimulatedEndpoint] = []
    /// Shards whose driver cancelled everything (at shutdown).
    var stoppedShards: Set<Int> = []
    /// Connections a fault touched (a reset, a partition that held or broke one of their
    /// segments), by "shard/local address" of each end.
    var disturbed: Set<String> = []
    let disk = SimulatedDisk()
    /// The trace's view of what happened (folded into the run's hash): set by the run.
    var record: (_ shard: Int, _ what: IOEventKind, _ value: Int) -> Void = { _, _, _ in }

    init(shards: Int, time: VirtualTimeSource, seed: UInt64, plan: FaultPlan) {
        shardCount = shards
        self.time = time
        self.plan = plan
        random = SeededRandom(seed: seed ^ 0x6e65_7477_6f72_6b21)
        queues = Array(repeating: EventQueue(), count: shards)
        nextEphemeralPort = Array(repeating: 40_000, count: shards)
        if shards > 1 {
            for _ in 0..<plan.partitions {
                let first = Int.random(in: 0..<shards, using: &random)
                var second = Int.random(in: 0..<shards - 1, using: &random)
                if second >= first { second += 1 }
                let start = draw(plan.partitionStart)
                partitions.append(
                    Partition(
                        shards: (min(first, second), max(first, second)), start: start,
                        end: start + draw(plan.partitionLength)))
            }
        }
    }

    var now: UInt64 { time.nowNanoseconds }

    // MARK: - Random draws

    /// A uniform draw in `range`, in nanoseconds.
    func draw(_ range: ClosedRange<Duration>) -> UInt64 {
        let low = range.lowerBound.nanoseconds
        let high = max(low, range.upperBound.nanoseconds)
        return UInt64.random(in: low...high, using: &random)
    }

    /// True with probability `chance` (no draw when it is 0, so fault-free plans stay cheap).
    func happens(_ chance: Double) -> Bool {
        chance > 0 && Double.random(in: 0..<1, using: &random) < chance
    }

    /// `count`, or fewer (at least 1) with probability `chance`.
    func shorten(_ count: Int, chance: Double) -> Int {
        guard count > 1, happens(chance) else { return count }
        return Int.random(in: 1..<count, using: &random)
    }

    // MARK: - Events

    /// Runs `action` on `shard` at `time` (or later: the simulator picks when, among what is due).
    func schedule(on shard: Int, at time: UInt64, _ action: @escaping () -> Void) {
        sequence += 1
        queues[shard].push(ScheduledEvent(time: time, sequence: sequence, action: .run(action)))
    }

    /// Completes `operation` (which belongs to `shard`) with `result` in an event due now: the
    /// strategy picks when it runs. The operation counts as in flight until then: its result is
    /// decided, a cancel no longer changes it.
    func complete(_ operation: IOOperation, on shard: Int, with result: Int32) {
        sequence += 1
        queues[shard].push(ScheduledEvent(time: now, sequence: sequence, action: .complete(operation, result)))
    }

    /// Runs `body` after `delay` nanoseconds and completes `operation` with what it returns (a
    /// file operation takes effect when it completes). At shutdown it completes with
    /// `-ECANCELED` instead, without running `body`.
    func perform(_ operation: IOOperation, on shard: Int, after delay: UInt64, _ body: @escaping () -> Int32) {
        sequence += 1
        queues[shard].push(ScheduledEvent(time: now + delay, sequence: sequence, action: .perform(operation, body)))
    }

    /// Whether `shard` has an event due now.
    func hasDueEvent(on shard: Int) -> Bool {
        guard let first = queues[shard].first else { return false }
        return first.time <= now
    }

    /// The earliest event time of any shard, or nil.
    var nextEventTime: UInt64? {
        queues.compactMap { $0.first?.time }.min()
    }

    /// Runs `shard`'s earliest due event (in the shard's context).
    func runDueEvent(on shard: Int) {
        guard let event = queues[shard].pop() else { return }
        switch event.action {
        case .run(let action): action()
        case .complete(let operation, let result): deliver(operation, result, shard: shard)
        case .perform(let operation, let body): deliver(operation, body(), shard: shard)
        }
    }

    /// Ends `operation` with `result`, now (the caller runs in an event of `shard`).
    func deliver(_ operation: IOOperation, _ result: Int32, shard: Int) {
        record(shard, .completion, Int(result))
        operation.isInFlight = false
        operation.complete(result)
    }

    /// At shutdown: completes what `shard` has in flight (decided results as decided, waiting
    /// operations and file operations not yet done cancelled) and drops its other events. An
    /// operation the shard starts after this completes at once with `-ECANCELED`.
    func cancelAll(on shard: Int) {
        stoppedShards.insert(shard)
        for fd in objects.keys.sorted() {
            guard let object = objects[fd], object.shard == shard else { continue }
            for operation in object.takeWaiting() { deliver(operation, -ECANCELED, shard: shard) }
        }
        while let event = queues[shard].pop() {
            switch event.action {
            case .run: break
            case .complete(let operation, let result): deliver(operation, result, shard: shard)
            case .perform(let operation, _): deliver(operation, -ECANCELED, shard: shard)
            }
        }
    }

    /// Breaks the reference cycles of a finished run (events hold the world and endpoints hold
    /// their peers), so nothing leaks from one seed to the next.
    func tearDown() {
        for index in queues.indices { queues[index] = EventQueue() }
        for endpoint in endpoints { endpoint.peer = nil }
        objects.removeAll()
        listeners.removeAll()
        endpoints.removeAll()
    }

    // MARK: - Descriptors

    /// A new descriptor number for `object`.
    func register(_ object: SimulatedObject) -> Int32 {
        let fd = nextDescriptor
        nextDescriptor += 1
        object.fd = fd
        objects[fd] = object
        return fd
    }

    /// Cancels what waits on `fd` (the caller is about to close it).
    func forget(fd: Int32) {
        guard let object = objects[fd] else { return }
        for operation in object.takeWaiting() { complete(operation, on: object.shard, with: -ECANCELED) }
    }

    /// Asks `operation` to end early: if it waits, it completes with `-ECANCELED`; if its result
    /// is already decided, nothing changes.
    func cancel(_ operation: IOOperation) {
        guard let object = objects[operation.fd], object.remove(waiting: operation) else { return }
        complete(operation, on: object.shard, with: -ECANCELED)
    }

    /// close(2) of a simulated descriptor.
    func closeDescriptor(_ fd: Int32) {
        forget(fd: fd)
        guard let object = objects.removeValue(forKey: fd) else { return }
        switch object {
        case let endpoint as SimulatedEndpoint: close(endpoint)
        case let listener as SimulatedListener: close(listener)
        default: break
        }
    }

    // MARK: - Addresses

    /// The address of `shard`'s host: 10.0.0.(shard + 1).
    static func hostAddress(ofShard shard: Int, port: Int) -> SocketAddress {
        // A valid literal for every shard count the simulator allows (at most 64).
        try! SocketAddress(host: "10.0.0.\(shard + 1)", port: port)
    }

    /// Where an address leads from `shard`: its own host (loopback or its 10.0.0.x address),
    /// another shard's host, any of its addresses (the wildcard), or nowhere.
    func resolve(_ address: SocketAddress, from shard: Int) -> Destination {
        let host = Self.host(of: address)
        switch host {
        case "[::1]": return .host(shard, .loopback)
        case "0.0.0.0", "[::]": return .host(shard, .any)
        case _ where host.hasPrefix("127."): return .host(shard, .loopback)
        default:
            guard host.hasPrefix("10.0.0."), let last = Int(host.dropFirst(7)), last >= 1, last <= shardCount else {
                return .nowhere
            }
            return .host(last - 1, .external)
        }
    }

    /// The host part of an address as it prints: `10.0.0.1`, `[::1]`.
    static func host(of address: SocketAddress) -> Substring {
        let text = address.description
        return text[..<(text.lastIndex(of: ":") ?? text.endIndex)]
    }

    /// Whether a segment sent now between two shards must wait for a partition to heal: the
    /// time it heals, or nil if the link is up.
    func partitionHeals(between first: Int, and second: Int, at time: UInt64) -> UInt64? {
        guard first != second else { return nil }
        let pair = (min(first, second), max(first, second))
        var heals: UInt64?
        for partition in partitions where partition.shards == pair && partition.start <= time && time < partition.end {
            heals = max(heals ?? 0, partition.end)
        }
        return heals
    }
}

/// What `SimulatedWorld.record` notes in the trace.
enum IOEventKind: Int {
    case completion, segment, connect, reset, timeout, crash
}

/// Where an address leads.
enum Destination {
    /// Which of a host's addresses was named.
    enum Scope { case loopback, external, any }
    case host(Int, Scope)
    case nowhere
}

/// A partition between two shards during [start, end).
struct Partition {
    var shards: (Int, Int)
    var start: UInt64
    var end: UInt64
}

/// Listeners are found by the shard (host) they listen on and their port.
struct ListenerKey: Hashable {
    var shard: Int
    var port: Int
}

/// Something a simulated descriptor names.
class SimulatedObject {
    var fd: Int32 = -1
    /// The shard that owns it (its operations complete there).
    let shard: Int

    init(shard: Int) { self.shard = shard }

    /// Removes and returns every operation waiting on it.
    func takeWaiting() -> [IOOperation] { [] }

    /// Removes `operation` if it waits here.
    func remove(waiting operation: IOOperation) -> Bool { false }
}

/// An event in a shard's queue.
struct ScheduledEvent {
    enum Action {
        case run(() -> Void)
        case complete(IOOperation, Int32)
        case perform(IOOperation, () -> Int32)
    }

    var time: UInt64
    var sequence: UInt64
    var action: Action

    func precedes(_ other: ScheduledEvent) -> Bool {
        (time, sequence) < (other.time, other.sequence)
    }
}

/// A binary min-heap of events by (time, sequence): the order events were scheduled breaks ties.
struct EventQueue {
    private var heap: [ScheduledEvent] = []

    var first: ScheduledEvent? { heap.first }
    var isEmpty: Bool { heap.isEmpty }

    mutating func push(_ event: ScheduledEvent) {
        heap.append(event)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].precedes(heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> ScheduledEvent? {
        guard !heap.isEmpty else { return nil }
        heap.swapAt(0, heap.count - 1)
        let event = heap.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < heap.count && heap[left].precedes(heap[smallest]) { smallest = left }
            if right < heap.count && heap[right].precedes(heap[smallest]) { smallest = right }
            if smallest == parent { break }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
        return event
    }
}

/// One ring call and its outcome, as the workload saw it.
enum SPSCCall: Equatable, CustomStringConvertible {
    case tryPush(Int, accepted: Bool)
    case tryPushWithoutPublishing(Int, accepted: Bool)
    case publish
    case tryPop(Int?)
    case popAll([Int])
    case hasPublishedElements(Bool)

    var description: String {
        switch self {
        case .tryPush(let value, let accepted): "tryPush(\(value)) -> \(accepted)"
        case .tryPushWithoutPublishing(let value, let accepted): "tryPushWithoutPublishing(\(value)) -> \(accepted)"
        case .publish: "publish()"
        case .tryPop(let value): "tryPop() -> \(value.map(String.init) ?? "nil")"
        case .popAll(let values): "popAll() -> \(values)"
        case .hasPublishedElements(let answer): "hasPublishedElements -> \(answer)"
        }
    }
}

/// A completed call with the steps during which it was invoked and returned (the global step
/// counter, so `a.responseStep < b.invocationStep` means `a` returned before `b` began).
struct SPSCEvent {
    var call: SPSCCall
    var invocationStep: Int
    var responseStep: Int
}

/// Checks a two-thread history against the sequential bounded FIFO.
///
/// The model has published elements `Q`, pushed-but-unpublished elements `U`, and `F` elements
/// the consumer has taken but whose slots it has not yet freed; the ring is *full* when
/// `|Q| + |U| + F == capacity`, *empty* (to the consumer) when `Q` is empty. Calls split into
/// the atomic actions the ring performs, each taking effect at one moment inside its call:
///
/// - `tryPushWithoutPublishing(v)`: *reserve* — appends `v` to `U` if not full; fails only if full.
/// - `publish()`: moves `U` to the end of `Q`. `tryPush(v)` is a reserve, then a publish.
/// - `tryPop()`: *take* the first element of `Q` (nil only when `Q` is empty), then *free* it.
/// - `popAll`: *take* all of `Q` at one moment (exactly `Q`), then *free* them at a later one.
/// - `hasPublishedElements`: whether `Q` is non-empty.
///
/// Taking and freeing are separate because the ring frees slots after it has read them: between
/// the two, the producer rightly sees the slots as occupied. With one producer and one consumer,
/// a linearization is a merge of the two action sequences that respects real-time order, so the
/// check is a reachability search over (producer actions done, consumer actions done): at most
/// (p + 1)(c + 1) states, complete and exact.
struct SPSCLinearizabilityCheck {
    private enum Action {
        case reserve(Int)
        case reserveFailed
        case publish
        case takeFirst(Int)
        case takeNone
        case takeAll([Int])
        case free(Int)
        case peek(Bool)
    }

    private struct Timed {
        var action: Action
        var event: Int
        var invocationStep: Int
        var responseStep: Int
    }

    private let capacity: Int
    private let producer: [Timed]
    private let consumer: [Timed]
    private let producerEvents: [SPSCEvent]
    private let consumerEvents: [SPSCEvent]
    /// After the first `i` producer actions: values reserved so far (in order), and how many of
    /// them are published.
    private var reservedValues: [Int] = []
    private var reservedCount: [Int] = []
    private var publishedCount: [Int] = []
    /// After the first `j` consumer actions: how many elements were taken and freed.
    private var takenCount: [Int] = []
    private var freedCount: [Int] = []

    init(capacity: Int, producer producerEvents: [SPSCEvent], consumer consumerEvents: [SPSCEvent]) {
        self.capacity = capacity
        self.producerEvents = producerEvents
        self.consumerEvents = consumerEvents
        func timed(_ events: [SPSCEvent], _ split: (SPSCCall) -> [Action]) -> [Timed] {
            events.enumerated().flatMap { index, event in
                split(event.call).map {
                    Timed(
                        action: $0, event: index, invocationStep: event.invocationStep, responseStep: event.responseStep
                    )
                }
            }
        }
        producer = timed(producerEvents) { call in
            switch call {
            case .tryPush(let value, true): [.reserve(value), .publish]
            case .tryPushWithoutPublishing(let value, true): [.reserve(value)]
            case .tryPush(_, false), .tryPushWithoutPublishing(_, false): [.reserveFailed]
            case .publish: [.publish]
            default: preconditionFailure("consumer call \(call) in the producer's history")
            }
        }
        consumer = timed(consumerEvents) { call in
            switch call {
            case .tryPop(let value?): [.takeFirst(value), .free(1)]
            case .tryPop(nil): [.takeNone]
            case .popAll(let values) where values.isEmpty: [.takeNone]
            case .popAll(let values): [.takeAll(values), .free(values.count)]
            case .hasPublishedElements(let answer): [.peek(answer)]
            default: preconditionFailure("producer call \(call) in the consumer's history")
            }
        }
        var reserved = 0
        var published = 0
        reservedCount = [0]
        publishedCount = [0]
        for timed in producer {
            switch timed.action {
            case .reserve(let value):
                reservedValues.append(value)
                reserved += 1
            case .publish: published = reserved
            default: break
            }
            reservedCount.append(reserved)
            publishedCount.append(published)
        }
        var taken = 0
        var freed = 0
        takenCount = [0]
        freedCount = [0]
        for timed in consumer {
            switch timed.action {
            case .takeFirst: taken += 1
            case .takeAll(let values): taken += values.count
            case .free(let count): freed += count
            default: break
            }
            takenCount.append(taken)
            freedCount.append(freed)
        }
    }

    /// Whether producer action `i` may take effect after `i` producer and `j` consumer actions.
    private func producerCanApply(_ i: Int, _ j: Int) -> Bool {
        let occupied = reservedCount[i] - freedCount[j]
        switch producer[i].action {
        case .reserve: return occupied < capacity
        case .reserveFailed: return occupied == capacity
        case .publish: return true
        default: return false
        }
    }

    /// Whether consumer action `j` may take effect after `i` producer and `j` consumer actions.
    private func consumerCanApply(_ i: Int, _ j: Int) -> Bool {
        let first = takenCount[j]
        let visible = publishedCount[i] - first
        switch consumer[j].action {
        case .takeFirst(let value): return visible >= 1 && reservedValues[first] == value
        case .takeNone: return visible == 0
        case .takeAll(let values):
            return visible == values.count && Array(reservedValues[first..<publishedCount[i]]) == values
        case .free: return true
        case .peek(let answer): return (visible > 0) == answer
        default: return false
        }
    }

    /// nil if the history is linearizable; otherwise why not, naming the calls at the furthest
    /// point any linearization reaches.
    func violation() -> String? {
        let p = producer.count
        let c = consumer.count
        var reachable = [Bool](repeating: false, count: (p + 1) * (c + 1))
        reachable[0] = true
        var furthest = (0, 0)
        for i in 0...p {
            for j in 0...c where reachable[i * (c + 1) + j] {
                if i + j > furthest.0 + furthest.1 { furthest = (i, j) }
                // Producer action i goes first unless consumer action j returned before it began.
                if i < p, j == c || consumer[j].responseStep >= producer[i].invocationStep, producerCanApply(i, j) {
                    reachable[(i + 1) * (c + 1) + j] = true
                }
                if j < c, i == p || producer[i].responseStep >= consumer[j].invocationStep, consumerCanApply(i, j) {
                    reachable[i * (c + 1) + j + 1] = true
                }
            }
        }
        if reachable[p * (c + 1) + c] { return nil }
        let (i, j) = furthest
        let occupied = reservedCount[i] - freedCount[j]
        let visible = publishedCount[i] - takenCount[j]
        var stuck: [String] = []
        if i < p {
            let event = producerEvents[producer[i].event]
            stuck.append("producer \(event.call) (steps \(event.invocationStep)-\(event.responseStep))")
        }
        if j < c {
            let event = consumerEvents[consumer[j].event]
            stuck.append("consumer \(event.call) (steps \(event.invocationStep)-\(event.responseStep))")
        }
        return "no bounded-FIFO order explains \(stuck.joined(separator: " / ")): "
            + "the model holds \(occupied) of \(capacity) slots, \(visible) published and unread"
    }
}

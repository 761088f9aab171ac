import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// What a broken ``invariant(_:_:file:line:)`` does outside the simulator.
public enum InvariantPolicy: Sendable {
    /// Print the message and the backtrace to stderr, then trap (the default).
    case trap
    /// Print the message and the backtrace to stderr, and go on.
    case log
}

/// The process-wide policy for broken invariants outside the simulator.
public enum Invariants {
    /// What a broken invariant does in production. Set it once, at startup.
    public static var policy: InvariantPolicy {
        get { policyStorage.withLock { $0 } }
        set { policyStorage.withLock { $0 = newValue } }
    }
    private static let policyStorage = Lock(InvariantPolicy.trap)

    /// Where production reports go (standard error unless a test redirects them).
    package static var reportSink: (@Sendable (String) -> Void)? {
        get { sinkStorage.withLock { $0 } }
        set { sinkStorage.withLock { $0 = newValue } }
    }
    private static let sinkStorage = Lock<(@Sendable (String) -> Void)?>(nil)
}

/// States something that must hold. Under ``MinissSimulator`` a broken invariant fails the
/// seed and the report carries this message, the backtrace, the spawn site of the task and the
/// last scheduling events; in production it prints the message and backtrace, then traps (see
/// ``Invariants/policy``).
///
/// ```swift
/// invariant(balance >= 0, "balance went negative: \(balance)")
/// ```
public func invariant(
    _ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String, file: StaticString = #fileID,
    line: UInt = #line
) {
    guard !condition() else { return }
    let text = message()
    let backtrace = Backtrace.capture(skipping: 1, limit: 32)
    if let hooks = ShardEngine.current?.simulationHooks {
        hooks.invariantBroken(InvariantFailure(message: text, file: "\(file)", line: line, backtrace: backtrace))
        return
    }
    let report = "miniss: invariant broken at \(file):\(line): \(text)\n\(backtrace)\n"
    if let sink = Invariants.reportSink {
        sink(report)
    } else {
        _ = report.withCString { write(2, $0, strlen($0)) }
    }
    if Invariants.policy == .trap { fatalError("invariant broken: \(text)", file: file, line: line) }
}

/// A broken invariant, as the simulator reports it.
package struct InvariantFailure: Sendable {
    package var message: String
    package var file: String
    package var line: UInt
    package var backtrace: Backtrace
    /// Where the failing task was spawned, if it was started with `spawn` under the simulator.
    package var spawnSite: String?
}

/// What a simulator attaches to each engine it drives: invariant failures, the spawn sites of
/// tasks, and work that arrived from a thread other than the simulator's (an escape).
package final class SimulationHooks: @unchecked Sendable {
    // SAFETY (@unchecked Sendable): `spawnSites` and `failure` are touched only on the
    // simulator's thread (it runs every job); `escapes` may be appended from any thread and is
    // behind a lock.
    package let ownerThread: pthread_t
    package private(set) var failure: InvariantFailure?
    package var spawnSites: [Int: String] = [:]
    /// The program's own random draws (``MinissSimulator``'s `Simulation.random(in:)`).
    package var random: SeededRandom
    private let escapeLog = Lock([String]())

    package init(seed: UInt64) {
        ownerThread = pthread_self()
        random = SeededRandom(seed: seed)
    }

    package var escapes: [String] { escapeLog.withLock { $0 } }
    /// Cheap check, for every step: whether any escape was recorded.
    package var hasEscapes: Bool { escapeCount.load(ordering: .acquiring) > 0 }
    private let escapeCount = Atomic<Int>(0)

    func invariantBroken(_ failure: InvariantFailure) {
        guard self.failure == nil else { return }
        var failure = failure
        withUnsafeCurrentTask { task in
            if let task { failure.spawnSite = spawnSites[task.hashValue] }
        }
        self.failure = failure
    }

    /// Called for work handed to an engine from a thread that is not the simulator's.
    func noteForeignSubmit(shard: Int) {
        guard pthread_equal(pthread_self(), ownerThread) == 0 else { return }
        let thread = pthread_self()
        escapeLog.withLock {
            $0.append("a job for shard \(shard) was enqueued from thread \(thread), not the simulation's thread")
        }
        escapeCount.add(1, ordering: .releasing)
    }
}

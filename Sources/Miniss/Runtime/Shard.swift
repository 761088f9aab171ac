/// One shard of a ``Runtime``: a pinned thread with its own run queue, timer wheel and I/O
/// driver. A lightweight handle; copies refer to the same shard.
public struct Shard: Sendable, Hashable, CustomStringConvertible {
    let engine: ShardEngine

    init(engine: ShardEngine) {
        self.engine = engine
    }

    /// The shard the calling code runs on, or `nil` off the runtime's threads.
    public static var current: Shard? {
        ShardEngine.current.map(Shard.init(engine:))
    }

    /// The shard's index in its runtime, from 0.
    public var id: Int { engine.id }

    /// The shard as a task executor: `Task(executorPreference: shard.taskExecutor) { ... }` runs
    /// a task (and its child tasks) on this shard.
    public var taskExecutor: any TaskExecutor { engine }

    /// The shard's serial executor, for actors that live on this shard (see
    /// ``ShardSerialExecutor``).
    public var serialExecutor: ShardSerialExecutor { engine.serialExecutor }

    /// Starts `body` as a task on this shard. Any thread. `file`/`line` (the call site) name the
    /// spawn site in simulator reports.
    @inlinable
    @discardableResult
    public func spawn<T: Sendable>(
        file: StaticString = #fileID, line: UInt = #line, _ body: sending @escaping () async throws -> T
    ) -> JoinHandle<T> {
        spawner.spawn(body, file: file, line: line)
    }

    @usableFromInline
    var spawner: TaskSpawner { engine.spawner }

    /// Suspends the calling task and lets the shard run its other ready jobs first.
    public static func yield() async {
        await Task.yield()
    }

    /// Whether both handles refer to the same shard.
    public static func == (lhs: Shard, rhs: Shard) -> Bool { lhs.engine === rhs.engine }
    /// Hashes the shard's identity.
    public func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(engine)) }
    /// "Shard(id)".
    public var description: String { "Shard(\(id))" }
}

/// Starts `body` as a task on the current shard.
///
/// Called off a shard, the returned handle's ``JoinHandle/value`` throws ``MinissError`` with
/// code ``MinissError/Code/notOnShard``. `file` and `line` default to the call site; under
/// `MinissSimulator` a failure report names them as the task's spawn site.
///
/// ```swift
/// let handles = (0..<10).map { i in spawn { i * i } }
/// var sum = 0
/// for handle in handles { sum += try await handle.value }
/// ```
@inlinable
@discardableResult
public func spawn<T: Sendable>(
    file: StaticString = #fileID, line: UInt = #line, _ body: sending @escaping () async throws -> T
) -> JoinHandle<T> {
    guard let spawner = TaskSpawner.current else { return .failed(MinissError.notOnShard("spawn")) }
    return spawner.spawn(body, file: file, line: line)
}

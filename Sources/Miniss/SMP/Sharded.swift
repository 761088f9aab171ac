/// One instance of a service on every shard of a runtime (Seastar's `sharded<T>`).
///
/// Each instance is created on its shard and only ever used there, so `Service` needs no locks
/// and need not be `Sendable`: other shards reach it by running a closure on its shard.
///
/// ```swift
/// final class Counter { var hits = 0 }
/// let counters = try await Sharded.start(on: runtime) { _ in Counter() }
/// try await counters.invoke(on: 1) { $0.hits += 1 }
/// let total = try await counters.mapReduce({ $0.hits }, into: 0, +=)
/// try await counters.stop()
/// ```
public final class Sharded<Service>: Sendable {
    private let runtime: Runtime
    private let table: InstanceTable<Service>

    private init(runtime: Runtime) {
        self.runtime = runtime
        self.table = InstanceTable(count: runtime.shardCount)
    }

    /// Creates one instance per shard, each by `make` running on its own shard, all shards at
    /// once. If any `make` throws, the instances already created are released and the first
    /// error is rethrown.
    public static func start(
        on runtime: Runtime, _ make: @escaping @Sendable (Shard) async throws -> Service
    ) async throws -> Sharded<Service> {
        let sharded = Sharded(runtime: runtime)
        let table = sharded.table
        do {
            try await sharded.onEveryShard { shard in
                table.store(try await make(Shard.current!), on: shard)
            }
        } catch {
            // Release what was created, each on its own shard.
            try? await sharded.onEveryShard { shard in table.remove(on: shard) }
            throw error
        }
        return sharded
    }

    /// The number of instances (the runtime's shard count).
    public var count: Int { table.count }

    /// Runs `body` with shard `shard`'s instance, on that shard, and returns its result.
    ///
    /// - Throws: what `body` throws; ``MinissError`` with ``MinissError/Code/invalidArgument`` for
    ///   a shard id out of range, ``MinissError/Code/serviceStopped`` after ``stop(_:)``.
    public func invoke<R: Sendable>(on shard: Int, _ body: @escaping @Sendable (Service) async throws -> R)
        async throws -> R
    {
        guard (0..<table.count).contains(shard) else {
            throw MinissError.invalidArgument("shard id \(shard) is out of range 0..<\(table.count)")
        }
        let table = self.table
        return try await runtime.submit(to: shard) {
            try await body(try table.instance(on: shard))
        }
    }

    /// The calling shard's instance. Use it only on this shard.
    ///
    /// - Throws: ``MinissError/Code/notOnShard`` off this service's runtime,
    ///   ``MinissError/Code/serviceStopped`` after ``stop(_:)``.
    public var local: Service {
        get throws {
            guard let shard = Shard.current, runtime.owns(shard.engine) else {
                throw MinissError.notOnShard("Sharded.local")
            }
            return try table.instance(on: shard.id)
        }
    }

    /// Runs `map` on every shard's instance (all shards at once) and folds the results with
    /// `reduce`, in shard order.
    public func mapReduce<Mapped: Sendable, Result>(
        _ map: @escaping @Sendable (Service) async throws -> Mapped, into initial: Result,
        _ reduce: (inout Result, Mapped) throws -> Void
    ) async throws -> Result {
        var mapped = [Mapped?](repeating: nil, count: table.count)
        try await withThrowingTaskGroup(of: (Int, Mapped).self) { group in
            for shard in 0..<table.count {
                group.addTask { (shard, try await self.invoke(on: shard, map)) }
            }
            for try await (shard, value) in group { mapped[shard] = value }
        }
        var result = initial
        for value in mapped { try reduce(&result, value!) }
        return result
    }

    /// Runs `body` on every shard's instance, then releases the instances. Later calls throw
    /// ``MinissError/Code/serviceStopped``; calling `stop` again does nothing.
    public func stop(_ body: @escaping @Sendable (Service) async throws -> Void = { _ in }) async throws {
        let table = self.table
        try await onEveryShard { shard in
            guard let instance = table.remove(on: shard) else { return }
            try await body(instance)
        }
    }

    /// Runs `body(shard)` on every shard at once; rethrows the first error after all finish.
    private func onEveryShard(_ body: @escaping @Sendable (Int) async throws -> Void) async throws {
        let runtime = self.runtime
        try await withThrowingTaskGroup(of: Void.self) { group in
            for shard in 0..<table.count {
                group.addTask { try await runtime.submit(to: shard) { try await body(shard) } }
            }
            try await group.waitForAll()
        }
    }
}

/// One slot per shard, each touched only on its shard's thread.
final class InstanceTable<Service>: @unchecked Sendable {
    // SAFETY (@unchecked Sendable): slot `i` is read and written only by code running on shard
    // `i` (every accessor checks it), so no slot is shared between threads.
    let count: Int
    private let slots: UnsafeMutablePointer<Service?>

    init(count: Int) {
        self.count = count
        slots = .allocate(capacity: count)
        slots.initialize(repeating: nil, count: count)
    }

    deinit {
        slots.deinitialize(count: count)
        slots.deallocate()
    }

    private func checkOwner(_ shard: Int) {
        precondition(Shard.current?.id == shard, "shard \(shard)'s instance used from another thread")
    }

    func store(_ instance: Service, on shard: Int) {
        checkOwner(shard)
        slots[shard] = instance
    }

    @discardableResult
    func remove(on shard: Int) -> Service? {
        checkOwner(shard)
        return slots[shard].take()
    }

    func instance(on shard: Int) throws -> Service {
        checkOwner(shard)
        guard let instance = slots[shard] else {
            throw MinissError(
                .serviceStopped, "this Sharded service has been stopped (or never started on shard \(shard))")
        }
        return instance
    }
}

import CMinissLinux
import Synchronization

/// A Miniss runtime: one pinned thread per shard, each running its own run queue, timer wheel
/// and I/O driver.
///
/// ```swift
/// let runtime = try Runtime(shards: 1)
/// let answer = try runtime.run {
///     let handle = spawn { 6 * 7 }
///     try await sleep(for: .milliseconds(10))
///     return try await handle.value
/// }
/// runtime.shutdown()
/// ```
///
/// `Task {}` and `Task.sleep` used on a shard stay on that shard (see ``spawn(_:)`` and
/// ``ShardClock``). Shutting the runtime down (``shutdown()``, or releasing the last
/// reference) cancels the tasks it spawned, waits for them to finish and joins its threads.
public final class Runtime: Sendable {
    /// How a runtime is set up.
    public struct Configuration: Sendable {
        /// Which clock drives the shards' timers.
        public enum TimeMode: Sendable, Equatable {
            /// The real monotonic clock.
            case monotonic
            /// Virtual time: starts at zero and, whenever the shard has nothing to run, jumps
            /// straight to the next timer. Sleeping an hour takes no wall time, so tests of
            /// timers are deterministic and instant. Needs `shards: 1` (the simulator handles
            /// more), and inputs from other threads arrive whenever they arrive.
            case virtual
        }

        /// The I/O backend. `MINISS_BACKEND` in the environment overrides it.
        public var backend: IOBackend
        /// The clock behind timers.
        public var time: TimeMode
        /// The timer wheel's tick: timers fire on tick boundaries, at most one tick late.
        public var timerTick: Duration
        /// Pin shard `i` to the `i`-th CPU this process may use.
        public var pinThreads: Bool
        /// How long an idle shard polls for work from other threads before it parks.
        public var idleSpin: Duration
        /// Jobs a shard runs before it checks its inbox, timers and I/O again.
        public var budgetJobs: Int
        /// Messages each ring between two shards holds (a power of two); more wait in the
        /// sender's backlog.
        public var ringCapacity: Int

        /// The defaults: automatic backend, monotonic time, 1 ms ticks, pinned threads, 20 µs
        /// idle spin, 256 jobs per round, 256 messages per ring.
        public init(
            backend: IOBackend = .automatic, time: TimeMode = .monotonic, timerTick: Duration = .milliseconds(1),
            pinThreads: Bool = true, idleSpin: Duration = .microseconds(20), budgetJobs: Int = 256,
            ringCapacity: Int = 256
        ) {
            self.backend = backend
            self.time = time
            self.timerTick = timerTick
            self.pinThreads = pinThreads
            self.idleSpin = idleSpin
            self.budgetJobs = budgetJobs
            self.ringCapacity = ringCapacity
        }
    }

    /// The number of shards.
    public var shardCount: Int { engines.count }
    /// The shards, by id.
    public var shards: [Shard] { engines.map(Shard.init(engine:)) }
    /// The I/O backend the shards run ("io_uring" or "epoll"), as chosen at start.
    public let backendName: String
    /// The configuration the runtime was started with.
    public let configuration: Configuration

    let engines: [ShardEngine]
    private let threads: [OSThread]
    private let isRunning = Atomic<Bool>(true)
    private let shutdownLock = Lock<Bool>(false)

    /// The CPUs this process may run on (its affinity mask).
    public static var availableCPUCount: Int { Int(miniss_allowed_cpu_count()) }

    /// Starts `shards` shard threads.
    ///
    /// - Throws: ``MinissError`` with ``MinissError/Code/invalidArgument`` for a bad shard count
    ///   or configuration, ``MinissError/Code/backendUnavailable`` (naming the syscall and
    ///   errno) if the chosen I/O backend cannot start.
    public init(shards: Int = 1, configuration: Configuration = Configuration()) throws {
        guard shards >= 1 else {
            throw MinissError.invalidArgument("Runtime needs at least 1 shard, got \(shards)")
        }
        guard shards <= 4096 else {
            throw MinissError.invalidArgument("Runtime supports at most 4096 shards, got \(shards)")
        }
        let tick = configuration.timerTick.nanosecondsClamped
        guard tick >= 1_000, tick <= 1_000_000_000 else {
            throw MinissError.invalidArgument(
                "timerTick must be between 1 µs and 1 s, got \(configuration.timerTick)")
        }
        guard configuration.budgetJobs >= 1 else {
            throw MinissError.invalidArgument("budgetJobs must be at least 1, got \(configuration.budgetJobs)")
        }
        let ring = configuration.ringCapacity
        guard ring >= 2, ring <= 1 << 20, ring & (ring - 1) == 0 else {
            throw MinissError.invalidArgument("ringCapacity must be a power of two from 2 to 2^20, got \(ring)")
        }
        guard configuration.idleSpin >= .zero else {
            throw MinissError.invalidArgument("idleSpin must not be negative, got \(configuration.idleSpin)")
        }
        if configuration.time == .virtual && shards != 1 {
            throw MinissError.invalidArgument(
                "virtual time needs shards: 1 (got \(shards)); use MinissSimulator to run several shards in virtual time"
            )
        }
        let backend = try IOBackend.fromEnvironment() ?? configuration.backend
        _ = GlobalExecutorHook.isInstalled

        let timeSource: any TimeSource =
            configuration.time == .virtual ? VirtualTimeSource() : MonotonicTimeSource()
        let engines = (0..<shards).map { id in
            ShardEngine(
                id: id, timeSource: timeSource, tickNanoseconds: UInt64(tick),
                idleSpinNanoseconds: UInt64(configuration.idleSpin.nanosecondsClamped),
                budgetJobs: configuration.budgetJobs)
        }
        if shards > 1 {
            let mesh = Mesh(engines: engines, ringCapacity: configuration.ringCapacity)
            for engine in engines { engine.mesh = mesh }
        }
        var threads: [OSThread] = []
        var started: [Result<String, MinissError>] = []
        for engine in engines {
            let startup = Latch<Result<String, MinissError>>()
            let cpu = configuration.pinThreads ? Int32(miniss_allowed_cpu(Int32(engine.id))) : -1
            threads.append(
                OSThread(name: "miniss-shard-\(engine.id)") {
                    Runtime.shardMain(engine: engine, backend: backend, cpu: cpu, startup: startup)
                })
            started.append(startup.wait())
        }
        if let failure = started.lazy.compactMap({ result -> MinissError? in
            if case .failure(let error) = result { return error }
            return nil
        }).first {
            for engine in engines where engine.driver == nil {
                // A shard that never ran counts as finished, or the others would wait for it.
                engine.mesh?.setQuiescent(true)
            }
            for engine in engines where engine.driver != nil { engine.requestStop() }
            for thread in threads { thread.join() }
            // Shards that never ran did not drop their mesh reference: break the cycle here.
            for engine in engines { engine.mesh = nil }
            throw failure
        }
        self.engines = engines
        self.threads = threads
        self.configuration = configuration
        if case .success(let name) = started[0] { backendName = name } else { backendName = "none" }
    }

    private static func shardMain(
        engine: ShardEngine, backend: IOBackend, cpu: Int32, startup: Latch<Result<String, MinissError>>
    ) {
        if cpu >= 0 { _ = miniss_pin_current_thread(cpu) }
        let driver: any ShardDriver
        do {
            driver = try backend.makeDriver()
        } catch let error as MinissError {
            startup.set(.failure(error))
            return
        } catch {
            startup.set(.failure(MinissError(.backendUnavailable, "\(error)")))
            return
        }
        engine.attach(driver: driver)
        startup.set(.success(driver.name))
        engine.withCurrent { engine.runLoop() }
    }

    deinit {
        shutdown()
    }

    /// Whether `engine` is one of this runtime's shards.
    func owns(_ engine: ShardEngine) -> Bool {
        engines.contains { $0 === engine }
    }

    /// The shard with the given id.
    ///
    /// - Precondition: `0 <= id < shardCount`.
    public func shard(_ id: Int) -> Shard {
        precondition(engines.indices.contains(id), "shard id \(id) is out of range 0..<\(engines.count)")
        return Shard(engine: engines[id])
    }

    /// Runs `body` on shard 0 and blocks the calling thread until it returns; returns its value
    /// or rethrows its error. Tasks that `body` spawned keep running afterwards.
    ///
    /// - Throws: what `body` throws; ``MinissError/Code/runtimeNotRunning`` after
    ///   ``shutdown()``; ``MinissError/Code/runCalledFromShard`` when called on a shard thread
    ///   (it would block the shard that must run `body`; use ``spawn(on:_:)`` and `await`).
    public func run<T: Sendable>(_ body: sending @escaping () async throws -> T) throws -> T {
        if ShardEngine.current != nil {
            throw MinissError(
                .runCalledFromShard,
                "Runtime.run blocks its thread, so it cannot be called on a shard; spawn the work and await its value instead"
            )
        }
        guard isRunning.load(ordering: .acquiring) else { throw MinissError.runtimeNotRunning("run") }
        let result = Latch<Result<T, any Error>>()
        _ = engines[0].spawner.spawn(body, completion: { result.set($0) })
        return try result.wait().get()
    }

    /// Starts `body` as a task on shard `shard` (default 0). Any thread. `file`/`line` (the call
    /// site) name the spawn site in simulator reports.
    ///
    /// After ``shutdown()`` or for a shard id out of range, the returned handle's value throws
    /// ``MinissError`` (``MinissError/Code/runtimeNotRunning``, ``MinissError/Code/invalidArgument``).
    @discardableResult
    public func spawn<T: Sendable>(
        on shard: Int = 0, file: StaticString = #fileID, line: UInt = #line,
        _ body: sending @escaping () async throws -> T
    ) -> JoinHandle<T> {
        guard engines.indices.contains(shard) else {
            return .failed(MinissError.invalidArgument("shard id \(shard) is out of range 0..<\(engines.count)"))
        }
        guard isRunning.load(ordering: .acquiring) else { return .failed(MinissError.runtimeNotRunning("spawn")) }
        return engines[shard].spawner.spawn(body, file: file, line: line)
    }

    /// Runs `body` every `period` on shard `shard` until the handle is cancelled; see
    /// ``spawnPeriodic(every:missedTickBehavior:_:)``.
    public func spawnPeriodic(
        on shard: Int = 0, every period: Duration, missedTickBehavior: Interval.MissedTickBehavior = .skip,
        _ body: @escaping @Sendable () async throws -> Void
    ) -> PeriodicHandle {
        guard engines.indices.contains(shard) else {
            let error = MinissError.invalidArgument("shard id \(shard) is out of range 0..<\(engines.count)")
            return PeriodicHandle(handle: .failed(error), state: PeriodicState())
        }
        guard isRunning.load(ordering: .acquiring) else {
            return PeriodicHandle(
                handle: .failed(MinissError.runtimeNotRunning("spawnPeriodic")), state: PeriodicState())
        }
        return engines[shard].spawnPeriodic(every: period, missedTickBehavior: missedTickBehavior, body)
    }

    /// Whether the runtime accepts work (it has not been shut down).
    public var isAcceptingWork: Bool { isRunning.load(ordering: .acquiring) }

    /// Stops the runtime: new work is refused, every task the runtime spawned is cancelled, and
    /// once they have finished the shard threads exit. Blocks until they have; any number of
    /// calls, from any threads, is fine. Tasks must honour cancellation for this to return.
    ///
    /// Called on one of the runtime's own shard threads, it only requests the stop (waiting
    /// would deadlock); the threads end on their own.
    public func shutdown() {
        isRunning.store(false, ordering: .releasing)
        let first = shutdownLock.withLock { requested -> Bool in
            defer { requested = true }
            return !requested
        }
        if first {
            for engine in engines { engine.requestStop() }
        }
        guard !threads.contains(where: \.isCurrent) else { return }
        for thread in threads { thread.join() }
    }
}

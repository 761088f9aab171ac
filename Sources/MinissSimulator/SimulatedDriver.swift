import CMinissLinux
import Miniss

#if canImport(Glibc)
    import Glibc
#endif

/// The driver of a simulated shard: it never blocks (the simulator moves virtual time instead)
/// and sends every operation to the run's ``SimulatedWorld`` (TCP between the shards, the
/// disk). Descriptors it hands out are numbers from `simulatedDescriptorBase` up, which the
/// kernel never uses; UDP and descriptors it did not make (a signalfd) fail with EOPNOTSUPP.
final class SimulatedDriver: ShardDriver, @unchecked Sendable {
    // SAFETY (@unchecked Sendable): used only on the simulator's thread (every shard of a run
    // is driven there). `world` is weak: a descriptor closed after the run (from a deinit)
    // finds it gone and does nothing.
    private weak var world: SimulatedWorld?
    private let shard: Int
    let name = "simulated"
    let wantsNonBlockingSockets = true
    var hasPendingIO: Bool { false }

    init(world: SimulatedWorld, shard: Int) {
        self.world = world
        self.shard = shard
    }

    func park(timeoutNanoseconds: UInt64?) {}
    func wake() {}
    func close() {}
    func attemptNow(_ operation: IOOperation) -> Int32? { nil }

    func start(_ operation: IOOperation) {
        precondition(!operation.isInFlight, "an I/O operation was started twice")
        guard let world, !world.stoppedShards.contains(shard) else { return operation.complete(-ECANCELED) }
        operation.cancelRequested = false
        operation.isInFlight = true
        if operation.kind.isFileOperation {
            world.startFileOperation(operation, shard: shard)
        } else {
            world.startSocketOperation(operation, shard: shard)
        }
    }

    func cancel(_ operation: IOOperation) { world?.cancel(operation) }
    func forget(fd: Int32) { world?.forget(fd: fd) }
    func cancelAll() { world?.cancelAll(on: shard) }

    func makeSocket(family: Int32, stream: Bool) -> Int32 {
        world?.makeSocket(family: family, stream: stream, shard: shard) ?? -ECANCELED
    }

    func configureStream(_ fd: Int32) {}

    func bind(_ fd: Int32, to address: miniss_address, backlog: Int32, reusePort: Bool) -> Int32 {
        world?.bind(fd, to: SocketAddress(raw: address), backlog: backlog, reusePort: reusePort, shard: shard)
            ?? -ECANCELED
    }

    func address(of fd: Int32, peer: Bool) -> miniss_address? {
        world?.address(of: fd, peer: peer)?.raw
    }

    func shutdownWriting(_ fd: Int32) -> Int32 { world?.shutdownWriting(fd) ?? -EBADF }
    func prepareReset(_ fd: Int32) { world?.prepareReset(fd) }
    func closeDescriptor(_ fd: Int32) { world?.closeDescriptor(fd) }

    func openFile(_ path: String, options: File.Options, permissions: UInt32) -> Int32 {
        world?.openFile(path, options: options, shard: shard) ?? -ECANCELED
    }

    func fileSize(_ fd: Int32) -> Int64 { world?.fileSize(fd) ?? -Int64(EBADF) }

    /// The run's fault plan.
    var faults: FaultPlan? { world?.plan }

    /// ``Simulation/wasDisturbed(connectionAt:)``.
    func wasDisturbed(_ key: String) -> Bool { world?.disturbed.contains(key) ?? false }

    /// ``Simulation/crashDisk()``.
    func crashDisk() { world?.crashDisk() }

    /// ``Simulation/crashDisk(afterFileOperations:)``.
    func armDiskCrash(afterFileOperations count: Int) { world?.disk.crashCountdown = count }
}

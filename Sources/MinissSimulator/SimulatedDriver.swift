import Miniss

#if canImport(Glibc)
    import Glibc
#endif

/// The driver of a simulated shard: it never blocks (the simulator moves virtual time instead)
/// and has no I/O yet — an operation completes at once with `EOPNOTSUPP`, so code that does I/O
/// under the simulator gets a clear error instead of touching the real kernel. (Simulated
/// TCP and disk are the next step of issue 5.)
final class SimulatedDriver: ShardDriver, @unchecked Sendable {
    // SAFETY (@unchecked Sendable): stateless.
    let name = "simulated"
    let wantsNonBlockingSockets = true
    var hasPendingIO: Bool { false }

    func park(timeoutNanoseconds: UInt64?) {}
    func wake() {}
    func close() {}
    func attemptNow(_ operation: IOOperation) -> Int32? { -EOPNOTSUPP }
    func start(_ operation: IOOperation) { operation.complete(-EOPNOTSUPP) }
    func cancel(_ operation: IOOperation) {}
    func forget(fd: Int32) {}
    func cancelAll() {}
}

import CMinissLinux

#if canImport(Glibc)
    import Glibc
#endif

/// A file descriptor owned by one shard (its "home"): every operation on it runs on that
/// shard's thread and driver. Closing cancels what is in flight on it, then releases the fd.
final class Descriptor: @unchecked Sendable {
    // SAFETY (@unchecked Sendable): `isClosed` and `operations` are touched only on the home
    // shard's thread (`checkHome` guards every entry point). `deinit`, which may run on any
    // thread, touches neither: it sends the close to the home shard.
    let fd: Int32
    let home: ShardEngine
    /// What this is, for error messages ("TCPStream", "File /tmp/x").
    let kind: String
    private(set) var isClosed = false
    /// Operations that may be in flight on this fd (cancelled by `close`).
    private var operations: [IOOperation] = []

    init(fd: Int32, home: ShardEngine, kind: String) {
        self.fd = fd
        self.home = home
        self.kind = kind
    }

    /// The shard engine, after checking that the caller runs on it and the fd is open.
    func checkHome(_ action: String) throws -> ShardEngine {
        guard home.isCurrent else {
            if ShardEngine.current == nil { throw MinissError.notOnShard("\(kind).\(action)") }
            throw MinissError.invalidArgument(
                "\(kind) belongs to shard \(home.id) and cannot \(action) from shard \(ShardEngine.current!.id); "
                    + "use submit(to: \(home.id)) to run that code on its shard")
        }
        guard !isClosed else { throw MinissError(.closed, "cannot \(action): the \(kind) is closed") }
        return home
    }

    /// Tracks `operation` so `close()` can cancel it (until it is no longer in flight).
    func track(_ operation: IOOperation) {
        operations.removeAll { !$0.isInFlight }
        operations.append(operation)
    }

    /// Cancels in-flight operations and closes the fd. Idempotent. From another thread, the
    /// close is sent to the home shard (or done here if that shard has stopped).
    func close() {
        guard home.isCurrent else {
            let fd = fd
            let home = home
            if !home.tryExecute({ [self] in self.close() }) { closeStrayDescriptor(fd) }
            return
        }
        guard !isClosed else { return }
        isClosed = true
        if let driver = home.driver {
            for operation in operations where operation.isInFlight { driver.cancel(operation) }
            driver.forget(fd: fd)
        }
        operations.removeAll()
        closeDescriptor(fd, on: home)
    }

    deinit {
        // `self` cannot escape deinit: send what the close needs by value. Nothing is in flight
        // here (an in-flight operation is reachable only from a task that references us).
        guard !isClosed else { return }
        let fd = fd
        let home = home
        if home.isCurrent {
            home.driver?.forget(fd: fd)
            closeDescriptor(fd, on: home)
        } else if !home.tryExecute({
            home.driver?.forget(fd: fd)
            closeDescriptor(fd, on: home)
        }) {
            closeStrayDescriptor(fd)
        }
    }
}

/// The engine of the calling shard, or a `notOnShard` error naming `api`.
func currentEngine(_ api: String) throws -> ShardEngine {
    guard let engine = ShardEngine.current else { throw MinissError.notOnShard(api) }
    return engine
}

import CMinissLinux

/// The shard engine's view of its I/O backend: the one place where the shard's thread blocks.
///
/// Production shards use ``UringDriver`` (io_uring) or ``EpollDriver``; the simulator plugs in
/// a driver that never blocks. A driver is owned by one shard thread, except ``wake()``, which
/// any thread may call.
package protocol ShardDriver: AnyObject, Sendable {
    /// The backend's name, for logs and errors ("io_uring", "epoll").
    var name: String { get }
    /// Blocks until ``wake()`` is called, I/O completes, or `timeoutNanoseconds` pass (`nil`: no
    /// limit; `0`: just reap what is ready).
    func park(timeoutNanoseconds: UInt64?)
    /// Makes a current or next ``park(timeoutNanoseconds:)`` return. Thread-safe.
    func wake()
    /// Releases the backend's resources. Called once, on the shard thread, after the loop ends
    /// and after ``cancelAll()``.
    func close()

    /// Whether I/O is queued or in flight, so the loop must poll the driver (park with a zero
    /// timeout) between batches of jobs, and may not spin instead of parking.
    var hasPendingIO: Bool { get }
    /// Whether sockets should be created with `O_NONBLOCK` (readiness-based backends).
    var wantsNonBlockingSockets: Bool { get }
    /// Runs `operation` at once if that cannot block (a readiness-based backend tries the
    /// syscall); `nil` when it has to wait, or the backend always goes through the kernel queue.
    func attemptNow(_ operation: IOOperation) -> Int32?
    /// Starts `operation`; its ``IOOperation/complete(_:more:)`` is called on this thread, later
    /// (during a park) or before `start` returns.
    func start(_ operation: IOOperation)
    /// Asks for `operation` to end early. It still completes exactly once more (with `-ECANCELED`,
    /// or its result if it finished first); nothing it owns is freed before that.
    func cancel(_ operation: IOOperation)
    /// Forgets what the driver knows about `fd`, which the caller is about to close.
    func forget(fd: Int32)
    /// Cancels everything in flight and waits (bounded) until every operation has completed, so
    /// no buffer is still owned by the kernel. Called once, at shutdown, before ``close()``.
    func cancelAll()

    // Descriptor calls that do not wait. The kernel drivers use the defaults below (plain
    // syscalls); the simulator's driver answers them from its simulated network and disk, so
    // the I/O types never call the kernel directly. Each returns 0 / an fd, or -errno.

    /// socket(2): a TCP (`stream`) or UDP socket.
    func makeSocket(family: Int32, stream: Bool) -> Int32
    /// Sets up a new TCP stream (TCP_NODELAY) after connect or accept.
    func configureStream(_ fd: Int32)
    /// bind(2), then listen(2) when `backlog >= 0` (with SO_REUSEADDR, and SO_REUSEPORT if asked).
    func bind(_ fd: Int32, to address: miniss_address, backlog: Int32, reusePort: Bool) -> Int32
    /// getsockname(2) / getpeername(2).
    func address(of fd: Int32, peer: Bool) -> miniss_address?
    /// shutdown(2) of the sending side.
    func shutdownWriting(_ fd: Int32) -> Int32
    /// Makes the next close of `fd` reset the connection (SO_LINGER 0).
    func prepareReset(_ fd: Int32)
    /// close(2). Called after ``forget(fd:)``.
    func closeDescriptor(_ fd: Int32)
    /// open(2).
    func openFile(_ path: String, options: File.Options, permissions: UInt32) -> Int32
    /// The size of an open file.
    func fileSize(_ fd: Int32) -> Int64
}

/// The descriptors the simulator hands out start here, above any real process's limit
/// (`nr_open` is at most 2^20), so a simulated fd can never be mistaken for a real one.
package let simulatedDescriptorBase: Int32 = 1 << 28

/// Closes `fd` through `home`'s driver (on `home`'s thread).
package func closeDescriptor(_ fd: Int32, on home: ShardEngine) {
    if let driver = home.driver { driver.closeDescriptor(fd) } else { closeStrayDescriptor(fd) }
}

/// Closes `fd` with close(2) from any thread, once its shard can no longer do it; a simulated
/// descriptor has no kernel object behind it and is left alone.
package func closeStrayDescriptor(_ fd: Int32) {
    if fd < simulatedDescriptorBase { _ = miniss_close(fd) }
}

extension ShardDriver {
    package func makeSocket(family: Int32, stream: Bool) -> Int32 {
        miniss_socket(family, stream, wantsNonBlockingSockets)
    }

    package func configureStream(_ fd: Int32) {
        _ = miniss_set_no_delay(fd, true)
    }

    package func bind(_ fd: Int32, to address: miniss_address, backlog: Int32, reusePort: Bool) -> Int32 {
        if backlog >= 0 { _ = miniss_set_reuse_address(fd, true) }
        if reusePort {
            let result = miniss_set_reuse_port(fd, true)
            if result != 0 { return result }
        }
        var raw = address
        return miniss_bind(fd, &raw, backlog)
    }

    package func address(of fd: Int32, peer: Bool) -> miniss_address? {
        var raw = miniss_address()
        let result = peer ? miniss_peer_address(fd, &raw) : miniss_local_address(fd, &raw)
        return result == 0 ? raw : nil
    }

    package func shutdownWriting(_ fd: Int32) -> Int32 {
        miniss_shutdown(fd, 1)
    }

    package func prepareReset(_ fd: Int32) {
        _ = miniss_set_linger_zero(fd)
    }

    package func closeDescriptor(_ fd: Int32) {
        _ = miniss_close(fd)
    }

    package func openFile(_ path: String, options: File.Options, permissions: UInt32) -> Int32 {
        let flags = miniss_open_flags(
            options.contains(.read), options.contains(.write), options.contains(.create),
            options.contains(.truncate), options.contains(.append), options.contains(.exclusive))
        return miniss_open(path, flags, permissions)
    }

    package func fileSize(_ fd: Int32) -> Int64 {
        miniss_file_size(fd)
    }
}

/// Which I/O backend shards use.
public enum IOBackend: String, Sendable, CaseIterable, CustomStringConvertible {
    /// io_uring, or epoll when io_uring cannot start (the runtime reports which it chose).
    case automatic
    /// io_uring only: starting fails with an error naming the syscall and errno.
    case uring
    /// epoll only.
    case epoll

    /// The backend's name, as `MINISS_BACKEND` accepts it.
    public var description: String { rawValue }

    /// Reads `MINISS_BACKEND` (`automatic`, `uring` or `epoll`) so a user can force a backend
    /// without recompiling; `nil` when unset.
    public static func fromEnvironment() throws -> IOBackend? {
        guard let raw = getenv("MINISS_BACKEND").map({ String(cString: $0) }), !raw.isEmpty else {
            return nil
        }
        return try parse(raw, source: "MINISS_BACKEND")
    }

    /// Parses a backend name (`automatic`, `uring`, `io_uring` or `epoll`, any case).
    ///
    /// - Throws: ``MinissError`` (``MinissError/Code/invalidArgument``) naming `source` and the
    ///   accepted values.
    public static func parse(_ raw: String, source: String = "backend") throws -> IOBackend {
        let name = raw.lowercased()
        if name == "io_uring" { return .uring }
        guard let backend = IOBackend(rawValue: name) else {
            throw MinissError.invalidArgument(
                "\(source)=\(raw) is not a backend; use one of: automatic, uring, epoll")
        }
        return backend
    }

    /// Starts a driver for this backend (called on the shard's thread).
    func makeDriver() throws -> any ShardDriver {
        switch self {
        case .uring: return try UringDriver()
        case .epoll: return try EpollDriver()
        case .automatic:
            do { return try UringDriver() } catch { return try EpollDriver() }
        }
    }
}

#if canImport(Glibc)
    import Glibc
#endif

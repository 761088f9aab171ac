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

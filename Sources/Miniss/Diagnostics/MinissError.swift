#if canImport(Glibc)
    import Glibc
#endif

/// The one error type of Miniss. Each error has a ``code`` to match on and a ``message`` that
/// says what happened and what to do about it.
///
/// Cancellation is reported the Swift way, with `CancellationError`, so code that already
/// handles cancellation keeps working.
///
/// ```swift
/// do {
///     try await timeout(after: .seconds(1)) { try await fetch() }
/// } catch let error as MinissError where error.code == .timedOut {
///     print(error)  // "operation timed out after 1.0 seconds"
/// }
/// ```
public struct MinissError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What kind of failure this is.
    public enum Code: String, Sendable, Equatable, CaseIterable {
        /// The runtime was shut down (or never started), so it cannot run the work.
        case runtimeNotRunning
        /// A ``timeout(after:_:)`` deadline passed before the operation finished.
        case timedOut
        /// A shard-only API was called from a thread or task that is not on a Miniss shard.
        case notOnShard
        /// ``Runtime/run(_:)`` was called from a shard thread, where blocking would deadlock.
        case runCalledFromShard
        /// An argument or configuration value is out of range.
        case invalidArgument
        /// The I/O backend could not start (the message names the syscall and errno).
        case backendUnavailable
        /// A ``Sharded`` service was used after it was stopped.
        case serviceStopped
        /// The peer refused the connection (`ECONNREFUSED`): nothing listens there.
        case connectionRefused
        /// The peer reset or abandoned the connection (`ECONNRESET`, `EPIPE`).
        case connectionReset
        /// The local address is taken (`EADDRINUSE`): pick another port or use `reusePort`.
        case addressInUse
        /// The stream ended before the expected number of bytes arrived.
        case endOfStream
        /// The socket or file was closed (possibly while this operation waited on it).
        case closed
        /// Another I/O failure; ``MinissError/systemError`` holds the errno.
        case ioFailed
    }

    /// What kind of failure this is.
    public let code: Code
    /// A sentence for a person: what happened, and what to do.
    public let message: String
    /// The `errno` behind an I/O error, if there is one.
    public let systemError: Int32?

    /// Creates an error. Miniss creates these; user code rarely needs to.
    public init(_ code: Code, _ message: String, systemError: Int32? = nil) {
        self.code = code
        self.message = message
        self.systemError = systemError
    }

    /// The ``message``.
    public var description: String { message }

    static func runtimeNotRunning(_ action: String) -> MinissError {
        MinissError(
            .runtimeNotRunning,
            "cannot \(action): the runtime has been shut down; create a new Runtime to run more work")
    }

    static func timedOut(after duration: Duration) -> MinissError {
        MinissError(.timedOut, "operation timed out after \(duration)")
    }

    @usableFromInline
    static func notOnShard(_ api: String) -> MinissError {
        MinissError(
            .notOnShard,
            "\(api) must be called from a task running on a Miniss shard (start one with Runtime.run or Runtime.spawn)"
        )
    }

    static func invalidArgument(_ message: String) -> MinissError {
        MinissError(.invalidArgument, message)
    }

    /// An error for a failed syscall: `what` names the operation ("connect to 127.0.0.1:80"),
    /// `code` the errno (positive).
    static func io(_ what: String, errno code: Int32) -> MinissError {
        let reason = String(cString: strerror(code))
        let kind: Code
        switch code {
        case ECONNREFUSED: kind = .connectionRefused
        case ECONNRESET, EPIPE, ECONNABORTED: kind = .connectionReset
        case EADDRINUSE: kind = .addressInUse
        case ETIMEDOUT: kind = .timedOut
        case EBADF, ECANCELED: kind = .closed
        default: kind = .ioFailed
        }
        return MinissError(kind, "\(what) failed: \(reason) (errno \(code))", systemError: code)
    }

    static func backendUnavailable(backend: String, syscall: String, errno code: Int32, hint: String)
        -> MinissError
    {
        let reason = String(cString: strerror(code))
        return MinissError(
            .backendUnavailable,
            "\(backend) backend unavailable: \(syscall) failed with errno \(code) (\(reason)); \(hint)")
    }
}

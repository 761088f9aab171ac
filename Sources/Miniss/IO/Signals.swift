import CMinissLinux

#if canImport(Glibc)
    import Glibc
#endif

/// A POSIX signal.
public struct Signal: Hashable, Sendable, CustomStringConvertible {
    /// The signal number.
    public let rawValue: Int32
    /// Creates a signal from its number.
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// SIGINT (Ctrl-C).
    public static let interrupt = Signal(rawValue: SIGINT)
    /// SIGTERM (the polite "please stop").
    public static let terminate = Signal(rawValue: SIGTERM)
    /// SIGHUP.
    public static let hangup = Signal(rawValue: SIGHUP)
    /// SIGQUIT.
    public static let quit = Signal(rawValue: SIGQUIT)
    /// SIGUSR1.
    public static let user1 = Signal(rawValue: SIGUSR1)
    /// SIGUSR2.
    public static let user2 = Signal(rawValue: SIGUSR2)

    /// The signal's name, such as `SIGTERM`.
    public var description: String {
        switch rawValue {
        case SIGINT: return "SIGINT"
        case SIGTERM: return "SIGTERM"
        case SIGHUP: return "SIGHUP"
        case SIGQUIT: return "SIGQUIT"
        case SIGUSR1: return "SIGUSR1"
        case SIGUSR2: return "SIGUSR2"
        default: return "signal \(rawValue)"
        }
    }
}

/// Waiting for signals as an async call, through `signalfd` (no handlers, no Dispatch).
///
/// A signal is read through `signalfd` only if no thread takes it first: block the signals in
/// the main thread before anything starts other threads (threads inherit the mask), then wait.
///
/// ```swift
/// try Signals.block([.interrupt, .terminate])   // first thing in main
/// let runtime = try Runtime()
/// try runtime.run {
///     let server = spawn { try await serve() }
///     let signal = try await Signals.wait(for: [.interrupt, .terminate])
///     print("\(signal): shutting down")
///     server.cancel()
/// }
/// ```
public enum Signals {
    /// Blocks `signals` in the calling thread (and in the threads it creates afterwards), so
    /// that they wait for ``wait(for:)`` instead of running their default action.
    public static func block(_ signals: [Signal]) throws {
        let numbers = signals.map(\.rawValue)
        let result = miniss_block_signals(numbers, Int32(numbers.count))
        guard result == 0 else { throw MinissError.io("pthread_sigmask", errno: -result) }
    }

    /// Waits until one of `signals` is delivered, and returns it. Blocks them in the shard's
    /// thread; see ``Signals`` for blocking them process-wide.
    ///
    /// - Throws: ``MinissError/Code/invalidArgument`` for an empty list, `CancellationError`.
    public static func wait(for signals: [Signal]) async throws -> Signal {
        let engine = try currentEngine("Signals.wait")
        guard !signals.isEmpty else {
            throw MinissError.invalidArgument("Signals.wait(for:) needs at least one signal")
        }
        try block(signals)
        guard let driver = engine.driver else { throw MinissError.runtimeNotRunning("wait for signals") }
        let numbers = signals.map(\.rawValue)
        let fd = miniss_signalfd(numbers, Int32(numbers.count), driver.wantsNonBlockingSockets)
        guard fd >= 0 else { throw MinissError.io("signalfd", errno: -fd) }
        let descriptor = Descriptor(fd: fd, home: engine, kind: "signalfd")
        defer { descriptor.close() }
        let operation = IOOperation(.readStream, fd: fd)
        let size = Int(miniss_signalfd_info_size())
        operation.buffer = IOBuffer(capacity: size)
        operation.length = size
        while true {
            descriptor.track(operation)
            let result = try await engine.perform(operation)
            if result == -EINTR { continue }
            guard result == Int32(size) else {
                throw MinissError.io("read signalfd", errno: result < 0 ? -result : EIO)
            }
            // `ssi_signo` is the first field of struct signalfd_siginfo.
            return Signal(rawValue: Int32(bitPattern: operation.bytes.load(as: UInt32.self)))
        }
    }

    /// Sends `signal` to the calling thread only (a test helper: deterministic delivery to a
    /// thread that blocks the signal).
    public static func raiseInCurrentThread(_ signal: Signal) throws {
        let result = miniss_raise_in_thread(signal.rawValue)
        guard result == 0 else { throw MinissError.io("tgkill", errno: -result) }
    }
}

import CMinissLinux

#if canImport(Glibc)
    import Glibc
#endif

/// A listening TCP socket, owned by the shard that created it.
///
/// ```swift
/// let listener = try TCPListener(bindingTo: SocketAddress(host: "0.0.0.0", port: 8080), reusePort: true)
/// for try await connection in listener.connections {
///     spawn { try await serve(connection) }
/// }
/// ```
///
/// With io_uring, one multishot accept request stays armed and each connection completes it
/// once more; with epoll, connections are accepted as the socket becomes readable. Accepted
/// connections wait in a bounded queue (``acceptQueueLimit``) until ``accept()`` takes them;
/// while it is full, the kernel's backlog holds the rest.
public final class TCPListener: @unchecked Sendable {
    // SAFETY (@unchecked Sendable): `queue` is touched only on the home shard's thread; each
    // public method starts with `descriptor.checkHome`, and `deinit` sends its work there.
    let descriptor: Descriptor
    private let queue: AcceptQueue

    /// The address the listener is bound to (with the port the kernel chose for port 0).
    public let localAddress: SocketAddress

    /// How many accepted connections may wait for ``accept()`` before the listener stops
    /// accepting for a while.
    public static let acceptQueueLimit = 256

    /// Binds to `address` and starts listening.
    ///
    /// - Parameters:
    ///   - backlog: the kernel's queue of connections not yet accepted.
    ///   - reusePort: sets `SO_REUSEPORT`, so one listener per shard can share the port and
    ///     the kernel spreads connections across them.
    /// - Throws: ``MinissError/Code/addressInUse`` when the port is taken, other I/O errors
    ///   with their errno, ``MinissError/Code/notOnShard`` off a shard.
    public init(bindingTo address: SocketAddress, backlog: Int = 1024, reusePort: Bool = false) throws {
        let engine = try currentEngine("TCPListener.init")
        guard let driver = engine.driver else { throw MinissError.runtimeNotRunning("listen") }
        guard backlog > 0 else { throw MinissError.invalidArgument("backlog must be positive, got \(backlog)") }
        let fd = driver.makeSocket(family: address.family, stream: true)
        guard fd >= 0 else { throw MinissError.io("socket()", errno: -fd) }
        let bound = driver.bind(fd, to: address.raw, backlog: Int32(clamping: backlog), reusePort: reusePort)
        guard bound == 0 else {
            driver.closeDescriptor(fd)
            throw MinissError.io("listen on \(address)", errno: -bound)
        }
        self.localAddress = driver.address(of: fd, peer: false).map(SocketAddress.init(raw:)) ?? address
        self.descriptor = Descriptor(fd: fd, home: engine, kind: "TCPListener")
        self.queue = AcceptQueue(fd: fd, home: engine)
    }

    /// Waits for the next connection.
    ///
    /// - Throws: ``MinissError/Code/closed`` once the listener is closed, accept errors (such
    ///   as running out of file descriptors) with their errno, `CancellationError`.
    public func accept() async throws -> TCPStream {
        let engine = try descriptor.checkHome("accept")
        let result = try await queue.next(engine: engine)
        guard result >= 0 else {
            if result == -ECANCELED || descriptor.isClosed {
                throw MinissError(.closed, "the TCPListener was closed", systemError: ECANCELED)
            }
            throw MinissError.io("accept on \(localAddress)", errno: -result)
        }
        return TCPStream(fd: result, home: engine)
    }

    /// The accepted connections, as an `AsyncSequence` that ends when the listener is closed.
    public var connections: Connections { Connections(listener: self) }

    /// Stops listening: a waiting ``accept()`` fails with ``MinissError/Code/closed``, queued
    /// connections are closed. Idempotent.
    public func close() {
        guard descriptor.home.isCurrent else {
            _ = descriptor.home.tryExecute { [self] in close() }
            return
        }
        queue.close()
        descriptor.close()
    }

    deinit {
        let queue = queue
        if descriptor.home.isCurrent {
            queue.close()
        } else {
            _ = descriptor.home.tryExecute { queue.close() }
        }
    }

    /// The connections of a ``TCPListener``, in the order the kernel accepted them.
    public struct Connections: AsyncSequence, Sendable {
        /// The element type: an accepted connection.
        public typealias Element = TCPStream
        let listener: TCPListener

        /// Makes an iterator.
        public func makeAsyncIterator() -> Iterator { Iterator(listener: listener) }

        /// Iterates over accepted connections; returns nil once the listener is closed.
        public struct Iterator: AsyncIteratorProtocol {
            let listener: TCPListener

            /// The next connection, or nil once the listener is closed.
            public mutating func next() async throws -> TCPStream? {
                do {
                    return try await listener.accept()
                } catch let error as MinissError where error.code == .closed {
                    return nil
                }
            }
        }
    }
}

/// Accepted connections waiting for `accept()`, and the (multishot) accept request feeding it.
final class AcceptQueue: @unchecked Sendable {
    // SAFETY (@unchecked Sendable): home-shard thread only (see TCPListener).
    private let fd: Int32
    private let home: ShardEngine
    private var operation: IOOperation?
    /// Accepted fds (or -errno) not yet taken.
    private var pending: [Int32] = []
    private var pendingHead = 0
    private var waiter: UnsafeContinuation<Int32, Never>?
    /// Counts waits, so a late cancellation handler cancels only its own.
    private var waiterTicket = 0
    private var isClosed = false

    init(fd: Int32, home: ShardEngine) {
        self.fd = fd
        self.home = home
    }

    private var pendingCount: Int { pending.count - pendingHead }

    /// The next accepted fd, or -errno.
    func next(engine: ShardEngine) async throws -> Int32 {
        // Once the shard's driver has cancelled everything (shutdown), no accept may start: it
        // would never complete.
        if isClosed || home.isDraining { return -ECANCELED }
        if pendingCount == 0 { arm(engine) }
        if let result = takePending() { return result }
        if Task.isCancelled { throw CancellationError() }
        guard waiter == nil else {
            throw MinissError.invalidArgument("another task is already waiting in accept() on this TCPListener")
        }
        waiterTicket &+= 1
        let ticket = waiterTicket
        let result = await withTaskCancellationHandler {
            await withUnsafeContinuation { continuation in
                waiter = continuation
            }
        } onCancel: { [self] in
            // Only this wait: by the time the shard runs this, a later accept() may be waiting.
            _ = home.tryExecute { [self] in
                if waiterTicket == ticket { resumeWaiter(-ECANCELED) }
            }
        }
        if result == -ECANCELED && !isClosed && Task.isCancelled { throw CancellationError() }
        return result
    }

    private func takePending() -> Int32? {
        guard pendingCount > 0 else { return nil }
        let result = pending[pendingHead]
        pendingHead += 1
        if pendingHead == pending.count {
            pending.removeAll(keepingCapacity: true)
            pendingHead = 0
        }
        if pendingCount < TCPListener.acceptQueueLimit / 2 { arm(home) }
        return result
    }

    /// Makes sure an accept request is in flight.
    private func arm(_ engine: ShardEngine) {
        guard !isClosed, !engine.isDraining, pendingCount < TCPListener.acceptQueueLimit, let driver = engine.driver
        else { return }
        if let operation, operation.isInFlight { return }
        let operation: IOOperation
        if let existing = self.operation {
            // Keeps the one-shot fallback once a kernel refused multishot accept.
            operation = existing
        } else {
            operation = IOOperation(.accept, fd: fd)
            operation.isMultishot = true
        }
        operation.onCompletion = { [weak self] result, more in
            guard let self else {
                if result >= 0 { closeDescriptor(result, on: engine) }
                return
            }
            deliver(result, more: more)
        }
        self.operation = operation
        driver.start(operation)
    }

    private func deliver(_ result: Int32, more: Bool) {
        if isClosed {
            if result >= 0 { closeDescriptor(result, on: home) }
            return
        }
        if result == -EINVAL && !more, let operation, operation.isMultishot {
            // A kernel without multishot accept: fall back to one request per connection.
            operation.isMultishot = false
        } else if result != -ECANCELED {
            // -ECANCELED is our own cancel (the queue was full): nothing to deliver.
            if waiter != nil {
                resumeWaiter(result)
            } else {
                pending.append(result)
                if pendingCount >= TCPListener.acceptQueueLimit, more, let operation {
                    home.driver?.cancel(operation)
                }
            }
        }
        // The request has ended (one-shot, cancelled, or a multishot the kernel stopped): arm a
        // new one if someone waits or the queue is low; otherwise `takePending` will.
        // Not while the shard stops: its driver is cancelling everything in flight.
        if !more && !home.isStopping && (waiter != nil || pendingCount < TCPListener.acceptQueueLimit / 2) {
            arm(home)
        }
    }

    private func resumeWaiter(_ result: Int32) {
        let waiter = waiter
        self.waiter = nil
        waiter?.resume(returning: result)
    }

    /// Cancels the request, closes queued connections, fails a waiting accept.
    func close() {
        guard !isClosed else { return }
        isClosed = true
        if let operation, operation.isInFlight { home.driver?.cancel(operation) }
        while let result = takePending() {
            if result >= 0 { closeDescriptor(result, on: home) }
        }
        pending.removeAll()
        pendingHead = 0
        resumeWaiter(-ECANCELED)
    }
}

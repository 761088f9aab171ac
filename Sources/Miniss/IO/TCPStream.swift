import CMinissLinux

#if canImport(Glibc)
    import Glibc
#endif

/// A TCP connection, owned by the shard that connected or accepted it.
///
/// ```swift
/// let stream = try await TCPStream.connect(to: SocketAddress(host: "127.0.0.1", port: 8080))
/// try await stream.write(Array("ping".utf8))
/// let reply = try await stream.read()          // [] once the peer has closed
/// stream.close()
/// ```
///
/// Reads and writes may run at the same time (one reader and one writer task); two concurrent
/// reads (or writes) are refused with ``MinissError/Code/invalidArgument``. Using the stream
/// from another shard throws; pass the work there with ``submit(to:_:)`` instead. Cancelling a
/// task that waits in a read or write cancels the request; the buffer the kernel writes into is
/// owned by the request until it completes. Compose with ``timeout(after:_:)`` for deadlines.
public final class TCPStream: @unchecked Sendable {
    // SAFETY (@unchecked Sendable): every mutable field is touched only on the home shard's
    // thread; each public method starts with `descriptor.checkHome`, which throws elsewhere.
    let descriptor: Descriptor
    private var reader: IOOperation?
    private var writer: IOOperation?
    private var isReading = false
    private var isWriting = false

    /// Default size of one read.
    public static let defaultReadSize = 16 * 1024
    private static let maxWriteChunk = 256 * 1024

    init(fd: Int32, home: ShardEngine) {
        descriptor = Descriptor(fd: fd, home: home, kind: "TCPStream")
        home.driver?.configureStream(fd)
    }

    /// Connects to `address`.
    ///
    /// - Throws: ``MinissError`` with ``MinissError/Code/connectionRefused`` when nothing
    ///   listens there, other I/O errors with their errno; `CancellationError` if cancelled.
    public static func connect(to address: SocketAddress) async throws -> TCPStream {
        let engine = try currentEngine("TCPStream.connect")
        guard let driver = engine.driver else { throw MinissError.runtimeNotRunning("connect") }
        let fd = driver.makeSocket(family: address.family, stream: true)
        guard fd >= 0 else { throw MinissError.io("socket()", errno: -fd) }
        let stream = TCPStream(fd: fd, home: engine)
        let operation = IOOperation(.connect, fd: fd)
        operation.setAddress(address.raw)
        stream.descriptor.track(operation)
        let result = try await engine.perform(operation)
        guard result >= 0 else {
            stream.close()
            throw MinissError.io("connect to \(address)", errno: -result)
        }
        return stream
    }

    /// The remote address, or nil once closed (or if the peer is gone).
    public var peerAddress: SocketAddress? { address(peer: true) }

    /// The local address, or nil once closed.
    public var localAddress: SocketAddress? { address(peer: false) }

    private func address(peer: Bool) -> SocketAddress? {
        guard !descriptor.isClosed, let raw = descriptor.home.driver?.address(of: descriptor.fd, peer: peer) else {
            return nil
        }
        return SocketAddress(raw: raw)
    }

    /// Whether ``close()`` was called.
    public var isClosed: Bool { descriptor.isClosed }

    /// Receives up to `maxBytes` bytes and passes them to `body` without copying; the bytes are
    /// valid only inside `body`. An empty buffer means the peer closed its side.
    public func read<Result>(
        maxBytes: Int = TCPStream.defaultReadSize, _ body: (UnsafeRawBufferPointer) throws -> Result
    ) async throws -> Result {
        let engine = try descriptor.checkHome("read")
        guard maxBytes > 0 else {
            throw MinissError.invalidArgument("read(maxBytes:) needs maxBytes > 0, got \(maxBytes)")
        }
        guard !isReading else { throw MinissError.invalidArgument("another read is already waiting on this TCPStream") }
        isReading = true
        defer { isReading = false }
        let operation = Self.reusable(&reader, kind: .receive, fd: descriptor.fd, capacity: maxBytes)
        operation.length = maxBytes
        descriptor.track(operation)
        let result = try await engine.perform(operation)
        guard result >= 0 else { throw error(result, "read") }
        // SAFETY: the request has completed, so the kernel no longer writes the buffer, and
        // `operation` (which owns it) outlives the call.
        return try withExtendedLifetime(operation) {
            try body(UnsafeRawBufferPointer(start: operation.bytes, count: Int(result)))
        }
    }

    /// Receives up to `maxBytes` bytes. Returns `[]` once the peer has closed its side.
    public func read(maxBytes: Int = TCPStream.defaultReadSize) async throws -> [UInt8] {
        try await read(maxBytes: maxBytes) { Array($0) }
    }

    /// Receives exactly `count` bytes.
    ///
    /// - Throws: ``MinissError/Code/endOfStream`` if the peer closes first (the bytes received
    ///   so far are in the message's count, and lost).
    public func readExactly(_ count: Int) async throws -> [UInt8] {
        guard count >= 0 else { throw MinissError.invalidArgument("readExactly needs count >= 0, got \(count)") }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count)
        while bytes.count < count {
            let before = bytes.count
            try await read(maxBytes: min(count - bytes.count, 1 << 20)) { bytes.append(contentsOf: $0) }
            if bytes.count == before {
                throw MinissError(.endOfStream, "the peer closed the connection after \(before) of \(count) bytes")
            }
        }
        return bytes
    }

    /// Sends all of `bytes` (copied into memory the request owns).
    public func write(_ bytes: [UInt8]) async throws {
        // Each chunk is copied synchronously (`withUnsafeBytes` cannot span an await).
        try await sendChunks(count: bytes.count) { offset, destination in
            bytes.withUnsafeBytes { source in
                destination.copyMemory(
                    from: UnsafeRawBufferPointer(rebasing: source[offset..<offset + destination.count]))
            }
        }
    }

    /// Sends all of `bytes` (any byte sequence; an array is sent without an extra copy).
    public func write(_ bytes: some Sequence<UInt8>) async throws {
        try await write(Array(bytes))
    }

    /// Sends the bytes `count` bytes at a time: `fill(offset, destination)` copies the bytes at
    /// `offset` into the request's buffer, then the request runs until all of them are sent.
    private func sendChunks(count: Int, fill: (Int, UnsafeMutableRawBufferPointer) -> Void) async throws {
        let engine = try descriptor.checkHome("write")
        guard !isWriting else {
            throw MinissError.invalidArgument("another write is already waiting on this TCPStream")
        }
        isWriting = true
        defer { isWriting = false }
        var offset = 0
        while offset < count {
            let chunk = min(count - offset, Self.maxWriteChunk)
            let operation = Self.reusable(&writer, kind: .send, fd: descriptor.fd, capacity: chunk)
            // SAFETY: the buffer holds at least `chunk` bytes and no request uses it now.
            fill(offset, UnsafeMutableRawBufferPointer(start: operation.buffer!.base, count: chunk))
            operation.bufferOffset = 0
            operation.length = chunk
            while operation.length > 0 {
                descriptor.track(operation)
                let result = try await engine.perform(operation)
                guard result > 0 else { throw error(result == 0 ? -EPIPE : result, "write") }
                operation.bufferOffset += Int(result)
                operation.length -= Int(result)
            }
            offset += chunk
        }
    }

    /// Closes the sending side (the peer reads end-of-stream); reading still works.
    public func shutdownWriting() throws {
        let engine = try descriptor.checkHome("shutdown")
        let result = engine.driver?.shutdownWriting(descriptor.fd) ?? -EBADF
        guard result == 0 else { throw MinissError.io("shutdown", errno: -result) }
    }

    /// Closes the connection. A read or write still waiting fails with
    /// ``MinissError/Code/closed``. Idempotent; from another thread, the close runs on the
    /// stream's shard.
    public func close() {
        descriptor.close()
    }

    /// Resets the connection: the peer's next read or write fails with
    /// ``MinissError/Code/connectionReset`` instead of seeing an orderly end of stream.
    public func reset() {
        if descriptor.home.isCurrent && !descriptor.isClosed { descriptor.home.driver?.prepareReset(descriptor.fd) }
        descriptor.close()
    }

    /// Whether a read is waiting for data (for tests).
    var isReadInFlight: Bool { reader?.isInFlight ?? false }

    private func error(_ result: Int32, _ action: String) -> MinissError {
        if result == -ECANCELED {
            return MinissError(
                .closed, "the TCPStream was closed while a \(action) waited on it", systemError: ECANCELED)
        }
        return MinissError.io("\(action) on TCPStream", errno: -result)
    }

    /// The stream's operation of `kind`, with a buffer of at least `capacity` bytes. A fresh
    /// one if the previous request is still in flight (cancelled, its completion not reaped
    /// yet): that request keeps its own buffer until then.
    static func reusable(_ slot: inout IOOperation?, kind: IOOperation.Kind, fd: Int32, capacity: Int) -> IOOperation {
        if let operation = slot, !operation.isInFlight, let buffer = operation.buffer, buffer.capacity >= capacity {
            return operation
        }
        let operation = IOOperation(kind, fd: fd)
        operation.buffer = IOBuffer(capacity: max(capacity, 4096))
        slot = operation
        return operation
    }
}

import CMinissLinux

#if canImport(Glibc)
    import Glibc
#endif

/// A UDP socket, owned by the shard that created it.
///
/// ```swift
/// let socket = try UDPSocket(bindingTo: SocketAddress(host: "127.0.0.1", port: 0))
/// try await socket.send(Array("hello".utf8), to: peer)
/// let (bytes, sender) = try await socket.receive()
/// ```
///
/// Each datagram is copied into memory its request owns, so a cancelled send or receive never
/// leaves the kernel writing into freed memory.
public final class UDPSocket: @unchecked Sendable {
    // SAFETY (@unchecked Sendable): `receiver`/`sender` are touched only on the home shard's
    // thread; each public method starts with `descriptor.checkHome`.
    let descriptor: Descriptor
    private var receiver: IOOperation?
    private var sender: IOOperation?

    /// The bound address (with the port the kernel chose for port 0).
    public let localAddress: SocketAddress

    /// Creates a socket bound to `address`.
    ///
    /// - Throws: ``MinissError/Code/addressInUse`` when taken, other I/O errors with their
    ///   errno, ``MinissError/Code/notOnShard`` off a shard.
    public init(bindingTo address: SocketAddress) throws {
        let engine = try currentEngine("UDPSocket.init")
        guard let driver = engine.driver else { throw MinissError.runtimeNotRunning("bind") }
        let fd = driver.makeSocket(family: address.family, stream: false)
        guard fd >= 0 else { throw MinissError.io("socket()", errno: -fd) }
        let bound = driver.bind(fd, to: address.raw, backlog: -1, reusePort: false)
        guard bound == 0 else {
            driver.closeDescriptor(fd)
            throw MinissError.io("bind to \(address)", errno: -bound)
        }
        localAddress = driver.address(of: fd, peer: false).map(SocketAddress.init(raw:)) ?? address
        descriptor = Descriptor(fd: fd, home: engine, kind: "UDPSocket")
    }

    /// Sends one datagram to `address`.
    public func send(_ bytes: [UInt8], to address: SocketAddress) async throws {
        let engine = try descriptor.checkHome("send")
        let operation = IOOperation(.sendTo, fd: descriptor.fd)
        operation.buffer = IOBuffer(capacity: max(bytes.count, 1))
        bytes.withUnsafeBytes { source in
            // SAFETY: the buffer holds at least `source.count` bytes and is not in use yet.
            if let base = source.baseAddress { operation.buffer!.base.copyMemory(from: base, byteCount: source.count) }
        }
        operation.length = bytes.count
        operation.setAddress(address.raw)
        sender = operation
        descriptor.track(operation)
        let result = try await engine.perform(operation)
        guard result >= 0 else { throw error(result, "send to \(address)") }
    }

    /// Receives one datagram (truncated to `maxBytes`) and its sender.
    public func receive(maxBytes: Int = 65_536) async throws -> (bytes: [UInt8], sender: SocketAddress) {
        let engine = try descriptor.checkHome("receive")
        guard maxBytes > 0 else { throw MinissError.invalidArgument("receive(maxBytes:) needs maxBytes > 0") }
        let operation = TCPStream.reusable(&receiver, kind: .receiveFrom, fd: descriptor.fd, capacity: maxBytes)
        operation.bufferOffset = 0
        operation.length = maxBytes
        descriptor.track(operation)
        let result = try await engine.perform(operation)
        guard result >= 0 else { throw error(result, "receive") }
        let bytes = Array(UnsafeRawBufferPointer(start: operation.bytes, count: Int(result)))
        return (bytes, SocketAddress(raw: operation.allocateAddress().pointee))
    }

    /// Closes the socket; a waiting send or receive fails with ``MinissError/Code/closed``.
    public func close() {
        descriptor.close()
    }

    private func error(_ result: Int32, _ action: String) -> MinissError {
        if result == -ECANCELED {
            return MinissError(
                .closed, "the UDPSocket was closed while a \(action) waited on it", systemError: ECANCELED)
        }
        return MinissError.io("\(action) on UDPSocket", errno: -result)
    }
}

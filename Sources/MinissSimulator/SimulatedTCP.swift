import CMinissLinux
import Miniss

#if canImport(Glibc)
    import Glibc
#endif

/// One end of a simulated TCP connection (or a TCP socket not connected yet).
final class SimulatedEndpoint: SimulatedObject {
    enum State { case fresh, connecting, established }

    var state = State.fresh
    var local: SocketAddress?
    var remote: SocketAddress?
    /// The other end. Strong (a closed end must still answer with a reset); the world breaks
    /// the cycle when the run ends.
    var peer: SimulatedEndpoint?
    /// Bytes arrived and not read yet.
    var inbound = ByteQueue()
    /// The peer closed its sending side: reads return 0 once `inbound` is empty.
    var finReceived = false
    /// Sticky error (ECONNRESET, ETIMEDOUT, ECONNREFUSED): every later operation fails with it.
    var error: Int32 = 0
    var writeShut = false
    var isClosed = false
    var resetOnClose = false
    /// Bytes this end sent that the peer has not read yet (the window limits them).
    var unacknowledged = 0
    /// Arrival time of the last segment this end sent: later ones arrive after it (TCP order).
    var lastArrival: UInt64 = 0
    var readers: [IOOperation] = []
    var writers: [IOOperation] = []
    var connecting: IOOperation?

    /// Bytes one end may have in flight or unread at the peer before its writes wait.
    static let window = 64 * 1024

    var hasInput: Bool { !inbound.isEmpty || finReceived || error != 0 }

    override func takeWaiting() -> [IOOperation] {
        var all = readers + writers
        if let connecting { all.append(connecting) }
        readers.removeAll()
        writers.removeAll()
        connecting = nil
        return all
    }

    override func remove(waiting operation: IOOperation) -> Bool {
        if connecting === operation {
            connecting = nil
            return true
        }
        if let index = readers.firstIndex(where: { $0 === operation }) {
            readers.remove(at: index)
            return true
        }
        if let index = writers.firstIndex(where: { $0 === operation }) {
            writers.remove(at: index)
            return true
        }
        return false
    }
}

/// A simulated listening socket.
final class SimulatedListener: SimulatedObject {
    let port: Int
    let scope: Destination.Scope
    let family: Int32
    let backlog: Int
    let reusePort: Bool
    let local: SocketAddress
    var isClosed = false
    /// Connections established and not accepted yet (their descriptors), oldest first.
    var pending: [Int32] = []
    var acceptors: [IOOperation] = []

    init(shard: Int, port: Int, scope: Destination.Scope, backlog: Int, reusePort: Bool, local: SocketAddress) {
        self.port = port
        self.scope = scope
        self.family = local.family
        self.backlog = backlog
        self.reusePort = reusePort
        self.local = local
        super.init(shard: shard)
    }

    /// Whether a connection to an address of `scope` and `family` reaches this listener: a
    /// wildcard takes both scopes, and `::` (dual-stack, as on Linux) both families.
    func accepts(_ target: Destination.Scope, family targetFamily: Int32) -> Bool {
        (scope == .any || scope == target) && (family == targetFamily || (scope == .any && family == AF_INET6))
    }

    /// Whether binding `other` on the same port would take addresses this listener has.
    func overlaps(_ other: Destination.Scope) -> Bool {
        scope == .any || other == .any || scope == other
    }

    override func takeWaiting() -> [IOOperation] {
        defer { acceptors.removeAll() }
        return acceptors
    }

    override func remove(waiting operation: IOOperation) -> Bool {
        guard let index = acceptors.firstIndex(where: { $0 === operation }) else { return false }
        acceptors.remove(at: index)
        return true
    }
}

/// A FIFO of bytes that consumes from the front without moving the rest each time.
struct ByteQueue {
    private var bytes: [UInt8] = []
    private var head = 0

    var count: Int { bytes.count - head }
    var isEmpty: Bool { count == 0 }

    mutating func append(_ more: [UInt8]) {
        if head > 0 && head == bytes.count {
            bytes.removeAll(keepingCapacity: true)
            head = 0
        }
        bytes.append(contentsOf: more)
    }

    /// Copies the first `count` bytes to `destination` and removes them.
    mutating func take(_ count: Int, into destination: UnsafeMutableRawPointer) {
        bytes.withUnsafeBytes { source in
            // SAFETY: `head + count <= bytes.count` (callers take at most `self.count`), and the
            // destination is an operation's buffer of at least `count` bytes.
            destination.copyMemory(from: source.baseAddress! + head, byteCount: count)
        }
        head += count
        if head > 4096 && head * 2 > bytes.count {
            bytes.removeFirst(head)
            head = 0
        }
    }
}

/// What travels from one end to the other.
enum Segment {
    case data([UInt8])
    case fin
    case reset
}

extension SimulatedWorld {
    // MARK: - Sockets

    func makeSocket(family: Int32, stream: Bool, shard: Int) -> Int32 {
        guard stream else { return -EOPNOTSUPP }  // UDP is not simulated
        let endpoint = SimulatedEndpoint(shard: shard)
        endpoints.append(endpoint)
        return register(endpoint)
    }

    func bind(_ fd: Int32, to address: SocketAddress, backlog: Int32, reusePort: Bool, shard: Int) -> Int32 {
        guard let endpoint = objects[fd] as? SimulatedEndpoint, endpoint.state == .fresh else { return -EINVAL }
        guard backlog >= 0 else { return -EOPNOTSUPP }  // a bound socket that does not listen: UDP
        guard case .host(let host, let scope) = resolve(address, from: shard), host == shard else {
            return -EADDRNOTAVAIL
        }
        var port = address.port
        if port == 0 { port = ephemeralPort(on: shard) }
        let key = ListenerKey(shard: shard, port: port)
        let existing = (listeners[key] ?? []).filter { $0.overlaps(scope) }
        if !existing.isEmpty && !(reusePort && existing.allSatisfy(\.reusePort)) { return -EADDRINUSE }
        let local = (try? SocketAddress(host: String(Self.host(of: address)), port: port)) ?? address
        let listener = SimulatedListener(
            shard: shard, port: port, scope: scope, backlog: max(1, Int(backlog)), reusePort: reusePort, local: local)
        listener.fd = fd
        objects[fd] = listener
        listeners[key, default: []].append(listener)
        return 0
    }

    private func ephemeralPort(on shard: Int) -> Int {
        defer { nextEphemeralPort[shard] = nextEphemeralPort[shard] >= 60_999 ? 40_000 : nextEphemeralPort[shard] + 1 }
        return nextEphemeralPort[shard]
    }

    func address(of fd: Int32, peer: Bool) -> SocketAddress? {
        switch objects[fd] {
        case let endpoint as SimulatedEndpoint: return peer ? endpoint.remote : endpoint.local
        case let listener as SimulatedListener: return peer ? nil : listener.local
        default: return nil
        }
    }

    func shutdownWriting(_ fd: Int32) -> Int32 {
        guard let endpoint = objects[fd] as? SimulatedEndpoint else { return -EBADF }
        guard endpoint.state == .established else { return -ENOTCONN }
        if !endpoint.writeShut && endpoint.error == 0 {
            endpoint.writeShut = true
            transmit(.fin, from: endpoint)
        }
        return 0
    }

    func prepareReset(_ fd: Int32) {
        (objects[fd] as? SimulatedEndpoint)?.resetOnClose = true
    }

    /// close(2) of a connection end: a FIN after what was sent, or a reset when asked for or
    /// when unread bytes are thrown away (as Linux does).
    func close(_ endpoint: SimulatedEndpoint) {
        endpoint.isClosed = true
        guard endpoint.state == .established, endpoint.error == 0 else { return }
        if endpoint.resetOnClose || !endpoint.inbound.isEmpty {
            transmit(.reset, from: endpoint)
        } else if !endpoint.writeShut {
            transmit(.fin, from: endpoint)
        }
    }

    /// close(2) of a listener: connections not accepted yet are reset.
    func close(_ listener: SimulatedListener) {
        listener.isClosed = true
        let key = ListenerKey(shard: listener.shard, port: listener.port)
        listeners[key]?.removeAll { $0 === listener }
        if listeners[key]?.isEmpty == true { listeners[key] = nil }
        for fd in listener.pending {
            prepareReset(fd)
            closeDescriptor(fd)
        }
        listener.pending.removeAll()
    }

    // MARK: - Operations

    /// Starts a socket operation of `shard` (the driver has marked it in flight).
    func startSocketOperation(_ operation: IOOperation, shard: Int) {
        switch (operation.kind, objects[operation.fd]) {
        case (.accept, let listener as SimulatedListener):
            accept(operation, on: listener)
        case (.connect, let endpoint as SimulatedEndpoint):
            connect(operation, from: endpoint)
        case (.receive, let endpoint as SimulatedEndpoint), (.readStream, let endpoint as SimulatedEndpoint):
            receive(operation, on: endpoint)
        case (.send, let endpoint as SimulatedEndpoint):
            send(operation, on: endpoint)
        case (_, nil):
            // Not a descriptor the simulator made (a real fd, or a signalfd): say so.
            complete(operation, on: shard, with: operation.fd < simulatedDescriptorBase ? -EOPNOTSUPP : -EBADF)
        default:
            complete(operation, on: shard, with: -EOPNOTSUPP)
        }
    }

    private func accept(_ operation: IOOperation, on listener: SimulatedListener) {
        guard !listener.isClosed else { return complete(operation, on: listener.shard, with: -EINVAL) }
        listener.acceptors.append(operation)
        if !listener.pending.isEmpty { schedule(on: listener.shard, at: now) { self.serveAcceptors(listener) } }
    }

    /// Hands connections waiting in `listener`'s backlog to its accept requests.
    func serveAcceptors(_ listener: SimulatedListener) {
        while let operation = listener.acceptors.first, !listener.pending.isEmpty {
            let fd = listener.pending.removeFirst()
            record(listener.shard, .connect, 1)
            if operation.isMultishot {
                // Stays armed; the completion may cancel it (a full accept queue), which takes
                // it out of `acceptors` before the loop looks again.
                operation.complete(fd, more: true)
            } else {
                listener.acceptors.removeFirst()
                deliver(operation, fd, shard: listener.shard)
            }
        }
    }

    private func connect(_ operation: IOOperation, from client: SimulatedEndpoint) {
        let shard = client.shard
        guard client.state == .fresh else {
            return complete(operation, on: shard, with: client.state == .connecting ? -EALREADY : -EISCONN)
        }
        let target = SocketAddress(raw: operation.address!.pointee)
        guard case .host(let host, var scope) = resolve(target, from: shard) else {
            return complete(operation, on: shard, with: -ENETUNREACH)
        }
        if scope == .any { scope = .loopback }  // connect(0.0.0.0) means this host, as on Linux
        let localHost = scope == .loopback ? (target.isIPv6 ? "::1" : "127.0.0.1") : "10.0.0.\(shard + 1)"
        client.local = try? SocketAddress(host: localHost, port: ephemeralPort(on: shard))
        client.remote = target
        client.state = .connecting
        client.connecting = operation
        sendSynchronize(from: client, to: host, scope: scope, target: target, attempt: 0)
    }

    /// SYNs sent to a full backlog are dropped, as Linux does; the client sends them again after
    /// 100 ms, 200 ms, 400 ms, … and gives up with `ETIMEDOUT` after this many.
    static let synchronizeAttempts = 6

    private func sendSynchronize(
        from client: SimulatedEndpoint, to host: Int, scope: Destination.Scope, target: SocketAddress, attempt: Int
    ) {
        guard let arrival = transit(from: client.shard, to: host, after: 0, touching: client) else {
            return schedule(on: client.shard, at: now + plan.retransmissionTimeout.nanoseconds) {
                self.abort(client, ETIMEDOUT)
            }
        }
        schedule(on: host, at: arrival) {
            self.connectionRequest(from: client, to: host, scope: scope, target: target, attempt: attempt)
        }
    }

    /// A SYN reaches `host`: a listener takes the connection into its backlog and the SYN-ACK
    /// goes back; or the client is refused (nothing listens); or the SYN is dropped and sent
    /// again later (every backlog is full).
    private func connectionRequest(
        from client: SimulatedEndpoint, to host: Int, scope: Destination.Scope, target: SocketAddress, attempt: Int
    ) {
        let listening = (listeners[ListenerKey(shard: host, port: target.port)] ?? []).filter {
            $0.accepts(scope, family: target.family)
        }
        guard !listening.isEmpty else {
            // Nothing listens: a reset comes back.
            let arrival = transit(from: host, to: client.shard, after: 0, touching: client) ?? now
            schedule(on: client.shard, at: arrival) { self.abort(client, ECONNREFUSED) }
            return
        }
        let candidates = listening.filter { $0.pending.count < $0.backlog }
        guard !candidates.isEmpty else {
            record(host, .connect, -1)
            guard attempt + 1 < Self.synchronizeAttempts else {
                return schedule(on: client.shard, at: now) { self.abort(client, ETIMEDOUT) }
            }
            let retry = now + 100_000_000 << UInt64(attempt)
            schedule(on: client.shard, at: retry) {
                guard client.connecting != nil, !client.isClosed else { return }
                self.sendSynchronize(from: client, to: host, scope: scope, target: target, attempt: attempt + 1)
            }
            return
        }
        let listener = candidates.count == 1 ? candidates[0] : candidates.randomElement(using: &random)!
        let server = SimulatedEndpoint(shard: host)
        endpoints.append(server)
        _ = register(server)
        server.state = .established
        server.local = target
        server.remote = client.local
        server.peer = client
        client.peer = server
        record(host, .connect, 0)
        // The SYN-ACK: the client is connected when it arrives; the server's data follows it.
        guard let synAck = transit(from: host, to: client.shard, after: 0, touching: client, server) else {
            server.error = ETIMEDOUT
            schedule(on: client.shard, at: now + plan.retransmissionTimeout.nanoseconds) {
                self.abort(client, ETIMEDOUT)
            }
            return
        }
        server.lastArrival = synAck
        schedule(on: client.shard, at: synAck) { self.established(client) }
        listener.pending.append(server.fd)
        serveAcceptors(listener)
        if happens(plan.resets) {
            let moment = now + draw(plan.resetWindow)
            schedule(on: host, at: moment) { if self.abort(server, ECONNRESET) { self.disturb(client, server) } }
            schedule(on: client.shard, at: moment) {
                if self.abort(client, ECONNRESET) { self.disturb(client, server) }
            }
        }
    }

    private func established(_ client: SimulatedEndpoint) {
        guard let operation = client.connecting, !client.isClosed else {
            // Closed (or the connect was cancelled) before the handshake ended: reset the server.
            if !client.isClosed { client.state = .established }
            if client.error == 0 { transmit(.reset, from: client) }
            client.error = client.error == 0 ? ECONNRESET : client.error
            return
        }
        client.connecting = nil
        client.state = .established
        deliver(operation, 0, shard: client.shard)
    }

    private func receive(_ operation: IOOperation, on endpoint: SimulatedEndpoint) {
        if endpoint.readers.isEmpty && endpoint.hasInput {
            return complete(operation, on: endpoint.shard, with: take(operation, from: endpoint))
        }
        guard endpoint.state == .established else { return complete(operation, on: endpoint.shard, with: -ENOTCONN) }
        endpoint.readers.append(operation)
    }

    /// Reads what `operation` asks for from `endpoint` (which has input): bytes (perhaps fewer
    /// than available: a short read), 0 at the end of the stream, or the error. As on Linux,
    /// bytes that arrived before a reset are still read first, and a reset after the peer's FIN
    /// still reads as the end of the stream.
    private func take(_ operation: IOOperation, from endpoint: SimulatedEndpoint) -> Int32 {
        if !endpoint.inbound.isEmpty {
            let count = shorten(min(operation.length, endpoint.inbound.count), chance: plan.shortReads)
            endpoint.inbound.take(count, into: operation.bytes)
            acknowledge(count, to: endpoint)
            return Int32(count)
        }
        return endpoint.finReceived || endpoint.error == 0 ? 0 : -endpoint.error
    }

    /// The window opens again at the sender once the ACK for `count` read bytes arrives.
    private func acknowledge(_ count: Int, to reader: SimulatedEndpoint) {
        guard let sender = reader.peer else { return }
        let arrival = transit(from: reader.shard, to: sender.shard, after: 0, touching: reader, sender) ?? now
        schedule(on: sender.shard, at: arrival) {
            sender.unacknowledged -= count
            self.serveWriters(sender)
        }
    }

    private func serveReaders(_ endpoint: SimulatedEndpoint) {
        while let operation = endpoint.readers.first, endpoint.hasInput {
            endpoint.readers.removeFirst()
            deliver(operation, take(operation, from: endpoint), shard: endpoint.shard)
        }
    }

    private func send(_ operation: IOOperation, on endpoint: SimulatedEndpoint) {
        if endpoint.error != 0 { return complete(operation, on: endpoint.shard, with: -endpoint.error) }
        if endpoint.writeShut { return complete(operation, on: endpoint.shard, with: -EPIPE) }
        guard endpoint.state == .established else { return complete(operation, on: endpoint.shard, with: -ENOTCONN) }
        let space = SimulatedEndpoint.window - endpoint.unacknowledged
        if space <= 0 || !endpoint.writers.isEmpty {
            endpoint.writers.append(operation)
            return
        }
        complete(operation, on: endpoint.shard, with: transmitData(of: operation, from: endpoint, space: space))
    }

    /// Sends what fits of `operation`'s bytes (perhaps fewer: a short write); returns the count.
    private func transmitData(of operation: IOOperation, from endpoint: SimulatedEndpoint, space: Int) -> Int32 {
        let count = shorten(min(operation.length, space), chance: plan.shortWrites)
        let bytes = Array(UnsafeRawBufferPointer(start: operation.bytes, count: count))
        endpoint.unacknowledged += count
        transmit(.data(bytes), from: endpoint)
        return Int32(count)
    }

    private func serveWriters(_ endpoint: SimulatedEndpoint) {
        while let operation = endpoint.writers.first {
            if endpoint.error != 0 {
                endpoint.writers.removeFirst()
                deliver(operation, -endpoint.error, shard: endpoint.shard)
                continue
            }
            let space = SimulatedEndpoint.window - endpoint.unacknowledged
            guard space > 0 else { return }
            endpoint.writers.removeFirst()
            deliver(operation, transmitData(of: operation, from: endpoint, space: space), shard: endpoint.shard)
        }
    }

    // MARK: - The wire

    /// When a segment sent now from `source` to `destination` arrives: after a latency, after
    /// `previous` (order within a connection), and after any partition between them heals.
    /// Nil when a partition outlasts the retransmission timeout. A partition that holds the
    /// segment marks the connection of `ends` as disturbed.
    func transit(
        from source: Int, to destination: Int, after previous: UInt64, touching ends: SimulatedEndpoint...
    ) -> UInt64? {
        var departure = now
        if let heals = partitionHeals(between: source, and: destination, at: now) {
            for end in ends { disturb(end) }
            guard heals - now <= plan.retransmissionTimeout.nanoseconds else { return nil }
            departure = heals
        }
        return max(departure + draw(plan.latency), previous + 1)
    }

    /// Notes that a fault touched the connection of these ends.
    func disturb(_ ends: SimulatedEndpoint...) {
        for end in ends {
            if let local = end.local { disturbed.insert("\(end.shard)/\(local)") }
        }
    }

    /// Sends `segment` from `endpoint` to its peer.
    func transmit(_ segment: Segment, from endpoint: SimulatedEndpoint) {
        guard let peer = endpoint.peer else { return }
        guard
            let arrival = transit(
                from: endpoint.shard, to: peer.shard, after: endpoint.lastArrival, touching: endpoint, peer)
        else {
            // The partition outlasts the retransmissions: both ends give up.
            let moment = now + plan.retransmissionTimeout.nanoseconds
            schedule(on: endpoint.shard, at: moment) { self.abort(endpoint, ETIMEDOUT) }
            schedule(on: peer.shard, at: moment) { self.abort(peer, ETIMEDOUT) }
            return
        }
        endpoint.lastArrival = arrival
        schedule(on: peer.shard, at: arrival) { self.arrive(segment, at: peer, from: endpoint) }
    }

    private func arrive(_ segment: Segment, at endpoint: SimulatedEndpoint, from sender: SimulatedEndpoint) {
        if endpoint.isClosed {
            // Data for a closed socket is answered with a reset.
            if case .data(let bytes) = segment {
                record(endpoint.shard, .reset, bytes.count)
                if sender.error == 0 { transmit(.reset, from: endpoint) }
            }
            return
        }
        guard endpoint.error == 0 else { return }
        switch segment {
        case .data(let bytes):
            record(endpoint.shard, .segment, bytes.count)
            endpoint.inbound.append(bytes)
        case .fin:
            record(endpoint.shard, .segment, 0)
            endpoint.finReceived = true
        case .reset:
            abort(endpoint, ECONNRESET)
            return
        }
        serveReaders(endpoint)
    }

    /// The connection fails at `endpoint` with `code`: what waits on it fails, later writes
    /// fail with the same error, and reads fail once the bytes that arrived before are read.
    /// Returns false if the end was already closed or failed.
    @discardableResult
    func abort(_ endpoint: SimulatedEndpoint, _ code: Int32) -> Bool {
        guard !endpoint.isClosed, endpoint.error == 0 else { return false }
        record(endpoint.shard, code == ETIMEDOUT ? .timeout : .reset, Int(code))
        endpoint.error = code
        for operation in endpoint.takeWaiting() { deliver(operation, -code, shard: endpoint.shard) }
        return true
    }
}

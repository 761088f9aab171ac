import Miniss

/// The HTTP/1.1 echo server behind the `http-echo` executable, one instance per shard.
///
/// `GET` and `HEAD` answer a short fixed body; `POST` and `PUT` echo the request body; other
/// methods get 405. Keep-alive, pipelining (the responses to one batch of pipelined requests go
/// out in one write), `Content-Length` and chunked bodies, `Expect: 100-continue` and HTTP/1.0
/// are supported. Bad input never crashes it: a malformed request gets 400 and the connection
/// closes; headers over the limit 431; a body over the limit 413; idle keep-alive connections
/// and clients that stall mid-request (or stop reading their responses) are closed after their
/// timeouts.
///
/// ```swift
/// let servers = try await Sharded.start(on: runtime) { _ in HTTPEchoServer() }
/// let address = try await servers.invoke(on: 0) { try $0.listen(on: SocketAddress(host: "0.0.0.0", port: 8080)) }
/// ```
public final class HTTPEchoServer: @unchecked Sendable {
    // SAFETY (@unchecked Sendable): an instance lives on one shard (it is a `Sharded` service or
    // is created in a task on its shard); its state and the tasks it spawns touch it only on
    // that shard's thread. It is Sendable only so those tasks may capture it.
    /// Limits and timeouts.
    public struct Configuration: Sendable {
        /// Request size limits.
        public var limits: HTTPLimits
        /// How long a keep-alive connection may wait for its next request.
        public var idleTimeout: Duration
        /// How long a started request may take to arrive completely, and a response to be taken
        /// by the client (slow clients).
        public var requestTimeout: Duration
        /// Open connections per shard; more get 503 and are closed.
        public var maxConnections: Int
        /// The listen backlog.
        public var backlog: Int

        /// Creates a configuration.
        public init(
            limits: HTTPLimits = HTTPLimits(), idleTimeout: Duration = .seconds(30),
            requestTimeout: Duration = .seconds(10), maxConnections: Int = 10_000, backlog: Int = 1024
        ) {
            self.limits = limits
            self.idleTimeout = idleTimeout
            self.requestTimeout = requestTimeout
            self.maxConnections = maxConnections
            self.backlog = backlog
        }
    }

    /// The body `GET` answers.
    public static let greeting: [UInt8] = Array("Hello, world!".utf8)

    let configuration: Configuration
    private var listener: TCPListener?
    private var connections: [Int: Connection] = [:]
    private var nextConnectionID = 0
    private var acceptLoop: JoinHandle<Void>?
    private var sweeper: JoinHandle<Void>?
    /// Sweeper ticks since start; connections record the tick of their last activity.
    private var tick = 0
    private let tickDuration: Duration
    private var isDraining = false

    /// Requests answered by this shard's instance.
    public private(set) var requestsServed = 0

    /// One open connection.
    final class Connection: @unchecked Sendable {
        // SAFETY (@unchecked Sendable): touched only on the server's shard, like the server.
        let stream: TCPStream
        /// Waiting in a read (not in the middle of answering).
        var isWaiting = false
        /// Waiting for the client to take a response (a client that never reads).
        var isWriting = false
        /// Some bytes of a request have arrived, not all.
        var hasPartialRequest = false
        /// The sweeper tick at which the current wait (read or write) began.
        var lastActiveTick = 0

        init(stream: TCPStream) { self.stream = stream }
    }

    /// Creates a server; it serves nothing until ``listen(on:reusePort:)`` and ``start()``.
    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
        let shortest = min(configuration.idleTimeout, configuration.requestTimeout)
        self.tickDuration = max(shortest / 4, .milliseconds(5))
    }

    /// Binds this shard's listener (`SO_REUSEPORT` lets every shard bind the same port) and
    /// returns the bound address (with the port the kernel chose for port 0).
    public func listen(on address: SocketAddress, reusePort: Bool) throws -> SocketAddress {
        let listener = try TCPListener(bindingTo: address, backlog: configuration.backlog, reusePort: reusePort)
        self.listener = listener
        return listener.localAddress
    }

    /// Starts accepting connections and the timeout sweeper on this shard.
    public func start() throws {
        guard let listener else { throw MinissError(.invalidArgument, "call listen(on:reusePort:) before start()") }
        acceptLoop = spawn { [self] in
            while true {
                do {
                    accepted(try await listener.accept())
                } catch let error as MinissError where error.code == .closed {
                    return
                } catch is CancellationError {
                    return
                } catch {
                    // Out of file descriptors or another accept error: the connections already
                    // open go on; try again a little later instead of giving up on the port.
                    try await sleep(for: .milliseconds(10))
                }
            }
        }
        sweeper = spawn { [self] in
            while true {
                try await sleep(for: tickDuration)
                sweep()
            }
        }
    }

    /// Open connections on this shard.
    public var connectionCount: Int { connections.count }

    /// The open connections, oldest first: an order that does not depend on the process's
    /// hash seed, so a simulated run replays the same closes in another process.
    private var openConnections: [Connection] {
        connections.keys.sorted().map { connections[$0]! }
    }

    /// Stops accepting, closes idle connections now; the others close after the response they
    /// are working on. Waits for nothing: poll ``connectionCount``.
    public func beginShutdown() {
        isDraining = true
        listener?.close()
        acceptLoop?.cancel()
        for connection in openConnections where connection.isWaiting && !connection.hasPartialRequest {
            connection.stream.close()
        }
    }

    /// Closes every connection and stops the sweeper.
    public func stop() {
        beginShutdown()
        sweeper?.cancel()
        for connection in openConnections { connection.stream.close() }
    }

    private func accepted(_ stream: TCPStream) {
        if connections.count >= configuration.maxConnections || isDraining {
            spawn {
                try? await stream.write(Self.serviceUnavailable)
                stream.close()
            }
            return
        }
        let id = nextConnectionID
        nextConnectionID += 1
        let connection = Connection(stream: stream)
        connection.lastActiveTick = tick
        connections[id] = connection
        spawn { [self] in
            await serve(connection)
            connections[id] = nil
            connection.stream.close()
        }
    }

    private static let serviceUnavailable = Array(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".utf8)
    private static let continueResponse = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)

    private func sweep() {
        tick += 1
        let idleTicks = ticks(configuration.idleTimeout)
        let requestTicks = ticks(configuration.requestTimeout)
        for connection in openConnections where connection.isWaiting || connection.isWriting {
            let limit = connection.isWriting || connection.hasPartialRequest ? requestTicks : idleTicks
            if tick - connection.lastActiveTick >= limit { connection.stream.close() }
        }
    }

    private func ticks(_ duration: Duration) -> Int {
        max(1, Int((duration / tickDuration).rounded(.up)))
    }

    /// Reads, answers every complete request in one write, repeats; returns when the connection
    /// is done (closed by either side, an error, a timeout).
    private func serve(_ connection: Connection) async {
        let stream = connection.stream
        // The echo server reads no header beyond what the parser interprets itself.
        var parser = HTTPRequestParser(limits: configuration.limits, keepsHeaders: false)
        var output: [UInt8] = []
        output.reserveCapacity(4096)
        var continueSent = false
        do {
            while true {
                var closeAfterWrite = false
                do {
                    while let request = try parser.next() {
                        respond(to: request, into: &output)
                        requestsServed += 1
                        continueSent = false
                        if !request.keepAlive {
                            closeAfterWrite = true
                            break
                        }
                    }
                    if !closeAfterWrite && !continueSent && parser.expectsContinue {
                        output.append(contentsOf: Self.continueResponse)
                        continueSent = true
                    }
                } catch {
                    HTTPResponseWriter.appendError(error, to: &output)
                    closeAfterWrite = true
                }
                if !output.isEmpty {
                    connection.lastActiveTick = tick
                    connection.isWriting = true
                    try await stream.write(output)
                    connection.isWriting = false
                    output.removeAll(keepingCapacity: true)
                }
                if closeAfterWrite || (isDraining && !parser.hasPartialRequest) { return }
                connection.hasPartialRequest = parser.hasPartialRequest
                connection.lastActiveTick = tick
                connection.isWaiting = true
                let count = try await stream.read { bytes in
                    parser.append(bytes)
                    return bytes.count
                }
                connection.isWaiting = false
                if count == 0 { return }
            }
        } catch {
            // Reset, closed by a timeout or shutdown, cancelled: the connection is over.
        }
    }

    private func respond(to request: HTTPRequest, into output: inout [UInt8]) {
        switch request.method {
        case "GET":
            // The answer depends only on the connection semantics: copy a ready-made one.
            output.append(contentsOf: Self.greetingResponses[Self.cannedIndex(request)])
        case "HEAD":
            HTTPResponseWriter.append(
                status: 200, reason: "OK", headers: Self.textHeaders, body: Self.greeting,
                keepAlive: request.keepAlive, version: request.version, includeBody: false, to: &output)
        case "POST", "PUT":
            HTTPResponseWriter.append(
                status: 200, reason: "OK", headers: Self.binaryHeaders, body: request.body,
                keepAlive: request.keepAlive, version: request.version, to: &output)
        default:
            HTTPResponseWriter.append(
                status: 405, reason: "Method Not Allowed", headers: Self.allowHeaders,
                body: Array("method \(request.method) is not supported\n".utf8),
                keepAlive: request.keepAlive, version: request.version, to: &output)
        }
    }

    /// The `GET` response for each (version, keep-alive) pair, written once by the same writer.
    private static let greetingResponses: [[UInt8]] = [HTTPVersion.http1_0, .http1_1].flatMap { version in
        [false, true].map { keepAlive in
            var bytes: [UInt8] = []
            HTTPResponseWriter.append(
                status: 200, reason: "OK", headers: textHeaders, body: greeting, keepAlive: keepAlive,
                version: version, to: &bytes)
            return bytes
        }
    }

    private static func cannedIndex(_ request: HTTPRequest) -> Int {
        (request.version == .http1_1 ? 2 : 0) + (request.keepAlive ? 1 : 0)
    }

    private static let textHeaders = [HTTPHeader(name: "Content-Type", value: "text/plain")]
    private static let binaryHeaders = [HTTPHeader(name: "Content-Type", value: "application/octet-stream")]
    private static let allowHeaders = [
        HTTPHeader(name: "Allow", value: "GET, HEAD, POST, PUT"),
        HTTPHeader(name: "Content-Type", value: "text/plain"),
    ]
}

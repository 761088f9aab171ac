// nio-http-echo: the SwiftNIO peer of swift-miniss's `http-echo`, doing the same work so the two
// can be compared request for request (`make bench-http`).
//
// GET / HEAD  → 200, `Content-Type: text/plain`, body `Hello, world!` (HEAD: headers only)
// POST / PUT  → 200, `Content-Type: application/octet-stream`, the request body echoed back
// otherwise   → 405 with `Allow: GET, HEAD, POST, PUT`
//
// Keep-alive, HTTP/1.0 and pipelining are NIO's: `configureHTTPServerPipeline` with pipelining
// assistance hands this handler one request at a time, and the handler only mirrors the
// request's keep-alive choice and closes after the response when it was "close".
import ArgumentParser
import NIOCore
import NIOHTTP1
import NIOPosix

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Answers one request at a time; lives on its channel's event loop, like every NIO handler.
private final class EchoHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private enum State {
        /// Between requests.
        case idle
        /// A GET or HEAD: the answer is fixed, the request body (if any) is ignored.
        case hello(HTTPRequestHead)
        /// A POST or PUT: the body gathered so far (`nil` while none arrived).
        case echo(HTTPRequestHead, body: ByteBuffer?)
        /// Any other method: answered 405, its body ignored.
        case notAllowed(HTTPRequestHead)
    }

    private var state = State.idle
    /// The fixed answer, built once per connection (not shared between event loops, whose threads
    /// would contend on its reference count); each response shares its storage.
    private let helloHeaders: HTTPHeaders = ["Content-Type": "text/plain", "Content-Length": "13"]
    private let helloBody: ByteBuffer

    init(allocator: ByteBufferAllocator) {
        self.helloBody = allocator.buffer(string: "Hello, world!")
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .head(let head):
            switch head.method {
            case .GET, .HEAD: self.state = .hello(head)
            case .POST, .PUT: self.state = .echo(head, body: nil)
            default: self.state = .notAllowed(head)
            }

        case .body(var part):
            guard case .echo(let head, let body) = self.state else { return }
            if var body {
                // Several parts (a large or chunked body): gather them. Drop the state's copy
                // first so the buffer is uniquely referenced and grows in place.
                self.state = .idle
                body.writeBuffer(&part)
                self.state = .echo(head, body: body)
            } else {
                // The common case, one part: keep NIO's slice, no copy.
                self.state = .echo(head, body: part)
            }

        case .end:
            let state = self.state
            self.state = .idle
            switch state {
            case .idle:
                preconditionFailure("request end without a head")
            case .hello(let head):
                self.respond(
                    context: context, to: head, status: .ok, headers: self.helloHeaders,
                    body: head.method == .HEAD ? nil : self.helloBody)
            case .echo(let head, let body):
                let body = body ?? context.channel.allocator.buffer(capacity: 0)
                let headers: HTTPHeaders = [
                    "Content-Type": "application/octet-stream", "Content-Length": String(body.readableBytes),
                ]
                self.respond(context: context, to: head, status: .ok, headers: headers, body: body)
            case .notAllowed(let head):
                let headers: HTTPHeaders = ["Allow": "GET, HEAD, POST, PUT", "Content-Length": "0"]
                self.respond(context: context, to: head, status: .methodNotAllowed, headers: headers, body: nil)
            }
        }
    }

    /// Writes a whole response; the flush comes from `channelReadComplete`, once per read batch,
    /// so pipelined answers leave together.
    private func respond(
        context: ChannelHandlerContext, to request: HTTPRequestHead, status: HTTPResponseStatus,
        headers: HTTPHeaders, body: ByteBuffer?
    ) {
        var headers = headers
        let keepAlive = request.isKeepAlive
        // Mirror the request's choice where it differs from its version's default.
        switch (keepAlive, request.version.major, request.version.minor) {
        case (true, 1, 0): headers.add(name: "Connection", value: "keep-alive")
        case (false, 1, 1...): headers.add(name: "Connection", value: "close")
        default: break
        }

        context.write(
            Self.wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status, headers: headers))),
            promise: nil)
        if let body { context.write(Self.wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
        if keepAlive {
            context.write(Self.wrapOutboundOut(.end(nil)), promise: nil)
        } else {
            let loopBoundContext = context.loopBound
            context.writeAndFlush(Self.wrapOutboundOut(.end(nil))).whenComplete { _ in
                loopBoundContext.value.close(promise: nil)
            }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A malformed request: NIO's error handler has already answered 400 with
        // `Connection: close`; the connection cannot be resynchronised, so end it.
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // The client half-closed: with nothing in flight there is nothing left to answer.
        if case .inputClosed = event as? ChannelEvent, case .idle = self.state {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}

struct NIOHTTPEcho: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nio-http-echo",
        abstract: "SwiftNIO HTTP/1.1 echo server: the peer of swift-miniss's http-echo in `make bench-http`.")

    @Option(help: "Address to bind.")
    var host = "127.0.0.1"

    @Option(help: "TCP port to bind (0 picks a free one).")
    var port = 8080

    @Option(help: "Event loop threads.")
    var threads = 1

    func validate() throws {
        guard self.threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        guard (0...65535).contains(self.port) else { throw ValidationError("--port must be in 0...65535") }
    }

    func run() throws {
        // Stopping is the whole shutdown: nothing is buffered that must outlive the process.
        signal(SIGINT) { _ in _exit(0) }
        signal(SIGTERM) { _ in _exit(0) }

        let group = MultiThreadedEventLoopGroup(numberOfThreads: self.threads)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 4096)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    try pipeline.configureHTTPServerPipeline(withPipeliningAssistance: true, withErrorHandling: true)
                    try pipeline.addHandler(EchoHandler(allocator: channel.allocator))
                }
            }

        let channel = try bootstrap.bind(host: self.host, port: self.port).wait()
        let boundPort = channel.localAddress?.port ?? self.port
        print("nio-http-echo listening on \(self.host):\(boundPort) (threads: \(self.threads))")
        fflush(nil)  // all streams: stdout may be a pipe that a script is waiting on
        try channel.closeFuture.wait()
    }
}

NIOHTTPEcho.main()

import Miniss
import MinissHTTP
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The echo server on real loopback sockets, through both drivers: what a client sends, what it
/// gets back, and when the server closes. Outcomes only, never timings.
@Suite("HTTP echo server")
struct EchoServerTests {
    static let backends: [IOBackend] = [.uring, .epoll]

    /// Runs `body` against a fresh one-shard server on 127.0.0.1:<free port>.
    static func withServer<T: Sendable>(
        _ backend: IOBackend, configuration: HTTPEchoServer.Configuration = .init(),
        _ body: @escaping @Sendable (SocketAddress) async throws -> T
    ) throws -> T {
        let runtime = try Runtime(shards: 1, configuration: .init(backend: backend, pinThreads: false, idleSpin: .zero))
        defer { runtime.shutdown() }
        return try runtime.run {
            let server = HTTPEchoServer(configuration: configuration)
            let address = try server.listen(on: SocketAddress(host: "127.0.0.1", port: 0), reusePort: false)
            try server.start()
            defer { server.stop() }
            return try await body(address)
        }
    }

    /// Sends `request`, then reads until the server closes or `until` says the reply is complete.
    static func exchange(
        _ address: SocketAddress, _ request: String, until complete: (String) -> Bool = { _ in false }
    ) async throws -> (reply: String, closed: Bool) {
        let stream = try await TCPStream.connect(to: address)
        defer { stream.close() }
        try await stream.write(Array(request.utf8))
        var reply: [UInt8] = []
        while true {
            let bytes = try await stream.read()
            if bytes.isEmpty { return (String(decoding: reply, as: UTF8.self), true) }
            reply += bytes
            let text = String(decoding: reply, as: UTF8.self)
            if complete(text) { return (text, false) }
        }
    }

    /// How many times `needle` occurs in `text`.
    static func count(_ needle: String, in text: String) -> Int {
        let haystack = Array(text.utf8)
        let pattern = Array(needle.utf8)
        guard haystack.count >= pattern.count else { return 0 }
        return (0...(haystack.count - pattern.count)).filter {
            haystack[$0..<$0 + pattern.count].elementsEqual(pattern)
        }
        .count
    }

    @Test(arguments: backends)
    func getAnswersTheGreeting(backend: IOBackend) throws {
        let reply = try Self.withServer(backend) { address in
            try await Self.exchange(address, "GET / HTTP/1.1\r\nHost: x\r\n\r\n") { $0.hasSuffix("Hello, world!") }
        }
        #expect(reply.reply.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(reply.reply.contains("Content-Length: 13\r\n"))
        #expect(!reply.closed, "keep-alive is the HTTP/1.1 default")
    }

    @Test(arguments: backends)
    func pipelinedRequestsAreAnsweredInOrder(backend: IOBackend) throws {
        let reply = try Self.withServer(backend) { address in
            let batch =
                "GET /1 HTTP/1.1\r\n\r\n" + "POST /2 HTTP/1.1\r\nContent-Length: 5\r\n\r\nfirst"
                + "PUT /3 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nsec\r\n3\r\nond\r\n0\r\n\r\n"
                + "DELETE /4 HTTP/1.1\r\nConnection: close\r\n\r\n"
            return try await Self.exchange(address, batch)
        }
        #expect(Self.count("HTTP/1.1 ", in: reply.reply) == 4)
        let hello = reply.reply.firstRange(of: "Hello, world!")
        let first = reply.reply.firstRange(of: "first")
        let second = reply.reply.firstRange(of: "second")
        let notAllowed = reply.reply.firstRange(of: "405 Method Not Allowed")
        #expect(hello != nil && first != nil && second != nil && notAllowed != nil)
        if let hello, let first, let second, let notAllowed {
            #expect(hello.lowerBound < first.lowerBound && first.lowerBound < second.lowerBound)
            #expect(second.lowerBound < notAllowed.lowerBound)
        }
        #expect(reply.closed, "Connection: close ends the connection after its response")
    }

    @Test(arguments: backends)
    func malformedRequestGets400AndClose(backend: IOBackend) throws {
        let reply = try Self.withServer(backend) { address in
            try await Self.exchange(address, "GET / HTTP/1.1\r\nBad Header\r\n\r\n")
        }
        #expect(reply.reply.hasPrefix("HTTP/1.1 400 "))
        #expect(reply.closed)
    }

    @Test(arguments: backends)
    func limitsAnswer431And413(backend: IOBackend) throws {
        let configuration = HTTPEchoServer.Configuration(limits: HTTPLimits(maxHeaderBytes: 1024, maxBodyBytes: 100))
        let (headers, body, chunked) = try Self.withServer(backend, configuration: configuration) { address in
            let flood = "GET / HTTP/1.1\r\nX: " + String(repeating: "a", count: 5000)
            let headers = try await Self.exchange(address, flood)
            let body = try await Self.exchange(address, "POST / HTTP/1.1\r\nContent-Length: 101\r\n\r\n")
            let chunk = String(repeating: "b", count: 120)
            let chunked = try await Self.exchange(
                address, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n78\r\n\(chunk)\r\n0\r\n\r\n")
            return (headers, body, chunked)
        }
        #expect(headers.reply.hasPrefix("HTTP/1.1 431 ") && headers.closed)
        #expect(body.reply.hasPrefix("HTTP/1.1 413 ") && body.closed)
        #expect(chunked.reply.hasPrefix("HTTP/1.1 413 ") && chunked.closed)
    }

    @Test(arguments: backends)
    func http10ClosesUnlessKeepAlive(backend: IOBackend) throws {
        let (plain, keepAlive) = try Self.withServer(backend) { address in
            let plain = try await Self.exchange(address, "GET / HTTP/1.0\r\n\r\n")
            let keepAlive = try await Self.exchange(address, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n") {
                $0.hasSuffix("Hello, world!")
            }
            return (plain, keepAlive)
        }
        #expect(plain.reply.hasSuffix("Hello, world!") && plain.closed)
        #expect(keepAlive.reply.contains("Connection: keep-alive") && !keepAlive.closed)
    }

    @Test(arguments: backends)
    func expectContinueIsAnswered(backend: IOBackend) throws {
        let reply = try Self.withServer(backend) { address -> String in
            let stream = try await TCPStream.connect(to: address)
            defer { stream.close() }
            try await stream.write(Array("POST / HTTP/1.1\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n".utf8))
            let interim = String(decoding: try await stream.read(), as: UTF8.self)
            guard interim == "HTTP/1.1 100 Continue\r\n\r\n" else { return "interim: " + interim }
            try await stream.write(Array("ping".utf8))
            var reply = ""
            while !reply.hasSuffix("ping") { reply += String(decoding: try await stream.read(), as: UTF8.self) }
            return reply
        }
        #expect(reply.hasPrefix("HTTP/1.1 200 OK") && reply.hasSuffix("ping"))
    }

    @Test(arguments: backends)
    func silentAndSlowClientsTimeOut(backend: IOBackend) throws {
        let configuration = HTTPEchoServer.Configuration(
            idleTimeout: .milliseconds(30), requestTimeout: .milliseconds(30))
        let (idle, slow) = try Self.withServer(backend, configuration: configuration) { address in
            let idle = try await Self.exchange(address, "")
            let slow = try await Self.exchange(address, "GET / HTTP/1.1\r\nHost:")
            return (idle, slow)
        }
        #expect(idle.closed && idle.reply.isEmpty, "an idle connection is closed by the server")
        #expect(slow.closed && slow.reply.isEmpty, "a request that never completes is closed by the server")
    }

    @Test(arguments: backends)
    func aClientThatNeverReadsIsClosed(backend: IOBackend) throws {
        let configuration = HTTPEchoServer.Configuration(
            idleTimeout: .seconds(60), requestTimeout: .milliseconds(30))
        let ended = try Self.withServer(backend, configuration: configuration) { address -> Bool in
            let stream = try await TCPStream.connect(to: address)
            defer { stream.close() }
            // 32 MiB of pipelined echo requests, and no reads until the server gives up on us:
            // its responses fill both socket buffers and its write waits until the timeout.
            let body = [UInt8](repeating: 0x61, count: 1 << 20)
            let request = Array("POST / HTTP/1.1\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body
            let writer = spawn {
                for _ in 0..<32 { try await stream.write(request) }
            }
            _ = try? await writer.value  // ends when all is sent, or when the server closes
            while true {
                do {
                    if try await stream.read(maxBytes: 1 << 20).isEmpty { return true }
                } catch {
                    return true  // reset: the server closed with unread data
                }
            }
        }
        #expect(ended, "the server must close a connection whose client never takes its responses")
    }

    @Test(arguments: backends)
    func gracefulShutdownStopsAcceptingAndClosesIdleConnections(backend: IOBackend) throws {
        let runtime = try Runtime(shards: 1, configuration: .init(backend: backend, pinThreads: false, idleSpin: .zero))
        defer { runtime.shutdown() }
        let (idleClosed, refused, remaining) = try runtime.run { () -> (Bool, Bool, Int) in
            let server = HTTPEchoServer()
            let address = try server.listen(on: SocketAddress(host: "127.0.0.1", port: 0), reusePort: false)
            try server.start()
            let idle = try await TCPStream.connect(to: address)
            defer { idle.close() }
            try await idle.write(Array("GET / HTTP/1.1\r\n\r\n".utf8))
            _ = try await idle.read()
            server.beginShutdown()
            let idleClosed = try await idle.read().isEmpty
            var refused = false
            do { _ = try await TCPStream.connect(to: address) } catch let error as MinissError {
                refused = error.code == .connectionRefused
            }
            while server.connectionCount > 0 { await Shard.yield() }
            server.stop()
            return (idleClosed, refused, server.connectionCount)
        }
        #expect(idleClosed && refused && remaining == 0)
    }
}

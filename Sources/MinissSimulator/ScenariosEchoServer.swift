import Miniss
import MinissHTTP

extension SimulationScenario {
    /// `echo-server`: the production ``HTTPEchoServer`` on shard 0, clients on shard 1, over
    /// the simulated network with a swarm of faults.
    package static let echoServer = SimulationScenario(
        name: "echo-server",
        summary:
            "HTTPEchoServer on shard 0, 1-3 clients on shard 1 sending GET / POST / chunked requests, pipelined "
            + "or not, split at random, under swarm network faults; every answer must match its request, "
            + "only injected faults may break a connection, shutdown must close every connection",
        shards: 2, faults: .swarm
    ) { { try await EchoUnderFaults.run(server: .production) } }

    /// `buggy-echo-whole-reads`: the same clients against a naive server that takes each read
    /// for one whole request.
    package static let buggyEchoWholeReads = SimulationScenario(
        name: "buggy-echo-whole-reads",
        summary:
            "echo-server against a planted bug: a naive server that takes each read for exactly one request "
            + "(split, pipelined or short-read requests break it)",
        shards: 2, isDeliberatelyBuggy: true, faults: .swarm
    ) { { try await EchoUnderFaults.run(server: .naiveWholeReads) } }
}

/// The echo server under network faults.
///
/// Shard 0 runs the server (a listener on `10.0.0.1:8080`); shard 1 runs one to three client
/// connections at once. Each connection sends one to five requests — `GET /` (answered with
/// the greeting), `POST` with a `Content-Length` body of 0–3,000 random bytes, or a chunked
/// `POST` — either one at a time or all pipelined, with the bytes split into random writes and
/// random pauses between them. The simulated network adds the seed's fault mix (latencies,
/// short reads and writes, resets, partitions).
///
/// Invariants, and the bugs they catch:
/// - every response is `200` and its body is exactly what the request asked for, in request
///   order — a parser that loses or merges bytes across reads, a pipelined batch answered out of
///   order or twice, a body cut short;
/// - a connection may fail only with a reset or a timeout, and only if a fault touched that
///   connection (``Simulation/wasDisturbed(connectionAt:)``) — a server that closes a
///   keep-alive connection early (the client reads the end of the stream), resets it, or
///   refuses it fails; with latencies and short reads or writes alone, every request is
///   answered;
/// - the server never answers more requests than were sent, nor fewer than the clients got;
/// - after the clients are done, a graceful shutdown closes every connection — a leaked
///   connection task, a close that never completes.
enum EchoUnderFaults {
    static let serverShard = 0
    static let clientShard = 1
    static let port = 8080

    enum Server { case production, naiveWholeReads }

    /// One request and the body its response must carry.
    struct Exchange: Sendable {
        var bytes: [UInt8]
        var expectedBody: [UInt8]
    }

    /// Totals, kept on the client shard.
    final class Tally: @unchecked Sendable {
        // SAFETY (@unchecked Sendable): touched only by tasks on the client shard, and the
        // scenario runs only under the simulator, whose shards all share its one thread.
        var sent = 0
        var answered = 0
    }

    static func run(server kind: Server) async throws {
        let address = Simulation.address(ofShard: serverShard, port: port)
        let configuration = HTTPEchoServer.Configuration(
            idleTimeout: .seconds(2), requestTimeout: .seconds(2), maxConnections: 16, backlog: 16)
        let server = HTTPEchoServer(configuration: configuration)
        var naive: NaiveServer?
        switch kind {
        case .production:
            _ = try server.listen(on: address, reusePort: false)
            try server.start()
        case .naiveWholeReads:
            naive = try NaiveServer(address: address)
        }

        let tally = Tally()
        try await submit(to: clientShard) {
            let connections = Simulation.random(in: 1..<4)
            let clients = (0..<connections).map { index in
                spawn { await client(index, of: address, tally: tally) }
            }
            for client in clients { _ = try? await client.value }
        }

        // A graceful shutdown must close every connection, within the request timeout.
        server.beginShutdown()
        naive?.close()
        var waited = 0
        while server.connectionCount > 0 && waited < 300 {
            try await sleep(for: .milliseconds(10))
            waited += 1
        }
        invariant(
            server.connectionCount == 0,
            "\(server.connectionCount) connection(s) still open 3 s after a graceful shutdown began")
        server.stop()

        let (sent, answered) = try await submit(to: clientShard) { (tally.sent, tally.answered) }
        if kind == .production {
            invariant(
                server.requestsServed <= sent,
                "the server answered \(server.requestsServed) requests, only \(sent) were sent")
            invariant(
                server.requestsServed >= answered,
                "the clients got \(answered) answers, the server says it answered \(server.requestsServed)")
        }
    }

    /// One client connection: sends its requests, checks each answer. A connection may break
    /// only with a network error (a reset or a timeout), and only if a fault touched it.
    static func client(_ index: Int, of address: SocketAddress, tally: Tally) async {
        let exchanges = (0..<Simulation.random(in: 1..<6)).map { _ in makeExchange() }
        let pipelined = Simulation.random(in: 0..<2) == 0
        var answered = 0
        var local: SocketAddress?
        do {
            let stream = try await TCPStream.connect(to: address)
            defer { stream.close() }
            local = stream.localAddress
            var reader = ResponseReader(stream: stream)
            if pipelined {
                tally.sent += exchanges.count
                try await writeInPieces(exchanges.flatMap(\.bytes), to: stream)
                for exchange in exchanges {
                    check(try await reader.next(), against: exchange, client: index)
                    answered += 1
                    tally.answered += 1
                }
            } else {
                for exchange in exchanges {
                    tally.sent += 1
                    try await writeInPieces(exchange.bytes, to: stream)
                    check(try await reader.next(), against: exchange, client: index)
                    answered += 1
                    tally.answered += 1
                }
            }
        } catch let error as MinissError where [.connectionReset, .timedOut].contains(error.code) {
            // A connect that failed has no local address: then the plan must hold such faults.
            let plan = Simulation.currentFaults ?? .none
            let explained =
                local.map { Simulation.wasDisturbed(connectionAt: $0) }
                ?? (error.code == .timedOut ? plan.partitions > 0 : plan.resets > 0)
            invariant(
                explained,
                "client \(index): the connection broke after \(answered) answers with no fault on it: \(error)")
        } catch {
            // The server closing early (endOfStream), refusing, anything else: a server bug.
            invariant(false, "client \(index): unexpected error after \(answered) answers: \(error)")
        }
    }

    static func check(_ response: (status: Int, body: [UInt8]), against exchange: Exchange, client: Int) {
        invariant(response.status == 200, "client \(client): status \(response.status) for a valid request")
        invariant(
            response.body == exchange.expectedBody,
            "client \(client): the answer's body (\(response.body.count) bytes) is not the request's "
                + "(\(exchange.expectedBody.count) bytes)")
    }

    /// Writes `bytes` as several writes of random sizes, with random pauses between them.
    static func writeInPieces(_ bytes: [UInt8], to stream: TCPStream) async throws {
        var offset = 0
        while offset < bytes.count {
            let piece =
                Simulation.random(in: 0..<3) == 0
                ? bytes.count - offset : Simulation.random(in: 1..<(bytes.count - offset + 1))
            try await stream.write(Array(bytes[offset..<offset + piece]))
            offset += piece
            if Simulation.random(in: 0..<3) == 0 {
                try await sleep(for: .microseconds(Simulation.random(in: 1..<2_000)))
            }
        }
    }

    /// A random request: GET, POST with Content-Length, or chunked POST.
    static func makeExchange() -> Exchange {
        let salt = Simulation.random(in: 0..<256)
        let body = (0..<Simulation.random(in: 0..<3_000)).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ salt) }
        switch Simulation.random(in: 0..<3) {
        case 0:
            return Exchange(
                bytes: Array("GET / HTTP/1.1\r\nHost: sim\r\n\r\n".utf8), expectedBody: HTTPEchoServer.greeting)
        case 1:
            let head = "POST /echo HTTP/1.1\r\nHost: sim\r\nContent-Length: \(body.count)\r\n\r\n"
            return Exchange(bytes: Array(head.utf8) + body, expectedBody: body)
        default:
            var bytes = Array("POST /echo HTTP/1.1\r\nHost: sim\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)
            var offset = 0
            while offset < body.count {
                let size = min(body.count - offset, Simulation.random(in: 1..<1_024))
                bytes +=
                    Array("\(String(size, radix: 16))\r\n".utf8) + body[offset..<offset + size] + Array("\r\n".utf8)
                offset += size
            }
            bytes += Array("0\r\n\r\n".utf8)
            return Exchange(bytes: bytes, expectedBody: body)
        }
    }

    /// Reads HTTP/1.1 responses with a `Content-Length` from a stream.
    struct ResponseReader {
        let stream: TCPStream
        var buffer: [UInt8] = []

        init(stream: TCPStream) { self.stream = stream }

        mutating func next() async throws -> (status: Int, body: [UInt8]) {
            var headEnd: Int?
            while true {
                headEnd = Self.find([13, 10, 13, 10], in: buffer)
                if headEnd != nil { break }
                try await fill()
            }
            let head = String(decoding: buffer[..<headEnd!], as: UTF8.self)
            let lines = head.split(separator: "\r\n")
            let statusParts = lines.first?.split(separator: " ") ?? []
            let status = statusParts.count >= 2 ? Int(statusParts[1]) ?? -1 : -1
            var length = 0
            for line in lines.dropFirst() where line.lowercased().hasPrefix("content-length:") {
                length = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: " ")) ?? 0
            }
            let bodyStart = headEnd! + 4
            while buffer.count < bodyStart + length { try await fill() }
            let body = Array(buffer[bodyStart..<bodyStart + length])
            buffer.removeFirst(bodyStart + length)
            return (status, body)
        }

        private mutating func fill() async throws {
            let bytes = try await stream.read()
            if bytes.isEmpty {
                throw MinissError(.endOfStream, "the server closed the connection in the middle of a response")
            }
            buffer += bytes
        }

        static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
            guard haystack.count >= needle.count else { return nil }
            for start in 0...(haystack.count - needle.count)
            where haystack[start..<start + needle.count].elementsEqual(needle) {
                return start
            }
            return nil
        }
    }

    /// The planted bug: takes each read for one whole request (and answers 400 otherwise).
    final class NaiveServer: @unchecked Sendable {
        // SAFETY (@unchecked Sendable): used only on the server's shard, under the simulator.
        let listener: TCPListener

        init(address: SocketAddress) throws {
            listener = try TCPListener(bindingTo: address)
            spawn { [listener] in
                for try await stream in listener.connections {
                    spawn {
                        defer { stream.close() }
                        while true {
                            let bytes = try await stream.read(maxBytes: 64 * 1024)
                            if bytes.isEmpty { return }
                            var parser = HTTPRequestParser()
                            parser.append(bytes)
                            var output: [UInt8] = []
                            if let request = try? parser.next(), parser.bufferedByteCount == 0 {
                                let body = request.method == "GET" ? HTTPEchoServer.greeting : request.body
                                HTTPResponseWriter.append(
                                    status: 200, reason: "OK", headers: [], body: body, keepAlive: true,
                                    version: .http1_1, to: &output)
                            } else {
                                HTTPResponseWriter.append(
                                    status: 400, reason: "Bad Request", headers: [], body: [], keepAlive: false,
                                    version: .http1_1, to: &output)
                            }
                            try await stream.write(output)
                        }
                    }
                }
            }
        }

        func close() {
            listener.close()
        }
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in character: Character) -> Substring {
        var text = self
        while text.first == character { text = text.dropFirst() }
        while text.last == character { text = text.dropLast() }
        return text
    }
}

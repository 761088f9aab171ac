import Miniss
import MinissHTTP

/// Load against the echo server with a checked answer for every request: each client sends
/// seeded random mixes of GET, POST with Content-Length and chunked POST, pipelined in random
/// batches and written in random pieces, and checks every response; some clients end with a
/// malformed request and must get 400 and a closed connection.
enum EchoLoad {
    /// Runs one seed; returns nil, or what went wrong.
    static func run(seed: UInt64, backend: IOBackend, connections: Int, requestsPerConnection: Int) throws -> String? {
        let runtime = try Runtime(shards: 1, configuration: .init(backend: backend, pinThreads: false))
        defer { runtime.shutdown() }
        return try runtime.run { () -> String? in
            let server = HTTPEchoServer()
            let address = try server.listen(on: SocketAddress(host: "127.0.0.1", port: 0), reusePort: false)
            try server.start()
            defer { server.stop() }
            let clients = (0..<connections).map { index in
                spawn { () -> String? in
                    var random = SeededRandom(seed: seed &* 1_000_003 &+ UInt64(index))
                    return try await client(address, requests: requestsPerConnection, random: &random)
                }
            }
            for client in clients {
                if let failure = try await client.value { return failure }
            }
            return nil
        }
    }

    /// One request and the body its response must carry.
    private static func makeRequest(_ random: inout SeededRandom) -> (bytes: [UInt8], expected: [UInt8]) {
        switch Int.random(in: 0..<3, using: &random) {
        case 0:
            return (
                Array("GET /\(Int.random(in: 0..<1000, using: &random)) HTTP/1.1\r\nHost: x\r\n\r\n".utf8),
                HTTPEchoServer.greeting
            )
        case 1:
            let body = (0..<Int.random(in: 0..<3000, using: &random)).map { _ in
                UInt8.random(in: 0...255, using: &random)
            }
            return (Array("POST / HTTP/1.1\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body, body)
        default:
            var bytes = Array("PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)
            var body: [UInt8] = []
            for _ in 0..<Int.random(in: 0..<4, using: &random) {
                let chunk = (0..<Int.random(in: 1..<500, using: &random)).map { _ in
                    UInt8.random(in: 0...255, using: &random)
                }
                bytes += Array("\(String(chunk.count, radix: 16))\r\n".utf8) + chunk + Array("\r\n".utf8)
                body += chunk
            }
            bytes += Array("0\r\n\r\n".utf8)
            return (bytes, body)
        }
    }

    private static func client(_ address: SocketAddress, requests: Int, random: inout SeededRandom) async throws
        -> String?
    {
        let stream = try await TCPStream.connect(to: address)
        defer { stream.close() }
        var reader = ResponseReader(stream: stream)
        var sent = 0
        while sent < requests {
            let batch = min(requests - sent, Int.random(in: 1...8, using: &random))
            var bytes: [UInt8] = []
            var expected: [[UInt8]] = []
            for _ in 0..<batch {
                let request = makeRequest(&random)
                bytes += request.bytes
                expected.append(request.expected)
            }
            // Written in random pieces, so requests arrive split anywhere.
            var offset = 0
            while offset < bytes.count {
                let piece = min(bytes.count - offset, Int.random(in: 1...4096, using: &random))
                try await stream.write(bytes[offset..<offset + piece])
                offset += piece
            }
            for (index, body) in expected.enumerated() {
                guard let (status, received) = try await reader.next() else {
                    return "connection closed before response \(sent + index + 1)"
                }
                guard status == 200, received == body else {
                    return
                        "response \(sent + index + 1): status \(status), \(received.count) bytes, expected \(body.count)"
                }
            }
            sent += batch
        }
        if Bool.random(using: &random) {
            try await stream.write(Array("GET / HTTP/1.1\r\nNo colon here\r\n\r\n".utf8))
            guard let (status, _) = try await reader.next(), status == 400 else {
                return "malformed request not answered 400"
            }
            guard try await reader.next() == nil else { return "connection not closed after 400" }
        }
        return nil
    }

    /// Reads `HTTP/1.1 <status> ...` responses framed by Content-Length.
    struct ResponseReader {
        let stream: TCPStream
        var buffer: [UInt8] = []

        /// The next response's status and body, or nil at end of stream.
        mutating func next() async throws -> (Int, [UInt8])? {
            while true {
                if let end = headEnd() {
                    let head = String(decoding: buffer[..<end], as: UTF8.self)
                    let status = head.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? -1
                    var length = 0
                    for line in head.split(separator: "\r\n") where line.lowercased().hasPrefix("content-length:") {
                        length = Int(line.dropFirst("content-length:".count).trimmingSpaces) ?? 0
                    }
                    while buffer.count < end + 4 + length {
                        let more = try await stream.read()
                        if more.isEmpty { return nil }
                        buffer += more
                    }
                    let body = Array(buffer[(end + 4)..<(end + 4 + length)])
                    buffer.removeFirst(end + 4 + length)
                    return (status, body)
                }
                let more = try await stream.read()
                if more.isEmpty { return nil }
                buffer += more
            }
        }

        private func headEnd() -> Int? {
            guard buffer.count >= 4 else { return nil }
            for index in 0...(buffer.count - 4)
            where buffer[index] == 13 && buffer[index + 1] == 10 && buffer[index + 2] == 13 && buffer[index + 3] == 10 {
                return index
            }
            return nil
        }
    }
}

extension Substring {
    fileprivate var trimmingSpaces: Substring {
        var text = self
        while text.first == " " { text = text.dropFirst() }
        while text.last == " " { text = text.dropLast() }
        return text
    }
}

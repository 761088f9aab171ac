import Foundation
import Testing

/// The `http-echo` executable as a user runs it: it prints where it listens, serves, and exits 0
/// on SIGTERM after finishing what it was doing.
@Suite("http-echo process")
struct HTTPEchoProcessTests {
    /// The `http-echo` built next to this test bundle (debug, or a sanitizer build folder).
    static var executable: URL? {
        let directory = URL(fileURLWithPath: Bundle.main.executablePath ?? CommandLine.arguments[0])
            .deletingLastPathComponent()
        let candidates = [directory, directory.deletingLastPathComponent()].map {
            $0.appendingPathComponent("http-echo")
        }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }

    @Test(arguments: ["uring", "epoll"])
    func servesAndStopsGracefullyOnSIGTERM(backend: String) throws {
        let executable = try #require(Self.executable, "build http-echo first (swift build --build-tests builds it)")
        let process = Process()
        process.executableURL = executable
        process.arguments = ["--port", "0", "--backend", backend, "--shards", "2"]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        defer { if process.isRunning { process.terminate() } }

        // The first line says where it listens.
        var firstLine = ""
        let handle = output.fileHandleForReading
        while !firstLine.hasSuffix("\n") {
            let byte = handle.readData(ofLength: 1)
            if byte.isEmpty { break }
            firstLine += String(decoding: byte, as: UTF8.self)
        }
        #expect(firstLine.contains("listening on 127.0.0.1:"))
        #expect(firstLine.contains("backend: \(backend == "uring" ? "io_uring" : "epoll")"))
        #expect(firstLine.contains("shards: 2"))
        let port = try #require(
            firstLine.split(separator: ":").dropFirst().first.flatMap { Int($0.prefix { $0.isNumber }) })

        // One request over a plain socket.
        let reply = try Self.get(port: port)
        #expect(reply.hasPrefix("HTTP/1.1 200 OK") && reply.hasSuffix("Hello, world!"))

        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        #expect(process.terminationReason == .exit)
        #expect(process.terminationStatus == 0)
        let rest = String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
        #expect(rest.contains("SIGTERM received"))
    }

    /// A blocking HTTP GET with `Connection: close` (this test runs outside any runtime).
    static func get(port: Int) throws -> String {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(fd >= 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        try #require(connected == 0)
        let request = Array("GET / HTTP/1.1\r\nConnection: close\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        var reply: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count <= 0 { break }
            reply += buffer[0..<count]
        }
        return String(decoding: reply, as: UTF8.self)
    }
}

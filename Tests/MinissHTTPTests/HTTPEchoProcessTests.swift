import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The `http-echo` executable as a user runs it: it prints where it listens, serves, and exits 0
/// on SIGTERM after finishing what it was doing.
@Suite("http-echo process")
struct HTTPEchoProcessTests {
    /// The `http-echo` built next to this test binary (debug, or a sanitizer build folder).
    static var executable: String? {
        var path = [CChar](repeating: 0, count: 4096)
        let length = readlink("/proc/self/exe", &path, path.count - 1)
        guard length > 0 else { return nil }
        var directory = String(decoding: path[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        // The test binary may sit inside a bundle folder one level below the products.
        for _ in 0..<3 {
            directory = String(directory[..<(directory.lastIndex(of: "/") ?? directory.startIndex)])
            let candidate = directory + "/http-echo"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }

    /// A child process whose stdout is a pipe (posix_spawn; Foundation's Process leaks a weak
    /// reference side table per run under LeakSanitizer).
    struct Child {
        let pid: pid_t
        let output: Int32

        init(_ executable: String, _ arguments: [String]) throws {
            var pipeFDs: [Int32] = [0, 0]
            try #require(pipe(&pipeFDs) == 0)
            var actions = posix_spawn_file_actions_t()
            posix_spawn_file_actions_init(&actions)
            defer { posix_spawn_file_actions_destroy(&actions) }
            posix_spawn_file_actions_adddup2(&actions, pipeFDs[1], 1)
            posix_spawn_file_actions_addclose(&actions, pipeFDs[0])
            let argv = ([executable] + arguments).map { strdup($0) } + [nil]
            defer { argv.forEach { free($0) } }
            var pid: pid_t = 0
            let spawned = posix_spawn(&pid, executable, &actions, nil, argv, environ)
            close(pipeFDs[1])
            try #require(spawned == 0, "posix_spawn \(executable) failed: \(spawned)")
            self.pid = pid
            self.output = pipeFDs[0]
        }

        /// The next line of output ("" at end of output).
        func readLine() -> String {
            var line: [UInt8] = []
            var byte: UInt8 = 0
            while read(output, &byte, 1) == 1 {
                line.append(byte)
                if byte == UInt8(ascii: "\n") { break }
            }
            return String(decoding: line, as: UTF8.self)
        }

        /// Everything left on stdout.
        func readToEnd() -> String {
            var text = ""
            while true {
                let line = readLine()
                if line.isEmpty { return text }
                text += line
            }
        }

        /// Waits for the exit; returns the exit status, or nil if it died of a signal.
        func wait() -> Int32? {
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            close(output)
            return status & 0x7f == 0 ? (status >> 8) & 0xff : nil
        }
    }

    @Test(arguments: ["uring", "epoll"])
    func servesAndStopsGracefullyOnSIGTERM(backend: String) throws {
        let executable = try #require(Self.executable, "build http-echo first (swift build --build-tests builds it)")
        let child = try Child(executable, ["--port", "0", "--backend", backend, "--shards", "2"])
        var exited = false
        defer { if !exited { kill(child.pid, SIGKILL); _ = child.wait() } }

        // The first line says where it listens.
        let firstLine = child.readLine()
        #expect(firstLine.contains("listening on 127.0.0.1:"))
        #expect(firstLine.contains("backend: \(backend == "uring" ? "io_uring" : "epoll")"))
        #expect(firstLine.contains("shards: 2"))
        let port = try #require(
            firstLine.split(separator: ":").dropFirst().first.flatMap { Int($0.prefix { $0.isNumber }) })

        // One request over a plain socket.
        let reply = try Self.get(port: port)
        #expect(reply.hasPrefix("HTTP/1.1 200 OK") && reply.hasSuffix("Hello, world!"))

        kill(child.pid, SIGTERM)
        let rest = child.readToEnd()
        let status = child.wait()
        exited = true
        #expect(status == 0, "http-echo must exit 0 after SIGTERM")
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

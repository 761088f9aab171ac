import ArgumentParser
import Miniss
import MinissHTTP

#if canImport(Glibc)
    import Glibc
#endif

/// `http-echo`: the HTTP/1.1 echo server, one listener per shard on one port (`SO_REUSEPORT`).
@main
struct HTTPEcho: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "http-echo",
        abstract: "HTTP/1.1 echo server on swift-miniss: GET answers \"Hello, world!\", POST/PUT echo the body.",
        discussion: "SIGINT or SIGTERM stop it gracefully: it stops accepting, lets in-flight requests finish "
            + "within --shutdown-grace seconds, and exits 0.")

    @Option(help: "Address to listen on (numeric IPv4 or IPv6, or localhost).")
    var host = "127.0.0.1"

    @Option(help: "TCP port (0 picks a free one and prints it).")
    var port = 8080

    @Option(help: "I/O backend: automatic, uring or epoll (also MINISS_BACKEND).")
    var backend: String?

    @Option(help: "Shards (threads, one per CPU). Default: every CPU this process may use.")
    var shards: Int?

    @Option(help: "Largest request line plus headers, in bytes (431 above it).")
    var maxHeaderBytes = 8 * 1024

    @Option(help: "Largest request body, in bytes (413 above it).")
    var maxBodyBytes = 1 << 20

    @Option(help: "Open connections per shard (503 above it).")
    var maxConnections = 10_000

    @Option(help: "Seconds a keep-alive connection may stay idle.")
    var idleTimeout = 30.0

    @Option(help: "Seconds a started request may take to arrive completely.")
    var requestTimeout = 10.0

    @Option(help: "Seconds in-flight requests get to finish after SIGINT/SIGTERM.")
    var shutdownGrace = 5.0

    func validate() throws {
        if let shards, shards < 1 { throw ValidationError("--shards must be at least 1") }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be in 0...65535") }
        guard maxHeaderBytes >= 64 else { throw ValidationError("--max-header-bytes must be at least 64") }
        guard maxBodyBytes >= 0 else { throw ValidationError("--max-body-bytes must not be negative") }
        guard maxConnections >= 1 else { throw ValidationError("--max-connections must be at least 1") }
        guard idleTimeout > 0, requestTimeout > 0, shutdownGrace >= 0 else {
            throw ValidationError("timeouts must be positive")
        }
    }

    func run() throws {
        // Before any thread starts: every thread inherits the mask, so these signals wait for
        // Signals.wait instead of killing the process.
        try Signals.block([.interrupt, .terminate])
        var runtimeConfiguration = Runtime.Configuration()
        if let backend {
            runtimeConfiguration.backend = try IOBackend.parse(backend, source: "--backend")
        }
        let shardCount = shards ?? Runtime.availableCPUCount
        let runtime = try Runtime(shards: shardCount, configuration: runtimeConfiguration)
        defer { runtime.shutdown() }
        let address = try SocketAddress(host: host, port: port)
        let serverConfiguration = HTTPEchoServer.Configuration(
            limits: HTTPLimits(maxHeaderBytes: maxHeaderBytes, maxBodyBytes: maxBodyBytes),
            idleTimeout: .seconds(idleTimeout), requestTimeout: .seconds(requestTimeout),
            maxConnections: maxConnections)
        let grace = Duration.seconds(shutdownGrace)
        let backendName = runtime.backendName

        try runtime.run {
            let servers = try await Sharded.start(on: runtime) { _ in HTTPEchoServer(configuration: serverConfiguration)
            }
            // Shard 0 first, so that port 0 becomes one concrete port every shard then shares.
            let reusePort = shardCount > 1
            let bound = try await servers.invoke(on: 0) { try $0.listen(on: address, reusePort: reusePort) }
            for shard in 1..<shardCount {
                _ = try await servers.invoke(on: shard) { try $0.listen(on: bound, reusePort: true) }
            }
            for shard in 0..<shardCount { try await servers.invoke(on: shard) { try $0.start() } }
            say("http-echo listening on \(bound) (backend: \(backendName), shards: \(shardCount))")

            let signal = try await Signals.wait(for: [.interrupt, .terminate])
            say("http-echo: \(signal) received, finishing in-flight requests (up to \(grace))")
            for shard in 0..<shardCount { try await servers.invoke(on: shard) { $0.beginShutdown() } }
            let deadline = ShardClock().now.advanced(by: grace)
            while ShardClock().now < deadline {
                let open = try await servers.mapReduce({ $0.connectionCount }, into: 0, +=)
                if open == 0 { break }
                try await sleep(for: .milliseconds(10))
            }
            let served = try await servers.mapReduce({ $0.requestsServed }, into: 0, +=)
            try await servers.stop { $0.stop() }
            say("http-echo: stopped after \(served) requests")
        }
    }
}

/// Prints a line and flushes it at once (stdout is a pipe under scripts and tests).
func say(_ line: String) {
    print(line)
    fflush(nil)
}

import Miniss
import MinissSimulator
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The simulated network and disk: the real Miniss I/O types (TCPListener, TCPStream, File),
/// run by the simulator. Checks inside a program use `invariant`, so a broken expectation fails
/// the run with its message.
@Suite("Simulated network and disk")
struct SimulatedIOTests {
    static let port = 7000
    static var server: SocketAddress { Simulation.address(ofShard: 0, port: port) }

    /// Runs `body` under the simulator (2 shards) for `seeds`, expecting every run to pass.
    static func expectPasses(
        _ plan: FaultPlan = .none, seeds: Range<UInt64> = 0..<20, shards: Int = 2,
        _ body: @escaping @Sendable () async throws -> Void, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        for seed in seeds {
            let simulation = Simulation(seed: seed, shards: shards)
            simulation.faults = .plan(plan)
            let result = simulation.run(body)
            #expect(result.passed, "\(result)", sourceLocation: sourceLocation)
            if !result.passed { return }
        }
    }

    /// The code a MinissError thrown by `body` carries, or nil if it returned.
    static func errorCode(_ body: () async throws -> Void) async -> MinissError.Code? {
        do {
            try await body()
            return nil
        } catch let error as MinissError {
            return error.code
        } catch {
            return nil
        }
    }

    /// Reads until the end of the stream.
    static func readAll(_ stream: TCPStream, reads: inout Int) async throws -> [UInt8] {
        var received: [UInt8] = []
        while true {
            let bytes = try await stream.read()
            if bytes.isEmpty { return received }
            reads += 1
            received += bytes
        }
    }

    /// A listener on shard 0 echoing one connection; a client on shard 1 sends `size` bytes,
    /// closes its sending side and reads everything back. Returns the client's read count.
    static func echo(size: Int, minimumReads: Int = 0) -> @Sendable () async throws -> Void {
        {
            let listener = try TCPListener(bindingTo: server)
            let echoing = spawn {
                let stream = try await listener.accept()
                defer { stream.close() }
                while true {
                    let bytes = try await stream.read()
                    if bytes.isEmpty { return }
                    try await stream.write(bytes)
                }
            }
            let sent = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8) }
            let (received, reads) = try await submit(to: 1) {
                let stream = try await TCPStream.connect(to: server)
                defer { stream.close() }
                let writer = spawn {
                    try await stream.write(sent)
                    try stream.shutdownWriting()
                }
                var reads = 0
                let received = try await readAll(stream, reads: &reads)
                try await writer.value
                return (received, reads)
            }
            try await echoing.value
            listener.close()
            invariant(received == sent, "echoed \(received.count) of \(sent.count) bytes, or other bytes")
            invariant(reads >= minimumReads, "only \(reads) reads: the short reads did not happen")
        }
    }

    // MARK: - TCP

    @Test func bytesCrossTheNetworkInOrderThroughTheWindow() {
        // 200 KB is three windows' worth: the writer waits for the reader's acknowledgements.
        Self.expectPasses(seeds: 0..<30, Self.echo(size: 200_000))
    }

    @Test func shortReadsAndWritesLoseNothing() {
        var plan = FaultPlan.none
        plan.shortReads = 0.9
        plan.shortWrites = 0.9
        // Without short reads, 30 KB arrive in at most a handful of reads.
        Self.expectPasses(plan, seeds: 0..<30, Self.echo(size: 30_000, minimumReads: 10))
    }

    @Test func connectingWhereNothingListensIsRefused() {
        Self.expectPasses {
            let refused = await Self.errorCode { _ = try await TCPStream.connect(to: Self.server) }
            invariant(refused == .connectionRefused, "connect to a closed port: \(String(describing: refused))")
            let nowhere = await Self.errorCode {
                _ = try await TCPStream.connect(to: SocketAddress(host: "192.0.2.1", port: 80))
            }
            invariant(nowhere == .ioFailed, "connect to an unknown host: \(String(describing: nowhere))")
        }
    }

    @Test func anOrderlyCloseEndsTheStreamAfterTheData() {
        Self.expectPasses {
            let listener = try TCPListener(bindingTo: Self.server)
            let server = spawn {
                let stream = try await listener.accept()
                try await stream.write(Array("bye".utf8))
                stream.close()
            }
            try await submit(to: 1) {
                let stream = try await TCPStream.connect(to: Self.server)
                defer { stream.close() }
                var reads = 0
                let received = try await Self.readAll(stream, reads: &reads)
                invariant(received == Array("bye".utf8), "got \(received) before the end of the stream")
            }
            try await server.value
            listener.close()
        }
    }

    @Test func closingWithUnreadBytesOrResettingResetsThePeer() {
        for resets in [false, true] {
            Self.expectPasses {
                let listener = try TCPListener(bindingTo: Self.server)
                let server = spawn {
                    let stream = try await listener.accept()
                    // Wait until the client's bytes are here, then throw them away unread.
                    try await sleep(for: .milliseconds(50))
                    if resets { stream.reset() } else { stream.close() }
                }
                try await submit(to: 1) {
                    let stream = try await TCPStream.connect(to: Self.server)
                    defer { stream.close() }
                    if !resets { try await stream.write(Array("unread".utf8)) }
                    let code = await Self.errorCode { _ = try await stream.read() }
                    invariant(code == .connectionReset, "the peer's read after a reset: \(String(describing: code))")
                    let again = await Self.errorCode { try await stream.write([1]) }
                    invariant(again == .connectionReset, "a write after a reset: \(String(describing: again))")
                }
                try await server.value
                listener.close()
            }
        }
    }

    @Test func closingAListenerResetsConnectionsNotAcceptedYet() {
        Self.expectPasses {
            let listener = try TCPListener(bindingTo: Self.server)
            try await submit(to: 1) {
                let stream = try await TCPStream.connect(to: Self.server)
                defer { stream.close() }
                try await submit(to: 0) { listener.close() }
                let code = await Self.errorCode { _ = try await stream.read() }
                invariant(
                    code == .connectionReset, "a connection the listener never accepted: \(String(describing: code))")
            }
        }
    }

    @Test func moreConnectionsThanTheAcceptQueueAreAllAccepted() {
        // 300 > TCPListener.acceptQueueLimit: the accept request is cancelled while the queue
        // is full and armed again as it drains, without losing a connection.
        Self.expectPasses(seeds: 0..<5) {
            let listener = try TCPListener(bindingTo: Self.server)
            let count = 300
            let connected = try await submit(to: 1) {
                var streams: [TCPStream] = []
                for _ in 0..<count { streams.append(try await TCPStream.connect(to: Self.server)) }
                return streams.count
            }
            invariant(connected == count, "connected \(connected)")
            try await sleep(for: .milliseconds(20))
            var accepted = 0
            while accepted < count {
                _ = try await timeout(after: .seconds(1)) { try await listener.accept() }
                accepted += 1
            }
            listener.close()
        }
    }

    @Test func listenersFollowTheAddressRules() {
        Self.expectPasses(seeds: 0..<3) {
            let first = try TCPListener(bindingTo: Self.server)
            let taken = await Self.errorCode { _ = try TCPListener(bindingTo: Self.server) }
            invariant(taken == .addressInUse, "a second listener on the port: \(String(describing: taken))")
            first.close()
            let shared = try (0..<2).map { _ in try TCPListener(bindingTo: Self.server, reusePort: true) }
            let elsewhere = await Self.errorCode {
                _ = try TCPListener(bindingTo: Simulation.address(ofShard: 1, port: Self.port))
            }
            invariant(elsewhere == .ioFailed, "binding another shard's address: \(String(describing: elsewhere))")
            let ephemeral = try TCPListener(bindingTo: SocketAddress(host: "0.0.0.0", port: 0))
            invariant(ephemeral.localAddress.port != 0, "port 0 gets a port")
            for listener in shared + [ephemeral] { listener.close() }
            let udp = await Self.errorCode { _ = try UDPSocket(bindingTo: SocketAddress(host: "127.0.0.1", port: 0)) }
            invariant(udp == .ioFailed, "UDP is not simulated and says so: \(String(describing: udp))")
        }
    }

    @Test func loopbackReachesTheCallersOwnShard() {
        Self.expectPasses(seeds: 0..<10, shards: 1) {
            let listener = try TCPListener(bindingTo: SocketAddress(host: "127.0.0.1", port: Self.port))
            let server = spawn {
                let stream = try await listener.accept()
                try await stream.write(try await stream.readExactly(4))
                stream.close()
            }
            let stream = try await TCPStream.connect(to: SocketAddress(host: "127.0.0.1", port: Self.port))
            try await stream.write([1, 2, 3, 4])
            let back = try await stream.readExactly(4)
            invariant(back == [1, 2, 3, 4], "loopback echo: \(back)")
            invariant(stream.peerAddress?.port == Self.port, "peer address: \(String(describing: stream.peerAddress))")
            stream.close()
            try await server.value
            listener.close()
        }
    }

    @Test func aCancelledReadLosesNoBytes() {
        Self.expectPasses {
            let listener = try TCPListener(bindingTo: Self.server)
            let server = spawn {
                let stream = try await listener.accept()
                try await sleep(for: .milliseconds(30))
                try await stream.write(Array("late".utf8))
                stream.close()
            }
            try await submit(to: 1) {
                let stream = try await TCPStream.connect(to: Self.server)
                defer { stream.close() }
                let code = await Self.errorCode {
                    _ = try await timeout(after: .milliseconds(10)) { try await stream.read() }
                }
                invariant(code == .timedOut, "the first read times out: \(String(describing: code))")
                let received = try await stream.readExactly(4)
                invariant(received == Array("late".utf8), "the bytes after the cancelled read: \(received)")
            }
            try await server.value
            listener.close()
        }
    }

    @Test func aSlowReaderHoldsTheWriterBack() {
        Self.expectPasses(seeds: 0..<10) {
            let listener = try TCPListener(bindingTo: Self.server)
            let size = 300_000
            let server = spawn {
                let stream = try await listener.accept()
                try await sleep(for: .seconds(1))
                let bytes = try await stream.readExactly(size)
                stream.close()
                return bytes.count
            }
            let start = ShardClock().now
            let finished = try await submit(to: 1) {
                let stream = try await TCPStream.connect(to: Self.server)
                defer { stream.close() }
                try await stream.write([UInt8](repeating: 7, count: size))
                return ShardClock().now
            }
            let waited = start.duration(to: finished)
            invariant(waited >= .seconds(1), "the writer finished after \(waited), before the reader read anything")
            let read = try await server.value
            invariant(read == size, "read \(read)")
            listener.close()
        }
    }

    @Test func bytesThatArrivedBeforeAResetAreStillRead() {
        Self.expectPasses {
            let listener = try TCPListener(bindingTo: Self.server)
            let server = spawn {
                let stream = try await listener.accept()
                _ = try await stream.readExactly(1)
                // Answer, then close with the client's second byte unread: a reset follows the answer.
                try await stream.write(Array("answer".utf8))
                try await sleep(for: .milliseconds(20))
                stream.close()
            }
            try await submit(to: 1) {
                let stream = try await TCPStream.connect(to: Self.server)
                defer { stream.close() }
                try await stream.write([1, 2])
                try await sleep(for: .milliseconds(50))  // the reset is here by now
                let answer = try await stream.readExactly(6)
                invariant(answer == Array("answer".utf8), "the answer before the reset: \(answer)")
                let code = await Self.errorCode { _ = try await stream.read() }
                invariant(code == .connectionReset, "then the reset: \(String(describing: code))")
            }
            try await server.value
            listener.close()
        }
    }

    @Test func aFullBacklogDropsTheSynAndTheClientRetries() {
        Self.expectPasses(seeds: 0..<10) {
            let listener = try TCPListener(bindingTo: Self.server, backlog: 1)
            // Nobody accepts for a while: the first connection fills the backlog.
            let connectedAt = try await submit(to: 1) {
                let first = try await TCPStream.connect(to: Self.server)
                let second = spawn {
                    let stream = try await TCPStream.connect(to: Self.server)
                    stream.close()
                    return ShardClock().now
                }
                try await sleep(for: .milliseconds(5))
                try await submit(to: 0) {
                    // The listener's accept queue takes both; the kernel backlog frees up.
                    _ = try await listener.accept()
                }
                let at = try await second.value
                first.close()
                return at
            }
            invariant(
                connectedAt.nanoseconds >= 100_000_000,
                "the second connect completed at \(connectedAt), before its SYN was sent again (100 ms)")
            listener.close()
        }
    }

    @Test func listenersOnLoopbackAndOnTheHostAddressCoexist() {
        Self.expectPasses(seeds: 0..<3, shards: 1) {
            let loopback = try TCPListener(bindingTo: SocketAddress(host: "127.0.0.1", port: Self.port))
            let external = try TCPListener(bindingTo: Simulation.address(ofShard: 0, port: Self.port))
            let wildcard = await Self.errorCode {
                _ = try TCPListener(bindingTo: SocketAddress(host: "0.0.0.0", port: Self.port))
            }
            invariant(wildcard == .addressInUse, "0.0.0.0 overlaps both: \(String(describing: wildcard))")
            loopback.close()
            external.close()
            let ipv4Only = try TCPListener(bindingTo: SocketAddress(host: "0.0.0.0", port: Self.port))
            let v6 = await Self.errorCode {
                _ = try await TCPStream.connect(to: SocketAddress(host: "::1", port: Self.port))
            }
            invariant(v6 == .connectionRefused, "::1 does not reach a 0.0.0.0 listener: \(String(describing: v6))")
            ipv4Only.close()
            let dualStack = try TCPListener(bindingTo: SocketAddress(host: "::", port: Self.port))
            let v4 = try await TCPStream.connect(to: SocketAddress(host: "127.0.0.1", port: Self.port))
            v4.close()
            dualStack.close()
        }
    }

    // MARK: - Network faults

    /// One partition between shards 0 and 1 over [0, length).
    static func partition(lasting length: Duration) -> FaultPlan {
        var plan = FaultPlan.none
        plan.partitions = 1
        plan.partitionStart = .zero ... .zero
        plan.partitionLength = length...length
        return plan
    }

    @Test func aShortPartitionOnlyDelays() {
        Self.expectPasses(Self.partition(lasting: .milliseconds(200))) {
            let listener = try TCPListener(bindingTo: Self.server)
            let server = spawn { try await listener.accept().close() }
            let connectedAt = try await submit(to: 1) {
                let stream = try await TCPStream.connect(to: Self.server)
                stream.close()
                return ShardClock().now
            }
            invariant(
                connectedAt.nanoseconds >= 200_000_000, "connected at \(connectedAt), inside the partition")
            try await server.value
            listener.close()
        }
    }

    @Test func aPartitionLongerThanTheRetransmissionTimeoutTimesOut() {
        Self.expectPasses(Self.partition(lasting: .seconds(5))) {
            let listener = try TCPListener(bindingTo: Self.server)
            let failedAt = try await submit(to: 1) {
                let code = await Self.errorCode { _ = try await TCPStream.connect(to: Self.server) }
                invariant(code == .timedOut, "connect across a 5 s partition: \(String(describing: code))")
                return ShardClock().now
            }
            invariant(failedAt.nanoseconds == 500_000_000, "gave up at \(failedAt), not after the 500 ms timeout")
            listener.close()
        }
    }

    @Test func theNetworkResetsConnections() {
        var plan = FaultPlan.none
        plan.resets = 1
        plan.resetWindow = .milliseconds(5) ... .milliseconds(5)
        Self.expectPasses(plan) {
            let listener = try TCPListener(bindingTo: Self.server)
            let server = spawn {
                let stream = try await listener.accept()
                let code = await Self.errorCode { _ = try await stream.read() }
                invariant(code == .connectionReset, "server side: \(String(describing: code))")
                stream.close()
            }
            try await submit(to: 1) {
                let stream = try await TCPStream.connect(to: Self.server)
                let code = await Self.errorCode { _ = try await stream.read() }
                invariant(code == .connectionReset, "client side: \(String(describing: code))")
                stream.close()
            }
            try await server.value
            listener.close()
        }
    }

    @Test func onlyConnectionsAFaultTouchedAreMarkedDisturbed() {
        for resets in [0.0, 1.0] {
            var plan = FaultPlan.none
            plan.resets = resets
            plan.resetWindow = .milliseconds(5) ... .milliseconds(5)
            Self.expectPasses(plan, seeds: 0..<5) {
                let listener = try TCPListener(bindingTo: Self.server)
                let server = spawn { _ = try? await listener.accept().read() }
                try await submit(to: 1) {
                    let stream = try await TCPStream.connect(to: Self.server)
                    let local = try #require(stream.localAddress)
                    _ = try? await timeout(after: .milliseconds(20)) { try await stream.read() }
                    let disturbed = Simulation.wasDisturbed(connectionAt: local)
                    invariant(disturbed == (resets > 0), "reset chance \(resets): disturbed = \(disturbed)")
                    stream.close()
                }
                _ = try? await server.value
                listener.close()
            }
        }
    }

    @Test func swarmPlansDifferFromSeedToSeedAndRepeatForTheSameSeed() {
        let plans = (UInt64(0)..<64).map { FaultPlan.swarm(seed: $0) }
        #expect(Set(plans).count > 32, "seeds draw different plans")
        #expect(plans.contains { $0.resets > 0 } && plans.contains { $0.resets == 0 })
        #expect(plans.contains { $0.partitions > 0 } && plans.contains { $0.shortReads > 0 })
        #expect(plans.contains { $0.diskErrors > 0 } && plans.contains { $0.tornWrites > 0 })
        #expect(FaultPlan.swarm(seed: 7) == FaultPlan.swarm(seed: 7))
    }

    /// The example in docs/simulator.md ("A server under network faults"), as written there.
    @Test func theDocumentedExamplePasses() {
        for seed in UInt64(0)..<300 {
            let simulation = Simulation(seed: seed, shards: 2)
            simulation.faults = .swarm
            let result = simulation.run {
                let address = Simulation.address(ofShard: 0, port: 7000)
                let listener = try TCPListener(bindingTo: address)
                let server = spawn {
                    let stream = try await listener.accept()
                    defer { stream.close() }
                    while true {
                        let bytes = try await stream.read()
                        if bytes.isEmpty { return }
                        try await stream.write(bytes)
                    }
                }
                let sent = (0..<50_000).map { UInt8(truncatingIfNeeded: $0) }
                do {
                    let received = try await submit(to: 1) {
                        let stream = try await TCPStream.connect(to: address)
                        defer { stream.close() }
                        try await stream.write(sent)
                        return try await stream.readExactly(sent.count)
                    }
                    invariant(received == sent, "the echo changed the bytes")
                } catch let error as MinissError where [.connectionReset, .timedOut].contains(error.code) {
                    // A reset or a long partition: allowed, but never wrong bytes.
                }
                listener.close()  // an accept still waiting (the connect timed out) ends
                _ = try? await server.value
            }
            #expect(result.passed, "\(result)")
            if !result.passed { break }
        }
    }

    // MARK: - Disk

    /// Whether the simulated file at `path` holds `bytes` (read through a fresh handle).
    static func contents(of path: String) async throws -> [UInt8] {
        let file = try File.open(path)
        defer { file.close() }
        return try await file.read(at: 0, maxBytes: 1 << 20)
    }

    @Test func filesKeepWhatWasWritten() {
        Self.expectPasses(seeds: 0..<5) {
            let missing = await Self.errorCode { _ = try File.open("/data") }
            invariant(missing == .ioFailed, "opening a missing file: \(String(describing: missing))")
            let file = try File.open("/data", options: [.read, .write, .create])
            try await file.write(Array("hello".utf8), at: 0)
            try await file.write(Array("world".utf8), at: 10)
            let size = try file.size()
            invariant(size == 15, "size \(size)")
            let bytes = try await file.read(at: 0, maxBytes: 100)
            invariant(bytes == Array("hello".utf8) + [0, 0, 0, 0, 0] + Array("world".utf8), "read \(bytes)")
            let past = try await file.read(at: 100, maxBytes: 10)
            invariant(past.isEmpty, "a read past the end returns nothing")
            try await file.sync()
            file.close()
            let exclusive = await Self.errorCode { _ = try File.open("/data", options: [.write, .create, .exclusive]) }
            invariant(
                exclusive == .ioFailed, "create exclusive over an existing file: \(String(describing: exclusive))")
            let readOnly = try File.open("/data")
            let refused = await Self.errorCode { try await readOnly.write([1], at: 0) }
            invariant(refused == .closed, "a write through a read-only handle (EBADF): \(String(describing: refused))")
            readOnly.close()
            let truncated = try File.open("/data", options: [.write, .truncate])
            let truncatedSize = try truncated.size()
            invariant(truncatedSize == 0, "truncate on open")
            truncated.close()
        }
    }

    /// Writes "synced" and syncs, then "pending" without a sync, crashes, and returns what
    /// survived.
    static func crashAfterAnUnsyncedWrite() -> (@Sendable () async throws -> Void, Survivors) {
        let survivors = Survivors()
        return (
            {
                let file = try File.open("/log", options: [.read, .write, .create])
                try await file.write(Array("synced".utf8), at: 0)
                try await file.sync()
                try await file.write(Array("-pending".utf8), at: 6)
                Simulation.crashDisk()
                let stale = await Self.errorCode { _ = try await file.read(at: 0, maxBytes: 10) }
                invariant(stale == .ioFailed, "a handle opened before the crash: \(String(describing: stale))")
                file.close()
                let bytes = try await Self.contents(of: "/log")
                invariant(bytes.starts(with: Array("synced".utf8)), "synced bytes lost: \(bytes)")
                survivors.record(bytes.count - 6)
            }, survivors
        )
    }

    @Test func aCrashKeepsSyncedBytesAndLosesOrKeepsTheRest() {
        let (program, survivors) = Self.crashAfterAnUnsyncedWrite()
        Self.expectPasses(seeds: 0..<40, program)
        // Without torn writes an unsynced write survives whole or not at all, and both happen.
        #expect(Set(survivors.counts) == [0, 8], "unsynced bytes that survived: \(survivors.counts)")
    }

    @Test func aCrashTearsUnsyncedWrites() {
        var plan = FaultPlan.none
        plan.tornWrites = 1
        let (program, survivors) = Self.crashAfterAnUnsyncedWrite()
        Self.expectPasses(plan, seeds: 0..<20, program)
        #expect(survivors.counts.allSatisfy { (1..<8).contains($0) }, "torn writes keep a part: \(survivors.counts)")
    }

    @Test func aCrashCanBeArmedToStrikeRightAfterAFileOperation() {
        let survivors = Survivors()
        Self.expectPasses(seeds: 0..<40) {
            let file = try File.open("/data", options: [.read, .write, .create])
            // Operations: the write, the sync, the second write — the crash follows it.
            Simulation.crashDisk(afterFileOperations: 3)
            try await file.write(Array("synced".utf8), at: 0)
            try await file.sync()
            try await file.write(Array("-pending".utf8), at: 6)
            let after = await Self.errorCode { try await file.sync() }
            invariant(after == .ioFailed, "the sync after the crash: \(String(describing: after))")
            file.close()
            let bytes = try await Self.contents(of: "/data")
            invariant(bytes.starts(with: Array("synced".utf8)), "synced bytes lost: \(bytes)")
            survivors.record(bytes.count - 6)
        }
        #expect(Set(survivors.counts) == [0, 8], "the unsynced write survived or not: \(survivors.counts)")
    }

    @Test func aFailedSyncLosesThePendingWritesForGood() {
        // Linux after a failed fsync: the data stays readable until a crash, but a later fsync
        // succeeds without writing it. Half the disk operations fail here; each is retried.
        var plan = FaultPlan.none
        plan.diskErrors = 0.5
        let outcomes = Survivors()
        Self.expectPasses(plan, seeds: 0..<40) {
            func retried<T>(_ body: () async throws -> T) async throws -> T {
                while true {
                    do { return try await body() } catch let error as MinissError where error.systemError == EIO {}
                }
            }
            let file = try File.open("/data", options: [.read, .write, .create])
            try await retried { try await file.write(Array("data".utf8), at: 0) }
            var syncFailed = false
            do { try await file.sync() } catch { syncFailed = true }
            try await retried { try await file.sync() }
            let visible = try await retried { try await file.read(at: 0, maxBytes: 10) }
            invariant(visible == Array("data".utf8), "readers still see the bytes: \(visible)")
            Simulation.crashDisk()
            file.close()
            let reopened = try File.open("/data")
            let bytes = try await retried { try await reopened.read(at: 0, maxBytes: 10) }
            reopened.close()
            if syncFailed {
                invariant(bytes.isEmpty, "a sync after a failed one made the dropped write durable: \(bytes)")
            } else {
                invariant(bytes == Array("data".utf8), "a synced write was lost: \(bytes)")
            }
            outcomes.record(syncFailed ? 1 : 0)
        }
        #expect(Set(outcomes.counts) == [0, 1], "both a failed and a good first sync happened: \(outcomes.counts)")
    }

    @Test func diskErrorsReachTheCaller() {
        var plan = FaultPlan.none
        plan.diskErrors = 1
        Self.expectPasses(plan, seeds: 0..<5) {
            let file = try File.open("/data", options: [.read, .write, .create])
            defer { file.close() }
            do {
                try await file.write([1, 2, 3], at: 0)
                invariant(false, "the write succeeded on a failing disk")
            } catch let error as MinissError {
                invariant(error.systemError == EIO, "the write failed with \(error)")
            }
        }
    }

    @Test func anIOFailureShowsInTheTimeline() throws {
        let scenario = SimulationScenario.buggyEchoWholeReads
        let result = scenario.run(seed: 0, recordsFullTrace: true)
        #expect(result.failure?.kind == .invariant)
        #expect(result.trace.contains { $0.contains("I/O") }, "I/O events are in the trace")
        let page = TimelineHTML.render(result: result, scenario: scenario)
        #expect(page.contains("<tr class=\"io\""), "and in the timeline")
    }
}

/// Counts collected by programs across seeds (written on the simulator's thread, read after).
final class Survivors: @unchecked Sendable {
    // SAFETY (@unchecked Sendable): written by one simulated run at a time (each on the
    // simulator's thread, joined before the next starts), read by the test after the runs.
    private(set) var counts: [Int] = []
    func record(_ count: Int) { counts.append(count) }
}

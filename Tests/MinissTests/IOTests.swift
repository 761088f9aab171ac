import CMinissLinux
import Testing

@testable import Miniss

#if canImport(Glibc)
    import Glibc
#endif

/// Real sockets, files and signals on loopback, through both drivers. Outcomes only, never
/// timings.
@Suite("I/O on both drivers")
struct IOTests {
    static let backends: [IOBackend] = [.uring, .epoll]

    static func runtime(_ backend: IOBackend, shards: Int = 1) throws -> Runtime {
        try Runtime(shards: shards, configuration: .init(backend: backend, pinThreads: false, idleSpin: .zero))
    }

    static var loopback: SocketAddress { try! SocketAddress(host: "127.0.0.1", port: 0) }

    @Test(arguments: backends)
    func acceptReadWriteClose(backend: IOBackend) throws {
        let runtime = try Self.runtime(backend)
        defer { runtime.shutdown() }
        #expect(runtime.backendName == (backend == .uring ? "io_uring" : "epoll"))
        let (echoed, peerMatches, endOfStream) = try runtime.run { () -> ([UInt8], Bool, Bool) in
            let listener = try TCPListener(bindingTo: Self.loopback)
            defer { listener.close() }
            let server = spawn { () -> Bool in
                let connection = try await listener.accept()
                defer { connection.close() }
                while true {
                    let bytes = try await connection.read()
                    if bytes.isEmpty { return true }
                    try await connection.write(bytes)
                }
            }
            let client = try await TCPStream.connect(to: listener.localAddress)
            let message = Array((0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 7) })
            let writer = spawn { try await client.write(message) }
            let echoed = try await client.readExactly(message.count)
            try await writer.value
            let peerMatches = client.peerAddress == listener.localAddress
            try client.shutdownWriting()
            let rest = try await client.read()
            client.close()
            return (echoed == message ? echoed : [], peerMatches && rest.isEmpty, try await server.value)
        }
        #expect(echoed.count == 100_000, "the echo must come back byte for byte")
        #expect(peerMatches)
        #expect(endOfStream, "the server must see end-of-stream after shutdownWriting")
    }

    @Test(arguments: backends)
    func connectRefusedIsAClearError(backend: IOBackend) throws {
        let runtime = try Self.runtime(backend)
        defer { runtime.shutdown() }
        let error = try runtime.run { () -> MinissError? in
            // A port that was just free: bind, note it, close.
            let probe = try TCPListener(bindingTo: Self.loopback)
            let address = probe.localAddress
            probe.close()
            do {
                _ = try await TCPStream.connect(to: address)
                return nil
            } catch let error as MinissError {
                return error
            }
        }
        #expect(error?.code == .connectionRefused)
        #expect(error?.message.contains("connect to 127.0.0.1:") == true)
    }

    @Test(arguments: backends)
    func peerResetIsReported(backend: IOBackend) throws {
        let runtime = try Self.runtime(backend)
        defer { runtime.shutdown() }
        let code = try runtime.run { () -> MinissError.Code? in
            let listener = try TCPListener(bindingTo: Self.loopback)
            defer { listener.close() }
            let client = try await TCPStream.connect(to: listener.localAddress)
            defer { client.close() }
            let server = try await listener.accept()
            server.reset()
            do {
                _ = try await client.read()
                return nil
            } catch let error as MinissError {
                return error.code
            }
        }
        #expect(code == .connectionReset)
    }

    @Test(arguments: backends)
    func aCancelledReadLeavesTheStreamUsable(backend: IOBackend) throws {
        let runtime = try Self.runtime(backend)
        defer { runtime.shutdown() }
        let (cancelled, after) = try runtime.run { () -> (Bool, [UInt8]) in
            let listener = try TCPListener(bindingTo: Self.loopback)
            defer { listener.close() }
            let client = try await TCPStream.connect(to: listener.localAddress)
            defer { client.close() }
            let server = try await listener.accept()
            defer { server.close() }
            let reader = spawn { try await client.read() }
            while !client.isReadInFlight { await Shard.yield() }
            reader.cancel()
            var cancelled = false
            do { _ = try await reader.value } catch is CancellationError { cancelled = true }
            try await server.write([1, 2, 3])
            return (cancelled, try await client.readExactly(3))
        }
        #expect(cancelled, "the read waiting mid-flight must end with CancellationError")
        #expect(after == [1, 2, 3], "nothing sent after the cancel may be lost")
    }

    @Test(arguments: backends)
    func timeoutComposesWithReads(backend: IOBackend) throws {
        let runtime = try Self.runtime(backend)
        defer { runtime.shutdown() }
        let code = try runtime.run { () -> MinissError.Code? in
            let listener = try TCPListener(bindingTo: Self.loopback)
            defer { listener.close() }
            let client = try await TCPStream.connect(to: listener.localAddress)
            defer { client.close() }
            do {
                _ = try await timeout(after: .milliseconds(10)) { try await client.read() }
                return nil
            } catch let error as MinissError {
                return error.code
            }
        }
        #expect(code == .timedOut, "a silent peer can only end in the deadline")
    }

    @Test(arguments: backends)
    func closingTheListenerEndsItsConnections(backend: IOBackend) throws {
        let runtime = try Self.runtime(backend)
        defer { runtime.shutdown() }
        let accepted = try runtime.run { () -> Int in
            let listener = try TCPListener(bindingTo: Self.loopback)
            let acceptor = spawn { () -> Int in
                var count = 0
                for try await connection in listener.connections {
                    count += 1
                    connection.close()
                }
                return count
            }
            for _ in 0..<3 {
                let client = try await TCPStream.connect(to: listener.localAddress)
                #expect(try await client.read().isEmpty, "the server closed it")
                client.close()
            }
            listener.close()
            return try await acceptor.value
        }
        #expect(accepted == 3)
    }

    @Test(arguments: backends)
    func acceptSurvivesAFullQueue(backend: IOBackend) throws {
        let runtime = try Self.runtime(backend)
        defer { runtime.shutdown() }
        let accepted = try runtime.run { () -> Int in
            let listener = try TCPListener(bindingTo: Self.loopback, backlog: 4096)
            defer { listener.close() }
            // More connections than the accept queue holds, none accepted yet: the listener
            // stops accepting at the limit and must start again as the queue drains.
            let burst = TCPListener.acceptQueueLimit
            var clients: [TCPStream] = []
            for _ in 0..<burst { clients.append(try await TCPStream.connect(to: listener.localAddress)) }
            var accepted = 0
            for _ in 0..<burst {
                try await listener.accept().close()
                accepted += 1
            }
            // And a connection after the burst still gets through.
            let late = try await TCPStream.connect(to: listener.localAddress)
            let server = try await listener.accept()
            try await late.write([42])
            accepted += try await server.readExactly(1) == [42] ? 1 : 0
            server.close()
            late.close()
            clients.forEach { $0.close() }
            return accepted
        }
        #expect(accepted == TCPListener.acceptQueueLimit + 1)
    }

    @Test(arguments: backends)
    func aClosedStreamsQueuedReadNeverReachesASocketThatReusesItsNumber(backend: IOBackend) throws {
        let runtime = try Self.runtime(backend)
        defer { runtime.shutdown() }
        let (readOutcome, udpPayload) = try runtime.run { () -> (String, [UInt8]) in
            let listener = try TCPListener(bindingTo: Self.loopback)
            defer { listener.close() }
            let client = try await TCPStream.connect(to: listener.localAddress)
            let server = try await listener.accept()
            defer { server.close() }
            // In one batch of jobs: a read is started on `client`, then `client` is closed and a
            // UDP socket takes the freed descriptor number.
            let reader = spawn { () -> String in
                do {
                    let bytes = try await client.read()
                    return "read \(bytes.count) bytes"
                } catch let error as MinissError {
                    return "\(error.code)"
                }
            }
            let socket = spawn { () -> UDPSocket in
                client.close()
                let udp = try UDPSocket(bindingTo: Self.loopback)
                // A datagram is waiting before the shard next enters the kernel.
                let raw = miniss_socket(AF_INET, false, false)
                var target = udp.localAddress.raw
                _ = miniss_send_to(raw, "for-udp", 7, &target)
                _ = miniss_close(raw)
                return udp
            }
            let udp = try await socket.value
            defer { udp.close() }
            let outcome = try await reader.value
            // Bounded only for the failure case: the datagram is already there when this passes.
            let payload = try? await timeout(after: .seconds(5)) { try await udp.receive().bytes }
            return (outcome, payload ?? [])
        }
        #expect(readOutcome == "closed", "the read of the closed stream must fail, not take another socket's data")
        #expect(udpPayload == Array("for-udp".utf8))
    }

    @Test(arguments: backends)
    func anAcceptErrorReachesTheWaiterInsteadOfSpinning(backend: IOBackend) throws {
        let runtime = try Self.runtime(backend)
        defer { runtime.shutdown() }
        let failed = try runtime.run { () -> Bool in
            let listener = try TCPListener(bindingTo: Self.loopback)
            defer { listener.close() }
            let acceptor = spawn { () -> Bool in
                do {
                    _ = try await listener.accept()
                    return false
                } catch {
                    return true
                }
            }
            await Shard.yield()
            // A listening socket shut down fails its accepts with EINVAL, which io_uring also
            // uses to say "no multishot accept here": the fallback must not spin on it.
            _ = miniss_shutdown(listener.descriptor.fd, 0)
            return try await acceptor.value
        }
        #expect(failed)
    }

    @Test(arguments: backends)
    func manyConcurrentConnections(backend: IOBackend) throws {
        let runtime = try Self.runtime(backend)
        defer { runtime.shutdown() }
        let total = try runtime.run { () -> Int in
            let listener = try TCPListener(bindingTo: Self.loopback)
            defer { listener.close() }
            let server = spawn {
                for try await connection in listener.connections {
                    spawn {
                        defer { connection.close() }
                        while true {
                            let bytes = try await connection.read()
                            if bytes.isEmpty { return }
                            try await connection.write(bytes)
                        }
                    }
                }
            }
            let clients = (0..<200).map { index in
                spawn { () -> Int in
                    let stream = try await TCPStream.connect(to: listener.localAddress)
                    defer { stream.close() }
                    var sum = 0
                    for round in 0..<5 {
                        try await stream.write([UInt8(index % 256), UInt8(round)])
                        let reply = try await stream.readExactly(2)
                        sum += Int(reply[0]) + Int(reply[1])
                    }
                    return sum
                }
            }
            var total = 0
            for client in clients { total += try await client.value }
            server.cancel()
            return total
        }
        let expected = (0..<200).reduce(0) { $0 + 5 * ($1 % 256) + 10 }
        #expect(total == expected)
    }

    @Test(arguments: backends)
    func ipv6Loopback(backend: IOBackend) throws {
        let runtime = try Self.runtime(backend)
        defer { runtime.shutdown() }
        let result = try runtime.run { () -> [UInt8]? in
            let listener: TCPListener
            do {
                listener = try TCPListener(bindingTo: SocketAddress(host: "::1", port: 0))
            } catch {
                return nil  // no IPv6 on this host
            }
            defer { listener.close() }
            #expect(listener.localAddress.isIPv6)
            #expect(listener.localAddress.description.hasPrefix("[::1]:"))
            let client = try await TCPStream.connect(to: listener.localAddress)
            defer { client.close() }
            let server = try await listener.accept()
            defer { server.close() }
            try await client.write([9, 8, 7])
            return try await server.readExactly(3)
        }
        if let result { #expect(result == [9, 8, 7]) }
    }

    @Test(arguments: backends)
    func udpRoundTrip(backend: IOBackend) throws {
        let runtime = try Self.runtime(backend)
        defer { runtime.shutdown() }
        let (payload, senderMatches) = try runtime.run { () -> ([UInt8], Bool) in
            let a = try UDPSocket(bindingTo: Self.loopback)
            let b = try UDPSocket(bindingTo: Self.loopback)
            defer {
                a.close()
                b.close()
            }
            let receiver = spawn { try await b.receive() }
            try await a.send([1, 2, 3, 4], to: b.localAddress)
            let (bytes, sender) = try await receiver.value
            return (bytes, sender == a.localAddress)
        }
        #expect(payload == [1, 2, 3, 4])
        #expect(senderMatches)
    }

    @Test(arguments: backends)
    func fileWriteSyncRead(backend: IOBackend) throws {
        let runtime = try Self.runtime(backend)
        defer { runtime.shutdown() }
        let path = "/tmp/miniss-io-test-\(getpid())-\(backend)"
        defer { unlink(path) }
        let (read, size, missing) = try runtime.run { () -> ([UInt8], UInt64, MinissError?) in
            let file = try File.open(path, options: [.read, .write, .create, .truncate])
            defer { file.close() }
            let bytes = Array((0..<70_000).map { UInt8(truncatingIfNeeded: $0) })
            try await file.write(bytes, at: 0)
            try await file.write([0xAA, 0xBB], at: 10)
            try await file.sync()
            try await file.sync(dataOnly: true)
            var read = try await file.read(at: 0, maxBytes: 80_000)
            read.append(contentsOf: try await file.read(at: 80_000, maxBytes: 10))  // past the end: nothing
            var missing: MinissError?
            do { _ = try File.open(path + "-missing") } catch let error as MinissError { missing = error }
            return (read, try file.size(), missing)
        }
        var expected = Array((0..<70_000).map { UInt8(truncatingIfNeeded: $0) })
        expected[10] = 0xAA
        expected[11] = 0xBB
        #expect(read == expected)
        #expect(size == 70_000)
        #expect(missing?.systemError == ENOENT)
        #expect(missing?.message.contains("-missing") == true, "the error names the path")
    }

    @Test(arguments: backends)
    func aSignalDeliveredToTheShardIsReceived(backend: IOBackend) throws {
        let runtime = try Self.runtime(backend)
        defer { runtime.shutdown() }
        let signal = try runtime.run { () -> Signal in
            // Blocked first, so the signal waits for the signalfd instead of killing the test.
            try Signals.block([.user1])
            let waiter = spawn { try await Signals.wait(for: [.user1, .user2]) }
            await Shard.yield()
            try Signals.raiseInCurrentThread(.user1)
            return try await waiter.value
        }
        #expect(signal == .user1)
    }

    @Test func streamsBelongToTheirShard() throws {
        let runtime = try Self.runtime(.automatic, shards: 2)
        defer { runtime.shutdown() }
        let message = try runtime.run { () -> String? in
            let listener = try TCPListener(bindingTo: Self.loopback)
            defer { listener.close() }
            let client = try await TCPStream.connect(to: listener.localAddress)
            defer { client.close() }
            return try await submit(to: 1) { () -> String? in
                do {
                    try await client.write([1])
                    return nil
                } catch let error as MinissError {
                    return error.message
                }
            }
        }
        #expect(message?.contains("belongs to shard 0") == true)
    }

    @Test func badAddressesAreClearErrors() {
        #expect(throws: MinissError.self) { try SocketAddress(host: "example.com", port: 80) }
        #expect(throws: MinissError.self) { try SocketAddress(host: "127.0.0.1", port: 70_000) }
        #expect(throws: MinissError.self) { try SocketAddress("nonsense") }
        #expect((try? SocketAddress("[::1]:8080"))?.description == "[::1]:8080")
        #expect((try? SocketAddress("localhost:80"))?.description == "127.0.0.1:80")
    }

    @Test func ioOffAShardIsRefused() async throws {
        await #expect(throws: MinissError.self) { _ = try await TCPStream.connect(to: Self.loopback) }
    }

    @Test(arguments: backends)
    func shutdownWithIOInFlightCompletesIt(backend: IOBackend) throws {
        let runtime = try Self.runtime(backend)
        let handles = try runtime.run { () -> (JoinHandle<Void>, JoinHandle<[UInt8]>) in
            let listener = try TCPListener(bindingTo: Self.loopback)
            let client = try await TCPStream.connect(to: listener.localAddress)
            let acceptor = spawn {
                for try await connection in listener.connections { _ = connection }
            }
            let reader = spawn { try await client.read() }
            await Shard.yield()
            return (acceptor, reader)
        }
        runtime.shutdown()
        #expect(handles.0.isFinished && handles.1.isFinished, "shutdown cancels tasks blocked in I/O")
    }
}

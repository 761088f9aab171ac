import Miniss

#if canImport(Glibc)
    import Glibc
#endif

extension SimulationScenario {
    /// `log-crash-recovery`: a write-ahead log on the simulated disk, crashed at a random moment.
    package static let logCrashRecovery = SimulationScenario(
        name: "log-crash-recovery",
        summary:
            "clients on shard 1 append records to a checksummed log on shard 0 (group commit: write, fsync, then "
            + "acknowledge); the disk crashes at a random moment (swarm disk errors and torn writes); recovery must "
            + "find every acknowledged record, in order, and nothing that was never appended",
        shards: 2, faults: .swarm
    ) { { try await CrashRecoveryLog.run(plantedBug: nil) } }

    /// `buggy-log-ack-before-sync`: the same log with a planted bug: it acknowledges a batch as
    /// soon as it is written, before the fsync.
    package static let buggyLogAckBeforeSync = SimulationScenario(
        name: "buggy-log-ack-before-sync",
        summary:
            "log-crash-recovery with a planted bug: appends are acknowledged once written, before the fsync, so a "
            + "crash loses acknowledged records",
        shards: 2, isDeliberatelyBuggy: true, faults: .swarm
    ) { { try await CrashRecoveryLog.run(plantedBug: .acknowledgesBeforeSync) } }

    /// `log-crash-recovery` with a planted bug (for the tests).
    package static func logCrashRecovery(plantedBug: LogBug) -> SimulationScenario {
        SimulationScenario(
            name: "buggy-log-\(plantedBug)", summary: "log-crash-recovery with the planted bug \(plantedBug)",
            shards: 2,
            isDeliberatelyBuggy: true, faults: .swarm
        ) { { try await CrashRecoveryLog.run(plantedBug: plantedBug) } }
    }
}

/// A bug to plant in `log-crash-recovery`, to show that its invariants and the disk's faults
/// catch it.
package enum LogBug: Sendable {
    /// Acknowledges a batch once written, before the sync.
    case acknowledgesBeforeSync
    /// Retries a sync that failed and acknowledges when the retry succeeds (after a failed
    /// fsync the kernel may have dropped the data: the retry succeeds without writing it).
    case retriesFailedSync
    /// Recovery trusts the length field and skips the checksum.
    case ignoresChecksums
}

/// A write-ahead log under crashes.
///
/// The log lives on shard 0 in one simulated file. Clients on shard 1 append records with
/// `submit(to: 0)`; the log batches what arrives (group commit): it writes the batch after the
/// last record, calls `sync()`, and only then acknowledges the batch. Any write or sync error
/// stops the log for good (after a failed fsync nothing is known about what reached the disk),
/// so the appends waiting and every later one fail. The disk crashes once
/// (``Simulation/crashDisk()``) — at a random moment, or right after the k-th acknowledgement,
/// at the latest when the clients are done: unsynced writes survive whole, in part (torn: some
/// of their sectors) or not at all, and writes a failed sync dropped are gone.
/// Recovery then reads the file from the start and keeps records up to the first one whose
/// length or checksum does not hold.
///
/// Invariants, and the bugs they catch:
/// - every acknowledged record is recovered, in append order — an acknowledgement before the
///   data is durable (``LogBug/acknowledgesBeforeSync``, shipped as
///   `buggy-log-ack-before-sync`), a retried sync trusted after a failed one
///   (``LogBug/retriesFailedSync``), a sync that does not cover the batch, a batch written at
///   the wrong offset;
/// - every recovered record was appended, with the payload appended — a recovery that trusts a
///   torn record (``LogBug/ignoresChecksums``), or reads past the valid prefix;
/// - no acknowledged append also reports an error, and none is acknowledged twice.
enum CrashRecoveryLog {
    static let logShard = 0
    static let clientShard = 1
    static let path = "/log"

    /// One record: an id and a payload; on disk `[length u32][checksum u32][id u64][payload]`.
    struct Record: Equatable, Sendable {
        var id: UInt64
        var payload: [UInt8]

        var encoded: [UInt8] {
            var bytes: [UInt8] = []
            append(UInt32(payload.count), to: &bytes)
            append(Record.checksum(id: id, payload: payload), to: &bytes)
            append(id, to: &bytes)
            return bytes + payload
        }

        static func checksum(id: UInt64, payload: [UInt8]) -> UInt32 {
            var hash: UInt32 = 0x811c_9dc5
            for byte in withUnsafeBytes(of: id.littleEndian, Array.init) + payload {
                hash = (hash ^ UInt32(byte)) &* 0x0100_0193
            }
            return hash
        }

        /// The records at the start of `bytes`, up to the first that does not parse or check.
        static func decodeValidPrefix(_ bytes: [UInt8], checksums: Bool = true) -> [Record] {
            var records: [Record] = []
            var offset = 0
            while offset + 16 <= bytes.count {
                let length = Int(read(UInt32.self, bytes, at: offset))
                let checksum = read(UInt32.self, bytes, at: offset + 4)
                let id = read(UInt64.self, bytes, at: offset + 8)
                guard length > 0, offset + 16 + length <= bytes.count else { break }
                let payload = Array(bytes[offset + 16..<offset + 16 + length])
                guard !checksums || checksum == Record.checksum(id: id, payload: payload) else { break }
                records.append(Record(id: id, payload: payload))
                offset += 16 + length
            }
            return records
        }
    }

    static func append<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    static func read<T: FixedWidthInteger>(_: T.Type, _ bytes: [UInt8], at offset: Int) -> T {
        var value = T.zero
        for index in (0..<MemoryLayout<T>.size).reversed() { value = value << 8 | T(bytes[offset + index]) }
        return value
    }

    /// The log's writer, on shard 0.
    final class Log: @unchecked Sendable {
        // SAFETY (@unchecked Sendable): touched only by tasks on shard 0 (clients reach it with
        // `submit(to: 0)`), under the simulator's one thread.
        let file: File
        let plantedBug: LogBug?
        var end: UInt64 = 0
        var queue: [(Record, CheckedContinuation<Void, any Error>)] = []
        var writerRunning = false
        var failure: (any Error)?

        init(plantedBug: LogBug?) throws {
            file = try File.open(path, options: [.read, .write, .create, .truncate])
            self.plantedBug = plantedBug
        }

        /// Returns once `record` is durable (or throws if the log failed first).
        func append(_ record: Record) async throws {
            if let failure { throw failure }
            try await withCheckedThrowingContinuation { continuation in
                queue.append((record, continuation))
                if !writerRunning {
                    writerRunning = true
                    spawn { [self] in await writeBatches() }
                }
            }
        }

        /// Group commit: write what is queued in one write, sync, acknowledge; repeat.
        private func writeBatches() async {
            while !queue.isEmpty {
                let batch = queue
                queue.removeAll()
                let bytes = batch.flatMap { $0.0.encoded }
                var acknowledged = false
                do {
                    try await file.write(bytes, at: end)
                    end += UInt64(bytes.count)
                    if plantedBug == .acknowledgesBeforeSync {
                        for (_, continuation) in batch { continuation.resume() }
                        acknowledged = true
                    }
                    do {
                        try await file.sync()
                    } catch  where plantedBug == .retriesFailedSync {
                        try await file.sync()
                    }
                    if !acknowledged { for (_, continuation) in batch { continuation.resume() } }
                } catch {
                    failure = error
                    if !acknowledged { for (_, continuation) in batch { continuation.resume(throwing: error) } }
                    for (_, continuation) in queue { continuation.resume(throwing: error) }
                    queue.removeAll()
                }
            }
            writerRunning = false
        }
    }

    /// What the clients saw (shard 1), and whether the disk has crashed.
    final class Outcome: @unchecked Sendable {
        // SAFETY (@unchecked Sendable): touched by tasks on shards 0 and 1, which under the
        // simulator all run on its one thread, one job at a time.
        var appended: [UInt64: [UInt8]] = [:]
        var acknowledged: [UInt64] = []
        var failed: Set<UInt64> = []
        var crashed = false

        /// The run's one crash (unless the disk crashed after a file operation already).
        func crash() {
            guard !crashed else { return }
            crashed = true
            Simulation.crashDisk()
        }
    }

    static func run(plantedBug: LogBug?) async throws {
        let log = try Log(plantedBug: plantedBug)
        let outcome = Outcome()
        // The crash, one of: at a random moment while the clients append; right after the n-th
        // file operation (a write that landed before its sync, a sync); right after a client
        // receives its k-th acknowledgement — the moment durability is promised. At the latest
        // once the clients are done, so every seed checks a recovery.
        let moment = Simulation.random(in: 0..<3)
        let crashesAfterAcknowledgement = moment == 2 ? Simulation.random(in: 1..<8) : nil
        if moment == 1 { Simulation.crashDisk(afterFileOperations: Simulation.random(in: 1..<30)) }
        let crash = spawn {
            guard moment == 0 else { return }
            try await sleep(for: .microseconds(Simulation.random(in: 0..<3_000)))
            outcome.crash()
        }
        try await submit(to: clientShard) {
            let clients = (0..<Simulation.random(in: 1..<4)).map { client in
                spawn {
                    for index in 0..<Simulation.random(in: 1..<12) {
                        let id = UInt64(client * 1_000 + index)
                        let payload = (0..<Simulation.random(in: 1..<2_000)).map {
                            UInt8(truncatingIfNeeded: $0 &+ Int(id) &* 7)
                        }
                        outcome.appended[id] = payload
                        let record = Record(id: id, payload: payload)
                        do {
                            try await submit(to: logShard) { try await log.append(record) }
                            invariant(!outcome.acknowledged.contains(id), "record \(id) acknowledged twice")
                            outcome.acknowledged.append(id)
                            if outcome.acknowledged.count == crashesAfterAcknowledgement { outcome.crash() }
                        } catch {
                            // The log failed (disk error or crash): this client stops.
                            outcome.failed.insert(id)
                            return
                        }
                        if Simulation.random(in: 0..<2) == 0 {
                            try await sleep(for: .microseconds(Simulation.random(in: 1..<500)))
                        }
                    }
                }
            }
            for client in clients { try await client.value }
        }
        crash.cancel()
        _ = try? await crash.value
        outcome.crash()
        log.file.close()

        // Recovery: read the whole file again, after the crash (retrying a read that fails:
        // the simulated disk's errors are transient).
        let file = try File.open(path, options: .read)
        defer { file.close() }
        var bytes: [UInt8] = []
        var failedReads = 0
        while true {
            let chunk: [UInt8]
            do {
                chunk = try await file.read(at: UInt64(bytes.count), maxBytes: 64 * 1024)
            } catch let error as MinissError where error.systemError == EIO && failedReads < 20 {
                failedReads += 1
                continue
            }
            if chunk.isEmpty { break }
            bytes += chunk
        }
        let recovered = Record.decodeValidPrefix(bytes, checksums: plantedBug != .ignoresChecksums)
        let (appended, acknowledged, failed) = try await submit(to: clientShard) {
            (outcome.appended, outcome.acknowledged, outcome.failed)
        }
        for id in acknowledged {
            invariant(!failed.contains(id), "record \(id) was acknowledged and also reported as failed")
        }
        let recoveredIDs = Set(recovered.map(\.id))
        for record in recovered {
            invariant(
                appended[record.id] == record.payload,
                "recovered record \(record.id) was never appended with that payload")
        }
        for id in acknowledged {
            invariant(
                recoveredIDs.contains(id),
                "record \(id) was acknowledged but is not in the recovered log (\(recovered.count) records recovered, "
                    + "\(acknowledged.count) acknowledged)")
        }
        // Each client's acknowledged records were appended in its order: recovery keeps it.
        let positions = Dictionary(uniqueKeysWithValues: recovered.enumerated().map { ($1.id, $0) })
        for client in 0..<3 {
            let ids = acknowledged.filter { $0 / 1_000 == UInt64(client) }
            let order = ids.compactMap { positions[$0] }
            invariant(order == order.sorted(), "client \(client)'s records were recovered out of order")
        }
    }
}

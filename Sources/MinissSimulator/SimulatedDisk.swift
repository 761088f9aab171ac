import Miniss

#if canImport(Glibc)
    import Glibc
#endif

/// The simulated disk: one flat namespace of files (a path names a file; there are no
/// directories), shared by every shard of a run. Each file has what readers see (the page
/// cache) and what survives a crash (what was synced); writes since the last sync are kept in
/// order, so a crash can keep some of them, lose others and tear some in the middle.
final class SimulatedDisk {
    final class Node {
        var data: [UInt8] = []
        var durable: [UInt8] = []
        var unsynced: [Change] = []
    }

    /// A change not synced yet.
    enum Change {
        case write(offset: Int, bytes: [UInt8])
        case truncate(size: Int)
    }

    var files: [String: Node] = [:]
    /// Bumped by each crash (so it counts them): handles opened before it fail with EIO.
    var generation = 0
    /// Crash right after this many more file operations take effect (`Simulation.crashDisk(afterFileOperations:)`).
    var crashCountdown: Int?
}

/// An open simulated file.
final class SimulatedFileHandle: SimulatedObject {
    let node: SimulatedDisk.Node
    let readable: Bool
    let writable: Bool
    let appends: Bool
    let generation: Int

    init(shard: Int, node: SimulatedDisk.Node, options: File.Options, generation: Int) {
        self.node = node
        readable = options.contains(.read)
        writable = options.contains(.write)
        appends = options.contains(.append)
        self.generation = generation
        super.init(shard: shard)
    }
}

extension SimulatedDisk.Node {
    func apply(_ change: SimulatedDisk.Change, to contents: inout [UInt8]) {
        switch change {
        case .write(let offset, let bytes):
            if contents.count < offset + bytes.count {
                contents.append(contentsOf: repeatElement(0, count: offset + bytes.count - contents.count))
            }
            contents.replaceSubrange(offset..<offset + bytes.count, with: bytes)
        case .truncate(let size):
            if size < contents.count {
                contents.removeSubrange(size...)
            } else {
                contents.append(contentsOf: repeatElement(0, count: size - contents.count))
            }
        }
    }

    func change(_ change: SimulatedDisk.Change) {
        apply(change, to: &data)
        unsynced.append(change)
    }

    /// Makes the pending changes durable.
    func sync() {
        for change in unsynced { apply(change, to: &durable) }
        unsynced.removeAll()
    }

    /// A failed fsync: as on Linux, the pending changes stay visible to readers but are no
    /// longer pending — a later fsync succeeds without writing them, and a crash loses them.
    func failSync() {
        unsynced.removeAll()
    }
}

extension SimulatedWorld {
    func openFile(_ path: String, options: File.Options, shard: Int) -> Int32 {
        guard !path.isEmpty else { return -ENOENT }
        let node: SimulatedDisk.Node
        if let existing = disk.files[path] {
            if options.contains(.create) && options.contains(.exclusive) { return -EEXIST }
            node = existing
        } else {
            guard options.contains(.create) else { return -ENOENT }
            // Simplification: a new file's name is durable at once (no directory fsync).
            node = SimulatedDisk.Node()
            disk.files[path] = node
        }
        if options.contains(.truncate) && options.contains(.write) && !node.data.isEmpty {
            node.change(.truncate(size: 0))
        }
        return register(
            SimulatedFileHandle(shard: shard, node: node, options: options, generation: disk.generation))
    }

    func fileSize(_ fd: Int32) -> Int64 {
        guard let file = objects[fd] as? SimulatedFileHandle else { return -Int64(EBADF) }
        guard file.generation == disk.generation else { return -Int64(EIO) }
        return Int64(file.node.data.count)
    }

    /// Starts a file operation: it takes effect after the disk's latency, when it completes
    /// (a crash before then makes it fail with EIO, like every handle opened before the crash).
    func startFileOperation(_ operation: IOOperation, shard: Int) {
        guard let file = objects[operation.fd] as? SimulatedFileHandle else {
            return complete(operation, on: shard, with: operation.fd < simulatedDescriptorBase ? -EOPNOTSUPP : -EBADF)
        }
        perform(operation, on: shard, after: draw(plan.diskLatency)) { [self] in
            let result = fileOperationTakesEffect(operation, on: file)
            if let countdown = disk.crashCountdown {
                disk.crashCountdown = countdown > 1 ? countdown - 1 : nil
                if countdown == 1 { crashDisk() }
            }
            return result
        }
    }

    /// What a file operation does when it completes: its result, or -errno.
    private func fileOperationTakesEffect(_ operation: IOOperation, on file: SimulatedFileHandle) -> Int32 {
        guard file.generation == disk.generation else { return -EIO }
        if happens(plan.diskErrors) {
            if operation.kind == .fsync || operation.kind == .fdatasync { file.node.failSync() }
            return -EIO
        }
        switch operation.kind {
        case .readAt:
            guard file.readable else { return -EBADF }
            let offset = Int(clamping: operation.fileOffset)
            let count = max(0, min(operation.length, file.node.data.count - offset))
            if count > 0 {
                file.node.data.withUnsafeBytes { source in
                    // SAFETY: `offset + count <= data.count`; the operation's buffer holds
                    // at least `length >= count` bytes.
                    operation.bytes.copyMemory(from: source.baseAddress! + offset, byteCount: count)
                }
            }
            return Int32(count)
        case .writeAt:
            guard file.writable else { return -EBADF }
            let offset = file.appends ? file.node.data.count : Int(clamping: operation.fileOffset)
            let bytes = Array(UnsafeRawBufferPointer(start: operation.bytes, count: operation.length))
            file.node.change(.write(offset: offset, bytes: bytes))
            return Int32(operation.length)
        case .fsync, .fdatasync:
            file.node.sync()
            return 0
        default:
            return -EOPNOTSUPP
        }
    }

    /// Power loss: every file falls back to what was synced plus a random part of what was
    /// not (each unsynced change survives whole or is lost, one chance in two; with the plan's
    /// ``FaultPlan/tornWrites`` chance a write survives only in part: a random subset of its
    /// 512-byte sectors, or a prefix of a write within one sector), and every open handle fails
    /// from now on. A crash armed by ``Simulation/crashDisk(afterFileOperations:)`` is disarmed.
    func crashDisk() {
        disk.crashCountdown = nil
        disk.generation += 1
        record(0, .crash, disk.generation)
        for path in disk.files.keys.sorted() {
            let node = disk.files[path]!
            var contents = node.durable
            for change in node.unsynced {
                if case .write(let offset, let bytes) = change, bytes.count > 1, happens(plan.tornWrites) {
                    for piece in tear(bytes, at: offset) { node.apply(piece, to: &contents) }
                } else if Bool.random(using: &random) {
                    node.apply(change, to: &contents)
                }
            }
            node.data = contents
            node.durable = contents
            node.unsynced.removeAll()
        }
    }

    /// What survives of a torn write: some of its sectors (never all, never none) — the file
    /// may end up longer, with the lost sectors' old bytes or zeros in between — or, for a
    /// write within one sector, a prefix.
    private func tear(_ bytes: [UInt8], at offset: Int) -> [SimulatedDisk.Change] {
        let sector = 512
        var pieces: [(Int, Int)] = []  // (start, end) within `bytes`, on sector boundaries of the file
        var start = 0
        while start < bytes.count {
            let end = min(bytes.count, (offset + start) / sector * sector + sector - offset)
            pieces.append((start, end))
            start = end
        }
        guard pieces.count > 1 else {
            let kept = Int.random(in: 1..<bytes.count, using: &random)
            return [.write(offset: offset, bytes: Array(bytes[..<kept]))]
        }
        var keep = pieces.map { _ in Bool.random(using: &random) }
        if keep.allSatisfy({ $0 }) { keep[Int.random(in: 0..<keep.count, using: &random)] = false }
        if !keep.contains(true) { keep[Int.random(in: 0..<keep.count, using: &random)] = true }
        return zip(pieces, keep).compactMap { piece, kept in
            kept ? .write(offset: offset + piece.0, bytes: Array(bytes[piece.0..<piece.1])) : nil
        }
    }
}

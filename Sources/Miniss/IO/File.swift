import CMinissLinux

#if canImport(Glibc)
    import Glibc
#endif

/// An open file, owned by the shard that opened it. Reads and writes name their offset.
///
/// ```swift
/// let file = try File.open("/tmp/data", options: [.write, .create, .truncate])
/// try await file.write(Array("hello".utf8), at: 0)
/// try await file.sync()
/// let bytes = try await file.read(at: 0, maxBytes: 5)
/// file.close()
/// ```
///
/// With io_uring, reads, writes and syncs are queued to the kernel; with epoll (which cannot
/// wait for regular files) they run synchronously on the shard.
public final class File: @unchecked Sendable {
    // SAFETY (@unchecked Sendable): `operation` is touched only on the home shard's thread;
    // each public method starts with `descriptor.checkHome`.
    let descriptor: Descriptor
    /// The path the file was opened with.
    public let path: String

    /// How to open a file.
    public struct Options: OptionSet, Sendable {
        /// The options as bits.
        public let rawValue: Int
        /// Creates options from bits.
        public init(rawValue: Int) { self.rawValue = rawValue }
        /// Open for reading.
        public static let read = Options(rawValue: 1)
        /// Open for writing.
        public static let write = Options(rawValue: 2)
        /// Create the file if it does not exist.
        public static let create = Options(rawValue: 4)
        /// Empty the file on open.
        public static let truncate = Options(rawValue: 8)
        /// Every write goes to the end (the offset is ignored by the kernel).
        public static let append = Options(rawValue: 16)
        /// With `create`: fail if the file exists.
        public static let exclusive = Options(rawValue: 32)
    }

    private init(fd: Int32, home: ShardEngine, path: String) {
        self.path = path
        descriptor = Descriptor(fd: fd, home: home, kind: "File \(path)")
    }

    /// Opens `path`. New files get `permissions` (before the umask).
    ///
    /// - Throws: I/O errors naming the path and errno (`ENOENT`, `EACCES`, ...),
    ///   ``MinissError/Code/invalidArgument`` for options without `.read` or `.write`.
    public static func open(_ path: String, options: Options = .read, permissions: UInt32 = 0o644) throws -> File {
        let engine = try currentEngine("File.open")
        guard options.contains(.read) || options.contains(.write) else {
            throw MinissError.invalidArgument("File.open(\(path)): options need .read or .write")
        }
        guard let driver = engine.driver else { throw MinissError.runtimeNotRunning("open a file") }
        let fd = driver.openFile(path, options: options, permissions: permissions)
        guard fd >= 0 else { throw MinissError.io("open \(path)", errno: -fd) }
        return File(fd: fd, home: engine, path: path)
    }

    /// Reads up to `maxBytes` bytes at `offset`; fewer (or none) at the end of the file.
    public func read(at offset: UInt64, maxBytes: Int) async throws -> [UInt8] {
        let engine = try descriptor.checkHome("read")
        guard maxBytes > 0 else { throw MinissError.invalidArgument("read(maxBytes:) needs maxBytes > 0") }
        let operation = IOOperation(.readAt, fd: descriptor.fd)
        operation.buffer = IOBuffer(capacity: maxBytes)
        operation.length = maxBytes
        operation.fileOffset = offset
        descriptor.track(operation)
        let result = try await engine.perform(operation)
        guard result >= 0 else { throw error(result, "read") }
        return Array(UnsafeRawBufferPointer(start: operation.bytes, count: Int(result)))
    }

    /// Writes all of `bytes` at `offset`.
    public func write(_ bytes: [UInt8], at offset: UInt64) async throws {
        let engine = try descriptor.checkHome("write")
        guard !bytes.isEmpty else { return }
        let operation = IOOperation(.writeAt, fd: descriptor.fd)
        operation.buffer = IOBuffer(capacity: bytes.count)
        bytes.withUnsafeBytes { source in
            // SAFETY: the buffer holds `bytes.count` bytes and no request uses it yet.
            operation.buffer!.base.copyMemory(from: source.baseAddress!, byteCount: source.count)
        }
        var written = 0
        while written < bytes.count {
            operation.bufferOffset = written
            operation.length = bytes.count - written
            operation.fileOffset = offset + UInt64(written)
            descriptor.track(operation)
            let result = try await engine.perform(operation)
            guard result > 0 else { throw error(result == 0 ? -EIO : result, "write") }
            written += Int(result)
        }
    }

    /// Flushes written data (and, unless `dataOnly`, metadata) to the device.
    public func sync(dataOnly: Bool = false) async throws {
        let engine = try descriptor.checkHome("sync")
        let operation = IOOperation(dataOnly ? .fdatasync : .fsync, fd: descriptor.fd)
        descriptor.track(operation)
        let result = try await engine.perform(operation)
        guard result >= 0 else { throw error(result, "sync") }
    }

    /// The file's size in bytes.
    public func size() throws -> UInt64 {
        let engine = try descriptor.checkHome("size")
        let result = engine.driver?.fileSize(descriptor.fd) ?? -Int64(EBADF)
        guard result >= 0 else { throw MinissError.io("fstat \(path)", errno: Int32(-result)) }
        return UInt64(result)
    }

    /// Closes the file. Idempotent.
    public func close() {
        descriptor.close()
    }

    private func error(_ result: Int32, _ action: String) -> MinissError {
        if result == -ECANCELED {
            return MinissError(.closed, "\(path) was closed while a \(action) waited on it", systemError: ECANCELED)
        }
        return MinissError.io("\(action) \(path)", errno: -result)
    }
}

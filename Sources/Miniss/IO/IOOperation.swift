import CMinissLinux

#if canImport(Glibc)
    import Glibc
#endif

/// Memory handed to the kernel by I/O operations.
///
/// SAFETY: `base` is allocated in `init` and freed only in `deinit`. An operation in flight
/// holds a strong reference to its buffer (``IOOperation/buffer``) until its completion has
/// been reaped, so the kernel never writes into freed memory, even when the task that started
/// the operation was cancelled and has moved on.
package final class IOBuffer {
    package let base: UnsafeMutableRawPointer
    package let capacity: Int

    package init(capacity: Int) {
        precondition(capacity > 0, "an I/O buffer needs at least one byte")
        self.capacity = capacity
        self.base = .allocate(byteCount: capacity, alignment: 16)
    }

    deinit { base.deallocate() }
}

/// One I/O request: what to do, the memory the kernel may touch while it runs, and who to tell
/// when it completes.
///
/// A driver completes an operation on the shard thread with ``complete(_:more:)``: a result
/// `>= 0` or `-errno`, like the syscall. Multishot operations (accept) complete many times,
/// with `more` set on all but the last completion.
package final class IOOperation: @unchecked Sendable {
    // SAFETY (@unchecked Sendable): an operation is created, started, cancelled and completed
    // on one shard thread. Other threads only carry the reference into `ShardEngine.execute`
    // (the cancellation handler), which runs the cancel on that shard.

    package enum Kind: UInt8, Sendable {
        case accept, connect, receive, send, readStream, readAt, writeAt, fsync, fdatasync, receiveFrom, sendTo

        /// Readiness-based drivers wait for input before retrying these.
        package var waitsForInput: Bool {
            switch self {
            case .accept, .receive, .readStream, .receiveFrom: return true
            default: return false
            }
        }

        /// Regular-file operations: never "ready"-polled, always run to completion.
        package var isFileOperation: Bool {
            switch self {
            case .readAt, .writeAt, .fsync, .fdatasync: return true
            default: return false
            }
        }
    }

    package let kind: Kind
    package let fd: Int32
    /// The memory read into or written from; owned by the operation while it is in flight.
    package var buffer: IOBuffer?
    /// Where in `buffer` the bytes start, and how many.
    package var bufferOffset = 0
    package var length = 0
    /// For `.readAt` / `.writeAt`.
    package var fileOffset: UInt64 = 0
    /// The address for `.connect` and `.sendTo`, and the sender's for `.receiveFrom`; owned by
    /// the operation (freed in `deinit`, after the completion).
    package private(set) var address: UnsafeMutablePointer<miniss_address>?
    /// recvmsg/sendmsg header and its one iovec (io_uring's `.receiveFrom` / `.sendTo`).
    package private(set) var message: UnsafeMutablePointer<msghdr>?
    private var vector: UnsafeMutablePointer<iovec>?
    /// Accept as a multishot request: one completion per connection.
    package var isMultishot = false

    /// Counts `perform` calls, so a late cancellation handler cancels only its own request (the
    /// operation object is reused for the next read or write).
    package var ticket = 0
    /// Driver bookkeeping (shard thread only).
    package var isInFlight = false
    package var cancelRequested = false
    /// Epoll: a connect was issued and the driver now waits for the socket to become writable.
    package var connectIssued = false
    /// io_uring: the request was retried once after -EAGAIN from a non-blocking descriptor.
    package var retriedBlocking = false

    /// The single waiter of a one-shot operation.
    package var continuation: UnsafeContinuation<Int32, Never>?
    /// The receiver of a multishot operation's completions.
    package var onCompletion: ((Int32, Bool) -> Void)?

    package init(_ kind: Kind, fd: Int32) {
        self.kind = kind
        self.fd = fd
    }

    /// Gives the operation its own copy of `address` (connect, sendTo).
    package func setAddress(_ value: miniss_address) {
        let storage = allocateAddress()
        storage.pointee = value
    }

    /// Storage for the address the kernel fills in (receiveFrom).
    @discardableResult
    package func allocateAddress() -> UnsafeMutablePointer<miniss_address> {
        if let address { return address }
        let storage = UnsafeMutablePointer<miniss_address>.allocate(capacity: 1)
        storage.initialize(to: miniss_address())
        address = storage
        return storage
    }

    /// Builds the msghdr io_uring's recvmsg/sendmsg read: one iovec over the buffer, the address.
    package func prepareMessage() -> UnsafeMutablePointer<msghdr> {
        let address = allocateAddress()
        if message == nil {
            message = .allocate(capacity: 1)
            message!.initialize(to: msghdr())
            vector = .allocate(capacity: 1)
            vector!.initialize(to: iovec())
        }
        // SAFETY: both pointers are owned by this operation and live until `deinit`; the buffer
        // is retained by `buffer` while the request is in flight.
        vector!.pointee = iovec(iov_base: buffer!.base + bufferOffset, iov_len: length)
        message!.pointee = msghdr()
        message!.pointee.msg_iov = vector
        message!.pointee.msg_iovlen = 1
        // `storage` is the first field of miniss_address: the address is the sockaddr.
        message!.pointee.msg_name = UnsafeMutableRawPointer(address)
        message!.pointee.msg_namelen =
            kind == .sendTo ? address.pointee.length : UInt32(MemoryLayout<sockaddr_storage>.size)
        return message!
    }

    /// After a `.receiveFrom` through recvmsg: records the sender address length.
    package func finishMessage() {
        if let message, let address, kind == .receiveFrom { address.pointee.length = message.pointee.msg_namelen }
    }

    /// The bytes the kernel reads from or writes into.
    package var bytes: UnsafeMutableRawPointer {
        // SAFETY: callers start only operations that have a buffer; it is retained meanwhile.
        buffer!.base + bufferOffset
    }

    /// Delivers a completion (shard thread).
    package func complete(_ result: Int32, more: Bool = false) {
        if let onCompletion {
            onCompletion(result, more)
            return
        }
        let waiter = continuation
        continuation = nil
        waiter?.resume(returning: result)
    }

    /// Runs the operation as a non-blocking syscall (the epoll driver, and the file operations
    /// it runs synchronously). Returns the result or `-errno` (`-EAGAIN`: not ready).
    package func attemptSyscall() -> Int32 {
        switch kind {
        case .accept:
            var peer = miniss_address()
            return miniss_accept(fd, true, &peer)
        case .connect:
            if connectIssued { return miniss_socket_error(fd) }
            connectIssued = true
            let result = miniss_connect(fd, address!)
            return result == -EINPROGRESS ? -EAGAIN : result
        case .receive:
            return Int32(truncatingIfNeeded: miniss_recv(fd, bytes, UInt(length)))
        case .send:
            return Int32(truncatingIfNeeded: miniss_send(fd, bytes, UInt(length)))
        case .readStream:
            let count = Glibc.read(fd, bytes, length)
            return count < 0 ? -errno : Int32(truncatingIfNeeded: count)
        case .readAt:
            return Int32(truncatingIfNeeded: miniss_pread(fd, bytes, UInt(length), fileOffset))
        case .writeAt:
            return Int32(truncatingIfNeeded: miniss_pwrite(fd, bytes, UInt(length), fileOffset))
        case .fsync:
            return miniss_fsync(fd, false)
        case .fdatasync:
            return miniss_fsync(fd, true)
        case .receiveFrom:
            return Int32(truncatingIfNeeded: miniss_recv_from(fd, bytes, UInt(length), allocateAddress()))
        case .sendTo:
            return Int32(truncatingIfNeeded: miniss_send_to(fd, bytes, UInt(length), address!))
        }
    }

    deinit {
        precondition(!isInFlight, "an I/O operation was released while the kernel still owned it")
        address?.deallocate()
        message?.deallocate()
        vector?.deallocate()
    }
}

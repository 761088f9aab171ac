import CMinissLinux
import CMinissUring

#if canImport(Glibc)
    import Glibc
#endif

/// The io_uring backend: every operation is a submission queue entry, and the shard enters the
/// kernel at most once per loop iteration (``park(timeoutNanoseconds:)`` submits what is queued
/// and reaps completions in the same `io_uring_enter`). An eventfd read kept in flight on the
/// ring is the wake-up channel.
///
/// Created on the shard thread (the ring is set up `SINGLE_ISSUER` | `DEFER_TASKRUN` where the
/// kernel has them, found by trying), and only that thread submits.
package final class UringDriver: ShardDriver, @unchecked Sendable {
    // SAFETY (@unchecked Sendable): `ring`, `wakeArmed`, `wakeBuffer` and `inFlightCount` are
    // touched only by the shard thread that created the driver; other threads call only
    // `wake()`, an eventfd write. That fd is closed in `deinit`, not `close()`: a thread that saw
    // the shard parked may call `wake()` after the shard has stopped, and it holds the engine,
    // which holds this driver, so the fd number cannot be reused under it.
    package let name = "io_uring"
    package let wantsNonBlockingSockets = false
    private let ring: OpaquePointer
    private let wakeFD: Int32
    /// The 8-byte buffer of the in-flight eventfd read. Owned by that read while `wakeArmed`.
    private let wakeBuffer: UnsafeMutablePointer<UInt64>
    private var wakeArmed = false
    /// Operations submitted whose last completion has not been reaped.
    private var inFlightCount = 0

    // Tags below 4096 are never operation addresses.
    private static let wakeTag: UInt64 = 1
    private static let cancelTag: UInt64 = 2

    package init(entries: UInt32 = 512) throws {
        // Blocking: an io_uring read of a non-blocking eventfd may complete at once with EAGAIN
        // on some kernels instead of waiting, which would turn every park into a busy loop.
        let fd = miniss_eventfd(false)
        guard fd >= 0 else {
            throw MinissError.backendUnavailable(
                backend: "io_uring", syscall: "eventfd", errno: errno,
                hint: "the process may be out of file descriptors (ulimit -n)")
        }
        var applied: UInt32 = 0
        var error: Int32 = 0
        let wanted = miniss_uring_flag_single_issuer() | miniss_uring_flag_defer_taskrun()
        guard let ring = miniss_uring_create(entries, wanted, &applied, &error) else {
            Glibc.close(fd)
            throw MinissError.backendUnavailable(
                backend: "io_uring", syscall: "io_uring_setup", errno: -error, hint: Self.hint(forErrno: -error))
        }
        self.ring = ring
        self.wakeFD = fd
        self.wakeBuffer = .allocate(capacity: 1)
        self.wakeBuffer.initialize(to: 0)
    }

    static func hint(forErrno code: Int32) -> String {
        switch code {
        case EPERM, EACCES:
            return "io_uring is refused here: check `sysctl kernel.io_uring_disabled` (0 allows it) "
                + "or the container's seccomp policy, or use MINISS_BACKEND=epoll"
        case ENOSYS:
            return "this kernel has no io_uring; use MINISS_BACKEND=epoll"
        case ENOMEM:
            return "the ring could not be allocated: raise RLIMIT_MEMLOCK (ulimit -l) or use MINISS_BACKEND=epoll"
        default:
            return "use MINISS_BACKEND=epoll to run without io_uring"
        }
    }

    package var hasPendingIO: Bool { inFlightCount > 0 || miniss_uring_pending_submissions(ring) > 0 }

    package func park(timeoutNanoseconds: UInt64?) {
        if timeoutNanoseconds == 0 {
            _ = miniss_uring_submit_and_poll(ring)
            reap()
            return
        }
        if !wakeArmed {
            // SAFETY: the kernel writes 8 bytes into `wakeBuffer`; the buffer stays allocated
            // until `close()`, which first waits for this read's completion.
            if miniss_uring_prep_read(ring, wakeFD, wakeBuffer, 8, 0, Self.wakeTag) == 0 {
                wakeArmed = true
            }
        }
        let timeout = timeoutNanoseconds.map { Int64(clamping: $0) } ?? -1
        _ = miniss_uring_submit_and_wait(ring, 1, timeout)
        reap()
    }

    private func reap() {
        var tags = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        var results = (Int32(0), Int32(0), Int32(0), Int32(0), Int32(0), Int32(0), Int32(0), Int32(0))
        var flags = (UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0))
        while true {
            let count = withUnsafeMutableBytes(of: &tags) { tagBytes in
                withUnsafeMutableBytes(of: &results) { resultBytes in
                    withUnsafeMutableBytes(of: &flags) { flagBytes in
                        miniss_uring_reap(
                            ring, tagBytes.baseAddress!.assumingMemoryBound(to: UInt64.self),
                            resultBytes.baseAddress!.assumingMemoryBound(to: Int32.self),
                            flagBytes.baseAddress!.assumingMemoryBound(to: UInt32.self), 8)
                    }
                }
            }
            guard count > 0 else { return }
            for index in 0..<Int(count) {
                let tag = withUnsafeBytes(of: &tags) { $0.load(fromByteOffset: index * 8, as: UInt64.self) }
                let result = withUnsafeBytes(of: &results) { $0.load(fromByteOffset: index * 4, as: Int32.self) }
                let flag = withUnsafeBytes(of: &flags) { $0.load(fromByteOffset: index * 4, as: UInt32.self) }
                dispatch(tag: tag, result: result, more: flag & UInt32(MINISS_CQE_F_MORE) != 0)
            }
            if count < 8 { return }
        }
    }

    private func dispatch(tag: UInt64, result: Int32, more: Bool) {
        switch tag {
        case Self.wakeTag:
            wakeArmed = false
        case Self.cancelTag:
            break
        default:
            // SAFETY: operation tags are `passRetained` pointers made in `submit`; the request's
            // last completion (no F_MORE) balances that retain, earlier ones only borrow it.
            guard let pointer = UnsafeRawPointer(bitPattern: UInt(tag)) else { return }
            let unmanaged = Unmanaged<IOOperation>.fromOpaque(pointer)
            let operation = more ? unmanaged.takeUnretainedValue() : unmanaged.takeRetainedValue()
            if !more {
                operation.isInFlight = false
                inFlightCount -= 1
            }
            if result == -EAGAIN && !more && !operation.kind.isFileOperation && !operation.retriedBlocking
                && !operation.cancelRequested
            {
                // The descriptor is non-blocking (made by a readiness-based shard): io_uring
                // then reports EAGAIN instead of waiting. Make it blocking and go again.
                operation.retriedBlocking = true
                _ = miniss_set_nonblocking(operation.fd, false)
                start(operation)
                return
            }
            if operation.kind == .receiveFrom { operation.finishMessage() }
            operation.complete(result, more: more)
        }
    }

    package func attemptNow(_ operation: IOOperation) -> Int32? {
        // A send usually fits in the socket buffer: one non-blocking syscall then costs less
        // than a submission plus a task suspension. What does not fit goes through the ring.
        guard operation.kind == .send else { return nil }
        let result = Int32(truncatingIfNeeded: miniss_send_now(operation.fd, operation.bytes, UInt(operation.length)))
        return result == -EAGAIN ? nil : result
    }

    package func start(_ operation: IOOperation) {
        precondition(!operation.isInFlight, "an I/O operation was started twice")
        operation.cancelRequested = false
        // SAFETY: the retain keeps the operation (and the buffer, address and message it owns)
        // alive until the request's last completion is reaped in `dispatch`.
        let tag = UInt64(UInt(bitPattern: Unmanaged.passRetained(operation).toOpaque()))
        let fd = operation.fd
        let length = UInt32(clamping: operation.length)
        let queued: Int32
        switch operation.kind {
        case .accept: queued = miniss_uring_prep_accept(ring, fd, operation.isMultishot, tag)
        case .connect:
            // SAFETY: `storage` is the first field of miniss_address, so the address is the
            // sockaddr; the operation owns it until this request's completion is reaped.
            let address = operation.address!
            let socketAddress = UnsafeRawPointer(address).assumingMemoryBound(to: sockaddr.self)
            queued = miniss_uring_prep_connect(ring, fd, socketAddress, address.pointee.length, tag)
        case .receive: queued = miniss_uring_prep_recv(ring, fd, operation.bytes, length, tag)
        case .send: queued = miniss_uring_prep_send(ring, fd, operation.bytes, length, tag)
        case .readStream: queued = miniss_uring_prep_read(ring, fd, operation.bytes, length, UInt64.max, tag)
        case .readAt: queued = miniss_uring_prep_read(ring, fd, operation.bytes, length, operation.fileOffset, tag)
        case .writeAt:
            queued = miniss_uring_prep_write(ring, fd, operation.bytes, length, operation.fileOffset, tag)
        case .fsync: queued = miniss_uring_prep_fsync(ring, fd, false, tag)
        case .fdatasync: queued = miniss_uring_prep_fsync(ring, fd, true, tag)
        case .receiveFrom, .sendTo:
            let message = operation.prepareMessage()
            queued =
                operation.kind == .sendTo
                ? miniss_uring_prep_sendmsg(ring, fd, message, tag) : miniss_uring_prep_recvmsg(ring, fd, message, tag)
        }
        guard queued == 0 else {
            // The submission queue stayed full even after submitting: report it as the
            // syscall would (no request exists, so nothing is owned by the kernel).
            // SAFETY: balances the `passRetained` above; the caller still holds `operation`.
            Unmanaged.passUnretained(operation).release()
            operation.complete(-EBUSY)
            return
        }
        operation.isInFlight = true
        inFlightCount += 1
    }

    package func cancel(_ operation: IOOperation) {
        guard operation.isInFlight, !operation.cancelRequested else { return }
        operation.cancelRequested = true
        // SAFETY: only the address is used, as the tag to match; the in-flight request holds its
        // own retain of `operation`.
        let tag = UInt64(UInt(bitPattern: Unmanaged.passUnretained(operation).toOpaque()))
        // If even the cancel cannot be queued, the operation simply runs to completion.
        _ = miniss_uring_prep_cancel(ring, tag, Self.cancelTag)
    }

    package func forget(fd: Int32) {
        // Requests on `fd` may still sit in the submission queue (and their cancels with them).
        // Submit them now, while `fd` is still this descriptor: the kernel then holds its own
        // reference to the file, and a socket that reuses the number after the close cannot
        // receive them.
        if miniss_uring_pending_submissions(ring) > 0 { _ = miniss_uring_submit(ring) }
    }

    package func cancelAll() {
        guard inFlightCount > 0 else { return }
        // Bounded: a request the kernel cannot cancel (a regular-file write in progress) ends
        // on its own; after 5 s we report what is left rather than hang the shutdown. The
        // cancel is repeated each round, for requests started by completions meanwhile.
        let deadline = miniss_monotonic_ns() + 5_000_000_000
        while inFlightCount > 0 && miniss_monotonic_ns() < deadline {
            _ = miniss_uring_prep_cancel_all(ring, Self.cancelTag)
            _ = miniss_uring_submit_and_wait(ring, 1, 10_000_000)
            reap()
        }
        if inFlightCount > 0 {
            print("miniss: io_uring: \(inFlightCount) requests did not complete at shutdown; their buffers are kept")
        }
    }

    package func wake() {
        _ = miniss_eventfd_signal(wakeFD)
    }

    package func close() {
        // The eventfd read owns `wakeBuffer` until its completion is reaped: complete it first.
        while wakeArmed {
            _ = miniss_eventfd_signal(wakeFD)
            _ = miniss_uring_submit_and_wait(ring, 1, 100_000_000)
            reap()
        }
        if inFlightCount == 0 {
            miniss_uring_destroy(ring)
            wakeBuffer.deallocate()
        }
        // Otherwise the ring (and what its requests own) is leaked on purpose: freeing memory
        // the kernel may still write to would be worse. cancelAll() has reported it.
    }

    deinit {
        Glibc.close(wakeFD)
    }
}

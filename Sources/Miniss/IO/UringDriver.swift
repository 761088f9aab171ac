import CMinissLinux
import CMinissUring

#if canImport(Glibc)
    import Glibc
#endif

/// The io_uring backend: the shard parks in one `io_uring_enter` that waits for a completion
/// or a timeout. An eventfd read kept in flight on the ring is the wake-up channel.
///
/// Created on the shard thread (the ring is set up `SINGLE_ISSUER` where the kernel has it, and
/// only that thread submits).
package final class UringDriver: ShardDriver, @unchecked Sendable {
    // SAFETY (@unchecked Sendable): `ring`, `wakeArmed` and `wakeBuffer` are touched only by the
    // shard thread that created the driver; other threads call only `wake()`, an eventfd write.
    // That fd is closed in `deinit`, not `close()`: a thread that saw the shard parked may call
    // `wake()` after the shard has stopped, and it holds the engine, which holds this driver, so
    // the fd number cannot be reused under it.
    package let name = "io_uring"
    private let ring: OpaquePointer
    private let wakeFD: Int32
    /// The 8-byte buffer of the in-flight eventfd read. Owned by that read while `wakeArmed`.
    private let wakeBuffer: UnsafeMutablePointer<UInt64>
    private var wakeArmed = false

    private static let wakeTag: UInt64 = 1

    package init(entries: UInt32 = 256) throws {
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

    package func park(timeoutNanoseconds: UInt64?) {
        if !wakeArmed {
            // SAFETY: the kernel writes 8 bytes into `wakeBuffer`; the buffer stays allocated
            // until `close()`, which first waits for this read's completion.
            if miniss_uring_prep_read(ring, wakeFD, wakeBuffer, 8, Self.wakeTag) == 0 {
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
        while true {
            let count = withUnsafeMutableBytes(of: &tags) { tagBytes in
                withUnsafeMutableBytes(of: &results) { resultBytes in
                    miniss_uring_reap(
                        ring, tagBytes.baseAddress!.assumingMemoryBound(to: UInt64.self),
                        resultBytes.baseAddress!.assumingMemoryBound(to: Int32.self), 8)
                }
            }
            guard count > 0 else { return }
            withUnsafeBytes(of: &tags) { tagBytes in
                for index in 0..<Int(count)
                where tagBytes.load(fromByteOffset: index * 8, as: UInt64.self) == Self.wakeTag {
                    wakeArmed = false
                }
            }
            if count < 8 { return }
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
        miniss_uring_destroy(ring)
        wakeBuffer.deallocate()
    }

    deinit {
        Glibc.close(wakeFD)
    }
}

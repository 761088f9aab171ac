import CMinissLinux

#if canImport(Glibc)
    import Glibc
#endif

/// The epoll backend: the shard parks in `epoll_wait` on an eventfd (the wake-up channel).
/// Timeouts are rounded up to whole milliseconds, so it never wakes before a timer is due.
package final class EpollDriver: ShardDriver, @unchecked Sendable {
    // SAFETY (@unchecked Sendable): the epoll fd is used only by the shard thread; other threads
    // call only `wake()`, an eventfd write. That fd is closed in `deinit`, not `close()`: a
    // thread that saw the shard parked may call `wake()` after the shard has stopped, and it
    // holds the engine, which holds this driver, so the fd number cannot be reused under it.
    package let name = "epoll"
    private let epollFD: Int32
    private let wakeFD: Int32
    private static let wakeTag: UInt64 = 1

    package init() throws {
        let epollFD = miniss_epoll_create()
        guard epollFD >= 0 else {
            throw MinissError.backendUnavailable(
                backend: "epoll", syscall: "epoll_create1", errno: errno,
                hint: "the process may be out of file descriptors (ulimit -n)")
        }
        let wakeFD = miniss_eventfd(true)
        guard wakeFD >= 0 else {
            let code = errno
            Glibc.close(epollFD)
            throw MinissError.backendUnavailable(
                backend: "epoll", syscall: "eventfd", errno: code,
                hint: "the process may be out of file descriptors (ulimit -n)")
        }
        let added = miniss_epoll_add_readable(epollFD, wakeFD, Self.wakeTag)
        guard added == 0 else {
            Glibc.close(wakeFD)
            Glibc.close(epollFD)
            throw MinissError.backendUnavailable(
                backend: "epoll", syscall: "epoll_ctl", errno: -added, hint: "unexpected; please report it")
        }
        self.epollFD = epollFD
        self.wakeFD = wakeFD
    }

    package func park(timeoutNanoseconds: UInt64?) {
        let timeoutMilliseconds: Int32
        if let nanoseconds = timeoutNanoseconds {
            timeoutMilliseconds = Int32(clamping: (nanoseconds + 999_999) / 1_000_000)
        } else {
            timeoutMilliseconds = -1
        }
        var tags = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        let count = withUnsafeMutableBytes(of: &tags) { bytes in
            miniss_epoll_wait(epollFD, bytes.baseAddress!.assumingMemoryBound(to: UInt64.self), 8, timeoutMilliseconds)
        }
        guard count > 0 else { return }
        withUnsafeBytes(of: &tags) { bytes in
            for index in 0..<Int(count) where bytes.load(fromByteOffset: index * 8, as: UInt64.self) == Self.wakeTag {
                _ = miniss_eventfd_drain(wakeFD)
            }
        }
    }

    package func wake() {
        _ = miniss_eventfd_signal(wakeFD)
    }

    package func close() {
        Glibc.close(epollFD)
    }

    deinit {
        Glibc.close(wakeFD)
    }
}

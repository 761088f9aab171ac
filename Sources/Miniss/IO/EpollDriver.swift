import CMinissLinux

#if canImport(Glibc)
    import Glibc
#endif

/// The epoll backend: readiness-based. An operation first tries its syscall on the non-blocking
/// descriptor; if that would block, it waits in the descriptor's queue until epoll reports the
/// descriptor ready (edge-triggered, registered once per descriptor), then tries again.
/// Regular-file operations (which epoll cannot wait for) run synchronously.
///
/// The shard parks in `epoll_wait`; an eventfd is the wake-up channel. Timeouts are rounded up
/// to whole milliseconds, so it never wakes before a timer is due.
package final class EpollDriver: ShardDriver, @unchecked Sendable {
    // SAFETY (@unchecked Sendable): the epoll fd and `descriptors` are used only by the shard
    // thread; other threads call only `wake()`, an eventfd write. That fd is closed in `deinit`,
    // not `close()`: a thread that saw the shard parked may call `wake()` after the shard has
    // stopped, and it holds the engine, which holds this driver, so the fd number cannot be
    // reused under it.
    package let name = "epoll"
    package let wantsNonBlockingSockets = true
    private let epollFD: Int32
    private let wakeFD: Int32
    private static let wakeTag: UInt64 = 1 << 40

    /// Operations waiting for one descriptor to become readable or writable, oldest first.
    private final class Waiters {
        var readers: [IOOperation] = []
        var writers: [IOOperation] = []
    }

    private var descriptors: [Int32: Waiters] = [:]
    /// epoll_wait's output, reused across parks. SAFETY: allocated in init, freed in deinit,
    /// written only by epoll_wait on the shard thread.
    private let tags = UnsafeMutablePointer<UInt64>.allocate(capacity: batch)
    private let readiness = UnsafeMutablePointer<UInt32>.allocate(capacity: batch)
    private static let batch = 128
    private var waitingCount = 0

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

    package var hasPendingIO: Bool { waitingCount > 0 }

    package func park(timeoutNanoseconds: UInt64?) {
        let timeoutMilliseconds: Int32
        if let nanoseconds = timeoutNanoseconds {
            timeoutMilliseconds = Int32(clamping: (nanoseconds + 999_999) / 1_000_000)
        } else {
            timeoutMilliseconds = -1
        }
        let count = miniss_epoll_wait_events(epollFD, tags, readiness, Int32(Self.batch), timeoutMilliseconds)
        guard count > 0 else { return }
        for index in 0..<Int(count) {
            if tags[index] == Self.wakeTag {
                _ = miniss_eventfd_drain(wakeFD)
            } else {
                ready(fd: Int32(truncatingIfNeeded: tags[index]), readiness: readiness[index])
            }
        }
    }

    /// Retries the operations waiting on `fd` in the directions it became ready for.
    private func ready(fd: Int32, readiness: UInt32) {
        guard let waiters = descriptors[fd] else { return }
        if readiness & 1 != 0 { retry(waiters, input: true) }
        if readiness & 2 != 0 { retry(waiters, input: false) }
    }

    /// Retries the waiting operations of one direction, oldest first, until one would block.
    /// No access to the queues is held across `drive`: a completion may cancel an operation.
    private func retry(_ waiters: Waiters, input: Bool) {
        while let operation = input ? waiters.readers.first : waiters.writers.first {
            let keepWaiting = drive(operation)
            // `cancel` (from a multishot completion) has removed and completed it already.
            if !operation.isInFlight { continue }
            if keepWaiting { return }
            remove(operation, from: waiters)
            operation.complete(lastResult)
        }
    }

    /// Takes `operation` out of its queue. Returns false if it was in none.
    @discardableResult
    private func remove(_ operation: IOOperation, from waiters: Waiters) -> Bool {
        if let index = waiters.readers.firstIndex(where: { $0 === operation }) {
            waiters.readers.remove(at: index)
        } else if let index = waiters.writers.firstIndex(where: { $0 === operation }) {
            waiters.writers.remove(at: index)
        } else {
            return false
        }
        waitingCount -= 1
        operation.isInFlight = false
        return true
    }

    /// The result of the last `drive` that ended an operation, for its caller to deliver once
    /// the operation is out of the queues.
    private var lastResult: Int32 = 0

    /// Runs `operation`'s syscall until it would block. Returns true if it must keep waiting;
    /// otherwise its result is in `lastResult`, not yet delivered. A multishot accept delivers
    /// each connection as it goes and always keeps waiting (unless cancelled meanwhile).
    private func drive(_ operation: IOOperation) -> Bool {
        while true {
            let result = operation.attemptSyscall()
            // An interrupted connect goes on in the background, like EINPROGRESS.
            if result == -EINTR && operation.kind != .connect { continue }
            if result == -EAGAIN || result == -EINTR { return true }
            if operation.isMultishot {
                operation.complete(result, more: true)
                if operation.cancelRequested { return true }
                // After an error (EMFILE, ...) wait for the next edge instead of spinning.
                if result < 0 { return true }
                continue
            }
            lastResult = result
            return false
        }
    }

    package func attemptNow(_ operation: IOOperation) -> Int32? {
        if operation.kind.isFileOperation { return operation.attemptSyscall() }
        guard !operation.isMultishot, operation.kind != .connect, descriptors[operation.fd] != nil else { return nil }
        let result = operation.attemptSyscall()
        return result == -EAGAIN || result == -EINTR ? nil : result
    }

    package func start(_ operation: IOOperation) {
        precondition(!operation.isInFlight, "an I/O operation was started twice")
        operation.cancelRequested = false
        if operation.kind.isFileOperation {
            operation.complete(operation.attemptSyscall())
            return
        }
        let waiters = register(operation.fd)
        guard drive(operation) else {
            operation.complete(lastResult)
            return
        }
        if operation.cancelRequested {
            operation.complete(-ECANCELED)
            return
        }
        operation.isInFlight = true
        waitingCount += 1
        if operation.kind.waitsForInput {
            waiters.readers.append(operation)
        } else {
            waiters.writers.append(operation)
        }
    }

    /// The waiter queues of `fd`, registering it (non-blocking, edge-triggered) the first time.
    private func register(_ fd: Int32) -> Waiters {
        if let waiters = descriptors[fd] { return waiters }
        let waiters = Waiters()
        descriptors[fd] = waiters
        _ = miniss_set_nonblocking(fd, true)
        // EPERM (a regular file) or EEXIST cannot happen for sockets, pipes and signalfds we
        // create; were it to, the operation would wait for a readiness that never comes, so
        // report it loudly instead.
        let added = miniss_epoll_add_edge(epollFD, fd, UInt64(UInt32(bitPattern: fd)))
        if added != 0 && added != -EEXIST {
            print("miniss: epoll_ctl(ADD, fd \(fd)) failed with errno \(-added)")
        }
        return waiters
    }

    package func cancel(_ operation: IOOperation) {
        guard operation.isInFlight, let waiters = descriptors[operation.fd] else {
            // Cancelled while `start` drives it (a multishot completion asked): `start` ends it.
            operation.cancelRequested = true
            return
        }
        operation.cancelRequested = true
        guard remove(operation, from: waiters) else { return }
        operation.complete(-ECANCELED)
    }

    package func forget(fd: Int32) {
        guard let waiters = descriptors.removeValue(forKey: fd) else { return }
        _ = miniss_epoll_remove(epollFD, fd)
        for operation in waiters.readers + waiters.writers {
            waitingCount -= 1
            operation.isInFlight = false
            operation.cancelRequested = true
            operation.complete(-ECANCELED)
        }
    }

    package func cancelAll() {
        for fd in Array(descriptors.keys) { forget(fd: fd) }
    }

    package func wake() {
        _ = miniss_eventfd_signal(wakeFD)
    }

    package func close() {
        Glibc.close(epollFD)
    }

    deinit {
        tags.deallocate()
        readiness.deallocate()
        Glibc.close(wakeFD)
    }
}

import CMinissLinux
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A one-shot value handed from one thread to another that blocks for it.
package final class Latch<Value: Sendable>: @unchecked Sendable {
    // SAFETY (@unchecked Sendable): `value` is read and written only with `mutex` held; the
    // mutex and condition are allocated in init and destroyed in deinit, when no thread can be
    // waiting (a waiter holds a reference).
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var value: Value?

    init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    /// Stores the value (the first one wins) and wakes the waiter.
    func set(_ newValue: Value) {
        pthread_mutex_lock(mutex)
        if value == nil { value = newValue }
        pthread_cond_broadcast(condition)
        pthread_mutex_unlock(mutex)
    }

    /// Blocks the calling thread until a value is set.
    func wait() -> Value {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while true {
            if let value { return value }
            pthread_cond_wait(condition, mutex)
        }
    }
}

/// An OS thread running one closure. Any number of threads may `join()` it; one of them reaps
/// the thread, the others wait until it has ended. Never joined, it is detached when released.
package final class OSThread: @unchecked Sendable {
    // SAFETY (@unchecked Sendable): `handle` is written once by `init` before the object is
    // shared; whether it has been reaped is behind `reaped`.
    private var handle = pthread_t()
    private let reaped = Lock(false)
    private let finished = Latch<Bool>()

    private final class Context {
        let name: String
        let body: () -> Void
        let finished: Latch<Bool>
        init(name: String, body: @escaping () -> Void, finished: Latch<Bool>) {
            self.name = name
            self.body = body
            self.finished = finished
        }
    }

    package init(name: String, _ body: @escaping () -> Void) {
        // SAFETY: the context is retained here and released exactly once by the new thread.
        let context = Unmanaged.passRetained(Context(name: name, body: body, finished: finished)).toOpaque()
        let result = pthread_create(
            &handle, nil,
            { argument in
                let context = Unmanaged<Context>.fromOpaque(argument!).takeRetainedValue()
                miniss_set_thread_name(context.name)
                context.body()
                context.finished.set(true)
                return nil
            }, context)
        precondition(result == 0, "pthread_create failed with errno \(result)")
    }

    /// Waits until the thread has ended. Must not be called from the thread itself.
    package func join() {
        precondition(!isCurrent, "a thread cannot join itself")
        let reaper = reaped.withLock { reaped -> Bool in
            defer { reaped = true }
            return !reaped
        }
        if reaper {
            pthread_join(handle, nil)
        } else {
            _ = finished.wait()
        }
    }

    deinit {
        let wasReaped = reaped.withLock { $0 }
        if !wasReaped { pthread_detach(handle) }
    }

    /// Whether the calling thread is this thread.
    var isCurrent: Bool { pthread_equal(pthread_self(), handle) != 0 }
}

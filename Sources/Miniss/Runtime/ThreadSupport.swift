import CMinissLinux

#if canImport(Glibc)
    import Glibc
#endif

/// A one-shot value handed from one thread to another that blocks for it.
final class Latch<Value: Sendable>: @unchecked Sendable {
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

/// A joinable OS thread running one closure.
final class OSThread: @unchecked Sendable {
    // SAFETY (@unchecked Sendable): `handle` is written once by `init` before the object is
    // shared, then only read by `join`, which the owner calls once.
    private var handle = pthread_t()
    private var joined = false

    private final class Context {
        let name: String
        let body: () -> Void
        init(name: String, body: @escaping () -> Void) {
            self.name = name
            self.body = body
        }
    }

    init(name: String, _ body: @escaping () -> Void) {
        // SAFETY: the context is retained here and released exactly once by the new thread.
        let context = Unmanaged.passRetained(Context(name: name, body: body)).toOpaque()
        let result = pthread_create(
            &handle, nil,
            { argument in
                let context = Unmanaged<Context>.fromOpaque(argument!).takeRetainedValue()
                miniss_set_thread_name(context.name)
                context.body()
                return nil
            }, context)
        precondition(result == 0, "pthread_create failed with errno \(result)")
    }

    /// Waits for the thread to end. Call once, from another thread, or `detach()` instead.
    func join() {
        guard !joined else { return }
        joined = true
        pthread_join(handle, nil)
    }

    /// Lets the thread release its resources when it ends, without being joined.
    func detach() {
        guard !joined else { return }
        joined = true
        pthread_detach(handle)
    }

    /// Whether the calling thread is this thread.
    var isCurrent: Bool { pthread_equal(pthread_self(), handle) != 0 }
}

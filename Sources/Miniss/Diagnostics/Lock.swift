import Synchronization

#if MINISS_TSAN
    #if canImport(Glibc)
        import Glibc
    #endif

    /// The lock Miniss uses for state shared between threads. In `make tsan` builds
    /// (`-DMINISS_TSAN`) it is a pthread mutex: `Synchronization.Mutex` takes its contended
    /// path (`_lockSlow`, a futex) inside the uninstrumented Swift runtime, so ThreadSanitizer
    /// cannot see that path's happens-before edges and reports false races. TSan intercepts
    /// pthread mutexes. Which state each lock protects is the same in both builds; only the
    /// lock's implementation differs.
    @usableFromInline
    package struct Lock<Value>: ~Copyable, @unchecked Sendable {
        // SAFETY (@unchecked Sendable): `box.value` is only touched between
        // pthread_mutex_lock and pthread_mutex_unlock on `box.mutex`.
        @usableFromInline
        final class Box {
            @usableFromInline let mutex: UnsafeMutablePointer<pthread_mutex_t>
            @usableFromInline var value: Value

            @usableFromInline
            init(_ value: consuming Value) {
                mutex = .allocate(capacity: 1)
                pthread_mutex_init(mutex, nil)
                self.value = value
            }

            deinit {
                pthread_mutex_destroy(mutex)
                mutex.deallocate()
            }
        }

        @usableFromInline let box: Box

        @inlinable
        package init(_ value: consuming sending Value) {
            box = Box(value)
        }

        @inlinable
        package borrowing func withLock<Result>(_ body: (inout sending Value) throws -> sending Result) rethrows
            -> sending Result
        {
            pthread_mutex_lock(box.mutex)
            defer { pthread_mutex_unlock(box.mutex) }
            return try body(&box.value)
        }
    }
#else
    /// The lock Miniss uses for state shared between threads: `Synchronization.Mutex` (see the
    /// `MINISS_TSAN` variant for why ThreadSanitizer builds use another).
    @usableFromInline
    package typealias Lock<Value> = Mutex<Value>
#endif

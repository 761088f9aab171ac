import CMinissLinux

#if canImport(Glibc)
    import Glibc
#endif

/// Measures ring throughput with a producer and a consumer on two threads pinned to two CPUs,
/// inside this module so the ring is specialized as the runtime uses it.
package enum SPSCRingBenchmark {
    /// Moves `messages` integers through a ring of `capacity`, publishing every `batch` pushes.
    /// Returns the wall time in nanoseconds, or nil if the order check failed.
    package static func run(messages: Int, capacity: Int = 1024, batch: Int = 1) -> UInt64? {
        let ring = SPSCRing<Int, PaddedAtomicIndex>(capacity: capacity)
        let start = Latch<Bool>()
        let ordered = Latch<Bool>()
        let consumer = OSThread(name: "bench-consumer") {
            _ = miniss_pin_current_thread(miniss_allowed_cpu(1))
            _ = start.wait()
            var expected = 0
            var inOrder = true
            while expected < messages {
                let popped = ring.popAll { value in
                    if value != expected { inOrder = false }
                    expected &+= 1
                }
                if popped == 0 { spinPause() }
            }
            ordered.set(inOrder)
        }
        _ = miniss_pin_current_thread(miniss_allowed_cpu(0))
        let begin = miniss_monotonic_ns()
        start.set(true)
        var next = 0
        while next < messages {
            var pushed = 0
            while pushed < batch && next < messages && ring.tryPushWithoutPublishing(next) {
                next += 1
                pushed += 1
            }
            ring.publish()
            if pushed == 0 { spinPause() }
        }
        let inOrder = ordered.wait()
        let elapsed = miniss_monotonic_ns() - begin
        consumer.join()
        return inOrder ? elapsed : nil
    }

    @inline(__always)
    private static func spinPause() {
        // Without a pause a waiting side can starve the other on an oversubscribed machine.
        sched_yield()
    }
}

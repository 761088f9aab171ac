import CMinissLinux
import Synchronization

/// Where a shard engine reads the time: the monotonic clock in production, a virtual clock in
/// tests and under the simulator. All shards of one runtime share one source.
package protocol TimeSource: AnyObject, Sendable {
    /// Nanoseconds since an arbitrary fixed origin; never decreases.
    var nowNanoseconds: UInt64 { get }
    /// Whether the engine may move time forward itself when it has nothing to run.
    var isVirtual: Bool { get }
    /// Moves virtual time forward to `nanoseconds` (no-op if already there or past).
    func advance(to nanoseconds: UInt64)
}

/// CLOCK_MONOTONIC.
package final class MonotonicTimeSource: TimeSource {
    package init() {}
    package var nowNanoseconds: UInt64 { miniss_monotonic_ns() }
    package var isVirtual: Bool { false }
    package func advance(to nanoseconds: UInt64) {}
}

/// Virtual time: starts at a fixed origin and moves only when told to.
package final class VirtualTimeSource: TimeSource {
    private let now: Atomic<UInt64>

    package init(startNanoseconds: UInt64 = 0) {
        now = Atomic(startNanoseconds)
    }

    package var nowNanoseconds: UInt64 { now.load(ordering: .acquiring) }
    package var isVirtual: Bool { true }

    package func advance(to nanoseconds: UInt64) {
        var current = now.load(ordering: .relaxed)
        while current < nanoseconds {
            let (exchanged, original) = now.compareExchange(
                expected: current, desired: nanoseconds, ordering: .acquiringAndReleasing)
            if exchanged { return }
            current = original
        }
    }
}

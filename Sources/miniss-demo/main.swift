// miniss-demo: a tour of the runtime — spawn and join, timers, a periodic task, cancellation
// and timeouts — on one shard. `make run` starts it; it finishes in about two seconds.
import Miniss

let runtime = try Runtime(shards: 1)
print("miniss-demo: 1 shard on \(runtime.backendName) (\(Runtime.availableCPUCount) CPUs available)")

try runtime.run {
    let clock = ShardClock()
    let start = clock.now
    @Sendable func stamp() -> String {
        let (seconds, attoseconds) = start.duration(to: clock.now).components
        let milliseconds = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        return "[\(String(milliseconds).leftPadded(to: 5)) ms]"
    }

    // 1. Spawn tasks and join them.
    let squares = (1...5).map { number in spawn { number * number } }
    var total = 0
    for square in squares { total += try await square.value }
    print("\(stamp()) spawned 5 tasks on shard \(Shard.current!.id); sum of squares = \(total)")

    // 2. A periodic task on the shard's timer wheel.
    let heartbeat = spawnPeriodic(every: .milliseconds(250)) {
        print("\(stamp()) heartbeat")
    }

    // 3. Cancellation reaches a sleeping task at once.
    let sleeper = spawn { () -> String in
        try await sleep(for: .seconds(3600))
        return "woke up after an hour"
    }
    try await sleep(for: .milliseconds(300))
    sleeper.cancel()
    do {
        _ = try await sleeper.value
    } catch is CancellationError {
        print("\(stamp()) cancelled a task sleeping for an hour; it ended at once")
    }

    // 4. A timeout that fires, and one that does not.
    do {
        _ = try await timeout(after: .milliseconds(200)) { try await sleep(for: .seconds(10)) }
    } catch let error as MinissError where error.code == .timedOut {
        print("\(stamp()) \(error)")
    }
    let quick = try await timeout(after: .seconds(1)) { () -> String in
        try await Task.sleep(for: .milliseconds(100))  // Task.sleep runs on the shard's wheel too
        return "finished in time"
    }
    print("\(stamp()) second operation \(quick)")

    // 5. An interval that skips ticks missed while busy.
    var interval = try Interval(every: .milliseconds(100), missedTickBehavior: .skip)
    for _ in 0..<3 { try await interval.tick() }
    print("\(stamp()) interval ticked 3 times")

    try await sleep(for: .milliseconds(600))
    heartbeat.cancel()
    try await heartbeat.wait()
    print("\(stamp()) stopped the heartbeat after \(heartbeat.completedRuns) runs")
}

runtime.shutdown()
print("miniss-demo: runtime shut down cleanly")

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}

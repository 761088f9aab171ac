// miniss-bench: the runtime's micro-benchmarks, as ratios against a peer measured in the same
// run, plus CPU time per operation. `make bench` runs it in release mode.
//
//   miniss-bench [--json FILE] [--markdown FILE] [--quick]
import CMinissLinux
import CMinissUring
import Foundation
import Miniss
import MinissSimulator

struct Measurement: Codable {
    var name: String
    var operations: Int
    /// Median wall time per operation over the repetitions.
    var nanosecondsPerOperation: Double
    /// Median process CPU time (user + system) per operation.
    var cpuNanosecondsPerOperation: Double
    var target: String?
}

struct Report: Codable {
    var date: String
    var cpus: Int
    var backend: String
    var measurements: [Measurement]
    var ratios: [String: Double]
}

var arguments = CommandLine.arguments.dropFirst()
var jsonPath: String?
var markdownPath: String?
var quick = false
while let argument = arguments.popFirst() {
    switch argument {
    case "--json": jsonPath = arguments.popFirst()
    case "--markdown": markdownPath = arguments.popFirst()
    case "--quick": quick = true
    default:
        FileHandle.standardError.write(
            "usage: miniss-bench [--json FILE] [--markdown FILE] [--quick]\n".data(using: .utf8)!)
        exit(2)
    }
}
let repetitions = quick ? 3 : 7

/// Runs `body` (which performs `operations` operations) `repetitions` times and keeps the
/// median wall and CPU time per operation.
func measure(_ name: String, operations: Int, target: String? = nil, _ body: () throws -> Void) rethrows
    -> Measurement
{
    var wall: [Double] = []
    var cpu: [Double] = []
    try body()  // warm-up
    for _ in 0..<repetitions {
        let cpuStart = miniss_process_cpu_ns()
        let start = miniss_monotonic_ns()
        try body()
        wall.append(Double(miniss_monotonic_ns() - start) / Double(operations))
        cpu.append(Double(miniss_process_cpu_ns() - cpuStart) / Double(operations))
    }
    let result = Measurement(
        name: name, operations: operations, nanosecondsPerOperation: wall.sorted()[wall.count / 2],
        cpuNanosecondsPerOperation: cpu.sorted()[cpu.count / 2], target: target)
    print(
        String(
            format: "%-48@ %10.1f ns/op  %10.1f cpu-ns/op%@", name as NSString, result.nanosecondsPerOperation,
            result.cpuNanosecondsPerOperation, (target.map { "   target \($0)" } ?? "") as NSString))
    return result
}

/// Blocks until an async closure finishes on the default (global) executor.
func blockOnDefaultExecutor(_ body: @escaping @Sendable () async -> Void) {
    let done = DispatchSemaphore(value: 0)
    Task {
        await body()
        done.signal()
    }
    done.wait()
}

var measurements: [Measurement] = []
var ratios: [String: Double] = [:]

// MARK: Spawn and complete

// Read before any benchmark pins this thread (the affinity mask is per thread).
let cpuCount = Runtime.availableCPUCount
let runtime = try Runtime(shards: 1)
print("backend: \(runtime.backendName), cpus: \(cpuCount)\n")
let sequentialSpawns = quick ? 20_000 : 100_000
let batchSpawns = quick ? 20_000 : 100_000

let ourSequential = try measure(
    "spawn+await, one at a time (shard)", operations: sequentialSpawns, target: "<= 300 ns"
) {
    _ = try runtime.run {
        var sum = 0
        for index in 0..<sequentialSpawns { sum &+= try await spawn { index }.value }
        return sum
    }
}
let ourBatch = try measure("spawn 1000, then await all (shard)", operations: batchSpawns) {
    _ = try runtime.run {
        var sum = 0
        var handles: [JoinHandle<Int>] = []
        handles.reserveCapacity(1000)
        for round in 0..<(batchSpawns / 1000) {
            for index in 0..<1000 { handles.append(spawn { index &+ round }) }
            for handle in handles { sum &+= try await handle.value }
            handles.removeAll(keepingCapacity: true)
        }
        return sum
    }
}
// The floor: a bare Swift task with the shard as executor preference, no Miniss bookkeeping.
let floorSequential = try measure("Task(executorPreference: shard) + await (floor)", operations: sequentialSpawns) {
    let shard = runtime.shard(0)
    _ = try runtime.run {
        var sum = 0
        for index in 0..<sequentialSpawns { sum &+= await Task(executorPreference: shard.taskExecutor) { index }.value }
        return sum
    }
}
measurements.append(floorSequential)
let peerSequentialOperations = quick ? 2_000 : 20_000
let peerSequential = measure(
    "Task {} + await, one at a time (default executor)", operations: peerSequentialOperations
) {
    blockOnDefaultExecutor {
        var sum = 0
        for index in 0..<peerSequentialOperations { sum &+= await Task { index }.value }
        _ = sum
    }
}
let peerBatch = measure("Task {} x1000, then await all (default executor)", operations: batchSpawns) {
    blockOnDefaultExecutor {
        var sum = 0
        var tasks: [Task<Int, Never>] = []
        tasks.reserveCapacity(1000)
        for round in 0..<(batchSpawns / 1000) {
            for index in 0..<1000 { tasks.append(Task { index &+ round }) }
            for task in tasks { sum &+= await task.value }
            tasks.removeAll(keepingCapacity: true)
        }
        _ = sum
    }
}
measurements += [ourSequential, ourBatch, peerSequential, peerBatch]
ratios["spawn_sequential_peer_over_shard"] =
    peerSequential.nanosecondsPerOperation / ourSequential.nanosecondsPerOperation
ratios["spawn_sequential_peer_over_shard_cpu"] =
    peerSequential.cpuNanosecondsPerOperation / ourSequential.cpuNanosecondsPerOperation
ratios["spawn_batch_peer_over_shard"] = peerBatch.nanosecondsPerOperation / ourBatch.nanosecondsPerOperation
ratios["spawn_batch_peer_over_shard_cpu"] = peerBatch.cpuNanosecondsPerOperation / ourBatch.cpuNanosecondsPerOperation

// A timer round trip through the whole engine: a task sleeps one tick and the wheel resumes
// it. Wall time is the tick; the CPU time per sleep is the figure (it includes the idle spin).
let sleeps = quick ? 200 : 1_000
measurements.append(
    try measure("sleep(for: 1 ms) on the shard", operations: sleeps) {
        _ = try runtime.run {
            for _ in 0..<sleeps { try await sleep(for: .milliseconds(1)) }
        }
    })
runtime.shutdown()
let noSpin = try Runtime(shards: 1, configuration: .init(idleSpin: .zero))
measurements.append(
    try measure("sleep(for: 1 ms) on the shard, no idle spin", operations: sleeps) {
        _ = try noSpin.run {
            for _ in 0..<sleeps { try await sleep(for: .milliseconds(1)) }
        }
    })
noSpin.shutdown()

print("")
print(
    String(
        format: "spawn+await vs Task{}+await: %.1fx faster (wall), %.1fx less CPU; batched: %.1fx / %.1fx\n",
        ratios["spawn_sequential_peer_over_shard"]!, ratios["spawn_sequential_peer_over_shard_cpu"]!,
        ratios["spawn_batch_peer_over_shard"]!, ratios["spawn_batch_peer_over_shard_cpu"]!))

// MARK: Timer wheel

// Deadlines spread over about 17 minutes of 1 ms ticks, as a busy server's timeouts would be.
let operationsPerRound = quick ? 20_000 : 100_000
for pending in quick ? [1_000, 100_000] : [1_000, 100_000, 1_000_000] {
    let result = TimerWheelBenchmark.run(pending: pending, operations: operationsPerRound, repetitions: repetitions)
    func row(_ name: String, _ value: Double, _ target: String) -> Measurement {
        print(String(format: "%-48@ %10.1f ns/op   target %@", name as NSString, value, target as NSString))
        return Measurement(
            name: name, operations: operationsPerRound, nanosecondsPerOperation: value,
            cpuNanosecondsPerOperation: value, target: target)
    }
    measurements.append(row("timer insert, \(pending) pending", result.insertNanoseconds, "<= 50 ns"))
    measurements.append(row("timer cancel, \(pending) pending", result.cancelNanoseconds, "<= 50 ns"))
    measurements.append(row("timer expiry, \(pending) pending", result.expiryNanoseconds, "<= 20 ns"))
}

// MARK: Cross-shard calls

/// The usual Swift way to reach state owned elsewhere: an actor on the default executor.
actor PeerCounter {
    var value = 0
    func increment() -> Int {
        value += 1
        return value
    }
}

let roundTrips = quick ? 20_000 : 200_000
for (label, spin) in [("both shards polling", Duration.seconds(1)), ("target parked", Duration.zero)] {
    let pair = try Runtime(shards: 2, configuration: .init(idleSpin: spin))
    measurements.append(
        try measure("submit(to:) round trip, \(label)", operations: roundTrips, target: spin > .zero ? "<= 1 µs" : nil)
        {
            _ = try pair.run {
                var sum = 0
                for _ in 0..<roundTrips { sum &+= try await submit(to: 1) { 1 } }
                return sum
            }
        })
    pair.shutdown()
}
/// A counter bound to one shard (its executor is the shard's serial executor).
actor ShardBoundCounter {
    let shard: Shard
    var value = 0
    init(on shard: Shard) { self.shard = shard }
    nonisolated var unownedExecutor: UnownedSerialExecutor { shard.serialExecutor.asUnownedSerialExecutor() }
    func increment() -> Int {
        value += 1
        return value
    }
}
do {
    let pair = try Runtime(shards: 2, configuration: .init(idleSpin: .seconds(1)))
    let counter = ShardBoundCounter(on: pair.shard(1))
    measurements.append(
        try measure("shard-bound actor call from another shard, both polling", operations: roundTrips) {
            _ = try pair.run {
                var sum = 0
                for _ in 0..<roundTrips { sum &+= await counter.increment() }
                return sum
            }
        })
    pair.shutdown()
}
// Waking a parked shard: eventfd (what the drivers use) against io_uring MSG_RING.
let wakeRounds = quick ? 2_000 : 10_000
for (label, useMessageRing) in [("eventfd", false), ("io_uring MSG_RING", true)] {
    var roundTrip: Int64 = 0
    let measurement = measure("wake a parked ring and back, \(label)", operations: wakeRounds) {
        roundTrip = miniss_uring_wake_round_trip_ns(Int32(wakeRounds), useMessageRing)
    }
    if roundTrip < 0 {
        print("  (skipped: \(label) failed with errno \(-roundTrip))")
    } else {
        measurements.append(measurement)
    }
}
let peerCounter = PeerCounter()
let actorPeer = measure("actor call from a task (default executor)", operations: roundTrips) {
    blockOnDefaultExecutor {
        var sum = 0
        for _ in 0..<roundTrips { sum &+= await peerCounter.increment() }
        _ = sum
    }
}
measurements.append(actorPeer)
if let polling = measurements.first(where: { $0.name.hasPrefix("submit(to:) round trip, both") }) {
    ratios["cross_shard_actor_peer_over_submit"] = actorPeer.nanosecondsPerOperation / polling.nanosecondsPerOperation
}

// MARK: Simulator

/// Several tasks on two virtual shards yielding and calling across: mostly scheduling steps.
let simulatedProgram: @Sendable () async throws -> Void = {
    let workers = (0..<8).map { worker in
        spawn {
            for round in 0..<250 {
                if round % 10 == 0 { _ = try await submit(to: 1) { worker } }
                await Shard.yield()
            }
        }
    }
    for worker in workers { try await worker.value }
}
do {
    var jobs = 0
    let seeds = quick ? 20 : 100
    let perSeed = measure("simulator: one seed of 8 tasks x 250 yields, 2 shards", operations: 1) {
        jobs = 0
        for seed in 0..<UInt64(seeds) {
            let result = Simulation(seed: seed, shards: 2).run(simulatedProgram)
            if !result.passed { print("simulator benchmark failed: \(result)") }
            jobs += result.jobsRun
        }
    }
    let secondsPerSeed = perSeed.nanosecondsPerOperation / 1e9 / Double(seeds)
    let jobsPerSecond = Double(jobs) / (perSeed.nanosecondsPerOperation / 1e9)
    print(
        String(
            format: "  simulator: %.0f scheduled jobs/s, %.0f seeds/s (target >= 1M jobs/s)", jobsPerSecond,
            1 / secondsPerSeed))
    measurements.append(
        Measurement(
            name: "simulator: scheduled job (random strategy, 2 shards)", operations: jobs,
            nanosecondsPerOperation: 1e9 / jobsPerSecond,
            cpuNanosecondsPerOperation: perSeed.cpuNanosecondsPerOperation / Double(max(jobs, 1)),
            target: ">= 1M jobs/s"))
}

do {
    // The echo server scenario under swarm faults: what `make sim` spends its time on.
    let scenario = SimulationScenario.named("echo-server")!
    let seeds = quick ? 100 : 1_000
    var jobs = 0
    var failures = 0
    let sweep = measure("simulator: echo-server scenario, \(seeds) seeds", operations: 1) {
        jobs = 0
        failures = 0
        for seed in 0..<UInt64(seeds) {
            let result = scenario.run(seed: seed)
            jobs += result.jobsRun
            if !result.passed { failures += 1 }
        }
    }
    if failures > 0 { print("echo-server scenario: \(failures) seeds failed (run make sim)") }
    let seedsPerSecond = Double(seeds) / (sweep.nanosecondsPerOperation / 1e9)
    print(
        String(
            format: "  echo-server scenario: %.0f seeds/s, 1,000 seeds in %.2f s (target < 60 s), %.0f jobs/s",
            seedsPerSecond, 1_000 / seedsPerSecond, Double(jobs) / (sweep.nanosecondsPerOperation / 1e9)))
    measurements.append(
        Measurement(
            name: "simulator: echo-server scenario seed (swarm faults, 2 shards)", operations: seeds,
            nanosecondsPerOperation: sweep.nanosecondsPerOperation / Double(seeds),
            cpuNanosecondsPerOperation: sweep.cpuNanosecondsPerOperation / Double(seeds),
            target: "1,000 seeds < 60 s"))
}

// MARK: SPSC ring

let ringMessages = quick ? 2_000_000 : 20_000_000
for batch in [1, 64] {
    var rates: [Double] = []
    for _ in 0..<repetitions {
        guard let nanoseconds = SPSCRingBenchmark.run(messages: ringMessages, batch: batch) else {
            print("SPSC ring benchmark: values arrived out of order")
            exit(1)
        }
        rates.append(Double(ringMessages) / (Double(nanoseconds) / 1e9))
    }
    let rate = rates.sorted()[rates.count / 2]
    let name = "SPSC ring, 2 pinned threads, publish every \(batch)"
    print(
        String(
            format: "%-48@ %10.1f M msgs/s  (%.1f ns/msg)   target >= 30 M/s", name as NSString, rate / 1e6, 1e9 / rate)
    )
    measurements.append(
        Measurement(
            name: name, operations: ringMessages, nanosecondsPerOperation: 1e9 / rate,
            cpuNanosecondsPerOperation: 2e9 / rate, target: ">= 30M msgs/s"))
}

// MARK: Output

let formatter = ISO8601DateFormatter()
let report = Report(
    date: formatter.string(from: Date()), cpus: cpuCount, backend: "io_uring",
    measurements: measurements, ratios: ratios)
if let jsonPath {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    try encoder.encode(report).write(to: URL(fileURLWithPath: jsonPath))
    print("\nwrote \(jsonPath)")
}
if let markdownPath {
    var text = "# Runtime micro-benchmarks\n\n"
    text +=
        "Measured \(report.date) on \(report.cpus) CPUs by `make bench` (release build; median of \(repetitions) runs).\n\n"
    text += "| benchmark | ns/op | CPU ns/op | target |\n|---|---:|---:|---|\n"
    for measurement in measurements {
        text += String(
            format: "| %@ | %.1f | %.1f | %@ |\n", measurement.name as NSString, measurement.nanosecondsPerOperation,
            measurement.cpuNanosecondsPerOperation, (measurement.target ?? "") as NSString)
    }
    text += "\n| ratio (peer ÷ Miniss) | value |\n|---|---:|\n"
    for (key, value) in ratios.sorted(by: { $0.key < $1.key }) {
        text += String(format: "| %@ | %.1f× |\n", key as NSString, value)
    }
    try text.write(toFile: markdownPath, atomically: true, encoding: .utf8)
    print("wrote \(markdownPath)")
}

// miniss-bench: the runtime's micro-benchmarks, as ratios against a peer measured in the same
// run, plus CPU time per operation. `make bench` runs it in release mode.
//
//   miniss-bench [--json FILE] [--markdown FILE] [--quick]
import CMinissLinux
import Foundation
import Miniss

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
        FileHandle.standardError.write("usage: miniss-bench [--json FILE] [--markdown FILE] [--quick]\n".data(using: .utf8)!)
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

let runtime = try Runtime(shards: 1)
print("backend: \(runtime.backendName), cpus: \(Runtime.availableCPUCount)\n")
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
ratios["spawn_sequential_peer_over_shard"] = peerSequential.nanosecondsPerOperation / ourSequential.nanosecondsPerOperation
ratios["spawn_sequential_peer_over_shard_cpu"] =
    peerSequential.cpuNanosecondsPerOperation / ourSequential.cpuNanosecondsPerOperation
ratios["spawn_batch_peer_over_shard"] = peerBatch.nanosecondsPerOperation / ourBatch.nanosecondsPerOperation
ratios["spawn_batch_peer_over_shard_cpu"] = peerBatch.cpuNanosecondsPerOperation / ourBatch.cpuNanosecondsPerOperation

// Sleep through the whole engine: a task sleeping 1 tick, resumed by the wheel.
let sleeps = quick ? 2_000 : 10_000
measurements.append(
    try measure("sleep(for: .zero) on the shard", operations: sleeps) {
        _ = try runtime.run {
            for _ in 0..<sleeps { try await sleep(for: .zero) }
        }
    })
runtime.shutdown()

print("")
print(
    String(
        format: "spawn+await vs Task{}+await: %.1fx faster (wall), %.1fx less CPU; batched: %.1fx / %.1fx\n",
        ratios["spawn_sequential_peer_over_shard"]!, ratios["spawn_sequential_peer_over_shard_cpu"]!,
        ratios["spawn_batch_peer_over_shard"]!, ratios["spawn_batch_peer_over_shard_cpu"]!))

// MARK: Timer wheel

/// Deadlines spread over about 17 minutes of 1 ms ticks, as a busy server's timeouts would be.
let spreadTicks: UInt64 = 1 << 20
let operationsPerRound = quick ? 20_000 : 100_000

for pending in quick ? [1_000, 100_000] : [1_000, 100_000, 1_000_000] {
    var random = SeededRandom(seed: UInt64(pending))
    var wheel = TimerWheel<Int>(startTick: 0, initialCapacity: pending + operationsPerRound)
    for index in 0..<pending { _ = wheel.insert(deadline: UInt64.random(in: 1...spreadTicks, using: &random), index) }
    let deadlines = (0..<operationsPerRound).map { _ in UInt64.random(in: 1...spreadTicks, using: &random) }
    var ids: [TimerID] = []
    ids.reserveCapacity(operationsPerRound)

    // insert then cancel the same timers, so the pending count stays at `pending`
    var insertNanoseconds: [Double] = []
    var cancelNanoseconds: [Double] = []
    for _ in 0..<repetitions {
        ids.removeAll(keepingCapacity: true)
        let insertStart = miniss_monotonic_ns()
        for (index, deadline) in deadlines.enumerated() { ids.append(wheel.insert(deadline: deadline, index)) }
        let cancelStart = miniss_monotonic_ns()
        for id in ids { _ = wheel.cancel(id) }
        let end = miniss_monotonic_ns()
        insertNanoseconds.append(Double(cancelStart - insertStart) / Double(operationsPerRound))
        cancelNanoseconds.append(Double(end - cancelStart) / Double(operationsPerRound))
    }
    let insert = insertNanoseconds.sorted()[repetitions / 2]
    let cancel = cancelNanoseconds.sorted()[repetitions / 2]

    // expiry: advance tick by tick (as a shard does) through 1/8 of the spread, refilling each
    // fired timer with a new one further out so the pending count stays put
    var fired = 0
    var refill = SeededRandom(seed: 7)
    let expiryStart = miniss_monotonic_ns()
    var tick: UInt64 = 0
    while tick < spreadTicks / 8 {
        tick += 1
        var firedNow = 0
        wheel.advance(to: tick) { _, _ in firedNow += 1 }
        fired += firedNow
        for _ in 0..<firedNow {
            _ = wheel.insert(deadline: tick + UInt64.random(in: 1...spreadTicks, using: &refill), 0)
        }
    }
    let expiryTotal = Double(miniss_monotonic_ns() - expiryStart)
    // subtract the refill inserts, measured above, to isolate expiry
    let expiry = max(0, expiryTotal - insert * Double(fired)) / Double(max(fired, 1))

    func row(_ name: String, _ value: Double, _ target: String) -> Measurement {
        print(String(format: "%-48@ %10.1f ns/op   target %@", name as NSString, value, target as NSString))
        return Measurement(
            name: name, operations: operationsPerRound, nanosecondsPerOperation: value,
            cpuNanosecondsPerOperation: value, target: target)
    }
    measurements.append(row("timer insert, \(pending) pending", insert, "<= 50 ns"))
    measurements.append(row("timer cancel, \(pending) pending", cancel, "<= 50 ns"))
    measurements.append(row("timer expiry, \(pending) pending (\(fired) fired)", expiry, "<= 20 ns"))
}

// MARK: Output

let formatter = ISO8601DateFormatter()
let report = Report(
    date: formatter.string(from: Date()), cpus: Runtime.availableCPUCount, backend: "io_uring",
    measurements: measurements, ratios: ratios)
if let jsonPath {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    try encoder.encode(report).write(to: URL(fileURLWithPath: jsonPath))
    print("\nwrote \(jsonPath)")
}
if let markdownPath {
    var text = "# Runtime micro-benchmarks\n\n"
    text += "Measured \(report.date) on \(report.cpus) CPUs by `make bench` (release build; median of \(repetitions) runs).\n\n"
    text += "| benchmark | ns/op | CPU ns/op | target |\n|---|---:|---:|---|\n"
    for measurement in measurements {
        text += String(
            format: "| %@ | %.1f | %.1f | %@ |\n", measurement.name as NSString, measurement.nanosecondsPerOperation,
            measurement.cpuNanosecondsPerOperation, (measurement.target ?? "") as NSString)
    }
    text += "\n| ratio (peer ÷ Miniss) | value |\n|---|---:|\n"
    for (key, value) in ratios.sorted(by: { $0.key < $1.key }) { text += String(format: "| %@ | %.1f× |\n", key as NSString, value) }
    try text.write(toFile: markdownPath, atomically: true, encoding: .utf8)
    print("wrote \(markdownPath)")
}

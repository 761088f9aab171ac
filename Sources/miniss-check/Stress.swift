import ArgumentParser
import CMinissLinux
import Miniss
import MinissModelCheck
import MinissSimulator

#if canImport(Glibc)
    import Glibc
#endif

/// `miniss-check stress`: the long randomized runs (the nightly job; short in CI). It cycles
/// through the workloads until the duration is over, writes every failure to a file with its
/// replay command, and ends with a summary.
struct Stress: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Long randomized runs: timer-wheel and SPSC checkers, SPSC real-thread stress, echo server load.")

    @Option(help: "How long to run: 30s, 10m, 2h.") var duration = "30s"
    @Option(help: "Folder for failure reports (created if missing).") var failures = "stress-failures"
    @Option(help: "First seed (default: from the clock, printed).") var seed: UInt64?

    func run() throws {
        let seconds = try Self.parseDuration(duration)
        let firstSeed = seed ?? (miniss_monotonic_ns() % 1_000_000_000)
        say("stress: \(duration), seeds from \(firstSeed), failures into \(failures)/")
        let start = miniss_monotonic_ns()
        let deadline = start + UInt64(seconds * 1e9)
        var counts: [String: (runs: Int, failures: Int)] = [:]
        var nextSeed = firstSeed
        var lastProgress = start
        var round = 0

        func record(_ workload: String, _ failure: String?, seed: UInt64, replay: String) {
            counts[workload, default: (0, 0)].runs += 1
            guard let failure else { return }
            counts[workload, default: (0, 0)].failures += 1
            let path = "\(failures)/\(workload)-\(seed).txt"
            mkdir(failures, 0o755)
            let text = "workload: \(workload)\nseed: \(seed)\nreplay: \(replay)\n\n\(failure)\n"
            if let file = fopen(path, "w") {
                fputs(text, file)
                fclose(file)
            }
            say("stress: FAILURE in \(workload) (seed \(seed)), written to \(path)\n  replay: \(replay)")
        }

        // Each workload is one step; the deadline is checked between steps.
        var steps: [() throws -> Void] = []
        steps.append {
            // Timer wheel: a batch of seeds.
            let wheel = TimerWheelChecker(operations: 2_000)
            for _ in 0..<20 {
                let current = nextSeed
                nextSeed += 1
                let report = wheel.run(seed: current)
                record(
                    "wheel", report.failures.first?.description, seed: current,
                    replay: "miniss-check wheel --seeds \(current)")
            }
        }
        for (capacity, items) in [(2, 3), (2, 6), (4, 9)] {
            // SPSC ring: random and PCT schedules at a few sizes.
            steps.append {
                let checker = try SPSCChecker(capacity: capacity, items: items)
                for pct in [false, true] {
                    let current = nextSeed
                    nextSeed += 1
                    let report = checker.runMany(seeds: current...current + 49) {
                        pct ? .pct(seed: $0, depth: 3) : .random(seed: $0)
                    }
                    let name = pct ? "pct" : "random"
                    record(
                        "spsc-\(name)", report.passed ? nil : report.description, seed: current,
                        replay: report.minimalFailure.map { "miniss-check spsc-replay '\($0.replayLine)'" }
                            ?? "miniss-check spsc --strategy \(name) --seeds \(current)..\(current + 49) "
                            + "--capacity \(capacity) --items \(items)")
                }
            }
        }
        for scenario in SimulationScenario.sweep {
            steps.append {
                // Simulator sweep: each seed draws its own strategy (random, or PCT of depth
                // 1 to 4) and every fifth seed is run twice to check determinism.
                let current = nextSeed
                nextSeed += 50
                for seed in current..<current + 50 {
                    var mix = SeededRandom(seed: seed)
                    let depth = Int.random(in: 0...4, using: &mix)
                    let strategy: SimulationStrategy = depth == 0 ? .random : .pct(depth: depth)
                    let argument = depth == 0 ? "random" : "pct:\(depth)"
                    let replay = "miniss-sim replay --scenario \(scenario.name) --seed \(seed) --strategy \(argument)"
                    let result = scenario.run(seed: seed, strategy: strategy)
                    var failure = result.failure?.description
                    if failure == nil, seed % 5 == 0, let mismatch = scenario.checkDeterminism(of: result) {
                        failure = "determinism: \(mismatch)"
                    }
                    record("sim-\(scenario.name)", failure, seed: seed, replay: replay)
                }
            }
        }
        steps.append {
            // SPSC ring on real threads.
            let stress = try SPSCChecker.stress(items: 1_000_000, capacity: [2, 64, 1024][round % 3])
            record(
                "spsc-threads", stress.passed ? nil : stress.description, seed: 0,
                replay: "miniss-check spsc-stress --items 1000000 --capacity \(stress.capacity)")
        }
        steps.append {
            // The echo server under checked load, alternating backends.
            let current = nextSeed
            nextSeed += 1
            let backend: IOBackend = round % 2 == 0 ? .uring : .epoll
            let failure = try EchoLoad.run(seed: current, backend: backend, connections: 16, requestsPerConnection: 50)
            record(
                "echo-\(backend)", failure, seed: current,
                replay: "miniss-check echo --seed \(current) --backend \(backend)")
        }

        var stepIndex = 0
        while miniss_monotonic_ns() < deadline {
            if stepIndex % steps.count == 0 { round += 1 }
            try steps[stepIndex % steps.count]()
            stepIndex += 1
            let now = miniss_monotonic_ns()
            if now - lastProgress > 5_000_000_000 || now >= deadline {
                lastProgress = now
                let done = Double(now - start) / 1e9
                let runs = counts.values.reduce(0) { $0 + $1.runs }
                let failed = counts.values.reduce(0) { $0 + $1.failures }
                say(
                    "stress: \(Int(done)) s of \(Int(seconds)) s, \(runs) runs, \(failed) failures, "
                        + "\(Int(Double(runs) / max(done, 0.001))) runs/s")
            }
        }
        let elapsed = Double(miniss_monotonic_ns() - start) / 1e9
        say("stress summary (\(Int(elapsed)) s, seeds \(firstSeed)..<\(nextSeed)):")
        for (workload, count) in counts.sorted(by: { $0.key < $1.key }) {
            say("  \(workload): \(count.runs) runs, \(count.failures) failures")
        }
        let failed = counts.values.reduce(0) { $0 + $1.failures }
        if failed > 0 { throw ExitCode(1) }
    }

    /// `30s`, `10m`, `2h`, or plain seconds.
    static func parseDuration(_ text: String) throws -> Double {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600]
        if let unit = text.last, let scale = units[unit], let value = Double(text.dropLast()), value > 0 {
            return value * scale
        }
        if let value = Double(text), value > 0 { return value }
        throw ValidationError("--duration takes a number with s, m or h (30s, 10m, 2h), not '\(text)'")
    }
}

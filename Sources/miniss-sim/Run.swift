import ArgumentParser
import Miniss
import MinissSimulator

#if canImport(Glibc)
    import Glibc
#endif

/// `miniss-sim run`: a scenario (or all of them) over a range of seeds.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run scenarios over a range of seeds; stop at the first failure and print its report.")

    @Option(help: "A scenario (see `list`), or all: every scenario except the deliberately buggy ones.")
    var scenario: String
    @Option(help: "Seeds, as A..B (inclusive) or a single seed N.") var seeds = "0..999"
    @Option(help: "random, pct (PCT across shards, depth 3) or pct:D (depth D).") var strategy = "random"
    @Option(help: "none or swarm: override the scenario's faults (`list` shows them).") var faults: String?
    @Option(help: "Write the first failure's timeline (full trace) to this HTML file.") var html: String?
    @Flag(help: "Run every seed twice and compare the trace hashes (a mismatch is a failure).")
    var checkDeterminism = false
    @Flag(help: "Go on after a failure (the first failure's report is printed in full).") var keepGoing = false
    @Option(
        help: ArgumentHelp(
            "Write `<scenario> <seed> <strategy> <trace hash>` per seed to this file.",
            discussion:
                "Two processes' files must be identical: a difference is nondeterminism that one process cannot "
                + "see (hash-table order depends on a per-process seed)."))
    var hashes: String?

    func validate() throws {
        _ = try Arguments.scenarios(scenario)
        _ = try Arguments.seeds(seeds)
        _ = try Arguments.strategy(strategy)
        _ = try Arguments.faults(faults)
    }

    func run() throws {
        let scenarios = try Arguments.scenarios(scenario)
        let faults = try Arguments.faults(faults)
        let range = try Arguments.seeds(seeds)
        let strategy = try Arguments.strategy(strategy)
        var sweep = Sweep(keepGoing: keepGoing, checksDeterminism: checkDeterminism, htmlPath: html)
        for scenario in scenarios {
            sweep.run(scenario, seeds: range, strategy: strategy, faults: faults)
            if sweep.failureCount > 0 && !keepGoing { break }
        }
        if scenarios.count > 1 || sweep.failureCount > 0 {
            say(sweep.totalLine)
        }
        if let hashes {
            try write(sweep.hashLines.joined(), toFile: hashes)
        }
        if sweep.failureCount > 0 { throw ExitCode(1) }
    }
}

/// The state of a sweep across scenarios: counts, the first failure, the progress line.
struct Sweep {
    let keepGoing: Bool
    let checksDeterminism: Bool
    let htmlPath: String?
    var failureCount = 0
    var seedsRun = 0
    var reportedFirstFailure = false
    /// `<scenario> <seed> <strategy> <trace hash>` for each seed run.
    var hashLines: [String] = []
    let clock = ContinuousClock()
    let started: ContinuousClock.Instant

    init(keepGoing: Bool, checksDeterminism: Bool, htmlPath: String?) {
        self.keepGoing = keepGoing
        self.checksDeterminism = checksDeterminism
        self.htmlPath = htmlPath
        started = clock.now
    }

    var totalLine: String {
        "total: \(plural(seedsRun, "seed")), \(plural(failureCount, "failure")) in "
            + seconds(clock.now - started)
    }

    mutating func run(
        _ scenario: SimulationScenario, seeds: ClosedRange<UInt64>, strategy: SimulationStrategy, faults: FaultMode?
    ) {
        let total = Int(clamping: seeds.upperBound - seeds.lowerBound) &+ 1
        let runsPerSeed = checksDeterminism ? 2 : 1
        say(
            "\(scenario.description): seeds \(seeds.lowerBound)..\(seeds.upperBound) (\(grouped(total))), "
                + "strategy \(Arguments.argument(strategy)), faults \(faults ?? scenario.faults), "
                + "\(scenario.shardCount) shards"
                + (checksDeterminism ? ", each seed run twice" : ""))
        var progress = Progress(total: total)
        var failures = 0
        var jobs = 0
        var steps = 0
        var done = 0
        let start = clock.now
        for seed in seeds {
            let result = scenario.run(seed: seed, strategy: strategy, faults: faults)
            jobs += result.jobsRun * runsPerSeed
            hashLines.append(
                "\(scenario.name) \(seed) \(Arguments.argument(strategy)) \(String(result.traceHash, radix: 16))\n")
            steps += result.steps
            done += 1
            var failed = false
            if let failure = result.failure {
                failed = true
                report(failure: failure, result: result, scenario: scenario, faults: faults, progress: &progress)
            }
            if checksDeterminism, let mismatch = scenario.checkDeterminism(of: result) {
                failed = true
                progress.clear()
                say("FAILED \(mismatch.description)")
            }
            if failed {
                failures += 1
                failureCount += 1
                if !keepGoing { break }
            }
            progress.update(done: done, failures: failures, jobs: jobs, elapsed: clock.now - start)
        }
        progress.clear()
        seedsRun += done
        let elapsed = clock.now - start
        let elapsedSeconds = max(1e-9, secondsValue(elapsed))
        let verdict = failures == 0 ? "passed" : "\(failures) FAILED"
        say(
            "\(scenario.name): \(plural(done, "seed")) \(verdict) in \(seconds(elapsed)): "
                + "\(formatted(Double(done) / elapsedSeconds, decimals: 0)) seeds/s, "
                + "\(formatted(Double(jobs) / elapsedSeconds, decimals: 0)) jobs/s, "
                + "\(formatted(Double(steps) / Double(max(1, done)), decimals: 0)) steps/seed")
    }

    /// Prints the first failure in full (and writes its timeline), later ones in one line each.
    mutating func report(
        failure: SimulationFailure, result: SimulationResult, scenario: SimulationScenario, faults: FaultMode?,
        progress: inout Progress
    ) {
        progress.clear()
        guard !reportedFirstFailure else {
            say("FAILED seed \(result.seed): \(failure.kind.rawValue): \(failure.message) — \(failure.replayCommand)")
            return
        }
        reportedFirstFailure = true
        say("\(scenario.name) \(result.description)")
        say(
            "  or: make replay SCENARIO=\(scenario.name) SEED=\(result.seed) STRATEGY=\(Arguments.argument(result.strategy))"
                + (faults.map { " FAULTS=\($0)" } ?? "")
        )
        guard let htmlPath else { return }
        // The sweep keeps no full traces (for speed): replay the seed with one.
        let replay = scenario.run(
            seed: result.seed, strategy: result.strategy, faults: faults, recordsFullTrace: true)
        if replay.traceHash != result.traceHash {
            say("warning: the replay took a different schedule (nondeterminism); the timeline shows the replay")
        }
        do {
            try write(TimelineHTML.render(result: replay, scenario: scenario), toFile: htmlPath)
            say("timeline of seed \(result.seed) written to \(htmlPath)")
        } catch {
            say("\(error)")
        }
    }
}

/// A progress line at most once a second: rewritten in place (`\r`) on a terminal, one plain
/// line each time otherwise.
struct Progress {
    let total: Int
    let isTerminal = isatty(STDOUT_FILENO) != 0
    let clock = ContinuousClock()
    var lastPrinted: ContinuousClock.Instant
    var showing = false

    init(total: Int) {
        self.total = total
        lastPrinted = clock.now
    }

    mutating func update(done: Int, failures: Int, jobs: Int, elapsed: Duration) {
        let now = clock.now
        guard now - lastPrinted >= .seconds(1), done < total else { return }
        lastPrinted = now
        let elapsedSeconds = secondsValue(elapsed)
        let rate = Double(done) / max(elapsedSeconds, 1e-9)
        let remaining = Double(total - done) / max(rate, 1e-9)
        let line =
            "  \(grouped(done))/\(grouped(total)) seeds, \(plural(failures, "failure")), "
            + "\(formatted(rate, decimals: 0)) seeds/s, \(formatted(Double(jobs) / max(elapsedSeconds, 1e-9), decimals: 0)) jobs/s, "
            + "ETA \(formatted(remaining, decimals: 0)) s"
        if isTerminal {
            print("\r" + line + "\u{1B}[K", terminator: "")
            fflush(nil)
            showing = true
        } else {
            say(line)
        }
    }

    /// Ends an in-place line before other output.
    mutating func clear() {
        guard showing else { return }
        print("\r\u{1B}[K", terminator: "")
        fflush(nil)
        showing = false
    }
}

import ArgumentParser
import Miniss
import MinissModelCheck

#if canImport(Glibc)
    import Glibc
#endif

/// `miniss-check`: the model checkers and the long randomized runs, from the command line.
@main
struct MinissCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "miniss-check",
        abstract: "Model checkers for the SPSC ring and the timer wheel, their mutation self-test, and stress runs.",
        subcommands: [SPSC.self, SPSCReplay.self, SPSCStress.self, Wheel.self, Mutants.self, Echo.self, Stress.self])
}

/// A seed range written `A..B` (inclusive) or a single seed.
struct SeedRange: ExpressibleByArgument {
    let seeds: ClosedRange<UInt64>

    init?(argument: String) {
        let parts = argument.split(separator: ".", omittingEmptySubsequences: true)
        if parts.count == 2, argument.contains(".."), let low = UInt64(parts[0]), let high = UInt64(parts[1]),
            low <= high
        {
            seeds = low...high
        } else if parts.count == 1, let seed = UInt64(argument) {
            seeds = seed...seed
        } else {
            return nil
        }
    }
}

/// Prints a line and flushes it (progress lines go to pipes in CI).
func say(_ line: String) {
    print(line)
    fflush(nil)
}

struct SPSC: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Explore producer/consumer interleavings of the real ring, one atomic step at a time.")

    @Option(help: "random, pct or exhaustive.") var strategy = "random"
    @Option(help: "Seeds for random/pct, as N or A..B.") var seeds = SeedRange(argument: "0..999")!
    @Option(help: "Ring capacity (a power of two).") var capacity = 2
    @Option(help: "Items the producer pushes.") var items = 3
    @Option(help: "PCT depth (bugs needing depth ordering constraints).") var depth = 3
    @Option(help: "Preemption bound for exhaustive search.") var preemptions = 2
    @Option(help: "A planted bug to run against (debug builds only); see `mutants`.") var bug = "none"

    func run() throws {
        guard let plantedBug = SPSCPlantedBug(rawValue: bug) else {
            throw ValidationError(
                "unknown bug '\(bug)'; one of: \(SPSCPlantedBug.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let checker = try SPSCChecker(capacity: capacity, items: items, plantedBug: plantedBug)
        let report: SPSCCheckReport
        switch strategy {
        case "random": report = checker.runMany(seeds: seeds.seeds) { .random(seed: $0) }
        case "pct": report = checker.runMany(seeds: seeds.seeds) { [depth] in .pct(seed: $0, depth: depth) }
        case "exhaustive": report = checker.run(.exhaustive(preemptionBound: preemptions))
        default: throw ValidationError("--strategy must be random, pct or exhaustive, not '\(strategy)'")
        }
        say(report.description)
        if !report.passed { throw ExitCode(1) }
    }
}

struct SPSCReplay: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spsc-replay", abstract: "Replay a failure line (capacity=… items=… bug=… schedule=…).")

    @Argument(help: "The replay line a failure printed.") var line: String

    func run() throws {
        let report = try SPSCChecker.replay(line: line)
        say(report.description)
        if let failure = report.failures.first {
            let checker = try SPSCChecker(
                capacity: failure.capacity, items: failure.items, plantedBug: failure.plantedBug)
            for step in checker.trace(schedule: failure.schedule) { say("  " + step) }
        }
        if !report.passed { throw ExitCode(1) }
    }
}

struct SPSCStress: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spsc-stress", abstract: "Millions of items through the real ring on two pinned threads, in order."
    )

    @Option(help: "Items to move.") var items = 10_000_000
    @Option(help: "Ring capacity.") var capacity = 1024

    func run() throws {
        let report = try SPSCChecker.stress(items: items, capacity: capacity)
        say(report.description)
        if !report.passed { throw ExitCode(1) }
    }
}

struct Wheel: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Random operation sequences against the timer wheel, checked against a reference model.")

    @Option(help: "Seeds, as N or A..B.") var seeds = SeedRange(argument: "1..200")!
    @Option(help: "Operations per seed.") var operations = 2_000
    @Option(help: "A planted bug to run against (debug builds only); see `mutants`.") var mutant: String?

    func run() throws {
        var planted: TimerWheelCheckMutant?
        if let mutant {
            guard let parsed = TimerWheelCheckMutant(rawValue: mutant) else {
                throw ValidationError(
                    "unknown mutant '\(mutant)'; one of: "
                        + TimerWheelCheckMutant.allCases.map(\.rawValue).joined(separator: ", "))
            }
            guard TimerWheelCheckMutant.isCompiledIn else {
                throw ValidationError("planted bugs exist only in debug builds: use .build/debug/miniss-check")
            }
            planted = parsed
        }
        let report = TimerWheelChecker(operations: operations).runMany(seeds: seeds.seeds, mutant: planted)
        say(report.description)
        if !report.passed { throw ExitCode(1) }
    }
}

struct Mutants: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The checkers' self-test: every planted bug must be caught (debug builds).")

    @Option(help: "Seeds per strategy and planted bug.") var seeds = 1_000

    func run() throws {
        guard TimerWheelCheckMutant.isCompiledIn, SPSCChecker.plantedBugsAreAvailable else {
            throw ValidationError("planted bugs exist only in debug builds: run .build/debug/miniss-check mutants")
        }
        var missed = 0
        say("SPSC ring (capacity 2, 3 items): seeds/schedules to detection")
        for result in try SPSCChecker.mutationSelfTest(seedBudget: seeds) {
            say("  " + result.description)
            if !result.caught { missed += 1 }
        }
        say("Timer wheel (2,000 operations per seed): seeds to detection, shrunk length")
        for result in TimerWheelChecker().mutationSelfTest(maxSeeds: seeds) {
            say("  " + result.description)
            if !result.caught { missed += 1 }
        }
        say(missed == 0 ? "every planted bug was caught" : "\(missed) planted bugs were NOT caught")
        if missed > 0 { throw ExitCode(1) }
    }
}

struct Echo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Checked load against an in-process echo server (one seed: replays a stress failure).")

    @Option(help: "The seed.") var seed: UInt64 = 1
    @Option(help: "automatic, uring or epoll.") var backend = "automatic"
    @Option(help: "Concurrent connections.") var connections = 16
    @Option(help: "Requests per connection.") var requests = 50

    func run() throws {
        let chosen = try IOBackend.parse(backend, source: "--backend")
        if let failure = try EchoLoad.run(
            seed: seed, backend: chosen, connections: connections, requestsPerConnection: requests)
        {
            say("echo load, seed \(seed), \(chosen): FAILED: \(failure)")
            throw ExitCode(1)
        }
        say("echo load, seed \(seed), \(chosen): \(connections * requests) requests answered correctly")
    }
}

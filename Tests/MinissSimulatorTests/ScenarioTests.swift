import Miniss
import MinissSimulator
import Synchronization
import Testing

/// The shipped scenarios: the correct ones pass every seed, their invariants catch the bugs
/// planted in them, failures replay exactly, runs are deterministic, and a failure renders as
/// an HTML timeline.
@Suite("Scenarios")
struct ScenarioTests {
    /// The first seed in `seeds` that fails, with its result.
    static func firstFailure(
        _ scenario: SimulationScenario, seeds: Range<UInt64>, strategy: SimulationStrategy = .random
    ) -> SimulationResult? {
        for seed in seeds {
            let result = scenario.run(seed: seed, strategy: strategy)
            if !result.passed { return result }
        }
        return nil
    }

    @Test func theRegistryKnowsEveryScenario() throws {
        #expect(SimulationScenario.all.count >= 3)
        #expect(Set(SimulationScenario.names).count == SimulationScenario.all.count, "names are unique")
        #expect(SimulationScenario.named("cross-shard-counter")?.shardCount == 3)
        #expect(SimulationScenario.named("timers-under-cancellation")?.shardCount == 2)
        let buggy = try #require(SimulationScenario.named("buggy-lost-update"))
        #expect(buggy.isDeliberatelyBuggy)
        #expect(!SimulationScenario.sweep.contains { $0.name == buggy.name }, "the sweep leaves buggy ones out")
        #expect(SimulationScenario.named("echo-server")?.faults == .swarm)
        #expect(SimulationScenario.named("log-crash-recovery")?.faults == .swarm)
        #expect(
            SimulationScenario.sweep.count == SimulationScenario.all.filter { !$0.isDeliberatelyBuggy }.count)
        #expect(SimulationScenario.sweep.count >= 4)
        #expect(SimulationScenario.named("no-such-scenario") == nil)
    }

    // 200 seeds with random and 100 with PCT (depth 3) per scenario: about 0.6 s in a debug
    // build (a passing seed takes about 1 ms).
    @Test(arguments: SimulationScenario.sweep.map(\.name))
    func aCorrectScenarioPassesEverySeed(_ name: String) throws {
        let scenario = try #require(SimulationScenario.named(name))
        for (strategy, count) in [(SimulationStrategy.random, UInt64(200)), (.pct(depth: 3), 100)] {
            let failure = Self.firstFailure(scenario, seeds: 0..<count, strategy: strategy)
            #expect(failure == nil, "\(name) failed: \(failure.map(String.init(describing:)) ?? "")")
        }
    }

    @Test func theBuggyScenarioFailsWithinTenSeedsAndReplaysExactly() throws {
        let scenario = SimulationScenario.buggyLostUpdate
        for strategy in [SimulationStrategy.random, .pct(depth: 3)] {
            let result = try #require(
                Self.firstFailure(scenario, seeds: 0..<10, strategy: strategy),
                "\(strategy) must find the lost update within 10 seeds")
            let failure = try #require(result.failure)
            #expect(failure.kind == .invariant)
            #expect(failure.message.contains("lost increments"), "seed \(result.seed): \(failure.message)")
            #expect(
                failure.replayCommand.contains("--scenario buggy-lost-update --seed \(result.seed)"),
                "the replay command names the scenario and the seed: \(failure.replayCommand)")
            let replay = scenario.run(seed: result.seed, strategy: strategy, recordsFullTrace: true)
            #expect(replay.traceHash == result.traceHash, "seed \(result.seed): a replay follows the same schedule")
            #expect(replay.steps == result.steps)
            #expect(replay.failure?.message == failure.message)
            #expect(replay.trace.count >= replay.steps, "a replay records every event")
        }
    }

    /// Each planted bug, and the invariant message that must catch it within 20 seeds.
    static let plantedBugs: [(SimulationScenario, String)] = [
        (.crossShardCounter(plantedBug: .lostUpdate), "lost increments"),
        (.crossShardCounter(plantedBug: .unorderedSends), "per-sender order broken"),
        (.timersUnderCancellation(plantedBug: .swallowsCancellation), "completed normally although it was cancelled"),
        (.timersUnderCancellation(plantedBug: .wakesEarly), "not exactly at its deadline"),
        (.buggyEchoWholeReads, "status 400 for a valid request"),
        (.buggyLogAckBeforeSync, "was acknowledged but is not in the recovered log"),
    ]

    @Test(arguments: 0..<plantedBugs.count)
    func theInvariantsCatchEachPlantedBug(_ index: Int) throws {
        let (scenario, expected) = Self.plantedBugs[index]
        let result = try #require(
            Self.firstFailure(scenario, seeds: 0..<20), "\(scenario.name): no seed in 0..<20 caught the bug")
        #expect(result.failure?.kind == .invariant)
        #expect(
            result.failure?.message.contains(expected) == true,
            "\(scenario.name), seed \(result.seed): \(result.failure?.message ?? "")")
    }

    // 50 seeds per scenario, each run twice (the buggy one too: a failing run must be as
    // repeatable as a passing one).
    @Test(arguments: SimulationScenario.names)
    func aSeedRunTwiceTakesTheSameSchedule(_ name: String) throws {
        let scenario = try #require(SimulationScenario.named(name))
        for seed in UInt64(0)..<50 {
            let strategy: SimulationStrategy = seed.isMultiple(of: 2) ? .random : .pct(depth: 3)
            let mismatch = scenario.checkDeterminism(seed: seed, strategy: strategy)
            #expect(mismatch == nil, "\(mismatch?.description ?? "")")
        }
    }

    @Test func aFailureRendersAsAnHTMLTimeline() throws {
        let scenario = SimulationScenario.buggyLostUpdate
        let failing = try #require(Self.firstFailure(scenario, seeds: 0..<10))
        let result = scenario.run(seed: failing.seed, recordsFullTrace: true)
        let failure = try #require(result.failure)
        let page = TimelineHTML.render(result: result, scenario: scenario)
        #expect(page.hasPrefix("<!DOCTYPE html>"))
        #expect(page.hasSuffix("</html>\n"))
        #expect(page.contains(TimelineHTML.escape(failure.message)))
        #expect(page.contains(TimelineHTML.escape(failure.replayCommand)))
        #expect(page.contains("<th>shard 2</th>"), "one lane per shard")
        #expect(!page.contains("http://") && !page.contains("https://"), "no external resources")
        // One row per event, plus the failure's row.
        let rows = page.split(separator: "\n").filter { line in
            ["run", "deliver", "time", "io"].contains { line.hasPrefix("<tr class=\"\($0)\"") }
        }
        #expect(rows.count == result.trace.count)
    }

    @Test func theTimelineEscapesWhatTheProgramWrote() throws {
        let scenario = SimulationScenario(name: "markup", summary: "fails with <b>markup</b> & quotes", shards: 2) {
            {
                try await submit(to: 1) {}
                invariant(false, "x < y && \"quoted\" <script>alert(1)</script>")
            }
        }
        let result = scenario.run(seed: 1, recordsFullTrace: true)
        #expect(result.failure?.kind == .invariant)
        let page = TimelineHTML.render(result: result, scenario: scenario)
        #expect(page.hasPrefix("<!DOCTYPE html>"))
        #expect(page.contains("x &lt; y &amp;&amp; &quot;quoted&quot; &lt;script&gt;alert(1)&lt;/script&gt;"))
        #expect(!page.contains("<script>"), "no markup from the message reaches the page")
        #expect(!page.contains("<b>markup"))
        #expect(page.contains("deliver"), "the cross-shard message shows in the timeline")
    }

    @Test func aDeterminismMismatchNamesTheFirstDifferingEvent() {
        // A program that reads something the seed does not control: a global counter that
        // changes from run to run decides how often it yields.
        let scenario = SimulationScenario(name: "leaky", summary: "reads a global", shards: 1) {
            let yields = LeakyCounter.next() % 3
            return {
                for _ in 0..<yields { await Shard.yield() }
            }
        }
        let mismatch = scenario.checkDeterminism(seed: 1)
        #expect(mismatch != nil, "a program whose schedule depends on a global must be caught")
        #expect(mismatch?.description.contains("first differing event") == true, "\(mismatch?.description ?? "")")
    }
}

/// A counter outside the simulation's control (for the determinism check's own test).
enum LeakyCounter {
    private static let value = Mutex(0)

    static func next() -> Int {
        value.withLock { value in
            value += 1
            return value
        }
    }
}

/// The disk's faults catch durability bugs that only a crash after an error reveals.
@Suite("Crash-recovery log under disk faults")
struct LogFaultTests {
    /// Each planted log bug, the message that must catch it, and the seeds allowed.
    static let bugs: [(LogBug, String, UInt64)] = [
        (.acknowledgesBeforeSync, "was acknowledged but is not in the recovered log", 20),
        (.retriesFailedSync, "was acknowledged but is not in the recovered log", 100),
        (.ignoresChecksums, "was never appended with that payload", 500),
    ]

    @Test(arguments: 0..<bugs.count)
    func eachPlantedLogBugIsCaught(_ index: Int) throws {
        let (bug, expected, budget) = Self.bugs[index]
        let scenario = SimulationScenario.logCrashRecovery(plantedBug: bug)
        let result = try #require(
            ScenarioTests.firstFailure(scenario, seeds: 0..<budget), "\(bug): no seed in 0..<\(budget) caught it")
        #expect(result.failure?.kind == .invariant)
        #expect(result.failure?.message.contains(expected) == true, "\(bug): \(result.failure?.message ?? "")")
        let replay = scenario.run(seed: result.seed, strategy: result.strategy)
        #expect(replay.traceHash == result.traceHash, "the failure replays exactly")
    }
}

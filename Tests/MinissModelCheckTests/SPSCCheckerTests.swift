import Testing

@testable import MinissModelCheck

#if canImport(Glibc)
    import Glibc
#endif

/// The SPSC ring checked by ``SPSCChecker``: the real ring passes every strategy, every planted
/// bug is caught, failures replay, and the real-thread stress mode keeps order.
///
/// Replay one seed of the randomized tests with `MINISS_SEED=<n>`, one printed schedule with
/// `MINISS_SPSC_REPLAY='<line>'` (see ``replayFromEnvironment()``).
@Suite("SPSC checker")
struct SPSCCheckerTests {
    static func environment(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }

    /// `MINISS_SEED` alone when set, else `range`.
    static func seeds(_ range: Range<UInt64>) -> [UInt64] {
        environment("MINISS_SEED").flatMap(UInt64.init).map { [$0] } ?? Array(range)
    }

    static let plantedBugs = SPSCPlantedBug.allCases.filter { $0 != .none }

    // MARK: The real ring passes

    @Test func realRingPassesExhaustiveSearchWithTwoPreemptions() throws {
        let checker = try SPSCChecker(capacity: 2, items: 3)
        let report = checker.run(.exhaustive(preemptionBound: 2))
        print(report)
        #expect(report.passed, "\(report)")
        #expect(report.isComplete, "the bounded search must finish")
        // 3 pushes and 3 pops at capacity 2: 228 schedules of up to 37 steps when written
        // (2 with no preemption, 29 with at most one). The count moves if the ring or the
        // workload gains or loses an index access; it must stay a real search.
        #expect(report.schedulesExplored > 100)
    }

    @Test func realRingPassesRandomSchedules() throws {
        let checker = try SPSCChecker(capacity: 2, items: 3)
        let report = checker.runMany(seeds: Self.seeds(0..<1_000)) { .random(seed: $0) }
        print(report)
        #expect(
            report.passed,
            "\(report)\nreplay one seed: MINISS_SEED=\(report.failures.first?.seed ?? 0) swift test --filter realRingPassesRandomSchedules"
        )
    }

    @Test func realRingPassesPCTSchedules() throws {
        let checker = try SPSCChecker(capacity: 2, items: 3)
        let report = checker.runMany(seeds: Self.seeds(0..<1_000)) { .pct(seed: $0, depth: 3) }
        print(report)
        #expect(
            report.passed,
            "\(report)\nreplay one seed: MINISS_SEED=\(report.failures.first?.seed ?? 0) swift test --filter realRingPassesPCTSchedules"
        )
    }

    @Test func realRingPassesALongerRunAtCapacityFour() throws {
        let checker = try SPSCChecker(capacity: 4, items: 6)
        let report = checker.run(.exhaustive(preemptionBound: 2))
        #expect(report.passed && report.isComplete, "\(report)")
    }

    // MARK: Planted bugs are caught

    /// Every planted bug fails the exhaustive search within 2 preemptions, and random and PCT
    /// (depth 3) runs within 1,000 seeds each.
    @Test func everyPlantedBugIsCaught() throws {
        try #require(SPSCChecker.plantedBugsAreAvailable, "planted bugs need a debug build")
        let results = try SPSCChecker.mutationSelfTest(items: 3, capacity: 2, seedBudget: 1_000, preemptionBound: 2)
        #expect(results.map(\.plantedBug) == Self.plantedBugs)
        for result in results {
            print(result)
            if let failure = result.minimalFailure { print(failure) }
            #expect(result.exhaustiveSchedulesToDetection != nil, "exhaustive k<=2 missed \(result.plantedBug)")
            #expect(result.randomSeedsToDetection != nil, "1,000 random seeds missed \(result.plantedBug)")
            #expect(result.pctSeedsToDetection != nil, "1,000 PCT seeds missed \(result.plantedBug)")
        }
    }

    /// The bug that delivers every value in order is caught by the full/empty model alone.
    @Test func aPushRefusedWithRoomLeftIsNotLinearizable() throws {
        try #require(SPSCChecker.plantedBugsAreAvailable, "planted bugs need a debug build")
        let report = try SPSCChecker(capacity: 2, items: 3, plantedBug: .fullCheckOneEarly).run(
            .exhaustive(preemptionBound: 0))
        #expect(report.failures.first?.kind == .notLinearizable, "\(report)")
    }

    @Test(arguments: plantedBugs)
    func failuresReplayFromSeedAndSchedule(_ bug: SPSCPlantedBug) throws {
        try #require(SPSCChecker.plantedBugsAreAvailable, "planted bugs need a debug build")
        let checker = try SPSCChecker(capacity: 2, items: 3, plantedBug: bug)
        let report = checker.runMany(seeds: 0..<1_000) { .random(seed: $0) }
        let failure = try #require(report.failures.first, "no random seed caught \(bug)")
        let seed = try #require(failure.seed)

        let again = try #require(checker.run(.random(seed: seed), shrink: false).failures.first)
        #expect(again.reproduces(failure), "seed \(seed) replayed differently:\n\(again)\nvs\n\(failure)")

        let replayed = try SPSCChecker.replay(line: failure.replayLine)
        #expect(replayed.replayDivergedAtStep == nil)
        let fromLine = try #require(replayed.failures.first)
        #expect(fromLine.reproduces(failure), "\(failure.replayLine) replayed differently:\n\(fromLine)")

        let minimal = try #require(report.minimalFailure)
        #expect(minimal.items <= failure.items && !minimal.trace.isEmpty)
        let minimalAgain = try #require(try SPSCChecker.replay(line: minimal.replayLine).failures.first)
        #expect(minimalAgain.reproduces(minimal), "\(minimal.replayLine) replayed differently:\n\(minimalAgain)")
    }

    /// Replays a line printed by a failure: `MINISS_SPSC_REPLAY='capacity=2 items=3 bug=none
    /// schedule=PPCC...' swift test --disable-xctest --filter SPSCCheckerTests.replayFromEnvironment`.
    @Test(.enabled(if: environment("MINISS_SPSC_REPLAY") != nil))
    func replayFromEnvironment() throws {
        let line = try #require(Self.environment("MINISS_SPSC_REPLAY"))
        let report = try SPSCChecker.replay(line: line)
        let failure = report.failures.first
        print(report)
        if let failure {
            let checker = try SPSCChecker(
                capacity: failure.capacity, items: failure.items, plantedBug: failure.plantedBug)
            print(checker.trace(schedule: failure.schedule).joined(separator: "\n"))
        }
        #expect(report.passed, "the replayed schedule fails")
    }

    // MARK: The checker itself

    @Test func badConfigurationsAreErrorsNotCrashes() {
        #expect(throws: SPSCCheckerError.invalidCapacity(3)) { try SPSCChecker(capacity: 3) }
        #expect(throws: SPSCCheckerError.invalidItemCount(0)) { try SPSCChecker(items: 0) }
        #expect(throws: SPSCCheckerError.self) { try SPSCChecker.replay(line: "capacity=2 items=3 schedule=PXC") }
        #expect(throws: SPSCCheckerError.self) { try SPSCChecker.replay(line: "capacity=2 bug=none") }
    }

    @Test func aScheduleFromElsewhereIsReportedAsDiverged() throws {
        let shortened = try SPSCChecker.replay(line: "capacity=2 items=3 bug=none schedule=PP")
        #expect(shortened.replayDivergedAtStep == 3, "\(shortened)")
        let impossible = try SPSCChecker.replay(
            line: "capacity=2 items=1 bug=none schedule=PPPPPPPPPPPPPPPPPPPPPPPPPPPPPP")
        #expect(impossible.replayDivergedAtStep != nil, "the producer cannot take every step")
    }

    /// The search visits distinct schedules, none over the bound, and covers every schedule
    /// within the bound that random runs happen to produce.
    @Test func exhaustiveSearchCoversEveryBoundedSchedule() {
        let bound = 1
        let explorer = SPSCExplorer(capacity: 2, items: 2, plantedBug: .none, maxSteps: 400)
        defer { explorer.shutdown() }
        var picker = SPSCExhaustivePicker(preemptionBound: bound)
        var explored: Set<[Int]> = []
        var runs = 0
        repeat {
            let run = explorer.run(&picker)
            runs += 1
            #expect(run.preemptions <= bound)
            explored.insert(run.schedule)
        } while picker.advance()
        #expect(explored.count == runs, "a schedule was explored twice")
        var covered = 0
        for seed in Self.seeds(0..<300) {
            var random = SPSCRandomPicker(seed: seed)
            let run = explorer.run(&random)
            guard run.preemptions <= bound else { continue }
            covered += 1
            #expect(
                explored.contains(run.schedule),
                "seed \(seed): a schedule with \(run.preemptions) preemption(s) was never explored")
        }
        #expect(covered > 0)
    }

    // MARK: The sequential model

    static func event(_ call: SPSCCall, _ invocation: Int, _ response: Int) -> SPSCEvent {
        SPSCEvent(call: call, invocationStep: invocation, responseStep: response)
    }

    /// The ring frees `popAll`'s slots after reading them, so a push may fail in between; a
    /// model that treats `popAll` as one atomic action would reject this correct history.
    @Test func popAllTakesThenFrees() {
        let producer = [
            Self.event(.tryPush(1, accepted: true), 1, 2),
            Self.event(.tryPush(2, accepted: true), 5, 6),
            Self.event(.tryPush(3, accepted: false), 7, 8),
            Self.event(.tryPush(3, accepted: true), 13, 14),
        ]
        let consumer = [
            Self.event(.popAll([1]), 3, 10),  // loads tail at 4, stores head at 9
            Self.event(.tryPop(2), 11, 12),
            Self.event(.tryPop(3), 15, 16),
        ]
        #expect(SPSCLinearizabilityCheck(capacity: 2, producer: producer, consumer: consumer).violation() == nil)
    }

    @Test func fullAndEmptyMustBeJustified() {
        let pushed = [Self.event(.tryPush(1, accepted: true), 1, 1)]
        // A push refused while one of two slots was free.
        let refused = pushed + [Self.event(.tryPush(2, accepted: false), 2, 2)]
        #expect(
            SPSCLinearizabilityCheck(capacity: 2, producer: refused, consumer: [Self.event(.tryPop(1), 3, 3)])
                .violation() != nil)
        // An empty pop after the push returned.
        let emptyAfter = [Self.event(.tryPop(nil), 2, 2), Self.event(.tryPop(1), 3, 3)]
        #expect(SPSCLinearizabilityCheck(capacity: 2, producer: pushed, consumer: emptyAfter).violation() != nil)
        // An empty pop overlapping the push may take effect before it.
        let overlapping = [Self.event(.tryPop(nil), 0, 2), Self.event(.tryPop(1), 3, 3)]
        #expect(SPSCLinearizabilityCheck(capacity: 2, producer: pushed, consumer: overlapping).violation() == nil)
        // Unpublished elements are invisible, and published ones must be taken in order.
        let batch = [
            Self.event(.tryPushWithoutPublishing(1, accepted: true), 1, 1),
            Self.event(.publish, 3, 3),
        ]
        let hidden = [Self.event(.hasPublishedElements(false), 2, 2), Self.event(.popAll([1]), 4, 4)]
        #expect(SPSCLinearizabilityCheck(capacity: 2, producer: batch, consumer: hidden).violation() == nil)
        let invented = [Self.event(.popAll([2]), 4, 4)]
        #expect(SPSCLinearizabilityCheck(capacity: 2, producer: batch, consumer: invented).violation() != nil)
    }

    // MARK: Real threads

    /// A million items between two (pinned) threads through the production ring, in order.
    /// About 0.5 s in a debug build; the release figure comes from the CLI.
    @Test(.timeLimit(.minutes(2)))
    func stressMovesAMillionItemsInOrder() throws {
        let report = try SPSCChecker.stress(items: 1_000_000, capacity: 1024)
        print(report)
        #expect(report.passed, "\(report)")
        // Capacity 2 hands over every item or two: fewer items, so a loaded machine stays fast.
        let tiny = try SPSCChecker.stress(items: 20_000, capacity: 2)
        print(tiny)
        #expect(tiny.passed, "\(tiny)")
    }
}

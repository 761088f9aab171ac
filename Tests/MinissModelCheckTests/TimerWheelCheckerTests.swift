import Foundation
import Miniss
import MinissModelCheck
import Testing

@Suite("Timer wheel checker")
struct TimerWheelCheckerTests {
    /// Operations per seed: 2,000, or MINISS_OPERATIONS (a failure's replay line sets both).
    static let operations =
        ProcessInfo.processInfo.environment["MINISS_OPERATIONS"].flatMap(Int.init).map { max(1, $0) } ?? 2_000

    /// Seeds 1...500, or the one in MINISS_SEED (replays a failure this test printed).
    static var correctWheelSeeds: [UInt64] {
        ProcessInfo.processInfo.environment["MINISS_SEED"].flatMap(UInt64.init).map { [$0] } ?? Array(1...500)
    }

    @Test func correctWheelPassesManySeeds() {
        let seeds = Self.correctWheelSeeds
        let report = TimerWheelChecker(operations: Self.operations).runMany(seeds: seeds)
        // The failure's description carries the seed, the replay line and the shrunk sequence.
        #expect(report.passed, "\(report)")
        #expect(report.operationsRun == seeds.count * Self.operations)
        print("TimerWheelChecker (\(TimerWheelCheckMutant.isCompiledIn ? "debug" : "release")): \(report)")
    }

    @Test func handWrittenBoundaryScenariosPass() {
        let checker = TimerWheelChecker()
        let start: UInt64 = 4_000
        var operations: [TimerWheelOperation] = []
        // A timer on, before and after every level boundary, one in the next 2^36-tick window,
        // an overdue one and a tie; then step through every next expiration.
        var label = 0
        for power in 1...6 {
            let boundary = (start >> (6 * UInt64(power)) + 1) << (6 * UInt64(power))
            for deadline in [boundary - 1, boundary, boundary + 1] {
                operations.append(.insert(timer: label, deadline: deadline))
                label += 1
            }
        }
        operations += [
            .insert(timer: 100, deadline: 3 << 36), .insert(timer: 101, deadline: 10),
            .insert(timer: 102, deadline: 4_096), .cancel(timer: 4), .cancel(timer: 4), .cancel(timer: 999),
        ]
        let scenario = TimerWheelScenario(startTick: start, operations: operations)
        #expect(checker.replay(scenario) == nil)
        let stepped = TimerWheelScenario(
            startTick: start,
            operations: operations + [0, 1, 63, 64, 65, 4_095, 4_096, 4_097].map { .advance(to: start + $0) }
                + [.nextExpiration, .advance(to: 1 << 37), .nextExpiration, .removeAll, .nextExpiration])
        #expect(checker.replay(stepped) == nil)
    }

    @Test func scenarioIsTheSameForEveryLengthAndWheel() {
        let long = TimerWheelChecker.scenario(seed: 42, operations: 600)
        let short = TimerWheelChecker.scenario(seed: 42, operations: 200)
        #expect(short.startTick == long.startTick)
        #expect(short.operations == Array(long.operations.prefix(200)))
        #expect(TimerWheelChecker().replay(long) == nil)
    }

    @Test func replayLineNamesTheSeed() {
        let failure = TimerWheelCheckFailure(
            kind: .firedLate, message: "example", seed: 17, mutant: nil, operationIndex: 9,
            scenario: TimerWheelScenario(startTick: 0, operations: []))
        #expect(failure.replayCommand.hasPrefix("MINISS_SEED=17 MINISS_OPERATIONS=10 swift test"))
        #expect(failure.replayCommand.contains("miniss-check wheel --seed 17 --operations 10"))
    }

    #if DEBUG
        /// Every planted bug is caught by the first seed tried (stated bound: within 3 seeds), and by
        /// each of the first 20 seeds within 2,000 operations.
        static let seedsToDetectionBound = 3
        static let selfTest = TimerWheelChecker(operations: operations).mutationSelfTest(
            maxSeeds: seedsToDetectionBound)

        @Test func mutantListMirrorsTheWheel() {
            #expect(
                Set(TimerWheelMutant.allCases.map(\.rawValue))
                    == Set(["none"] + TimerWheelCheckMutant.allCases.map(\.rawValue)))
        }

        @Test func everyMutantIsCaught() {
            #expect(Self.selfTest.map(\.mutant) == TimerWheelCheckMutant.allCases)
            for result in Self.selfTest {
                print("TimerWheelChecker self-test: \(result)")
                #expect(result.caught, "\(result)")
                #expect((result.seedsToDetection ?? .max) <= Self.seedsToDetectionBound, "\(result)")
            }
        }

        @Test(arguments: TimerWheelCheckMutant.allCases)
        func everyMutantIsCaughtByEachOfTwentySeeds(mutant: TimerWheelCheckMutant) {
            let checker = TimerWheelChecker(operations: Self.operations, shrinksFailures: false)
            for seed in UInt64(1)...20 {
                #expect(!checker.run(seed: seed, mutant: mutant).passed, "\(mutant) escaped seed \(seed)")
            }
        }

        @Test(arguments: TimerWheelCheckMutant.allCases)
        func replayingAFailingSeedGivesTheIdenticalFailure(mutant: TimerWheelCheckMutant) throws {
            let original = try #require(Self.selfTest.first { $0.mutant == mutant }?.failure)
            let seed = try #require(original.seed)
            let checker = TimerWheelChecker(operations: Self.operations)
            let again = try #require(checker.run(seed: seed, mutant: mutant).failures.first)
            #expect(again == original)
            // The sequence comes from the seed alone, and replaying it fails at the same operation.
            let generated = TimerWheelChecker.scenario(seed: seed, operations: original.operationIndex + 1)
            #expect(generated == original.scenario)
            let replayed = try #require(checker.replay(original.scenario, mutant: mutant))
            #expect(replayed.kind == original.kind)
            #expect(replayed.message == original.message)
            #expect(replayed.operationIndex == original.operationIndex)
        }

        @Test(arguments: TimerWheelCheckMutant.allCases)
        func shrunkSequenceStillFailsAndIsNoLonger(mutant: TimerWheelCheckMutant) throws {
            let failure = try #require(Self.selfTest.first { $0.mutant == mutant }?.failure)
            let shrunk = try #require(failure.shrunk)
            #expect(shrunk.operations.count <= failure.scenario.operations.count)
            let replayed = try #require(TimerWheelChecker().replay(shrunk, mutant: mutant), "\(failure)")
            #expect(replayed.kind == failure.kind)
            #expect(replayed.message == failure.shrunkMessage)
            #expect(replayed.operationIndex == shrunk.operations.count - 1, "the shrunk sequence ends at its failure")
            // The correct wheel passes the same sequence: the failure is the planted bug's.
            #expect(TimerWheelChecker().replay(shrunk) == nil)
            // Timers are renumbered t0, t1, … in insertion order.
            let labels = shrunk.operations.compactMap { operation -> Int? in
                if case .insert(let timer, _) = operation { return timer }
                return nil
            }
            #expect(labels == Array(0..<labels.count))
        }
    #endif
}

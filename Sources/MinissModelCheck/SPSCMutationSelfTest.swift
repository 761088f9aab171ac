/// How quickly each strategy caught one planted bug.
public struct SPSCMutantResult: Sendable, CustomStringConvertible {
    /// The planted bug.
    public var plantedBug: SPSCPlantedBug
    /// Random seeds run up to and including the first failing one; nil if none failed.
    public var randomSeedsToDetection: Int?
    /// PCT seeds run up to and including the first failing one; nil if none failed.
    public var pctSeedsToDetection: Int?
    /// The PCT depth used.
    public var pctDepth: Int
    /// Exhaustive schedules run (raising the preemption bound from 0) up to and including the
    /// first failing one; nil if none failed within the bound.
    public var exhaustiveSchedulesToDetection: Int?
    /// The preemption bound at which the exhaustive search first failed.
    public var exhaustivePreemptionsToDetection: Int?
    /// The first failure found, shrunk and traced.
    public var minimalFailure: SPSCFailure?

    /// Whether any strategy caught the bug.
    public var caught: Bool {
        randomSeedsToDetection != nil || pctSeedsToDetection != nil || exhaustiveSchedulesToDetection != nil
    }

    /// One table row: bug, then seeds or schedules to detection per strategy ("-" = missed).
    public var description: String {
        func cell(_ value: Int?) -> String { value.map(String.init) ?? "-" }
        let exhaustive =
            exhaustiveSchedulesToDetection.map { "\($0) (k=\(exhaustivePreemptionsToDetection ?? 0))" } ?? "-"
        let kind = minimalFailure.map { $0.kind.rawValue } ?? "missed"
        return
            "\(plantedBug.rawValue): random \(cell(randomSeedsToDetection)), pct(d=\(pctDepth)) \(cell(pctSeedsToDetection)), "
            + "exhaustive \(exhaustive); \(kind)"
    }
}

extension SPSCChecker {
    /// Checks that the checker can fail: for every planted bug, runs random seeds 0..<seedBudget,
    /// PCT (depth 3) seeds 0..<seedBudget, and exhaustive search with preemption bounds 0 up to
    /// `preemptionBound`, each until its first failure, and reports how long each took. Returns
    /// an empty array in release builds, which carry no planted bugs.
    public static func mutationSelfTest(
        items: Int = 3, capacity: Int = 2, seedBudget: Int = 1_000, preemptionBound: Int = 2
    ) throws(SPSCCheckerError) -> [SPSCMutantResult] {
        guard plantedBugsAreAvailable else { return [] }
        var results: [SPSCMutantResult] = []
        for bug in SPSCPlantedBug.allCases where bug != .none {
            let checker = try SPSCChecker(capacity: capacity, items: items, plantedBug: bug)
            let seeds = UInt64(0)..<UInt64(seedBudget)
            let random = checker.runMany(seeds: seeds, shrink: false) { .random(seed: $0) }
            let pctDepth = 3
            let pct = checker.runMany(seeds: seeds, shrink: false) { .pct(seed: $0, depth: pctDepth) }
            var result = SPSCMutantResult(
                plantedBug: bug, randomSeedsToDetection: random.runsUntilFirstFailure,
                pctSeedsToDetection: pct.runsUntilFirstFailure, pctDepth: pctDepth)
            var schedules = 0
            for bound in 0...preemptionBound {
                let exhaustive = checker.run(.exhaustive(preemptionBound: bound), shrink: false)
                if let found = exhaustive.runsUntilFirstFailure {
                    result.exhaustiveSchedulesToDetection = schedules + found
                    result.exhaustivePreemptionsToDetection = bound
                    break
                }
                schedules += exhaustive.schedulesExplored
            }
            if let first = random.failures.first ?? pct.failures.first {
                result.minimalFailure = checker.shrink(first)
            } else if result.exhaustiveSchedulesToDetection != nil {
                result.minimalFailure = checker.run(.exhaustive(preemptionBound: preemptionBound)).minimalFailure
            }
            results.append(result)
        }
        return results
    }
}

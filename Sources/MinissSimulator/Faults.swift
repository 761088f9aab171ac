import Miniss

/// The faults the simulated network and disk inject into one run. Every draw they make comes
/// from the run's seed, so a failure under faults replays exactly.
///
/// ```swift
/// var faults = FaultPlan.none
/// faults.resets = 0.2                   // a fifth of the connections are reset at a random moment
/// faults.partitions = 1                 // one window where two shards cannot talk
/// simulation.faults = .plan(faults)     // or .swarm: each seed draws its own plan
/// ```
public struct FaultPlan: Sendable, Hashable, CustomStringConvertible {
    /// One-way latency of a TCP segment, drawn uniformly per segment. Connections draw their
    /// latencies independently, so segments of different connections arrive in any order;
    /// within a connection, bytes always arrive in order (that is TCP's contract).
    public var latency: ClosedRange<Duration> = .microseconds(10)...(.milliseconds(1))
    /// The chance that a read returns fewer bytes than are available (at least one).
    public var shortReads = 0.0
    /// The chance that a write accepts fewer bytes than it was given (at least one).
    public var shortWrites = 0.0
    /// The chance that the network resets a connection (both ends see `ECONNRESET`) at a random
    /// moment within ``resetWindow`` after it was established.
    public var resets = 0.0
    /// When resets happen, after the connection was established.
    public var resetWindow: ClosedRange<Duration> = .zero...(.milliseconds(50))
    /// How many partitions (two shards that cannot reach each other) happen in the run.
    /// Segments sent across a partition are held until it heals (TCP retransmits); a
    /// connection held longer than ``retransmissionTimeout`` fails with `ETIMEDOUT`.
    public var partitions = 0
    /// When partitions start (virtual time since the start of the run).
    public var partitionStart: ClosedRange<Duration> = .zero...(.milliseconds(100))
    /// How long a partition lasts.
    public var partitionLength: ClosedRange<Duration> = .milliseconds(1)...(.milliseconds(800))
    /// How long TCP keeps retransmitting across a partition before the connection (or the
    /// connect) fails with `ETIMEDOUT`.
    public var retransmissionTimeout: Duration = .milliseconds(500)
    /// The chance that a file read, write or sync fails with `EIO`.
    public var diskErrors = 0.0
    /// At a crash (``Simulation/crashDisk()``), the chance that a write not yet synced survives
    /// only in part (a torn write). The other unsynced writes survive whole or are lost, one
    /// chance in two each.
    public var tornWrites = 0.0
    /// Latency of a file operation, drawn uniformly per operation.
    public var diskLatency: ClosedRange<Duration> = .microseconds(5)...(.microseconds(200))

    /// Latencies only: no short reads or writes, resets, partitions or disk errors. (A crash
    /// still loses unsynced writes: that is what a crash does.)
    public static let none = FaultPlan()

    /// Creates a plan with no faults (``none``); set the fields you want.
    public init() {}

    /// A plan drawn from `seed`, as swarm testing does: each kind of fault is switched on with
    /// probability ½ and, when on, gets a random intensity, so a sweep over seeds covers single
    /// faults, combinations and fault-free runs with different timing.
    public static func swarm(seed: UInt64) -> FaultPlan {
        var random = SeededRandom(seed: seed ^ 0x5157_4152_4d00_0000)
        func on() -> Bool { Bool.random(using: &random) }
        func chance(_ range: ClosedRange<Double>) -> Double { on() ? Double.random(in: range, using: &random) : 0 }
        var plan = FaultPlan()
        let slowest = [Duration.microseconds(100), .milliseconds(1), .milliseconds(20)].randomElement(using: &random)!
        plan.latency = .microseconds(1)...slowest
        plan.shortReads = chance(0.05...0.9)
        plan.shortWrites = chance(0.05...0.9)
        // Fault times on a random scale: programs run for milliseconds or for seconds.
        let scale = [Duration.milliseconds(5), .milliseconds(50), .milliseconds(500)].randomElement(using: &random)!
        plan.resets = chance(0.05...0.5)
        plan.resetWindow = .zero...scale
        plan.partitions = on() ? Int.random(in: 1...3, using: &random) : 0
        plan.partitionStart = .zero...(scale * 2)
        plan.diskErrors = chance(0.001...0.05)
        plan.tornWrites = chance(0.1...0.9)
        return plan
    }

    /// The plan in one line, for reports.
    public var description: String {
        var parts = ["latency \(latency.lowerBound)...\(latency.upperBound)"]
        if shortReads > 0 { parts.append("short reads \(percent(shortReads))") }
        if shortWrites > 0 { parts.append("short writes \(percent(shortWrites))") }
        if resets > 0 { parts.append("resets \(percent(resets))") }
        if partitions > 0 { parts.append("\(partitions) partition(s)") }
        if diskErrors > 0 { parts.append("disk errors \(percent(diskErrors))") }
        if tornWrites > 0 { parts.append("torn writes \(percent(tornWrites))") }
        return parts.joined(separator: ", ")
    }

    private func percent(_ value: Double) -> String {
        "\((value * 1000).rounded() / 10)%"
    }
}

/// Which faults a simulation injects.
public enum FaultMode: Sendable, Hashable, CustomStringConvertible {
    /// No faults (``FaultPlan/none``): only latencies.
    case none
    /// Swarm testing: each seed draws its own plan (``FaultPlan/swarm(seed:)``).
    case swarm
    /// The same plan for every seed.
    case plan(FaultPlan)

    /// The plan for `seed`.
    public func plan(seed: UInt64) -> FaultPlan {
        switch self {
        case .none: return .none
        case .swarm: return .swarm(seed: seed)
        case .plan(let plan): return plan
        }
    }

    /// `none`, `swarm`, or `custom` (a plan set in code, which a command line cannot name).
    public var description: String {
        switch self {
        case .none: return "none"
        case .swarm: return "swarm"
        case .plan: return "custom"
        }
    }

    /// Parses `none` or `swarm`.
    public init?(parsing text: String) {
        switch text {
        case "none": self = .none
        case "swarm": self = .swarm
        default: return nil
        }
    }
}

extension Duration {
    /// The duration in whole nanoseconds (negative durations count as zero).
    var nanoseconds: UInt64 {
        let (seconds, attoseconds) = components
        guard seconds >= 0 else { return 0 }
        return UInt64(seconds) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000)
    }
}

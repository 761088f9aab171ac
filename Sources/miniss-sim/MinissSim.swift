import ArgumentParser
import Miniss
import MinissSimulator

#if canImport(Glibc)
    import Glibc
#endif

/// `miniss-sim`: runs the simulator's scenarios over ranges of seeds, and replays one seed.
@main
struct MinissSim: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "miniss-sim",
        abstract: "Deterministic simulation: sweep scenarios over seeds, replay a failing seed with its full trace.",
        discussion: """
            Examples:
              miniss-sim list
              miniss-sim run --scenario all --seeds 0..999 --strategy pct:3
              miniss-sim run --scenario buggy-lost-update --seeds 0..99 --html failure.html
              miniss-sim replay --scenario buggy-lost-update --seed 0
            """,
        subcommands: [List.self, Run.self, Replay.self])
}

/// `miniss-sim list`: the shipped scenarios.
struct List: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the scenarios.")

    func run() throws {
        let width = SimulationScenario.all.map(\.name.count).max() ?? 0
        for scenario in SimulationScenario.all {
            let name = scenario.name.padding(to: width)
            let note = scenario.isDeliberatelyBuggy ? " [deliberately buggy: not in 'all']" : ""
            let faults = "faults \(scenario.faults)".padding(to: 13)
            say("\(name)  \(scenario.shardCount) shards  \(faults)  \(scenario.summary)\(note)")
        }
    }
}

// MARK: Arguments

/// Parses the arguments the subcommands share, with errors that list the valid values.
enum Arguments {
    static func scenario(_ name: String) throws -> SimulationScenario {
        guard let scenario = SimulationScenario.named(name) else {
            throw ValidationError(
                "unknown scenario '\(name)'; one of: \(SimulationScenario.names.joined(separator: ", "))")
        }
        return scenario
    }

    /// `all` (every scenario that must pass) or one name.
    static func scenarios(_ name: String) throws -> [SimulationScenario] {
        if name == "all" { return SimulationScenario.sweep }
        guard let scenario = SimulationScenario.named(name) else {
            throw ValidationError(
                "unknown scenario '\(name)'; one of: all, \(SimulationScenario.names.joined(separator: ", "))")
        }
        return [scenario]
    }

    static func strategy(_ text: String) throws -> SimulationStrategy {
        guard let strategy = SimulationStrategy(parsing: text) else {
            throw ValidationError(
                "unknown strategy '\(text)'; one of: random, pct (PCT with depth 3), pct:<depth> (depth >= 1, e.g. pct:2)"
            )
        }
        return strategy
    }

    /// `none` or `swarm`; nil (the scenario's own faults) when not given.
    static func faults(_ text: String?) throws -> FaultMode? {
        guard let text else { return nil }
        guard let mode = FaultMode(parsing: text) else {
            throw ValidationError(
                "unknown fault mode '\(text)'; one of: none (latencies only), swarm (each seed draws its own faults)")
        }
        return mode
    }

    /// `A..B` (inclusive) or a single seed `N`.
    static func seeds(_ text: String) throws -> ClosedRange<UInt64> {
        let bounds = text.split(separator: "..", maxSplits: 1, omittingEmptySubsequences: false)
        if bounds.count == 2, let low = UInt64(bounds[0]), let high = UInt64(bounds[1]), low <= high {
            return low...high
        }
        if bounds.count == 1, let seed = UInt64(text) {
            return seed...seed
        }
        throw ValidationError(
            "bad seed range '\(text)'; write A..B (inclusive, 0 <= A <= B < 2^64, e.g. 0..999) or one seed N")
    }

    static func seed(_ text: String) throws -> UInt64 {
        guard let seed = UInt64(text) else {
            throw ValidationError("bad seed '\(text)'; a seed is a whole number from 0 to 2^64 - 1")
        }
        return seed
    }

    /// The strategy as the command line writes it (`random`, `pct:3`).
    static func argument(_ strategy: SimulationStrategy) -> String {
        switch strategy {
        case .random: return "random"
        case .pct(let depth): return "pct:\(depth)"
        }
    }
}

// MARK: Output

/// Prints a line and flushes it (progress goes to pipes in CI).
func say(_ line: String) {
    print(line)
    fflush(nil)
}

/// Writes `text` to `path`, replacing the file.
func write(_ text: String, toFile path: String) throws {
    guard let file = fopen(path, "w") else {
        throw ValidationError("cannot write '\(path)': \(String(cString: strerror(errno)))")
    }
    defer { fclose(file) }
    let written = text.utf8CString.withUnsafeBufferPointer { buffer in
        // SAFETY: the buffer is the string's NUL-terminated UTF-8, alive for the call; fwrite
        // reads `count - 1` bytes of it (not the NUL).
        fwrite(buffer.baseAddress, 1, buffer.count - 1, file)
    }
    guard written == text.utf8.count else {
        throw ValidationError("cannot write '\(path)': \(String(cString: strerror(errno)))")
    }
}

extension String {
    func padding(to width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}

/// `1234567` → `1,234,567`.
func grouped(_ value: Int) -> String {
    let digits = String(value.magnitude)
    var out = ""
    for (offset, digit) in digits.enumerated() {
        if offset > 0 && (digits.count - offset) % 3 == 0 { out += "," }
        out.append(digit)
    }
    return value < 0 ? "-" + out : out
}

/// `1 seed`, `2 seeds`, `1,000 seeds`.
func plural(_ count: Int, _ noun: String) -> String {
    "\(grouped(count)) \(noun)\(count == 1 ? "" : "s")"
}

/// The duration in seconds.
func secondsValue(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

/// Seconds with one decimal (two below 10 s).
func seconds(_ duration: Duration) -> String {
    let value = secondsValue(duration)
    return formatted(value, decimals: value < 10 ? 2 : 1) + " s"
}

func formatted(_ value: Double, decimals: Int) -> String {
    guard value.isFinite else { return "?" }
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let scaled = Int((value * scale).rounded())
    let whole = scaled / Int(scale)
    let fraction = scaled % Int(scale)
    guard decimals > 0 else { return grouped(whole) }
    let fractionText = String(fraction)
    return grouped(whole) + "." + String(repeating: "0", count: decimals - fractionText.count) + fractionText
}

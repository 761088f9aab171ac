import ArgumentParser
import Miniss
import MinissSimulator

/// `miniss-sim replay`: one seed again, with its full trace.
struct Replay: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Replay one seed of a scenario: print every scheduling event, then the result.")

    @Option(help: "The scenario (see `list`).") var scenario: String
    @Option(help: "The seed to replay.") var seed: String
    @Option(help: "random, pct (depth 3) or pct:D — as the failure's replay command says.") var strategy = "random"
    @Option(help: "none or swarm, if the failure's replay command names it (default: the scenario's faults).")
    var faults: String?
    @Option(help: "Also write the run's timeline to this HTML file.") var html: String?

    func validate() throws {
        _ = try Arguments.scenario(scenario)
        _ = try Arguments.seed(seed)
        _ = try Arguments.strategy(strategy)
        _ = try Arguments.faults(faults)
    }

    func run() throws {
        let scenario = try Arguments.scenario(scenario)
        let seed = try Arguments.seed(seed)
        let strategy = try Arguments.strategy(strategy)
        let faults = try Arguments.faults(faults)
        say(
            "replaying \(scenario.description), seed \(seed), strategy \(Arguments.argument(strategy)), "
                + "faults \(faults ?? scenario.faults)")
        let result = scenario.run(seed: seed, strategy: strategy, faults: faults, recordsFullTrace: true)
        for event in result.trace { print(event) }
        say(result.description)
        if let html {
            try write(TimelineHTML.render(result: result, scenario: scenario), toFile: html)
            say("timeline written to \(html)")
        }
        if !result.passed { throw ExitCode(1) }
    }
}

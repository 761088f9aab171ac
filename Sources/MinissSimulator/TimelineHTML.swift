/// Renders a simulated run as a self-contained HTML page: the failure report at the top, then
/// the full trace as a timeline with one lane per shard.
///
/// The page has inline CSS and no scripts or external resources, so it can be attached to a
/// bug report or opened from disk. The run needs ``Simulation/recordsFullTrace`` (otherwise the
/// timeline shows only the failure's last events).
///
/// ```swift
/// let scenario = SimulationScenario.named("buggy-lost-update")!
/// let result = scenario.run(seed: 3, recordsFullTrace: true)
/// try TimelineHTML.render(result: result, scenario: scenario).write(toFile: "run.html", …)
/// ```
public enum TimelineHTML {
    /// At most this many events are drawn: of a longer trace, the first and the last half as many.
    public static let maxDrawnEvents = 20_000

    /// The page for `result`, a run of `scenario`.
    public static func render(result: SimulationResult, scenario: SimulationScenario) -> String {
        var page = ""
        page.reserveCapacity(4_096 + result.trace.count * 160)
        let title = "\(scenario.name), seed \(result.seed): \(result.passed ? "passed" : "FAILED")"
        page += """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <title>\(escape(title))</title>
            <style>\(style)</style>
            </head>
            <body>
            <h1>\(escape(title))</h1>

            """
        page += summary(result: result, scenario: scenario)
        if let failure = result.failure { page += report(failure) }
        page += timeline(result: result, shardCount: scenario.shardCount)
        page += "</body>\n</html>\n"
        return page
    }

    /// `text` with `&`, `<`, `>`, `"` and `'` replaced by character references, for element
    /// content and quoted attribute values.
    public static func escape(_ text: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.append(character)
            }
        }
        return escaped
    }

    // MARK: Sections

    static func summary(result: SimulationResult, scenario: SimulationScenario) -> String {
        let rows: [(String, String)] = [
            ("scenario", scenario.description),
            ("summary", scenario.summary),
            ("seed", "\(result.seed)"),
            ("strategy", "\(result.strategy)"),
            ("shards", "\(scenario.shardCount)"),
            ("steps", "\(result.steps)"),
            ("jobs run", "\(result.jobsRun)"),
            ("virtual time", "\(result.virtualTime)"),
            ("trace hash", String(result.traceHash, radix: 16)),
            ("result", result.passed ? "passed" : "FAILED"),
        ]
        var html = "<table class=\"summary\">\n"
        for (key, value) in rows {
            html += "<tr><th>\(escape(key))</th><td>\(escape(value))</td></tr>\n"
        }
        return html + "</table>\n"
    }

    static func report(_ failure: SimulationFailure) -> String {
        var html = "<section class=\"failure\">\n"
        html += "<h2>\(escape(failure.kind.rawValue)): \(escape(failure.message))</h2>\n"
        html += "<p>seed \(failure.seed), strategy \(escape(failure.strategy.description))</p>\n"
        html += "<p>replay: <code>\(escape(failure.replayCommand))</code></p>\n"
        if let backtrace = failure.backtrace {
            html += "<h3>backtrace</h3>\n<pre>\(escape(backtrace))</pre>\n"
        }
        if let spawnSite = failure.spawnSite {
            html += "<h3>spawned at</h3>\n<pre>\(escape(spawnSite))</pre>\n"
        }
        return html + "</section>\n"
    }

    static func timeline(result: SimulationResult, shardCount: Int) -> String {
        let events = result.trace.isEmpty ? (result.failure?.lastEvents ?? []) : result.trace
        var html = "<h2>Timeline</h2>\n"
        if result.trace.isEmpty {
            html +=
                "<p class=\"note\">The run did not record its full trace (set <code>recordsFullTrace</code>); "
                + "showing the last \(events.count) events only.</p>\n"
        }
        html +=
            "<p class=\"legend\"><span class=\"run\">run job</span> <span class=\"deliver\">deliver</span> "
            + "<span class=\"io\">I/O (network, disk)</span> "
            + "<span class=\"time\">time jump</span> — \(events.count) events</p>\n"
        html += "<table class=\"timeline\">\n<thead><tr><th>step</th><th>virtual time</th>"
        for shard in 0..<shardCount { html += "<th>shard \(shard)</th>" }
        html += "</tr></thead>\n<tbody>\n"

        var now = "\(Duration.zero)"
        let half = maxDrawnEvents / 2
        for index in events.indices {
            let drawn = events.count <= maxDrawnEvents || index < half || index >= events.count - half
            if !drawn {
                // Left out, but its time jump still moves the clock column.
                if events[index].contains("] time "), let time = TraceEvent(parsing: events[index]).time { now = time }
                if index == half {
                    html +=
                        "<tr class=\"gap\"><td colspan=\"\(shardCount + 2)\">… \(events.count - 2 * half) "
                        + "events left out …</td></tr>\n"
                }
                continue
            }
            let event = TraceEvent(parsing: events[index])
            if event.kind == .time, let time = event.time { now = time }
            html += row(event, now: now, shardCount: shardCount)
        }
        if let failure = result.failure {
            html +=
                "<tr class=\"end\"><td colspan=\"\(shardCount + 2)\">✖ \(escape(failure.kind.rawValue)): "
                + "\(escape(failure.message))</td></tr>\n"
        } else {
            html += "<tr class=\"pass\"><td colspan=\"\(shardCount + 2)\">✔ every task finished</td></tr>\n"
        }
        return html + "</tbody>\n</table>\n"
    }

    static func row(_ event: TraceEvent, now: String, shardCount: Int) -> String {
        let step = event.step.map(String.init) ?? ""
        var html = "<tr class=\"\(event.kind.rawValue)\"><td class=\"step\">\(step)</td>"
        html += "<td class=\"clock\">\(escape(now))</td>"
        if let shard = event.shard, (0..<shardCount).contains(shard) {
            for lane in 0..<shardCount {
                html +=
                    lane == shard
                    ? "<td class=\"lane \(event.kind.rawValue)\">\(escape(event.label))</td>"
                    : "<td class=\"lane\"></td>"
            }
        } else {
            // A time jump (or an event that names no shard) spans every lane.
            html +=
                "<td class=\"lane span \(event.kind.rawValue)\" colspan=\"\(shardCount)\">\(escape(event.label))</td>"
        }
        return html + "</tr>\n"
    }

    static let style = """
        body{font:14px/1.4 -apple-system,system-ui,sans-serif;margin:1.5em;color:#222}
        h1{font-size:1.3em}h2{font-size:1.1em;margin-top:1.2em}h3{font-size:1em}
        code,pre,td.step,td.clock{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
        pre{background:#f6f6f6;padding:.6em;overflow-x:auto}
        table.summary th{text-align:left;padding-right:1em;font-weight:600}
        section.failure{border:2px solid #c33;background:#fff5f5;padding:.2em 1em;margin:1em 0}
        section.failure h2{color:#a11}
        table.timeline{border-collapse:collapse;width:100%}
        table.timeline th{position:sticky;top:0;background:#eee;text-align:left;padding:2px 6px}
        table.timeline td{padding:1px 6px;border-bottom:1px solid #f0f0f0;white-space:nowrap}
        td.lane{border-left:1px solid #ddd;min-width:12em}
        td.run{background:#e3efff}td.deliver{background:#e5f7e5}td.time{background:#fff2d6;text-align:center}
        td.io{background:#f3e5ff}
        td.other{background:#eee}
        span.run,span.deliver,span.time,span.io{padding:0 .5em}
        span.run{background:#e3efff}span.deliver{background:#e5f7e5}span.time{background:#fff2d6}
        span.io{background:#f3e5ff}
        tr.gap td{text-align:center;color:#888;font-style:italic}
        tr.end td{background:#c33;color:#fff;font-weight:600;padding:4px 6px}
        tr.pass td{background:#2a7;color:#fff;font-weight:600;padding:4px 6px}
        p.note{color:#a60}
        """
}

/// One line of a simulation trace (`[12] shard 1 runs a task job #0 of 3`,
/// `[13] deliver 2 message(s) to shard 0`, `[13] time 0.005 seconds`,
/// `[14] shard 0 runs its next I/O event`), taken apart for the
/// timeline.
struct TraceEvent {
    enum Kind: String {
        case run, deliver, time, io, other
    }

    var step: Int?
    var kind: Kind
    var shard: Int?
    /// The event without its step number.
    var label: String
    /// For a time jump, the new virtual time.
    var time: String?

    init(parsing line: String) {
        var rest = Substring(line)
        if rest.hasPrefix("["), let close = rest.firstIndex(of: "]") {
            step = Int(rest[rest.index(after: rest.startIndex)..<close])
            rest = rest[rest.index(after: close)...].drop { $0 == " " }
        }
        label = String(rest)
        if rest.hasPrefix("time ") {
            kind = .time
            time = String(rest.dropFirst(5))
        } else if rest.hasPrefix("deliver ") {
            kind = .deliver
        } else if rest.contains("I/O") {
            kind = .io
        } else if rest.contains(" runs ") {
            kind = .run
        } else {
            kind = .other
        }
        shard = Self.shardNumber(in: rest)
    }

    /// The number after the first "shard " in `text`.
    static func shardNumber(in text: Substring) -> Int? {
        guard let range = text.firstRange(of: "shard ") else { return nil }
        let digits = text[range.upperBound...].prefix { $0.isNumber }
        return Int(digits)
    }
}

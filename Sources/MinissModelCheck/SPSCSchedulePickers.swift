import Miniss

/// What a picker sees at a scheduling point. Threads are 0 (producer) and 1 (consumer).
struct SPSCChoicePoint {
    /// The threads that may take the next step (never empty).
    var runnable: [Int]
    /// The thread that took the last step; nil before the first step.
    var running: Int?
    /// The number of the step about to be taken (1-based).
    var step: Int

    /// Whether picking `thread` preempts the running thread.
    func isPreemption(_ thread: Int) -> Bool {
        guard let running, runnable.contains(running) else { return false }
        return thread != running
    }
}

/// Decides, step by step, which thread runs.
protocol SPSCSchedulePicker {
    /// Called once before each run.
    mutating func startRun()
    /// Returns one of `point.runnable`.
    mutating func pick(_ point: SPSCChoicePoint) -> Int
}

/// Uniformly random among the runnable threads.
struct SPSCRandomPicker: SPSCSchedulePicker {
    private var random: SeededRandom

    init(seed: UInt64) { random = SeededRandom(seed: seed) }

    mutating func startRun() {}

    mutating func pick(_ point: SPSCChoicePoint) -> Int {
        point.runnable.count == 1
            ? point.runnable[0] : point.runnable[Int(random.next() % UInt64(point.runnable.count))]
    }
}

/// PCT: the highest-priority runnable thread runs; at each change point the running thread's
/// priority drops below all initial ones (the i-th change point gives priority i, initial
/// priorities are `depth` and `depth + 1`).
struct SPSCPCTPicker: SPSCSchedulePicker {
    private var priorities: [Int]
    private let changePoints: [Int]

    /// `expectedSteps` is the k of the PCT bound: change points are drawn from 1...k.
    init(seed: UInt64, depth requestedDepth: Int, expectedSteps: Int) {
        let depth = max(1, requestedDepth)
        var random = SeededRandom(seed: seed)
        priorities = random.next() & 1 == 0 ? [depth, depth + 1] : [depth + 1, depth]
        changePoints = (1..<depth).map { _ in 1 + Int(random.next() % UInt64(max(1, expectedSteps))) }
    }

    mutating func startRun() {}

    mutating func pick(_ point: SPSCChoicePoint) -> Int {
        if let running = point.running {
            for (index, changeStep) in changePoints.enumerated() where changeStep == point.step {
                priorities[running] = index + 1
            }
        }
        return point.runnable.max { priorities[$0] < priorities[$1] }!
    }
}

/// Follows a recorded schedule letter by letter; past its end, or where the recorded thread
/// cannot run (the schedule came from another configuration), it keeps the running thread.
struct SPSCReplayPicker: SPSCSchedulePicker {
    private let choices: [Int]
    private var position = 0
    private var firstMismatch: Int?

    init(schedule: [Int]) { choices = schedule }

    /// The first step at which the run left the recorded schedule (a letter naming a thread
    /// that could not run, a run longer or shorter than the schedule); nil if it followed it.
    var divergedAtStep: Int? {
        firstMismatch ?? (position < choices.count ? position + 1 : nil)
    }

    mutating func startRun() {
        position = 0
        firstMismatch = nil
    }

    mutating func pick(_ point: SPSCChoicePoint) -> Int {
        defer { position += 1 }
        if position < choices.count, point.runnable.contains(choices[position]) { return choices[position] }
        if firstMismatch == nil { firstMismatch = position + 1 }
        if let running = point.running, point.runnable.contains(running) { return running }
        return point.runnable[0]
    }
}

/// Depth-first enumeration of every schedule with at most `preemptionBound` preemptions. Each
/// run replays the recorded prefix of choices and, past it, keeps the running thread (the
/// choice that costs no preemption); ``advance()`` then moves to the next unexplored branch.
/// The run under test is deterministic given its schedule, so the options at each point
/// depend only on the choices before it.
struct SPSCExhaustivePicker: SPSCSchedulePicker {
    private struct Decision {
        /// The runnable threads, the non-preempting choice first.
        var options: [Int]
        var chosen: Int
        var preemptionsBefore: Int
        var runningWasRunnable: Bool
    }

    let preemptionBound: Int
    private var prefix: [Int] = []
    private var decisions: [Decision] = []
    private var preemptions = 0

    init(preemptionBound: Int) {
        self.preemptionBound = max(0, preemptionBound)
    }

    mutating func startRun() {
        decisions.removeAll(keepingCapacity: true)
        preemptions = 0
    }

    mutating func pick(_ point: SPSCChoicePoint) -> Int {
        var options = point.runnable
        let runningWasRunnable = point.running.map { point.runnable.contains($0) } ?? false
        if runningWasRunnable, let running = point.running, options[0] != running { options.swapAt(0, 1) }
        let index = decisions.count
        let chosen = index < prefix.count ? prefix[index] : 0
        precondition(chosen < options.count, "exhaustive search: the run is not deterministic")
        decisions.append(
            Decision(
                options: options, chosen: chosen, preemptionsBefore: preemptions, runningWasRunnable: runningWasRunnable
            ))
        if runningWasRunnable && chosen > 0 { preemptions += 1 }
        return options[chosen]
    }

    /// Sets up the next schedule; false when the bounded space is exhausted.
    mutating func advance() -> Bool {
        while let last = decisions.popLast() {
            let next = last.chosen + 1
            guard next < last.options.count else { continue }
            // Option 0 is the running thread whenever it could go on, so any other is a preemption.
            let cost = last.runningWasRunnable ? 1 : 0
            guard last.preemptionsBefore + cost <= preemptionBound else { continue }
            prefix = decisions.map(\.chosen) + [next]
            return true
        }
        return false
    }
}

import Miniss

/// A bug to plant in `cross-shard-counter`, to show that its invariants catch it.
package enum CrossShardCounterBug: Sendable {
    /// The counter reads the count, yields, then writes back: concurrent increments overwrite
    /// each other.
    case lostUpdate
    /// A sender spawns one task per increment instead of awaiting each: they reach shard 1 in
    /// whatever order the scheduler starts them.
    case unorderedSends
}

extension SimulationScenario {
    /// The cross-shard counter, correct (`plantedBug: nil`) or with a planted bug.
    package static func crossShardCounter(plantedBug: CrossShardCounterBug?) -> SimulationScenario {
        switch plantedBug {
        case nil:
            return SimulationScenario(
                name: "cross-shard-counter",
                summary:
                    "senders on shards 0 and 2 submit increments to a counter on shard 1; checks the final count "
                    + "and that each sender's increments arrive in order",
                shards: 3
            ) { CrossShardCounter.program(plantedBug: nil) }
        case .lostUpdate:
            return SimulationScenario(
                name: "buggy-lost-update",
                summary:
                    "cross-shard-counter with a planted bug: the counter awaits between reading and writing, "
                    + "so concurrent increments are lost",
                shards: 3, isDeliberatelyBuggy: true
            ) { CrossShardCounter.program(plantedBug: .lostUpdate) }
        case .unorderedSends:
            return SimulationScenario(
                name: "buggy-unordered-sends",
                summary: "cross-shard-counter with a planted bug: senders fire increments off as separate tasks",
                shards: 3, isDeliberatelyBuggy: true
            ) { CrossShardCounter.program(plantedBug: .unorderedSends) }
        }
    }
}

/// `cross-shard-counter`: a counter that lives on shard 1, incremented with `submit(to: 1)` by
/// several concurrent senders on shard 0 and shard 2.
///
/// Each sender sends a random number of increments, each carrying its sequence number, and
/// waits for each reply before the next (so its own increments are ordered by causality);
/// between sends it yields or sleeps a random while, so senders on both shards interleave at
/// random and several increments are in flight to shard 1 at once.
///
/// Invariants, and the bugs they catch:
/// - every increment runs on shard 1 — a `submit(to:)` that runs the body on the wrong shard;
/// - each sender's sequence numbers arrive on shard 1 in order, none missing, none twice — a
///   message delivered twice, dropped or overtaken, a reply that completes the wrong call or
///   comes back before its body ran (the planted ``CrossShardCounterBug/unorderedSends``: a
///   sender that fires its increments off as separate tasks, leaving their order to the
///   scheduler);
/// - at the end the count equals the increments sent, and each sender's last sequence number
///   matches what it sent — a lost update on shard 1 (the planted
///   ``CrossShardCounterBug/lostUpdate``, which `buggy-lost-update` ships), a lost message.
///
/// Note: increments in flight from *different* senders may run in any order. Even two
/// increments one shard sends back to back are delivered in order but each runs as its own task
/// on shard 1, and the simulator starts ready tasks in any order — which is why a sender
/// here awaits each reply before it sends the next.
enum CrossShardCounter {
    static let counterShard = 1
    static let senderShards = [0, 2]
    /// At most this many senders per sending shard, and increments per sender.
    static let maxSendersPerShard = 4
    static let maxIncrementsPerSender = 8

    /// The counter's state. It lives on shard 1: only bodies submitted there touch it.
    final class Counter: @unchecked Sendable {
        // SAFETY (@unchecked Sendable): read and written only by tasks on shard 1 (checked by
        // an invariant in `increment`), and the scenario runs only under the simulator, whose
        // shards all run on its one thread.
        var count = 0
        /// The next sequence number due from each sender.
        var nextSequence: [Int]

        init(senders: Int) {
            nextSequence = Array(repeating: 0, count: senders)
        }

        func increment(sender: Int, sequence: Int, plantedBug: CrossShardCounterBug?) async {
            invariant(
                Shard.current?.id == CrossShardCounter.counterShard,
                "an increment ran on shard \(Shard.current?.id ?? -1), not on the counter's shard 1")
            let due = nextSequence[sender]
            invariant(
                sequence == due,
                "sender \(sender)'s increment #\(sequence) reached shard 1 when #\(due) was due: "
                    + "per-sender order broken")
            nextSequence[sender] = max(due, sequence + 1)
            if plantedBug == .lostUpdate {
                let read = count
                await Shard.yield()
                count = read + 1
            } else {
                count += 1
            }
        }
    }

    /// How many increments each sender sent (each sender writes only its own slot).
    final class Ledger: @unchecked Sendable {
        // SAFETY (@unchecked Sendable): each slot is written by one sender task, and the
        // scenario runs only under the simulator, whose shards all run on its one thread.
        var sent: [Int]

        init(senders: Int) {
            sent = Array(repeating: 0, count: senders)
        }
    }

    static func program(plantedBug: CrossShardCounterBug?) -> @Sendable () async throws -> Void {
        {
            // Sender ids: shard 0's first, then shard 2's.
            let localSenders = Simulation.random(in: 2..<(maxSendersPerShard + 1))
            let remoteSenders = Simulation.random(in: 1..<(maxSendersPerShard + 1))
            let senders = localSenders + remoteSenders
            let counter = Counter(senders: senders)
            let ledger = Ledger(senders: senders)

            let local = (0..<localSenders).map { sender in
                spawn { try await send(from: sender, to: counter, ledger: ledger, plantedBug: plantedBug) }
            }
            // Shard 2's senders start while shard 0's are already sending.
            try await submit(to: 2) {
                let remote = (localSenders..<senders).map { sender in
                    spawn { try await send(from: sender, to: counter, ledger: ledger, plantedBug: plantedBug) }
                }
                for handle in remote { try await handle.value }
            }
            for handle in local { try await handle.value }

            let (count, received) = try await submit(to: counterShard) { (counter.count, counter.nextSequence) }
            let sent = ledger.sent.reduce(0, +)
            invariant(count == sent, "lost increments: the counter on shard 1 is \(count), senders sent \(sent)")
            for sender in 0..<senders {
                invariant(
                    received[sender] == ledger.sent[sender],
                    "sender \(sender) sent \(ledger.sent[sender]) increments, shard 1 saw up to #\(received[sender] - 1)"
                )
            }
        }
    }

    /// One sender: a random number of increments, each awaited before the next, with random
    /// pauses (a yield or a 0–2 ms sleep) in between.
    static func send(
        from sender: Int, to counter: Counter, ledger: Ledger, plantedBug: CrossShardCounterBug?
    ) async throws {
        let increments = Simulation.random(in: 1..<(maxIncrementsPerSender + 1))
        var fired: [JoinHandle<Void>] = []
        for sequence in 0..<increments {
            switch Simulation.random(in: 0..<4) {
            case 0: await Shard.yield()
            case 1: try await sleep(for: .milliseconds(Simulation.random(in: 0..<3)))
            default: break
            }
            ledger.sent[sender] += 1
            if plantedBug == .unorderedSends {
                fired.append(
                    spawn {
                        try await submit(to: counterShard) {
                            await counter.increment(sender: sender, sequence: sequence, plantedBug: plantedBug)
                        }
                    })
            } else {
                try await submit(to: counterShard) {
                    await counter.increment(sender: sender, sequence: sequence, plantedBug: plantedBug)
                }
            }
        }
        for handle in fired { try await handle.value }
    }
}

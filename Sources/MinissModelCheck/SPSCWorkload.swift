/// The fixed workload every checked run performs (it must be deterministic: the exhaustive
/// search replays schedules and expects the same choices at the same points).
///
/// - Producer: pushes 1...items in order, alternating a single `tryPush` with a batch of up to
///   two `tryPushWithoutPublishing` followed by one `publish()`. A push that fails publishes what
///   the batch holds, waits for the consumer, and is retried.
/// - Consumer: cycles through `tryPop`, `popAll` and `hasPublishedElements` until it holds
///   `items` values; a call that finds nothing waits for the producer.
extension SPSCExplorer {
    func runProducer() {
        guard let ring else { return }
        var next = 1
        var singlePush = true
        while next <= items && !aborted {
            if singlePush {
                let invoked = step
                let accepted = ring.tryPush(next)
                record(.tryPush(next, accepted: accepted), invokedAt: invoked)
                if accepted { next += 1 } else { waitForOtherSide(sinceStep: invoked) }
            } else {
                var batched = 0
                var failedAt: Int?
                while batched < 2 && next <= items && !aborted {
                    let invoked = step
                    let accepted = ring.tryPushWithoutPublishing(next)
                    record(.tryPushWithoutPublishing(next, accepted: accepted), invokedAt: invoked)
                    guard accepted else {
                        failedAt = invoked
                        break
                    }
                    next += 1
                    batched += 1
                }
                if batched > 0 && !aborted {
                    let invoked = step
                    ring.publish()
                    record(.publish, invokedAt: invoked)
                }
                if let failedAt { waitForOtherSide(sinceStep: failedAt) }
            }
            singlePush.toggle()
        }
    }

    func runConsumer() {
        guard let ring else { return }
        var receivedCount = 0
        var call = 0
        while receivedCount < items && !aborted {
            let invoked = step
            switch call % 3 {
            case 0:
                let value = ring.tryPop()
                record(.tryPop(value), invokedAt: invoked)
                if let value {
                    consumerReceived(value)
                    receivedCount += 1
                } else {
                    waitForOtherSide(sinceStep: invoked)
                }
            case 1:
                var values: [Int] = []
                ring.popAll { values.append($0) }
                record(.popAll(values), invokedAt: invoked)
                for value in values { consumerReceived(value) }
                receivedCount += values.count
                if values.isEmpty { waitForOtherSide(sinceStep: invoked) }
            default:
                let published = ring.hasPublishedElements
                record(.hasPublishedElements(published), invokedAt: invoked)
                if !published { waitForOtherSide(sinceStep: invoked) }
            }
            call += 1
        }
    }
}

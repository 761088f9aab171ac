#if canImport(Glibc)
    import Glibc
#endif

extension ShardEngine {
    /// Runs `operation` on this shard's driver and waits for its completion. Returns the result
    /// (`>= 0`) or `-errno`.
    ///
    /// Cancelling the waiting task asks the driver to cancel the request; the task still waits
    /// for the request's completion, so the buffer stays owned until the kernel is done. A
    /// request that finished before the cancel took effect returns its result (nothing read is
    /// lost); one that was cancelled throws `CancellationError`.
    ///
    /// Must be called on this shard's thread.
    package func perform(_ operation: IOOperation) async throws -> Int32 {
        precondition(isCurrent, "I/O runs on the shard that owns the descriptor")
        guard let driver else { throw MinissError.runtimeNotRunning("start I/O") }
        if Task.isCancelled { throw CancellationError() }
        // After the driver cancelled everything at shutdown, nothing new may start: a request
        // queued now would never be submitted.
        if isDraining { return -ECANCELED }
        if let result = driver.attemptNow(operation) { return result }
        operation.ticket &+= 1
        let ticket = operation.ticket
        let result = await withTaskCancellationHandler {
            await withUnsafeContinuation { continuation in
                operation.continuation = continuation
                driver.start(operation)
            }
        } onCancel: { [self] in
            // The handler runs on the cancelling thread: the cancel itself runs on the shard,
            // and only if the operation still runs this request (it is reused for the next).
            _ = tryExecute {
                if operation.ticket == ticket { driver.cancel(operation) }
            }
        }
        if result == -ECANCELED && Task.isCancelled { throw CancellationError() }
        return result
    }
}

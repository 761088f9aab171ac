import Synchronization
import Testing

@testable import Miniss

@Suite("invariant() outside the simulator", .serialized)
struct InvariantTests {
    @Test func aBrokenInvariantReportsItsMessageAndBacktrace() {
        let reports = Mutex<[String]>([])
        let policy = Invariants.policy
        Invariants.policy = .log
        Invariants.reportSink = { report in reports.withLock { $0.append(report) } }
        defer {
            Invariants.policy = policy
            Invariants.reportSink = nil
        }
        invariant(true, "holds, so nothing is reported")
        invariant(1 + 1 == 3, "arithmetic broke")
        let collected = reports.withLock { $0 }
        #expect(collected.count == 1)
        #expect(collected.first?.contains("arithmetic broke") == true)
        #expect(collected.first?.contains("InvariantTests.swift") == true, "the report names the file")
        #expect(collected.first?.contains("#0 0x") == true, "the report carries a backtrace")
    }
}

import Testing

@testable import Miniss

@Suite("Backtraces")
struct BacktraceTests {
    @inline(never)
    func innermostFunctionForBacktrace() -> Backtrace {
        Backtrace.capture()
    }

    @Test func captureNamesTheCallerDemangled() {
        let backtrace = innermostFunctionForBacktrace()
        #expect(backtrace.frames.count > 2)
        let first = backtrace.frames.first?.symbol ?? ""
        #expect(first.contains("innermostFunctionForBacktrace"), "first frame was \(first)")
        #expect(!first.hasPrefix("$s"), "the symbol should be demangled: \(first)")
        #expect(backtrace.description.contains("#0 0x"))
    }

    @Test func demangleLeavesCSymbolsAlone() {
        #expect(Backtrace.demangle("main") == "main")
        #expect(Backtrace.demangle("$sSiD") == "Swift.Int")
    }
}

import Foundation
import MinissHTTP

/// SplitMix64: small, fast and seedable, so a failing randomized case replays from its seed.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

/// The seeds a randomized test runs: `MINISS_SEED=<n>` replays just that one.
func testSeeds(_ defaultSeeds: ClosedRange<UInt64>) -> [UInt64] {
    ProcessInfo.processInfo.environment["MINISS_SEED"].flatMap(UInt64.init).map { [$0] } ?? Array(defaultSeeds)
}

/// Everything observable after feeding some input: the requests returned, the error thrown (if any), and
/// what is left buffered.
struct ParseOutcome: Equatable, CustomStringConvertible {
    var requests: [HTTPRequest] = []
    var error: HTTPParseError?
    var bufferedByteCount = 0
    var hasPartialRequest = false

    var description: String {
        let summary = requests.map { "\($0.method) \($0.target) body \($0.body.count)" }
        return "requests \(summary), error \(error.map(String.init(describing:)) ?? "none"), "
            + "buffered \(bufferedByteCount), partial \(hasPartialRequest)"
    }
}

/// Feeds `input` in pieces of the given sizes (the rest in one last piece), draining requests after each.
func parse(_ input: [UInt8], pieces: [Int] = [], limits: HTTPLimits = HTTPLimits()) -> ParseOutcome {
    var parser = HTTPRequestParser(limits: limits)
    var outcome = ParseOutcome()
    var offset = 0
    var sizes = pieces[...]
    repeat {
        let size = min(sizes.popFirst() ?? input.count, input.count - offset)
        parser.append(Array(input[offset..<offset + size]))
        offset += size
        do {
            while let request = try parser.next() { outcome.requests.append(request) }
        } catch {
            outcome.error = error
            break
        }
    } while offset < input.count
    outcome.bufferedByteCount = parser.bufferedByteCount
    outcome.hasPartialRequest = parser.hasPartialRequest
    return outcome
}

/// Feeds `input` one byte at a time.
func parseBytewise(_ input: [UInt8], limits: HTTPLimits = HTTPLimits()) -> ParseOutcome {
    parse(input, pieces: Array(repeating: 1, count: input.count), limits: limits)
}

/// Random piece sizes covering `count` bytes, small ones more often.
func randomPieces(count: Int, using generator: inout SeededGenerator) -> [Int] {
    var pieces: [Int] = []
    var covered = 0
    while covered < count {
        let size =
            Bool.random(using: &generator)
            ? Int.random(in: 1...4, using: &generator)
            : Int.random(in: 1...max(1, count / 3), using: &generator)
        pieces.append(size)
        covered += size
    }
    return pieces
}

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

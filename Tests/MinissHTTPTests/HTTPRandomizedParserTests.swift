import MinissHTTP
import Testing

/// Properties checked over random inputs and random read boundaries. Each failure names its seed;
/// `MINISS_SEED=<n> swift test --filter <test>` replays it.
@Suite struct HTTPRandomizedParserTests {
    static let validRequests: [String] = [
        "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
        "GET /search?q=swift&lang=en HTTP/1.1\r\nHost: h\r\nUser-Agent: test/1.0\r\nAccept: */*\r\n\r\n",
        "HEAD /index.html HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        "POST /echo HTTP/1.1\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nhello, world!",
        "PUT /x HTTP/1.1\r\nContent-Length: 3, 3\r\nConnection: close\r\n\r\nabc",
        "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nT: x\r\n\r\n",
        "POST /lf HTTP/1.1\nTransfer-Encoding: chunked\n\n3\nabc\n0\n\n",
        "\r\n\r\nDELETE /item/42 HTTP/1.1\r\nX-Empty:\r\n\r\n",
        "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
    ]

    static let interestingBytes: [UInt8] = Array("\r\n \t:,;0Ff\"".utf8) + [0, 0x7f, 0x80, 0xff]
    static let interestingStrings: [String] = [
        "\r\n", "\n", "\r", "\r\n\r\n", "Content-Length: 5\r\n", "Content-Length: 99999999999\r\n",
        "Transfer-Encoding: chunked\r\n", "0\r\n\r\n", "FFFFFFFFFFFFFFFFF\r\n", " HTTP/1.1", "HTTP/2.0",
    ]

    private static func record(_ failure: String, seed: UInt64, test: String) {
        Issue.record("seed \(seed): \(failure)\nreplay: MINISS_SEED=\(seed) swift test --filter \(test)")
    }

    @Test func resultsDoNotDependOnWhereReadsSplitTheInput() {
        let expectedEach = Self.validRequests.map { parse(bytes($0)).requests }
        for (index, requests) in expectedEach.enumerated() {
            #expect(requests.count == 1, "sample \(index) does not parse")
        }
        for seed in testSeeds(1...200) {
            var generator = SeededGenerator(seed: seed)
            var input: [UInt8] = []
            var expected: [HTTPRequest] = []
            for _ in 0..<Int.random(in: 1...6, using: &generator) {
                let pick = Int.random(in: 0..<Self.validRequests.count, using: &generator)
                input += bytes(Self.validRequests[pick])
                expected += expectedEach[pick]
            }
            if Bool.random(using: &generator) {  // A trailing partial request, or a malformed one.
                let tail =
                    Bool.random(using: &generator)
                    ? bytes(Self.validRequests.randomElement(using: &generator)!)
                    : bytes(HTTPMalformedRequestTests.cases.randomElement(using: &generator)!.input)
                input += tail.prefix(Int.random(in: 0...tail.count, using: &generator))
            }
            let whole = parse(input)
            guard Array(whole.requests.prefix(expected.count)) == expected else {
                Self.record("whole input gave \(whole)", seed: seed, test: "resultsDoNotDependOnWhereReadsSplit")
                return
            }
            let pieces = randomPieces(count: input.count, using: &generator)
            let split = parse(input, pieces: pieces)
            let bytewise = parseBytewise(input)
            guard split == whole, bytewise == whole else {
                Self.record(
                    "whole \(whole)\nsplit at \(pieces) \(split)\nbyte by byte \(bytewise)", seed: seed,
                    test: "resultsDoNotDependOnWhereReadsSplit")
                return
            }
        }
    }

    private static func mutate(_ input: inout [UInt8], using generator: inout SeededGenerator) {
        let position = Int.random(in: 0...input.count, using: &generator)
        let inside = min(position, max(0, input.count - 1))
        switch Int.random(in: 0..<7, using: &generator) {
        case 0 where !input.isEmpty: input[inside] ^= 1 << UInt8.random(in: 0..<8, using: &generator)
        case 1 where !input.isEmpty: input[inside] = interestingBytes.randomElement(using: &generator)!
        case 2: input.insert(interestingBytes.randomElement(using: &generator)!, at: position)
        case 3 where !input.isEmpty: input.remove(at: inside)
        case 4: input.removeLast(input.count - position)
        case 5:
            let end = min(input.count, position + Int.random(in: 1...16, using: &generator))
            input.insert(contentsOf: input[position..<end], at: position)
        default: input.insert(contentsOf: bytes(interestingStrings.randomElement(using: &generator)!), at: position)
        }
    }

    @Test func mutatedRequestsNeverCrashAndParseTheSameHoweverSplit() {
        let statuses: Set<Int> = [400, 413, 431, 501, 505]
        for seed in testSeeds(1...1_000) {
            var generator = SeededGenerator(seed: seed)
            var input: [UInt8] = []
            for _ in 0..<Int.random(in: 1...3, using: &generator) {
                input += bytes(Self.validRequests.randomElement(using: &generator)!)
            }
            for _ in 0..<Int.random(in: 1...6, using: &generator) { Self.mutate(&input, using: &generator) }
            let limits =
                Bool.random(using: &generator)
                ? HTTPLimits()
                : HTTPLimits(
                    maxHeaderBytes: Int.random(in: 1...200, using: &generator),
                    maxHeaderCount: Int.random(in: 0...4, using: &generator),
                    maxBodyBytes: Int.random(in: 0...16, using: &generator))
            let whole = parse(input, limits: limits)
            let pieces = randomPieces(count: input.count, using: &generator)
            let split = parse(input, pieces: pieces, limits: limits)
            if let error = whole.error, !statuses.contains(error.status) {
                Self.record("unexpected status in \(error)", seed: seed, test: "mutatedRequestsNeverCrash")
                return
            }
            guard split == whole, whole.bufferedByteCount <= input.count else {
                Self.record(
                    "input \(String(decoding: input, as: UTF8.self).debugDescription)\nwhole \(whole)\n"
                        + "split at \(pieces) \(split)",
                    seed: seed, test: "mutatedRequestsNeverCrash")
                return
            }
        }
    }
}

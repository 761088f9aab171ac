import Testing

@testable import MinissHTTP

/// Bad input of every kind: each must give its status, the same whole or byte by byte.
@Suite struct HTTPMalformedRequestTests {
    static let chunkedHead = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"

    static let cases: [(input: String, status: Int)] = [
        // Request line.
        ("hello\r\n\r\n", 400),
        ("GET  / HTTP/1.1\r\n\r\n", 400),
        ("GET / HTTP/1.1 \r\n\r\n", 400),
        ("GET / HTTP/1.1 extra\r\n\r\n", 400),
        ("GET /\r\n\r\n", 400),
        ("GET / http/1.1\r\n\r\n", 400),
        ("GET / HTTP/1.10\r\n\r\n", 400),
        ("GET / HTTP/1\r\n\r\n", 400),
        ("G(T / HTTP/1.1\r\n\r\n", 400),
        (" GET / HTTP/1.1\r\n\r\n", 400),
        ("GET  HTTP/1.1\r\n\r\n", 400),
        ("GET /a\u{1}b HTTP/1.1\r\n\r\n", 400),
        ("GET /a\u{7f} HTTP/1.1\r\n\r\n", 400),
        ("GET / HTTP/1.1\rHost: x\r\n\r\n", 400),
        ("\r\r\nGET / HTTP/1.1\r\n\r\n", 400),
        ("GET / HTTP/2.0\r\n\r\n", 505),
        ("GET / HTTP/0.9\r\n\r\n", 505),
        ("GET / HTTP/1.2\r\n\r\n", 505),
        // Header fields.
        ("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: a\r\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost\t: x\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\n: x\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nX(y): x\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\n\tX: a\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nX: a\u{0}b\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nX: a\u{7f}\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nX: a\u{1b}[31m\r\n\r\n", 400),
        // Content-Length.
        ("POST / HTTP/1.1\r\nContent-Length: 12a\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nContent-Length: -5\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nContent-Length:\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nContent-Length: 5,\r\n\r\nabcde", 400),
        ("POST / HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\nabcdef", 400),
        ("POST / HTTP/1.1\r\nContent-Length: 5\r\ncontent-length: 6\r\n\r\nabcdef", 400),
        ("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999999\r\n\r\n", 413),
        ("POST / HTTP/1.1\r\nContent-Length: 1048577\r\n\r\n", 413),
        // Transfer-Encoding.
        ("POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n", 501),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nTransfer-Encoding:\r\n\r\n", 400),
        ("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        // Chunked framing.
        (chunkedHead + "zz\r\n", 400),
        (chunkedHead + "\r\n", 400),
        (chunkedHead + " 5\r\nhello\r\n0\r\n\r\n", 400),
        (chunkedHead + "-5\r\nhello\r\n0\r\n\r\n", 400),
        (chunkedHead + "5x\r\nhello\r\n0\r\n\r\n", 400),
        (chunkedHead + "10000000000000000\r\n", 400),
        (chunkedHead + "FFFFFFFFFFFFFFFF\r\n", 400),
        (chunkedHead + "00000000000000001\r\n", 400),
        (chunkedHead + "7FFFFFFFFFFFFFFF\r\n", 413),
        (chunkedHead + "100001\r\n", 413),
        (chunkedHead + "5;a=\u{1}\r\nhello\r\n0\r\n\r\n", 400),
        (chunkedHead + "5;a\rb\r\nhello\r\n0\r\n\r\n", 400),
        (chunkedHead + "5\r\nhelloX\r\n0\r\n\r\n", 400),
        (chunkedHead + "5\r\nhello\rX0\r\n\r\n", 400),
        (chunkedHead + "5\r\nhello0\r\n\r\n", 400),
        (chunkedHead + "0\r\n folded\r\n\r\n", 400),
        (chunkedHead + "0\r\nno colon\r\n\r\n", 400),
        (chunkedHead + "0\r\nX: \u{0}\r\n\r\n", 400),
    ]

    @Test(arguments: cases)
    func malformedInputGetsItsStatusWholeAndByteByByte(input: String, status: Int) throws {
        let whole = parse(bytes(input))
        let error = try #require(whole.error, "no error for \(input.debugDescription): \(whole)")
        #expect(error.status == status, "\(input.debugDescription): \(error)")
        #expect(whole.requests.isEmpty)
        #expect(parseBytewise(bytes(input)) == whole, "\(input.debugDescription)")
    }

    @Test func statusesAndReasonsMatchKinds() {
        let expected: [(HTTPParseError.Kind, Int, String)] = [
            (.malformed, 400, "Bad Request"), (.headersTooLarge, 431, "Request Header Fields Too Large"),
            (.bodyTooLarge, 413, "Content Too Large"), (.unsupportedVersion, 505, "HTTP Version Not Supported"),
            (.notImplemented, 501, "Not Implemented"),
        ]
        for (kind, status, reason) in expected {
            let error = HTTPParseError(kind, "why")
            #expect(error.status == status && error.reason == reason)
            #expect(error.description == "\(status) \(reason): why")
        }
    }

    @Test func messagesSayWhatWasWrongAndEscapeClientBytes() throws {
        let invalid = try #require(parse(bytes("POST / HTTP/1.1\r\nContent-Length: 12a\r\n\r\n")).error)
        #expect(invalid.message == "invalid Content-Length \"12a\"")
        let escaped = try #require(parse(bytes("GET /\u{1}<script> HTTP/1.1\r\n\r\n")).error)
        #expect(escaped.message == "invalid request target in request line \"GET /\\x01<script> HTTP/1.1\"")
        let long = try #require(
            parse(bytes("GET / HTTP/1.1\r\nContent-Length: \(String(repeating: "9", count: 90))x\r\n\r\n")).error)
        #expect(long.message.hasSuffix("…") && long.message.utf8.count < 90)
    }

    @Test func headerFloodWithoutTerminatorGets431BeforeTheTerminator() throws {
        let limits = HTTPLimits(maxHeaderBytes: 1024)
        var parser = HTTPRequestParser(limits: limits)
        parser.append(bytes("GET / HTTP/1.1\r\nX-Flood: "))
        var sent = 0
        var thrown: HTTPParseError?
        while thrown == nil && sent < 1 << 20 {
            parser.append(Array(repeating: UInt8(ascii: "a"), count: 100))
            sent += 100
            do { #expect(try parser.next() == nil) } catch { thrown = error }
        }
        #expect(thrown?.status == 431)
        #expect(sent <= 1024 + 100)
    }

    @Test func manyHeaderLinesWithoutABlankLineGet431() throws {
        var parser = HTTPRequestParser(limits: HTTPLimits(maxHeaderBytes: 2048, maxHeaderCount: 1000))
        parser.append(bytes("GET / HTTP/1.1\r\n"))
        var thrown: HTTPParseError?
        for _ in 0..<1000 where thrown == nil {
            parser.append(bytes("X-A: b\r\n"))
            do { _ = try parser.next() } catch { thrown = error }
        }
        #expect(thrown?.status == 431)
        #expect(parser.bufferedByteCount == 0)
    }

    @Test func longRequestLineGets431() throws {
        let input = bytes("GET /\(String(repeating: "a", count: 9000)) HTTP/1.1\r\n\r\n")
        #expect(parse(input).error?.status == 431)
        #expect(parse(Array(input.prefix(8200))).error?.status == 431)
    }

    @Test func headerAndTrailerCountsAreLimited() throws {
        let limits = HTTPLimits(maxHeaderCount: 2)
        #expect(parse(bytes("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"), limits: limits).error?.status == 431)
        let trailers = Self.chunkedHead + "0\r\nT: 1\r\nU: 2\r\n\r\n"
        #expect(parse(bytes(trailers), limits: limits).error?.status == 431)
        #expect(parse(bytes(trailers), limits: HTTPLimits(maxHeaderCount: 3)).requests.count == 1)
        let trailerFlood = Self.chunkedHead + "0\r\nT: " + String(repeating: "t", count: 9000)
        #expect(parse(bytes(trailerFlood)).error?.status == 431)
    }

    @Test func chunkedBodyOverTheLimitGets413() throws {
        let limits = HTTPLimits(maxBodyBytes: 10)
        let input = bytes(Self.chunkedHead + "6\r\nabcdef\r\n6\r\nghijkl\r\n0\r\n\r\n")
        let outcome = parse(input, limits: limits)
        #expect(outcome.error?.status == 413)
        #expect(parseBytewise(input, limits: limits) == outcome)
    }

    @Test func chunkSizeLinesAreBounded() throws {
        let longExtension = Self.chunkedHead + "1;" + String(repeating: "e", count: 9000) + "\r\nx\r\n0\r\n\r\n"
        #expect(parse(bytes(longExtension)).error?.status == 400)
        #expect(parse(Array(bytes(longExtension).prefix(8300))).error?.status == 400)
    }

    @Test func errorsAreSticky() throws {
        var parser = HTTPRequestParser()
        parser.append(bytes("GET / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"))
        let first = #expect(throws: HTTPParseError.self) { try parser.next() }
        #expect(first?.status == 400)
        parser.append(bytes("GET / HTTP/1.1\r\n\r\n"))
        let second = #expect(throws: HTTPParseError.self) { try parser.next() }
        #expect(second == first)
        #expect(parser.bufferedByteCount == 0)
        #expect(!parser.hasPartialRequest)
    }

    @Test func requestsBeforeAnErrorAreStillReturned() throws {
        let outcome = parse(bytes("GET /ok HTTP/1.1\r\n\r\nGET /bad HTTP/9.9\r\n\r\n"))
        #expect(outcome.requests.map(\.target) == ["/ok"])
        #expect(outcome.error?.kind == .unsupportedVersion)
    }
}

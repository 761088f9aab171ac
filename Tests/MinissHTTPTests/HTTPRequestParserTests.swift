import Testing

@testable import MinissHTTP

@Suite struct HTTPRequestParserTests {
    @Test func simpleGet() throws {
        var parser = HTTPRequestParser()
        parser.append(bytes("GET /path?q=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n"))
        let request = try #require(try parser.next())
        #expect(request.method == "GET")
        #expect(request.target == "/path?q=1")
        #expect(request.version == .http1_1)
        #expect(
            request.headers == [
                HTTPHeader(name: "Host", value: "example.com"), HTTPHeader(name: "Accept", value: "*/*"),
            ])
        #expect(request.body.isEmpty)
        #expect(request.keepAlive)
        #expect(try parser.next() == nil)
        #expect(parser.bufferedByteCount == 0)
        #expect(!parser.hasPartialRequest)
    }

    @Test func withoutKeptHeadersFramingAndConnectionStillWork() throws {
        var parser = HTTPRequestParser(keepsHeaders: false)
        parser.append(
            bytes(
                "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                    + "4\r\nabcd\r\n0\r\n\r\nPUT / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"))
        let request = try #require(try parser.next())
        #expect(request.headers.isEmpty)
        #expect(request.body == bytes("abcd"))
        #expect(!request.keepAlive)
        #expect(try parser.next() == nil)
        #expect(parser.expectsContinue, "Expect is read even when headers are not kept")
        parser.append(bytes("ok"))
        #expect(try parser.next()?.body == bytes("ok"))
        #expect(!parser.expectsContinue)
    }

    @Test func headerLookupIsCaseInsensitiveAndReturnsTheFirstMatch() throws {
        let outcome = parse(
            bytes("GET / HTTP/1.1\r\nX-Token:  first \t\r\nhost:a\r\nX-TOKEN: second\r\nX-Empty:\r\n\r\n"))
        let request = try #require(outcome.requests.first)
        #expect(request.header("x-token") == "first")
        #expect(request.header("X-Token") == "first")
        #expect(request.header("HOST") == "a")
        #expect(request.header("x-empty") == "")
        #expect(request.header("x-tokens") == nil)
        #expect(request.header("missing") == nil)
        #expect(request.headers.map(\.name) == ["X-Token", "host", "X-TOKEN", "X-Empty"])
    }

    @Test(
        arguments: [
            ("1.1", nil, true),
            ("1.1", "close", false),
            ("1.1", "Close", false),
            ("1.1", "keep-alive", true),
            ("1.1", "Upgrade, CLOSE", false),
            ("1.1", "closed", true),
            ("1.1", "keep-alive, close", false),
            ("1.0", nil, false),
            ("1.0", "keep-alive", true),
            ("1.0", "Keep-Alive", true),
            ("1.0", "foo ,  keep-alive ", true),
            ("1.0", "keep-alive, close", false),
            ("1.0", "close", false),
        ] as [(String, String?, Bool)])
    func keepAliveFollowsVersionAndConnectionTokens(version: String, connection: String?, keepAlive: Bool) throws {
        let field = connection.map { "Connection: \($0)\r\n" } ?? ""
        let outcome = parse(bytes("GET / HTTP/\(version)\r\nHost: h\r\n\(field)\r\n"))
        let request = try #require(outcome.requests.first, "\(outcome)")
        #expect(request.keepAlive == keepAlive)
        #expect(request.version == (version == "1.0" ? .http1_0 : .http1_1))
    }

    @Test func connectionTokensSpreadOverSeveralFieldsCombine() throws {
        let outcome = parse(bytes("GET / HTTP/1.1\r\nConnection: upgrade\r\nConnection: close\r\n\r\n"))
        #expect(try #require(outcome.requests.first).keepAlive == false)
    }

    @Test func postWithContentLength() throws {
        let outcome = parse(bytes("POST /submit HTTP/1.1\r\nContent-Length: 11\r\n\r\nhello world"))
        let request = try #require(outcome.requests.first, "\(outcome)")
        #expect(request.method == "POST")
        #expect(request.body == bytes("hello world"))
        #expect(outcome.error == nil && outcome.bufferedByteCount == 0)
    }

    @Test(arguments: ["Content-Length: 5, 5", "Content-Length: 5\r\nContent-Length: 5", "Content-Length: 005"])
    func identicalContentLengthsAreAccepted(fields: String) throws {
        let outcome = parse(bytes("PUT / HTTP/1.1\r\n\(fields)\r\n\r\nabcde"))
        #expect(try #require(outcome.requests.first, "\(outcome)").body == bytes("abcde"))
    }

    @Test func contentLengthZeroAndNoFramingGiveAnEmptyBody() throws {
        let outcome = parse(bytes("POST /a HTTP/1.1\r\nContent-Length: 0\r\n\r\nPOST /b HTTP/1.0\r\n\r\n"))
        #expect(outcome.requests.map(\.target) == ["/a", "/b"])
        #expect(outcome.requests.allSatisfy { $0.body.isEmpty })
    }

    @Test func chunkedBodyWithExtensionsAndTrailers() throws {
        let input = bytes(
            "POST /upload HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                + "5;name=value\r\nhello\r\n"
                + "1 ; a=\"quoted\";b\r\n \r\n"
                + "A\r\n0123456789\r\n"
                + "0;last\r\nExpires: never\r\nX-Trailer: 1\r\n\r\n")
        let outcome = parse(input)
        let request = try #require(outcome.requests.first, "\(outcome)")
        #expect(request.body == bytes("hello 0123456789"))
        #expect(request.headers == [HTTPHeader(name: "Transfer-Encoding", value: "chunked")])
        #expect(request.header("expires") == nil)
        #expect(outcome.bufferedByteCount == 0)
    }

    @Test func chunkedAcceptsBareLineFeedsAndUpperCaseHexAndCodingCase() throws {
        let outcome = parse(bytes("POST / HTTP/1.1\nTransfer-Encoding: CHUNKED\n\nA\n0123456789\n0\n\n"))
        #expect(try #require(outcome.requests.first, "\(outcome)").body == bytes("0123456789"))
    }

    @Test func pipelinedBatchComesOutInOrderAndKeepsThePartialRequest() throws {
        let complete = bytes(
            "GET /1 HTTP/1.1\r\nHost: h\r\n\r\n"
                + "POST /2 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
                + "POST /3 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nxy\r\n0\r\n\r\n"
                + "HEAD /4 HTTP/1.0\r\n\r\n")
        let partial = bytes("POST /5 HTTP/1.1\r\nContent-Length: 4\r\n\r\nde")
        var parser = HTTPRequestParser()
        parser.append(complete + partial)
        var targets: [String] = []
        while let request = try parser.next() { targets.append(request.target) }
        #expect(targets == ["/1", "/2", "/3", "/4"])
        #expect(parser.hasPartialRequest)
        #expect(parser.bufferedByteCount == 0)  // The partial body's bytes are already taken in.
        parser.append(bytes("fgGET /6"))
        let fifth = try #require(try parser.next())
        #expect(fifth.target == "/5" && fifth.body == bytes("defg"))
        #expect(try parser.next() == nil)
        #expect(parser.hasPartialRequest)
        #expect(parser.bufferedByteCount == 6)
    }

    @Test func blankLinesBeforeARequestAreSkippedAndDoNotStartOne() throws {
        var parser = HTTPRequestParser()
        parser.append(bytes("\r\n\n\r\n"))
        #expect(try parser.next() == nil)
        #expect(!parser.hasPartialRequest)
        #expect(parser.bufferedByteCount == 0)
        parser.append(bytes("\r"))
        #expect(try parser.next() == nil)
        #expect(!parser.hasPartialRequest)
        parser.append(bytes("\nG"))
        #expect(try parser.next() == nil)
        #expect(parser.hasPartialRequest)
        parser.append(bytes("ET / HTTP/1.1\n\n"))
        #expect(try parser.next()?.method == "GET")
    }

    @Test func appendFromARawBufferPointer() throws {
        var parser = HTTPRequestParser()
        bytes("GET /raw HTTP/1.1\r\n\r\n").withUnsafeBytes { parser.append($0) }
        #expect(try parser.next()?.target == "/raw")
    }

    @Test func nonASCIITargetAndValueBytesAreKept() throws {
        let outcome = parse(bytes("GET /caf\u{e9} HTTP/1.1\r\nX-Name: Zo\u{eb}\r\n\r\n"))
        let request = try #require(outcome.requests.first, "\(outcome)")
        #expect(request.target == "/caf\u{e9}")
        #expect(request.header("x-name") == "Zo\u{eb}")
    }

    @Test func limitsAreInclusive() throws {
        let head = bytes("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\n\r\n")
        let exact = HTTPLimits(maxHeaderBytes: head.count, maxHeaderCount: 2, maxBodyBytes: 4)
        #expect(parse(head, limits: exact).requests.count == 1)
        #expect(parseBytewise(head, limits: exact).requests.count == 1)
        let body = bytes("POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\nabcd")
        #expect(parse(body, limits: HTTPLimits(maxBodyBytes: 4)).requests.first?.body == bytes("abcd"))
        let chunked = bytes("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n")
        #expect(parse(chunked, limits: HTTPLimits(maxBodyBytes: 4)).requests.first?.body == bytes("abcd"))
    }

    @Test func consumedBytesAreCompactedOnALongPipelinedConnection() throws {
        let request = bytes("POST /echo HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789")
        let stream = Array(Array(repeating: request, count: 2_000).joined())
        var parser = HTTPRequestParser()
        var count = 0
        var largestStorage = 0
        var offset = 0
        while offset < stream.count {
            let end = min(stream.count, offset + 997)  // Reads that split requests at varying points.
            parser.append(Array(stream[offset..<end]))
            offset = end
            largestStorage = max(largestStorage, parser.storageByteCount)
            while try parser.next() != nil { count += 1 }
        }
        #expect(count == 2_000)
        #expect(largestStorage <= 2 * 997 + request.count)
    }

    @Test func tokenTableMatchesTheGrammar() {
        let tchar = Set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8)
        for byte in UInt8.min...UInt8.max {
            #expect(HTTPSyntax.isToken(byte) == tchar.contains(byte), "byte \(byte)")
        }
    }
}

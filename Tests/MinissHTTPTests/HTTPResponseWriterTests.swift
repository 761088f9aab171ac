import MinissHTTP
import Testing

@Suite struct HTTPResponseWriterTests {
    private func response(
        status: Int = 200, reason: String = "OK", headers: [HTTPHeader] = [], body: String, keepAlive: Bool,
        version: HTTPVersion = .http1_1, includeBody: Bool = true
    ) -> String {
        var output: [UInt8] = []
        HTTPResponseWriter.append(
            status: status, reason: reason, headers: headers, body: body.utf8, keepAlive: keepAlive,
            version: version, includeBody: includeBody, to: &output)
        return String(decoding: output, as: UTF8.self)
    }

    @Test func keepAliveHTTP11ResponseHasNoConnectionField() {
        let text = response(
            headers: [HTTPHeader(name: "Content-Type", value: "text/plain")], body: "hello", keepAlive: true)
        #expect(text == "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello")
    }

    @Test func closingResponseSaysSo() {
        #expect(
            response(body: "", keepAlive: false) == "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        #expect(
            response(status: 404, reason: "Not Found", body: "no", keepAlive: false, version: .http1_0)
                == "HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\nConnection: close\r\n\r\nno")
    }

    @Test func http10KeepAliveIsExplicit() {
        #expect(
            response(body: "hi", keepAlive: true, version: .http1_0)
                == "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nhi")
    }

    @Test func headResponseKeepsTheLengthButNotTheBody() {
        #expect(
            response(body: "hello", keepAlive: true, includeBody: false)
                == "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
    }

    @Test func lengthsAreWrittenInDecimal() {
        for length in [0, 1, 9, 10, 99, 100, 1234, 65_536] {
            var output: [UInt8] = []
            HTTPResponseWriter.append(
                status: 200, reason: "OK", body: [UInt8](repeating: 7, count: length), keepAlive: true, to: &output)
            let head = "HTTP/1.1 200 OK\r\nContent-Length: \(length)\r\n\r\n"
            #expect(output.count == head.utf8.count + length)
            #expect(output.prefix(head.utf8.count).elementsEqual(head.utf8))
        }
    }

    @Test func responsesToABatchAppendToOneBuffer() {
        var output: [UInt8] = []
        HTTPResponseWriter.append(status: 200, reason: "OK", body: [UInt8]("a".utf8)[...], keepAlive: true, to: &output)
        HTTPResponseWriter.append(status: 204, reason: "No Content", body: [UInt8](), keepAlive: false, to: &output)
        #expect(
            String(decoding: output, as: UTF8.self)
                == "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na"
                + "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    }

    @Test func errorResponseCarriesTheMessageAndCloses() throws {
        var parser = HTTPRequestParser()
        parser.append(Array("POST / HTTP/1.1\r\nContent-Length: 12a\r\n\r\n".utf8))
        let error = try #require(#expect(throws: HTTPParseError.self) { try parser.next() })
        var output: [UInt8] = []
        HTTPResponseWriter.appendError(error, to: &output)
        #expect(
            String(decoding: output, as: UTF8.self)
                == "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 29\r\n"
                + "Connection: close\r\n\r\ninvalid Content-Length \"12a\"\n")
        var tooLarge: [UInt8] = []
        HTTPResponseWriter.appendError(HTTPParseError(.headersTooLarge, "x"), to: &tooLarge)
        #expect(tooLarge.starts(with: "HTTP/1.1 431 Request Header Fields Too Large\r\n".utf8))
    }
}

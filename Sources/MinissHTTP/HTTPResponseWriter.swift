/// Serializes HTTP/1.1 responses into an output buffer.
///
/// A server answering a pipelined batch appends every response to one buffer and writes it once.
///
/// ```swift
/// var output: [UInt8] = []
/// HTTPResponseWriter.append(status: 200, reason: "OK", body: Array("hi".utf8), keepAlive: true, to: &output)
/// // "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"
/// ```
public enum HTTPResponseWriter {
    /// Appends one response: the status line (always `HTTP/1.1`, the highest version this side speaks),
    /// `headers` in order, `Content-Length`, the `Connection` field the keep-alive decision needs, a blank
    /// line and the body.
    ///
    /// - Parameters:
    ///   - status: The status code, 100...999.
    ///   - reason: The reason phrase, e.g. `OK`; no CR or LF.
    ///   - headers: Extra fields, without `Content-Length` or `Connection` (this writes those); names and
    ///     values must not contain CR or LF.
    ///   - body: The content; its byte count becomes `Content-Length`.
    ///   - keepAlive: Whether the connection stays open. When false this writes `Connection: close`;
    ///     when true and the client spoke HTTP/1.0 it writes `Connection: keep-alive`.
    ///   - version: The version of the request being answered.
    ///   - includeBody: False to leave the body out while keeping its `Content-Length`, as for `HEAD`.
    ///   - output: The buffer to append to.
    public static func append(
        status: Int, reason: String, headers: [HTTPHeader] = [], body: some Collection<UInt8>, keepAlive: Bool,
        version: HTTPVersion = .http1_1, includeBody: Bool = true, to output: inout [UInt8]
    ) {
        precondition((100...999).contains(status), "HTTP status \(status) is not three digits")
        assert(!containsLineBreak(reason), "reason phrase contains CR or LF")
        output.append(contentsOf: "HTTP/1.1 ".utf8)
        appendDecimal(status, to: &output)
        output.append(HTTPSyntax.space)
        output.append(contentsOf: reason.utf8)
        appendLineEnd(to: &output)
        for header in headers {
            assert(!containsLineBreak(header.name) && !containsLineBreak(header.value), "header contains CR or LF")
            output.append(contentsOf: header.name.utf8)
            output.append(contentsOf: ": ".utf8)
            output.append(contentsOf: header.value.utf8)
            appendLineEnd(to: &output)
        }
        output.append(contentsOf: "Content-Length: ".utf8)
        appendDecimal(body.count, to: &output)
        appendLineEnd(to: &output)
        if !keepAlive {
            output.append(contentsOf: "Connection: close\r\n".utf8)
        } else if version == .http1_0 {
            output.append(contentsOf: "Connection: keep-alive\r\n".utf8)
        }
        appendLineEnd(to: &output)
        if includeBody { output.append(contentsOf: body) }
    }

    /// Appends the response to a request that could not be parsed: its status, `Connection: close` and a
    /// plain-text body with the error message. Close the connection after writing it.
    ///
    /// ```swift
    /// // HTTP/1.1 400 Bad Request
    /// // Content-Type: text/plain; charset=utf-8
    /// // Content-Length: 29
    /// // Connection: close
    /// //
    /// // invalid Content-Length "12a"
    /// ```
    public static func appendError(_ error: HTTPParseError, to output: inout [UInt8]) {
        var text = error.message
        text += "\n"
        append(
            status: error.status, reason: error.reason,
            headers: [HTTPHeader(name: "Content-Type", value: "text/plain; charset=utf-8")], body: text.utf8,
            keepAlive: false, to: &output)
    }

    private static func appendLineEnd(to output: inout [UInt8]) {
        output.append(HTTPSyntax.cr)
        output.append(HTTPSyntax.lf)
    }

    /// Writes a non-negative integer in decimal without building a `String`.
    private static func appendDecimal(_ value: Int, to output: inout [UInt8]) {
        precondition(value >= 0, "negative decimal \(value)")
        var divisor = 1
        while divisor <= value / 10 { divisor *= 10 }
        var rest = value
        while divisor > 0 {
            output.append(UInt8(ascii: "0") + UInt8(rest / divisor))
            rest %= divisor
            divisor /= 10
        }
    }

    private static func containsLineBreak(_ text: String) -> Bool {
        text.utf8.contains { $0 == HTTPSyntax.cr || $0 == HTTPSyntax.lf }
    }
}

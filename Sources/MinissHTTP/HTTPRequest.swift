/// The protocol version of a request line.
public enum HTTPVersion: Sendable, Equatable {
    /// `HTTP/1.0`: connections close after each response unless the client asks for `keep-alive`.
    case http1_0
    /// `HTTP/1.1`: connections persist unless either side sends `Connection: close`.
    case http1_1
}

/// One header field as received: the name with its original case, and the value without the optional
/// whitespace around it.
public struct HTTPHeader: Sendable, Equatable {
    /// The field name, e.g. `Content-Type`. Compare it case-insensitively; ``HTTPRequest/header(_:)`` does.
    public var name: String
    /// The field value, e.g. `text/plain`.
    public var value: String

    /// Creates a header field.
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// A complete request returned by ``HTTPRequestParser/next()``.
///
/// ```swift
/// while let request = try parser.next() {
///     let type = request.header("content-type") ?? "application/octet-stream"
///     HTTPResponseWriter.append(
///         status: 200, reason: "OK", headers: [HTTPHeader(name: "Content-Type", value: type)],
///         body: request.body, keepAlive: request.keepAlive, version: request.version, to: &output)
/// }
/// ```
public struct HTTPRequest: Sendable, Equatable {
    /// The method token, e.g. `GET`. Methods are case-sensitive.
    public var method: String
    /// The request target as sent, e.g. `/path?q`.
    public var target: String
    /// The protocol version of the request line.
    public var version: HTTPVersion
    /// The header fields in the order received (chunked trailers are not included).
    public var headers: [HTTPHeader]
    /// The body, with any chunked framing removed; empty when the request has none.
    public var body: [UInt8]
    /// Whether the connection may carry another request after this one: for HTTP/1.1, unless the
    /// `Connection` field lists `close`; for HTTP/1.0, only if it lists `keep-alive`.
    public var keepAlive: Bool

    /// Creates a request.
    public init(
        method: String, target: String, version: HTTPVersion = .http1_1, headers: [HTTPHeader] = [],
        body: [UInt8] = [], keepAlive: Bool = true
    ) {
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.body = body
        self.keepAlive = keepAlive
    }

    /// The value of the first header field called `name`, compared case-insensitively (ASCII), or nil.
    ///
    /// ```swift
    /// request.header("content-length")  // finds "Content-Length: 5" → "5"
    /// ```
    public func header(_ name: String) -> String? {
        for field in headers where asciiCaseInsensitiveEqual(field.name, name) {
            return field.value
        }
        return nil
    }
}

/// Compares two strings byte by byte, folding ASCII letters only; no allocation.
func asciiCaseInsensitiveEqual(_ lhs: String, _ rhs: String) -> Bool {
    guard lhs.utf8.count == rhs.utf8.count else { return false }
    var left = lhs.utf8.makeIterator()
    var right = rhs.utf8.makeIterator()
    while true {
        switch (left.next(), right.next()) {
        case (nil, nil): return true
        case (let a?, let b?):
            if a != b && asciiLowercased(a) != asciiLowercased(b) { return false }
        default: return false
        }
    }
}

@inline(__always) func asciiLowercased(_ byte: UInt8) -> UInt8 {
    byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
}

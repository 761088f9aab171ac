/// Why a request could not be parsed, and the response status a server should answer with.
///
/// Errors are values: a server catches one from ``HTTPRequestParser/next()``, writes it with
/// ``HTTPResponseWriter/appendError(_:to:)`` and closes the connection.
///
/// ```swift
/// do {
///     while let request = try parser.next() { handle(request) }
/// } catch {
///     HTTPResponseWriter.appendError(error, to: &output)  // e.g. "400 Bad Request"
/// }
/// ```
public struct HTTPParseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The class of failure; it decides the response status.
    public enum Kind: Sendable {
        /// The bytes are not a valid HTTP/1.x request (400 Bad Request).
        case malformed
        /// The request line and header fields (or trailers) exceed ``HTTPLimits/maxHeaderBytes`` or
        /// ``HTTPLimits/maxHeaderCount`` (431 Request Header Fields Too Large).
        case headersTooLarge
        /// The body exceeds ``HTTPLimits/maxBodyBytes`` (413 Content Too Large).
        case bodyTooLarge
        /// A well-formed `HTTP/x.y` version other than 1.0 or 1.1 (505 HTTP Version Not Supported).
        case unsupportedVersion
        /// A transfer coding other than `chunked` (501 Not Implemented).
        case notImplemented
    }

    /// The class of failure.
    public var kind: Kind
    /// What was wrong with the input, e.g. `invalid Content-Length "12a"`. Client bytes quoted in it are
    /// escaped and truncated, so it is safe to send back in a response body.
    public var message: String
    /// The response status code for ``kind``: 400, 431, 413, 505 or 501.
    public var status: Int
    /// The reason phrase for ``status``, e.g. `Bad Request`.
    public var reason: String

    /// Creates an error of `kind`, with the status and reason phrase that kind implies.
    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
        switch kind {
        case .malformed: (status, reason) = (400, "Bad Request")
        case .headersTooLarge: (status, reason) = (431, "Request Header Fields Too Large")
        case .bodyTooLarge: (status, reason) = (413, "Content Too Large")
        case .unsupportedVersion: (status, reason) = (505, "HTTP Version Not Supported")
        case .notImplemented: (status, reason) = (501, "Not Implemented")
        }
    }

    /// The status, reason phrase and message, e.g. `400 Bad Request: invalid Content-Length "12a"`.
    public var description: String { "\(status) \(reason): \(message)" }
}

extension HTTPParseError {
    static func malformed(_ message: String) -> HTTPParseError { HTTPParseError(.malformed, message) }
}

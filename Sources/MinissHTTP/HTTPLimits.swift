/// Bounds on what one request may make a ``HTTPRequestParser`` buffer, so a hostile client cannot make
/// a server hold unbounded memory.
///
/// ```swift
/// var parser = HTTPRequestParser(limits: HTTPLimits(maxBodyBytes: 64 * 1024))
/// ```
public struct HTTPLimits: Sendable {
    /// The most bytes the request line plus all header lines (with their line ends and the blank line
    /// that closes the head) may take; chunked trailers count against the same budget. Going over it is a
    /// ``HTTPParseError/Kind/headersTooLarge`` error (431), raised as soon as that many bytes are buffered,
    /// complete lines or not.
    public var maxHeaderBytes: Int
    /// The most header fields (plus chunked trailer fields) one request may carry; over it is a
    /// ``HTTPParseError/Kind/headersTooLarge`` error (431).
    public var maxHeaderCount: Int
    /// The largest body accepted; over it is a ``HTTPParseError/Kind/bodyTooLarge`` error (413), raised
    /// as soon as `Content-Length` is read, or once the chunk sizes read so far add up to more.
    public var maxBodyBytes: Int

    /// Creates limits; the defaults are 8 KiB of head, 100 header fields and a 1 MiB body.
    public init(maxHeaderBytes: Int = 8192, maxHeaderCount: Int = 100, maxBodyBytes: Int = 1 << 20) {
        precondition(maxHeaderBytes > 0 && maxHeaderCount >= 0 && maxBodyBytes >= 0, "HTTPLimits must not be negative")
        self.maxHeaderBytes = maxHeaderBytes
        self.maxHeaderCount = maxHeaderCount
        self.maxBodyBytes = maxBodyBytes
    }
}

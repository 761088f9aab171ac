import CMinissLinux

#if canImport(Glibc)
    import Glibc
#endif

/// An IPv4 or IPv6 socket address: a numeric host and a port.
///
/// ```swift
/// let address = try SocketAddress(host: "127.0.0.1", port: 8080)
/// let v6 = try SocketAddress(host: "::1", port: 8080)   // "[::1]:8080"
/// ```
///
/// Host names are not resolved (a DNS lookup would block the shard); `localhost` is accepted
/// as `127.0.0.1`.
public struct SocketAddress: Sendable, Hashable, CustomStringConvertible {
    package var raw: miniss_address

    /// Parses a numeric IPv4 (`"127.0.0.1"`) or IPv6 (`"::1"` or `"[::1]"`) host and a port.
    ///
    /// - Throws: ``MinissError`` (``MinissError/Code/invalidArgument``) for anything else, or a
    ///   port outside 0...65535.
    public init(host: String, port: Int) throws {
        guard (0...65535).contains(port) else {
            throw MinissError.invalidArgument("port \(port) is out of range 0...65535")
        }
        let numeric = host == "localhost" ? "127.0.0.1" : host
        var raw = miniss_address()
        guard miniss_address_parse(numeric, Int32(port), &raw) == 0 else {
            throw MinissError.invalidArgument(
                "\"\(host)\" is not a numeric IPv4 or IPv6 address (host names are not resolved)")
        }
        self.raw = raw
    }

    package init(raw: miniss_address) { self.raw = raw }

    /// Parses `"host:port"`, `"[v6]:port"`.
    ///
    /// - Throws: ``MinissError`` (``MinissError/Code/invalidArgument``) when it is not of that form.
    public init(_ text: String) throws {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]) else {
            throw MinissError.invalidArgument("\"\(text)\" is not host:port")
        }
        try self.init(host: String(text[..<colon]), port: port)
    }

    /// The port.
    public var port: Int {
        var copy = raw
        return Int(miniss_address_port(&copy))
    }

    /// Whether this is an IPv6 address.
    public var isIPv6: Bool {
        var copy = raw
        return miniss_address_family(&copy) == AF_INET6
    }

    /// `"127.0.0.1:8080"` or `"[::1]:8080"`.
    public var description: String {
        var copy = raw
        var text = [CChar](repeating: 0, count: 64)
        guard miniss_address_format(&copy, &text, 64) == 0 else { return "<unknown address>" }
        let length = text.firstIndex(of: 0) ?? text.count
        return String(decoding: text[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    package var family: Int32 {
        var copy = raw
        return miniss_address_family(&copy)
    }

    /// Equal when the formatted addresses are equal (family, host and port).
    public static func == (lhs: SocketAddress, rhs: SocketAddress) -> Bool { lhs.description == rhs.description }

    /// Hashes the formatted address.
    public func hash(into hasher: inout Hasher) { hasher.combine(description) }
}

/// Byte-level grammar of HTTP/1.1 messages (RFC 9110, RFC 9112), shared by the request parser.
///
/// Everything works on ranges of the parser's buffer and creates a `String` only for what a request
/// keeps (method, target, header names and values) or for an error message.
enum HTTPSyntax {
    static let lf: UInt8 = 0x0a
    static let cr: UInt8 = 0x0d
    static let space: UInt8 = 0x20
    static let tab: UInt8 = 0x09
    static let colon: UInt8 = 0x3a  // ":"
    static let comma: UInt8 = 0x2c  // ","
    static let semicolon: UInt8 = 0x3b  // ";"

    /// `tchar` (RFC 9110 §5.6.2) for bytes 0..<64 and 64..<128, one bit per byte value:
    /// `!#$%&'*+-.^_`|~`, digits and letters.
    static let tokenMaskLow: UInt64 = 0x03ff_6cfa_0000_0000
    static let tokenMaskHigh: UInt64 = 0x57ff_ffff_c7ff_fffe

    @inline(__always) static func isToken(_ byte: UInt8) -> Bool {
        if byte < 64 { return (tokenMaskLow >> UInt64(byte)) & 1 == 1 }
        if byte < 128 { return (tokenMaskHigh >> UInt64(byte &- 64)) & 1 == 1 }
        return false
    }

    /// Bytes allowed in a field value: HTAB, visible ASCII, SP and obs-text; not CR, LF, NUL or other
    /// controls (RFC 9110 §5.5).
    @inline(__always) static func isFieldValueByte(_ byte: UInt8) -> Bool {
        byte >= space ? byte != 0x7f : byte == tab
    }

    @inline(__always) static func isWhitespace(_ byte: UInt8) -> Bool { byte == space || byte == tab }

    @inline(__always) static func hexValue(_ byte: UInt8) -> UInt64? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt64(byte &- UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt64(byte &- UInt8(ascii: "a") &+ 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt64(byte &- UInt8(ascii: "A") &+ 10)
        default: nil
        }
    }

    @inline(__always) static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    /// The bytes as a `String` (invalid UTF-8 repaired). Up to 15 bytes this does not allocate.
    static func string(_ input: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: input[range]), as: UTF8.self)
    }

    /// Whether the bytes equal `lowercased` (an ASCII literal with no upper-case letters), ignoring
    /// ASCII case. Callers pass token bytes only, so folding with `| 0x20` cannot make a match.
    static func equalsIgnoringCase(
        _ input: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, _ lowercased: StaticString
    ) -> Bool {
        guard range.count == lowercased.utf8CodeUnitCount else { return false }
        let literal = lowercased.utf8Start
        var offset = 0
        for index in range {
            let byte = input[index]
            if byte != literal[offset] && byte | 0x20 != literal[offset] { return false }
            offset += 1
        }
        return true
    }

    /// The range without leading and trailing SP / HTAB (`OWS`).
    static func trimmingWhitespace(_ input: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Range<Int> {
        var lower = range.lowerBound
        var upper = range.upperBound
        while lower < upper && isWhitespace(input[lower]) { lower += 1 }
        while upper > lower && isWhitespace(input[upper - 1]) { upper -= 1 }
        return lower..<upper
    }

    /// The bytes quoted for an error message: printable ASCII as is, anything else as `\xNN`, cut after
    /// `limit` bytes. Safe to reflect back to the client.
    static func quoted(_ input: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, limit: Int = 48) -> String {
        var text = "\""
        for index in range.prefix(limit) {
            let byte = input[index]
            if byte >= space && byte < 0x7f && byte != UInt8(ascii: "\"") && byte != UInt8(ascii: "\\") {
                text.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                text += "\\x"
                for nibble in [byte >> 4, byte & 0xf] {
                    text.unicodeScalars.append(Unicode.Scalar(nibble < 10 ? 0x30 + nibble : 0x57 + nibble))
                }
            }
        }
        text += range.count > limit ? "\"…" : "\""
        return text
    }

    // MARK: - Request line

    /// Parses `method SP request-target SP HTTP-version` (RFC 9112 §3), the line end already removed.
    static func parseRequestLine(
        _ input: UnsafeBufferPointer<UInt8>, _ line: Range<Int>
    ) throws(HTTPParseError) -> (method: String, target: String, version: HTTPVersion) {
        var index = line.lowerBound
        while index < line.upperBound && isToken(input[index]) { index += 1 }
        let method = line.lowerBound..<index
        guard !method.isEmpty, index < line.upperBound, input[index] == space else {
            throw .malformed("invalid request line \(quoted(input, line))")
        }
        index += 1
        let targetStart = index
        while index < line.upperBound && input[index] > space && input[index] != 0x7f { index += 1 }
        let target = targetStart..<index
        guard !target.isEmpty, index < line.upperBound, input[index] == space else {
            throw .malformed("invalid request target in request line \(quoted(input, line))")
        }
        let version = try parseVersion(input, index + 1..<line.upperBound)
        return (internedMethod(input, method) ?? string(input, method), string(input, target), version)
    }

    /// The common methods as string literals (no UTF-8 validation, no allocation). Methods are
    /// case-sensitive, so only exact matches qualify.
    static func internedMethod(_ input: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> String? {
        let bytes = UnsafeBufferPointer(rebasing: input[range])
        switch bytes.count {
        case 3:
            if bytes.elementsEqual("GET".utf8) { return "GET" }
            if bytes.elementsEqual("PUT".utf8) { return "PUT" }
        case 4:
            if bytes.elementsEqual("POST".utf8) { return "POST" }
            if bytes.elementsEqual("HEAD".utf8) { return "HEAD" }
        default:
            break
        }
        return nil
    }

    /// `HTTP/1.1` or `HTTP/1.0`; another `HTTP/DIGIT.DIGIT` is unsupported (505), anything else malformed.
    static func parseVersion(
        _ input: UnsafeBufferPointer<UInt8>, _ range: Range<Int>
    ) throws(HTTPParseError) -> HTTPVersion {
        let base = range.lowerBound
        guard range.count == 8, input[base] == UInt8(ascii: "H"), input[base + 1] == UInt8(ascii: "T"),
            input[base + 2] == UInt8(ascii: "T"), input[base + 3] == UInt8(ascii: "P"),
            input[base + 4] == UInt8(ascii: "/"), isDigit(input[base + 5]), input[base + 6] == UInt8(ascii: "."),
            isDigit(input[base + 7])
        else {
            throw .malformed("invalid HTTP version \(quoted(input, range))")
        }
        switch (input[base + 5], input[base + 7]) {
        case (UInt8(ascii: "1"), UInt8(ascii: "1")): return .http1_1
        case (UInt8(ascii: "1"), UInt8(ascii: "0")): return .http1_0
        default:
            throw HTTPParseError(.unsupportedVersion, "unsupported HTTP version \(quoted(input, range))")
        }
    }

    // MARK: - Field lines

    /// Splits `field-name ":" OWS field-value OWS` (RFC 9112 §5), the line end already removed, and
    /// checks both parts. The value range comes back trimmed.
    static func parseFieldLine(
        _ input: UnsafeBufferPointer<UInt8>, _ line: Range<Int>
    ) throws(HTTPParseError) -> (name: Range<Int>, value: Range<Int>) {
        if isWhitespace(input[line.lowerBound]) {
            throw .malformed("obsolete line folding (a field line starting with whitespace) \(quoted(input, line))")
        }
        var index = line.lowerBound
        while index < line.upperBound && isToken(input[index]) { index += 1 }
        guard index < line.upperBound, input[index] == colon, index > line.lowerBound else {
            if index < line.upperBound && isWhitespace(input[index]) {
                throw .malformed("whitespace between header name and colon in \(quoted(input, line))")
            }
            throw .malformed("invalid header field \(quoted(input, line))")
        }
        let name = line.lowerBound..<index
        let rawValue = index + 1..<line.upperBound
        for valueIndex in rawValue where !isFieldValueByte(input[valueIndex]) {
            throw .malformed("control character in the value of header \(quoted(input, name))")
        }
        return (name, trimmingWhitespace(input, rawValue))
    }

    /// The elements of a comma-separated list value (`#element`, RFC 9110 §5.6.1), each trimmed of OWS;
    /// empty elements are returned too, callers decide whether they are allowed.
    struct ListElements: IteratorProtocol {
        let input: UnsafeBufferPointer<UInt8>
        var remaining: Range<Int>
        var finished = false

        init(_ input: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) {
            self.input = input
            self.remaining = range
        }

        mutating func next() -> Range<Int>? {
            if finished { return nil }
            var index = remaining.lowerBound
            while index < remaining.upperBound && input[index] != HTTPSyntax.comma { index += 1 }
            let element = HTTPSyntax.trimmingWhitespace(input, remaining.lowerBound..<index)
            if index == remaining.upperBound {
                finished = true
            } else {
                remaining = index + 1..<remaining.upperBound
            }
            return element
        }
    }

    // MARK: - Chunked framing

    /// The most hex digits a chunk size may have: 16 fill 64 bits, more is an overflow.
    static let maxChunkSizeDigits = 16

    /// Parses `chunk-size [ chunk-ext ]` (RFC 9112 §7.1), the line end already removed; extensions are
    /// checked for control characters and otherwise ignored.
    static func parseChunkSizeLine(
        _ input: UnsafeBufferPointer<UInt8>, _ line: Range<Int>
    ) throws(HTTPParseError) -> Int {
        var index = line.lowerBound
        var size: UInt64 = 0
        while index < line.upperBound, let digit = hexValue(input[index]) {
            guard index - line.lowerBound < maxChunkSizeDigits else {
                throw .malformed("chunk size \(quoted(input, line)) has more than \(maxChunkSizeDigits) hex digits")
            }
            size = size << 4 | digit
            index += 1
        }
        guard index > line.lowerBound else {
            throw .malformed("invalid chunk size line \(quoted(input, line))")
        }
        guard size <= UInt64(Int.max) else {
            throw .malformed("chunk size \(quoted(input, line.lowerBound..<index)) overflows")
        }
        while index < line.upperBound && isWhitespace(input[index]) { index += 1 }
        if index < line.upperBound {
            guard input[index] == semicolon else {
                throw .malformed("invalid chunk size line \(quoted(input, line))")
            }
            for extensionIndex in index..<line.upperBound where !isFieldValueByte(input[extensionIndex]) {
                throw .malformed("control character in chunk extension \(quoted(input, line))")
            }
        }
        return Int(size)
    }
}

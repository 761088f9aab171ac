/// An incremental HTTP/1.1 request parser: append bytes as they arrive, take complete requests out.
///
/// It works on raw bytes, parses each line once however the input is split, keeps no more than the
/// unfinished request buffered, and turns hostile input into an ``HTTPParseError`` rather than unbounded
/// memory or a crash. It is strict where a lenient reading could let two parties disagree on where a
/// request ends (request smuggling): conflicting `Content-Length`, `Content-Length` with
/// `Transfer-Encoding`, bare CR, obsolete line folding, oversized chunk sizes.
///
/// ```swift
/// var parser = HTTPRequestParser()
/// parser.append(receivedBytes)
/// var output: [UInt8] = []
/// do {
///     while let request = try parser.next() {  // every request of a pipelined batch, in order
///         HTTPResponseWriter.append(
///             status: 200, reason: "OK", body: request.body, keepAlive: request.keepAlive,
///             version: request.version, to: &output)
///     }
/// } catch {
///     HTTPResponseWriter.appendError(error, to: &output)  // then close the connection
/// }
/// ```
public struct HTTPRequestParser: Sendable {
    private enum State: Sendable {
        /// Skipping blank lines, then reading the request line.
        case requestLine
        case headers
        case fixedBody(remainingBytes: Int)
        case chunkSizeLine
        case chunkData(remainingBytes: Int)
        /// The CRLF that closes a chunk's data.
        case chunkDataEnd
        case trailers
        case failed(HTTPParseError)
    }

    /// What is known about the request being read.
    private struct Pending: Sendable {
        var method = ""
        var target = ""
        var version = HTTPVersion.http1_1
        var headers: [HTTPHeader] = []
        var body: [UInt8] = []
        /// Request line, header and trailer lines read so far, line ends included.
        var headBytes = 0
        /// Header plus trailer fields read so far.
        var fieldCount = 0
        var contentLength: Int?
        var hasTransferEncoding = false
        var chunkedIsFinalCoding = false
        var sawChunked = false
        /// The first transfer coding other than `chunked`, quoted for the error message.
        var unsupportedCoding: String?
        var connectionClose = false
        var connectionKeepAlive = false
        /// `Expect: 100-continue` was among the headers.
        var expectsContinue = false
    }

    /// Received bytes; those before `readIndex` are consumed and get dropped by the next `append`.
    private var buffer: [UInt8] = []
    private var readIndex = 0
    /// Where the search for the end of the current line resumes: `readIndex..<scanIndex` has no LF.
    private var scanIndex = 0
    private var state = State.requestLine
    private var pending = Pending()
    private let limits: HTTPLimits
    private let keepsHeaders: Bool

    /// Creates a parser for one connection.
    ///
    /// - Parameter keepsHeaders: `false` leaves ``HTTPRequest/headers`` empty (the parser still
    ///   reads framing, `Connection` and `Expect` itself): a server that needs no other header
    ///   saves two strings per header and an array per request.
    public init(limits: HTTPLimits = HTTPLimits(), keepsHeaders: Bool = true) {
        self.limits = limits
        self.keepsHeaders = keepsHeaders
    }

    /// Appends received bytes. After the parser has failed they are dropped.
    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard prepareForAppend() else { return }
        // SAFETY: `bytes` is valid for the duration of this call (the caller's contract); the bytes are
        // copied into `buffer` before returning and the rebound pointer does not escape the closure.
        bytes.withMemoryRebound(to: UInt8.self) { buffer.append(contentsOf: $0) }
    }

    /// Appends received bytes. After the parser has failed they are dropped.
    public mutating func append(_ bytes: [UInt8]) {
        guard prepareForAppend() else { return }
        buffer.append(contentsOf: bytes)
    }

    /// The next complete request, or nil if more bytes are needed.
    ///
    /// Call it until it returns nil after each `append`: one append can complete
    /// several pipelined requests. It throws ``HTTPParseError`` on bad input or a broken limit; after
    /// that the parser stays failed and every call throws the same error.
    public mutating func next() throws(HTTPParseError) -> HTTPRequest? {
        if case .failed(let error) = state { throw error }
        // A second reference to the storage, so the parse below can mutate `self` while reading it;
        // `append` is the only writer of `buffer` and cannot run until this returns.
        let bytes = buffer
        do {
            // SAFETY: the pointer is to `bytes`' storage, alive and unmodified for the whole closure,
            // and no pointer into it outlives the closure (strings and bodies are copied out).
            return try bytes.withUnsafeBufferPointer { (input) throws(HTTPParseError) -> HTTPRequest? in
                try parse(input)
            }
        } catch {
            state = .failed(error)
            pending = Pending()
            buffer = []
            readIndex = 0
            scanIndex = 0
            throw error
        }
    }

    /// The bytes held, consumed ones included: what compaction bounds (for tests).
    var storageByteCount: Int { buffer.count }

    /// Bytes buffered but not yet consumed by a returned request (a request in progress has consumed
    /// the lines and body bytes it has parsed already).
    public var bufferedByteCount: Int { buffer.count - readIndex }

    /// True when a request has started (some of its bytes arrived) but is not complete: a server can
    /// tell a slow client (time it out, or answer 408) from an idle keep-alive connection. Blank lines
    /// between requests do not count as a start. False once the parser has failed.
    public var hasPartialRequest: Bool {
        switch state {
        case .requestLine:
            buffer[readIndex...].contains { $0 != HTTPSyntax.cr && $0 != HTTPSyntax.lf }
        case .failed:
            false
        default:
            true
        }
    }

    /// True while the request in progress has sent its headers with `Expect: 100-continue` and
    /// its body has not arrived completely: a server answers `100 Continue` (once) so the client
    /// sends the body.
    public var expectsContinue: Bool {
        guard pending.expectsContinue else { return false }
        switch state {
        case .fixedBody, .chunkSizeLine, .chunkData, .chunkDataEnd: return true
        default: return false
        }
    }

    // MARK: - Buffer

    /// Drops consumed bytes once they are at least half the buffer (amortized O(1) per byte), so a
    /// long-lived pipelined connection holds at most about twice its unconsumed bytes.
    private mutating func prepareForAppend() -> Bool {
        if case .failed = state { return false }
        if readIndex == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            scanIndex = 0
            readIndex = 0
        } else if readIndex > 0 && readIndex >= buffer.count - readIndex {
            buffer.removeSubrange(0..<readIndex)
            scanIndex = max(0, scanIndex - readIndex)
            readIndex = 0
        }
        return true
    }

    /// The next line (its content without CRLF or bare LF, and its length with the line end), consumed;
    /// or nil if no LF has arrived yet.
    private mutating func nextLine(_ input: UnsafeBufferPointer<UInt8>) -> (content: Range<Int>, byteCount: Int)? {
        var index = max(scanIndex, readIndex)
        while index < input.count && input[index] != HTTPSyntax.lf { index += 1 }
        scanIndex = index
        guard index < input.count else { return nil }
        let start = readIndex
        let contentEnd = index > start && input[index - 1] == HTTPSyntax.cr ? index - 1 : index
        readIndex = index + 1
        return (start..<contentEnd, readIndex - start)
    }

    // MARK: - State machine

    private mutating func parse(_ input: UnsafeBufferPointer<UInt8>) throws(HTTPParseError) -> HTTPRequest? {
        precondition(readIndex <= input.count && scanIndex <= input.count, "parser indices past the buffer")
        while true {
            switch state {
            case .requestLine:
                guard let line = nextLine(input) else { return try checkPartialLine(input) }
                if line.content.isEmpty { continue }  // RFC 9112 §2.2: ignore blank lines before a request.
                try countHeadBytes(line.byteCount)
                (pending.method, pending.target, pending.version) = try HTTPSyntax.parseRequestLine(
                    input, line.content)
                state = .headers

            case .headers:
                guard let line = nextLine(input) else { return try checkPartialLine(input) }
                try countHeadBytes(line.byteCount)
                if line.content.isEmpty {
                    if try startBody() { return complete() }
                } else {
                    try readHeader(input, line.content)
                }

            case .fixedBody(let remainingBytes):
                let available = min(remainingBytes, input.count - readIndex)
                let chunk = UnsafeBufferPointer(rebasing: input[readIndex..<readIndex + available])
                readIndex += available
                if available == remainingBytes && pending.body.isEmpty {
                    pending.body = Array(chunk)
                    return complete()
                }
                if pending.body.isEmpty { pending.body.reserveCapacity(min(remainingBytes, 64 * 1024)) }
                pending.body.append(contentsOf: chunk)
                if available == remainingBytes { return complete() }
                state = .fixedBody(remainingBytes: remainingBytes - available)
                return nil

            case .chunkSizeLine:
                // A chunk size line is bounded like a header line (it may carry extensions), however it arrives.
                guard let line = nextLine(input) else {
                    guard input.count - readIndex <= limits.maxHeaderBytes else { throw chunkSizeLineTooLong() }
                    return nil
                }
                guard line.byteCount <= limits.maxHeaderBytes else { throw chunkSizeLineTooLong() }
                let size = try HTTPSyntax.parseChunkSizeLine(input, line.content)
                if size == 0 {
                    state = .trailers
                } else {
                    guard size <= limits.maxBodyBytes - pending.body.count else {
                        throw HTTPParseError(
                            .bodyTooLarge, "chunked body larger than the limit of \(limits.maxBodyBytes) bytes")
                    }
                    state = .chunkData(remainingBytes: size)
                }

            case .chunkData(let remainingBytes):
                let available = min(remainingBytes, input.count - readIndex)
                pending.body.append(contentsOf: UnsafeBufferPointer(rebasing: input[readIndex..<readIndex + available]))
                readIndex += available
                guard available == remainingBytes else {
                    state = .chunkData(remainingBytes: remainingBytes - available)
                    return nil
                }
                state = .chunkDataEnd

            case .chunkDataEnd:
                guard readIndex < input.count else { return nil }
                if input[readIndex] == HTTPSyntax.lf {
                    readIndex += 1
                } else if input[readIndex] == HTTPSyntax.cr {
                    guard readIndex + 1 < input.count else { return nil }
                    guard input[readIndex + 1] == HTTPSyntax.lf else {
                        throw .malformed("chunk data not followed by CRLF")
                    }
                    readIndex += 2
                } else {
                    throw .malformed("chunk data longer than its chunk size")
                }
                state = .chunkSizeLine

            case .trailers:
                guard let line = nextLine(input) else { return try checkPartialLine(input) }
                try countHeadBytes(line.byteCount)
                if line.content.isEmpty { return complete() }
                try countField()
                _ = try HTTPSyntax.parseFieldLine(input, line.content)  // Checked, then discarded.

            case .failed(let error):
                throw error
            }
        }
    }

    private func chunkSizeLineTooLong() -> HTTPParseError {
        .malformed("chunk size line longer than \(limits.maxHeaderBytes) bytes")
    }

    /// Called when no complete line is buffered while reading the head or trailers: the partial line
    /// already counts against the header limit, so a client cannot make the parser buffer without end.
    private func checkPartialLine(_ input: UnsafeBufferPointer<UInt8>) throws(HTTPParseError) -> HTTPRequest? {
        if pending.headBytes + (input.count - readIndex) > limits.maxHeaderBytes {
            throw HTTPParseError(
                .headersTooLarge, "request head larger than the limit of \(limits.maxHeaderBytes) bytes")
        }
        return nil
    }

    private mutating func countHeadBytes(_ lineBytes: Int) throws(HTTPParseError) {
        pending.headBytes += lineBytes
        if pending.headBytes > limits.maxHeaderBytes {
            throw HTTPParseError(
                .headersTooLarge, "request head larger than the limit of \(limits.maxHeaderBytes) bytes")
        }
    }

    private mutating func countField() throws(HTTPParseError) {
        pending.fieldCount += 1
        if pending.fieldCount > limits.maxHeaderCount {
            throw HTTPParseError(.headersTooLarge, "more than \(limits.maxHeaderCount) header fields")
        }
    }

    private mutating func readHeader(_ input: UnsafeBufferPointer<UInt8>, _ line: Range<Int>) throws(HTTPParseError) {
        try countField()
        let (name, value) = try HTTPSyntax.parseFieldLine(input, line)
        switch name.count {
        case 14 where HTTPSyntax.equalsIgnoringCase(input, name, "content-length"):
            try readContentLength(input, value)
        case 17 where HTTPSyntax.equalsIgnoringCase(input, name, "transfer-encoding"):
            try readTransferEncoding(input, value)
        case 10 where HTTPSyntax.equalsIgnoringCase(input, name, "connection"):
            readConnection(input, value)
        case 6 where HTTPSyntax.equalsIgnoringCase(input, name, "expect"):
            pending.expectsContinue =
                value.count == 12 && HTTPSyntax.equalsIgnoringCase(input, value, "100-continue")
        default:
            break
        }
        guard keepsHeaders else { return }
        if pending.headers.isEmpty { pending.headers.reserveCapacity(8) }
        pending.headers.append(HTTPHeader(name: HTTPSyntax.string(input, name), value: HTTPSyntax.string(input, value)))
    }

    /// `Content-Length = 1*DIGIT`; a list of identical values (`5, 5`) or repeated identical fields are
    /// accepted as one (RFC 9110 §8.6), anything else that could be read two ways is rejected.
    private mutating func readContentLength(
        _ input: UnsafeBufferPointer<UInt8>, _ value: Range<Int>
    ) throws(HTTPParseError) {
        var elements = HTTPSyntax.ListElements(input, value)
        while let element = elements.next() {
            guard !element.isEmpty, element.allSatisfy({ HTTPSyntax.isDigit(input[$0]) }) else {
                throw .malformed("invalid Content-Length \(HTTPSyntax.quoted(input, value))")
            }
            var length = 0
            for index in element {
                let (times10, overflowed) = length.multipliedReportingOverflow(by: 10)
                length = times10 &+ Int(input[index] &- UInt8(ascii: "0"))  // Cannot wrap: times10 ≤ Int.max - 7.
                guard !overflowed, length <= limits.maxBodyBytes else {
                    throw HTTPParseError(
                        .bodyTooLarge,
                        "Content-Length \(HTTPSyntax.quoted(input, element)) larger than the limit of "
                            + "\(limits.maxBodyBytes) bytes")
                }
            }
            if let previous = pending.contentLength, previous != length {
                throw .malformed("conflicting Content-Length values \(previous) and \(length)")
            }
            pending.contentLength = length
        }
    }

    /// Transfer codings, in order; only `chunked` is implemented, and it must come last, once.
    private mutating func readTransferEncoding(
        _ input: UnsafeBufferPointer<UInt8>, _ value: Range<Int>
    ) throws(HTTPParseError) {
        pending.hasTransferEncoding = true
        var elements = HTTPSyntax.ListElements(input, value)
        while let element = elements.next() {
            if element.isEmpty { continue }
            if HTTPSyntax.equalsIgnoringCase(input, element, "chunked") {
                guard !pending.sawChunked else { throw .malformed("chunked transfer coding applied twice") }
                pending.sawChunked = true
                pending.chunkedIsFinalCoding = true
            } else {
                pending.chunkedIsFinalCoding = false
                if pending.unsupportedCoding == nil { pending.unsupportedCoding = HTTPSyntax.quoted(input, element) }
            }
        }
    }

    /// `Connection` options: `close` and `keep-alive` matter, other tokens are ignored.
    private mutating func readConnection(_ input: UnsafeBufferPointer<UInt8>, _ value: Range<Int>) {
        var elements = HTTPSyntax.ListElements(input, value)
        while let element = elements.next() {
            if HTTPSyntax.equalsIgnoringCase(input, element, "close") {
                pending.connectionClose = true
            } else if HTTPSyntax.equalsIgnoringCase(input, element, "keep-alive") {
                pending.connectionKeepAlive = true
            }
        }
    }

    /// Chooses the body framing once the head is complete (RFC 9112 §6.3); true if there is no body.
    private mutating func startBody() throws(HTTPParseError) -> Bool {
        if pending.hasTransferEncoding {
            guard pending.contentLength == nil else {
                throw .malformed("both Content-Length and Transfer-Encoding are present")
            }
            guard pending.version == .http1_1 else { throw .malformed("Transfer-Encoding in an HTTP/1.0 request") }
            if let coding = pending.unsupportedCoding {
                throw HTTPParseError(.notImplemented, "unsupported transfer coding \(coding)")
            }
            guard pending.chunkedIsFinalCoding else {
                throw .malformed("Transfer-Encoding without chunked as the final coding")
            }
            state = .chunkSizeLine
            return false
        }
        if let length = pending.contentLength, length > 0 {
            state = .fixedBody(remainingBytes: length)
            return false
        }
        return true
    }

    /// Hands out the finished request and gets ready for the next one.
    private mutating func complete() -> HTTPRequest {
        let keepAlive =
            !pending.connectionClose && (pending.version == .http1_1 || pending.connectionKeepAlive)
        let request = HTTPRequest(
            method: pending.method, target: pending.target, version: pending.version, headers: pending.headers,
            body: pending.body, keepAlive: keepAlive)
        pending = Pending()
        state = .requestLine
        return request
    }
}

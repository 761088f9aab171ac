import CMinissUnwind

#if canImport(Glibc)
    import Glibc
#endif

/// A call stack captured with libunwind, symbolized and demangled.
///
/// ```swift
/// print(Backtrace.capture())
/// // #0 0x000055d1c0a1b2c4 MyApp.handle(request:) + 52
/// // #1 ...
/// ```
public struct Backtrace: Sendable, CustomStringConvertible {
    /// One stack frame.
    public struct Frame: Sendable, Equatable {
        /// The instruction address.
        public var address: UInt
        /// The demangled name of the function containing the address, if it has a symbol.
        public var symbol: String?
        /// The address's offset into that function.
        public var offset: UInt
    }

    /// The frames, innermost (the caller of `capture`) first.
    public var frames: [Frame]

    /// Captures the calling thread's stack, skipping `skipping` frames above the caller, keeping
    /// at most `limit` frames.
    public static func capture(skipping: Int = 0, limit: Int = 64) -> Backtrace {
        let requestedLimit = max(1, limit)
        let limit = requestedLimit + 16 + max(0, skipping)
        let nameStride = 512
        var addresses = [UInt](repeating: 0, count: limit)
        var offsets = [UInt](repeating: 0, count: limit)
        var names = [CChar](repeating: 0, count: limit * nameStride)
        let count = addresses.withUnsafeMutableBufferPointer { addressBuffer in
            offsets.withUnsafeMutableBufferPointer { offsetBuffer in
                names.withUnsafeMutableBufferPointer { nameBuffer in
                    // SAFETY: the C side writes at most `limit` entries into each buffer and
                    // `limit * nameStride` bytes of names, all within the arrays' lengths.
                    Int(
                        miniss_capture_stack_symbolized(
                            addressBuffer.baseAddress, offsetBuffer.baseAddress, nameBuffer.baseAddress,
                            nameStride, Int32(limit), 0))
                }
            }
        }
        var frames: [Frame] = []
        frames.reserveCapacity(count)
        for index in 0..<count {
            let mangled = names.withUnsafeBufferPointer { buffer in
                String(cString: buffer.baseAddress! + index * nameStride)
            }
            frames.append(
                Frame(
                    address: addresses[index], symbol: mangled.isEmpty ? nil : demangle(mangled),
                    offset: offsets[index]))
        }
        // Drop capture's own frames (how many depends on inlining), then what the caller asked.
        let own = (frames.lastIndex { $0.symbol?.contains("Miniss.Backtrace.capture(") == true } ?? -1) + 1
        return Backtrace(frames: Array(frames.dropFirst(own + max(0, skipping)).prefix(requestedLimit)))
    }

    /// `symbol` demangled if it is a Swift symbol, unchanged otherwise.
    public static func demangle(_ symbol: String) -> String {
        guard let demangled = miniss_demangle(symbol) else { return symbol }
        defer { free(demangled) }
        return String(cString: demangled)
    }

    /// One line per frame: index, address, function and offset.
    public var description: String {
        frames.enumerated().map { index, frame in
            let address = "0x" + String(frame.address, radix: 16)
            return "#\(index) \(address) \(frame.symbol ?? "???") + \(frame.offset)"
        }.joined(separator: "\n")
    }
}

/// A raw DEFLATE (RFC 1951) decoder with a hard bound on its output, for `.npz` members.
///
/// zlib behind ZIPFoundation inflates as far as the stream says, so a small archive can claim
/// gigabytes, and on Linux a truncated stream makes it loop forever. This decoder stops with an
/// error as soon as the output would pass `limit` or the input runs out, and never reads or writes
/// out of bounds whatever the bytes are.
enum Inflate {
    /// Why a stream could not be decoded.
    enum Failure: Error, Equatable {
        /// The output would pass the limit the caller set.
        case tooLarge(limit: Int)
        /// The compressed bytes end before the stream does.
        case truncated
        /// The bytes are not a valid DEFLATE stream (the reason says where).
        case corrupt(String)
    }

    /// Decodes `input`, a raw DEFLATE stream, producing at most `limit` bytes; with `prefix`,
    /// returns the first `limit` bytes instead of failing when the stream holds more.
    static func decode(_ input: UnsafeRawBufferPointer, limit: Int, prefix: Bool = false) throws(Failure) -> [UInt8] {
        var state = State(input: input, limit: limit)
        do {
            try state.run()
        } catch .tooLarge where prefix {
            // The caller wanted only the first `limit` bytes.
        }
        return prefix ? Array(state.out.prefix(limit)) : state.out
    }

    // Lengths and distances: base values and extra bits for the codes (RFC 1951, 3.2.5).
    private static let lengthBase: [Int] = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59,
                                            67, 83, 99, 115, 131, 163, 195, 227, 258]
    private static let lengthExtra: [Int] = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4,
                                             5, 5, 5, 5, 0]
    private static let distanceBase: [Int] = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513,
                                              769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577]
    private static let distanceExtra: [Int] = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10,
                                               11, 11, 12, 12, 13, 13]
    /// The order code-length code lengths are sent in.
    private static let codeLengthOrder: [Int] = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]

    /// A canonical Huffman code as a table indexed by the next 15 input bits (LSB first):
    /// each entry is symbol << 4 | code length, 0 where no code matches.
    struct Huffman {
        static let maxBits = 15
        var table: [UInt32]

        /// The code for `lengths[symbol]` (0: symbol unused). Incomplete codes are allowed (RFC
        /// 1951 permits a single distance code); over-subscribed ones are not.
        init(lengths: [Int]) throws(Failure) {
            var count = [Int](repeating: 0, count: Self.maxBits + 1)
            for l in lengths { count[l] += 1 }
            count[0] = 0
            var left = 1
            for bits in 1...Self.maxBits {
                left <<= 1
                left -= count[bits]
                if left < 0 { throw .corrupt("over-subscribed Huffman code") }
            }
            var next = [Int](repeating: 0, count: Self.maxBits + 2)
            var code = 0
            for bits in 1...Self.maxBits {
                code = (code + count[bits - 1]) << 1
                next[bits] = code
            }
            table = [UInt32](repeating: 0, count: 1 << Self.maxBits)
            for (symbol, l) in lengths.enumerated() where l > 0 {
                let c = next[l]
                next[l] += 1
                // Codes are sent MSB first; the table is indexed by bits in arrival order.
                var reversed = 0
                for i in 0..<l where c & (1 << i) != 0 { reversed |= 1 << (l - 1 - i) }
                let entry = UInt32(symbol) << 4 | UInt32(l)
                var i = reversed
                while i < 1 << Self.maxBits {
                    table[i] = entry
                    i += 1 << l
                }
            }
        }
    }

    private struct State {
        let input: UnsafeRawBufferPointer
        let limit: Int
        var position = 0
        var bitBuffer: UInt64 = 0
        var bitCount = 0
        var out: [UInt8] = []

        init(input: UnsafeRawBufferPointer, limit: Int) {
            self.input = input
            self.limit = limit
            // Deflate rarely beats 1032:1; reserve for a typical ratio, never past the limit.
            out.reserveCapacity(min(limit, max(input.count * 4, 1 << 16)))
        }

        mutating func bits(_ n: Int) throws(Failure) -> Int {
            if n == 0 { return 0 }
            try need(n)
            let v = Int(bitBuffer & ((1 << UInt64(n)) - 1))
            bitBuffer >>= UInt64(n)
            bitCount -= n
            return v
        }

        /// Ensures `n` real (not padding) bits are buffered.
        mutating func need(_ n: Int) throws(Failure) {
            while bitCount < n {
                guard position < input.count else { throw .truncated }
                bitBuffer |= UInt64(input[position]) << UInt64(bitCount)
                position += 1
                bitCount += 8
            }
        }

        mutating func decodeSymbol(_ h: Huffman) throws(Failure) -> Int {
            // Peek up to 15 bits; near the end fewer may exist, which is fine if the code is shorter.
            while bitCount < Huffman.maxBits && position < input.count {
                bitBuffer |= UInt64(input[position]) << UInt64(bitCount)
                position += 1
                bitCount += 8
            }
            let entry = h.table[Int(bitBuffer & UInt64((1 << Huffman.maxBits) - 1))]
            let length = Int(entry & 15)
            if length == 0 {
                throw bitCount < Huffman.maxBits ? .truncated : .corrupt("invalid Huffman code")
            }
            guard length <= bitCount else { throw .truncated }
            bitBuffer >>= UInt64(length)
            bitCount -= length
            return Int(entry >> 4)
        }

        mutating func emit(_ byte: UInt8) throws(Failure) {
            guard out.count < limit else { throw .tooLarge(limit: limit) }
            out.append(byte)
        }

        mutating func run() throws(Failure) {
            var last = false
            while !last {
                last = try bits(1) == 1
                switch try bits(2) {
                case 0: try stored()
                case 1: try codes(Inflate.fixedLiteral, Inflate.fixedDistance)
                case 2:
                    let (l, d) = try dynamicTables()
                    try codes(l, d)
                default: throw .corrupt("invalid block type 3")
                }
            }
        }

        mutating func stored() throws(Failure) {
            // Skip to a byte boundary, then LEN and its complement.
            bitBuffer >>= UInt64(bitCount % 8)
            bitCount -= bitCount % 8
            let len = try bits(16), nlen = try bits(16)
            guard len == ~nlen & 0xFFFF else { throw .corrupt("stored block length does not match its complement") }
            // Whole bytes may still sit in the bit buffer.
            var remaining = len
            while remaining > 0 && bitCount >= 8 {
                try emit(UInt8(try bits(8)))
                remaining -= 1
            }
            guard input.count - position >= remaining else { throw .truncated }
            guard out.count + remaining <= limit else { throw .tooLarge(limit: limit) }
            out.append(contentsOf: input[position..<(position + remaining)])
            position += remaining
        }

        mutating func dynamicTables() throws(Failure) -> (Huffman, Huffman) {
            let nlen = try bits(5) + 257, ndist = try bits(5) + 1, ncode = try bits(4) + 4
            guard nlen <= 286, ndist <= 30 else { throw .corrupt("too many length or distance codes") }
            var codeLengths = [Int](repeating: 0, count: 19)
            for i in 0..<ncode { codeLengths[Inflate.codeLengthOrder[i]] = try bits(3) }
            let lencode = try Huffman(lengths: codeLengths)
            var lengths = [Int](repeating: 0, count: nlen + ndist)
            var i = 0
            while i < nlen + ndist {
                let symbol = try decodeSymbol(lencode)
                if symbol < 16 {
                    lengths[i] = symbol
                    i += 1
                    continue
                }
                var value = 0, repeatCount: Int
                switch symbol {
                case 16:
                    guard i > 0 else { throw .corrupt("repeat with no previous length") }
                    value = lengths[i - 1]
                    repeatCount = 3 + (try bits(2))
                case 17: repeatCount = 3 + (try bits(3))
                default: repeatCount = 11 + (try bits(7))
                }
                guard i + repeatCount <= nlen + ndist else { throw .corrupt("too many code lengths") }
                for _ in 0..<repeatCount {
                    lengths[i] = value
                    i += 1
                }
            }
            guard lengths[256] != 0 else { throw .corrupt("no end-of-block code") }
            return (try Huffman(lengths: Array(lengths[0..<nlen])), try Huffman(lengths: Array(lengths[nlen...])))
        }

        mutating func codes(_ literal: Huffman, _ distance: Huffman) throws(Failure) {
            while true {
                let symbol = try decodeSymbol(literal)
                if symbol < 256 {
                    try emit(UInt8(symbol))
                } else if symbol == 256 {
                    return
                } else {
                    let s = symbol - 257
                    guard s < 29 else { throw .corrupt("invalid length code") }
                    let length = Inflate.lengthBase[s] + (try bits(Inflate.lengthExtra[s]))
                    let d = try decodeSymbol(distance)
                    guard d < 30 else { throw .corrupt("invalid distance code") }
                    let dist = Inflate.distanceBase[d] + (try bits(Inflate.distanceExtra[d]))
                    guard dist <= out.count else { throw .corrupt("distance reaches before the start of the output") }
                    guard out.count + length <= limit else { throw .tooLarge(limit: limit) }
                    let start = out.count - dist
                    for k in 0..<length { out.append(out[start + k]) }
                }
            }
        }
    }

    private static let fixedLiteral: Huffman = {
        var l = [Int](repeating: 8, count: 288)
        for i in 144..<256 { l[i] = 9 }
        for i in 256..<280 { l[i] = 7 }
        return (try? Huffman(lengths: l)) ?? Huffman(uncheckedTable: [])
    }()

    private static let fixedDistance: Huffman =
        (try? Huffman(lengths: [Int](repeating: 5, count: 30))) ?? Huffman(uncheckedTable: [])
}

extension Inflate.Huffman {
    /// A table as given (only a fallback for the fixed codes, which are valid).
    init(uncheckedTable: [UInt32]) {
        table = uncheckedTable.count == 1 << Self.maxBits ? uncheckedTable : [UInt32](repeating: 0, count: 1 << Self.maxBits)
    }
}

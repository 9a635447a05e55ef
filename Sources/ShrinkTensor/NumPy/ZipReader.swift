import Foundation

/// The central directory of a zip archive held in memory, read with every offset and size
/// checked against the bytes (so no archive, however damaged, reads out of bounds), and the
/// members' data (checked against their CRC-32, with a bound on the inflated size).
struct ZipReader {
    /// One file of the archive, as its central directory entry describes it.
    struct Member {
        var name: String
        var method: UInt16
        var flags: UInt16
        var crc32: UInt32
        var compressedSize: UInt64
        var uncompressedSize: UInt64
        var localHeaderOffset: UInt64
        /// Directories end in "/" and hold nothing.
        var isDirectory: Bool { name.hasSuffix("/") }
    }

    /// What is wrong with the archive (the caller adds the file name).
    struct Failure: Error {
        var message: String
        init(_ message: String) { self.message = message }
    }

    let data: Data
    private(set) var members: [Member] = []

    /// Parses the central directory of `data`.
    init(_ data: Data) throws(Failure) {
        self.data = data
        members = try Self.directory(of: data)
    }

    private static func u16(_ d: Data, _ at: Int) throws(Failure) -> UInt16 {
        guard at >= 0, at + 2 <= d.count else { throw Failure("truncated archive") }
        let b = d.startIndex + at
        return UInt16(d[b]) | UInt16(d[b + 1]) << 8
    }

    private static func u32(_ d: Data, _ at: Int) throws(Failure) -> UInt32 {
        UInt32(try u16(d, at)) | UInt32(try u16(d, at + 2)) << 16
    }

    private static func u64(_ d: Data, _ at: Int) throws(Failure) -> UInt64 {
        UInt64(try u32(d, at)) | UInt64(try u32(d, at + 4)) << 32
    }

    /// `value` as an offset into `d`, or a failure if it lies outside.
    private static func offset(_ value: UInt64, in d: Data, _ what: String) throws(Failure) -> Int {
        guard value <= UInt64(d.count) else { throw Failure("\(what) points past the end of the file") }
        return Int(value)
    }

    private static func directory(of d: Data) throws(Failure) -> [Member] {
        // The end-of-central-directory record: 22 bytes plus a comment of up to 65535, at the end.
        guard d.count >= 22 else { throw Failure("not a zip archive (too short)") }
        var eocd = -1
        var i = d.count - 22
        let lowest = max(0, d.count - 22 - 65535)
        while i >= lowest {
            if try u32(d, i) == 0x0605_4B50 { eocd = i; break }
            i -= 1
        }
        guard eocd >= 0 else { throw Failure("not a zip archive (no end-of-directory record)") }
        var total = UInt64(try u16(d, eocd + 10))
        var size = UInt64(try u32(d, eocd + 12))
        var start = UInt64(try u32(d, eocd + 16))
        if total == 0xFFFF || size == 0xFFFF_FFFF || start == 0xFFFF_FFFF {
            // ZIP64: a locator just before the record points to the 64-bit record.
            let locator = eocd - 20
            guard locator >= 0, try u32(d, locator) == 0x0706_4B50 else {
                throw Failure("damaged archive (a ZIP64 directory without its locator)")
            }
            let record = try offset(try u64(d, locator + 8), in: d, "the ZIP64 directory record")
            guard try u32(d, record) == 0x0606_4B50 else { throw Failure("damaged archive (bad ZIP64 directory record)") }
            total = try u64(d, record + 32)
            size = try u64(d, record + 40)
            start = try u64(d, record + 48)
        }
        let begin = try offset(start, in: d, "the central directory")
        guard size <= UInt64(d.count - begin) else { throw Failure("damaged archive (the central directory runs past the end)") }
        // Each entry takes at least 46 bytes, which bounds the count a damaged record can claim.
        guard total <= size / 46 else { throw Failure("damaged archive (\(total) entries cannot fit in \(size) bytes)") }
        var members: [Member] = []
        var p = begin
        let end = begin + Int(size)
        for _ in 0..<Int(total) {
            guard p + 46 <= end, try u32(d, p) == 0x0201_4B50 else {
                throw Failure("damaged archive (bad central directory entry \(members.count + 1))")
            }
            let flags = try u16(d, p + 8), method = try u16(d, p + 10), crc = try u32(d, p + 16)
            var csize = UInt64(try u32(d, p + 20)), usize = UInt64(try u32(d, p + 24))
            let nameLength = Int(try u16(d, p + 28)), extraLength = Int(try u16(d, p + 30)), commentLength = Int(try u16(d, p + 32))
            var local = UInt64(try u32(d, p + 42))
            let nameStart = p + 46
            guard nameStart + nameLength + extraLength + commentLength <= end else {
                throw Failure("damaged archive (central directory entry \(members.count + 1) runs past the directory)")
            }
            let nameBytes = d[(d.startIndex + nameStart)..<(d.startIndex + nameStart + nameLength)]
            let name = String(decoding: nameBytes, as: UTF8.self)
            // ZIP64 extra field: the 64-bit values of the fields saturated above, in this order.
            var e = nameStart + nameLength
            let extraEnd = e + extraLength
            while e + 4 <= extraEnd {
                let id = try u16(d, e), length = Int(try u16(d, e + 2))
                guard e + 4 + length <= extraEnd else { break }
                if id == 0x0001 {
                    var q = e + 4
                    func next() throws(Failure) -> UInt64 {
                        guard q + 8 <= e + 4 + length else { throw Failure("damaged archive (short ZIP64 field in '\(name)')") }
                        defer { q += 8 }
                        return try u64(d, q)
                    }
                    if usize == 0xFFFF_FFFF { usize = try next() }
                    if csize == 0xFFFF_FFFF { csize = try next() }
                    if local == 0xFFFF_FFFF { local = try next() }
                }
                e += 4 + length
            }
            members.append(Member(name: name, method: method, flags: flags, crc32: crc, compressedSize: csize,
                                  uncompressedSize: usize, localHeaderOffset: local))
            p = extraEnd + commentLength
        }
        return members
    }

    /// The bytes of `member`, stored or deflated, after checking (before inflating anything)
    /// that its directory entry declares no more than `limit` bytes, and after, that they match
    /// its CRC-32.
    func contents(of member: Member, limit: Int) throws(Failure) -> Data {
        guard member.uncompressedSize <= UInt64(limit) else {
            throw Failure("member '\(member.name)' declares \(member.uncompressedSize) bytes, more than the \(limit) it may hold")
        }
        let bound = Int(member.uncompressedSize)
        let out = try read(member, limit: bound, prefix: false)
        guard out.count == bound else {
            throw Failure("member '\(member.name)' holds \(out.count) bytes but its directory entry declares \(bound)")
        }
        let crc = ZipCRC32.of(out)
        guard crc == member.crc32 else {
            throw Failure("member '\(member.name)' fails its CRC-32 check (stored \(hex(member.crc32)), computed \(hex(crc))); the archive is damaged")
        }
        return out
    }

    /// The first (up to) `count` bytes of `member`, unchecked: enough to read a header.
    func prefix(of member: Member, count: Int) throws(Failure) -> Data {
        try read(member, limit: min(count, Int(clamping: member.uncompressedSize)), prefix: true)
    }

    private func read(_ member: Member, limit: Int, prefix: Bool) throws(Failure) -> Data {
        guard member.flags & 1 == 0 else { throw Failure("member '\(member.name)' is encrypted") }
        let d = data
        let local = try Self.offset(member.localHeaderOffset, in: d, "'\(member.name)'")
        guard try Self.u32(d, local) == 0x0403_4B50 else { throw Failure("damaged archive (bad local header of '\(member.name)')") }
        let skip = 30 + Int(try Self.u16(d, local + 26)) + Int(try Self.u16(d, local + 28))
        guard local + skip <= d.count, member.compressedSize <= UInt64(d.count - local - skip) else {
            throw Failure("damaged archive (the data of '\(member.name)' runs past the end)")
        }
        let begin = d.startIndex + local + skip
        let compressed = d[begin..<(begin + Int(member.compressedSize))]
        switch member.method {
        case 0:
            guard member.compressedSize == member.uncompressedSize else {
                throw Failure("damaged archive ('\(member.name)' is stored with \(member.compressedSize) bytes but declares \(member.uncompressedSize))")
            }
            return Data(compressed.prefix(limit))
        case 8:
            let result: Result<[UInt8], Inflate.Failure> = compressed.withUnsafeBytes { raw in
                Result { () throws(Inflate.Failure) in try Inflate.decode(raw, limit: limit, prefix: prefix) }
            }
            switch result {
            case .success(let bytes): return Data(bytes)
            case .failure(let error):
                switch error {
                case .tooLarge:
                    throw Failure("member '\(member.name)' inflates to more than the \(limit) bytes its directory entry declares")
                case .truncated:
                    throw Failure("member '\(member.name)' is truncated (its compressed data ends early)")
                case .corrupt(let why):
                    throw Failure("member '\(member.name)' is corrupt (\(why))")
                }
            }
        default:
            throw Failure("member '\(member.name)' uses compression method \(member.method); only stored and deflated members are read")
        }
    }

    private func hex(_ v: UInt32) -> String {
        let s = String(v, radix: 16)
        return "0x" + String(repeating: "0", count: max(0, 8 - s.count)) + s
    }
}

/// CRC-32 (IEEE 802.3, as zip uses it).
enum ZipCRC32 {
    private static let table: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    /// The CRC-32 of `data`.
    static func of(_ data: Data) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        table.withUnsafeBufferPointer { t in
            data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
                for b in raw { c = t[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
            }
        }
        return c ^ 0xFFFF_FFFF
    }
}

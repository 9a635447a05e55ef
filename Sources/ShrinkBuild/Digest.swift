import Crypto
import Foundation

/// A SHA-256 content digest, kept as 64 lowercase hexadecimal digits.
///
/// Digests name blobs in the store and make up stage keys, so they encode as a bare JSON string:
/// records and lock files stay readable and diffable.
public struct Digest: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    /// The 64 lowercase hexadecimal digits.
    public let hex: String

    /// Accepts exactly 64 hexadecimal digits (either case); anything else is not a digest.
    public init?(hex: String) {
        let lower = hex.lowercased()
        guard lower.utf8.count == 64, lower.utf8.allSatisfy(Digest.isHexDigit) else { return nil }
        self.hex = lower
    }

    init(_ digest: SHA256.Digest) {
        var text = ""
        text.reserveCapacity(64)
        for byte in digest {
            text.append(Digest.hexDigits[Int(byte >> 4)])
            text.append(Digest.hexDigits[Int(byte & 0x0f)])
        }
        self.hex = text
    }

    /// The digest of `data`.
    public static func of(_ data: Data) -> Digest {
        Digest(SHA256.hash(data: data))
    }

    /// The digest of the UTF-8 bytes of `string`.
    public static func of(_ string: String) -> Digest {
        of(Data(string.utf8))
    }

    /// The digest of a file's content, read in chunks so that large models never sit in memory whole.
    public static func ofFile(at url: URL) throws -> Digest {
        try ofFile(at: url, copyingTo: nil)
    }

    /// Hashes a file and, when `sink` is given, hands every chunk to it too, so a copy and its digest
    /// come from one read of the source — the copy then has exactly the content that was hashed.
    static func ofFile(at url: URL, copyingTo sink: ((UnsafeRawBufferPointer) throws -> Void)?) throws -> Digest {
        let fd = open(url.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw StoreError.io("cannot open \(url.path)", errno) }
        defer { close(fd) }
        var hasher = SHA256()
        let chunk = 1 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let n = read(fd, buffer.baseAddress, chunk)
            if n < 0 {
                if errno == EINTR { continue }
                throw StoreError.io("cannot read \(url.path)", errno)
            }
            if n == 0 { break }
            let slice = UnsafeRawBufferPointer(rebasing: buffer[0..<n])
            hasher.update(bufferPointer: slice)
            try sink?(slice)
        }
        return Digest(hasher.finalize())
    }

    /// The first 12 digits, enough to tell digests apart in messages.
    public var short: String { String(hex.prefix(12)) }

    /// The digest as `sha256:<hex>`.
    public var description: String { "sha256:\(hex)" }

    /// Orders by hexadecimal text so listings are stable.
    public static func < (lhs: Digest, rhs: Digest) -> Bool { lhs.hex < rhs.hex }

    /// Decodes a bare 64-digit string; `sha256:` prefixes are accepted for hand-written lock files.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        var text = try container.decode(String.self)
        if text.hasPrefix("sha256:") { text.removeFirst(7) }
        guard let digest = Digest(hex: text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not a SHA-256 digest: \(text)")
        }
        self = digest
    }

    /// Encodes as a bare 64-digit string.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(hex)
    }

    private static let hexDigits: [Character] = Array("0123456789abcdef")

    private static func isHexDigit(_ c: UInt8) -> Bool {
        (c >= 48 && c <= 57) || (c >= 97 && c <= 102)
    }
}

import Crypto
import Foundation

/// SHA-256 hex digests of the files a pipeline reads (recorded in the lock file) and of recipe
/// cache folder names, through swift-crypto like the build system's digests.
public enum SHA256Digest {
    /// The lowercase hex SHA-256 of `data`.
    public static func hex(_ data: Data) -> String {
        SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }

    /// The lowercase hex SHA-256 of `string`'s UTF-8 bytes.
    public static func hex(_ string: String) -> String { hex(Data(string.utf8)) }
}

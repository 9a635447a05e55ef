import Crypto
import Foundation

/// What `BASE/ac/<key>` holds: the action record, the stage description it answers, and — when the
/// team signs its cache — an HMAC-SHA-256 over key, description and output digests.
///
/// A reader trusts it only if the description hashes to the key it is stored under (so a record
/// cannot answer for another stage), the record names that key, and, with a signing key, the
/// signature verifies (so a well-formed forged record pointing a stage at another stage's real
/// outputs is refused: only holders of the key can publish).
struct RemoteRecord: Codable, Sendable {
    /// Envelope format; readers refuse others.
    var format: Int = 1
    var record: ActionRecord
    var description: StageDescription
    /// Base64 HMAC-SHA-256 of `signedMessage`, or nil when the uploader had no signing key.
    var signature: String?

    /// Why a fetched envelope is not trusted.
    enum Rejection: Error, Sendable, CustomStringConvertible {
        case unreadable
        case descriptionMismatch
        case recordMismatch
        case unsigned
        case badSignature

        var description: String {
            switch self {
            case .unreadable: return "unreadable"
            case .descriptionMismatch: return "its stage description does not hash to its key"
            case .recordMismatch: return "it answers another key"
            case .unsigned: return "it is not signed"
            case .badSignature: return "its signature does not match SHRINK_CACHE_SIGNING_KEY"
            }
        }
    }

    init(record: ActionRecord, description: StageDescription, signingKey: SymmetricKey?) {
        self.record = record
        self.description = description
        signature = signingKey.map { Self.sign(record: record, description: description, key: $0) }
    }

    /// The bytes signed: a version tag, the key, the description's canonical hash (which is the key
    /// when honest — a mismatch is refused before the signature is checked) and identity, and every
    /// output as `name=digest`, sorted.
    static func signedMessage(record: ActionRecord, description: StageDescription) -> Data {
        var text = "shrink-remote-record/1\nkey=\(record.key.hex)\ndescription=\(description.key.hex)\n"
        text += "kind=\(description.kind)\nidentity=\(description.identity)\n"
        for (name, output) in record.outputs.sorted(by: { $0.key < $1.key }) {
            text += "output=\(name)=\(output.digest.hex):\(output.size)\n"
        }
        return Data(text.utf8)
    }

    static func sign(record: ActionRecord, description: StageDescription, key: SymmetricKey) -> String {
        Data(HMAC<SHA256>.authenticationCode(for: signedMessage(record: record, description: description), using: key))
            .base64EncodedString()
    }

    func encoded() throws -> Data {
        let encoder = ActionRecord.encoder()
        return try encoder.encode(self)
    }

    /// Decodes and checks an envelope fetched for `key`.
    static func verified(_ data: Data, key: StageKey, signingKey: SymmetricKey?) -> Result<RemoteRecord, Rejection> {
        guard let envelope = try? ActionRecord.decoder().decode(RemoteRecord.self, from: data), envelope.format == 1,
              envelope.record.format == 1
        else { return .failure(.unreadable) }
        guard envelope.description.key == key else { return .failure(.descriptionMismatch) }
        guard envelope.record.key == key, envelope.record.kind == envelope.description.kind else { return .failure(.recordMismatch) }
        if let signingKey {
            guard let signature = envelope.signature, let mac = Data(base64Encoded: signature) else { return .failure(.unsigned) }
            guard HMAC<SHA256>.isValidAuthenticationCode(
                mac, authenticating: signedMessage(record: envelope.record, description: envelope.description), using: signingKey)
            else { return .failure(.badSignature) }
        }
        return .success(envelope)
    }
}

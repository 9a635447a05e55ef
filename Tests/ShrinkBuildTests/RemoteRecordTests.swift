import Crypto
import Foundation
import Testing
@testable import ShrinkBuild

/// What makes a team-cache record trusted: its description hashes to its key, it names that key,
/// and — with a signing key — its HMAC verifies. Credentials come from `~/.netrc` as parsed here.
@Suite struct RemoteRecordTests {
    struct Params: Codable, Sendable, Hashable { var layer: String; var rank: Int }

    struct Toy: DescribableStage {
        static let kindName = "toy"
        var kind: String { Self.kindName }
        var version: Int { 1 }
        let identity: String
        let parameters: Params
        let inputs: [String: StageInput]
        init(identity: String, parameters: Params, inputs: [String: StageInput]) {
            self.identity = identity; self.parameters = parameters; self.inputs = inputs
        }
        init(rebuilding d: StageDescription) throws {
            self.init(identity: d.identity, parameters: try d.decodeParameters(as: Params.self), inputs: d.blobInputs)
        }
        func run(_ context: StageContext) throws -> StageOutputs { ["y": Data()] }
    }

    /// A record and description for stage `layer`, whose output is `output`.
    static func entry(_ layer: String, rank: Int, output: Data) throws -> (ActionRecord, StageDescription) {
        let x = Digest.of("input")
        let p = Params(layer: layer, rank: rank)
        let description = try StageDescription(Toy(identity: "toy:\(layer)", parameters: p, inputs: ["x": .blob(x)]), inputs: ["x": x])
        let (key, components) = try StageKey.derive(kind: "toy", version: 1, parameters: p, inputs: ["x": x])
        let record = ActionRecord(key: key, kind: "toy", identity: "toy:\(layer)",
                                  outputs: ["y": .init(digest: Digest.of(output), size: Int64(output.count))],
                                  components: components, created: Date(timeIntervalSince1970: 0), elapsed: 1)
        return (record, description)
    }

    enum Forgery: String, CaseIterable, Sendable {
        case honest, otherDescription, otherOutputsResigned, otherOutputsUnsigned, otherOutputsKeptSignature, wrongKey, garbage
    }

    @Test(arguments: Forgery.allCases)
    func onlyHonestSignedRecordsAreTrusted(_ forgery: Forgery) throws {
        let secret = SymmetricKey(data: Data("team secret, at least 16 bytes".utf8))
        let (record, description) = try Self.entry("conv1", rank: 4, output: Data("factors of conv1".utf8))
        let (other, otherDescription) = try Self.entry("conv2", rank: 8, output: Data("factors of conv2".utf8))
        var envelope = RemoteRecord(record: record, description: description, signingKey: secret)
        var expected: RemoteRecord.Rejection?
        var key = secret
        switch forgery {
        case .honest: break
        case .otherDescription:
            // Another stage's description and record filed under this key.
            envelope = RemoteRecord(record: other, description: otherDescription, signingKey: secret)
            expected = .descriptionMismatch
        case .otherOutputsResigned:
            // This stage pointed at another stage's real outputs, signed with a guessed key.
            var forged = record
            forged.outputs = other.outputs
            envelope = RemoteRecord(record: forged, description: description, signingKey: SymmetricKey(data: Data("a guess of the secret key".utf8)))
            expected = .badSignature
        case .otherOutputsUnsigned:
            var forged = record
            forged.outputs = other.outputs
            envelope = RemoteRecord(record: forged, description: description, signingKey: nil)
            expected = .unsigned
        case .otherOutputsKeptSignature:
            envelope.record.outputs = other.outputs
            expected = .badSignature
        case .wrongKey:
            key = SymmetricKey(data: Data("another team's secret key".utf8))
            expected = .badSignature
        case .garbage:
            let result = RemoteRecord.verified(Data("<html>502</html>".utf8), key: record.key, signingKey: secret)
            guard case .failure(.unreadable) = result else { Issue.record("garbage accepted: \(result)"); return }
            return
        }
        let result = RemoteRecord.verified(try envelope.encoded(), key: record.key, signingKey: key)
        switch (result, expected) {
        case (.success(let got), nil):
            #expect(got.record.outputs == record.outputs)
            #expect(got.description == description)
        case (.failure(let why), let wanted?):
            #expect("\(why)" == "\(wanted)")
        default:
            Issue.record("\(forgery): \(result), expected \(String(describing: expected))")
        }
        // Without a signing key, the description check alone still holds.
        let unsignedCheck = RemoteRecord.verified(try envelope.encoded(), key: record.key, signingKey: nil)
        if case .otherDescription = forgery {
            guard case .failure(.descriptionMismatch) = unsignedCheck else { Issue.record("accepted unsigned: \(unsignedCheck)"); return }
        } else {
            guard case .success = unsignedCheck else { Issue.record("\(forgery) refused without a key: \(unsignedCheck)"); return }
        }
    }

    @Test func netrcGivesTheHostsLoginOrTheDefault() {
        let netrc = Netrc("""
        # team cache
        machine cache.example.com login ci password s3cret
        machine other.example.com
          login bob
          password hunter2
        macdef init
        cd /pub

        default login anon password guest
        """)
        #expect(netrc.entry(for: "CACHE.example.com") == .init(login: "ci", password: "s3cret"))
        #expect(netrc.entry(for: "other.example.com") == .init(login: "bob", password: "hunter2"))
        #expect(netrc.entry(for: "elsewhere") == .init(login: "anon", password: "guest"))
        #expect(Netrc("machine a login x password y").entry(for: "b") == nil)
    }

    @Test func credentialsComeFromTheTokenThenNetrcAndAreNeverDescribed() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("shrink-netrc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let netrc = dir.appendingPathComponent("netrc")
        try Data("machine cache.example.com login ci password s3cret\n".utf8).write(to: netrc)
        let url = URL(string: "https://cache.example.com/shrink")!
        let token = RemoteCacheConfiguration.credentials(for: url, environment: ["SHRINK_REMOTE_CACHE_TOKEN": "tok3n", "NETRC": netrc.path])
        #expect(token.header == "Bearer tok3n")
        let basic = RemoteCacheConfiguration.credentials(for: url, environment: ["NETRC": netrc.path])
        #expect(basic.header == "Basic " + Data("ci:s3cret".utf8).base64EncodedString())
        #expect(RemoteCacheConfiguration.credentials(for: URL(string: "http://127.0.0.1:1")!, environment: ["NETRC": netrc.path]).header == nil)
        for c in [token, basic] {
            #expect(!"\(c)".contains("tok3n") && !"\(c)".contains("s3cret"))
        }
        #expect(RemoteCacheConfiguration(url: URL(string: "https://u:p@cache.example.com/x?t=1")!).displayURL == "https://cache.example.com/x")
    }
}

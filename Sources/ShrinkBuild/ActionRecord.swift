import Foundation

/// What a stage key produced: `.shrink/cache/actions/<key>` as JSON.
///
/// A record is written only after all its blobs are in the store, so a record on disk always names
/// blobs that were complete when it was published; they can still go missing later (gc, disk
/// trouble), which is why a lookup re-checks them.
public struct ActionRecord: Codable, Sendable, Equatable {
    /// One output: its content digest and size in bytes.
    public struct Output: Codable, Sendable, Equatable {
        /// Content digest of the blob.
        public var digest: Digest
        /// Size in bytes.
        public var size: Int64

        /// Creates an output entry.
        public init(digest: Digest, size: Int64) {
            self.digest = digest
            self.size = size
        }
    }

    /// Record format; readers skip records of an unknown format.
    public var format: Int = 1
    /// The stage key this record answers.
    public var key: StageKey
    /// The stage kind.
    public var kind: String
    /// The stable human name of the stage that produced it (`decompose:conv2`).
    public var identity: String
    /// Output name → blob.
    public var outputs: [String: Output]
    /// The key's components, so explanations survive even when the index is lost.
    public var components: KeyComponents
    /// When the record was published.
    public var created: Date
    /// When the record was last used: the record file's modification time, which a hit bumps
    /// (one `utimensat`, no rewrite), so it is not part of the JSON.
    public var lastUsed: Date = .distantPast
    /// Seconds the stage took to compute, so reports can say what the cache saved.
    public var elapsed: Double?

    private enum CodingKeys: String, CodingKey {
        case format, key, kind, identity, outputs, components, created, elapsed
    }

    /// Creates a record.
    public init(
        key: StageKey, kind: String, identity: String, outputs: [String: Output],
        components: KeyComponents, created: Date, elapsed: Double?
    ) {
        self.key = key
        self.kind = kind
        self.identity = identity
        self.outputs = outputs
        self.components = components
        self.created = created
        self.lastUsed = created
        self.elapsed = elapsed
    }

    /// Total size of the outputs in bytes.
    public var size: Int64 { outputs.values.reduce(0) { $0 + $1.size } }

    /// Output name → digest.
    public var outputDigests: [String: Digest] { outputs.mapValues(\.digest) }

    static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }

    static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}

/// The last key seen for a stage identity: `.shrink/cache/index/<identity>.json`, what `plan` and
/// the scheduler compare against to say why a stage reruns.
public struct IndexEntry: Codable, Sendable, Equatable {
    /// The stage identity.
    public var identity: String
    /// The key it had last time it completed.
    public var key: StageKey
    /// That key's components.
    public var components: KeyComponents

    /// Creates an entry.
    public init(identity: String, key: StageKey, components: KeyComponents) {
        self.identity = identity
        self.key = key
        self.components = components
    }
}

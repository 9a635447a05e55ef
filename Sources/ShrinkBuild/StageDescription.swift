import Foundation

/// A stage as data: everything that determines its outputs — kind, implementation version,
/// parameters, the content digests of its inputs — plus what it needs to run that is not part of
/// its key (its identity for messages, the checkout folder a user command runs in).
///
/// Its key is the SHA-256 of the canonical encoding of the first four (`StageKey.derive`). The
/// scheduler stores the description beside the key before the stage runs, so any process with the
/// store — another core, a cluster node, a colleague's machine through a shared cache — can run the
/// stage by key (`shrink exec-stage KEY`), and can check that a description is the one its key names.
public struct StageDescription: Sendable, Hashable, Codable {
    /// The stage kind (`decompose`).
    public var kind: String
    /// The kind's implementation version.
    public var version: Int
    /// The parameters, canonically encoded.
    public var parameters: CanonicalJSON.Value
    /// Input name → content digest.
    public var inputs: [String: Digest]
    /// The stage's identity (`decompose:conv2@tucker2:16,8`): for messages, not part of the key.
    public var identity: String
    /// A folder the stage reads outside the store (a user's evaluator command runs there); nil for
    /// the stages that need only the store. Not part of the key: a moved checkout still hits.
    public var checkout: String?

    /// Describes `stage`, whose inputs resolved to `inputs`.
    public init(_ stage: some Stage, inputs: [String: Digest]) throws {
        kind = stage.kind
        version = stage.version
        parameters = try CanonicalJSON.makeValue(stage.parameters)
        self.inputs = inputs
        identity = stage.identity
        checkout = stage.checkout?.path
    }

    /// The key this description hashes to.
    public var key: StageKey {
        StageKey(Digest.of(CanonicalJSON.serialize(StageKey.canonicalTree(kind: kind, version: version, parameters: parameters,
                                                                          inputs: inputs))))
    }

    /// The parameters decoded as `T` (what a stage kind's rebuild uses).
    public func decodeParameters<T: Decodable>(as type: T.Type) throws -> T {
        do {
            let decoder = JSONDecoder()
            // CanonicalJSON writes non-finite numbers as these strings.
            decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
            return try decoder.decode(T.self, from: CanonicalJSON.serialize(parameters))
        } catch {
            throw StageDescriptionError.badParameters(kind: kind, reason: "\(error)")
        }
    }

    /// The inputs as stage inputs (blobs in the store).
    public var blobInputs: [String: StageInput] { inputs.mapValues { .blob($0) } }

    private enum Keys: String, CodingKey { case kind, version, parameters, inputs, identity, checkout }

    /// Decodes a description stored by `encode(to:)`.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        kind = try c.decode(String.self, forKey: .kind)
        version = try c.decode(Int.self, forKey: .version)
        let raw = try c.decode(String.self, forKey: .parameters)
        guard let value = CanonicalJSON.parse(Data(raw.utf8)) else {
            throw DecodingError.dataCorruptedError(forKey: .parameters, in: c, debugDescription: "parameters are not JSON")
        }
        parameters = value
        inputs = try c.decode([String: Digest].self, forKey: .inputs)
        identity = try c.decode(String.self, forKey: .identity)
        checkout = try c.decodeIfPresent(String.self, forKey: .checkout)
    }

    /// Encodes the parameters as their canonical JSON text, so reading back gives the same key.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(kind, forKey: .kind)
        try c.encode(version, forKey: .version)
        try c.encode(CanonicalJSON.string(parameters), forKey: .parameters)
        try c.encode(inputs, forKey: .inputs)
        try c.encode(identity, forKey: .identity)
        try c.encodeIfPresent(checkout, forKey: .checkout)
    }
}

/// A description that cannot become a stage.
public enum StageDescriptionError: Error, Sendable, CustomStringConvertible {
    /// No description is stored under the key.
    case unknownKey(StageKey)
    /// The stored description does not hash to the key it is stored under.
    case mismatchedKey(StageKey)
    /// No stage kind of this name is registered.
    case unknownKind(String, known: [String])
    /// The parameters do not decode as the kind's.
    case badParameters(kind: String, reason: String)
    /// Input blobs are not in the store.
    case missingInputs(identity: String, inputs: [String])
    /// The stage runs a command in a checkout that is not on this machine.
    case checkoutMissing(identity: String, path: String)

    /// One line naming the problem and the fix.
    public var description: String {
        switch self {
        case .unknownKey(let k): return "no stage description for key \(k.hex) in this cache; run the pipeline (or fetch the cache) first"
        case .mismatchedKey(let k): return "the description stored for key \(k.short)… does not hash to it; the cache is corrupt — run `shrink cache verify`"
        case .unknownKind(let kind, let known): return "unknown stage kind '\(kind)' (this Shrink runs: \(known.joined(separator: ", "))); is it an older or newer Shrink?"
        case .badParameters(let kind, let reason): return "the parameters of a '\(kind)' stage do not decode (\(reason)); the description was written by another Shrink version"
        case .missingInputs(let id, let inputs): return "\(id): input blobs are not in the cache: \(inputs.joined(separator: ", "))"
        case .checkoutMissing(let id, let path): return "\(id) runs a command in \(path), which does not exist on this machine; run it where the repository is checked out"
        }
    }
}

/// Rebuilds stages from their descriptions: stage kind → how to make one. A process that runs
/// stages by key registers every kind it can run.
public struct StageRegistry: Sendable {
    private var makers: [String: @Sendable (StageDescription) throws -> any Stage] = [:]

    /// An empty registry.
    public init() {}

    /// Registers a kind.
    public mutating func register<S: DescribableStage>(_ type: S.Type) {
        makers[S.kindName] = { d in try S(rebuilding: d) }
    }

    /// The registered kinds.
    public var kinds: [String] { makers.keys.sorted() }

    /// The stage a description describes.
    public func stage(for description: StageDescription) throws -> any Stage {
        guard let make = makers[description.kind] else { throw StageDescriptionError.unknownKind(description.kind, known: kinds) }
        return try make(description)
    }
}

/// A stage kind that can be rebuilt from its description alone (what `exec-stage` runs).
public protocol DescribableStage: Stage where Parameters: Decodable {
    /// The kind's name, equal to every instance's `kind`.
    static var kindName: String { get }
    /// The stage `description` describes: its parameters decoded, its inputs as store blobs.
    init(rebuilding description: StageDescription) throws
}

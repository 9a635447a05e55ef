import Foundation

/// The cache key of a stage: the SHA-256 of the canonical encoding of everything that determines
/// its outputs — kind, implementation version, parameters, and the content digests of its inputs.
///
/// Paths and timestamps never enter a key, so a moved checkout or a re-cloned repository still hits.
public struct StageKey: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    /// Bumped when the key encoding itself changes; invalidates every key at once.
    public static let schema = 1

    /// The key as a digest.
    public let digest: Digest

    /// Wraps a digest that is known to be a key (for example a file name under `actions/`).
    public init(_ digest: Digest) { self.digest = digest }

    /// The 64 hexadecimal digits.
    public var hex: String { digest.hex }

    /// The first 12 digits, for messages.
    public var short: String { digest.short }

    /// The hexadecimal digits.
    public var description: String { digest.hex }

    /// Orders by hexadecimal text.
    public static func < (lhs: StageKey, rhs: StageKey) -> Bool { lhs.digest < rhs.digest }

    /// Decodes from a bare digest string.
    public init(from decoder: any Decoder) throws { digest = try Digest(from: decoder) }

    /// Encodes as a bare digest string.
    public func encode(to encoder: any Encoder) throws { try digest.encode(to: encoder) }

    /// What a key hashes: the schema, kind, version, parameters and input digests.
    static func canonicalTree(kind: String, version: Int, parameters: CanonicalJSON.Value,
                              inputs: [String: Digest]) -> CanonicalJSON.Value {
        .object([
            "schema": .number(String(schema)),
            "kind": .string(kind),
            "version": .number(String(version)),
            "parameters": parameters,
            "inputs": .object(inputs.mapValues { .string($0.hex) }),
        ])
    }

    /// Derives the key of a stage and keeps its components for explanations.
    ///
    /// - Parameters:
    ///   - kind: the stage kind (`decompose`).
    ///   - version: the kind's implementation version; bump it when outputs would differ.
    ///   - parameters: any `Encodable` value; encoded canonically.
    ///   - inputs: input name → content digest, taken before the stage runs.
    public static func derive(
        kind: String, version: Int, parameters: some Encodable, inputs: [String: Digest]
    ) throws -> (key: StageKey, components: KeyComponents) {
        let parameterTree = try CanonicalJSON.makeValue(parameters)
        let whole = canonicalTree(kind: kind, version: version, parameters: parameterTree, inputs: inputs)
        let key = StageKey(Digest.of(CanonicalJSON.serialize(whole)))
        let components = KeyComponents(
            kind: kind, version: version, parameters: CanonicalJSON.flatten(parameterTree), inputs: inputs)
        return (key, components)
    }
}

/// What went into a key, kept beside it so a later run can say which part changed.
///
/// Parameters are kept flattened (`rules[0].rank` → `16`, values in canonical JSON) because that
/// is what an explanation compares; the key itself hashes the full tree.
public struct KeyComponents: Codable, Sendable, Equatable {
    /// The stage kind.
    public var kind: String
    /// The implementation version.
    public var version: Int
    /// Parameter leaf path → canonical JSON of the leaf.
    public var parameters: [String: String]
    /// Input name → content digest.
    public var inputs: [String: Digest]

    /// Creates components; normally made by `StageKey.derive`.
    public init(kind: String, version: Int, parameters: [String: String], inputs: [String: Digest]) {
        self.kind = kind
        self.version = version
        self.parameters = parameters
        self.inputs = inputs
    }

    /// Why a key differs from the one recorded before, most fundamental change first; an empty list
    /// means the components are identical.
    public func changes(since previous: KeyComponents?) -> [KeyChange] {
        guard let previous else { return [.firstRun] }
        var result = [KeyChange]()
        if previous.kind != kind { result.append(.kindChanged(from: previous.kind, to: kind)) }
        if previous.version != version { result.append(.versionChanged(from: previous.version, to: version)) }
        for name in Set(previous.inputs.keys).union(inputs.keys).sorted() where previous.inputs[name] != inputs[name] {
            result.append(.inputChanged(name: name, from: previous.inputs[name], to: inputs[name]))
        }
        var changed: [KeyChange] = []
        for path in Set(previous.parameters.keys).union(parameters.keys).sorted()
        where previous.parameters[path] != parameters[path] {
            changed.append(.parameterChanged(path: path, from: previous.parameters[path], to: parameters[path]))
        }
        return result + Self.coalescingElements(changed, previous: previous.parameters, current: parameters)
    }

    /// A labelled list element (`searchable[fc1]`) that appeared or disappeared whole is one change,
    /// not one per field.
    private static func coalescingElements(_ changes: [KeyChange], previous: [String: String], current: [String: String]) -> [KeyChange] {
        func element(_ path: String) -> String? {
            guard let close = path.firstIndex(of: "]"), path[..<close].contains("[") else { return nil }
            let head = String(path[...close])
            return Int(head[head.index(after: head.lastIndex(of: "[")!)..<head.index(before: head.endIndex)]) == nil ? head : nil
        }
        var out: [KeyChange] = []
        var done = Set<String>()
        for change in changes {
            guard case .parameterChanged(let path, let from, let to) = change, let head = element(path), from == nil || to == nil else {
                out.append(change)
                continue
            }
            let inPrevious = previous.keys.contains { $0.hasPrefix(head) }, inCurrent = current.keys.contains { $0.hasPrefix(head) }
            guard inPrevious != inCurrent else {
                out.append(change)
                continue
            }
            guard done.insert(head).inserted else { continue }
            let fields = (inCurrent ? current : previous).filter { $0.key.hasPrefix(head) }
                .map { "\($0.key.dropFirst(head.count).drop { $0 == "." })=\($0.value)" }.sorted().joined(separator: ", ")
            out.append(.parameterChanged(path: head, from: inCurrent ? nil : fields, to: inCurrent ? fields : nil))
        }
        return out
    }
}

/// One reason a stage runs instead of coming from the cache.
public enum KeyChange: Sendable, Equatable, CustomStringConvertible {
    /// Nothing was recorded for this stage identity before.
    case firstRun
    /// The identity now names a stage of another kind.
    case kindChanged(from: String, to: String)
    /// The stage implementation's version was bumped.
    case versionChanged(from: Int, to: Int)
    /// A parameter leaf changed, appeared (`from == nil`) or disappeared (`to == nil`).
    case parameterChanged(path: String, from: String?, to: String?)
    /// An input's content changed, appeared or disappeared.
    case inputChanged(name: String, from: Digest?, to: Digest?)
    /// The key is the one recorded last time, but its outputs are gone (gc, corruption, other cache).
    case outputsMissing
    /// An upstream stage will run first, so this stage's inputs are not known yet.
    case upstreamWillRun(String)

    /// A one-line explanation such as "parameter `rank` changed: 8 → 16".
    public var description: String {
        switch self {
        case .firstRun:
            return "not run before"
        case .kindChanged(let from, let to):
            return "stage kind changed: \(from) → \(to)"
        case .versionChanged(let from, let to):
            return "implementation changed (version \(from) → \(to))"
        case .parameterChanged(let path, let from, let to):
            let name = path.isEmpty ? "parameters" : "parameter `\(path)`"
            switch (from, to) {
            case (nil, let to?): return "\(name) added: \(Self.clip(to))"
            case (let from?, nil): return "\(name) removed (was \(Self.clip(from)))"
            default: return "\(name) changed: \(Self.clip(from ?? "")) → \(Self.clip(to ?? ""))"
            }
        case .inputChanged(let name, let from, let to):
            switch (from, to) {
            case (nil, let to?): return "input `\(name)` added (\(to.short)…)"
            case (let from?, nil): return "input `\(name)` removed (was \(from.short)…)"
            default: return "input `\(name)` changed (\(from?.short ?? "")… → \(to?.short ?? "")…)"
            }
        case .outputsMissing:
            return "unchanged, but its outputs are no longer in the cache"
        case .upstreamWillRun(let identity):
            return "depends on \(identity), which runs first"
        }
    }

    private static func clip(_ text: String) -> String {
        text.count <= 48 ? text : String(text.prefix(45)) + "…"
    }
}

import Foundation

/// A unit of cached work: a pure function from inputs and parameters to named output blobs.
///
/// The scheduler derives the stage's key from `kind`, `version`, `parameters` and the content
/// digests of `inputs` (resolved before `run`), looks the key up in the store, and calls `run` only
/// on a miss. `run` must depend on nothing else — not on paths, clocks or the job count — or a
/// cached result would differ from a fresh one.
public protocol Stage: Sendable {
    /// Parameters, encoded canonically into the key (and into the stage's stored description,
    /// which a `DescribableStage` decodes to rebuild it). Use `EmptyParameters` for none.
    associatedtype Parameters: Encodable & Sendable

    /// The stage kind (`load`, `decompose`, …): one implementation, many instances.
    var kind: String { get }
    /// The implementation version of the kind; bump it whenever outputs for the same inputs would
    /// change, which invalidates every cached result of the kind.
    var version: Int { get }
    /// A stable human name, unique in a graph (`decompose:conv2`). Not part of the key: it names
    /// the stage in progress output and says which earlier key to compare with when explaining.
    var identity: String { get }
    /// Parameters that select what the stage computes.
    var parameters: Parameters { get }
    /// Named inputs. Their content digests are part of the key; `.output(of:named:)` entries also
    /// make the stage depend on the named stage.
    var inputs: [String: StageInput] { get }

    /// A folder outside the store the stage needs (a user's evaluator command runs in it); nil for
    /// stages that read only the store. Recorded in the description, not in the key.
    var checkout: URL? { get }
    /// Whether the stage must run in the driving process, whatever the executor: a dynamic stage
    /// (a search whose policy decides as results arrive) that sends its own sub-stages to the
    /// executor.
    var runsInDriver: Bool { get }

    /// Computes the outputs. Runs on a scheduler worker thread; may block, may call
    /// `context.run(substages:)`, and should call `context.checkCancellation()` in long loops.
    func run(_ context: StageContext) throws -> StageOutputs
}

extension Stage {
    /// Stages read only the store unless they say otherwise.
    public var checkout: URL? { nil }
    /// Stages may run in any process unless they say otherwise.
    public var runsInDriver: Bool { false }
}

/// Where an input's content comes from. The key sees only the content digest.
public enum StageInput: Sendable, Hashable {
    /// An output of another stage of the graph (by identity and output name).
    case output(of: String, named: String)
    /// A file, hashed before the stage runs and copied into the store so the stage reads exactly
    /// the content that was hashed.
    case file(URL)
    /// A blob already in the store, e.g. a candidate model a search stage put there.
    case blob(Digest)

    /// The stage this input comes from, if any.
    public var upstream: String? {
        if case .output(let stage, _) = self { return stage }
        return nil
    }
}

/// No parameters.
public struct EmptyParameters: Codable, Sendable, Hashable {
    /// Creates the empty parameter set.
    public init() {}
}

/// A stage's outputs by name.
public struct StageOutputs: Sendable, ExpressibleByDictionaryLiteral {
    /// One output's content.
    public enum Content: Sendable {
        /// Bytes in memory.
        case data(Data)
        /// A file the stage wrote (e.g. to a temporary directory); its content is copied into the store.
        case file(URL)
        /// A blob already in the store.
        case blob(Digest)
    }

    /// Output name → content.
    public var values: [String: Content]

    /// No outputs.
    public init() { values = [:] }

    /// Outputs given as bytes.
    public init(dictionaryLiteral elements: (String, Data)...) {
        values = Dictionary(elements.map { ($0.0, Content.data($0.1)) }, uniquingKeysWith: { _, last in last })
    }

    /// Reads or sets one output.
    public subscript(name: String) -> Content? {
        get { values[name] }
        set { values[name] = newValue }
    }
}

/// What a stage produced, whether it ran or came from the cache.
public struct StageResult: Sendable, Equatable {
    /// Whether the stage ran or was a cache hit.
    public enum Status: String, Sendable, Equatable {
        /// The stage's `run` was called and its outputs published.
        case executed
        /// The outputs came from the store.
        case cached
    }

    /// The stage identity.
    public let identity: String
    /// The stage kind.
    public let kind: String
    /// The stage key.
    public let key: StageKey
    /// Output name → content digest.
    public let outputs: [String: Digest]
    /// Executed or cached.
    public let status: Status
    /// Why it executed (empty when cached).
    public let reasons: [KeyChange]
    /// Seconds spent, including waiting for a lock held by another run.
    public let elapsed: Double

    /// Creates a result.
    public init(
        identity: String, kind: String, key: StageKey, outputs: [String: Digest], status: Status,
        reasons: [KeyChange], elapsed: Double
    ) {
        self.identity = identity
        self.kind = kind
        self.key = key
        self.outputs = outputs
        self.status = status
        self.reasons = reasons
        self.elapsed = elapsed
    }

    /// The digest of a named output.
    public func digest(_ output: String) throws -> Digest {
        guard let digest = outputs[output] else { throw SchedulerError.missingOutput(stage: identity, output: output) }
        return digest
    }
}

/// A stage defined by a closure: for toy stages in tests and for small glue stages.
public struct FunctionStage<Parameters: Encodable & Sendable>: Stage {
    /// The stage kind.
    public let kind: String
    /// The implementation version.
    public let version: Int
    /// The stage identity.
    public let identity: String
    /// The parameters.
    public let parameters: Parameters
    /// The inputs.
    public let inputs: [String: StageInput]
    private let body: @Sendable (StageContext, Parameters) throws -> StageOutputs

    /// Creates a stage whose `run` calls `body` with the context and the parameters.
    public init(
        kind: String, version: Int = 1, identity: String, parameters: Parameters,
        inputs: [String: StageInput] = [:],
        body: @escaping @Sendable (StageContext, Parameters) throws -> StageOutputs
    ) {
        self.kind = kind
        self.version = version
        self.identity = identity
        self.parameters = parameters
        self.inputs = inputs
        self.body = body
    }

    /// Calls the closure.
    public func run(_ context: StageContext) throws -> StageOutputs { try body(context, parameters) }
}

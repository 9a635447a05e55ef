import Foundation

/// What a running stage can use: its resolved inputs, the store, and the scheduler for sub-stages.
public final class StageContext: Sendable {
    /// The running stage's identity.
    public let identity: String
    /// The running stage's key.
    public let key: StageKey
    /// Input name → content digest, as they went into the key.
    public let inputs: [String: Digest]
    /// The store the run uses.
    public let store: Store
    let execution: Execution

    init(identity: String, key: StageKey, inputs: [String: Digest], store: Store, execution: Execution) {
        self.identity = identity
        self.key = key
        self.inputs = inputs
        self.store = store
        self.execution = execution
    }

    /// The digest of a named input.
    public func digest(of input: String) throws -> Digest {
        guard let digest = inputs[input] else { throw SchedulerError.unknownInput(stage: identity, input: input) }
        return digest
    }

    /// The bytes of a named input, verified against its digest.
    public func data(_ input: String) throws -> Data {
        try store.read(digest(of: input))
    }

    /// A path holding a named input's bytes, for loaders that want a file. Read-only.
    public func fileURL(_ input: String) throws -> URL {
        try store.verifiedURL(for: digest(of: input))
    }

    /// The bytes of another stage's output, e.g. a sub-stage's result.
    public func data(_ output: String, of result: StageResult) throws -> Data {
        try store.read(result.digest(output))
    }

    /// Stores bytes (for example a candidate model to hand to sub-stages as `.blob`).
    public func put(_ data: Data) throws -> Digest { try store.put(data) }

    /// Stores a file's content.
    public func putFile(at url: URL) throws -> Digest { try store.putFile(at: url) }

    /// Runs one sub-stage through the cache; see `run(substages:)`.
    public func evaluate(_ stage: some Stage) throws -> StageResult {
        try execution.runSubstages([stage], parent: identity)[0]
    }

    /// Runs sub-stages in parallel (up to the job limit) through the same cache, locks and events
    /// as graph stages, and returns their results in the given order. The calling stage lends its
    /// job slot while it waits, so this is safe with `--jobs 1`. Throws the first failure (in the
    /// given order) after all sub-stages have ended; results of the others stay in the cache.
    public func run(substages: [any Stage]) throws -> [StageResult] {
        try execution.runSubstages(substages, parent: identity)
    }

    /// The job limit of the run, for stages that size their own work.
    public var jobs: Int { execution.pool.slots }

    /// Runs `body` with this stage's slot plus every job slot that is idle right now (none is
    /// taken while other work waits for one), and passes the number of cores it may use. With
    /// `--jobs N` the run then keeps N cores busy whether the policy has one candidate or many,
    /// and `--jobs 1` stays on one core. The extra slots return when `body` ends.
    public func withIdleCores<T>(_ body: (Int) throws -> T) rethrows -> T {
        let pool = execution.pool
        let borrowed = pool.borrowIdle(upTo: pool.slots - 1)
        defer { pool.giveBack(borrowed) }
        return try body(1 + borrowed)
    }

    /// Whether the run was interrupted; long stages should stop early.
    public var isCancelled: Bool { execution.isCancelled }

    /// Throws `SchedulerError.cancelled` if the run was interrupted.
    public func checkCancellation() throws {
        if isCancelled { throw SchedulerError.cancelled }
    }

    /// Runs `body`, which waits without using this machine's CPU (a remote evaluator, the
    /// network), with the job slot lent to other stages meanwhile. Work that computes locally
    /// should keep its slot, or `--jobs` stops bounding the load.
    public func lendSlot<T>(while body: () throws -> T) rethrows -> T {
        try execution.pool.lendSlot(while: body)
    }
}

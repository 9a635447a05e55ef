import Foundation

/// A stage that missed the cache, handed to an executor: the stage, its description (already in
/// the store), and the context it runs with in this process.
public struct StageWork: Sendable {
    /// The stage.
    public let stage: any Stage
    /// Its description, stored under `description.key`.
    public let description: StageDescription
    /// The running stage's context (store, resolved inputs, cancellation).
    public let context: StageContext
}

/// Where the scheduler computes a stage that missed the cache: the seam between planning a run and
/// the machines that do the work. The scheduler keeps everything else — keys, the cache, per-key
/// locks, events — so an executor only computes.
public protocol Executor: Sendable {
    /// A name for messages and `--executor` (`local`, `process`).
    var name: String { get }
    /// Whether `compute` publishes the outputs in the store itself (a stage run elsewhere), so the
    /// scheduler only reads the record back.
    var publishesOutputs: Bool { get }
    /// Computes the stage and returns its outputs. An executor that runs the stage elsewhere may
    /// publish the outputs in the store itself (as `shrink exec-stage` does) and return their
    /// digests as `.blob`s.
    func compute(_ work: StageWork) throws -> StageOutputs
    /// Stages the executor takes at once when that is not this machine's cores (a cluster's job
    /// slots times the stages per job); the scheduler then keeps that many in flight, each waiting
    /// in `compute`, however small `--jobs` is. nil: `--jobs` bounds them.
    var concurrentStages: Int? { get }
}

extension Executor {
    /// Bounded by `--jobs`: the stages compute on this machine.
    public var concurrentStages: Int? { nil }
}

/// The default: stages run on the scheduler's Dispatch workers in this process.
public struct InProcessExecutor: Executor {
    /// Creates the executor.
    public init() {}
    /// `local`.
    public var name: String { "local" }
    /// The scheduler publishes what `run` returns.
    public var publishesOutputs: Bool { false }
    /// Calls the stage's `run`.
    public func compute(_ work: StageWork) throws -> StageOutputs { try work.stage.run(work.context) }
}

/// Runs each stage in a fresh process from the store alone — `COMMAND KEY --root ROOT --no-lock`,
/// by default `shrink exec-stage` — which publishes the outputs exactly as the scheduler would.
/// The driver holds the key's lock meanwhile (hence `--no-lock`). The same seam serves a cluster:
/// a job runs the same command on another machine that shares the store.
public struct SubprocessExecutor: Executor {
    /// The command before the key, e.g. `[/path/to/shrink, exec-stage]`.
    public let command: [String]

    /// An executor running `command KEY --root ROOT --no-lock` per stage.
    public init(command: [String]) { self.command = command }

    /// `process`.
    public var name: String { "process" }
    /// `exec-stage` publishes.
    public var publishesOutputs: Bool { true }

    /// Runs the command, waits (stopping it when the run is interrupted) and returns the published
    /// outputs.
    public func compute(_ work: StageWork) throws -> StageOutputs {
        let store = work.context.store
        let root = store.directory.deletingLastPathComponent().deletingLastPathComponent()
        let key = work.description.key
        let process = Process()
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst()) + [key.hex, "--root", root.path, "--no-lock"]
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        // stderr goes to a file: a pipe read after the exit could fill up and block the child.
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("shrink-exec-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: log) }
        let handle = try FileHandle(forWritingTo: log)
        process.standardError = handle
        let done = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in done.signal() }
        do { try process.run() } catch {
            try? handle.close()
            throw ExecutorError.cannotStart(command: command[0], reason: error.localizedDescription)
        }
        try? handle.close()
        while done.wait(timeout: .now() + .milliseconds(50)) == .timedOut {
            if work.context.isCancelled {
                process.terminate()
                done.wait()
                throw SchedulerError.cancelled
            }
        }
        guard process.terminationStatus == 0 else {
            if work.context.isCancelled { throw SchedulerError.cancelled }
            let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            throw ExecutorError.stageFailed(identity: work.description.identity, status: process.terminationStatus,
                                            message: String(text.trimmingCharacters(in: .whitespacesAndNewlines).suffix(2000)))
        }
        guard let record = store.lookup(key) else {
            throw ExecutorError.nothingPublished(identity: work.description.identity, key: key)
        }
        var outputs = StageOutputs()
        for (name, output) in record.outputs { outputs[name] = .blob(output.digest) }
        return outputs
    }
}

/// An executor could not compute a stage.
public enum ExecutorError: Error, Sendable, CustomStringConvertible {
    /// The command could not be started.
    case cannotStart(command: String, reason: String)
    /// The stage's process failed; `message` is the end of what it printed.
    case stageFailed(identity: String, status: Int32, message: String)
    /// The process exited 0 but no record is in the store.
    case nothingPublished(identity: String, key: StageKey)

    /// One line (plus the process's own message).
    public var description: String {
        switch self {
        case .cannotStart(let c, let r): return "cannot start \(c): \(r)"
        case .stageFailed(let id, let status, let message):
            // The process's own `error: ` prefix would repeat the one the run's report puts first.
            let text = message.split(separator: "\n", omittingEmptySubsequences: false)
                .map { $0.hasPrefix("error: ") ? $0.dropFirst(7) : $0 }.joined(separator: "\n")
            return text.isEmpty ? "\(id) exited with \(status)" : text
        case .nothingPublished(let id, let key): return "\(id) finished but published nothing under \(key.short)…"
        }
    }

    /// The stage's process refused its input (`exec-stage` exit 2): the user's data or model, which
    /// the run reports as invalid input rather than as an internal failure.
    public var refusedInput: Bool {
        if case .stageFailed(_, let status, _) = self { return status == StageExit.invalidInput }
        return false
    }
}

/// The exit statuses of a stage run by key (`shrink exec-stage`), which executors read back.
public enum StageExit {
    /// The stage refused its input (bad data, an unknown key, missing inputs): no retry cures it.
    public static let invalidInput: Int32 = 2
}

/// Running one stage by key from the store alone: what `shrink exec-stage KEY` does.
public enum StageByKey {
    /// Rebuilds the stage stored under `key` with `registry`, checks that its inputs are in the
    /// store (and its checkout on this machine), computes it in this process and publishes its
    /// outputs as the scheduler would. `force` recomputes a stage that is already cached;
    /// `lockKey: false` when the caller (a driver) already holds the key's lock.
    public static func run(_ key: StageKey, store: Store, registry: StageRegistry, force: Bool = false,
                           lockKey: Bool = true) throws -> StageResult {
        let description = try store.description(for: key)
        let stage = try registry.stage(for: description)
        let missing = description.inputs.filter { !store.contains($0.value) }.map(\.key).sorted()
        if !missing.isEmpty { throw StageDescriptionError.missingInputs(identity: description.identity, inputs: missing) }
        if let path = description.checkout, !FileManager.default.fileExists(atPath: path) {
            throw StageDescriptionError.checkoutMissing(identity: description.identity, path: path)
        }
        if force { store.removeRecord(key) }
        var graph = StageGraph()
        try graph.add(stage)
        var options = SchedulerOptions(jobs: 1)
        options.locksKeys = lockKey
        let summary = try Scheduler(store: store, options: options).run(graph)
        if let failure = summary.failures.first { throw failure.error }
        guard let result = summary.results[stage.identity] else { throw SchedulerError.cancelled }
        guard result.key == key else { throw StageDescriptionError.mismatchedKey(key) }
        return result
    }
}

import Dispatch
import Foundation
import Synchronization

/// How a run is scheduled.
public struct SchedulerOptions: Sendable {
    /// Stages running at once (`--jobs N`); at least 1.
    public var jobs: Int
    /// After a failure, keep running stages that do not depend on it (`--keep-going`); otherwise
    /// no new stage starts, running ones finish and are kept.
    public var keepGoing: Bool
    /// Trap SIGINT/SIGTERM during the run (`InterruptWatcher`): the first stops scheduling and ends
    /// the run as interrupted, a second exits at once with status 128 + signal (130, 143). For the
    /// command line; tests leave it off.
    public var handlesSignals: Bool
    /// Seconds an interrupted run waits for running stages to notice before it returns without them
    /// (they publish nothing after the interrupt either way).
    public var cancellationGrace: Double
    /// Where stages that miss the cache are computed (stages that run in the driver aside).
    public var executor: any Executor
    /// Take each key's lock before computing it, so concurrent runs compute a key once. Off only
    /// in a process a driver started for a key whose lock the driver holds.
    public var locksKeys: Bool

    /// Creates options; `jobs` defaults to the number of active processors.
    public init(
        jobs: Int = ProcessInfo.processInfo.activeProcessorCount, keepGoing: Bool = false,
        handlesSignals: Bool = false, cancellationGrace: Double = 1, executor: any Executor = InProcessExecutor()
    ) {
        self.jobs = max(1, jobs)
        self.keepGoing = keepGoing
        self.handlesSignals = handlesSignals
        self.cancellationGrace = cancellationGrace
        self.executor = executor
        self.locksKeys = true
    }
}

/// A stage that failed, with the error it threw.
public struct StageFailure: Error, Sendable, CustomStringConvertible {
    /// The stage identity.
    public let identity: String
    /// What it threw.
    public let error: any Error

    /// `identity: message`.
    public var description: String { "\(identity): \(error)" }
}

/// Errors raised by the scheduler itself rather than by a stage's code.
public enum SchedulerError: Error, CustomStringConvertible {
    /// The run was interrupted.
    case cancelled
    /// A stage asked for an input it did not declare.
    case unknownInput(stage: String, input: String)
    /// A stage's input names an output its upstream stage did not produce.
    case missingOutput(stage: String, output: String)
    /// A stage's input names a stage that has not completed (sub-stages may only use finished ones).
    case upstreamNotFinished(stage: String, upstream: String)
    /// An input file or blob could not be read.
    case inputUnavailable(stage: String, input: String, reason: String)
    /// A sub-stage failed.
    case substageFailed(identity: String, error: any Error)

    /// A one-line explanation.
    public var description: String {
        switch self {
        case .cancelled: return "interrupted"
        case .unknownInput(let stage, let input): return "\(stage) has no input named `\(input)`"
        case .missingOutput(let stage, let output): return "\(stage) has no output named `\(output)`"
        case .upstreamNotFinished(let stage, let upstream): return "\(stage) needs \(upstream), which has not finished"
        case .inputUnavailable(let stage, let input, let reason): return "\(stage): input `\(input)`: \(reason)"
        case .substageFailed(let identity, let error): return "\(identity) failed: \(error)"
        }
    }
}

/// The outcome of a run.
public struct RunSummary: Sendable {
    /// The exit status of a run interrupted by Ctrl-C, as for a shell job (SIGTERM: 143).
    public static let interruptedExitCode: Int32 = 130

    /// Results of graph stages that completed, by identity.
    public var results: [String: StageResult] = [:]
    /// Results of sub-stages, in completion order.
    public var substageResults: [StageResult] = []
    /// Stages that failed (graph stages and sub-stages), in the order they failed.
    public var failures: [StageFailure] = []
    /// Graph stages that did not run → why.
    public var skipped: [String: String] = [:]
    /// Whether the run was interrupted.
    public var interrupted = false
    /// The signal that interrupted it (SIGINT, SIGTERM); nil when not interrupted by a signal.
    public var interruptSignal: Int32?
    /// The exit status an interrupted run ends with: 128 + signal (130 for Ctrl-C or `cancel()`).
    public var interruptedExitStatus: Int32 { InterruptWatcher.exitStatus(for: interruptSignal ?? SIGINT) }
    /// Stages still running when an interrupted run returned; nothing of theirs was published.
    public var abandoned: [String] = []

    /// Stages (graph and sub-stages) whose `run` was called and whose outputs were published.
    public var executed: [StageResult] {
        (results.values + substageResults).filter { $0.status == .executed }.sorted { $0.identity < $1.identity }
    }
    /// Number of executed stages.
    public var executedCount: Int { executed.count }
    /// Number of stages served from the cache.
    public var cachedCount: Int { (results.values + substageResults).filter { $0.status == .cached }.count }
    /// Whether every graph stage completed.
    public var succeeded: Bool { failures.isEmpty && !interrupted && skipped.isEmpty }
}

/// Runs a `StageGraph` against a `Store`: cache lookups first, misses in parallel on Dispatch,
/// at most `jobs` stages at a time.
public final class Scheduler: Sendable {
    /// The store results come from and go to.
    public let store: Store
    /// Scheduling options.
    public let options: SchedulerOptions
    let observer: (any SchedulerObserver)?
    private let active = Mutex<[ObjectIdentifier: Execution]>([:])

    /// Creates a scheduler.
    public init(store: Store, options: SchedulerOptions = SchedulerOptions(), observer: (any SchedulerObserver)? = nil) {
        self.store = store
        self.options = options
        self.observer = observer
    }

    /// Runs every stage of the graph that is not cached, and returns when all have ended — or, if
    /// interrupted, once running stages have stopped or the grace period is over. Throws only for
    /// a graph that cannot be scheduled or a cache that cannot be locked; stage failures are in the
    /// summary.
    public func run(_ graph: StageGraph) throws -> RunSummary {
        try graph.topologicalOrder()
        // Shared: runs coexist, but gc (exclusive) waits for them and they wait for gc.
        let storeLock = try store.lockStore(.shared)
        defer { storeLock.release() }

        let execution = Execution(graph: graph, store: store, options: options, observer: observer)
        let id = ObjectIdentifier(execution)
        active.withLock { $0[id] = execution }
        defer { active.withLock { _ = $0.removeValue(forKey: id) } }

        let registration = options.handlesSignals
            ? InterruptWatcher.shared.register { execution.cancel(signal: $0) } : nil
        defer { registration?.remove() }
        execution.start()
        execution.waitUntilFinished()
        return execution.summary()
    }

    /// Interrupts every run in progress, as Ctrl-C does: no new stages, running ones abandoned
    /// unpublished, everything already published kept.
    public func cancel() {
        for execution in active.withLock({ Array($0.values) }) { execution.cancel(signal: nil) }
    }
}

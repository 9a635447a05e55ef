import Dispatch
import Foundation
import Synchronization

/// One run of a graph: the bookkeeping behind `Scheduler.run` and `StageContext.run(substages:)`.
final class Execution: Sendable {
    let graph: StageGraph
    let store: Store
    let options: SchedulerOptions
    let observer: (any SchedulerObserver)?
    let pool: SlotPool

    private struct State {
        var remaining: [String: Int] = [:]
        var dependents: [String: [String]] = [:]
        var summary = RunSummary()
        /// Graph stages queued or running; the run is over when it drops to zero.
        var outstanding = 0
        var stopping = false
        var cancelled = false
        var cancelledAt: DispatchTime?
        var signal: Int32?
        var finishedSignalled = false
        var running = Set<String>()
        var completed = 0
        var total = 0
        var graphDone = 0
        var nextBatch = 0
        var batches: [Int: (parent: String, done: Int, total: Int, started: ContinuousClock.Instant)] = [:]
    }

    private let state = Mutex(State())
    /// Signalled when the run is over and when it is cancelled, to wake `waitUntilFinished`.
    private let wake = DispatchSemaphore(value: 0)

    init(graph: StageGraph, store: Store, options: SchedulerOptions, observer: (any SchedulerObserver)?) {
        self.graph = graph
        self.store = store
        self.options = options
        self.observer = observer
        // A cluster executor's stages wait in `compute` without using this machine's cores.
        pool = SlotPool(slots: max(options.jobs, options.executor.concurrentStages ?? 0))
    }

    var isCancelled: Bool { state.withLock { $0.cancelled } }

    // MARK: Graph stages

    func start() {
        let ready: [String] = state.withLock { state in
            state.total = graph.count
            for identity in graph.identities {
                let dependencies = graph.dependencies(of: identity)
                state.remaining[identity] = dependencies.count
                for dependency in dependencies { state.dependents[dependency, default: []].append(identity) }
            }
            let ready = graph.identities.filter { state.remaining[$0] == 0 }
            state.outstanding = ready.count
            if ready.isEmpty { signalFinished(&state) }
            return ready
        }
        for identity in ready { pool.submit(.normal) { self.runNode(identity) } }
    }

    /// Returns when every queued or running stage has ended, or — once cancelled — when they have
    /// or the grace period is over. Timed here, on the waiting thread: a Dispatch timer could be
    /// held up behind stages busy in BLAS, and an interrupt must end the run promptly.
    func waitUntilFinished() {
        while true {
            let (done, cancelledAt) = state.withLock { ($0.finishedSignalled, $0.cancelledAt) }
            if done { return }
            if let cancelledAt {
                let deadline = cancelledAt + options.cancellationGrace
                if wake.wait(timeout: deadline) == .timedOut { return }
            } else {
                wake.wait()
            }
        }
    }

    private func runNode(_ identity: String) {
        guard let stage = graph.stage(identity), !state.withLock({ $0.stopping }) else {
            finishNode(identity, nil)
            return
        }
        do {
            finishNode(identity, .success(try execute(stage, parent: nil, batch: nil)))
        } catch {
            finishNode(identity, .failure(error))
        }
    }

    /// Records a graph stage's outcome (`nil`: never started because the run is stopping) and
    /// queues the dependents it unblocked.
    private func finishNode(_ identity: String, _ outcome: Result<StageResult, any Error>?) {
        var toStart = [String]()
        var skippedNow = [(String, String)]()
        state.withLock { state in
            state.outstanding -= 1
            switch outcome {
            case nil:
                break  // summary() marks whatever has no outcome as not started
            case .success(let result)?:
                state.summary.results[identity] = result
                for dependent in state.dependents[identity] ?? [] {
                    state.remaining[dependent, default: 0] -= 1
                    if state.remaining[dependent] == 0 && !state.stopping {
                        toStart.append(dependent)
                        state.outstanding += 1
                    }
                }
            case .failure(let error)?:
                if state.cancelled {
                    if !state.summary.abandoned.contains(identity) { state.summary.abandoned.append(identity) }
                } else {
                    state.summary.failures.append(StageFailure(identity: identity, error: error))
                    for dependent in graph.transitiveDependents(of: identity).sorted()
                    where state.summary.skipped[dependent] == nil {
                        state.summary.skipped[dependent] = "\(identity) failed"
                        skippedNow.append((dependent, "\(identity) failed"))
                    }
                    if !options.keepGoing { state.stopping = true }
                }
            }
        }
        // Reported before the run is declared over, so they precede whatever the caller prints next.
        for (identity, reason) in skippedNow { observer?.schedulerEvent(.skipped(identity: identity, reason: reason)) }
        state.withLock { state in
            if state.outstanding == 0 { signalFinished(&state) }
        }
        for identity in toStart { pool.submit(.normal) { self.runNode(identity) } }
    }

    private func signalFinished(_ state: inout State) {
        guard !state.finishedSignalled else { return }
        state.finishedSignalled = true
        wake.signal()
    }

    /// Stops the run: no new stages; running ones publish nothing more. `signal` is the signal
    /// that asked for it, if any.
    func cancel(signal: Int32?) {
        let first: Bool = state.withLock { state in
            defer {
                state.cancelled = true
                state.stopping = true
            }
            guard !state.cancelled else { return false }
            state.cancelledAt = .now()
            state.signal = signal
            return true
        }
        guard first else { return }
        wake.signal()
        observer?.schedulerEvent(.interrupted)
    }

    func summary() -> RunSummary {
        state.withLock { state in
            var summary = state.summary
            summary.interrupted = state.cancelled
            summary.interruptSignal = state.signal
            if state.cancelled {
                for identity in state.running.sorted() where !summary.abandoned.contains(identity) {
                    summary.abandoned.append(identity)
                }
            }
            for identity in graph.identities
            where summary.results[identity] == nil && summary.skipped[identity] == nil
                && !summary.failures.contains(where: { $0.identity == identity })
                && !summary.abandoned.contains(identity) {
                summary.skipped[identity] = state.cancelled ? "not started: interrupted" : "not started: the run stopped"
            }
            return summary
        }
    }

    // MARK: Sub-stages

    func runSubstages(_ stages: [any Stage], parent: String) throws -> [StageResult] {
        if isCancelled { throw SchedulerError.cancelled }
        guard !stages.isEmpty else { return [] }
        let batch = state.withLock { state -> Int in
            state.total += stages.count
            state.nextBatch += 1
            state.batches[state.nextBatch] = (parent, 0, stages.count, ContinuousClock.now)
            return state.nextBatch
        }
        defer { _ = state.withLock { $0.batches.removeValue(forKey: batch) } }
        let group = DispatchGroup()
        let outcomes = Collector<Result<StageResult, any Error>>(count: stages.count)
        for (index, stage) in stages.enumerated() {
            group.enter()
            pool.submit(.urgent) {
                let outcome = Result { try self.execute(stage, parent: parent, batch: batch) }
                outcomes.set(index, outcome)
                switch outcome {
                case .success(let result):
                    self.state.withLock { $0.summary.substageResults.append(result) }
                case .failure(let error):
                    self.state.withLock { state in
                        if !state.cancelled {
                            state.summary.failures.append(StageFailure(identity: stage.identity, error: error))
                        }
                    }
                }
                group.leave()
            }
        }
        pool.lendSlot { group.wait() }
        var results = [StageResult]()
        for (index, outcome) in outcomes.values.enumerated() {
            switch outcome {
            case .success(let result)?: results.append(result)
            case .failure(let error)?:
                if case SchedulerError.cancelled = error { throw error }
                throw SchedulerError.substageFailed(identity: stages[index].identity, error: error)
            case nil: throw SchedulerError.cancelled
            }
        }
        return results
    }

    // MARK: One stage

    /// Resolves inputs, derives the key, and either reads the cache or runs and publishes — under
    /// the key's lock, so concurrent runs compute each key once. Runs on a worker holding a slot.
    private func execute(_ stage: some Stage, parent: String?, batch: Int?) throws -> StageResult {
        let began = ContinuousClock.now
        do {
            return try executeUnreported(stage, parent: parent, batch: batch, began: began)
        } catch {
            if !isCancelled {
                emit(.failed("\(error)"), stage, parent: parent, batch: batch, elapsed: seconds(ContinuousClock.now - began),
                     reasons: [], finished: true)
            }
            throw error
        }
    }

    private func executeUnreported(_ stage: some Stage, parent: String?, batch: Int?, began: ContinuousClock.Instant) throws -> StageResult {
        let identity = stage.identity
        if isCancelled { throw SchedulerError.cancelled }
        let clock = ContinuousClock()

        let inputs = try resolveInputs(of: stage)
        let (key, components) = try StageKey.derive(
            kind: stage.kind, version: stage.version, parameters: stage.parameters, inputs: inputs)
        let previous = store.lastEntry(forIdentity: identity)

        if let hit = cachedResult(stage, key: key, components: components, previous: previous, parent: parent, batch: batch, since: began,
                                  askRemote: true) {
            return hit
        }
        var lock: FileLock?
        if !options.locksKeys {
            lock = nil
        } else if let free = try FileLock.tryAcquire(store.actionLockPath(key), mode: .exclusive) {
            lock = free
        } else {
            // Another run (or thread) is computing this key: wait without holding a job slot,
            // then take its result below.
            lock = try pool.lendSlot { try store.lockAction(key) }
        }
        defer { lock?.release() }
        if let hit = cachedResult(stage, key: key, components: components, previous: previous, parent: parent, batch: batch, since: began,
                                  askRemote: false) {
            return hit
        }
        if isCancelled { throw SchedulerError.cancelled }
        // Inputs a remote hit answered are downloaded now that they are read (an executor's
        // process has no remote of its own).
        if store.remote != nil {
            for digest in Set(inputs.values) where !store.contains(digest) { throw StoreError.missingObject(digest) }
        }

        var reasons = components.changes(since: previous?.components)
        if reasons.isEmpty { reasons = [.outputsMissing] }
        state.withLock { _ = $0.running.insert(identity) }
        defer { state.withLock { _ = $0.running.remove(identity) } }
        emit(.started, stage, parent: parent, batch: batch, elapsed: 0, reasons: reasons, finished: false)

        let runStart = clock.now
        let context = StageContext(identity: identity, key: key, inputs: inputs, store: store, execution: self)
        // The description goes into the store first, so any process with the store can run the
        // stage by key (an executor's subprocess, a cluster job).
        let description = try StageDescription(stage, inputs: inputs)
        try store.putDescription(description)
        let outputs: StageOutputs
        if stage.runsInDriver {
            outputs = try stage.run(context)
        } else {
            // The slot stays taken while a subprocess computes: it uses this machine's cores too.
            outputs = try options.executor.compute(StageWork(stage: stage, description: description, context: context))
        }
        let elapsed = seconds(clock.now - runStart)
        // An executor that ran the stage elsewhere has published it already.
        if options.executor.publishesOutputs, !stage.runsInDriver, let record = store.lookup(key) {
            store.remote?.upload(record, description: description, from: store)
            store.updateIndex(IndexEntry(identity: identity, key: key, components: components))
            emit(.executed, stage, parent: parent, batch: batch, elapsed: elapsed, reasons: reasons, finished: true)
            return StageResult(identity: identity, kind: stage.kind, key: key, outputs: record.outputDigests,
                               status: .executed, reasons: reasons, elapsed: elapsed)
        }

        // Publish: blobs first, then the record. An interrupted run publishes nothing more.
        var recorded = [String: ActionRecord.Output]()
        for (name, value) in outputs.values.sorted(by: { $0.key < $1.key }) {
            if isCancelled { throw SchedulerError.cancelled }
            let digest: Digest
            switch value {
            case .data(let data): digest = try store.put(data)
            case .file(let url): digest = try store.putFile(at: url)
            case .blob(let blob):
                guard store.contains(blob) else { throw StoreError.missingObject(blob) }
                digest = blob
            }
            recorded[name] = ActionRecord.Output(digest: digest, size: store.size(of: digest) ?? 0)
        }
        if isCancelled { throw SchedulerError.cancelled }
        let record = ActionRecord(
            key: key, kind: stage.kind, identity: identity, outputs: recorded, components: components,
            created: Date(), elapsed: elapsed)
        try store.publish(record)
        // Write-through, in the background: published here first, so a sick remote loses nothing.
        store.remote?.upload(record, description: description, from: store)
        store.updateIndex(IndexEntry(identity: identity, key: key, components: components))
        emit(.executed, stage, parent: parent, batch: batch, elapsed: elapsed, reasons: reasons, finished: true)
        return StageResult(
            identity: identity, kind: stage.kind, key: key, outputs: recorded.mapValues(\.digest),
            status: .executed, reasons: reasons, elapsed: elapsed)
    }

    private func cachedResult(
        _ stage: some Stage, key: StageKey, components: KeyComponents, previous: IndexEntry?, parent: String?,
        batch: Int?, since began: ContinuousClock.Instant, askRemote: Bool
    ) -> StageResult? {
        // A remote record answers the stage without its blobs: they are fetched when read.
        guard let record = store.lookup(key) ?? (askRemote ? store.remote?.lookup(key) : nil) else { return nil }
        let entry = IndexEntry(identity: stage.identity, key: key, components: components)
        if entry != previous { store.updateIndex(entry) }  // a warm run writes nothing
        let elapsed = seconds(ContinuousClock.now - began)
        emit(.cached, stage, parent: parent, batch: batch, elapsed: elapsed, reasons: [], finished: true)
        return StageResult(
            identity: stage.identity, kind: stage.kind, key: key, outputs: record.outputDigests,
            status: .cached, reasons: [], elapsed: elapsed)
    }

    private func resolveInputs(of stage: some Stage) throws -> [String: Digest] {
        var inputs = [String: Digest]()
        for (name, input) in stage.inputs {
            switch input {
            case .output(let upstream, let output):
                guard let result = state.withLock({ $0.summary.results[upstream] }) else {
                    throw SchedulerError.upstreamNotFinished(stage: stage.identity, upstream: upstream)
                }
                inputs[name] = try result.digest(output)
            case .file(let url):
                do {
                    inputs[name] = try store.putFile(at: url)
                } catch {
                    throw SchedulerError.inputUnavailable(stage: stage.identity, input: name, reason: "\(error)")
                }
            case .blob(let digest):
                guard store.contains(digest) else {
                    throw SchedulerError.inputUnavailable(
                        stage: stage.identity, input: name, reason: "object \(digest.short)… is not in the cache")
                }
                inputs[name] = digest
            }
        }
        return inputs
    }

    // MARK: Events

    private enum EventKind { case started, executed, cached, failed(String) }

    private func emit(
        _ kind: EventKind, _ stage: some Stage, parent: String?, batch: Int?, elapsed: Double, reasons: [KeyChange],
        finished: Bool
    ) {
        let (completed, total, stagesDone, batchProgress) = state.withLock { state -> (Int, Int, Int, SubstageBatch?) in
            if finished {
                state.completed += 1
                if batch == nil { state.graphDone += 1 } else if let id = batch { state.batches[id]?.done += 1 }
            }
            let progress = batch.flatMap { id in
                state.batches[id].map {
                    SubstageBatch(id: id, parent: $0.parent, done: $0.done, total: $0.total,
                                  elapsed: seconds(ContinuousClock.now - $0.started))
                }
            }
            return (state.completed, state.total, state.graphDone, progress)
        }
        guard let observer else { return }
        let progress = StageProgress(
            identity: stage.identity, kind: stage.kind, parent: parent, elapsed: elapsed, reasons: reasons,
            completed: completed, total: total, stagesDone: stagesDone, stagesTotal: graph.count, batch: batchProgress)
        switch kind {
        case .started: observer.schedulerEvent(.started(progress))
        case .executed: observer.schedulerEvent(.executed(progress))
        case .cached: observer.schedulerEvent(.cached(progress))
        case .failed(let message): observer.schedulerEvent(.failed(progress, message: message))
        }
    }
}

private func seconds(_ duration: Duration) -> Double {
    let (s, attoseconds) = duration.components
    return Double(s) + Double(attoseconds) / 1e18
}

/// Per-index results written from several workers.
private final class Collector<Element: Sendable>: Sendable {
    private let storage: Mutex<[Element?]>

    init(count: Int) { storage = Mutex(Array(repeating: nil, count: count)) }

    func set(_ index: Int, _ value: Element) { storage.withLock { $0[index] = value } }

    var values: [Element?] { storage.withLock { $0 } }
}

import Dispatch
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Runs stages as Slurm jobs: each job runs a group of stages of one kind with `shrink exec-stage`
/// on a worker, which publishes into the store the driver reads (the repository's `.shrink/` on a
/// filesystem the nodes share).
///
/// The scheduler hands over stages as it always does — one blocking `compute` per ready stage,
/// up to `concurrentStages` at once — and the executor turns them into jobs: stages arriving within
/// `gatherWindow` of each other (a search batch's candidates, a sweep's decompositions) are grouped
/// per kind, in jobs sized from the measured per-job overhead (`SlurmGrouping`). A pump thread
/// submits, watches the jobs' status files and the queue, completes each stage as its result
/// appears, and resubmits stages whose job failed, was cancelled, timed out or vanished, up to
/// `retries` times.
///
/// Jobs are tagged — name `shrink-TAG-KIND`, comment `shrink TAG HOST:PID KEYS` with TAG naming the
/// store — so a driver restarted after `kill -9` adopts the jobs still running for its stages
/// instead of submitting them again, and `shutdown()` cancels whatever it adopted and did not need.
public final class SlurmExecutor: Executor {
    /// How jobs are submitted.
    public let options: SlurmOptions
    let commands: SlurmCommands
    private let log: @Sendable (String) -> Void
    private let state = Mutex(State())

    /// An executor submitting with `options`; `log` receives one line per retry or adoption.
    public init(options: SlurmOptions, commands: SlurmCommands = SlurmCommands(), log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.options = options
        self.commands = commands
        self.log = log
    }

    /// `slurm`.
    public var name: String { "slurm" }
    /// `exec-stage` publishes on the worker.
    public var publishesOutputs: Bool { true }
    /// Enough stages in flight to fill every job slot with a full group.
    public var concurrentStages: Int? { min(512, options.maxJobs * SlurmGrouping.maxStagesPerJob) }

    // MARK: State

    /// One stage waiting for its result.
    private final class Ticket: Sendable {
        let key: StageKey
        let identity: String
        let kind: String
        let done = DispatchSemaphore(value: 0)
        let outcome = Mutex<Result<Void, SlurmError>?>(nil)

        init(key: StageKey, identity: String, kind: String) {
            self.key = key
            self.identity = identity
            self.kind = kind
        }

        func finish(_ result: Result<Void, SlurmError>) {
            let first = outcome.withLock { outcome -> Bool in
                guard outcome == nil else { return false }
                outcome = result
                return true
            }
            if first { done.signal() }
        }
    }

    private struct Job {
        var id: String
        var kind: String
        var keys: [StageKey]
        var adopted: Bool
        var submitted: ContinuousClock.Instant
        var reported: Set<StageKey> = []
        var stageSeconds: Double = 0
    }

    private struct State {
        /// The driver's store.
        var store: Store?
        /// The store workers publish into: the driver's, or the shared directory's.
        var workerStore: Store?
        /// The workers' repository root.
        var root: URL?
        var tag = ""
        var pending: [Ticket] = []
        var lastArrival = ContinuousClock.now
        var jobs: [String: Job] = [:]
        var tickets: [StageKey: Ticket] = [:]
        var attempts: [StageKey: Int] = [:]
        var pumping = false
        var overhead: Double = 0
        var stageSeconds: [String: Double] = [:]
        var clusterCPUs: Int?
        var submittedJobs = 0
        var submittedStages = 0
        var rounds = 0
        var adoptedJobs = 0
    }

    /// What the executor did so far, for the line a run ends with and for measurements.
    public struct Statistics: Sendable, Equatable {
        /// Jobs submitted.
        public var jobs: Int
        /// Stage attempts those jobs carried (retries count again).
        public var stages: Int
        /// Times ready stages were gathered and submitted (a search batch is one).
        public var rounds: Int
        /// Jobs adopted from an earlier driver.
        public var adopted: Int
        /// The per-job overhead in seconds: the starting figure, updated from every job that ended.
        public var overhead: Double
    }

    /// What the executor did so far.
    public var statistics: Statistics {
        state.withLock { Statistics(jobs: $0.submittedJobs, stages: $0.submittedStages, rounds: $0.rounds, adopted: $0.adoptedJobs, overhead: $0.overhead) }
    }

    // MARK: Executor

    /// Hands the stage to the pump and waits for its job to publish it (or for the run to be
    /// interrupted).
    public func compute(_ work: StageWork) throws -> StageOutputs {
        let store = work.context.store
        let key = work.description.key
        let workerStore = try start(store: store)
        if workerStore !== store { try Self.copyStage(work.description, from: store, to: workerStore) }
        let ticket = Ticket(key: key, identity: work.description.identity, kind: work.description.kind)
        let startPump: Bool = state.withLock { state in
            state.tickets[key] = ticket
            let running = state.jobs.values.contains { $0.keys.contains(key) && !$0.reported.contains(key) }
            if !running {
                state.pending.append(ticket)
                state.lastArrival = .now
            }
            defer { state.pumping = true }
            return !state.pumping
        }
        if startPump { launchPump() }
        while ticket.done.wait(timeout: .now() + .milliseconds(50)) == .timedOut {
            if work.context.isCancelled {
                state.withLock { state in
                    state.pending.removeAll { $0 === ticket }
                    if state.tickets[key] === ticket { state.tickets[key] = nil }
                }
                throw SchedulerError.cancelled
            }
        }
        switch ticket.outcome.withLock({ $0 }) {
        case .success?:
            if workerStore !== store { try Self.copyResult(key, from: workerStore, to: store) }
            guard let record = store.lookup(key) else { throw ExecutorError.nothingPublished(identity: ticket.identity, key: key) }
            var outputs = StageOutputs()
            for (name, output) in record.outputs { outputs[name] = .blob(output.digest) }
            return outputs
        case .failure(let error)?:
            throw error
        case nil:
            throw SchedulerError.cancelled
        }
    }

    /// Cancels every job still in flight — the driver's own and adopted ones — and returns their
    /// ids. The command line calls it when a run ends, however it ends, so an interrupted driver
    /// leaves nothing behind and jobs adopted but not needed do not run on.
    @discardableResult
    public func shutdown() -> [String] {
        let (ids, waiting) = state.withLock { state -> ([String], [Ticket]) in
            // A job whose stages have all reported is only exiting: nothing to cancel.
            let ids = state.jobs.values.filter { job in job.keys.contains { !job.reported.contains($0) } }.map(\.id)
                .sorted { (Int($0) ?? 0) < (Int($1) ?? 0) }
            let waiting = Array(state.tickets.values)
            state.jobs = [:]
            state.pending = []
            state.tickets = [:]
            return (ids, waiting)
        }
        commands.cancel(ids)
        for ticket in waiting { ticket.finish(.failure(.submissionFailed("the run ended"))) }
        return ids
    }

    // MARK: Start: adopt what an earlier driver left running

    /// On first use: notes the store (and opens the shared one), and adopts this store's jobs left
    /// by a driver that is gone. Returns the store workers publish into.
    private func start(store: Store) throws -> Store {
        let shared = try state.withLock { state -> Bool in
            guard state.store == nil else { return false }
            state.store = store
            if let directory = options.sharedDirectory {
                state.root = directory.standardizedFileURL
                state.workerStore = try Store(directory: directory.appendingPathComponent(".shrink/cache", isDirectory: true))
            } else {
                state.root = store.directory.deletingLastPathComponent().deletingLastPathComponent()
                state.workerStore = store
            }
            state.tag = String(Digest.of(store.directory.path).hex.prefix(10))
            state.overhead = options.jobOverhead
            return true
        }
        let workerStore = state.withLock { $0.workerStore } ?? store
        guard shared else { return workerStore }
        let (tag, directory) = state.withLock { ($0.tag, logDirectory($0)) }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let cpus = commands.cpus(partition: options.partition)
        let queued = commands.queued(namePrefix: SlurmJobScript.name(tag: tag, kind: "")) ?? []
        var adopted: [Job] = []
        var busy = 0
        for job in queued {
            guard let parsed = SlurmJobScript.parseComment(job.comment), parsed.tag == tag else { continue }
            if Self.isLiveOtherDriver(parsed.driver) {
                busy += 1  // another run on this store: its jobs are its own
                continue
            }
            let kind = String(job.name.dropFirst(SlurmJobScript.name(tag: tag, kind: "").count))
            adopted.append(Job(id: job.id, kind: kind, keys: parsed.keys, adopted: true, submitted: .now))
        }
        state.withLock { state in
            state.clusterCPUs = cpus
            for job in adopted { state.jobs[job.id] = job }
            state.adoptedJobs += adopted.count
        }
        if !adopted.isEmpty {
            log("slurm: adopted \(adopted.count) job(s) left running by an earlier run (\(adopted.map(\.id).joined(separator: ", ")))")
        }
        if busy > 0 { log("slurm: \(busy) job(s) of another run on this store are in the queue; left alone") }
        return workerStore
    }

    /// Puts a stage's description and inputs into the workers' store.
    static func copyStage(_ description: StageDescription, from store: Store, to workers: Store) throws {
        for digest in description.inputs.values.sorted() where !workers.contains(digest) {
            _ = try workers.putFile(at: try store.verifiedURL(for: digest))
        }
        try workers.putDescription(description)
    }

    /// Brings a stage's published result from the workers' store into the driver's.
    static func copyResult(_ key: StageKey, from workers: Store, to store: Store) throws {
        guard store.lookup(key, markUsed: false) == nil else { return }
        guard let record = workers.lookup(key, markUsed: false) else { return }
        for output in record.outputs.values.sorted(by: { $0.digest < $1.digest }) where !store.contains(output.digest) {
            _ = try store.putFile(at: try workers.verifiedURL(for: output.digest))
        }
        try store.publish(record)
    }

    /// `HOST:PID` names a process on this host that is alive and is not this one.
    static func isLiveOtherDriver(_ driver: String) -> Bool {
        let parts = driver.split(separator: ":")
        guard parts.count == 2, let pid = Int32(parts[1]) else { return false }
        guard String(parts[0]) == ProcessInfo.processInfo.hostName || String(parts[0]) == Self.shortHostName else { return false }
        return pid != getpid() && kill(pid, 0) == 0
    }

    static var shortHostName: String {
        String(ProcessInfo.processInfo.hostName.split(separator: ".").first ?? "localhost")
    }

    private func logDirectory(_ state: State) -> URL {
        (state.root ?? URL(fileURLWithPath: ".")).appendingPathComponent(".shrink/slurm", isDirectory: true)
    }

    // MARK: The pump

    private func launchPump() {
        let thread = Thread { [self] in self.pump() }
        thread.name = "shrink.slurm"
        thread.start()
    }

    /// Submits gathered stages, collects results, notices ended jobs; returns when nothing is
    /// pending or in flight.
    private func pump() {
        var lastQueueCheck = ContinuousClock.now
        while true {
            let keepGoing: Bool = state.withLock { state in
                if state.pending.isEmpty && state.jobs.isEmpty {
                    state.pumping = false
                    return false
                }
                return true
            }
            guard keepGoing else { return }
            submitGathered()
            collectStatusFiles()
            if ContinuousClock.now - lastQueueCheck >= .milliseconds(Int(options.pollInterval * 2000)) {
                lastQueueCheck = .now
                checkQueue()
            }
            Thread.sleep(forTimeInterval: options.pollInterval / 2)
        }
    }

    /// Groups the stages gathered so far into jobs, if the window has closed and job slots are free.
    private func submitGathered() {
        let plan: [(kind: String, tickets: [Ticket])] = state.withLock { state in
            guard !state.pending.isEmpty,
                  ContinuousClock.now - state.lastArrival >= .milliseconds(Int(options.gatherWindow * 1000)) else { return [] }
            var free = options.maxJobs - state.jobs.count
            guard free > 0 else { return [] }
            let slots = max(1, min(free, state.clusterCPUs ?? free))
            var byKind: [String: [Ticket]] = [:]
            var order: [String] = []
            for ticket in state.pending {
                if byKind[ticket.kind] == nil { order.append(ticket.kind) }
                byKind[ticket.kind, default: []].append(ticket)
            }
            var plan: [(String, [Ticket])] = []
            var taken = Set<ObjectIdentifier>()
            for kind in order where free > 0 {
                let tickets = byKind[kind] ?? []
                let size = options.stagesPerJob.map { min($0, SlurmGrouping.maxStagesPerJob) }
                    ?? SlurmGrouping.stagesPerJob(count: tickets.count, stageSeconds: state.stageSeconds[kind] ?? options.defaultStageSeconds,
                                                  overhead: state.overhead, slots: slots)
                for range in SlurmGrouping.split(count: tickets.count, size: size) where free > 0 {
                    let group = Array(tickets[range])
                    plan.append((kind, group))
                    for t in group { taken.insert(ObjectIdentifier(t)) }
                    free -= 1
                }
            }
            state.pending.removeAll { taken.contains(ObjectIdentifier($0)) }
            if !plan.isEmpty { state.rounds += 1 }
            return plan
        }
        for (kind, tickets) in plan { submit(kind: kind, tickets: tickets) }
    }

    private func submit(kind: String, tickets: [Ticket]) {
        let (root, tag, directory) = state.withLock { ($0.root ?? URL(fileURLWithPath: "."), $0.tag, logDirectory($0)) }
        let script = SlurmJobScript(kind: kind, keys: tickets.map(\.key), command: options.command, root: root,
                                    logDirectory: directory, setup: options.setup)
        var arguments = [
            "--job-name=\(SlurmJobScript.name(tag: tag, kind: kind))",
            "--comment=\(script.comment(tag: tag, driver: "\(Self.shortHostName):\(getpid())"))",
            "--output=\(directory.path)/shrink-%j.log",
            "--chdir=\(root.path)",
            "--no-requeue",
        ]
        if let p = options.partition { arguments.append("--partition=\(p)") }
        if let a = options.account { arguments.append("--account=\(a)") }
        if let t = options.time { arguments.append("--time=\(t)") }
        if let m = options.memory { arguments.append("--mem=\(m)") }
        arguments += options.extraArguments
        do {
            let id = try commands.submit(script: script.text, arguments: arguments)
            state.withLock { state in
                state.jobs[id] = Job(id: id, kind: kind, keys: script.keys, adopted: false, submitted: .now)
                state.submittedJobs += 1
                state.submittedStages += script.keys.count
            }
        } catch {
            // A refused submission (bad partition, a QOS limit) does not get better by retrying.
            for ticket in tickets { fail(ticket.key, with: error) }
        }
    }

    /// Reads the status files of jobs in flight and completes the stages they report.
    private func collectStatusFiles() {
        let (jobs, directory) = state.withLock { (Array($0.jobs.values), logDirectory($0)) }
        for job in jobs { collect(job, directory: directory) }
    }

    private func collect(_ job: Job, directory: URL) {
        guard let text = try? String(contentsOf: SlurmJobScript.statusFile(job: job.id, in: directory), encoding: .utf8) else { return }
        for line in text.split(whereSeparator: \.isNewline) {
            let fields = line.split(separator: " ")
            guard fields.count == 2, let digest = Digest(hex: String(fields[0])), let status = Int32(fields[1]) else { continue }
            let key = StageKey(digest)
            let fresh = state.withLock { state -> Bool in
                guard state.jobs[job.id] != nil, !(state.jobs[job.id]?.reported.contains(key) ?? true) else { return false }
                state.jobs[job.id]?.reported.insert(key)
                return true
            }
            guard fresh else { continue }
            let record = status == 0 ? state.withLock({ $0.workerStore })?.lookup(key, markUsed: false) : nil
            if let record {
                let ticket = state.withLock { state -> Ticket? in
                    let elapsed = record.elapsed ?? options.defaultStageSeconds
                    state.stageSeconds[job.kind] = state.stageSeconds[job.kind].map { 0.7 * $0 + 0.3 * elapsed } ?? elapsed
                    state.jobs[job.id]?.stageSeconds += elapsed
                    return state.tickets.removeValue(forKey: key)
                }
                ticket?.finish(.success(()))
            } else {
                retryOrFail(key, job: job, state: status == 0 ? "published nothing" : "exit \(status)", status: status, directory: directory)
            }
        }
    }

    /// Looks for jobs that left the queue: their unreported stages failed (cancelled, timed out,
    /// lost with their node).
    private func checkQueue() {
        let tag = state.withLock { $0.tag }
        guard let queued = commands.queued(namePrefix: SlurmJobScript.name(tag: tag, kind: "")) else { return }  // no answer: ask again later
        let present = Set(queued.map(\.id))
        let (ended, directory) = state.withLock { state in
            (state.jobs.values.filter { !present.contains($0.id) }, logDirectory(state))
        }
        for job in ended {
            // The last lines may have landed since the previous look.
            collect(job, directory: directory)
            let finished = state.withLock { state -> Job? in state.jobs.removeValue(forKey: job.id) }
            guard let finished else { continue }
            let missing = finished.keys.filter { !finished.reported.contains($0) }
            if missing.isEmpty {
                if !finished.adopted {
                    // What the job cost beyond its stages' own time: this run's measured overhead.
                    let wall = Self.seconds(ContinuousClock.now - finished.submitted)
                    let sample = max(0, wall - finished.stageSeconds)
                    state.withLock { $0.overhead = 0.7 * $0.overhead + 0.3 * sample }
                }
                continue
            }
            let jobState = commands.finalState(of: job.id) ?? "left the queue"
            for key in missing { retryOrFail(key, job: finished, state: jobState, status: nil, directory: directory) }
        }
    }

    /// A stage's attempt failed: back to pending, or — out of retries, or invalid input (exit 2,
    /// which no retry cures) — the run's error naming the stage, the job and its log.
    private func retryOrFail(_ key: StageKey, job: Job, state jobState: String, status: Int32?, directory: URL) {
        let log = SlurmJobScript.logFile(job: job.id, in: directory)
        let decision = state.withLock { state -> (Ticket, Int, Bool)? in
            guard let ticket = state.tickets[key] else { return nil }  // adopted work nobody waits for
            state.attempts[key, default: 0] += 1
            let attempts = state.attempts[key]!
            let retry = attempts <= options.retries && status != StageExit.invalidInput
            if retry {
                state.pending.append(ticket)
                state.lastArrival = .now
            } else {
                state.tickets[key] = nil
            }
            return (ticket, attempts, retry)
        }
        guard let (ticket, attempts, retry) = decision else { return }
        if retry {
            self.log("slurm: \(ticket.identity): job \(job.id) \(jobState); retrying (attempt \(attempts + 1) of \(options.retries + 1))")
        } else {
            ticket.finish(.failure(.stageFailed(identity: ticket.identity, job: job.id, state: jobState, attempts: attempts,
                                                log: log.path, status: status, message: Self.section(of: key, in: log))))
        }
    }

    private func fail(_ key: StageKey, with error: SlurmError) {
        let ticket = state.withLock { $0.tickets.removeValue(forKey: key) }
        ticket?.finish(.failure(error))
    }

    /// What the stage printed in the job's log: the lines after its `== shrink stage KEY` marker.
    static func section(of key: StageKey, in log: URL) -> String {
        guard let text = try? String(contentsOf: log, encoding: .utf8) else { return "" }
        var lines: [Substring] = []
        var inside = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("== shrink stage ") {
                inside = line.hasSuffix(key.hex)
                continue
            }
            if inside { lines.append(line) }
        }
        return String(lines.joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines).suffix(2000))
    }

    private static func seconds(_ duration: Duration) -> Double {
        let (s, atto) = duration.components
        return Double(s) + Double(atto) / 1e18
    }
}

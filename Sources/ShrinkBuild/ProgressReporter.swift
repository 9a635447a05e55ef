import Dispatch
import Foundation
import Synchronization

/// Prints scheduler progress to standard error.
///
/// On a terminal: one line updated in place, `[3/7] lenet-mnist/select 41.2s · evaluate 12/40 ·
/// ETA 8s`, where 3/7 counts the run's graph stages (a total fixed when the run starts) and
/// 12/40 the round of sub-stages (search candidates) the running stage submitted, with the time
/// that round still needs at its pace so far. Warnings, failures and log lines scroll above it:
/// the line is cleared before anything else is printed.
///
/// Elsewhere (CI logs, pipes): a compact log — one line per graph stage that ran (with its
/// sub-stages counted, not listed), failures, skipped stages, and a progress line every 30 s
/// while a long stage runs.
public final class ProgressReporter: SchedulerObserver, Sendable {
    private struct Running {
        let identity: String
        let started: ContinuousClock.Instant
    }

    private struct Batch {
        var progress: SubstageBatch
        var kind: String
        var seen: ContinuousClock.Instant
    }

    private struct State {
        var running: [Running] = []
        var stagesDone = 0
        var stagesTotal = 0
        var batches: [Int: Batch] = [:]
        /// Sub-stages per parent: how many ran, how many came from the cache.
        var substages: [String: (ran: Int, cached: Int)] = [:]
        var statusShown = false
        var lastDrawn: ContinuousClock.Instant?
        var timer: (any DispatchSourceTimer)?
        var finished = false
    }

    private let isTerminal: Bool
    private let width: Int
    private let heartbeat: Double
    private let redrawInterval: Duration
    private let output: @Sendable (String) -> Void
    private let state = Mutex(State())

    /// Creates a reporter. By default it writes to standard error and updates a line in place only
    /// when standard error is a terminal; tests pass their own `output`. `heartbeat` is the
    /// interval of progress lines when not on a terminal; `redrawInterval` the least time between
    /// two drawings of the status line for sub-stage events (a search finishes hundreds a second).
    public init(
        isTerminal: Bool = isatty(STDERR_FILENO) == 1, heartbeat: Double = 30, redrawInterval: Double = 0.1,
        output: @escaping @Sendable (String) -> Void = { FileHandle.standardError.write(Data($0.utf8)) }
    ) {
        self.isTerminal = isTerminal
        self.heartbeat = heartbeat
        self.redrawInterval = .milliseconds(Int(redrawInterval * 1000))
        self.output = output
        let columns = ProcessInfo.processInfo.environment["COLUMNS"].flatMap { Int($0) } ?? 80
        width = max(20, columns - 1)
    }

    /// Handles one event.
    public func schedulerEvent(_ event: SchedulerEvent) {
        switch event {
        case .started(let progress):
            state.withLock { state in
                track(progress, in: &state)
                if progress.parent == nil {
                    state.running.append(Running(identity: progress.identity, started: .now))
                }
                if state.timer == nil && !state.finished { state.timer = makeTimer() }
            }
            if isTerminal { redraw(throttled: progress.parent != nil) }
        case .executed(let progress):
            let counts = finished(progress, cached: false)
            if !isTerminal, progress.parent == nil {
                let reason = progress.reasons.first.flatMap { $0 == .firstRun ? nil : " (\($0))" } ?? ""
                line("\(counter(progress)) \(progress.identity) \(format(progress.elapsed))\(reason)\(Self.substageNote(counts))")
            }
            if isTerminal { redraw(throttled: progress.parent != nil) }
        case .cached(let progress):
            _ = finished(progress, cached: true)
            if isTerminal { redraw(throttled: progress.parent != nil) }
        case .failed(let progress, let message):
            _ = finished(progress, cached: false)
            line("\(counter(progress)) \(progress.identity) failed after \(format(progress.elapsed)): \(message)")
        case .skipped(let identity, let reason):
            line("skipped \(identity) (\(reason))")
        case .interrupted:
            line("interrupted: no new stages start; press Ctrl-C again to quit at once")
        }
    }

    /// Prints a warning or log line on its own line (the status line is cleared first and drawn
    /// again after it).
    public func warning(_ message: String) { line(message) }

    /// Clears the status line and stops updating it; call when the run is over.
    public func finish() {
        let (timer, shown) = state.withLock { state -> ((any DispatchSourceTimer)?, Bool) in
            state.finished = true
            defer {
                state.timer = nil
                state.statusShown = false
            }
            return (state.timer, state.statusShown)
        }
        timer?.cancel()
        if shown { output("\r\u{1B}[K") }
    }

    // MARK: Bookkeeping

    /// Counts from an event; a new run (another graph total) starts a new phase.
    private func track(_ progress: StageProgress, in state: inout State) {
        if progress.stagesTotal != state.stagesTotal {
            state.stagesTotal = progress.stagesTotal
            state.stagesDone = progress.stagesDone
            state.batches = [:]
        } else {
            state.stagesDone = max(state.stagesDone, progress.stagesDone)
        }
        if let batch = progress.batch {
            if batch.done >= batch.total {
                state.batches[batch.id] = nil
            } else if (state.batches[batch.id]?.progress.done ?? -1) <= batch.done {
                state.batches[batch.id] = Batch(progress: batch, kind: progress.kind, seen: .now)
            }
        }
    }

    /// Records a finished stage; for a graph stage returns how many sub-stages it ran and reused.
    private func finished(_ progress: StageProgress, cached: Bool) -> (ran: Int, cached: Int)? {
        state.withLock { state in
            track(progress, in: &state)
            if let parent = progress.parent {
                var counts = state.substages[parent] ?? (0, 0)
                if cached { counts.cached += 1 } else { counts.ran += 1 }
                state.substages[parent] = counts
                return nil
            }
            if let index = state.running.firstIndex(where: { $0.identity == progress.identity }) {
                state.running.remove(at: index)
            }
            return state.substages.removeValue(forKey: progress.identity)
        }
    }

    private static func substageNote(_ counts: (ran: Int, cached: Int)?) -> String {
        guard let counts, counts.ran + counts.cached > 0 else { return "" }
        return " (\(counts.ran + counts.cached) sub-stages: \(counts.ran) ran, \(counts.cached) cached)"
    }

    private func counter(_ progress: StageProgress) -> String {
        progress.parent == nil && progress.stagesTotal > 0
            ? "[\(progress.stagesDone)/\(progress.stagesTotal)]"
            : progress.batch.map { "[\($0.done)/\($0.total)]" } ?? "[\(progress.completed)/\(progress.total)]"
    }

    // MARK: Output

    /// Writes a permanent line; on a terminal the status line is cleared first and redrawn after.
    private func line(_ text: String) {
        if isTerminal {
            let shown = state.withLock { state -> Bool in
                defer { state.statusShown = false }
                return state.statusShown
            }
            output((shown ? "\r\u{1B}[K" : "") + text + "\n")
            redraw()
        } else {
            output(text + "\n")
        }
    }

    /// The status text: the oldest running graph stage, the phase's done/total, the round of
    /// sub-stages that stage is waiting for and its ETA.
    private func status() -> String? {
        state.withLock { state in
            guard !state.finished, let oldest = state.running.first else { return nil }
            let elapsed = seconds(ContinuousClock.now - oldest.started)
            var text = "[\(state.stagesDone)/\(state.stagesTotal)] \(oldest.identity) \(format(elapsed))"
            if let batch = state.batches.values.filter({ $0.progress.parent == oldest.identity })
                .max(by: { $0.progress.id < $1.progress.id }) {
                let p = batch.progress
                text += " · \(batch.kind) \(p.done)/\(p.total)"
                if p.done > 0 {
                    let sinceSeen = seconds(ContinuousClock.now - batch.seen)
                    let left = max(0, p.elapsed / Double(p.done) * Double(p.total - p.done) - sinceSeen)
                    text += " · ETA \(format(left, whole: true))"
                }
            }
            if state.running.count > 1 { text += " (+\(state.running.count - 1) running)" }
            return text
        }
    }

    /// Draws the status line; for a sub-stage event (`throttled`) at most every `redrawInterval` —
    /// the timer draws the latest state anyway.
    private func redraw(throttled: Bool = false) {
        let due = state.withLock { state -> Bool in
            let now = ContinuousClock.now
            if throttled, state.statusShown, let last = state.lastDrawn, now - last < redrawInterval { return false }
            state.lastDrawn = now
            return true
        }
        guard due, let text = status() else { return }
        state.withLock { $0.statusShown = true }
        output("\r\u{1B}[K" + String(text.prefix(width)))
    }

    private func makeTimer() -> any DispatchSourceTimer {
        let timer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "shrink.progress"))
        if isTerminal {
            timer.schedule(deadline: .now() + .milliseconds(200), repeating: .milliseconds(200))
            timer.setEventHandler { [weak self] in self?.redraw() }
        } else {
            timer.schedule(deadline: .now() + heartbeat, repeating: heartbeat)
            timer.setEventHandler { [weak self] in
                guard let self, let text = self.status() else { return }
                self.output("… " + text + "\n")
            }
        }
        timer.resume()
        return timer
    }

    private func format(_ seconds: Double, whole: Bool = false) -> String {
        if seconds < 60 { return whole ? "\(Int(seconds.rounded(.up)))s" : String(format: "%.1fs", seconds) }
        let s = Int(seconds.rounded())
        return s < 3600 ? "\(s / 60)m\(String(format: "%02d", s % 60))s" : "\(s / 3600)h\(String(format: "%02d", s / 60 % 60))m"
    }

    private func seconds(_ duration: Duration) -> Double {
        let (s, attoseconds) = duration.components
        return Double(s) + Double(attoseconds) / 1e18
    }
}

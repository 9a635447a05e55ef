import Dispatch
import Foundation
import Synchronization

/// Prints scheduler progress to standard error: on a terminal, one line updated in place
/// (`[3/12] decompose:conv2 … 4.2s`) with failures and warnings scrolling above it; otherwise
/// (CI logs, pipes) one plain line per finished stage.
public final class ProgressReporter: SchedulerObserver, Sendable {
    private struct Running {
        let identity: String
        let started: ContinuousClock.Instant
    }

    private struct State {
        var running: [Running] = []
        var completed = 0
        var total = 0
        var statusShown = false
        var timer: (any DispatchSourceTimer)?
        var finished = false
    }

    private let isTerminal: Bool
    private let width: Int
    private let output: @Sendable (String) -> Void
    private let state = Mutex(State())

    /// Creates a reporter. By default it writes to standard error and updates a line in place only
    /// when standard error is a terminal; tests pass their own `output`.
    public init(
        isTerminal: Bool = isatty(STDERR_FILENO) == 1,
        output: @escaping @Sendable (String) -> Void = { FileHandle.standardError.write(Data($0.utf8)) }
    ) {
        self.isTerminal = isTerminal
        self.output = output
        let columns = ProcessInfo.processInfo.environment["COLUMNS"].flatMap { Int($0) } ?? 80
        width = max(20, columns - 1)
    }

    /// Handles one event.
    public func schedulerEvent(_ event: SchedulerEvent) {
        switch event {
        case .started(let progress):
            state.withLock { state in
                state.running.append(Running(identity: progress.identity, started: .now))
                state.completed = max(state.completed, progress.completed)
                state.total = max(state.total, progress.total)
                if isTerminal && state.timer == nil && !state.finished { state.timer = makeTimer() }
            }
            if isTerminal { redraw() }
        case .executed(let progress):
            finished(progress)
            let reason = progress.reasons.first.flatMap { $0 == .firstRun ? nil : " (\($0))" } ?? ""
            if !isTerminal { line("\(counter(progress)) \(progress.identity) \(format(progress.elapsed))\(reason)") }
            if isTerminal { redraw() }
        case .cached(let progress):
            finished(progress)
            if !isTerminal { line("\(counter(progress)) \(progress.identity) cached") }
            if isTerminal { redraw() }
        case .failed(let progress, let message):
            finished(progress)
            line("\(counter(progress)) \(progress.identity) failed after \(format(progress.elapsed)): \(message)")
        case .skipped(let identity, let reason):
            if !isTerminal { line("skipped \(identity) (\(reason))") }
        case .interrupted:
            line("interrupted: no new stages start; press Ctrl-C again to quit at once")
        }
    }

    /// Prints a warning on its own line (for example as the store's warning handler).
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

    private func finished(_ progress: StageProgress) {
        state.withLock { state in
            if let index = state.running.firstIndex(where: { $0.identity == progress.identity }) {
                state.running.remove(at: index)
            }
            state.completed = max(state.completed, progress.completed)
            state.total = max(state.total, progress.total)
        }
    }

    private func counter(_ progress: StageProgress) -> String { "[\(progress.completed)/\(progress.total)]" }

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

    private func redraw() {
        let text: String? = state.withLock { state in
            guard !state.finished, let oldest = state.running.first else { return nil }
            state.statusShown = true
            let elapsed = seconds(ContinuousClock.now - oldest.started)
            let more = state.running.count > 1 ? " (+\(state.running.count - 1) running)" : ""
            return "[\(state.completed)/\(state.total)] \(oldest.identity) … \(format(elapsed))\(more)"
        }
        guard let text else { return }
        output("\r\u{1B}[K" + String(text.prefix(width)))
    }

    private func makeTimer() -> any DispatchSourceTimer {
        let timer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "shrink.progress"))
        timer.schedule(deadline: .now() + .milliseconds(200), repeating: .milliseconds(200))
        timer.setEventHandler { [weak self] in self?.redraw() }
        timer.resume()
        return timer
    }

    private func format(_ seconds: Double) -> String {
        seconds < 60 ? String(format: "%.1fs", seconds) : "\(Int(seconds) / 60)m\(Int(seconds) % 60)s"
    }

    private func seconds(_ duration: Duration) -> Double {
        let (s, attoseconds) = duration.components
        return Double(s) + Double(attoseconds) / 1e18
    }
}

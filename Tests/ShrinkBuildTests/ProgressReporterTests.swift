import Foundation
import Testing
import Synchronization
@testable import ShrinkBuild

final class Output: Sendable {
    private let text = Mutex("")
    func write(_ s: String) { text.withLock { $0 += s } }
    var all: String { text.withLock { $0 } }
}

@Suite struct ProgressReporterTests {
    func progress(_ id: String, _ done: Int, _ elapsed: Double = 0, reasons: [KeyChange] = []) -> StageProgress {
        StageProgress(identity: id, kind: "k", parent: nil, elapsed: elapsed, reasons: reasons, completed: done, total: 12,
                      stagesDone: done, stagesTotal: 12)
    }

    func substage(_ id: String, parent: String, batch: Int, done: Int, of total: Int, after seconds: Double,
                  completed: Int, known: Int) -> StageProgress {
        StageProgress(identity: id, kind: "evaluate", parent: parent, elapsed: 0.5, reasons: [], completed: completed,
                      total: known, stagesDone: 2, stagesTotal: 7,
                      batch: SubstageBatch(id: batch, parent: parent, done: done, total: total, elapsed: seconds))
    }

    @Test func compactLinesWhenNotATerminal() {
        let output = Output()
        let reporter = ProgressReporter(isTerminal: false, output: { output.write($0) })
        reporter.schedulerEvent(.started(progress("decompose:conv2", 2)))
        reporter.schedulerEvent(.executed(progress("decompose:conv2", 3, 4.2, reasons: [.parameterChanged(path: "rank", from: "8", to: "16")])))
        reporter.schedulerEvent(.cached(progress("load", 4)))
        reporter.schedulerEvent(.failed(progress("eval", 5, 1), message: "boom"))
        reporter.warning("cache: object ab12… is corrupt; recomputing")
        reporter.finish()
        #expect(output.all == """
            [3/12] decompose:conv2 4.2s (parameter `rank` changed: 8 → 16)
            [5/12] eval failed after 1.0s: boom
            cache: object ab12… is corrupt; recomputing

            """)
    }

    /// A search of hundreds of candidates is one line in a CI log, not one per candidate.
    @Test func substagesAreCountedNotListedWhenNotATerminal() {
        let output = Output()
        let reporter = ProgressReporter(isTerminal: false, output: { output.write($0) })
        let select = StageProgress(identity: "p/select", kind: "select", parent: nil, elapsed: 0, reasons: [],
                                   completed: 2, total: 7, stagesDone: 2, stagesTotal: 7)
        reporter.schedulerEvent(.started(select))
        for i in 1...300 {
            let candidate = substage("evaluate:search:fc1=\(i)", parent: "p/select", batch: 1 + i / 100, done: i % 100 + 1,
                                     of: 100, after: 1, completed: 2 + i, known: 7 + 300)
            reporter.schedulerEvent(.started(candidate))
            reporter.schedulerEvent(i % 3 == 0 ? .cached(candidate) : .executed(candidate))
        }
        reporter.schedulerEvent(.executed(StageProgress(identity: "p/select", kind: "select", parent: nil, elapsed: 65, reasons: [],
                                                        completed: 303, total: 307, stagesDone: 3, stagesTotal: 7)))
        reporter.finish()
        #expect(output.all == "[3/7] p/select 1m05s (300 sub-stages: 200 ran, 100 cached)\n")
    }

    @Test func oneUpdatingLineOnATerminal() {
        let output = Output()
        let reporter = ProgressReporter(isTerminal: true, output: { output.write($0) })
        reporter.schedulerEvent(.started(progress("decompose:conv2", 2)))
        reporter.schedulerEvent(.started(progress("decompose:conv1", 2)))
        reporter.schedulerEvent(.executed(progress("decompose:conv1", 3, 0.5)))
        reporter.finish()
        let text = output.all
        #expect(text.contains("\r\u{1B}[K[2/12] decompose:conv2 0.0s (+1 running)"))
        #expect(text.contains("\r\u{1B}[K[3/12] decompose:conv2 "))
        #expect(!text.contains("\n"))
        #expect(text.hasSuffix("\r\u{1B}[K"))
    }

    /// The total of the status line is the run's graph stages — it does not grow as the search
    /// submits candidates — and a round of candidates shows done/total and an ETA.
    @Test func stableTotalAndETAOnATerminal() {
        let output = Output()
        let reporter = ProgressReporter(isTerminal: true, redrawInterval: 0, output: { output.write($0) })
        reporter.schedulerEvent(.started(StageProgress(identity: "p/select", kind: "select", parent: nil, elapsed: 0, reasons: [],
                                                       completed: 2, total: 7, stagesDone: 2, stagesTotal: 7)))
        for i in 1...10 {
            let c = substage("evaluate:search:fc1=\(i)", parent: "p/select", batch: 1, done: i, of: 40, after: Double(i),
                             completed: 2 + i, known: 47)
            reporter.schedulerEvent(.executed(c))
        }
        reporter.finish()
        let lines = output.all.components(separatedBy: "\r\u{1B}[K").filter { !$0.isEmpty }
        #expect(lines.allSatisfy { $0.hasPrefix("[2/7] p/select ") }, "\(lines)")
        let last = lines.last ?? ""
        #expect(last.contains("· evaluate 10/40 · ETA 30s"), "\(last)")
    }

    /// A log line printed while the status line shows is not glued onto it.
    @Test func logLinesClearTheStatusLineFirst() {
        let output = Output()
        let reporter = ProgressReporter(isTerminal: true, output: { output.write($0) })
        reporter.schedulerEvent(.started(progress("decompose:conv2", 2)))
        reporter.warning("p/search: budget: measuring 12 single-layer sensitivities")
        reporter.finish()
        #expect(output.all.contains("\r\u{1B}[Kp/search: budget: measuring 12 single-layer sensitivities\n"))
    }

    /// Hundreds of candidates a second do not flood the terminal: sub-stage events redraw at most
    /// every `redrawInterval`.
    @Test func substageEventsAreThrottledOnATerminal() {
        let output = Output()
        let reporter = ProgressReporter(isTerminal: true, redrawInterval: 60, output: { output.write($0) })
        reporter.schedulerEvent(.started(StageProgress(identity: "p/select", kind: "select", parent: nil, elapsed: 0, reasons: [],
                                                       completed: 2, total: 7, stagesDone: 2, stagesTotal: 7)))
        for i in 1...200 {
            reporter.schedulerEvent(.executed(substage("evaluate:search:fc1=\(i)", parent: "p/select", batch: 1, done: i, of: 400,
                                                       after: 1, completed: 2 + i, known: 407)))
        }
        reporter.finish()
        #expect(output.all.components(separatedBy: "[2/7] p/select").count - 1 == 1)
    }
}

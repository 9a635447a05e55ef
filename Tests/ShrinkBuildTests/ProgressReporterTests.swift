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
        StageProgress(identity: id, kind: "k", parent: nil, elapsed: elapsed, reasons: reasons, completed: done, total: 12)
    }

    @Test func plainLinesWhenNotATerminal() {
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
            [4/12] load cached
            [5/12] eval failed after 1.0s: boom
            cache: object ab12… is corrupt; recomputing

            """)
    }

    @Test func oneUpdatingLineOnATerminal() {
        let output = Output()
        let reporter = ProgressReporter(isTerminal: true, output: { output.write($0) })
        reporter.schedulerEvent(.started(progress("decompose:conv2", 2)))
        reporter.schedulerEvent(.started(progress("decompose:conv1", 2)))
        reporter.schedulerEvent(.executed(progress("decompose:conv1", 3, 0.5)))
        reporter.finish()
        let text = output.all
        #expect(text.contains("\r\u{1B}[K[2/12] decompose:conv2 … 0.0s (+1 running)"))
        #expect(text.contains("\r\u{1B}[K[3/12] decompose:conv2 … "))
        #expect(!text.contains("\n"))
        #expect(text.hasSuffix("\r\u{1B}[K"))
    }
}

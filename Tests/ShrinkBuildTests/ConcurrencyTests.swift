import Foundation
import Synchronization
import Testing
@testable import ShrinkBuild

@Suite struct ConcurrencyTests {
    /// Two schedulers with their own `Store` instances (so their flocks are separate open file
    /// descriptions, as in two processes) on one cache, started together.
    @Test func twoSchedulersInOneProcessComputeEachStageOnce() throws {
        let scratch = try Scratch()
        let toy = Toy(sleep: ["source:a": 30, "source:b": 30, "concat": 30, "eval:r1": 30, "eval:r3": 30])
        try Data("from a file".utf8).write(to: scratch.file("input.txt"))
        let counter = Counter()
        let summaries = Summaries()
        DispatchQueue.concurrentPerform(iterations: 2) { _ in
            summaries.add(Result { try toy.run(root: scratch.url, jobs: 2, counter: counter) })
        }
        let both = try summaries.all.map { try $0.get() }
        #expect(both.count == 2)
        #expect(both.allSatisfy { $0.succeeded })
        #expect(both[0].graphOutputs == both[1].graphOutputs)
        #expect(both[0].executedCount + both[1].executedCount == toy.coldCount)
        #expect(counter.all.values.allSatisfy { $0 == 1 })
        #expect(counter.total == toy.coldCount)
    }

    @Test func twoProcessesOnOneCacheAddUpToOneColdRun() throws {
        let scratch = try Scratch()
        let arguments = ["--root", scratch.url.path, "--jobs", "2", "--sleep-ms", "40"]
        let first = try TestTool.start(arguments)
        let second = try TestTool.start(arguments)
        let a = TestTool.finish(first.0, first.1, first.2)
        let b = TestTool.finish(second.0, second.1, second.2)
        #expect(a.status == 0, "\(a.stderr)")
        #expect(b.status == 0, "\(b.stderr)")
        let reportA = try #require(a.report)
        let reportB = try #require(b.report)
        // A run that finds `search` cached never asks for its candidates, so compare graph stages.
        #expect(reportA.outputs.filter { !$0.key.hasPrefix("eval:") } == reportB.outputs.filter { !$0.key.hasPrefix("eval:") })
        #expect(reportA.executed.count + reportB.executed.count == 10)  // 6 graph stages + 4 candidates
        #expect(Set(reportA.executed).isDisjoint(with: reportB.executed))

        let cold = try Scratch()
        let reference = try #require(try TestTool.run(["--root", cold.url.path]).report)
        #expect(reference.executed.count == 10)
        #expect(reference.outputs.filter { !$0.key.hasPrefix("eval:") } == reportA.outputs.filter { !$0.key.hasPrefix("eval:") })
    }
}

final class Summaries: Sendable {
    private let results = Mutex<[Result<RunSummary, any Error>]>([])
    func add(_ result: Result<RunSummary, any Error>) { results.withLock { $0.append(result) } }
    var all: [Result<RunSummary, any Error>] { results.withLock { $0 } }
}

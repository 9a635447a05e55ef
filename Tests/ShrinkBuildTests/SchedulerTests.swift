import Foundation
import Synchronization
import Testing
@testable import ShrinkBuild

@Suite struct SchedulerTests {
    @Test(arguments: [1, 4])
    func secondRunExecutesNothing(jobs: Int) throws {
        let scratch = try Scratch()
        let toy = Toy()
        let counter = Counter()
        let cold = try toy.run(root: scratch.url, jobs: jobs, counter: counter)
        #expect(cold.succeeded)
        #expect(cold.executedCount == toy.coldCount)
        #expect(counter.total == toy.coldCount)

        let warm = try toy.run(root: scratch.url, jobs: jobs, counter: counter)
        #expect(warm.executedCount == 0)
        // search itself is a hit, so its candidates are not even asked for.
        #expect(warm.cachedCount == 8)
        #expect(warm.substageResults.isEmpty)
        #expect(counter.total == toy.coldCount)
        #expect(warm.graphOutputs == cold.graphOutputs)
    }

    @Test func changingOneParameterRerunsOnlyDownstreamAndSaysWhy() throws {
        let scratch = try Scratch()
        var toy = Toy()
        try toy.run(root: scratch.url)
        toy.b = "gamma"
        let counter = Counter()
        let summary = try toy.run(root: scratch.url, counter: counter)
        // source:a, upper:a and source:file are untouched; everything fed by source:b reruns.
        let expected: Set = ["source:b", "upper:b", "concat", "hash", "search", "eval:r1", "eval:r2", "eval:r3", "eval:r4"]
        #expect(summary.executedIdentities == expected)
        #expect(Set(counter.all.keys) == expected)
        #expect(summary.cachedCount == 3)

        #expect(summary.results["source:b"]?.reasons == [.parameterChanged(path: "text", from: "\"beta\"", to: "\"gamma\"")])
        let upper = try #require(summary.results["upper:b"]?.reasons.first)
        guard case .inputChanged(let name, _, _) = upper else {
            Issue.record("expected an input change, got \(upper)")
            return
        }
        #expect(name == "in")
        #expect(summary.results["concat"]?.reasons.map(\.description).first?.hasPrefix("input `right` changed") == true)
    }

    @Test func unchangedUpstreamOutputCutsOffTheRebuild() throws {
        let scratch = try Scratch()
        var toy = Toy()
        try toy.run(root: scratch.url)
        toy.a = "ALPHA"  // upper:a still produces ALPHA
        let summary = try toy.run(root: scratch.url)
        #expect(summary.executedIdentities == ["source:a", "upper:a"])
    }

    @Test func planSaysWhatWillRunAndWhy() throws {
        let scratch = try Scratch()
        var toy = Toy()
        try toy.run(root: scratch.url)
        toy.b = "gamma"
        let store = try Store(repositoryRoot: scratch.url)
        let plan = try Scheduler(store: store).plan(toy.graph(root: scratch.url, counter: Counter()))
        var status = [String: PlannedStage.Status]()
        for stage in plan { status[stage.identity] = stage.status }
        guard case .cached? = status["upper:a"], case .cached? = status["source:file"] else {
            Issue.record("upper:a and source:file should be cached: \(plan)")
            return
        }
        guard case .willRun(let reasons)? = status["source:b"], case .willRun(let downstream)? = status["upper:b"] else {
            Issue.record("source:b and upper:b should run: \(plan)")
            return
        }
        #expect(reasons == [.parameterChanged(path: "text", from: "\"beta\"", to: "\"gamma\"")])
        #expect(downstream == [.upstreamWillRun("source:b")])
        // Planning wrote nothing: a run still executes the changed stages.
        #expect(try toy.run(root: scratch.url).executedIdentities.contains("source:b"))
    }

    @Test func movingTheRepositoryKeepsEveryHit() throws {
        let scratch = try Scratch()
        let first = scratch.file("repo-a")
        try FileManager.default.createDirectory(at: first, withIntermediateDirectories: true)
        let toy = Toy()
        let cold = try toy.run(root: first)
        let moved = scratch.file("elsewhere/repo-b")
        try FileManager.default.createDirectory(at: moved.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.moveItem(at: first, to: moved)
        let warm = try toy.run(root: moved)
        #expect(warm.executedCount == 0)
        #expect(warm.graphOutputs == cold.graphOutputs)
    }

    @Test func corruptBlobIsReportedRemovedAndRecomputed() throws {
        let scratch = try Scratch()
        let toy = Toy()
        let cold = try toy.run(root: scratch.url)
        let store = try Store(repositoryRoot: scratch.url)
        let digest = try #require(cold.results["upper:a"]?.outputs["text"])
        try Data("ALPHX".utf8).write(to: store.objectURL(for: digest))  // same size, other bytes

        let warnings = Warnings()
        let rerun = try toy.run(root: scratch.url, warnings: warnings)
        #expect(rerun.executedIdentities == ["upper:a"])
        #expect(warnings.all == ["cache: object \(digest.short)… is corrupt; recomputing"])
        #expect(rerun.graphOutputs == cold.graphOutputs)
        #expect(try store.read(digest) == Data("ALPHA".utf8))
    }

    @Test func missingBlobIsAMiss() throws {
        let scratch = try Scratch()
        let toy = Toy()
        let cold = try toy.run(root: scratch.url)
        let store = try Store(repositoryRoot: scratch.url)
        try FileManager.default.removeItem(at: store.objectURL(for: try #require(cold.results["hash"]?.outputs["digest"])))
        let rerun = try toy.run(root: scratch.url)
        #expect(rerun.executedIdentities == ["hash"])
        #expect(rerun.results["hash"]?.reasons == [.outputsMissing])
    }

    @Test func resultsDoNotDependOnTheJobCount() throws {
        var outputs = [[String: [String: Digest]]]()
        for jobs in [1, 2, 4, 8] {
            let scratch = try Scratch()
            let summary = try Toy(sleep: ["upper:a": 5, "eval:r2": 5]).run(root: scratch.url, jobs: jobs)
            #expect(summary.succeeded)
            outputs.append(summary.allOutputs)
        }
        #expect(outputs.count == 4)
        #expect(outputs.allSatisfy { $0 == outputs[0] })
    }

    @Test func firstFailureStopsSchedulingButKeepsWhatFinished() throws {
        let scratch = try Scratch()
        // upper:a fails at once while source:b (slow) is running: source:b finishes and is kept,
        // and nothing that became ready after the failure (upper:b) starts.
        var toy = Toy(failing: ["upper:a"], sleep: ["source:b": 150])
        toy.after = ["upper:a": "source:b"]
        let first = try toy.run(root: scratch.url, jobs: 2)
        #expect(!first.succeeded)
        #expect(first.failures.map(\.identity) == ["upper:a"])
        #expect(first.results["source:b"]?.status == .executed)
        #expect(first.results["upper:b"] == nil)
        #expect(first.skipped["concat"] == "upper:a failed")
        #expect(first.skipped["upper:b"] == "not started: the run stopped")

        // What finished is in the cache.
        toy.failing = []
        let rerun = try toy.run(root: scratch.url)
        for identity in first.results.keys { #expect(rerun.results[identity]?.status == .cached) }
        #expect(rerun.executedCount == toy.coldCount - first.executedCount)
    }

    @Test func keepGoingRunsIndependentBranches() throws {
        let scratch = try Scratch()
        let toy = Toy(failing: ["upper:b"])
        let summary = try toy.run(root: scratch.url, jobs: 1, keepGoing: true)
        #expect(summary.failures.map(\.identity) == ["upper:b"])
        #expect(summary.results["upper:a"]?.status == .executed)
        #expect(summary.results["source:file"]?.status == .executed)
        #expect(Set(summary.skipped.keys) == ["concat", "hash", "search"])
        #expect(summary.skipped.values.allSatisfy { $0 == "upper:b failed" })
    }

    @Test(arguments: [1, 3])
    func subStagesAreCachedAndAFailedSearchResumes(jobs: Int) throws {
        let scratch = try Scratch()
        var toy = Toy(failing: ["eval:r3"])
        let first = try toy.run(root: scratch.url, jobs: jobs)
        #expect(first.failures.map(\.identity).sorted() == ["eval:r3", "search"])
        #expect(Set(first.substageResults.map(\.identity)) == ["eval:r1", "eval:r2", "eval:r4"])

        toy.failing = []
        let counter = Counter()
        let second = try toy.run(root: scratch.url, jobs: jobs, counter: counter)
        #expect(second.succeeded)
        #expect(second.executedIdentities == ["eval:r3", "search"])
        #expect(second.substageResults.map(\.identity).sorted() == ["eval:r1", "eval:r2", "eval:r3", "eval:r4"])
    }

    @Test func subStagesRunInParallelWithinTheJobLimit() throws {
        let scratch = try Scratch()
        let toy = Toy(sleep: ["eval:r1": 150, "eval:r2": 150, "eval:r3": 150, "eval:r4": 150])
        let summary = try toy.run(root: scratch.url, jobs: 4)
        #expect(summary.succeeded)
        // Four 150 ms candidates on four slots overlap: all four run at once at some point (a
        // count, not a duration, so a loaded machine cannot make this flaky).
        #expect(toy.parallelism.peak == 4)
    }

    @Test(arguments: [1, 2, 3])
    func neverMoreStagesAtOnceThanJobs(jobs: Int) throws {
        let scratch = try Scratch()
        var sleep = [String: Int]()
        for identity in ["source:a", "source:b", "source:file", "upper:a", "upper:b", "eval:r1", "eval:r2", "eval:r3", "eval:r4"] {
            sleep[identity] = 20
        }
        let toy = Toy(sleep: sleep)
        let summary = try toy.run(root: scratch.url, jobs: jobs)
        #expect(summary.succeeded)
        // The search stage waits for its candidates with its slot lent, so it does not count.
        #expect(toy.parallelism.peak <= jobs)
        #expect(summary.substageResults.count == 4)
    }

    @Test func eventsCoverEveryStage() throws {
        let scratch = try Scratch()
        let toy = Toy()
        let events = Events()
        try toy.run(root: scratch.url, observer: events)
        var started = 0, executed = 0, maxTotal = 0
        for event in events.all {
            switch event {
            case .started: started += 1
            case .executed(let p):
                executed += 1
                maxTotal = max(maxTotal, p.total)
            default: break
            }
        }
        #expect(started == toy.coldCount)
        #expect(executed == toy.coldCount)
        #expect(maxTotal == toy.coldCount)
        let warm = Events()
        try toy.run(root: scratch.url, observer: warm)
        #expect(warm.all.filter { if case .cached = $0 { return true } else { return false } }.count == 8)
    }

    @Test func graphErrors() throws {
        var graph = StageGraph()
        let stage = FunctionStage(kind: "k", identity: "x", parameters: EmptyParameters(),
                                  inputs: ["in": .output(of: "y", named: "out")]) { _, _ in StageOutputs() }
        try graph.add(stage)
        #expect(throws: GraphError.duplicateIdentity("x")) { try graph.add(stage) }
        #expect(throws: GraphError.unknownDependency(stage: "x", dependency: "y")) { try graph.topologicalOrder() }
        try graph.add(FunctionStage(kind: "k", identity: "y", parameters: EmptyParameters(),
                                    inputs: ["in": .output(of: "x", named: "out")]) { _, _ in StageOutputs() })
        #expect(throws: GraphError.cycle(["x", "y"])) { try graph.topologicalOrder() }
    }

    @Test func cancelStopsNewStagesAndPublishesNothingHalfDone() throws {
        let scratch = try Scratch()
        try Data("x".utf8).write(to: scratch.file("input.txt"))
        let store = try Store(repositoryRoot: scratch.url)
        let scheduler = Scheduler(store: store, options: SchedulerOptions(jobs: 1, cancellationGrace: 5))
        var graph = StageGraph()
        try graph.add(FunctionStage(kind: "quick", identity: "quick", parameters: EmptyParameters()) { _, _ in
            ["out": Data("done".utf8)]
        })
        try graph.add(FunctionStage(kind: "slow", identity: "slow", parameters: EmptyParameters(), inputs: [:]) { context, _ in
            scheduler.cancel()
            usleep(20_000)
            return ["out": Data("half".utf8)]  // finished after the interrupt: must not be published
        }, after: ["quick"])
        try graph.add(FunctionStage(kind: "later", identity: "later", parameters: EmptyParameters()) { _, _ in
            ["out": Data("never".utf8)]
        }, after: ["slow"])
        let summary = try scheduler.run(graph)
        #expect(summary.interrupted)
        #expect(summary.results.keys.sorted() == ["quick"])
        #expect(summary.abandoned == ["slow"])
        #expect(summary.skipped["later"] == "not started: interrupted")
        #expect(store.allRecords().map(\.identity) == ["quick"])
    }
}

/// Idle job slots: a stage may borrow them, but never while other work waits for a slot.
@Suite struct SlotPoolTests {
    @Test func idleSlotsAreLentOnlyWhenNothingWaits() throws {
        let pool = SlotPool(slots: 3)
        let started = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        let borrowed = Mutex<[Int]>([])
        // A holds one slot and borrows the two idle ones.
        pool.submit(.normal) {
            borrowed.withLock { $0.append(pool.borrowIdle(upTo: 2)) }
            started.signal()
            release.wait()
        }
        started.wait()
        #expect(borrowed.withLock { $0 } == [2])
        // B cannot start while A holds all three slots: it waits, queued.
        let ranB = DispatchSemaphore(value: 0)
        pool.submit(.normal) { ranB.signal() }
        #expect(ranB.wait(timeout: .now() + 0.2) == .timedOut)
        // Giving the borrowed slots back starts B at once, before A ends.
        pool.giveBack(2)
        #expect(ranB.wait(timeout: .now() + 5) == .success)
        release.signal()
    }
}

import Foundation
import Testing
@testable import ShrinkBuild

/// The test tool's cold run passes 20 publish points: 10 stages, each one blob and one record.
private let coldPublishPoints = 20

/// Outputs of an uninterrupted cold run, computed once.
private let reference: Result<[String: [String: String]], any Error> = Result {
    let scratch = try Scratch()
    guard let report = try TestTool.run(["--root", scratch.url.path]).report else { throw ToyError(description: "no report") }
    return report.outputs
}

private func uninterruptedOutputs() throws -> [String: [String: String]] { try reference.get() }

@Suite struct CrashSafetyTests {
    @Test func coldRunPublishPointCount() throws {
        let scratch = try Scratch()
        let report = try #require(try TestTool.run(["--root", scratch.url.path]).report)
        #expect(report.publishCount == coldPublishPoints)
    }

    /// Kill the run with SIGKILL at publish point N; the cache must hold exactly what was published
    /// (nothing half-written), and a rerun must compute only the rest and end where an
    /// uninterrupted run ends. With one job, publishes are sequential — blob, record, blob, record —
    /// so exactly ⌊(N−1)/2⌋ records made it; with two jobs they interleave, and at most that many.
    @Test(arguments: Array(1...coldPublishPoints).map { ($0, 1) } + [(4, 2), (9, 2), (14, 2), (19, 2)])
    func killedAtPublishPointLosesNothingPublished(point: Int, jobs: Int) throws {
        let scratch = try Scratch()
        let arguments = ["--root", scratch.url.path, "--jobs", "\(jobs)"]
        let killed = try TestTool.run(arguments, environment: ["SHRINK_TEST_KILL_AT": "publish:\(point)"])
        #expect(killed.killedBySignal && killed.status == SIGKILL)

        let store = try Store(repositoryRoot: scratch.url)
        let survivors = store.allRecords()
        if jobs == 1 {
            #expect(survivors.count == (point - 1) / 2)
        } else {
            #expect(survivors.count <= (point - 1) / 2)
        }
        #expect(try store.verify().isClean)
        // The file that was about to be renamed is left as a temporary file, which gc sweeps.
        let swept = try store.collectGarbage(keepDays: 30).removedTemporaryFiles
        #expect(jobs == 1 ? swept == 1 : swept >= 1)

        let rerun = try #require(try TestTool.run(arguments).report)
        #expect(rerun.executed.count == 10 - survivors.count)
        #expect(Set(rerun.executed).isDisjoint(with: survivors.map(\.identity)))
        #expect(rerun.outputs == (try uninterruptedOutputs()))
    }

    /// Ctrl-C (SIGINT) and SIGTERM stop the run promptly with 130 and 143; what was published stays.
    @Test(arguments: [SIGINT, SIGTERM])
    func interruptExitsWith128PlusSignalAndKeepsWhatWasPublished(signal: Int32) throws {
        let scratch = try Scratch()
        let arguments = ["--root", scratch.url.path, "--jobs", "1", "--sleep-ms", "300", "--signals"]
        let (process, out, err) = try TestTool.start(arguments)
        let actions = scratch.url.appendingPathComponent(".shrink/cache/actions")
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline,
              ((try? FileManager.default.contentsOfDirectory(atPath: actions.path)) ?? []).filter({ !$0.hasPrefix(".") }).count < 2 {
            usleep(10_000)
        }
        let sent = Date()
        kill(process.processIdentifier, signal)
        let outcome = TestTool.finish(process, out, err)
        let seconds = Date().timeIntervalSince(sent)
        #expect(!outcome.killedBySignal, "\(outcome.stderr)")
        #expect(outcome.status == 128 + signal, "\(outcome.stderr)")
        #expect(seconds < 8, "exited \(seconds) s after the signal")  // a liveness bound (stops promptly, does not finish the run), loose enough for a loaded machine
        let report = try #require(outcome.report)
        #expect(report.interrupted)
        #expect(report.executed.count >= 2 && report.executed.count < 10)

        let published = try Store(repositoryRoot: scratch.url).allRecords()
        #expect(Set(published.map(\.identity)) == Set(report.executed))
        let rerun = try #require(try TestTool.run(["--root", scratch.url.path]).report)
        #expect(rerun.executed.count == 10 - published.count)
    }
}

import Foundation
import Testing
@testable import ShrinkBuild

/// The Slurm executor's pure parts: group sizes from the overhead model, the job script, and the
/// tag a rerun recognises its jobs by.
@Suite struct SlurmUnitTests {
    /// (stages, seconds per stage, overhead, job slots) → the group size with the least projected time.
    @Test(arguments: [
        // Long stages, as many as slots: one per job, every slot busy.
        (16, 10.0, 0.4, 16, 1),
        // Four rounds of single stages or one round of fours: the same work, a quarter of the jobs.
        (64, 10.0, 0.4, 16, 4),
        // Tiny stages on two slots: the overhead is paid twice, not eight times.
        (8, 0.2, 0.4, 2, 4),
        // One stage: one job.
        (1, 0.2, 0.4, 2, 1),
        // More stages than the comment holds: capped.
        (200, 0.01, 5.0, 1, SlurmGrouping.maxStagesPerJob),
    ])
    func groupSizeMinimisesTheProjectedTime(_ c: (Int, Double, Double, Int, Int)) {
        let size = SlurmGrouping.stagesPerJob(count: c.0, stageSeconds: c.1, overhead: c.2, slots: c.3)
        #expect(size == c.4)
        // No other size is faster than the chosen one.
        let chosen = SlurmGrouping.projectedSeconds(count: c.0, perJob: size, stageSeconds: c.1, overhead: c.2, slots: c.3)
        for g in 1...min(c.0, SlurmGrouping.maxStagesPerJob) {
            #expect(chosen <= SlurmGrouping.projectedSeconds(count: c.0, perJob: g, stageSeconds: c.1, overhead: c.2, slots: c.3) + 1e-3)
        }
    }

    @Test func projectedTimeCountsRoundsOfJobs() {
        // 10 stages of 1 s in pairs on 2 slots: 5 jobs, 3 rounds of (0.5 + 2) s.
        #expect(SlurmGrouping.projectedSeconds(count: 10, perJob: 2, stageSeconds: 1, overhead: 0.5, slots: 2) == 7.5)
    }

    @Test(arguments: [(7, 4, [4, 3]), (8, 3, [3, 3, 2]), (1, 5, [1]), (0, 3, [])])
    func groupsAreBalanced(_ c: (Int, Int, [Int])) {
        let ranges = SlurmGrouping.split(count: c.0, size: c.1)
        #expect(ranges.map(\.count) == c.2)
        #expect(ranges.flatMap { Array($0) } == Array(0..<c.0))
    }

    static let keys = (0..<3).map { StageKey(Digest.of("stage \($0)")) }

    @Test func scriptRunsEachStageByKeyAndReportsEach() {
        let script = SlurmJobScript(kind: "evaluate", keys: Self.keys, command: ["/opt/it's/shrink", "exec-stage"],
                                    root: URL(fileURLWithPath: "/repo"), logDirectory: URL(fileURLWithPath: "/repo/.shrink/slurm"),
                                    setup: ["module load openblas"])
        let text = script.text
        #expect(text.hasPrefix("#!/bin/sh\n"))
        #expect(text.contains("module load openblas\n"))
        #expect(text.contains("for key in \(Self.keys.map(\.hex).joined(separator: " ")); do"))
        // Quoted for the shell, apostrophe included.
        #expect(text.contains(#"'/opt/it'\''s/shrink' 'exec-stage' "$key" --root '/repo' --no-lock"#))
        #expect(text.contains(#"echo "$key $rc" >> '/repo/.shrink/slurm'/shrink-${SLURM_JOB_ID}.status"#))
    }

    @Test func theCommentNamesStoreDriverAndKeysAndFitsSlurmsLimit() throws {
        let keys = (0..<SlurmGrouping.maxStagesPerJob).map { StageKey(Digest.of("k\($0)")) }
        let script = SlurmJobScript(kind: "decompose", keys: keys, command: ["shrink", "exec-stage"], root: URL(fileURLWithPath: "/r"),
                                    logDirectory: URL(fileURLWithPath: "/r/l"), setup: [])
        let comment = script.comment(tag: "0123456789", driver: String(repeating: "h", count: 64) + ":4194304")
        // Measured on Slurm 22.05: a comment of 1,024 characters or more is refused.
        #expect(comment.count < 1000)
        let parsed = try #require(SlurmJobScript.parseComment(comment))
        #expect(parsed.tag == "0123456789" && parsed.keys == keys && parsed.driver.hasSuffix(":4194304"))
        #expect(SlurmJobScript.parseComment("a user's own comment") == nil)
        #expect(SlurmJobScript.parseComment("shrink tag host:1 not-a-key") == nil)
    }

    @Test func aLogSectionIsWhatOneStagePrinted() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("slurm-log-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: url) }
        let text = "== shrink stage \(Self.keys[0].hex)\nfine\n== shrink stage \(Self.keys[1].hex)\nerror: broken\n== shrink stage \(Self.keys[2].hex)\n"
        try Data(text.utf8).write(to: url)
        #expect(SlurmExecutor.section(of: Self.keys[1], in: url) == "error: broken")
        #expect(SlurmExecutor.section(of: Self.keys[2], in: url) == "")
    }

    @Test func onlyALiveOtherProcessOnThisHostKeepsItsJobs() {
        let host = SlurmExecutor.shortHostName
        #expect(!SlurmExecutor.isLiveOtherDriver("\(host):\(getpid())"))  // this driver
        #expect(SlurmExecutor.isLiveOtherDriver("\(host):1"))  // init is alive
        #expect(!SlurmExecutor.isLiveOtherDriver("\(host):999999999"))
        #expect(!SlurmExecutor.isLiveOtherDriver("garbage"))
    }
}

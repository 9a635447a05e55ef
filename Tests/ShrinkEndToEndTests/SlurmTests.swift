import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The single-node Slurm the cluster tests submit to: the one `make test` starts around the suite
/// (`scripts/dev-slurm.sh run swift test …` exports `SLURM_CONF` and stops the daemons by PID
/// afterwards, also on failure). Without it these tests fail saying how to start one.
enum TestCluster {
    struct ClusterUnavailable: Error, CustomStringConvertible { var message: String; var description: String { message } }

    /// `SLURM_CONF` of the running test cluster.
    static var conf: Result<String, ClusterUnavailable> {
        guard let conf = ProcessInfo.processInfo.environment["SLURM_CONF"], FileManager.default.fileExists(atPath: conf) else {
            return .failure(ClusterUnavailable(message: "no test cluster: run `make test`, or `eval $(scripts/dev-slurm.sh start)` "
                + "before `swift test` (and `scripts/dev-slurm.sh stop` after)"))
        }
        return .success(conf)
    }

    /// The environment a driver needs to reach the cluster.
    static func environment() throws -> [String: String] { ["SLURM_CONF": try conf.get()] }

    /// Runs a Slurm client tool against the test cluster.
    static func tool(_ name: String, _ arguments: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/\(name)")
        p.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["SLURM_CONF"] = try conf.get()
        p.environment = env
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    /// Shrink's jobs in the queue: (id, state).
    static func shrinkJobs() throws -> [(id: String, state: String)] {
        try tool("squeue", ["-h", "-o", "%i %T %j"]).split(whereSeparator: \.isNewline).compactMap { line in
            let f = line.split(separator: " ")
            guard f.count == 3, f[2].hasPrefix("shrink-") else { return nil }
            return (String(f[0]), String(f[1]))
        }
    }

    /// Whether the queue holds no job of ours within a few seconds: a job whose stages have all
    /// reported is only exiting (the driver does not cancel it), and Slurm lists it as COMPLETING
    /// until its epilog ends.
    static func queueDrains() throws -> Bool {
        try wait(20) { try shrinkJobs().isEmpty }
    }

    /// Waits up to `seconds` for `condition`.
    static func wait(_ seconds: Double, until condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try condition() { return true }
            Thread.sleep(forTimeInterval: 0.1)
        }
        return try condition()
    }
}

/// `--executor slurm` end to end on a real single-node Slurm 22.05: the same decisions, metrics
/// and lock as the local executor; a cancelled job retried; an interrupted driver cancels its
/// jobs; a driver killed with -9 has its jobs adopted by the rerun; no Slurm is exit 2.
@Suite(.serialized) struct SlurmTests {
    static func config(setup: [String] = [], retries: Int = 2, extra: String = "") -> String {
        let lines = setup.map { "\"\($0)\"" }.joined(separator: ", ")
        return "executor: slurm\nslurm:\n  retries: \(retries)\n  setup: [\(lines)]\n\(extra)"
    }

    /// A setup line that makes only the run's first job sleep (jobs start in the repository root).
    static func firstJobSleeps(_ seconds: Int) -> String { "test -e first-job || { touch first-job; sleep \(seconds); }" }

    static func layers(_ r: Shrink.Outcome) -> [String: [String: String]] {
        var out: [String: [String: String]] = [:]
        for t in r.json?["targets"] as? [[String: Any]] ?? [] {
            out[t["target"] as? String ?? ""] = t["layers"] as? [String: String]
        }
        return out
    }

    /// The bundled pipeline (search included) through Slurm decides and measures what the local
    /// executor does: it writes the committed lock, which the local executor wrote (and
    /// `LockPortabilityTests` checks local runs against), byte for byte; and a warm rerun submits
    /// nothing.
    @Test func bundledPipelineThroughSlurmWritesTheLocalExecutorsLock() throws {
        let env = try TestCluster.environment()
        let cluster = try LockPortabilityTests.bundled(withLock: false)
        defer { try? FileManager.default.removeItem(at: cluster) }
        let pipeline = LockPortabilityTests.pipeline
        let r = try Shrink.run(["run", pipeline, "--json", "--executor", "slurm"], cwd: cluster, env: env)
        #expect(r.status == 0, "\(r.stderr)")
        let lock = "pipelines/lenet-mnist.lock"
        let committed = try String(contentsOf: packageRoot.appendingPathComponent(lock), encoding: .utf8)
        let written = try String(contentsOf: cluster.appendingPathComponent(lock), encoding: .utf8)
        #expect(written == committed)
        // The same ranks in the run's own summary.
        for (target, layers) in Self.layers(r) {
            for (layer, choice) in layers { #expect(committed.contains("\(layer): \(choice)"), "\(target) \(layer): \(choice)") }
        }
        #expect(Self.layers(r).count == 2)
        // The stages really ran as jobs, grouped: fewer jobs than stages, each with its log.
        let logs = try FileManager.default.contentsOfDirectory(atPath: cluster.appendingPathComponent(".shrink/slurm").path)
            .filter { $0.hasSuffix(".log") }
        #expect(!logs.isEmpty && logs.count < r.executed, "\(logs.count) jobs for \(r.executed) stages")
        #expect(try TestCluster.queueDrains(), "a job of the run stayed in the queue: \((try? TestCluster.shrinkJobs()) ?? [])")
        #expect(!r.stderr.contains("cancelled"), "a finished run has nothing to cancel: \(r.stderr)")
        let warm = try Shrink.run(["run", pipeline, "--json", "--executor", "slurm"], cwd: cluster, env: env)
        #expect(warm.status == 0 && warm.executed == 0)
        let after = try FileManager.default.contentsOfDirectory(atPath: cluster.appendingPathComponent(".shrink/slurm").path)
            .filter { $0.hasSuffix(".log") }
        #expect(after.count == logs.count, "a warm run submits nothing")
    }

    /// A job cancelled while it runs (`scancel`) is resubmitted, and the run succeeds.
    @Test func aCancelledJobIsRetried() throws {
        let env = try TestCluster.environment()
        let box = try Sandbox(pipeline: fixedPipeline)
        defer { box.remove() }
        // The first job sleeps, so there is time to cancel it mid-run; its retry does not. No
        // --executor: the repository configuration chooses Slurm.
        try box.write(Self.config(setup: [Self.firstJobSleeps(3)]), to: "shrink-config.yaml")
        let (p, o, e) = try Shrink.start(["run", "pipelines/p.yaml", "--json"], cwd: box.root, env: env)
        var victim: String?
        _ = try TestCluster.wait(60) {
            victim = try TestCluster.shrinkJobs().first { $0.state == "RUNNING" }?.id
            return victim != nil
        }
        let id = try #require(victim)
        _ = try TestCluster.tool("scancel", [id])
        let r = Shrink.finish(p, o, e)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("job \(id) CANCELLED; retrying"), "\(r.stderr)")
        #expect(r.executed > 0)
        #expect(try TestCluster.queueDrains(), "a job of the run stayed in the queue: \((try? TestCluster.shrinkJobs()) ?? [])")
    }

    /// Ctrl-C on the driver cancels its jobs: exit 130 and an empty queue.
    @Test func anInterruptedDriverLeavesNoJobBehind() throws {
        let env = try TestCluster.environment()
        let box = try Sandbox(pipeline: fixedPipeline)
        defer { box.remove() }
        try box.write(Self.config(setup: ["sleep 60"]), to: "shrink-config.yaml")
        let (p, o, e) = try Shrink.start(["run", "pipelines/p.yaml"], cwd: box.root, env: env)
        #expect(try TestCluster.wait(60) { try !TestCluster.shrinkJobs().isEmpty })
        kill(p.processIdentifier, SIGINT)
        let r = Shrink.finish(p, o, e)
        #expect(r.status == 130, "\(r.stderr)")
        #expect(r.stderr.contains("cancelled"), "\(r.stderr)")
        #expect(try TestCluster.wait(15) { try TestCluster.tool("squeue", ["-h"]).isEmpty })
    }

    /// A driver killed with -9 leaves its jobs running; the rerun adopts them instead of
    /// submitting their stages again, and ends with the queue empty.
    @Test func aRerunAfterKillNineAdoptsTheRunningJobs() throws {
        let env = try TestCluster.environment()
        let box = try Sandbox(pipeline: fixedPipeline)
        defer { box.remove() }
        try box.write(Self.config(setup: [Self.firstJobSleeps(5)]), to: "shrink-config.yaml")
        let (p, o, e) = try Shrink.start(["run", "pipelines/p.yaml"], cwd: box.root, env: env)
        #expect(try TestCluster.wait(60) { try TestCluster.shrinkJobs().contains { $0.state == "RUNNING" } })
        kill(p.processIdentifier, SIGKILL)
        _ = Shrink.finish(p, o, e)
        let orphans = try TestCluster.shrinkJobs().map(\.id)
        #expect(!orphans.isEmpty, "the killed driver's jobs run on")
        let r = try box.run([], env: env)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("adopted"), "\(r.stderr)")
        for id in orphans { #expect(r.stderr.contains(id), "job \(id) adopted: \(r.stderr)") }
        #expect(try TestCluster.queueDrains(), "a job of the run stayed in the queue: \((try? TestCluster.shrinkJobs()) ?? [])")
    }

    /// A stage whose job fails every time ends the run naming the stage, the job and its log.
    @Test func aStageThatKeepsFailingNamesItsJobAndLog() throws {
        let env = try TestCluster.environment()
        let box = try Sandbox(pipeline: fixedPipeline)
        defer { box.remove() }
        try box.write(Self.config(setup: ["echo node trouble >&2", "exit 7"], retries: 1), to: "shrink-config.yaml")
        let r = try box.run([], env: env)
        #expect(r.status == 3, "\(r.stderr)")
        let line = try #require(r.stderr.split(separator: "\n").first { $0.contains("failed in Slurm job") }, "\(r.stderr)")
        #expect(line.contains("FAILED, 2 attempts"), "\(line)")
        let log = try #require(line.range(of: "log: ").map { String(line[$0.upperBound...]).trimmingCharacters(in: .whitespaces) })
        #expect(try String(contentsOfFile: log, encoding: .utf8).contains("node trouble"))
        #expect(r.stderr.contains("retrying (attempt 2 of 2)"))
    }

    /// A stage that refuses the user's data in its job is invalid input: exit 2 naming the data's
    /// fault, and no retry (no attempt cures bad data), as with the local executor.
    @Test func aStageRefusingItsDataExitsTwoWithoutRetry() throws {
        let env = try TestCluster.environment()
        let box = try Sandbox(pipeline: fixedPipeline, evalSamples: 8)
        defer { box.remove() }
        try FileManager.default.removeItem(at: box.url("model/val.npz"))
        try FileManager.default.copyItem(at: packageRoot.appendingPathComponent("Tests/Fixtures/npy/bad/nan_pixel.npz"), to: box.url("model/val.npz"))
        try box.write(Self.config(retries: 2), to: "shrink-config.yaml")
        let r = try box.run([], env: env)
        #expect(r.status == 2, "\(r.stderr)")
        #expect(r.stderr.contains("x[3, 0, 14, 7] is NaN") && r.stderr.contains("failed in Slurm job"), "\(r.stderr)")
        #expect(!r.stderr.contains("retrying"), "\(r.stderr)")
        #expect(try TestCluster.queueDrains(), "a job of the run stayed in the queue: \((try? TestCluster.shrinkJobs()) ?? [])")
    }

    /// No client tools or no controller: exit 2 with one message, before anything runs.
    @Test func withoutSlurmTheRunIsRefused() throws {
        let box = try Sandbox(pipeline: fixedPipeline)
        defer { box.remove() }
        let noTools = try box.run(["--executor", "slurm"], env: ["PATH": box.url("no-such-bin").path])
        #expect(noTools.status == 2)
        #expect(noTools.stderr.contains("sbatch is not on PATH"), "\(noTools.stderr)")
        #expect(noTools.stderr.split(separator: "\n").count == 1, "\(noTools.stderr)")
        // A controller that does not answer: the test cluster's settings with a port nobody uses.
        let conf = try String(contentsOfFile: try TestCluster.conf.get(), encoding: .utf8)
            .replacingOccurrences(of: #"SlurmctldPort=\d+"#, with: "SlurmctldPort=9", options: .regularExpression)
        try box.write(conf, to: "dead.conf")
        let dead = try box.run(["--executor", "slurm"], env: ["SLURM_CONF": box.url("dead.conf").path])
        #expect(dead.status == 2)
        #expect(dead.stderr.contains("does not answer"), "\(dead.stderr)")
        #expect(dead.stderr.split(separator: "\n").count == 1, "\(dead.stderr)")
        #expect(!FileManager.default.fileExists(atPath: box.url("out").path))
    }
}

import Foundation
import Testing

/// Stages as data, end to end: a run whose stages each execute in a fresh `shrink exec-stage`
/// process decides and measures what the in-process run does, and a stored stage reruns by key.
@Suite(.serialized) struct ExecutorTests {
    static func record(_ box: Sandbox, _ key: String) throws -> [String: String] {
        let data = try Data(contentsOf: box.url(".shrink/cache/actions/\(key)"))
        let outputs = (try JSONSerialization.jsonObject(with: data) as? [String: Any])?["outputs"] as? [String: [String: Any]] ?? [:]
        return outputs.mapValues { $0["digest"] as? String ?? "" }
    }

    @Test func processExecutorMatchesTheInProcessRun() throws {
        let local = try Sandbox(pipeline: fixedPipeline), process = try Sandbox(pipeline: fixedPipeline)
        defer { local.remove(); process.remove() }
        let a = try local.run(["--jobs", "2"])
        let b = try process.run(["--jobs", "2", "--executor", "process"])
        #expect(a.status == 0 && b.status == 0, "\(a.stderr)\n\(b.stderr)")
        let ta = try #require((a.json?["targets"] as? [[String: Any]])?.first), tb = try #require((b.json?["targets"] as? [[String: Any]])?.first)
        #expect(ta["layers"] as? [String: String] == tb["layers"] as? [String: String])
        #expect(ta["metric"] as? Double == tb["metric"] as? Double && ta["baseline"] as? Double == tb["baseline"] as? Double)
        #expect(b.executed == a.executed)
        // The same lock: inputs, engine, decisions and metrics.
        #expect(try Data(contentsOf: local.url("pipelines/p.lock")) == Data(contentsOf: process.url("pipelines/p.lock")))
        // Warm: nothing runs, in either mode.
        #expect(try process.run(["--executor", "process"]).executed == 0)
    }

    @Test func aStoredStageRerunsByKeyToTheSameOutputs() throws {
        let box = try Sandbox(pipeline: fixedPipeline)
        defer { box.remove() }
        #expect(try box.run().status == 0)
        let descriptions = box.url(".shrink/cache/descriptions")
        var checked = 0
        for name in try FileManager.default.contentsOfDirectory(atPath: descriptions.path).sorted() {
            let d = try JSONSerialization.jsonObject(with: Data(contentsOf: descriptions.appendingPathComponent(name))) as? [String: Any] ?? [:]
            guard let kind = d["kind"] as? String, ["decompose", "evaluate", "export"].contains(kind) else { continue }
            let key = String(name.dropLast(".json".count))
            let before = try Self.record(box, key)
            let again = try Shrink.run(["exec-stage", key, "--force"], cwd: box.root)
            #expect(again.status == 0, "\(kind): \(again.stderr)")
            // Same machine, same inputs: the same bytes.
            #expect(try Self.record(box, key) == before, "\(kind)")
            checked += 1
        }
        #expect(checked >= 3)
        let unknown = try Shrink.run(["exec-stage", String(repeating: "ab", count: 32)], cwd: box.root)
        #expect(unknown.status == 2 && unknown.stderr.contains("no stage description"), "\(unknown.stderr)")
        let bad = try Shrink.run(["exec-stage", "xyz"], cwd: box.root)
        #expect(bad.status == 2)
    }

    /// A stage that refuses the user's data in its own process is invalid input (exit 2, named
    /// once), as in process — not an internal failure, and not retried.
    @Test func aStageProcessRefusingItsDataExitsTwo() throws {
        let box = try Sandbox(pipeline: fixedPipeline, evalSamples: 8)
        defer { box.remove() }
        try FileManager.default.removeItem(at: box.url("model/val.npz"))
        try FileManager.default.copyItem(at: packageRoot.appendingPathComponent("Tests/Fixtures/npy/bad/nan_pixel.npz"), to: box.url("model/val.npz"))
        let o = try box.run(["--executor", "process"])
        #expect(o.status == 2, "\(o.stderr)")
        #expect(o.stderr.contains("x[3, 0, 14, 7] is NaN"), "\(o.stderr)")
        #expect(!o.stderr.contains("internal error") && !o.stderr.contains("error: error:"), "\(o.stderr)")
        #expect(o.stderr.split(separator: "\n").filter { $0.hasPrefix("error: ") }.count == 1, "\(o.stderr)")
    }

    /// `shrink-config.yaml` is read once per run, and every problem in it — the executor's and the
    /// team cache's sections alike — is named at once with its place, before anything runs.
    @Test func aBrokenRepositoryConfigNamesEveryProblemBeforeAnythingRuns() throws {
        let box = try Sandbox(pipeline: fixedPipeline)
        defer { box.remove() }
        try box.write("executor: cluster\nremote_cache:\n  url: http://user:secret@cache.example/\n", to: "shrink-config.yaml")
        let o = try box.run()
        #expect(o.status == 2, "\(o.stderr)")
        #expect(!FileManager.default.fileExists(atPath: box.url(".shrink/cache/actions").path), "nothing ran")
        #expect(o.stderr.contains("shrink-config.yaml:1:11: error: unknown executor `cluster`"), "\(o.stderr)")
        #expect(o.stderr.contains("shrink-config.yaml:3:8: error: `remote_cache.url` must not contain credentials"), "\(o.stderr)")
        #expect(!o.stderr.contains("secret"), "\(o.stderr)")
    }
}

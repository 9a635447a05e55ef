import Foundation
import ShrinkGraph
import Testing

/// `shrink run` as a build tool: warm runs, incremental reruns, moved repositories, corruption,
/// crashes and concurrent runs — on the real LeNet model with a 200-image slice of its data.
@Suite(.serialized) struct PipelineCacheTests {
    @Test func warmRunDoesNoWork() throws {
        let box = try Sandbox(pipeline: fixedPipeline)
        defer { box.remove() }
        let cold = try box.run()
        #expect(cold.status == 0, "\(cold.stderr)")
        #expect(cold.executed > 0)
        let before = try box.storeListing()
        let warm = try box.run()
        #expect(warm.status == 0)
        #expect(warm.executed == 0)
        // No work means no new records or blobs either (a count, not a duration: timing
        // assertions flake on a loaded machine; docs/benchmarks.md measures the time).
        #expect(try box.storeListing() == before)
    }

    @Test func changingOneRuleRerunsOnlyWhatDependsOnIt() throws {
        let box = try Sandbox(pipeline: fixedPipeline)
        defer { box.remove() }
        #expect(try box.run().status == 0)
        try box.write(fixedPipeline.replacingOccurrences(of: "rank: 32", with: "rank: 24"), to: "pipelines/p.yaml")
        let plan = try Shrink.run(["plan", "pipelines/p.yaml"], cwd: box.root)
        #expect(plan.stdout.contains("RUN     decompose:fc1@svd:24"))
        #expect(plan.stdout.contains("cached  decompose:conv2@tucker2:16,8"))
        let again = try box.run()
        #expect(again.status == 0)
        // fc1's decomposition, the select stage (the candidate's evaluation on the search set,
        // the sequential refit of both layers and the refitted model's evaluations on both data
        // sets), export and report: conv2's decomposition, the calibration and the load stay cached.
        let reasons = (again.json?["reasons"] as? [String: Any]) ?? [:]
        #expect(reasons.keys.contains { $0.hasPrefix("decompose:fc1@svd:24") })
        #expect(reasons.keys.contains { $0.hasPrefix("refit:") })
        #expect(!reasons.keys.contains { $0.hasPrefix("decompose:conv2") || $0.hasPrefix("calibrate:") })
        #expect(!reasons.keys.contains("load"))
        #expect(again.executed == 8, "\(reasons.keys.sorted())")
    }

    @Test func movingTheRepositoryKeepsEveryCacheHit() throws {
        let box = try Sandbox(pipeline: fixedPipeline)
        defer { box.remove() }
        #expect(try box.run().status == 0)
        let moved = box.root.deletingLastPathComponent().appendingPathComponent("moved-\(UUID().uuidString)")
        try FileManager.default.moveItem(at: box.root, to: moved)
        defer { try? FileManager.default.removeItem(at: moved) }
        let warm = try Shrink.run(["run", "pipelines/p.yaml", "--json"], cwd: moved)
        #expect(warm.status == 0)
        #expect(warm.executed == 0)
    }

    @Test func corruptBlobIsDetectedAndRecomputed() throws {
        let box = try Sandbox(pipeline: fixedPipeline)
        defer { box.remove() }
        #expect(try box.run().status == 0)
        let before = try box.outputs()
        // Corrupt every blob of the decompositions' size class: flip bytes in the largest objects.
        let objects = box.url(".shrink/cache/objects")
        var files: [(URL, Int)] = []
        for sub in try FileManager.default.contentsOfDirectory(atPath: objects.path) {
            for f in try FileManager.default.contentsOfDirectory(atPath: objects.appendingPathComponent(sub).path) {
                let u = objects.appendingPathComponent(sub).appendingPathComponent(f)
                files.append((u, (try? Data(contentsOf: u).count) ?? 0))
            }
        }
        let victim = files.filter { $0.1 > 1000 && $0.1 < 1_000_000 }.sorted { $0.1 > $1.1 }.first!.0
        var bytes = try Data(contentsOf: victim)
        bytes[bytes.count / 2] ^= 0xFF
        try bytes.write(to: victim)
        try FileManager.default.removeItem(at: box.url("out"))
        let again = try box.run()
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stderr.contains("corrupt"))
        #expect(try box.outputs() == before)
    }

    @Test func deletedOrEditedExportsAreRestored() throws {
        let box = try Sandbox(pipeline: fixedPipeline)
        defer { box.remove() }
        #expect(try box.run().status == 0)
        let before = try box.outputs()
        try FileManager.default.removeItem(at: box.url("out/e2e.onnx"))
        try box.write("edited", to: "out/e2e.md")
        let again = try box.run()
        #expect(again.executed == 0)
        #expect(again.stderr.contains("restored"))
        #expect(try box.outputs() == before)
    }

    @Test func killedRunsLoseNothingAndFinishIdentically() throws {
        let reference = try Sandbox(pipeline: fixedPipeline)
        defer { reference.remove() }
        let cold = try reference.run()
        #expect(cold.status == 0)
        let expected = try reference.outputs()
        let box = try Sandbox(pipeline: fixedPipeline)
        defer { box.remove() }
        // Kill at successive publish points; each rerun must finish what the last one did not.
        var killedAt: [Int] = []
        for point in 1...40 {
            let r = try box.run(env: ["SHRINK_TEST_KILL_AT": "publish:\(point)"])
            if !r.killed { break }
            killedAt.append(point)
        }
        #expect(killedAt.count >= 5)
        let final = try box.run()
        #expect(final.status == 0)
        #expect(try box.outputs() == expected)
        // Nothing published before a kill is recomputed afterwards: total work equals one cold run.
        #expect(final.executed < cold.executed)
    }

    /// --jobs changes how the work is spread, never its result: the search, the data-aware
    /// factorisations and the exported bytes are the same with one job and with two.
    @Test func resultsDoNotDependOnJobs() throws {
        let pipeline = fixedPipeline
            .replacingOccurrences(of: "    rank: [16, 8]\n", with: "    rank: [16, 8]\n    fit: activations\n")
            .replacingOccurrences(of: "    rank: 32\n", with: "    rank: search\n    fit: activations\n")
            .replacingOccurrences(of: "max_drop: 0.05", with: "max_drop: 0.01")
        var outputs: [[String: Data]] = []
        for jobs in [1, 2] {
            let box = try Sandbox(pipeline: pipeline)
            defer { box.remove() }
            let r = try box.run(["--jobs", "\(jobs)"])
            #expect(r.status == 0, "\(r.stderr)")
            outputs.append(try box.outputs())
        }
        #expect(outputs[0]["e2e.onnx"] != nil)
        #expect(outputs[0] == outputs[1])
    }

    @Test func twoConcurrentRunsShareTheWork() throws {
        let reference = try Sandbox(pipeline: fixedPipeline)
        defer { reference.remove() }
        let cold = try reference.run()
        let box = try Sandbox(pipeline: fixedPipeline)
        defer { box.remove() }
        let a = try Shrink.start(["run", "pipelines/p.yaml", "--json"], cwd: box.root)
        let b = try Shrink.start(["run", "pipelines/p.yaml", "--json"], cwd: box.root)
        let ra = Shrink.finish(a.0, a.1, a.2), rb = Shrink.finish(b.0, b.1, b.2)
        #expect(ra.status == 0, "\(ra.stderr)")
        #expect(rb.status == 0, "\(rb.stderr)")
        #expect(ra.executed + rb.executed == cold.executed)
        #expect(try box.outputs() == (try reference.outputs()))
    }
}

/// `metric: { command: … }`: an external evaluator scores candidates; its script's content is part
/// of every evaluation's key.
@Suite(.serialized) struct ExternalEvaluatorTests {
    static let pipeline = fixedPipeline.replacingOccurrences(
        of: "metric: top1", with: "metric: { command: [sh, ../eval.sh], metric: accuracy }")

    @Test func commandMetricRunsAndItsScriptIsPartOfTheKey() throws {
        let box = try Sandbox(pipeline: Self.pipeline)
        defer { box.remove() }
        // A stand-in evaluator: reports a fixed accuracy and checks it was handed an ONNX file.
        try box.write("test -s \"$1\" || exit 3\necho '{\"accuracy\": 0.9}'\n", to: "eval.sh")
        let cold = try box.run()
        #expect(cold.status == 0, "\(cold.stderr)")
        let targets = try #require(cold.json?["targets"] as? [[String: Any]])
        #expect(targets.first?["metric"] as? Double == 0.9)
        #expect(try box.run().executed == 0)
        // Editing the script (same path) reruns the evaluations.
        try box.write("test -s \"$1\" || exit 3\necho '{\"accuracy\": 0.91}'\n", to: "eval.sh")
        let again = try box.run()
        #expect(again.executed > 0)
        #expect((again.json?["targets"] as? [[String: Any]])?.first?["metric"] as? Double == 0.91)
    }

    /// An evaluator that logs a lot to stderr before printing its result: reading stdout to the
    /// end before stderr deadlocked once stderr filled its pipe (64 KiB); the run hung forever.
    @Test func chattyEvaluatorDoesNotDeadlock() throws {
        let box = try Sandbox(pipeline: Self.pipeline)
        defer { box.remove() }
        try box.write("head -c 1048576 /dev/zero | tr '\\0' x >&2\necho '{\"accuracy\": 0.9}'\n", to: "eval.sh")
        let r = try box.run()
        #expect(r.status == 0, "\(r.stderr)")
        #expect((r.json?["targets"] as? [[String: Any]])?.first?["metric"] as? Double == 0.9)
    }

    @Test func failingEvaluatorIsAClearError() throws {
        let box = try Sandbox(pipeline: Self.pipeline)
        defer { box.remove() }
        try box.write("echo broken >&2\nexit 7\n", to: "eval.sh")
        let r = try box.run()
        #expect(r.status == 2)
        #expect(r.stderr.contains("evaluator command exited with 7"))
    }
}

/// A model with an op Shrink's engine cannot run (Einsum): an external evaluator still searches
/// and exports it; the built-in metrics refuse it with one clear message.
@Suite(.serialized) struct UnsupportedOpModelTests {
    static let pipeline = """
    shrink: 1
    name: e2e
    model: ../model/model.onnx
    data:
      eval: ../model/val.npz
    metric: { command: [sh, ../eval.sh], metric: accuracy }
    accept: { max_drop: 0.01 }
    rules:
      - match: { name: fc1 }
        method: svd
        rank: search
    export:
      onnx: ../out/e2e.onnx
      report: ../out/e2e.md
    """

    func box(_ pipeline: String) throws -> Sandbox {
        let box = try Sandbox(pipeline: pipeline)
        let model = packageRoot.appendingPathComponent("Tests/Fixtures/e2e/einsum-head.onnx")
        try FileManager.default.removeItem(at: box.url("model/model.onnx"))
        try FileManager.default.copyItem(at: model, to: box.url("model/model.onnx"))
        try box.write("test -s \"$1\" || exit 3\necho '{\"accuracy\": 0.9}'\n", to: "eval.sh")
        return box
    }

    @Test func externalEvaluatorSearchesAndExportsIt() throws {
        let box = try box(Self.pipeline)
        defer { box.remove() }
        let r = try box.run()
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("cannot run this model") && r.stderr.contains("Einsum"), "\(r.stderr)")
        let exported = try Graph.load(contentsOf: box.url("out/e2e.onnx").path)
        #expect(exported.nodes.contains { $0.opType == "Einsum" })
        // fc1 was decomposed (the evaluator sees no drop, so the search goes to the lowest rank).
        #expect(exported.nodes.filter { $0.opType == "Gemm" || $0.opType == "MatMul" }.count > 2)
    }

    @Test func builtInMetricsRefuseItClearly() throws {
        let box = try box(Self.pipeline.replacingOccurrences(of: "metric: { command: [sh, ../eval.sh], metric: accuracy }",
                                                             with: "metric: top1"))
        defer { box.remove() }
        let r = try box.run()
        #expect(r.status == 2)
        #expect(r.stderr.contains("Einsum") && r.stderr.contains("metric: { command"), "\(r.stderr)")
    }
}

extension Sandbox {
    /// Every file under `.shrink/cache` with its size, sorted: what a run added or changed shows.
    func storeListing() throws -> [String] {
        let cache = root.appendingPathComponent(".shrink/cache")
        guard let walker = FileManager.default.enumerator(at: cache, includingPropertiesForKeys: [.fileSizeKey, .isRegularFileKey]) else { return [] }
        var lines: [String] = []
        for case let url as URL in walker {
            let values = try url.resourceValues(forKeys: [.fileSizeKey, .isRegularFileKey])
            guard values.isRegularFile == true, !url.lastPathComponent.hasSuffix(".lock") else { continue }
            lines.append("\(url.path.dropFirst(cache.path.count)) \(values.fileSize ?? -1)")
        }
        return lines.sorted()
    }
}

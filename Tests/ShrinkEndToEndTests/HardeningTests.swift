import Foundation
import ShrinkTensor
import Testing

/// `shrink run` refusing what would hurt a repository or mislead a reader: outputs in the wrong
/// place, a stale model beside a FAILED report, a fixed rank that grows a layer, and diagnostics
/// that point at the pipeline rather than at the cache.
@Suite(.serialized) struct HardeningTests {
    /// Every line of `stderr` that is a diagnostic; none may carry a second `error:` prefix.
    func diagnostics(_ stderr: String) -> [String] {
        stderr.split(separator: "\n").map(String.init).filter { $0.contains(": error: ") || $0.contains(": note: ") }
    }

    @Test func anExportOntoTheModelIsRefusedAtItsLine() throws {
        let box = try Sandbox(pipeline: fixedPipeline.replacingOccurrences(of: "onnx: ../out/e2e.onnx", with: "onnx: ../model/model.onnx"))
        defer { box.remove() }
        let model = try Data(contentsOf: box.url("model/model.onnx"))
        let r = try box.run()
        #expect(r.status == 2, "\(r.stderr)")
        #expect(diagnostics(r.stderr) == [
            "pipelines/p.yaml:16:9: error: `export.onnx` (`../model/model.onnx`) would overwrite the model `../model/model.onnx`, an input of the run",
        ], "\(r.stderr)")
        #expect(try Data(contentsOf: box.url("model/model.onnx")) == model)
        // Refused before anything ran: no stage result in the cache.
        let records = (try? FileManager.default.contentsOfDirectory(atPath: box.url(".shrink/cache/actions").path)) ?? []
        #expect(records.filter { !$0.hasPrefix(".") }.isEmpty)
    }

    @Test(arguments: [
        ("report: /dev/null", "resolves outside the repository"),
        ("report: ../.git/config", "is inside `.git/`"),
        ("report: p.yaml", "would overwrite the pipeline file itself"),
        ("report: p.lock", "is the same file as the lock file"),
    ])
    func reportPathsThatWouldDoHarmAreRefused(line: String, message: String) throws {
        let box = try Sandbox(pipeline: fixedPipeline.replacingOccurrences(of: "report: ../out/e2e.md", with: line))
        defer { box.remove() }
        let r = try box.run()
        #expect(r.status == 2)
        let first = diagnostics(r.stderr).first ?? ""
        #expect(first.hasPrefix("pipelines/p.yaml:17:11: error: `export.report`"), "\(r.stderr)")
        #expect(first.contains(message), "\(r.stderr)")
    }

    @Test func diagnosticsArePrintedOnceInTheCompilerFormat() throws {
        let box = try Sandbox(pipeline: fixedPipeline.replacingOccurrences(of: "method: svd", with: "method: svdd"))
        defer { box.remove() }
        let r = try box.run()
        #expect(r.status == 2)
        let lines = r.stderr.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("pipelines/p.yaml:13:13: error: ") == true, "\(r.stderr)")
        #expect(!r.stderr.contains("error: pipelines/"), "doubled prefix: \(r.stderr)")
    }

    @Test func aMissingArrayIsReportedAtTheDataEntry() throws {
        let box = try Sandbox(pipeline: fixedPipeline.replacingOccurrences(of: "eval: ../model/val.npz", with: "eval: ../model/bad.npz"))
        defer { box.remove() }
        let val = try NPZ.read(box.url("model/val.npz"))
        try NPZ.write(["inputs": val["x"]!, "y": val["y"]!], to: box.url("model/bad.npz"))
        let r = try box.run()
        #expect(r.status == 2, "\(r.stderr)")
        #expect(diagnostics(r.stderr) == ["pipelines/p.yaml:5:9: error: data file `../model/bad.npz`: no array 'x' (it holds inputs, y)"],
                "\(r.stderr)")
    }

    @Test func aWrongShapeIsReportedAtTheDataEntry() throws {
        let box = try Sandbox(pipeline: fixedPipeline.replacingOccurrences(of: "eval: ../model/val.npz", with: "eval: ../model/flat.npz"))
        defer { box.remove() }
        let val = try NPZ.read(box.url("model/val.npz"))
        let x = val["x"]!
        try NPZ.write(["x": try NumPyArray(dtype: x.dtype, shape: [x.shape[0], 28, 28], bytes: x.bytes), "y": val["y"]!],
                      to: box.url("model/flat.npz"))
        let r = try box.run()
        #expect(r.status == 2, "\(r.stderr)")
        let lines = diagnostics(r.stderr)
        #expect(lines.count == 1)
        #expect(lines.first?.hasPrefix("pipelines/p.yaml:5:9: error: data file `../model/flat.npz`: x has shape [200, 28, 28]") == true,
                "\(r.stderr)")
        // The progress lines name no cache object either.
        #expect(!r.stderr.contains(".shrink/cache"), "\(r.stderr)")
    }

    /// A run that fails its bound removes the model an earlier passing run exported, so the
    /// folder never holds a model beside a report that says FAILED.
    @Test func aFailedRunLeavesNoStaleModel() throws {
        let box = try Sandbox(pipeline: fixedPipeline)
        defer { box.remove() }
        let passing = try box.run()
        #expect(passing.status == 0, "\(passing.stderr)")
        #expect(FileManager.default.fileExists(atPath: box.url("out/e2e.onnx").path))

        try box.write(fixedPipeline.replacingOccurrences(of: "rank: 32", with: "rank: 1")
            .replacingOccurrences(of: "max_drop: 0.05", with: "max_drop: 0.0"), to: "pipelines/p.yaml")
        let failing = try box.run()
        #expect(failing.status == 1, "\(failing.stderr)")
        #expect(!FileManager.default.fileExists(atPath: box.url("out/e2e.onnx").path))
        #expect(failing.stderr.contains("removed out/e2e.onnx"), "\(failing.stderr)")
        let report = try String(contentsOf: box.url("out/e2e.md"), encoding: .utf8)
        #expect(report.contains("FAILED"))
        let targets = try #require(failing.json?["targets"] as? [[String: Any]])
        #expect((targets.first?["exported"] as? [String])?.contains("out/e2e.onnx") == false)

        // Passing again brings it back.
        try box.write(fixedPipeline, to: "pipelines/p.yaml")
        #expect(try box.run().status == 0)
        #expect(FileManager.default.fileExists(atPath: box.url("out/e2e.onnx").path))
    }

    /// fc1 is 500×800: an SVD at rank 400 has 520,500 parameters against 400,500.
    @Test func aFixedRankThatGrowsTheLayerIsAnErrorAtTheRule() throws {
        let box = try Sandbox(pipeline: fixedPipeline.replacingOccurrences(of: "rank: 32", with: "rank: 400"))
        defer { box.remove() }
        let r = try box.run()
        #expect(r.status == 2, "\(r.stderr)")
        #expect(diagnostics(r.stderr) == [
            "pipelines/p.yaml:14:11: error: rank 400 is at or above the break-even of layer `fc1` (svd): it would grow, parameters 400,500 → 520,500 (1.30×), MACs 400,000 → 520,000 (1.30×); ranks up to 307 make it smaller",
            "pipelines/p.yaml:14:11: note: lower the rank to at most 307 or use `rank: search`; to accept a bigger layer, add `allow_growth: true` to this rule",
        ], "\(r.stderr)")
        #expect(!r.stdout.contains("passed"))
    }

    @Test func allowGrowthRunsButNeverSaysPassed() throws {
        let box = try Sandbox(pipeline: fixedPipeline.replacingOccurrences(of: "    rank: 32\n", with: "    rank: 400\n    allow_growth: true\n"))
        defer { box.remove() }
        let json = try box.run()
        #expect(json.status == 0, "\(json.stderr)")
        let targets = try #require(json.json?["targets"] as? [[String: Any]])
        #expect(targets.first?["grew"] as? Bool == true)
        let text = try Shrink.run(["run", "pipelines/p.yaml"], cwd: box.root)
        #expect(!text.stdout.contains("passed"), "\(text.stdout)")
        #expect(text.stdout.contains("main: bound met, but the model GREW"), "\(text.stdout)")
        #expect(text.stdout.contains("× LARGER"), "\(text.stdout)")
        let report = try String(contentsOf: box.url("out/e2e.md"), encoding: .utf8)
        #expect(!report.contains("passed"))
        #expect(report.contains("GREW"))
    }

    /// Stage names carry the pipeline's name, the load stage's too: a second pipeline's plan is
    /// not explained against the first pipeline's model.
    @Test func aNewPipelinesPlanDoesNotCompareWithAnotherPipeline() throws {
        let box = try Sandbox(pipeline: fixedPipeline)
        defer { box.remove() }
        #expect(try box.run().status == 0)
        try FileManager.default.copyItem(at: packageRoot.appendingPathComponent("Examples/lenet-mnist/model_dynamo.onnx"),
                                         to: box.url("model/other.onnx"))
        try box.write(fixedPipeline.replacingOccurrences(of: "name: e2e", with: "name: other")
            .replacingOccurrences(of: "model/model.onnx", with: "model/other.onnx")
            .replacingOccurrences(of: "out/e2e", with: "out/other"), to: "pipelines/q.yaml")
        let plan = try Shrink.run(["plan", "pipelines/q.yaml"], cwd: box.root)
        #expect(plan.status == 0, "\(plan.stderr)")
        #expect(plan.stdout.contains("RUN     other/load — not run before"), "\(plan.stdout)")
        #expect(!plan.stdout.contains("changed"), "\(plan.stdout)")
    }

    /// Without a terminal, a run logs its graph stages, not every candidate of the search.
    @Test func aSearchLogsACompactSummaryWhenNotOnATerminal() throws {
        let box = try Sandbox(pipeline: fixedPipeline.replacingOccurrences(of: "rank: 32", with: "rank: search"))
        defer { box.remove() }
        let r = try box.run()
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stderr.split(separator: "\n")
        #expect(lines.count < 25, "\(r.stderr)")
        #expect(!lines.contains { $0.contains("evaluate:") }, "\(r.stderr)")
        #expect(lines.contains { $0.contains("e2e/select") && $0.contains("sub-stages:") }, "\(r.stderr)")
    }
}

import Foundation
import ShrinkGraph
import ShrinkTensor
import Testing

/// Models the authors never tuned for (Tests/Fixtures/unseen: a TorchScript-exported MLP with
/// decomposed LayerNorm/GELU and int32 labels, a dynamo-exported transformer block with two
/// outputs, and a MobileNet-like CNN with a fixed batch of 1 fed NHWC uint8 data), each through
/// `shrink run`. The originals' accuracy must equal onnxruntime's (original.json, from
/// make_unseen.py); the exported models' accuracy must equal the report by `shrink eval`, and their
/// ranks, sizes and scores must be onnxruntime's on the fixture machine's export (ort_results.json
/// and NAME/ort_logits.npy, from check_unseen.py) — scores within a tolerance, never bytes.
@Suite(.serialized) struct UnseenModelTests {
    struct ORTResult: Decodable {
        var ranks: [String: String]
        var onnxruntime_top1: Double
        var onnxruntime_original_top1: Double
        var params_after: Int
        var macs_after: Int
    }

    static let fixtures = packageRoot.appendingPathComponent("Tests/Fixtures/unseen")

    /// `<tmp>/.git` and `<tmp>/NAME/{model.onnx,val.npz,pipeline.yaml}`.
    func sandbox(_ name: String) throws -> URL {
        let fm = FileManager.default
        let root = fm.temporaryDirectory.appendingPathComponent("shrink-unseen-\(UUID().uuidString)")
        try fm.createDirectory(at: root.appendingPathComponent(".git"), withIntermediateDirectories: true)
        try fm.createDirectory(at: root.appendingPathComponent(name), withIntermediateDirectories: true)
        for f in ["model.onnx", "val.npz", "pipeline.yaml"] {
            try fm.copyItem(at: Self.fixtures.appendingPathComponent("\(name)/\(f)"), to: root.appendingPathComponent("\(name)/\(f)"))
        }
        return root
    }

    @Test(arguments: ["mlp", "tx", "mobile"])
    func exportedModelMatchesOnnxruntimeAndTheReport(_ name: String) throws {
        let box = try sandbox(name)
        defer { try? FileManager.default.removeItem(at: box) }
        let run = try Shrink.run(["run", "\(name)/pipeline.yaml", "--json", "--jobs", "2"], cwd: box)
        #expect(run.status == 0, "\(run.stderr)")
        let reportURL = box.appendingPathComponent("\(name)/out/\(name).json")
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: reportURL)) as? [String: Any] ?? [:]
        let final = try #require(report["final"] as? Double), baseline = try #require(report["baseline"] as? Double)
        #expect(report["passed"] as? Bool == true)

        let all = try JSONSerialization.jsonObject(with: Data(contentsOf: Self.fixtures.appendingPathComponent("ort_results.json"))) as? [String: Any]
        let entry = try JSONSerialization.data(withJSONObject: try #require(all?[name]))
        let ort = try JSONDecoder().decode(ORTResult.self, from: entry)

        // The original, measured by Shrink's engine, as onnxruntime measures it.
        #expect(baseline == ort.onnxruntime_original_top1)

        // The exported model: `shrink eval` and onnxruntime (same bytes) agree with the report.
        let exported = "\(name)/out/\(name).onnx"
        var evalArgs = ["eval", exported, "--data", "\(name)/val.npz", "--json"]
        if name == "mobile" { evalArgs += ["--scale", "0.00392156862745098"] }
        let eval = try Shrink.run(evalArgs, cwd: box)
        #expect(eval.status == 0, "\(eval.stderr)")
        #expect(eval.json?["value"] as? Double == final)
        let target = try #require((run.json?["targets"] as? [[String: Any]])?.first)
        #expect(target["layers"] as? [String: String] == ort.ranks)
        var x = try NPZ.read(Self.fixtures.appendingPathComponent("\(name)/val.npz"))["x"]!.tensor()
        if name == "mobile" { x = Tensor(shape: x.shape, scalars: x.scalars.map { $0 * Float(0.00392156862745098) }) }
        let reference = try NPY.read(Self.fixtures.appendingPathComponent("\(name)/ort_logits.npy")).tensor()
        let c = try ScoreComparison(model: box.appendingPathComponent(exported), inputs: x, reference: reference)
        #expect(c.maxDifference <= c.tolerance, "\(name): max |Δ| \(c.maxDifference) > \(c.tolerance)")
        #expect(c.disagreementsOutsideTies == 0)
        #expect(abs(ort.onnxruntime_top1 - final) <= Double(c.disagreements) / Double(c.samples) + 1e-12)

        // The exported model is as small as reported.
        let table = try LayerTable(graph: try Graph.load(contentsOf: box.appendingPathComponent(exported).path))
        let after = try #require(report["after"] as? [String: Any])
        #expect(table.modelParams == after["params"] as? Int)
        #expect(table.totalMACs == after["macs"] as? Int)
        #expect(table.modelParams == ort.params_after && table.totalMACs == ort.macs_after)

        if name == "mobile" {
            // The 3×3 rule also takes the grouped convolution `g`: kept, with a warning.
            #expect(run.stderr.contains("cannot rewrite the grouped convolution `g`"), "\(run.stderr)")
        }
    }
}

/// A model exported with symbolic height and width (`dynamic_axes` on H and W): shape inference
/// alone takes them as 1, which LeNet's layers do not fit; the pipeline measures it at the data's
/// shape and the exported model keeps the symbolic declaration.
@Suite struct SymbolicInputTests {
    @Test func symbolicSpatialSizesComeFromTheData() throws {
        // Checked on the whole file (searched on it too), so `shrink eval` on it measures the same.
        let box = try Sandbox(pipeline: fixedPipeline.replacingOccurrences(of: "  eval: ../model/val.npz", with: "  eval: ../model/val.npz\n  search: ../model/val.npz"),
                              evalSamples: 100)
        defer { box.remove() }
        var graph = try Graph.load(contentsOf: box.url("model/model.onnx").path)
        graph.inputs[0].shape = [.symbol("N"), .value(1), .symbol("H"), .symbol("W")]
        try graph.save(to: box.url("model/model.onnx").path)
        let inspect = try Shrink.run(["inspect", "model/model.onnx"], cwd: box.root)
        #expect(inspect.status == 2 && inspect.stderr.contains("--input-shape input=1x1x32x32"), "\(inspect.stderr)")

        let run = try box.run()
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stderr.contains("model input 'input' is declared [N, 1, H, W]; Shrink measures and compresses it at [N, 1, 28, 28]"),
                "\(run.stderr)")
        let exported = try Graph.load(contentsOf: box.url("out/e2e.onnx").path)
        #expect(exported.inputs[0].shape == [.symbol("N"), .value(1), .symbol("H"), .symbol("W")])
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: box.url("out/e2e.json"))) as? [String: Any] ?? [:]
        let eval = try Shrink.run(["eval", "out/e2e.onnx", "--data", "model/val.npz", "--json"], cwd: box.root)
        #expect(eval.json?["value"] as? Double == report["final"] as? Double)
    }
}

import Foundation
import ShrinkGraph
import ShrinkRuntime
import ShrinkTensor
import Testing

/// The bundled model through a real search: the exported model's accuracy, measured independently
/// by `shrink eval` and by onnxruntime (Tests/Fixtures/e2e/ort_results.json and ort_logits.npy, from
/// check_exported.py), equals the reported one, meets the bound, and the model is smaller by the
/// reported factors. The fixture was measured on another machine's export: the ranks and sizes must
/// be the same, the scores equal within a tolerance (never the bytes: they depend on the CPU).
@Suite(.serialized) struct ExportedModelTests {
    struct ORTResults: Decodable {
        var ranks: [String: String]
        var onnxruntime_top1: Double
        var shrink_reported_top1: Double
        var params_after: Int
        var macs_after: Int
    }

    @Test func searchedModelMatchesOnnxruntimeAndTheReport() throws {
        let fixtures = packageRoot.appendingPathComponent("Tests/Fixtures/e2e")
        let box = try Sandbox(pipeline: try String(contentsOf: fixtures.appendingPathComponent("lenet-e2e.yaml"), encoding: .utf8),
                              evalSamples: 1000, calibration: true)
        defer { box.remove() }
        let run = try box.run(["--jobs", "2"])
        #expect(run.status == 0, "\(run.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: box.url("out/e2e.json"))) as? [String: Any] ?? [:]
        let final = try #require(report["final"] as? Double), baseline = try #require(report["baseline"] as? Double)
        #expect(report["passed"] as? Bool == true)
        #expect(baseline - final <= 0.005 + 1e-12)

        // Independent measurement 1: Shrink's own `eval` on the exported file.
        let eval = try Shrink.run(["eval", "out/e2e.onnx", "--data", "model/val.npz", "--json"], cwd: box.root)
        let measured = try #require(eval.json?["value"] as? Double)
        #expect(measured == final)

        // The same decisions as on the machine that made the fixture.
        let ort = try JSONDecoder().decode(ORTResults.self, from: Data(contentsOf: fixtures.appendingPathComponent("ort_results.json")))
        let target = try #require((run.json?["targets"] as? [[String: Any]])?.first)
        #expect(target["layers"] as? [String: String] == ort.ranks)

        // Independent measurement 2: onnxruntime's scores for every image (on the fixture machine's
        // export) against Shrink's engine on this export.
        let x = try NPZ.read(box.url("model/val.npz"))["x"]!.tensor()
        let reference = try NPY.read(fixtures.appendingPathComponent("ort_logits.npy")).tensor()
        let c = try ScoreComparison(model: box.url("out/e2e.onnx"), inputs: x, reference: reference)
        #expect(c.maxDifference <= c.tolerance, "max |Δ| \(c.maxDifference) > \(c.tolerance)")
        #expect(c.disagreementsOutsideTies == 0)
        #expect(abs(ort.onnxruntime_top1 - final) <= Double(c.disagreements) / Double(c.samples) + 1e-12)

        // Smaller by the reported factors: count the exported model itself.
        let table = try LayerTable(graph: try Graph.load(contentsOf: box.url("out/e2e.onnx").path))
        let after = try #require(report["after"] as? [String: Any])
        #expect(table.modelParams == after["params"] as? Int)
        #expect(table.totalMACs == after["macs"] as? Int)
        #expect(table.modelParams == ort.params_after)
    }
}

import Foundation
import ShrinkGraph
import ShrinkRuntime
import Testing

/// The bundled model through a real search: the exported model's accuracy, measured independently
/// by `shrink eval` and by onnxruntime (Tests/Fixtures/e2e/ort_results.json, from check_exported.py),
/// equals the reported one, meets the bound, and the model is smaller by the reported factors.
@Suite(.serialized) struct ExportedModelTests {
    struct ORTResults: Decodable {
        var model_sha256: String
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

        // Independent measurement 2: onnxruntime on the same bytes (committed by check_exported.py).
        let ort = try JSONDecoder().decode(ORTResults.self, from: Data(contentsOf: fixtures.appendingPathComponent("ort_results.json")))
        let bytes = try Data(contentsOf: box.url("out/e2e.onnx"))
        #expect(sha256Hex(bytes) == ort.model_sha256, "the exported model changed; rerun Tests/Fixtures/e2e/check_exported.py")
        #expect(ort.onnxruntime_top1 == final)

        // Smaller by the reported factors: count the exported model itself.
        let table = try LayerTable(graph: try Graph.load(contentsOf: box.url("out/e2e.onnx").path))
        let after = try #require(report["after"] as? [String: Any])
        #expect(table.modelParams == after["params"] as? Int)
        #expect(table.totalMACs == after["macs"] as? Int)
        #expect(table.modelParams == ort.params_after)
    }
}

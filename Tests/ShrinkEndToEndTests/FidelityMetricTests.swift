import Foundation
import ShrinkTensor
import Testing

/// Label-free metrics: the compressed model against the original's outputs on the same inputs,
/// on data without labels.
@Suite(.serialized) struct FidelityMetricTests {
    @Test(arguments: [("agreement", 0.05), ("{ agreement: { axis: -1, output: logits } }", 0.05),
                      ("relative_l2", 0.5), ("cosine", 0.05)])
    func labelFreeMetricsRunWithoutLabels(metric: String, bound: Double) throws {
        let pipeline = fixedPipeline.replacingOccurrences(of: "metric: top1", with: "metric: \(metric)")
            .replacingOccurrences(of: "accept: { max_drop: 0.05 }", with: "accept: { max_drop: \(bound) }")
        let box = try Sandbox(pipeline: pipeline)
        defer { box.remove() }
        // Inputs only: no `y`.
        let val = try NPZ.read(box.url("model/val.npz"))
        try NPZ.write(["x": val["x"]!], to: box.url("model/val.npz"))
        let r = try box.run()
        #expect(r.status == 0, "\(r.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: box.url("out/e2e.json"))) as? [String: Any] ?? [:]
        let baseline = try #require(report["baseline"] as? Double), final = try #require(report["final"] as? Double)
        switch metric {
        case "relative_l2":
            // The original against itself: no error; the compressed model: some, within the bound.
            #expect(baseline == 0 && final > 0 && final <= bound, "\(final)")
        default:
            #expect(baseline == 1, "\(baseline)")
            #expect(final < 1 + 1e-9 && final >= 1 - bound, "\(final)")
        }
        #expect(report["passed"] as? Bool == true)
    }

    @Test func anOutputTheModelLacksIsAClearError() throws {
        let box = try Sandbox(pipeline: fixedPipeline.replacingOccurrences(of: "metric: top1", with: "metric: { cosine: { output: nope } }"))
        defer { box.remove() }
        let r = try box.run()
        #expect(r.status == 2 && r.stderr.contains("output 'nope'"), "\(r.stderr)")
    }
}

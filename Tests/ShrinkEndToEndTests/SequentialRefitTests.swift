import Foundation
import ShrinkGraph
import ShrinkRuntime
import ShrinkTensor
import Testing

/// `fit: sequential` (the default) refits the chosen ranks in model order as a cached sub-stage
/// of the select stage; `fit: weights` is the fit pipelines used before; `search.margin` makes the
/// search keep a margin for sampling error. On the bundled LeNet with a slice of its data.
@Suite(.serialized) struct SequentialRefitTests {
    /// Aggressive fixed ranks, where the fits differ most (docs/decomposition.md); no search.
    func pipeline(fit: String) -> String {
        """
        shrink: 1
        name: e2e
        model: ../model/model.onnx
        data:
          eval: ../model/val.npz
          calibration: ../model/calib.npz
        metric: top1
        accept: { max_drop: 1 }
        rules:
          - match: { name: conv1 }
            method: tucker2
            rank: [3, 1]
            fit: \(fit)
          - match: { name: conv2 }
            method: tucker2
            rank: [6, 2]
            fit: \(fit)
          - match: { name: fc1 }
            method: svd
            rank: 6
            fit: \(fit)
        export:
          onnx: ../out/e2e.onnx
          report: ../out/e2e.md
        """
    }

    func report(_ box: Sandbox) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: box.url("out/e2e.json"))) as? [String: Any] ?? [:]
    }

    func target(_ r: Shrink.Outcome) throws -> [String: Any] {
        try #require((r.json?["targets"] as? [[String: Any]])?.first)
    }

    /// At equal ranks the refit does not lower the search set's top-1 by more than one point (it
    /// raises it on these ranks); the search's own fit (`fit: activations`) is exactly the refit's
    /// "before"; a rerun computes nothing.
    @Test func refitKeepsOrImprovesTheSearchMetricAtEqualRanksAndIsCached() throws {
        let box = try Sandbox(pipeline: pipeline(fit: "activations"), evalSamples: 400, calibration: true)
        defer { box.remove() }
        let independent = try box.run()
        try #require(independent.status == 0, "\(independent.stderr)")
        let before = try #require(try target(independent)["search_metric"] as? Double)
        #expect(try report(box)["fitting"] == nil)

        try box.write(pipeline(fit: "sequential"), to: "pipelines/p.yaml")
        let refit = try box.run()
        try #require(refit.status == 0, "\(refit.stderr)")
        let reasons = (refit.json?["reasons"] as? [String: Any]) ?? [:]
        #expect(reasons.keys.contains { $0.hasPrefix("refit:") }, "\(reasons.keys.sorted())")
        // The candidates are the same activation fits: no decomposition is recomputed.
        #expect(!reasons.keys.contains { $0.hasPrefix("decompose:") }, "\(reasons.keys.sorted())")
        let json = try report(box)
        let fitting = try #require(json["fitting"] as? [String: Any])
        #expect(fitting["refitted"] as? [String] == ["conv1", "conv2", "fc1"])
        #expect(fitting["kept"] as? Bool == true)
        let b = try #require(fitting["searchMetricBefore"] as? Double), a = try #require(fitting["searchMetricAfter"] as? Double)
        #expect(abs(b - before) < 1e-12, "the refit starts from the search's own fit")
        #expect(a >= b - 0.01, "refit \(b) → \(a) on the search set")
        #expect(try target(refit)["search_metric"] as? Double == a)
        let layers = try #require(json["layers"] as? [[String: Any]])
        #expect(layers.filter { $0["fit"] as? String == "sequential" }.count == 3)
        let md = try String(contentsOf: box.url("out/e2e.md"), encoding: .utf8)
        #expect(md.contains("refitted in sequence after the search"))

        let warm = try box.run()
        #expect(warm.status == 0)
        #expect(warm.executed == 0)
    }

    /// `fit: weights` is the fit pipelines had before: no calibration, no refit, weight-only
    /// factors identical in effect to `shrink decompose --fit weights` at the same ranks.
    @Test func fitWeightsIsTheFormerBehaviour() throws {
        let box = try Sandbox(pipeline: pipeline(fit: "weights"), evalSamples: 100, calibration: true)
        defer { box.remove() }
        let r = try box.run()
        try #require(r.status == 0, "\(r.stderr)")
        let reasons = (r.json?["reasons"] as? [String: Any]) ?? [:]
        #expect(!reasons.keys.contains { $0.hasPrefix("refit:") || $0.hasPrefix("calibrate:") }, "\(reasons.keys.sorted())")
        let json = try report(box)
        #expect(json["fitting"] == nil)
        #expect((json["layers"] as? [[String: Any]])?.filter { $0["fit"] as? String == "weights" }.count == 3)
        let cli = try Shrink.run(["decompose", "model/model.onnx", "--layer", "conv1=tucker2:3,1", "--layer", "conv2=tucker2:6,2",
                                  "--layer", "fc1=svd:6", "-o", "out/cli.onnx"], cwd: box.root)
        try #require(cli.status == 0, "\(cli.stderr)")
        let x = try #require(try NPZ.read(box.url("model/val.npz"))["x"]).tensor()
        func scores(_ path: String) throws -> Tensor {
            let s = try Session(graph: try Graph.load(contentsOf: box.url(path).path), options: SessionOptions(threads: 2))
            return try #require(try s.run(from: [s.inputs[0].name: x], outputs: [s.scoresOutput])[s.scoresOutput])
        }
        let a = try scores("out/e2e.onnx"), b = try scores("out/cli.onnx")
        let scale = max(1, b.scalars.map { abs($0) }.max() ?? 1)
        #expect(zip(a.scalars, b.scalars).allSatisfy { abs($0 - $1) <= 1e-4 * scale })
    }

    /// One searched layer on 400 images (200 to search): with `margin: 0` the search keeps the
    /// first rank whose search-set drop is within the bound (it then fails on the unseen half);
    /// `auto` rejects that rank, whose drop sits closer to the bound than the margin allows, and
    /// takes a larger one. The report states the margin.
    @Test func autoMarginRejectsACandidateThatNoMarginAccepts() throws {
        func searched(_ margin: String, bound: String = "0.03") -> String {
            """
            shrink: 1
            name: e2e
            model: ../model/model.onnx
            data:
              eval: ../model/val.npz
            metric: top1
            accept: { max_drop: \(bound) }
            rules:
              - match: { name: fc1 }
                method: svd
                rank: search
                fit: activations
            search: { policy: incremental, objective: macs, margin: \(margin) }
            export:
              onnx: ../out/e2e.onnx
              report: ../out/e2e.md
            """
        }
        let box = try Sandbox(pipeline: searched("0"), evalSamples: 400)
        defer { box.remove() }
        let none = try box.run()
        try #require(none.status == 0 || none.status == 1, "\(none.stderr)")
        let loose = try target(none)
        #expect(try report(box)["margin"] == nil)
        try box.write(searched("auto"), to: "pipelines/p.yaml")
        let auto = try box.run()
        try #require(auto.status == 0 || auto.status == 1, "\(auto.stderr)")
        let strict = try target(auto)
        let margin = try #require(try report(box)["margin"] as? [String: Any])
        let m = try #require(margin["full"] as? Double)
        // z·sqrt(p(1−p)/n) at the bound's threshold on the 200-image search half.
        let searchBaseline = try #require(try report(box)["searchBaseline"] as? Double)
        let p = searchBaseline - 0.03
        #expect(abs(m - 1.645 * (p * (1 - p) / 200).squareRoot()) < 1e-9, "margin \(m)")
        let looseDrop = searchBaseline - (try #require(loose["search_metric"] as? Double))
        let strictDrop = searchBaseline - (try #require(strict["search_metric"] as? Double))
        #expect(looseDrop <= 0.03 + 1e-9 && looseDrop > 0.03 - m + 1e-9, "margin 0 took a rank the margin rejects (drop \(looseDrop), margin \(m))")
        #expect(strictDrop <= 0.03 - m + 1e-9)
        let rank = { (t: [String: Any]) in (t["layers"] as? [String: String])?["fc1"].flatMap { Int($0.dropFirst(4)) } ?? 500 }
        #expect(rank(strict) > rank(loose), "\(strict["layers"] ?? "-") vs \(loose["layers"] ?? "-")")
        let md = try String(contentsOf: box.url("out/e2e.md"), encoding: .utf8)
        #expect(md.contains("Margin for sampling error (auto)"))

        // Half a point on 200 samples: the margin is larger than the bound, and the run says so.
        try box.write(searched("auto", bound: "0.005"), to: "pipelines/p.yaml")
        let tight = try box.run()
        #expect(tight.status == 0, "\(tight.stderr)")
        #expect(tight.stderr.contains("margin for sampling error") && tight.stderr.contains("is not smaller than the bound"), "\(tight.stderr)")
        #expect((try target(tight)["layers"] as? [String: String])?.isEmpty == true)
    }
}

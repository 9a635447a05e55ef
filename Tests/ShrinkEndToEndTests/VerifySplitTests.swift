import Foundation
import ShrinkGraph
import ShrinkRuntime
import ShrinkTensor
import Testing

/// The final check runs on samples the search never saw: `eval` split in halves by default, a
/// `verify` share or a verify set of its own; both figures reported, `passed` decided on verify.
@Suite(.serialized) struct VerifySplitTests {
    func report(_ box: Sandbox) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: box.url("out/e2e.json"))) as? [String: Any] ?? [:]
    }

    @Test(arguments: [(nil, 100), ("0.25", 50)] as [(String?, Int)])
    func evalIsSplitAndBothFiguresAreReported(verify: String?, verifySamples: Int) throws {
        let pipeline = verify.map { fixedPipeline.replacingOccurrences(of: "  eval: ../model/val.npz", with: "  eval: ../model/val.npz\n  verify: \($0)") }
            ?? fixedPipeline
        let box = try Sandbox(pipeline: pipeline, evalSamples: 200)
        defer { box.remove() }
        let r = try box.run()
        #expect(r.status == 0, "\(r.stderr)")
        let target = try #require((r.json?["targets"] as? [[String: Any]])?.first)
        #expect(target["verify_samples"] as? Int == verifySamples)
        #expect(target["search_samples"] as? Int == 200 - verifySamples)
        #expect(target["held_out"] as? Bool == true)
        let verifyMetric = try #require(target["verify_metric"] as? Double), searchMetric = try #require(target["search_metric"] as? Double)
        #expect(verifyMetric == target["metric"] as? Double)
        #expect((0...1).contains(verifyMetric) && (0...1).contains(searchMetric))
        let json = try report(box)
        #expect(json["samples"] as? Int == verifySamples && json["searchSamples"] as? Int == 200 - verifySamples)
        let md = try String(contentsOf: box.url("out/e2e.md"), encoding: .utf8)
        #expect(md.contains("verify set (\(verifySamples) unseen samples; decides)") && md.contains("search set (\(200 - verifySamples) samples)"), "\(md)")
        // The lock records the deciding (verify) figure.
        let lock = try String(contentsOf: box.url("pipelines/p.lock"), encoding: .utf8)
        #expect(lock.contains("samples: \(verifySamples),"), "\(lock)")
    }

    /// A verify set on which the compressed model disagrees with the original more than the bound
    /// allows, and a search set on which it agrees everywhere: the search passes, the run fails.
    @Test func acceptIsDecidedOnTheVerifySet() throws {
        // Fitted to the weights, so the second run (on other data) decomposes exactly as the first.
        let low = fixedPipeline.replacingOccurrences(of: "rank: [16, 8]", with: "rank: [4, 2]\n    fit: weights")
            .replacingOccurrences(of: "rank: 32", with: "rank: 3\n    fit: weights")
            .replacingOccurrences(of: "metric: top1", with: "metric: agreement")
            .replacingOccurrences(of: "accept: { max_drop: 0.05 }", with: "accept: { max_drop: 1 }")
        let box = try Sandbox(pipeline: low, evalSamples: 200)
        defer { box.remove() }
        let first = try box.run()
        try #require(first.status == 0, "\(first.stderr)")
        // Which samples the compressed model gets "wrong" (disagrees with the original's argmax).
        let x = try #require(try NPZ.read(box.url("model/val.npz"))["x"]).tensor()
        func argmax(_ model: String) throws -> [Int] {
            let s = try Session(graph: try Graph.load(contentsOf: box.url(model).path), options: SessionOptions(threads: 2))
            let out = try #require(try s.run(from: [s.inputs[0].name: x], outputs: [s.scoresOutput])[s.scoresOutput])
            let c = out.shape[1]
            return (0..<out.shape[0]).map { i in (0..<c).max { out.scalars[i * c + $0] < out.scalars[i * c + $1] }! }
        }
        let original = try argmax("model/model.onnx"), compressed = try argmax("out/e2e.onnx")
        let agree = original.indices.filter { original[$0] == compressed[$0] }
        let disagree = original.indices.filter { original[$0] != compressed[$0] }
        // Half of the verify set disagrees; the search set (disjoint from it) agrees everywhere.
        let k = min(disagree.count, agree.count / 2)
        try #require(k >= 5, "\(disagree.count) disagreements, \(agree.count) agreements")
        func write(_ indices: [Int], to path: String) throws {
            let d = try Dataset(inputs: x).selecting(indices)
            try NPZ.write(["x": NumPyArray(d.inputs)], to: box.url(path))
        }
        try write(Array(agree.dropFirst(k)), to: "model/search.npz")
        try write(Array(disagree.prefix(k)) + Array(agree.prefix(k)), to: "model/verify.npz")
        try box.write(low.replacingOccurrences(of: "  eval: ../model/val.npz", with: "  search: ../model/search.npz\n  verify: ../model/verify.npz")
            .replacingOccurrences(of: "accept: { max_drop: 1 }", with: "accept: { max_drop: 0.2 }"), to: "pipelines/p.yaml")
        let r = try box.run()
        #expect(r.status == 1, "\(r.stderr)")
        let target = try #require((r.json?["targets"] as? [[String: Any]])?.first)
        #expect(target["passed"] as? Bool == false)
        #expect(target["search_metric"] as? Double == 1, "the compressed model agrees on every search sample")
        let verifyMetric = try #require(target["verify_metric"] as? Double)
        #expect(abs(verifyMetric - 0.5) < 1e-9, "half the verify samples disagree: \(verifyMetric)")
        #expect(target["verify_samples"] as? Int == 2 * k)
        #expect(!FileManager.default.fileExists(atPath: box.url("out/e2e.onnx").path), "a model that fails the check is not exported")
    }

    @Test func aBoundWorthFewerThanFiveVerifySamplesWarns() throws {
        // 40 images, 20 held out: a drop of 0.05 is one image.
        let box = try Sandbox(pipeline: fixedPipeline, evalSamples: 40)
        defer { box.remove() }
        let r = try box.run()
        #expect(r.stderr.contains("is worth 1 of the 20 verify samples"), "\(r.stderr)")
        let big = try Sandbox(pipeline: fixedPipeline.replacingOccurrences(of: "max_drop: 0.05", with: "max_drop: 0.1"), evalSamples: 200)
        defer { big.remove() }
        let quiet = try big.run()
        #expect(quiet.status == 0 && !quiet.stderr.contains("verify samples"), "\(quiet.stderr)")
    }
}

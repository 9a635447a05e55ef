import Foundation
import ShrinkPipeline
import Testing

/// `data.verify`: the held-out share of `eval` or a verify set of its own, and what it refuses.
@Suite struct DataSplitSpecTests {
    func load(_ data: String, metric: String = "top1") throws -> PipelineSpec {
        try Fixtures.loader().load(
            source: "shrink: 1\nname: m\nmodel: ../assets/model.onnx\ndata: \(data)\naccept: { max_drop: 0.1 }\nmetric: \(metric)\n",
            file: Fixtures.valid.appendingPathComponent("split.yaml")).spec
    }

    func errors(_ data: String, metric: String = "top1") -> [String] {
        do {
            _ = try load(data, metric: metric)
            return []
        } catch {
            return (error as? PipelineLoadError)?.diagnostics.map { "\($0.location.line):\($0.location.column): \($0.message)" } ?? ["\(error)"]
        }
    }

    @Test func evalAloneIsSplitInHalves() throws {
        let spec = try load("{ eval: ../assets/val.npz }")
        #expect(spec.data.verifyFraction == DataSpec.defaultVerifyFraction)
        #expect(DataSpec.defaultVerifyFraction == 0.5)
        #expect(spec.data.effectiveSearch == spec.data.eval && spec.data.effectiveVerify == spec.data.eval)
        #expect(spec.data.calibrationIsSplit)
    }

    @Test(arguments: [("0.3", 0.3), ("0.05", 0.05), ("0.9", 0.9)])
    func aFractionChangesTheShare(_ text: String, _ expected: Double) throws {
        let spec = try load("{ eval: ../assets/val.npz, verify: \(text), search_subset: 10 }")
        #expect(spec.data.verifyFraction == expected)
        #expect(spec.data.searchSubset?.value == 10)
    }

    @Test func aVerifySetReplacesTheSplit() throws {
        let spec = try load("{ eval: ../assets/val.npz, verify: ../assets/search.npz }")
        #expect(spec.data.verifyFraction == nil)
        #expect(spec.data.effectiveVerify.files.map(\.lastPathComponent) == ["search.npz"])
        #expect(spec.data.effectiveSearch.files.map(\.lastPathComponent) == ["val.npz"])
        #expect(!spec.data.calibrationIsSplit)
    }

    @Test func aSearchSetLeavesEvalWholeForTheCheck() throws {
        let spec = try load("{ eval: ../assets/val.npz, search: ../assets/search.npz }")
        #expect(spec.data.verifyFraction == nil)
        #expect(spec.data.effectiveSearch.files.map(\.lastPathComponent) == ["search.npz"])
        #expect(spec.data.effectiveVerify.files.map(\.lastPathComponent) == ["val.npz"])
    }

    @Test func searchAndVerifySetsNeedNoEval() throws {
        let spec = try load("{ search: ../assets/search.npz, verify: { x: ../assets/x.npy, y: ../assets/y.npy } }")
        #expect(spec.data.verifyFraction == nil)
        #expect(spec.data.effectiveSearch.files.map(\.lastPathComponent) == ["search.npz"])
        #expect(spec.data.effectiveVerify.files.map(\.lastPathComponent) == ["x.npy", "y.npy"])
    }

    @Test(arguments: [
        ("{ eval: ../assets/val.npz, verify: 0 }", "4:42: `data.verify` as a number is the share of `eval` held out"),
        ("{ eval: ../assets/val.npz, verify: 1 }", "4:42: `data.verify` as a number"),
        ("{ eval: ../assets/val.npz, verify: 1.5 }", "4:42: `data.verify` as a number"),
        ("{ eval: ../assets/val.npz, verify: -0.2 }", "4:42: `data.verify` as a number"),
        ("{ eval: ../assets/val.npz, verify: [0.5] }", "4:42: `data.verify` must be a path to an .npz file or a mapping"),
        ("{ eval: ../assets/val.npz, verify: missing.npz }", "4:42: data file not found: `missing.npz`"),
        ("{ eval: ../assets/val.npz, search: ../assets/search.npz, verify: 0.3 }", "4:72: `data.verify` is a share of `eval` to hold out, but `data.search` is given"),
        ("{ search: ../assets/search.npz }", "4:7: `data` needs `eval`"),
        ("{ verify: ../assets/search.npz }", "4:7: `data` needs `eval`"),
        ("{ search: ../assets/search.npz, verify: { x: ../assets/x.npy } }", "4:47: metric `top1` needs labels, but `data.verify` names no `y`"),
    ])
    func refusals(_ data: String, _ expected: String) {
        let found = errors(data)
        #expect(found.contains { $0.hasPrefix(expected) }, "\(found)")
    }

    @Test func labelFreeMetricsTakeVerifySetsWithoutLabels() throws {
        let spec = try load("{ search: ../assets/search.npz, verify: { x: ../assets/x.npy } }", metric: "agreement")
        #expect(spec.data.effectiveVerify.hasLabels == false)
    }
}

import Foundation
import Testing
@testable import ShrinkPipeline

@Suite struct MatchingTests {
    func load(_ text: String) throws -> LoadedPipeline {
        try Fixtures.loader().load(source: "shrink: 1\nname: m\nmodel: ../assets/model.onnx\ndata: { eval: ../assets/val.npz }\naccept: { max_drop: 0.1 }\n" + text,
                                   file: Fixtures.valid.appendingPathComponent("matching.yaml"))
    }

    @Test func firstMatchWinsAndUnmatchedLayersAreKept() throws {
        let spec = try Fixtures.loader().load(file: Fixtures.valid.appendingPathComponent("sketch.yaml")).spec
        let result = spec.assign(layers: lenetLayers)
        #expect(result.map(\.layer.name) == lenetLayers.map(\.name))
        #expect(result.map(\.ruleIndex) == [0, 0, 3, nil, 1, 1])
        #expect(result.map(\.method) == [.cp, .cp, .tucker2, .keep, .svd, .svd])
        #expect(result[2].rank == .energy(0.95))
        #expect(result[3].rank == nil)
        // The recipe's 5x5 and Gemm rules are shadowed by the pipeline's own: that is how a
        // pipeline overrides a shared recipe, so they are notes (a run prints none), not errors.
        #expect(result.diagnostics.map(\.severity) == [.note, .note])
        #expect(result.diagnostics.allSatisfy { $0.message.contains("taken by an earlier rule") })
        #expect(result.diagnostics.map(\.location.line) == [9, 15])
    }

    @Test func aPipelineRuleMatchingNothingIsAnError() throws {
        let loaded = try load("""
        rules:
          - match: { name: "fc1" }
            method: svd
          - match: { name: "fc3" }
            method: svd
          - match: { name: "dense*" }
            method: svd
        """)
        let result = loaded.spec.assign(layers: lenetLayers)
        #expect(result.diagnostics.count == 2)
        let diagnostic = try #require(result.diagnostics.first)
        #expect(diagnostic.severity == .error && diagnostic.message == "rule matches no layer")
        #expect(diagnostic.location.line == 9 && diagnostic.location.column == 5)
        #expect(diagnostic.hint == "did you mean `fc1`?")
        #expect(result.diagnostics.last?.hint == "no layer name matches `dense*`; names include `conv1`, `conv2`, `conv3`, `pw1`, `fc1`, …")
        #expect(loaded.assign(layers: lenetLayers).hasErrors)
    }

    /// The application passes the methods' own check: its refusal (here: svd on a Gemm with one
    /// output) is reported at the rule, and the layer is kept.
    @Test func theCallersApplicabilityCheckDecidesAndIsReportedAtTheRule() throws {
        let loaded = try load("""
        rules:
          - match: { op: Gemm }
            method: svd
        """)
        let refuse = MethodApplicability { method, layer in
            method == .svd && layer.name == "fc1" ? "a Gemm with one output has nothing to factor" : nil
        }
        let result = loaded.spec.assign(layers: lenetLayers, applicability: refuse)
        #expect(result.first { $0.layer.name == "fc1" }?.method == .keep)
        #expect(result.filter { $0.layer.op == "Gemm" && $0.layer.name != "fc1" }.allSatisfy { $0.method == .svd })
        let d = try #require(result.diagnostics.first)
        #expect(d.severity == .error && d.message == "method `svd` cannot rewrite `fc1`; a Gemm with one output has nothing to factor, so it is kept")
        #expect(d.location.line == 8)
        #expect(loaded.assign(layers: lenetLayers, applicability: refuse).hasErrors)
        #expect(!loaded.assign(layers: lenetLayers).hasErrors)
    }

    @Test func methodsThatCannotRewriteALayerKeepIt() throws {
        let loaded = try load("""
        rules:
          - match: { name: "fc*" }
            method: cp
          - match: { op: Conv }
            method: spatial-svd
            rank: 4
        """)
        let result = loaded.spec.assign(layers: lenetLayers)
        #expect(result.map(\.method) == [.spatialSVD, .spatialSVD, .spatialSVD, .keep, .keep, .keep])
        #expect(result[3].ruleIndex == 1)
        #expect(result.diagnostics.map(\.message) == [
            "method `cp` cannot rewrite `fc1`, `fc2`; it needs a Conv layer, so they are kept",
            "method `spatial-svd` cannot rewrite `pw1`; it needs a Conv layer with a kernel larger than 1 in both spatial dimensions, so it is kept",
        ])
        #expect(result.diagnostics.allSatisfy { $0.severity == .error })
    }

    /// No match key tells a depthwise convolution apart, so `match: { op: Conv }` on a MobileNet
    /// keeps the grouped layers with a warning; a rule that rewrites nothing else is still an error.
    @Test func groupedConvolutionsAreKeptWithAWarning() throws {
        let layers = [
            LayerDescription(name: "stem", op: "Conv", kernel: [3, 3], params: 432, macs: 100_000),
            LayerDescription(name: "dw", op: "Conv", kernel: [3, 3], params: 144, macs: 20_000, group: 16),
            LayerDescription(name: "pw", op: "Conv", kernel: [1, 1], params: 512, macs: 50_000),
        ]
        let loaded = try load("""
        rules:
          - match: { op: Conv, kernel: 3x3 }
            method: tucker2
        """)
        let result = loaded.spec.assign(layers: layers)
        #expect(result.map(\.method) == [.tucker2, .keep, .keep])
        #expect(result.diagnostics.map(\.severity) == [.warning])
        #expect(result.diagnostics.first?.message == "method `tucker2` cannot rewrite the grouped convolution `dw`; low-rank methods need group 1, so it is kept")
        #expect(!loaded.assign(layers: layers).hasErrors)

        let onlyGrouped = try load("""
        rules:
          - match: { name: dw }
            method: svd
        """)
        let refused = onlyGrouped.spec.assign(layers: layers)
        #expect(refused.map(\.method) == [.keep, .keep, .keep])
        #expect(refused.diagnostics.map(\.severity) == [.error])
    }

    /// `svd` rewrites 1×1 convolutions only; a rule sending a k×k one to it fails at the rule,
    /// before any stage runs (it used to fail in the decompose stage).
    @Test func svdOnASpatialKernelIsRefusedAtTheRule() throws {
        let loaded = try load("""
        rules:
          - match: { op: Conv }
            method: svd
            rank: 4
        """)
        let result = loaded.spec.assign(layers: lenetLayers)
        #expect(result.map(\.method) == [.keep, .keep, .keep, .svd, .keep, .keep])
        #expect(result.diagnostics.map(\.message) == [
            "method `svd` cannot rewrite `conv1`, `conv2`, `conv3`; it needs a Gemm or MatMul layer, or a 1×1 Conv, so they are kept",
        ])
    }

    /// Conv1d layers have a one-element kernel; `kernel: 5` (= `5x5`) matches them too.
    @Test func aSquareKernelSizeMatchesA1DConvolution() throws {
        let layers = [LayerDescription(name: "c1", op: "Conv", kernel: [5], params: 640, macs: 40_000),
                      LayerDescription(name: "c2", op: "Conv", kernel: [3], params: 640, macs: 40_000)]
        let loaded = try load("""
        rules:
          - match: { op: Conv, kernel: 5 }
            method: tucker2
          - match: { kernel: 3x1 }
            method: cp
        """)
        let result = loaded.spec.assign(layers: layers)
        #expect(result.map(\.method) == [.tucker2, .keep])
        #expect(result.diagnostics.map(\.message) == ["rule matches no layer"])
    }

    /// The conv methods refuse 1×1 kernels, `cp4` 1-D ones, and `cp`/`cp4` a single input
    /// channel: at the rule, as the methods themselves would in the decompose stage.
    @Test func convMethodsRefuseWhatTheirChecksRefuse() throws {
        let layers = [
            LayerDescription(name: "conv1", op: "Conv", kernel: [5, 5], params: 500, macs: 100_000, inputChannels: 1),
            LayerDescription(name: "conv2", op: "Conv", kernel: [5, 5], params: 25_000, macs: 1_600_000, inputChannels: 20),
            LayerDescription(name: "pw", op: "Conv", kernel: [1, 1], params: 1_024, macs: 50_000, inputChannels: 32),
            LayerDescription(name: "c1d", op: "Conv", kernel: [5], params: 1_024, macs: 50_000, inputChannels: 32),
        ]
        let loaded = try load("""
        rules:
          - match: { name: "conv*" }
            method: cp
          - match: { name: pw }
            method: tucker2
          - match: { name: c1d }
            method: cp4
        """)
        let result = loaded.spec.assign(layers: layers)
        #expect(result.map(\.method) == [.keep, .cp, .keep, .keep])
        #expect(result.diagnostics.map(\.message) == [
            "method `cp` cannot rewrite `conv1`; it needs more than one input channel (use tucker2 with Rin = 1, or spatial-svd), so it is kept",
            "method `tucker2` cannot rewrite `pw`; it needs a Conv layer with a 1-D or 2-D kernel larger than 1×1, so it is kept",
            "method `cp4` cannot rewrite `c1d`; it needs a 2-D Conv layer with a kernel larger than 1×1, so it is kept",
        ])
    }

    @Test func matchConditionsCombine() throws {
        let loaded = try load("""
        rules:
          - match: { op: Conv, kernel: 5x5, min_params: 1000, min_macs: 200000 }
            method: cp
          - match: { op: Conv, kernel: 5 }
            method: tucker2
            rank: [4, 0.5]
          - match: { name: "?c?" }
            method: svd
            fit: activations
          - method: keep
        """)
        let result = loaded.spec.assign(layers: lenetLayers)
        #expect(result.map(\.ruleIndex) == [1, 0, 3, 3, 2, 2])
        #expect(result[0].rank == .tucker(out: .count(4), in: .fraction(0.5)))
        #expect(result[4].fit == .activations)
        #expect(result.diagnostics.isEmpty)
    }

    @Test func aRuleShadowedOnlyInAVariantIsFine() throws {
        let loaded = try load("""
        rules:
          - match: { op: Gemm }
            method: svd
            rank: 0.5
        variants:
          lean:
            rules:
              - match: { op: Gemm }
                method: svd
                rank: 0.25
            export: { onnx: out/lean.onnx, report: out/lean.md }
        """)
        let all = loaded.assign(layers: lenetLayers)
        #expect(all.diagnostics.isEmpty)
        #expect(all.variants["lean"]?[4].rank == .fraction(0.25))
        #expect(all.pipeline[4].rank == .fraction(0.5))
        // Seen alone, the variant's spec has a rule that matches nothing.
        #expect(all.variants["lean"]?.diagnostics.count == 1)
        // A layer table without Gemm layers leaves both rules unmatched everywhere.
        let convOnly = Array(lenetLayers.prefix(4))
        #expect(loaded.assign(layers: convOnly).diagnostics.map(\.severity) == [.error, .error])
    }
}

import Foundation
import ShrinkBuild
import ShrinkCompress
import ShrinkDevice
import ShrinkPipeline
import Testing
@testable import ShrinkWorkflow

/// Every workflow stage kind is a value that survives being written down: described, stored and
/// rebuilt by the registry `exec-stage` uses, it has the same kind, version, parameters and key.
@Suite struct StageKindTests {
    static let model = Digest.of("model"), data = Digest.of("data"), factors = Digest.of("factors"), info = Digest.of("info")
    static let ref = DataRef(format: "npz", x: data, y: nil, xKey: "x", yKey: "y", scale: 0.5, limit: 100)
    static let factory = StageFactory(model: model, original: Digest.of("original"), summary: Digest.of("summary"), objective: .macs)
    static let command = MetricRef(.command(CommandMetric(command: .argv(["python3", "eval.py", "{model}"]), metric: "acc",
                                                          goal: .maximize, workingDirectory: URL(fileURLWithPath: "/tmp/checkout"))))

    static func evaluator(metric: MetricRef) -> [(String, any ShrinkBuild.Stage)] {
        let p = SelectParameters(policy: .budget, objective: .macs, target: nil, bound: .absolute, boundValue: 0.005,
                                 metric: metric, searchLimit: 100,
                                 searchable: [SearchableLayer(layer: "fc1", method: .svd, fit: .activations, min: 2, max: nil, step: nil, multipleOf: nil)],
                                 fixedLayers: ["conv2"], data: ["full": ref, "search": ref], layerInputs: ["fc1": "/Flatten_output_0"],
                                 margin: SamplingMargin(mode: .auto, spread: .proportion), calibration: ref, fixedFits: ["conv2": .sequential])
        let decompose = factory.decompose(DecomposeParameters(layer: "fc1", method: .svd, rank: .exact(Rank(18)), fit: .activations, objective: .macs),
                                          stats: .blob(Digest.of("stats")))
        let evaluate = WorkflowStage<EvaluateStage>(
            identity: "evaluate:search:fc1=18",
            parameters: EvaluateParameters(set: "search", metric: metric, limit: 100, layers: ["fc1"], data: ref, layerInputs: ["fc1": "x"]),
            inputs: ["model": .blob(model), "data.x": .blob(data), "factors.fc1": .blob(factors), "info.fc1": .blob(info)])
        return [
            ("load", WorkflowStage<LoadStage>(identity: "p/load", parameters: ref, inputs: ["model": .blob(model), "data.x": .blob(data)])),
            ("calibrate", WorkflowStage<CalibrateStage>(identity: "calibrate:1", parameters: CalibrateParameters(layers: ["conv1", "fc1"], data: ref),
                                                        inputs: ["model": .blob(model), "data.x": .blob(data)])),
            ("decompose", decompose),
            ("evaluate", evaluate),
            ("refit", factory.refit([DecompositionRef(layer: "fc1", factors: factors, info: info)], fits: ["fc1": .sequential], data: ref)),
            ("select", factory.select(identity: "p/select", parameters: p, fixed: [:], stats: nil, log: { _ in })),
            ("report", WorkflowStage<ReportStage>(identity: "p/report",
                                                  parameters: ReportParameters(pipeline: "p", variant: nil, model: "m.onnx", metric: "top1", bound: "≤ 0.005",
                                                                               stem: "p", boundKind: .absolute, boundValue: 0.005, higherIsBetter: true),
                                                  inputs: ["model": .blob(model)])),
            ("export", WorkflowStage<ExportStage>(identity: "p/export", parameters: EmptyParameters(), inputs: ["model": .blob(model)])),
            ("quantize", factory.quantize(identity: "p/quantize", export: "p/export",
                                          parameters: DeviceBuildParameters(quantize: QuantizeParameters(calibration: .percentile(99.9), data: ref),
                                                                            device: "cortex-m4"))),
            ("device-check", factory.deviceCheck(identity: "p/device-check", quantize: "p/quantize", export: "p/export",
                                                 parameters: DeviceCheckParameters(device: "cortex-m4", verify: .qemu, data: ref,
                                                                                   tools: ["/usr/bin/gcc", "-", "-", "-"]))),
        ]
    }

    /// Blob inputs only (what a rebuilt stage has): an upstream output resolves to a digest.
    static func digests(_ stage: any ShrinkBuild.Stage) -> [String: Digest] {
        stage.inputs.mapValues { input in
            if case .blob(let d) = input { return d }
            return Digest.of("\(input)")
        }
    }

    @Test(arguments: [false, true])
    func everyKindRebuildsFromItsDescription(commandMetric: Bool) throws {
        let stages = Self.evaluator(metric: commandMetric ? Self.command : MetricRef(.top1))
        #expect(Set(stages.map(\.0)) == Set(WorkflowStages.registry.kinds))
        for (kind, stage) in stages {
            let description = try StageDescription(stage, inputs: Self.digests(stage))
            #expect(description.kind == kind)
            let encoded = try JSONEncoder().encode(description)
            let read = try JSONDecoder().decode(StageDescription.self, from: encoded)
            let rebuilt = try WorkflowStages.registry.stage(for: read)
            let again = try StageDescription(rebuilt, inputs: Self.digests(rebuilt))
            #expect(again.key == description.key, "\(kind)")
            #expect(rebuilt.version == stage.version && rebuilt.runsInDriver == stage.runsInDriver)
            // A command metric runs in the checkout, which the description carries outside the key.
            if commandMetric && (kind == "evaluate" || kind == "select") {
                #expect(description.checkout == "/tmp/checkout" && rebuilt.checkout?.path == "/tmp/checkout")
            } else {
                #expect(description.checkout == nil)
            }
        }
        // Only the search runs in the driver; its candidates go through the executor.
        #expect(stages.filter { $0.1.runsInDriver }.map(\.0) == ["select"])
    }

    /// A quantised pipeline's evaluations carry the quantisation (method, calibration data, the
    /// quantiser's version) in their keys and read the calibration blobs; a float pipeline's
    /// parameters encode exactly as before the device sections existed, so its cache and lock stay.
    @Test func quantisationIsInTheKeyOnlyWhenAsked() throws {
        let plain = EvaluateParameters(set: "search", metric: MetricRef(.top1), limit: 100, layers: ["fc1"], data: Self.ref, layerInputs: [:])
        let json = String(decoding: try JSONEncoder().encode(plain), as: UTF8.self)
        #expect(!json.contains("quantize"))
        func key(_ q: QuantizeParameters?) throws -> StageKey {
            var p = plain
            p.quantize = q
            var inputs: [String: StageInput] = ["model": .blob(Self.model), "data.x": .blob(Self.data)]
            if let q { inputs.merge(q.inputs) { a, _ in a } }
            let stage = WorkflowStage<EvaluateStage>(identity: "e", parameters: p, inputs: inputs)
            return try StageDescription(stage, inputs: Self.digests(stage)).key
        }
        let calib = DataRef(format: "npz", x: Digest.of("calib"), y: nil, xKey: "x", yKey: nil, scale: nil, limit: nil)
        let minmax = QuantizeParameters(calibration: .minMax, data: calib)
        #expect(minmax.inputs.keys.sorted() == ["calib.data.x"])
        var other = minmax
        other.calibration = .percentile(99.99)
        var newer = minmax
        newer.implementation += 1
        let keys = [try key(nil), try key(minmax), try key(other), try key(newer)]
        #expect(Set(keys).count == 4)
    }

    /// The key is the same wherever the checkout is: a moved repository keeps its cache.
    @Test func theCheckoutIsNotPartOfTheKey() throws {
        var moved = Self.command
        moved.command!.workingDirectory = URL(fileURLWithPath: "/elsewhere")
        let a = Self.evaluator(metric: Self.command)[3].1, b = Self.evaluator(metric: moved)[3].1
        #expect(try StageDescription(a, inputs: Self.digests(a)).key == StageDescription(b, inputs: Self.digests(b)).key)
    }
}

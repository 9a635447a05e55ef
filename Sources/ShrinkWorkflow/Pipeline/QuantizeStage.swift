import Foundation
import ShrinkBuild
import ShrinkDevice
import ShrinkGraph
import ShrinkPipeline
import ShrinkRuntime
import ShrinkTensor

/// How a pipeline quantises (`quantize:`), as stages carry it: the calibration method and the
/// calibration data (its blobs are the stage's `calib.*` inputs).
struct QuantizeParameters: Codable, Sendable, Hashable {
    /// The quantiser's and integer engine's version: the keys of every stage scoring or building
    /// an int8 model carry it.
    var implementation = StageVersion.quantize
    var calibration: CalibrationMethod
    var data: DataRef

    /// The blobs, as stage inputs named `calib.*`.
    var inputs: [String: StageInput] {
        Dictionary(uniqueKeysWithValues: data.inputs.map { ("calib.\($0.key)", $0.value) })
    }
}

/// Parameters of the quantize stage: what to build for the device.
struct DeviceBuildParameters: Codable, Sendable {
    /// int8 quantisation; nil builds the float32 library.
    var quantize: QuantizeParameters?
    /// The device profile (`cortex-m4`), for the budget.
    var device: String
}

/// What the quantize stage publishes about the device build (the `device` output).
struct DeviceBuild: Codable, Sendable {
    /// Flash and RAM of the exported model's library, per layer.
    var after: DeviceBudget
    /// The same for the original model as a float32 library (nil when it does not lower).
    var before: DeviceBudget?
    /// Whether the library is int8.
    var int8: Bool
    /// The C files' names.
    var files: [String]
    /// Notes from lowering and quantisation.
    var notes: [String]
}

extension CalibrationMethod {
    /// The device library's method for `quantize.int8.calibration`.
    init(_ c: QuantizeCalibration) {
        switch c {
        case .minMax: self = .minMax
        case .percentile(let p): self = .percentile(p)
        }
    }
}

extension StageFactory {
    /// The quantize stage: the exported (decomposed) model lowered to the device, quantised when
    /// the pipeline says so, its flash and RAM, its C library and its QDQ ONNX model.
    func quantize(identity: String, export: String, parameters: DeviceBuildParameters) -> WorkflowStage<QuantizeStage> {
        var inputs: [String: StageInput] = ["onnx": .output(of: export, named: "onnx"), "model": .blob(model)]
        if let q = parameters.quantize { inputs.merge(q.inputs) { a, _ in a } }
        return WorkflowStage(identity: identity, parameters: parameters, inputs: inputs)
    }
}

/// Lowers, quantises (int8) and budgets the exported model and writes its C library: outputs
/// `device` (DeviceBuild JSON), `model` (the DeviceModel JSON the checks rebuild from), `qdq`
/// (int8 only) and `library` (the C files, as a CLibrary JSON).
enum QuantizeStage: WorkflowStageKind {
    static var name: String { "quantize" }
    static var version: Int { StageVersion.quantize }

    static func run(_ p: DeviceBuildParameters, context ctx: StageContext, environment: StageEnvironment) throws -> StageOutputs {
        let graph = try ArtifactMemo.shared.graph(try ctx.digest(of: "onnx"), store: ctx.store)
        let original = try ArtifactMemo.shared.graph(try ctx.digest(of: "model"), store: ctx.store)
        guard let profile = DeviceProfile.named(p.device) else { throw PipelineError.internalError("unknown device \(p.device)") }
        // The exported model keeps a declared symbolic input ([?, 3, ?, ?]); the load stage's
        // model has the data's shape, which the float library (no calibration data) needs too.
        let dims = original.dataInputs.first?.shape?.dropFirst().compactMap(\.fixed)
        let sampleShape = dims.flatMap { $0.count == (original.dataInputs.first?.shape?.count ?? 0) - 1 ? Array($0) : nil }
        let model = try DeviceWork.prepare(graph, quantize: p.quantize, store: ctx.store, sampleShape: sampleShape)
        let library: CLibrary
        do { library = try CExporter.export(model) } catch { throw DeviceWork.pipelineError(error) }
        let before = (try? DeviceGraph.lower(original)).map { DeviceBudget.compute(.float($0), device: profile) }
        let build = DeviceBuild(after: DeviceBudget.compute(model, device: profile), before: before, int8: model.isInt8,
                                files: library.files.keys.sorted(), notes: model.notes)
        var out: StageOutputs = ["device": try LayerWork.jsonEncoder.encode(build), "model": try LayerWork.jsonEncoder.encode(model)]
        out["library"] = .data(try LayerWork.jsonEncoder.encode(library))
        if case .int8(let q) = model {
            let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("shrink-\(UUID().uuidString).onnx")
            try QDQWriter.graph(q).save(to: tmp.path)
            defer { try? FileManager.default.removeItem(at: tmp) }
            out["qdq"] = .blob(try ctx.putFile(at: tmp))
        }
        return out
    }
}

/// The device work the stages share: preparing a model, scoring the int8 model.
enum DeviceWork {
    /// `graph` lowered and, with `quantize`, calibrated on its data and quantised.
    static func prepare(_ graph: Graph, quantize: QuantizeParameters?, store: Store, threads: Int = 1,
                        sampleShape: [Int]? = nil) throws -> DeviceModel {
        let calibration = try quantize.map { try ArtifactMemo.shared.dataset($0.data, store: store).inputs }
        do {
            return try DeviceCompiler.prepare(graph, calibration: calibration,
                                              options: DeviceOptions(int8: quantize != nil, calibration: quantize?.calibration ?? .minMax),
                                              threads: threads, sampleShape: sampleShape)
        } catch {
            throw pipelineError(error)
        }
    }

    /// A device error as the pipeline reports it: the model's or data's fault (exit 2), else ours (3).
    static func pipelineError(_ error: DeviceError) -> PipelineError {
        error.isInvalidInput ? .invalidInput("\(error)") : .internalError("\(error)")
    }

    /// The metric of the int8 model `q` (quantised from `candidate`) computed by the integer
    /// engine — what the device computes. A `command` metric gets the QDQ ONNX model; mse and
    /// fidelity metrics compare against the float original (a final Softmax the device leaves out
    /// is applied to the engine's outputs first).
    static func score(_ q: QuantizedModel, candidate: Graph, original: Graph, originalKey: String, data: Dataset,
                      dataKey: String, metric: MetricRef, threads: Int) throws -> Scoring.Score {
        if metric.kind == .command, let command = metric.command {
            return Scoring.Score(value: try ExternalEvaluator.run(command, graph: QDQWriter.graph(q)), samples: data.count)
        }
        let engine = IntegerEngine(q)
        let softmax = finalSoftmax(candidate)
        var outputs: [Tensor] = []
        for batch in data.batches(size: 256) {
            let x = batch.inputs
            guard Array(x.shape.dropFirst()) == q.input.shape else {
                throw PipelineError.invalidInput("\(data.source): samples of shape \(Array(x.shape.dropFirst())) do not fit the model's input \(q.input.shape)")
            }
            var y: Tensor
            do { y = try engine.run(floats: x, threads: threads) } catch { throw pipelineError(error) }
            if let softmax, metric.kind != .topk { y = apply(softmax, y) }
            outputs.append(y)
        }
        let out = Scoring.concat(outputs)
        switch metric.kind {
        case .topk:
            guard case .classes(let labels) = data.targets else {
                throw PipelineError.invalidInput("\(data.source): the metric needs integer labels (y)")
            }
            try data.checkLabels(classes: out.shape.count > 1 ? out.shape[1] : 1)
            let correct = Metrics.topKCorrect(logits: out, labels: labels, k: metric.k ?? 1)
            let p = Double(correct) / Double(max(data.count, 1))
            return Scoring.Score(value: p, samples: data.count, nonFinite: Metrics.nonFiniteRows(out),
                                 deviation: (p * (1 - p)).squareRoot())
        case .fidelity:
            let f = metric.fidelity!
            let reference = try Scoring.referenceOutputs(original: original, originalKey: originalKey, data: data, dataKey: dataKey,
                                                         threads: threads, output: f.output)
            var total = Fidelity()
            try total.add(out, reference: reference, metric: f)
            return Scoring.Score(value: total.value, samples: total.samples, nonFinite: total.nonFinite,
                                 deviation: total.spread.deviation)
        case .mse, .command:
            var acc = MetricAccumulator(.mse)
            if data.hasFloatTargets {
                try acc.add(outputs: out, targets: data.targets)
            } else {
                let reference = try Scoring.referenceOutputs(original: original, originalKey: originalKey, data: data,
                                                             dataKey: dataKey, threads: threads)
                try acc.add(outputs: out, targets: .values(reference))
            }
            return Scoring.Score(value: acc.value, samples: acc.samples, nonFinite: acc.nonFiniteSamples)
        }
    }

    /// `Softmax` or `LogSoftmax` when it computes the model's (single) output.
    static func finalSoftmax(_ graph: Graph) -> String? {
        guard let name = graph.outputs.first?.name,
              let node = graph.nodes.last(where: { $0.outputs.contains(name) }),
              node.opType == "Softmax" || node.opType == "LogSoftmax" else { return nil }
        return node.opType
    }

    /// Softmax (or its log) over the last axis, in Double.
    static func apply(_ op: String, _ y: Tensor) -> Tensor {
        guard let n = y.shape.last, n > 0 else { return y }
        var out = y.scalars
        for start in stride(from: 0, to: out.count, by: n) {
            let row = out[start..<(start + n)].map(Double.init)
            let m = row.max() ?? 0
            let sum = row.reduce(0) { $0 + Foundation.exp($1 - m) }
            for i in 0..<n {
                out[start + i] = op == "Softmax" ? Float(Foundation.exp(row[i] - m) / sum) : Float(row[i] - m - Foundation.log(sum))
            }
        }
        return Tensor(shape: y.shape, scalars: out)
    }
}

extension DeviceBuild {
    /// The report's view of the build, with the selection's float and int8 metrics.
    func report(selection: Selection, flashBudget: Int?, ramBudget: Int?) -> DeviceReport {
        func rows(_ b: DeviceBudget) -> [DeviceLayerReport] {
            b.layers.map { DeviceLayerReport(name: $0.name, kernel: $0.kernel.rawValue, macs: $0.macs, flash: $0.constantBytes,
                                             activation: $0.activationBytes) }
        }
        return DeviceReport(device: after.device, int8: int8, flash: after.flash, ram: after.ram, flashBefore: before?.flash,
                            ramBefore: before?.ram, flashBudget: flashBudget, ramBudget: ramBudget, layers: rows(after),
                            layersBefore: before.map(rows) ?? [], int8Baseline: selection.int8Baseline,
                            floatFinal: selection.floatMetric, notes: notes)
    }
}

import Foundation
import ShrinkDevice
import ShrinkGraph
import ShrinkPipeline
import ShrinkRuntime
import ShrinkTensor
import Testing
@testable import ShrinkWorkflow

/// How a quantised pipeline scores a candidate: the integer engine's outputs against the labels,
/// and for a `command` metric the QDQ ONNX model handed to the user's evaluator.
@Suite struct DeviceScoringTests {
    static let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Examples/lenet-mnist")

    static func lenet(samples: Int) throws -> (Graph, QuantizedModel, Dataset) {
        let graph = try Graph.load(contentsOf: example.appendingPathComponent("model.onnx").path)
        let val = try NPZ.read(example.appendingPathComponent("val.npz"))
        let x = val["x"]!.tensor(), y = val["y"]!.tensor()
        let per = x.count / x.shape[0]
        let inputs = Tensor(shape: [samples] + x.shape.dropFirst(), scalars: Array(x.scalars.prefix(samples * per)))
        let labels = y.scalars.prefix(samples).map { Int64($0) }
        guard case .int8(let q) = try DeviceCompiler.prepare(graph, calibration: inputs, options: DeviceOptions()) else {
            throw PipelineError.internalError("not int8")
        }
        return (graph, q, try Dataset(inputs: inputs, targets: .classes(labels)))
    }

    @Test func topOneIsTheIntegerEnginesAccuracy() throws {
        let (graph, q, data) = try Self.lenet(samples: 200)
        let score = try DeviceWork.score(q, candidate: graph, original: graph, originalKey: "k", data: data, dataKey: "d",
                                         metric: MetricRef(.top1), threads: 1)
        // Independently: the engine's int8 outputs, argmax by hand.
        let out = try IntegerEngine(q).run(IntegerEngine(q).quantizeInput(data.inputs))
        guard case .classes(let labels) = data.targets else { return }
        var correct = 0
        for i in 0..<200 {
            let row = out.values[(i * 10)..<((i + 1) * 10)]
            if Int64(row.firstIndex(of: row.max()!)! - i * 10) == labels[i] { correct += 1 }
        }
        #expect(score.samples == 200)
        #expect(score.value == Double(correct) / 200)
    }

    @Test func commandMetricReceivesTheQDQModel() throws {
        let (graph, q, data) = try Self.lenet(samples: 20)
        // The evaluator counts the model's QuantizeLinear/DequantizeLinear nodes with onnx-free
        // means (grep on the protobuf bytes): a float model has none and makes grep fail.
        let metric = MetricRef(.command(CommandMetric(command: .shell("grep -c -a DequantizeLinear"), metric: nil, goal: .maximize,
                                                      workingDirectory: FileManager.default.temporaryDirectory)))
        let score = try DeviceWork.score(q, candidate: graph, original: graph, originalKey: "k", data: data, dataKey: "d",
                                         metric: metric, threads: 1)
        #expect(score.value >= 1)
    }
}

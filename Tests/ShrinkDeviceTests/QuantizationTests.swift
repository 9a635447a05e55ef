import Foundation
import ShrinkDevice
import ShrinkGraph
import ShrinkRuntime
import ShrinkTensor
import Testing

@Suite struct QuantizationTests {
    @Test func lenetInt8Accuracy() throws {
        let graph = try Graph.load(contentsOf: Paths.lenet.appendingPathComponent("model.onnx").path)
        let device = try DeviceGraph.lower(graph)
        print(device.layers.map { "\($0.name) \($0.op.kernel) \($0.inputs) -> \($0.output) \(device.shape(of: $0.output))" })
        let calib = try Dataset.load(npz: Paths.lenet.appendingPathComponent("calib.npz").path)
        let cal = try Calibration.run(model: graph, device: device, inputs: calib.inputs, method: .minMax)
        let q = try Quantizer.quantize(device, calibration: cal)
        let engine = IntegerEngine(q)
        let val = try Dataset.load(npz: Paths.lenet.appendingPathComponent("val.npz").path)
        let t0 = Date()
        let y = try engine.run(floats: val.inputs)
        print("engine", Date().timeIntervalSince(t0))
        guard case .classes(let labels) = val.targets else { return }
        print("acc", Metrics.top1Accuracy(logits: y, labels: labels))
    }
}

import Foundation
import ShrinkDevice
import ShrinkGraph
import ShrinkRuntime
import ShrinkTensor
import Testing

@Suite struct ScratchTests {
    @Test(arguments: ["lenet-mnist", "dscnn-mnist"]) func exportAndVerify(ex: String) throws {
        let graph = try Graph.load(contentsOf: Paths.root.appendingPathComponent("Examples/\(ex)/model.onnx").path)
        let calib = try Dataset.load(npz: Paths.lenet.appendingPathComponent("calib.npz").path)
        let val = try Dataset.load(npz: Paths.lenet.appendingPathComponent("val.npz").path)
        for int8 in [true, false] {
            let model = try DeviceCompiler.prepare(graph, calibration: calib.inputs, options: DeviceOptions(int8: int8))
            let lib = try CExporter.export(model)
            let work = URL(fileURLWithPath: "/tmp/wt-device-scratch/run-\(ex)-\(int8)")
            let runner = DeviceRunner(workDirectory: work)
            let t0 = Date()
            let v = try DeviceVerifier.verify(lib, model: model, reference: graph, inputs: val.inputs, target: .host, runner: runner)
            print(ex, int8, v, Date().timeIntervalSince(t0))
            let small = Tensor(shape: [8, 1, 28, 28], scalars: Array(val.inputs.scalars.prefix(8 * 784)))
            let t1 = Date()
            let vq = try DeviceVerifier.verify(lib, model: model, reference: graph, inputs: small, target: .qemu, runner: runner)
            print(ex, int8, "qemu", vq, Date().timeIntervalSince(t1))
            for d in DeviceProfile.all {
                let m = try runner.measure(lib, device: d)
                print(ex, int8, d.name, m, DeviceBudget.compute(model, device: d).flash, DeviceBudget.compute(model, device: d).ram)
            }
        }
    }
}

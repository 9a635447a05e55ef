import Foundation
import ShrinkDevice
import ShrinkGraph
import ShrinkRuntime
import ShrinkTensor
import Testing

@Suite struct ScratchTests {
    @Test(arguments: ["ops2d", "ops1d"]) func synthetic(name: String) throws {
        let graph = try Graph.load(contentsOf: Paths.fixtures.appendingPathComponent("\(name).onnx").path)
        let data = try NPZ.read(Paths.fixtures.appendingPathComponent("data.npz"))
        let key = name == "ops2d" ? "2d" : "1d"
        let calib = data["calib" + key]!.tensor(), test = data["test" + key]!.tensor()
        let dg = try DeviceGraph.lower(graph)
        print(dg.layers.map { "\($0.name) \($0.op.kernel) \($0.inputs) -> \($0.output) \(dg.shape(of: $0.output))" })
        for int8 in [true, false] {
            let model = try DeviceCompiler.prepare(graph, calibration: calib, options: DeviceOptions(int8: int8))
            let lib = try CExporter.export(model)
            let work = URL(fileURLWithPath: "/tmp/wt-device-scratch/run-\(name)-\(int8)")
            let runner = DeviceRunner(workDirectory: work)
            let v = try DeviceVerifier.verify(lib, model: model, reference: graph, inputs: test, target: .host, runner: runner)
            print(name, int8, v)
            let vq = try DeviceVerifier.verify(lib, model: model, reference: graph, inputs: test, target: .qemu, runner: runner)
            print(name, int8, "qemu", vq)
            for d in DeviceProfile.all {
                let m = try runner.measure(lib, device: d)
                print(name, int8, d.name, m, DeviceBudget.compute(model, device: d).flash, DeviceBudget.compute(model, device: d).ram)
            }
        }
    }
}

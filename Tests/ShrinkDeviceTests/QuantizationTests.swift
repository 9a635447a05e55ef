import Foundation
import ShrinkDevice
import ShrinkGraph
import ShrinkRuntime
import ShrinkTensor
import Testing

/// The int8 scheme, the integer engine's accuracy, and the engine against onnxruntime on the
/// QDQ model (fixtures from Tests/Fixtures/device/make_ort_fixtures.py).
@Suite struct QuantizationTests {
    @Test func schemeFollowsTFLite() throws {
        let q = try Example.dscnn.get().int8
        for l in q.layers {
            switch l.op {
            case .conv(let g, let w, let scales, let bias, let requant, _):
                // Symmetric per output channel, in [−127, 127], every channel using its full range.
                #expect(scales.count == g.outC && requant.count == g.outC && bias?.count == g.outC)
                #expect(w.allSatisfy { $0 >= -127 })
                let per = g.weightsPerOutput
                for m in 0..<g.outC where scales[m] != 1 {
                    #expect(w[(m * per)..<((m + 1) * per)].map { abs(Int($0)) }.max() == 127)
                }
                #expect(requant.allSatisfy { $0.multiplier >= 1 << 30 || $0.multiplier == 0 })
            case .fullyConnected(_, _, let w, _, _, let r, _):
                // Per tensor, as arm_fully_connected_s8 takes it.
                #expect(w.map { abs(Int($0)) }.max() == 127 && r.multiplier >= 1 << 30)
            case .averagePool:
                // Pools keep their input's quantisation (TFLite).
                #expect(q.quantization[l.output] == q.quantization[l.inputs[0]])
            default: break
            }
        }
        // ReLU outputs use the whole int8 range for [0, max]: zero point −128.
        #expect(q.quantization["/features/features.2/Relu_output_0"]?.zeroPoint == -128)
    }

    @Test(arguments: ["lenet-mnist", "dscnn-mnist"]) func int8AccuracyIsCloseToFloat(name: String) throws {
        let e = try Example.named(name)
        let labels = try #require(e.labels)
        let session = try Session(graph: e.graph, options: SessionOptions(threads: 1))
        let float = try #require(try session.run(inputs: ["input": e.test])["logits"])
        let int8 = try IntegerEngine(e.int8).run(floats: e.test, threads: 2)
        let a = Metrics.top1Accuracy(logits: float, labels: labels), b = Metrics.top1Accuracy(logits: int8, labels: labels)
        #expect(b >= a - 0.01, "float \(a), int8 \(b)")
        #expect(b >= 0.97)
    }

    @Test func percentileCalibrationClipsTheRange() throws {
        let e = try Example.lenet.get()
        let minmax = try Calibration.run(model: e.graph, device: e.float, inputs: e.calibration, method: .minMax)
        let pct = try Calibration.run(model: e.graph, device: e.float, inputs: e.calibration, method: .percentile(99.9))
        for name in Calibration.calibratedTensors(of: e.float) {
            let a = try #require(minmax.ranges[name]), b = try #require(pct.ranges[name])
            #expect(b.lo >= a.lo && b.hi <= a.hi)
        }
        #expect(pct.ranges["/Relu_2_output_0"]!.hi < minmax.ranges["/Relu_2_output_0"]!.hi)
        let q = try Quantizer.quantize(e.float, calibration: pct)
        #expect(q.notes.contains { $0.contains("percentile") })
        #expect(throws: DeviceError.self) {
            try Calibration.run(model: e.graph, device: e.float, inputs: e.calibration, method: .percentile(40))
        }
        #expect(throws: DeviceError.self) {
            try Calibration.run(model: e.graph, device: e.float, inputs: Tensor(zeros: [2, 3, 28, 28]), method: .minMax)
        }
    }

    /// onnxruntime's int8 tensors from `fixture`, keyed by device tensor name.
    func ortTensors(_ name: String) throws -> [String: NumPyArray] {
        var out = [String: NumPyArray]()
        for (k, v) in try NPZ.read(Paths.fixtures.appendingPathComponent("ort_\(name).npz")) {
            out[k.hasPrefix("node|") ? String(k.dropFirst(5)).replacingOccurrences(of: "|", with: "/") : k] = v
        }
        return out
    }

    func int8(_ a: NumPyArray) -> Int8Tensor {
        Int8Tensor(shape: a.shape, values: (a.integersIfIntegral() ?? []).map { Int8(clamping: $0) })
    }

    /// Each layer of the engine, fed onnxruntime's int8 input for that layer, gives onnxruntime's
    /// int8 output within one quantisation step (onnxruntime rounds half to even in float, the
    /// fixed-point requantisation of TFLite/CMSIS-NN does not).
    @Test(arguments: ["lenet-mnist", "dscnn-mnist"]) func eachNodeWithinOneStepOfOnnxRuntime(name: String) throws {
        let e = try Example.named(name)
        let ort = try ortTensors(name)
        let engine = IntegerEngine(e.int8)
        var report = [String]()
        // The input quantisation itself is QuantizeLinear on both sides.
        let x = try #require(ort[e.int8.input.name])
        let n = x.shape[0]
        #expect(engine.quantizeInput(e.head(n)).values == int8(x).values)
        for (k, l) in e.int8.layers.enumerated() {
            let inputs = try l.inputs.map { try #require(ort[$0], "no onnxruntime tensor '\($0)'") }.map(int8)
            let expected = int8(try #require(ort[l.output], "no onnxruntime tensor '\(l.output)'"))
            let got = engine.runLayer(k, inputs: inputs)
            #expect(got.shape == expected.shape)
            let diffs = zip(got.values, expected.values).map { abs(Int($0) - Int($1)) }
            let worst = diffs.max() ?? 0
            let off = diffs.filter { $0 != 0 }.count
            report.append("\(l.name): max \(worst), \(off)/\(diffs.count) differ")
            #expect(worst <= 1, "layer \(l.name): \(worst) steps from onnxruntime")
        }
        print("\(name) per node vs onnxruntime: " + report.joined(separator: "; "))
    }

    /// End to end on the held-out set: the largest difference and the fraction of differing
    /// output elements are reported; the top-1 class agrees on at least 99.9 % of the samples.
    @Test(arguments: ["lenet-mnist", "dscnn-mnist"]) func endToEndAgainstOnnxRuntime(name: String) throws {
        let e = try Example.named(name)
        let ort = int8(try #require(try ortTensors(name)["output"]))
        let ours = try IntegerEngine(e.int8).run(IntegerEngine(e.int8).quantizeInput(e.test), threads: 2)
        #expect(ours.shape == ort.shape)
        let diffs = zip(ours.values, ort.values).map { abs(Int($0) - Int($1)) }
        let fraction = Double(diffs.filter { $0 != 0 }.count) / Double(diffs.count)
        let a = argmaxRows(ours.values.map(Double.init), columns: 10), b = argmaxRows(ort.values.map(Double.init), columns: 10)
        let agreement = Double(zip(a, b).filter { $0 == $1 }.count) / Double(a.count)
        print(String(format: "%@ end to end vs onnxruntime: largest difference %d steps, %.2f %% of elements differ, top-1 agreement %.1f %%",
                     name, diffs.max() ?? 0, fraction * 100, agreement * 100))
        #expect(agreement >= 0.999)
    }

    /// The QDQ model is valid ONNX with the int8 model's parameters.
    @Test func qdqModelCarriesTheParameters() throws {
        let q = try Example.lenet.get().int8
        let g = QDQWriter.graph(q)
        let dir = scratchDirectory("qdq")
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent("m.onnx").path
        try g.save(to: path)
        let back = try Graph.load(contentsOf: path)
        #expect(back.opsetVersion() == 13)
        #expect(back.nodes.filter { $0.opType == "QuantizeLinear" }.count == q.layers.count + 1)
        #expect(back.initializers["conv2.weight_q"] == .int8(shape: [50, 20, 5, 5], values: {
            if case .conv(_, let w, _, _, _, _) = q.layers[2].op { return w } else { return [] }
        }()))
        #expect(back.outputs.map(\.name) == ["logits"] && back.dataInputs.map(\.name) == ["input"])
    }
}

import Foundation
import ShrinkDevice
import ShrinkGraph
import ShrinkRuntime
import ShrinkTensor
import Testing

/// PaddleOCR's text-orientation classifier (`ocr-cls-mobile-v2`, MobileNetV3-style: hard-swish
/// written as Add/Clip/Mul/Div, squeeze-excitation with HardSigmoid and a per-channel Mul,
/// biases as reshaped constants, a Shape→Concat→Reshape head, symbolic height and width) on the
/// device path. The model comes from scripts/fetch-models.sh (`make test` runs it).
@Suite struct RealModelDeviceTests {
    static var modelPath: String {
        (ProcessInfo.processInfo.environment["SHRINK_MODELS"]
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/shrink-models").path)
            + "/rapidocr-onnxruntime-1.4.4/ocr-cls-mobile-v2.onnx"
    }

    static func load() throws -> (Graph, Dataset) {
        guard FileManager.default.fileExists(atPath: modelPath) else {
            throw FixtureError(description: "\(modelPath) is missing: run scripts/fetch-models.sh")
        }
        return (try Graph.load(contentsOf: modelPath),
                try Dataset.load(npz: Paths.fixtures.appendingPathComponent("ocr-cls-lines.npz").path, targetKey: "y"))
    }

    /// The model, its lines and the int8 model quantised on them (min/max), once for the suite.
    static let prepared = Result { () throws -> (Graph, Dataset, QuantizedModel) in
        let (graph, lines) = try load()
        guard case .int8(let q) = try DeviceCompiler.prepare(graph, calibration: lines.inputs, options: DeviceOptions()) else {
            throw FixtureError(description: "not int8")
        }
        return (graph, lines, q)
    }

    /// Each layer of the engine on onnxruntime's int8 input for it gives onnxruntime's output on
    /// the QDQ model within one step (Tests/Fixtures/device/make_ort_fixtures.py, one line); end
    /// to end on the 24 lines the top-1 class agrees, and the differences are reported.
    @Test func withinOneStepOfOnnxRuntimePerNode() throws {
        let (_, lines, q) = try Self.prepared.get()
        var ort = [String: Int8Tensor]()
        for (k, v) in try NPZ.read(Paths.fixtures.appendingPathComponent("ort_ocr-cls-mobile-v2.npz")) {
            let name = k.hasPrefix("node|") ? String(k.dropFirst(5)).replacingOccurrences(of: "|", with: "/") : k
            ort[name] = Int8Tensor(shape: v.shape, values: (v.integersIfIntegral() ?? []).map { Int8(clamping: $0) })
        }
        let engine = IntegerEngine(q)
        let x = try #require(ort[q.input.name])
        #expect(engine.quantizeInput(Tensor(shape: [1, 3, 48, 192], scalars: Array(lines.inputs.scalars.prefix(3 * 48 * 192)))) == x)
        var worstAll = 0, differing = 0, total = 0
        for (k, l) in q.layers.enumerated() {
            let inputs = try l.inputs.map { try #require(ort[$0], "no onnxruntime tensor '\($0)'") }
            let expected = try #require(ort[l.output], "no onnxruntime tensor '\(l.output)'")
            let got = engine.runLayer(k, inputs: inputs)
            #expect(got.shape == expected.shape)
            let diffs = zip(got.values, expected.values).map { abs(Int($0) - Int($1)) }
            let worst = diffs.max() ?? 0
            #expect(worst <= 1, "layer \(l.name) (\(l.op.kernel)): \(worst) steps from onnxruntime")
            worstAll = max(worstAll, worst)
            differing += diffs.filter { $0 != 0 }.count
            total += diffs.count
        }
        let out = try #require(ort["output"])
        let ours = try engine.run(engine.quantizeInput(lines.inputs))
        let diffs = zip(ours.values, out.values).map { abs(Int($0) - Int($1)) }
        let a = argmaxRows(ours.values.map(Double.init), columns: 2), b = argmaxRows(out.values.map(Double.init), columns: 2)
        print("ocr-cls-mobile-v2 vs onnxruntime: per node max \(worstAll) step, \(differing)/\(total) int8 activations differ; "
              + "end to end largest \(diffs.max() ?? 0) steps, \(diffs.filter { $0 != 0 }.count)/\(diffs.count) outputs differ")
        #expect(a == b)
    }

    /// Lowers (every hard-swish and SE block to lookup and mul layers), quantises on the 24
    /// rendered lines, keeps the float model's decision on them, and its C library compiled by
    /// gcc gives exactly the engine's int8 outputs on the lines and on the committed regression
    /// input.
    @Test func ocrClassifierRunsOnTheDevicePath() throws {
        _ = try requiredToolchain()
        let (graph, lines, q) = try Self.prepared.get()
        let kinds = q.layers.map(\.op.kernel)
        #expect(kinds.filter { $0 == .lookup }.count == 18 + 9)   // 18 hard-swish, 9 hard-sigmoid
        #expect(kinds.filter { $0 == .mul }.count == 9)
        #expect(q.macs == 16_315_376)
        #expect(q.input.shape == [3, 48, 192] && q.output.shape == [2])

        // Top-1 of the int8 engine against the float original's (the labels).
        guard case .classes(let labels) = lines.targets else { Issue.record("no labels"); return }
        let logits = try IntegerEngine(q).run(floats: lines.inputs)
        let top = argmaxRows(logits.scalars.map(Double.init), columns: 2)
        let agree = zip(top, labels).filter { Int64($0) == $1 }.count
        #expect(agree >= 23, "int8 agrees with float on \(agree) of 24 lines")

        let regression = try NPZ.read(Paths.root.appendingPathComponent("Tests/Fixtures/real-models/ocr-cls-mobile-v2.npz"))
        let x = try #require(regression["x"]).tensor()
        let inputs = Tensor(shape: [25, 3, 48, 192], scalars: lines.inputs.scalars + x.scalars)
        let dir = scratchDirectory("ocr-cls")
        defer { try? FileManager.default.removeItem(at: dir) }
        let v = try DeviceVerifier.verify(try CExporter.export(.int8(q)), model: .int8(q), reference: graph, inputs: inputs,
                                          target: .host, runner: DeviceRunner(workDirectory: dir))
        #expect(v.samples == 25 && v.differing == 0 && v.floatEntryDiffering == 0, "\(v)")
    }

    /// The float32 library: softmax of its logits is the ONNX model's output saved by
    /// Tests/Fixtures/real-models/make_inputs.py (onnxruntime), within 1e-4.
    @Test func ocrClassifierFloatLibraryMatchesOnnxruntime() throws {
        _ = try requiredToolchain()
        let (graph, _) = try Self.load()
        let regression = try NPZ.read(Paths.root.appendingPathComponent("Tests/Fixtures/real-models/ocr-cls-mobile-v2.npz"))
        let x = try #require(regression["x"]).tensor()
        let expected = try #require(regression["out:save_infer_model/scale_0.tmp_1"]).tensor()
        let model = try DeviceCompiler.prepare(graph, calibration: nil, options: DeviceOptions(int8: false), sampleShape: [3, 48, 192])
        let dir = scratchDirectory("ocr-cls-float")
        defer { try? FileManager.default.removeItem(at: dir) }
        let logits = try DeviceRunner(workDirectory: dir).runHost(try CExporter.export(model), float: x).scalars
        let m = logits.max()!
        let e = logits.map { exp(Double($0 - m)) }
        let probs = e.map { $0 / e.reduce(0, +) }
        for (p, want) in zip(probs, expected.scalars) { #expect(abs(p - Double(want)) <= 1e-4, "\(probs) vs \(expected.scalars)") }
    }

    /// openWakeWord's embedding model (Keras through tf2onnx: an NHWC input reshaped to one
    /// channel, LeakyRelu followed by `Max(x, -0.4)`), calibrated on its three committed inputs:
    /// the host build equals the engine exactly, and the int8 embedding points where the float
    /// one (onnxruntime, committed) does — cosine ≥ 0.99 per sample.
    @Test func wakeWordEmbeddingRunsOnTheDevicePath() throws {
        _ = try requiredToolchain()
        let path = (ProcessInfo.processInfo.environment["SHRINK_MODELS"]
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/shrink-models").path)
            + "/openwakeword-0.5.1/oww-embedding.onnx"
        guard FileManager.default.fileExists(atPath: path) else {
            throw FixtureError(description: "\(path) is missing: run scripts/fetch-models.sh")
        }
        let graph = try Graph.load(contentsOf: path)
        let data = try NPZ.read(Paths.root.appendingPathComponent("Tests/Fixtures/real-models/oww-embedding.npz"))
        let x = try #require(data["input_1"]).tensor(), expected = try #require(data["out:conv2d_19"]).tensor()
        guard case .int8(let q) = try DeviceCompiler.prepare(graph, calibration: x, options: DeviceOptions()) else {
            Issue.record("not int8")
            return
        }
        #expect(q.layers.filter { $0.op.kernel == .lookup }.count == 19)
        let y = try IntegerEngine(q).run(floats: x)
        let per = expected.count / 3
        for n in 0..<3 {
            let a = y.scalars[(n * per)..<((n + 1) * per)].map(Double.init), b = expected.scalars[(n * per)..<((n + 1) * per)].map(Double.init)
            let dot = zip(a, b).map(*).reduce(0, +)
            let cos = dot / (a.map { $0 * $0 }.reduce(0, +).squareRoot() * b.map { $0 * $0 }.reduce(0, +).squareRoot())
            #expect(cos >= 0.99, "sample \(n): cosine \(cos)")
        }
        let dir = scratchDirectory("oww-embedding")
        defer { try? FileManager.default.removeItem(at: dir) }
        let v = try DeviceVerifier.verify(try CExporter.export(.int8(q)), model: .int8(q), reference: graph, inputs: x,
                                          target: .host, runner: DeviceRunner(workDirectory: dir))
        #expect(v.samples == 3 && v.differing == 0 && v.floatEntryDiffering == 0, "\(v)")
    }
}

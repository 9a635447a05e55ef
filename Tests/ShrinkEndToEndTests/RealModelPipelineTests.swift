import Foundation
import ShrinkTensor
import Testing

/// A pipeline with a label-free metric on a third-party model (PaddleOCR's text-orientation
/// classifier, fetched by scripts/fetch-models.sh), certified on a verify set the search never
/// saw, and its exported model re-measured in onnxruntime (the oracle environment the fetch
/// script installs): the figure the report gives is the figure onnxruntime measures.
@Suite struct RealModelPipelineTests {
    /// 24 rendered text lines (12 upright, 12 turned): the first half searches, the second verifies.
    static let lines = packageRoot.appendingPathComponent("Tests/Fixtures/device/ocr-cls-lines.npz")

    @Test func labelFreePipelineOnAThirdPartyModelMatchesOnnxruntime() throws {
        let model = try RealModelCommandTests.model("rapidocr-onnxruntime-1.4.4", "ocr-cls-mobile-v2")
        guard let oracle = Self.oracle() else { return }
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("shrink-realpipe-\(UUID().uuidString)")
        let fm = FileManager.default
        try fm.createDirectory(at: root.appendingPathComponent(".git"), withIntermediateDirectories: true)
        defer { try? fm.removeItem(at: root) }
        try fm.copyItem(at: URL(fileURLWithPath: model), to: root.appendingPathComponent("model.onnx"))
        // Labels are left out on purpose: `agreement` needs inputs only.
        let x = try #require(try NPZ.read(Self.lines)["x"])
        let half = x.shape[0] / 2
        func rows(_ range: Range<Int>) throws -> NumPyArray {
            var shape = x.shape
            shape[0] = range.count
            let per = x.count / x.shape[0] * x.dtype.itemSize
            return try NumPyArray(dtype: x.dtype, shape: shape, bytes: x.bytes[(x.bytes.startIndex + range.lowerBound * per)..<(x.bytes.startIndex + range.upperBound * per)])
        }
        try NPZ.write(["x": try rows(0..<half)], to: root.appendingPathComponent("search.npz"))
        try NPZ.write(["x": try rows(half..<x.shape[0])], to: root.appendingPathComponent("verify.npz"))
        // Fixed ranks (no search): the pointwise convolutions at three quarters of their rank, fitted
        // to activations (at half rank this binary classifier agrees on fewer than half the lines).
        let pipeline = """
        shrink: 1
        name: ocr-cls
        model: model.onnx
        data:
          search: search.npz
          verify: verify.npz
          calibration: search.npz
        metric: agreement
        accept: { max_drop: 0.25 }
        rules:
          - match: { op: Conv, kernel: 1x1, min_macs: 100000 }
            method: svd
            rank: 0.75
            fit: activations
        target: { device: cortex-m4 }
        export: { onnx: out/ocr-cls.onnx, report: out/ocr-cls.md }
        """
        try Data(pipeline.utf8).write(to: root.appendingPathComponent("pipeline.yaml"))
        let run = try Shrink.run(["run", "pipeline.yaml", "--json", "--jobs", "2"], cwd: root)
        #expect(run.status == 0, "\(run.stderr)")
        let target = try #require((run.json?["targets"] as? [[String: Any]])?.first, "\(run.stdout)")
        #expect(target["held_out"] as? Bool == true)
        #expect(target["verify_samples"] as? Int == x.shape[0] - half)
        #expect((target["macsReduction"] as? Double ?? 0) > 1.0)
        let reported = try #require(target["verify_metric"] as? Double)
        // The float32 library of a model declared [?, 3, ?, ?] is built at the data's shape, and
        // its computed flash agrees with arm-none-eabi-size.
        let device = try #require(target["device"] as? [String: Any], "\(run.stdout)")
        let flash = try #require(device["flash"] as? Int)
        let measured = try #require(device["measured"] as? [String: Any])
        let size = try #require(measured["text"] as? Int) + (try #require(measured["data"] as? Int))
        #expect(device["int8"] as? Bool == false && abs(Double(size - flash)) / Double(size) <= 0.05)

        let exported = root.appendingPathComponent("out/ocr-cls.onnx")
        #expect(fm.fileExists(atPath: exported.path))
        // The exported model is smaller than the input for these ranks (dead constants pruned).
        let sizes = try [model, exported.path].map { try fm.attributesOfItem(atPath: $0)[.size] as? Int ?? 0 }
        #expect(sizes[1] < sizes[0], "exported \(sizes[1]) B, original \(sizes[0]) B")

        let remeasured = try Self.remeasure(oracle, [model, exported.path, root.appendingPathComponent("verify.npz").path])
        let agreement = try #require(remeasured["agreement"] as? Double)
        let ties = remeasured["near_ties"] as? Int ?? 0
        let samples = Double(x.shape[0] - half)
        // Agreement is a count: equal, except one sample per recorded near-tie of the original.
        #expect(abs(agreement - reported) * samples <= Double(ties) + 1e-9,
                "onnxruntime \(agreement), Shrink reported \(reported), near ties \(ties)")
    }

    /// The oracle environment's Python (onnxruntime), recording an issue when it is missing.
    static func oracle() -> URL? {
        let oracle = URL(fileURLWithPath: RealModelCommandTests.cache).appendingPathComponent("oracle-venv/bin/python")
        guard FileManager.default.isExecutableFile(atPath: oracle.path) else {
            Issue.record("\(oracle.path) is missing: run scripts/fetch-models.sh (make test does)")
            return nil
        }
        return oracle
    }

    /// `remeasure.py` with `arguments` in the oracle environment: its JSON line.
    static func remeasure(_ oracle: URL, _ arguments: [String]) throws -> [String: Any] {
        let p = Process()
        p.executableURL = oracle
        p.arguments = [packageRoot.appendingPathComponent("Tests/Fixtures/real-models/remeasure.py").path] + arguments
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errors = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "\(errors)")
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any], "\(errors)")
    }

    /// A model with several data inputs — openwakeword's Silero VAD (PyTorch; LSTM, `If` on the
    /// sample rate): audio [N, 512] from `x`, the sample rate `sr` all samples share, LSTM states
    /// `h` and `c` [2, N, 64] with the samples on axis 1 — searched, certified and exported from
    /// files holding an array per input (speech chunks by espeak-ng, `make_vad_chunks.py`), its
    /// export re-measured in onnxruntime; a file without one of the inputs is exit 2 naming it.
    @Test func multiInputRecurrentModelPipelineMatchesOnnxruntime() throws {
        let model = try RealModelCommandTests.model("openwakeword-0.5.1", "oww-silero-vad")
        guard let oracle = Self.oracle() else { return }
        let fm = FileManager.default
        let root = fm.temporaryDirectory.appendingPathComponent("shrink-vadpipe-\(UUID().uuidString)")
        try fm.createDirectory(at: root.appendingPathComponent(".git"), withIntermediateDirectories: true)
        defer { try? fm.removeItem(at: root) }
        try fm.copyItem(at: URL(fileURLWithPath: model), to: root.appendingPathComponent("model.onnx"))
        let fixtures = packageRoot.appendingPathComponent("Tests/Fixtures/real-models")
        for part in ["search", "verify"] {
            try fm.copyItem(at: fixtures.appendingPathComponent("vad-chunks-\(part).npz"), to: root.appendingPathComponent("\(part).npz"))
        }
        let pipeline = """
        shrink: 1
        name: vad
        model: model.onnx
        data:
          search: search.npz
          verify: verify.npz
        metric: { relative_l2: { output: output } }
        accept: { max_drop: 0.2 }
        rules:
          - match: { op: Conv, kernel: 1, min_params: 2000 }
            method: svd
            rank: 0.5
        export: { onnx: out/vad.onnx, report: out/vad.md }
        """
        try Data(pipeline.utf8).write(to: root.appendingPathComponent("pipeline.yaml"))
        let run = try Shrink.run(["run", "pipeline.yaml", "--json", "--jobs", "2"], cwd: root)
        #expect(run.status == 0, "\(run.stderr)")
        let target = try #require((run.json?["targets"] as? [[String: Any]])?.first, "\(run.stdout)")
        #expect(target["held_out"] as? Bool == true)
        #expect(target["verify_samples"] as? Int == 32)
        #expect((target["macsReduction"] as? Double ?? 0) > 1.0)
        let reported = try #require(target["verify_metric"] as? Double)
        #expect(reported > 0, "half-rank layers change the output")
        let remeasured = try Self.remeasure(oracle, [model, root.appendingPathComponent("out/vad.onnx").path,
                                                     root.appendingPathComponent("verify.npz").path, "--relative-l2", "output"])
        let ort = try #require(remeasured["relative_l2"] as? Double)
        #expect(abs(ort - reported) <= 1e-4, "onnxruntime \(ort), Shrink reported \(reported)")

        // The verify file without `h`: the run names the file, the input and the fix.
        let arrays = try NPZ.read(fixtures.appendingPathComponent("vad-chunks-verify.npz"))
        try NPZ.write(arrays.filter { $0.key != "h" }, to: root.appendingPathComponent("verify.npz"))
        let bad = try Shrink.run(["run", "pipeline.yaml"], cwd: root)
        #expect(bad.status == 2, "\(bad.stderr)")
        #expect(bad.stderr.contains("verify.npz") && bad.stderr.contains("'h'") && bad.stderr.contains("add that array"), "\(bad.stderr)")
    }
}

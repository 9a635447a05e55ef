import Foundation
import ShrinkGraph
import ShrinkTensor
import Testing

/// A pipeline with `quantize: int8`, a Cortex-M4 target and `export: { c: DIR }`, end to end:
/// the run verifies its C library on QEMU itself (`target.verify: qemu`), and the test compiles the
/// exported folder independently with gcc and a harness of its own: the C model's accuracy on
/// every evaluation sample equals the report's int8 accuracy, and the report's baseline is the
/// float original's (`shrink eval`). Then a budget the model cannot meet fails the run.
@Suite(.serialized) struct DevicePipelineTests {
    static func pipeline(flash: String) -> String {
        """
        shrink: 1
        name: dev
        model: ../model/model.onnx
        data:
          search: ../model/search.npz
          verify: ../model/verify.npz
          calibration: ../model/calib.npz
        metric: top1
        accept: { max_drop: 0.05 }
        rules:
          - match: { name: conv2 }
            method: tucker2
            rank: [12, 6]
          - match: { name: fc1 }
            method: svd
            rank: 24
        quantize: { int8: { calibration: minmax } }
        target: { device: cortex-m4, flash: \(flash), ram: 16KiB, verify: qemu }
        search: { objective: flash }
        export:
          onnx: ../out/dev.onnx
          report: ../out/dev.md
          c: ../out/dev-c
        """
    }

    @Test func int8PipelineExportsACLibraryThatComputesTheReportedAccuracy() throws {
        let box = try Sandbox(pipeline: Self.pipeline(flash: "64KiB"), evalSamples: 300, calibration: true)
        defer { box.remove() }
        // The report's figures are the verify set's (held out from the search): 150 and 150.
        try Self.split(box.url("model/val.npz"), into: box.url("model/search.npz"), box.url("model/verify.npz"))
        let run = try box.run(["--jobs", "2"])
        #expect(run.status == 0, "\(run.stderr)")
        let target = try #require((run.json?["targets"] as? [[String: Any]])?.first)
        let device = try #require(target["device"] as? [String: Any])
        let flash = try #require(device["flash"] as? Int), ram = try #require(device["ram"] as? Int)
        #expect(flash <= 64 * 1024 && ram <= 16 * 1024)
        #expect(device["int8"] as? Bool == true && device["withinBudget"] as? Bool == true)
        // Computed against arm-none-eabi-size of the compiled library.
        let measured = try #require(device["measured"] as? [String: Any])
        let text = try #require(measured["text"] as? Int), data = try #require(measured["data"] as? Int)
        #expect(abs(Double(text + data - flash)) / Double(text + data) <= 0.05)
        // The run's own check on QEMU: 100 samples, exactly the engine's outputs.
        let verification = try #require(device["verification"] as? [String: Any])
        #expect(verification["target"] as? String == "qemu" && verification["samples"] as? Int == 100)
        #expect(verification["differing"] as? Int == 0)

        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: box.url("out/dev.json"))) as? [String: Any] ?? [:]
        let final = try #require(report["final"] as? Double), baseline = try #require(report["baseline"] as? Double)
        // The drop is measured from the float original: its accuracy as `shrink eval` measures it.
        let eval = try Shrink.run(["eval", "model/model.onnx", "--data", "model/verify.npz", "--json"], cwd: box.root)
        #expect(eval.json?["value"] as? Double == baseline)
        let deviceReport = try #require(report["device"] as? [String: Any])
        #expect(deviceReport["floatFinal"] is Double && deviceReport["int8Baseline"] is Double)
        #expect(try String(contentsOf: box.url("out/dev.md"), encoding: .utf8).contains("## Device (cortex-m4, int8 C library)"))

        // The exported ONNX model is the QDQ model.
        let qdq = try Graph.load(contentsOf: box.url("out/dev.onnx").path)
        #expect(qdq.nodes.contains { $0.opType == "QuantizeLinear" } && qdq.nodes.contains { $0.opType == "DequantizeLinear" })

        // The folder is Shrink's and holds the library; compiled with gcc and our own harness, its
        // float entry point classifies every sample as the report says.
        let folder = box.url("out/dev-c")
        let files = Set(try FileManager.default.contentsOfDirectory(atPath: folder.path))
        #expect(files == [".shrink-owned", "model.h", "model.c", "shrink_kernels.h", "shrink_kernels.c"])
        let (correct, samples) = try Self.hostAccuracy(library: folder, data: box.url("model/verify.npz"), work: box.url("harness"))
        #expect(samples == 150 && report["samples"] as? Int == samples)
        #expect(correct == Int((final * Double(samples)).rounded()), "C library: \(correct) of \(samples) right; report \(final)")

        // A flash budget the model cannot meet: the run fails (exit 1) and exports nothing.
        try box.write(Self.pipeline(flash: "8KiB"), to: "pipelines/p.yaml")
        let over = try box.run(["--jobs", "2"])
        #expect(over.status == 1, "\(over.stderr)")
        #expect(over.stderr.contains("does not fit the device (flash"))
        #expect(!FileManager.default.fileExists(atPath: box.url("out/dev.onnx").path))
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("model.c").path))
        #expect(try String(contentsOf: box.url("out/dev.md"), encoding: .utf8).contains("(EXCEEDED)"))
        // The lock records the failure, and `status --check` agrees with it (budgets included).
        #expect(try String(contentsOf: box.url("pipelines/p.lock"), encoding: .utf8).contains("passed: false"))
        let status = try Shrink.run(["status", "--check", "pipelines/p.yaml"], cwd: box.root)
        #expect(status.status == 0, "\(status.stdout)\(status.stderr)")
    }

    /// Correct top-1 answers of the C library's `shrink_model_run` on every sample of `data`, built with the
    /// host's gcc under `-std=c99 -Wall -Wextra -Werror` with a harness that reads raw floats.
    static func hostAccuracy(library: URL, data: URL, work: URL) throws -> (correct: Int, samples: Int) {
        let fm = FileManager.default
        try fm.createDirectory(at: work, withIntermediateDirectories: true)
        let arrays = try NPZ.read(data)
        let x = arrays["x"]!.tensor()
        let labels = arrays["y"]!.tensor().scalars.map { Int($0) }
        let n = x.shape[0]
        var bytes = Data()
        x.scalars.withUnsafeBufferPointer { bytes.append(Data(buffer: $0)) }
        try bytes.write(to: work.appendingPathComponent("x.bin"))
        let harness = """
            #include <stdio.h>
            #include "model.h"
            int main(void) {
                static float in[SHRINK_MODEL_INPUT_SIZE], out[SHRINK_MODEL_OUTPUT_SIZE];
                FILE *f = fopen("x.bin", "rb");
                if (!f) return 2;
                while (fread(in, sizeof(float), SHRINK_MODEL_INPUT_SIZE, f) == SHRINK_MODEL_INPUT_SIZE) {
                    if (shrink_model_run(in, out) != 0) return 3;
                    int best = 0;
                    for (int i = 1; i < SHRINK_MODEL_OUTPUT_SIZE; i++) if (out[i] > out[best]) best = i;
                    printf("%d\\n", best);
                }
                fclose(f);
                return 0;
            }
            """
        try Data(harness.utf8).write(to: work.appendingPathComponent("harness.c"))
        let sources = try fm.contentsOfDirectory(atPath: library.path).filter { $0.hasSuffix(".c") }.map { library.appendingPathComponent($0).path }
        let cc = try Shrink.tool("/usr/bin/gcc", ["-std=c99", "-Wall", "-Wextra", "-Werror", "-O1", "-I", library.path,
                                                  "-o", work.appendingPathComponent("harness").path, work.appendingPathComponent("harness.c").path]
                                    + sources, cwd: work)
        #expect(cc.status == 0, "\(cc.stderr)")
        let r = try Shrink.tool(work.appendingPathComponent("harness").path, [], cwd: work)
        #expect(r.status == 0)
        let predicted = r.stdout.split(separator: "\n").compactMap { Int($0) }
        #expect(predicted.count == n)
        return (zip(predicted, labels).filter { $0 == $1 }.count, predicted.count)
    }
}

extension Shrink {
    /// Runs any program (a compiler, a harness) and collects its output.
    static func tool(_ path: String, _ args: [String], cwd: URL) throws -> Outcome {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        p.currentDirectoryURL = cwd
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        return finish(p, out, err)
    }
}

extension DevicePipelineTests {
    /// Writes the first and the second half of the samples of `file` into two files.
    static func split(_ file: URL, into first: URL, _ second: URL) throws {
        let arrays = try NPZ.read(file)
        var a: [String: NumPyArray] = [:], b: [String: NumPyArray] = [:]
        for (name, array) in arrays {
            let n = array.shape[0], half = n / 2
            let per = array.count / n * array.dtype.itemSize
            func rows(_ range: Range<Int>) throws -> NumPyArray {
                var shape = array.shape
                shape[0] = range.count
                let start = array.bytes.startIndex
                return try NumPyArray(dtype: array.dtype, shape: shape,
                                      bytes: array.bytes[(start + range.lowerBound * per)..<(start + range.upperBound * per)])
            }
            a[name] = try rows(0..<half)
            b[name] = try rows(half..<n)
        }
        try NPZ.write(a, to: first)
        try NPZ.write(b, to: second)
    }
}

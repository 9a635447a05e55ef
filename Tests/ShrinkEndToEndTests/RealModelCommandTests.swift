import Foundation
import ShrinkGraph
import ShrinkRuntime
import ShrinkTensor
import Testing

/// The commands on third-party models (fetched by scripts/fetch-models.sh, which `make test`
/// runs) and on a model with operators the engine lacks.
@Suite struct RealModelCommandTests {
    static var cache: String {
        ProcessInfo.processInfo.environment["SHRINK_MODELS"]
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/shrink-models").path
    }

    /// The whole of stdout as one JSON object (inspect prints it over several lines).
    static func json(_ o: Shrink.Outcome) -> [String: Any]? {
        try? JSONSerialization.jsonObject(with: Data(o.stdout.utf8)) as? [String: Any]
    }

    static func model(_ package: String, _ name: String) throws -> String {
        let path = "\(cache)/\(package)/\(name).onnx"
        guard FileManager.default.fileExists(atPath: path) else {
            throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: path,
                                                        NSLocalizedDescriptionKey: "\(path) is missing: run scripts/fetch-models.sh"])
        }
        return path
    }

    /// silero's layers sit in an If on its `sr` input: with the data (sr = 16000 and the
    /// shapes), inspect lists them; without, it says where they are.
    @Test func inspectTakesShapesAndBranchesFromTheData() throws {
        let path = try Self.model("silero-vad-6.2.3", "silero-vad")
        let with = try Shrink.run(["inspect", path, "--data", "Tests/Fixtures/real-models/silero-vad.npz", "--json"],
                                  cwd: packageRoot)
        #expect(with.status == 0, "\(with.stderr)")
        #expect((Self.json(with)?["layers"] as? [Any])?.count == 6)
        #expect(Self.json(with)?["params"] as? Int == 309_635)
        let without = try Shrink.run(["inspect", path], cwd: packageRoot)
        #expect(without.status == 0, "\(without.stderr)")
        #expect(without.stdout.contains("12 Conv/Gemm/MatMul nodes inside the branches of If If_0 are not listed"), "\(without.stdout)")
    }

    /// A model with several inputs fits its layers to data and evaluates from one .npz: audio from
    /// `x`, `sr`, `h` and `c` from the arrays of their names (h and c with the samples on axis 1).
    @Test func decomposeAndEvalFeedEveryInputOfAMultiInputModel() throws {
        let path = try Self.model("openwakeword-0.5.1", "oww-silero-vad")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("shrink-vad-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = "Tests/Fixtures/real-models/vad-chunks-search.npz"
        let out = dir.appendingPathComponent("vad.onnx").path
        let r = try Shrink.run(["decompose", path, "--layer", "model.first_layer.0.proj=svd:8", "--fit", "activations",
                                "--data", data, "-o", out, "--json"], cwd: packageRoot)
        #expect(r.status == 0, "\(r.stderr)")
        #expect((Self.json(r)?["samples"] as? Int ?? 0) == 32, "\(r.stdout)")
        #expect(FileManager.default.fileExists(atPath: out))
        // mse against the original's outputs, written beside the inputs as targets.
        var arrays = try NPZ.read(packageRoot.appendingPathComponent(data))
        let session = try Session(graph: try Graph.load(contentsOf: path))
        let feeds = ["input": arrays["x"]!.tensor(), "sr": Tensor(shape: [], scalars: [16000]),
                     "h": arrays["h"]!.tensor(), "c": arrays["c"]!.tensor()]
        arrays["y"] = NumPyArray(try #require(try session.run(inputs: feeds)["output"]))
        let withTargets = dir.appendingPathComponent("vad-y.npz")
        try NPZ.write(arrays, to: withTargets)
        for (model, tiny) in [(path, true), (out, false)] {
            let e = try Shrink.run(["eval", model, "--data", withTargets.path, "--metric", "mse", "--json"], cwd: packageRoot)
            #expect(e.status == 0, "\(e.stderr)")
            let mse = try #require(Self.json(e)?["value"] as? Double, "\(e.stdout)")
            #expect(tiny ? mse < 1e-10 : mse > 1e-10, "\(model): mse \(mse)")
        }
    }

    /// A Paddle detector with dynamic height and width: --data gives the shape.
    @Test func dynamicSpatialSizesComeFromTheData() throws {
        let path = try Self.model("rapidocr-onnxruntime-1.4.4", "ocr-det-ppocrv4")
        let r = try Shrink.run(["inspect", path, "--data", "Tests/Fixtures/real-models/ocr-det-ppocrv4.npz", "--input-key", "x"],
                               cwd: packageRoot)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("62 layers; 83,849,664 MACs per sample; 1,168,936 layer params"), "\(r.stdout)")
    }

    /// A symbolic length that a 400-sample window does not fit when taken as 1: the hint's example
    /// is one that works, and pasting it makes inspect succeed.
    @Test func theInputShapeHintIsUsable() throws {
        let path = "Tests/Fixtures/onnx-bad/long_window_input.onnx"
        let bare = try Shrink.run(["inspect", path], cwd: packageRoot)
        #expect(bare.status == 2)
        let hint = try #require(bare.stderr.range(of: "--input-shape audio=").map { bare.stderr[$0.upperBound...] })
        let dims = String(hint.prefix { $0.isNumber || $0 == "x" })
        let length = try #require(dims.split(separator: "x").last.flatMap { Int($0) })
        #expect(length >= 400, "\(bare.stderr)")
        let pasted = try Shrink.run(["inspect", path, "--input-shape", "audio=\(dims)", "--json"], cwd: packageRoot)
        #expect(pasted.status == 0, "\(pasted.stderr)")
        let frames = (length - 400) / 160 + 1
        #expect((Self.json(pasted)?["layers"] as? [[String: Any]])?.first?["macs"] as? Int == 8 * 400 * frames)
    }

    /// Operators the engine lacks: inspect still costs the layer between them; infer names both.
    @Test func opsTheEngineLacksStillCostAndAreNamedTogether() throws {
        let path = "Tests/Fixtures/onnx-bad/unsupported_before_layer.onnx"
        let inspect = try Shrink.run(["inspect", path, "--input-shape", "X=1x4x7x9", "--json"], cwd: packageRoot)
        #expect(inspect.status == 0, "\(inspect.stderr)")
        #expect((Self.json(inspect)?["layers"] as? [[String: Any]])?.first?["macs"] as? Int == 5 * 7 * 9 * 4 * 9)
        let infer = try Shrink.run(["infer", path, "--input", "Tests/Fixtures/npy/bad/lenet_x.npy", "--output", "/tmp/unused.npz"],
                                   cwd: packageRoot)
        #expect(infer.status == 2)
        #expect(infer.stderr.contains("LpNormalization at norm; Sign at sign"), "\(infer.stderr)")
    }
}

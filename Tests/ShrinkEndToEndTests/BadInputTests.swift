import Foundation
import ShrinkGraph
import Testing

/// What the user sees for malformed data and models: exit 2 and one message naming the file,
/// the array and the first bad index (or the node) — never a crash, a silent 0 % or a 100 %
/// scored on NaN.
private let bad = "Tests/Fixtures/npy/bad/"
private let lenet = "Examples/lenet-mnist/model.onnx"

@Suite struct BadInputTests {
    /// Runs shrink in the repository root.
    func shrink(_ args: [String]) throws -> Shrink.Outcome { try Shrink.run(args, cwd: packageRoot) }

    /// Exit 2, nothing on stdout, and one `error:` line holding every fragment.
    func expectInvalidInput(_ o: Shrink.Outcome, _ fragments: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(o.status == 2, "\(o.stderr)", sourceLocation: sourceLocation)
        #expect(!o.killed, sourceLocation: sourceLocation)
        let errors = o.stderr.split(separator: "\n").filter { $0.hasPrefix("error: ") }
        #expect(errors.count == 1, "\(o.stderr)", sourceLocation: sourceLocation)
        for f in fragments { #expect(o.stderr.contains(f), "missing \(f) in \(o.stderr)", sourceLocation: sourceLocation) }
    }

    // MARK: item 2, non-finite numbers

    @Test(arguments: [
        ("nan_pixel.npz", ["nan_pixel.npz", "x[3, 0, 14, 7] is NaN"]),
        ("inf_pixel.npz", ["inf_pixel.npz", "x[5, 0, 2, 9] is -inf"]),
        ("float64_overflow.npz", ["float64_overflow.npz", "x[1, 0, 0, 3] is +inf after conversion to float32"]),
    ])
    func evalRefusesNonFiniteInputs(file: String, fragments: [String]) throws {
        expectInvalidInput(try shrink(["eval", lenet, "--data", bad + file]), fragments)
    }

    @Test func inferRefusesNonFiniteInputs() throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("infer-\(UUID()).npz").path
        expectInvalidInput(try shrink(["infer", lenet, "--input", bad + "nan_pixel_x.npy", "--output", out]),
                           ["nan_pixel_x.npy", "input[3, 0, 14, 7] is NaN"])
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    /// LeNet with one NaN in the last bias: before, it scored top-1 and top-5 of 100 %.
    @Test(arguments: ["top1", "top5"])
    func nanBiasScoresZeroWithAWarning(metric: String) throws {
        let model = try nanBiasModel()
        defer { try? FileManager.default.removeItem(atPath: model) }
        let o = try shrink(["eval", model, "--data", bad + "lenet_ok.npz", "--metric", metric, "--json"])
        #expect(o.status == 0, "\(o.stderr)")
        let json = try #require(o.json)
        #expect(json["value"] as? Double == 0)
        #expect(json["non_finite"] as? Int == 8)
        #expect(o.stderr.contains("warning: ") && o.stderr.contains("8 of 8 samples gave NaN or infinite outputs"))
    }

    @Test func pipelineRefusesAModelWithNaNOutputs() throws {
        let box = try Sandbox(pipeline: fixedPipeline, evalSamples: 20)
        defer { box.remove() }
        try FileManager.default.removeItem(at: box.url("model/model.onnx"))
        try FileManager.default.moveItem(atPath: try nanBiasModel(), toPath: box.url("model/model.onnx").path)
        let o = try box.run()
        #expect(o.status == 2, "\(o.stderr)")
        #expect(o.stderr.contains("error: ") && o.stderr.contains("val.npz: the original model gives NaN or infinite outputs on 10 of the 10 samples of its search part"))
        #expect(!FileManager.default.fileExists(atPath: box.url("out/e2e.onnx").path))
    }

    func nanBiasModel() throws -> String {
        var graph = try Graph.load(contentsOf: packageRoot.appendingPathComponent(lenet).path)
        var bias = try graph.floatInitializer("fc2.bias")
        bias.scalars[3] = .nan
        graph.setInitializer("fc2.bias", .float(bias))
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("nan-bias-\(UUID()).onnx").path
        try graph.save(to: path)
        return path
    }

    /// Before: NaN pixels made every output NaN, the search "passed" at rank 1 everywhere and the
    /// exported model was 10 % accurate.
    @Test(arguments: [
        ("nan_pixel.npz", "x[3, 0, 14, 7] is NaN"),
        ("label_12.npz", "y[5] is 12, but the model scores 10 classes"),
    ])
    func pipelineRefusesBadDataNamingTheUsersFile(fixture: String, fragment: String) throws {
        let box = try Sandbox(pipeline: fixedPipeline, evalSamples: 8)
        defer { box.remove() }
        try FileManager.default.removeItem(at: box.url("model/val.npz"))
        try FileManager.default.copyItem(at: packageRoot.appendingPathComponent(bad + fixture), to: box.url("model/val.npz"))
        let o = try box.run()
        #expect(o.status == 2, "\(o.stderr)")
        // At the pipeline's `data:` entry, naming the user's file, the array and the first bad index.
        #expect(o.stderr.contains("pipelines/p.yaml:5:9: error: data file `../model/val.npz`: \(fragment)"), "\(o.stderr)")
        #expect(!FileManager.default.fileExists(atPath: box.url("out/e2e.onnx").path))
    }

    // MARK: item 3, bad data used silently

    @Test(arguments: [
        (["--data", bad + "label_12.npz"], ["label_12.npz", "y[5] is 12", "10 classes"]),
        (["--data", bad + "label_negative.npz", "--metric", "top5"], ["label_negative.npz", "y[2] is -1"]),
        (["--data", bad + "lenet_x.npy", "--labels", bad + "label_12_y.npy"], ["label_12_y.npy", "targets[5] is 12"]),
        (["--data", bad + "crc_stored.npz"], ["crc_stored.npz", "member 'x.npy' fails its CRC-32 check"]),
        (["--data", bad + "bomb_header.npz"], ["bomb_header.npz", "member 'x.npy'", "zip directory declares 33554600 bytes"]),
        (["--data", bad + "bomb_directory.npz"], ["bomb_directory.npz", "member 'x.npy' inflates to more than the 168 bytes"]),
        (["--data", bad + "truncated_deflate.npz"], ["truncated_deflate.npz", "member 'x.npy' is truncated"]),
    ])
    func evalRefusesBadData(args: [String], fragments: [String]) throws {
        let started = Date()
        expectInvalidInput(try shrink(["eval", lenet] + args), fragments)
        #expect(Date().timeIntervalSince(started) < 10)
    }

    // MARK: item 4, traps on input

    @Test(arguments: [
        ["eval", lenet, "--data", bad + "overflow_shape.npy", "--labels", bad + "label_12_y.npy"],
        ["eval", lenet, "--data", bad + "overflow_shape.npz"],
        ["infer", lenet, "--input", bad + "overflow_shape_3d.npy", "--output", "/tmp/unused.npz"],
    ])
    func overflowingShapesAreErrorsNotTraps(args: [String]) throws {
        expectInvalidInput(try shrink(args), ["overflow_shape", "too large to address"])
    }

    /// A model whose `Add` has one input: before, `inspect` accepted it and `infer`/`eval` trapped (exit 132).
    @Test(arguments: [
        ["inspect"], ["infer", "--input", bad + "lenet_x.npy", "--output", "/tmp/unused.npz"],
        ["eval", "--data", bad + "lenet_ok.npz"],
    ])
    func malformedNodesAreRefusedByEveryCommand(command: [String]) throws {
        var graph = try Graph.load(contentsOf: packageRoot.appendingPathComponent(lenet).path)
        // Two bad nodes: both are named in one message.
        graph.nodes.append(Node(name: "lonely_add", opType: "Add", inputs: ["logits"], outputs: ["sum"]))
        graph.nodes.append(Node(name: "empty_relu", opType: "Relu", inputs: [], outputs: ["r"]))
        graph.outputs.append(ValueInfo(name: "sum", shape: nil))
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("arity-\(UUID()).onnx").path
        try graph.save(to: path)
        defer { try? FileManager.default.removeItem(atPath: path) }
        var args = command
        args.insert(path, at: 1)
        expectInvalidInput(try shrink(args), [path, "node lonely_add (Add) has 1 input; Add takes 2",
                                              "node empty_relu (Relu) has 0 inputs"])
    }
}

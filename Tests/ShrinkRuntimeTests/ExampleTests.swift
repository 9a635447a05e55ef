import Foundation
import ShrinkGraph
import ShrinkTensor
import Testing
@testable import ShrinkRuntime

/// The bundled LeNet example against onnxruntime's committed outputs.
@Suite struct LeNetExampleTests {
    static let models: [(file: String, referenceKey: String, accuracyKey: String)] = [
        ("model.onnx", "logits", "accuracy"),
        ("model_dynamo.onnx", "logits_dynamo", "accuracy_dynamo"),
    ]

    /// On every kernel path (forced; a path the CPU lacks runs as the best it has).
    @Test(arguments: models.map(\.file), KernelPath.allCases)
    func logitsAndAccuracyMatchOnnxruntime(file: String, path: KernelPath) throws {
        let entry = Self.models.first { $0.file == file }!
        let graph = try Graph.load(contentsOf: repoPath("Examples/lenet-mnist/\(file)"))
        let session = try Session(graph: graph, options: SessionOptions(kernels: path))
        let val = try npzTensors(repoPath("Examples/lenet-mnist/val.npz"))
        let ref = try npzTensors(repoPath("Examples/lenet-mnist/reference.npz"))
        let x = val["x"]!.tensor()
        let labels = val["y"]!.integersIfIntegral()!
        let out = try session.run(inputs: ["input": x])
        let logits = try #require(out["logits"])
        let expected = ref[entry.referenceKey]!.tensor()
        #expect(logits.shape == expected.shape)
        // Tolerance: |ours − ort| ≤ 1e-4 · max(1, |ort|) elementwise.
        #expect(worstRelativeError(logits.scalars, expected.scalars) <= 1e-4)
        let acc = Metrics.top1Accuracy(logits: logits, labels: labels)
        #expect(acc == ref[entry.accuracyKey]!.doubles()[0])
    }
}

/// The depthwise-separable example (unfused BatchNormalization, depthwise and pointwise convs)
/// and the VGG benchmark model against onnxruntime, on every kernel path.
@Suite struct OtherExampleTests {
    @Test(arguments: KernelPath.allCases)
    func dscnnMatchesOnnxruntime(path: KernelPath) throws {
        let session = try Session(graph: try Graph.load(contentsOf: repoPath("Examples/dscnn-mnist/model.onnx")),
                                  options: SessionOptions(kernels: path))
        let val = try npzTensors(repoPath("Examples/lenet-mnist/val.npz"))
        let ref = try npzTensors(repoPath("Examples/dscnn-mnist/reference.npz"))
        let logits = try #require(try session.run(inputs: ["input": val["x"]!.tensor()])["logits"])
        #expect(worstRelativeError(logits.scalars, ref["logits"]!.floats()) <= 1e-4)
        #expect(Metrics.top1Accuracy(logits: logits, labels: val["y"]!.integersIfIntegral()!) == ref["accuracy"]!.doubles()[0])
    }

    @Test(arguments: KernelPath.allCases)
    func vggMatchesOnnxruntime(path: KernelPath) throws {
        let session = try Session(graph: try Graph.load(contentsOf: repoPath("Examples/vgg-bench/model.onnx")),
                                  options: SessionOptions(kernels: path))
        let ref = try npzTensors(repoPath("Examples/vgg-bench/reference.npz"))
        let y = try #require(try session.run(inputs: ["input": ref["x"]!.tensor()])["logits"])
        #expect(worstRelativeError(y.scalars, ref["y"]!.floats()) <= 1e-4)
    }
}

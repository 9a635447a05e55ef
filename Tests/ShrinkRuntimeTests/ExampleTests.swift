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

    @Test(arguments: models.map(\.file))
    func logitsAndAccuracyMatchOnnxruntime(file: String) throws {
        let entry = Self.models.first { $0.file == file }!
        let graph = try Graph.load(contentsOf: repoPath("Examples/lenet-mnist/\(file)"))
        let session = try Session(graph: graph)
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

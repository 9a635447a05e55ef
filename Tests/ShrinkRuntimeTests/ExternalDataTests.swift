import Foundation
import ShrinkGraph
import ShrinkTensor
import Testing
@testable import ShrinkRuntime

/// Models whose tensors live in a data file beside them (ONNX external data), as PyTorch's default
/// exporter writes them: read in whole, run as onnxruntime runs them, and refused clearly when a
/// location leaves the model's folder, is missing or is too short (`Tests/Fixtures/external-data`,
/// made by its `make_external.py`).
@Suite struct ExternalDataTests {
    static let dir = "Tests/Fixtures/external-data/"

    /// The same model saved self-contained and with every initializer and Constant external:
    /// the same tensors (copied bytes, so equal exactly) and onnxruntime's outputs.
    @Test func externalTensorsAreReadIntoTheModel() throws {
        let inline = try Graph.load(contentsOf: repoPath("Examples/dscnn-mnist/model.onnx"))
        let external = try Graph.load(contentsOf: repoPath(Self.dir + "dscnn/model.onnx"))
        #expect(external.initializerNames == inline.initializerNames)
        #expect(!inline.initializerNames.isEmpty)
        for name in inline.initializerNames { #expect(external.initializers[name] == inline.initializers[name], "\(name)") }
        let constants = inline.nodes.filter { $0.opType == "Constant" }.compactMap { $0.outputs.first }
        for value in constants { #expect(external.constantValue(value) == inline.constantValue(value), "\(value)") }
        let ref = try npzTensors(repoPath(Self.dir + "dscnn/ort.npz"))
        let y = try #require(try Session(graph: external).run(inputs: ["input": ref["x"]!.tensor()])["logits"])
        #expect(worstRelativeError(y.scalars, ref["y"]!.floats()) <= 1e-4)
    }

    /// `torch.onnx.export(..., dynamo=True)` writes `kws.onnx` + `kws.onnx.data`.
    @Test func aPyTorchExportWithExternalDataMatchesOnnxruntime() throws {
        let graph = try Graph.load(contentsOf: repoPath(Self.dir + "torch/kws.onnx"))
        let ref = try npzTensors(repoPath(Self.dir + "torch/ort.npz"))
        let session = try Session(graph: graph)
        let out = try session.run(inputs: [graph.dataInputs[0].name: ref["x"]!.tensor()])
        let y = try #require(out[graph.outputs[0].name])
        #expect(y.shape == ref["y"]!.tensor().shape)
        #expect(worstRelativeError(y.scalars, ref["y"]!.floats()) <= 1e-4)
    }

    @Test func aLocationInsideTheFolderWithOffsetAndLengthIsRead() throws {
        let g = try Graph.load(contentsOf: repoPath(Self.dir + "hostile/ok.onnx"))
        #expect(try g.floatInitializer("w").scalars == (0..<12).map(Float.init))
    }

    /// Nothing outside the model's folder is read, and every problem names the tensor and the fix.
    @Test(arguments: [
        ("escape", "'../secret.bin', outside the model's folder"),
        ("absolute", "'/etc/passwd', outside the model's folder"),
        ("missing", "keeps its data in 'nowhere.bin', which cannot be read"),
        ("past_end", "reads bytes 16..<64 of 'weights.bin', which has 48"),
        ("bad_offset", "external data `offset` is '-4', not a byte count"),
    ])
    func unsafeOrBrokenLocationsAreRefused(file: String, fragment: String) throws {
        let path = repoPath(Self.dir + "hostile/\(file).onnx")
        do {
            _ = try Graph.load(contentsOf: path)
            Issue.record("\(file) loaded")
        } catch {
            #expect(error.description.contains("tensor 'w'") && error.description.contains(fragment), "\(error)")
            #expect(error.file == path)
        }
    }
}

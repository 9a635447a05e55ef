import Foundation
import ShrinkGraph
import Testing

/// A pipeline on a model that keeps its weights in an external data file (PyTorch's default
/// export): it runs, writes a self-contained model, is cached like any other, and its lock
/// goes stale when the data file changes (the file is part of the model).
@Suite(.serialized) struct ExternalDataPipelineTests {
    static let pipeline = """
    shrink: 1
    name: ext
    model: ../model/ext/model.onnx
    data:
      eval: ../model/val.npz
    metric: top1
    accept: { max_drop: 0.1 }
    rules:
      - match: { name: features.18 }
        method: svd
        rank: 32
    export:
      onnx: ../out/ext.onnx
    """

    @Test func aModelWithExternalDataRunsCachesAndLocks() throws {
        let box = try Sandbox(pipeline: Self.pipeline, evalSamples: 40)
        defer { box.remove() }
        let fixture = packageRoot.appendingPathComponent("Tests/Fixtures/external-data/dscnn")
        try FileManager.default.createDirectory(at: box.url("model/ext"), withIntermediateDirectories: true)
        for name in ["model.onnx", "model.onnx.data"] {
            try FileManager.default.copyItem(at: fixture.appendingPathComponent(name), to: box.url("model/ext/\(name)"))
        }
        let cold = try box.run()
        #expect(cold.status == 0, "\(cold.stderr)")
        // The export stands alone: no data file beside it, and its untouched layers are the original's.
        let exported = box.url("out/ext.onnx").path
        #expect(try Graph.externalDataFiles(ofModelAt: exported).isEmpty)
        let original = try Graph.load(contentsOf: box.url("model/ext/model.onnx").path)
        let written = try Graph.load(contentsOf: exported)
        #expect(written.initializers["features.12.weight"] == original.initializers["features.12.weight"])
        #expect(written.initializers["features.18.weight"] == nil, "features.18 was factorised")
        // Warm: nothing runs; the lock is current.
        #expect(try box.run().executed == 0)
        #expect(try Shrink.run(["status", "pipelines/p.yaml", "--check"], cwd: box.root).status == 0)
        // A different data file (one weight changed) is a different model: stale lock, reruns.
        let data = box.url("model/ext/model.onnx.data")
        var bytes = try Data(contentsOf: data)
        bytes[bytes.count / 2] ^= 0x40
        try bytes.write(to: data)
        let status = try Shrink.run(["status", "pipelines/p.yaml", "--check"], cwd: box.root)
        #expect(status.status == 4 && status.stdout.contains("model/ext/model.onnx.data changed"), "\(status.stdout)\(status.stderr)")
        #expect(try box.run().executed > 0)
        // A missing data file is named at the pipeline's `model:` entry.
        try FileManager.default.removeItem(at: data)
        let missing = try box.run()
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("pipelines/p.yaml:3:8: error: model `../model/ext/model.onnx`: tensor"), "\(missing.stderr)")
        #expect(missing.stderr.contains("model.onnx.data', which cannot be read"), "\(missing.stderr)")
    }
}

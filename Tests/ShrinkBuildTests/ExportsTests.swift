import Foundation
import Testing
@testable import ShrinkBuild

@Suite struct ExportsTests {
    @Test func exportRestoreAndEditDetection() throws {
        let scratch = try Scratch()
        let store = try Store(repositoryRoot: scratch.url)
        let exporter = Exporter(store: store)
        let model = try store.put(Data("onnx bytes".utf8))
        let target = scratch.file("out/model.onnx")

        let first = try exporter.export(model, to: target)
        #expect(first.action == .created)
        #expect(first.message(relativeTo: scratch.url) == "wrote out/model.onnx")
        #expect(try Data(contentsOf: target) == Data("onnx bytes".utf8))
        #expect(exporter.state(of: target, expected: model) == .upToDate)
        #expect(try exporter.export(model, to: target).action == .unchanged)

        try FileManager.default.removeItem(at: target)
        #expect(exporter.state(of: target, expected: model) == .missing)
        let restored = try exporter.export(model, to: target)
        #expect(restored.message(relativeTo: scratch.url) == "restored out/model.onnx from cache")

        try Data("hand edit".utf8).write(to: target)
        #expect(exporter.state(of: target, expected: model) == .modified(actual: Digest.of("hand edit")))
        let edited = try exporter.export(model, to: target)
        #expect(edited.action == .restored(edited: true))
        #expect(try Data(contentsOf: target) == Data("onnx bytes".utf8))

        // A new result replacing the old export is an update, not a restore.
        let newer = try store.put(Data("better onnx".utf8))
        #expect(try exporter.export(newer, to: target).action == .updated)
        #expect(try Digest.ofFile(at: target) == newer)
    }

    @Test func exportRefusesACorruptBlob() throws {
        let scratch = try Scratch()
        let warnings = Warnings()
        let store = try Store(repositoryRoot: scratch.url, warn: { warnings.add($0) })
        let model = try store.put(Data("onnx bytes".utf8))
        try Data("onnx bytez".utf8).write(to: store.objectURL(for: model))
        let fresh = try Store(repositoryRoot: scratch.url, warn: { warnings.add($0) })
        #expect(throws: StoreError.self) { try Exporter(store: fresh).export(model, to: scratch.file("out.onnx")) }
        #expect(!FileManager.default.fileExists(atPath: scratch.file("out.onnx").path))
        #expect(warnings.all.count == 1)
    }
}

import Foundation
import Testing
import ShrinkPipeline

/// Where a pipeline may write: inside the repository (symlinks resolved), outside `.git/` and
/// `.shrink/`, onto no input and no other output. The fixtures `invalid/bad-outputs.yaml` and
/// `invalid/bad-name.yaml` cover the plain cases; these need a file system of their own.
@Suite struct OutputPathTests {
    /// A repository with the fixture model and data and a pipeline exporting to `onnx`/`report`.
    func repository(onnx: String = "out/m.onnx", report: String = "out/m.md") throws -> TempDir {
        let dir = TempDir()
        try FileManager.default.createDirectory(at: dir.url.appendingPathComponent(".git"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: dir.url.appendingPathComponent("model"), withIntermediateDirectories: true)
        for name in ["model.onnx", "val.npz"] {
            try FileManager.default.copyItem(at: Fixtures.root.appendingPathComponent("assets/\(name)"),
                                             to: dir.url.appendingPathComponent("model/\(name)"))
        }
        try dir.write("pipelines/p.yaml", """
            shrink: 1
            name: p
            model: ../model/model.onnx
            data: { eval: ../model/val.npz }
            accept: { max_drop: 0.005 }
            rules:
              - method: svd
            export:
              onnx: \(onnx)
              report: \(report)
            """)
        return dir
    }

    func diagnostics(_ dir: TempDir) -> [String] {
        renderedDiagnostics(loading: dir.url.appendingPathComponent("pipelines/p.yaml"), relativeTo: dir.url)
    }

    @Test func outputsInsideTheRepositoryAreFine() throws {
        let dir = try repository(onnx: "../out/m.onnx", report: "../out/m.md")
        #expect(diagnostics(dir) == [])
    }

    @Test func aSymlinkLeadingOutOfTheRepositoryIsRefused() throws {
        let dir = try repository()
        let elsewhere = TempDir()
        try FileManager.default.createSymbolicLink(at: dir.url.appendingPathComponent("pipelines/out"), withDestinationURL: elsewhere.url)
        let lines = diagnostics(dir)
        let realElsewhere = URL(fileURLWithPath: elsewhere.url.path).resolvingSymlinksInPath().path
        #expect(lines.first == "pipelines/p.yaml:9:9: error: `export.onnx` (`out/m.onnx`) resolves through a symlink to `\(realElsewhere)/m.onnx` outside the repository; Shrink writes only inside it",
                "\(lines)")
        #expect(lines.contains { $0.hasPrefix("pipelines/p.yaml:10:11: error: `export.report` (`out/m.md`) resolves through a symlink") })
    }

    @Test func aSymlinkOntoTheModelIsRefused() throws {
        let dir = try repository(onnx: "../out/m.onnx")
        try FileManager.default.createDirectory(at: dir.url.appendingPathComponent("out"), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(at: dir.url.appendingPathComponent("out/m.onnx"),
                                                   withDestinationURL: dir.url.appendingPathComponent("model/model.onnx"))
        // (The path shown is where the link leads: paths are resolved as the pipeline is read.)
        let lines = diagnostics(dir)
        #expect(lines.count == 1)
        #expect(lines.first?.hasPrefix("pipelines/p.yaml:9:9: error: `export.onnx` (`") == true, "\(lines)")
        #expect(lines.first?.hasSuffix("would overwrite the model `../model/model.onnx`, an input of the run") == true, "\(lines)")
    }

    @Test func aFolderInTheWayIsRefused() throws {
        let dir = try repository()
        try FileManager.default.createDirectory(at: dir.url.appendingPathComponent("pipelines/out/m.md"), withIntermediateDirectories: true)
        #expect(diagnostics(dir) == ["pipelines/p.yaml:10:11: error: `export.report` (`out/m.md`) is a folder"])
    }

    @Test func withoutARepositoryThePipelinesFolderIsTheBoundary() throws {
        let dir = try repository(onnx: "../out/m.onnx")
        try FileManager.default.removeItem(at: dir.url.appendingPathComponent(".git"))
        let lines = diagnostics(dir)
        #expect(lines.first?.hasPrefix("pipelines/p.yaml:9:9: error: `export.onnx` (`") == true, "\(lines)")
        #expect(lines.first?.hasSuffix("/out/m.onnx`) resolves outside the pipeline's folder; Shrink writes only inside it") == true, "\(lines)")
    }
}

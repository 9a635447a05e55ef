import Foundation
import ShrinkPipeline

/// Where the pipeline fixtures live, found from this source file so tests run from any folder.
enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/pipelines", isDirectory: true)
    static let valid = root.appendingPathComponent("valid", isDirectory: true)
    static let invalid = root.appendingPathComponent("invalid", isDirectory: true)

    /// File names (`x.yaml`) directly in a fixture folder, sorted.
    static func yamlFiles(in folder: URL) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.filter { $0.hasSuffix(".yaml") }.sorted()
    }

    /// A loader whose git cache is a fresh temporary folder.
    static func loader() -> PipelineLoader {
        PipelineLoader(gitCache: TempDir().url.appendingPathComponent("recipes"))
    }
}

/// A temporary folder removed when the value is released.
final class TempDir: @unchecked Sendable {
    let url: URL

    init() {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("shrink-pipeline-tests-\(UUID().uuidString)",
                                                                            isDirectory: true)
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    /// Writes `text` to `path` (relative), creating folders; returns the file's URL.
    @discardableResult
    func write(_ path: String, _ text: String) throws -> URL {
        let file = url.appendingPathComponent(path)
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: file)
        return file
    }

    /// Runs git in this folder (or `sub`), returning trimmed stdout.
    @discardableResult
    func git(_ arguments: String..., in sub: String? = nil) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        let folder = sub.map { url.appendingPathComponent($0) } ?? url
        process.arguments = ["git", "-C", folder.path, "-c", "user.name=t", "-c", "user.email=t@example.com"] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw NSError(domain: "git", code: Int(process.terminationStatus),
                          userInfo: [NSLocalizedDescriptionKey: "git \(arguments.joined(separator: " ")) failed"])
        }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// The diagnostics of loading `file`, rendered relative to `base`; empty when it loads cleanly
/// with no warnings.
func renderedDiagnostics(loading file: URL, relativeTo base: URL, loader: PipelineLoader = Fixtures.loader()) -> [String] {
    do {
        let loaded = try loader.load(file: file)
        return loaded.diagnostics.formatted(relativeTo: base).split(separator: "\n").map(String.init)
    } catch {
        return error.formatted(relativeTo: base).split(separator: "\n").map(String.init)
    }
}

/// Layers of a LeNet-like model, for matching tests.
let lenetLayers: [LayerDescription] = [
    LayerDescription(name: "conv1", op: "Conv", kernel: [5, 5], params: 150, macs: 117_600),
    LayerDescription(name: "conv2", op: "Conv", kernel: [5, 5], params: 2_400, macs: 240_000),
    LayerDescription(name: "conv3", op: "Conv", kernel: [3, 3], params: 4_608, macs: 100_000),
    LayerDescription(name: "pw1", op: "Conv", kernel: [1, 1], params: 1_024, macs: 50_000),
    LayerDescription(name: "fc1", op: "Gemm", kernel: nil, params: 48_000, macs: 48_000),
    LayerDescription(name: "fc2", op: "Gemm", kernel: nil, params: 840, macs: 840),
]

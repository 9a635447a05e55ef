import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension Graph {
    /// Loads an ONNX model file, with any tensors it keeps in external data files beside it read
    /// in. Errors name `path` as given and say how to fix the file.
    public static func load(contentsOf path: String) throws(GraphError) -> Graph {
        var model = try readModelProto(path)
        if model.usesExternalData {
            try model.internalizeExternalData(directory: URL(fileURLWithPath: path).deletingLastPathComponent(), file: path)
        }
        return try Graph(model: model, file: path)
    }

    /// The file's protobuf message, after the checks that give a plain message for the usual
    /// mistakes (a folder, an empty file, a Git LFS pointer).
    static func readModelProto(_ path: String) throws(GraphError) -> Onnx_ModelProto {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw GraphError(.unreadable, "no such file", file: path)
        }
        guard !isDirectory.boolValue else {
            throw GraphError(.unreadable, "is a directory, expected an .onnx file", file: path)
        }
        let data: Data
        do {
            // Mapped, so a large model is paged in by the decoder rather than copied up front.
            data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        } catch {
            throw GraphError(.unreadable, "cannot read the file (\(error.localizedDescription))", file: path)
        }
        if data.isEmpty {
            throw GraphError(.invalidModel, "not a valid ONNX model (the file is empty)", file: path)
        }
        if data.starts(with: Data("version https://git-lfs".utf8)) {
            throw GraphError(.invalidModel, "not a valid ONNX model (it is a Git LFS pointer)", file: path,
                             hint: "run `git lfs pull` to fetch the real file")
        }
        return try Graph.parseModelProto(data, file: path)
    }

    /// Writes the model to `path` atomically: a temporary file in the same folder, renamed over
    /// the destination, so readers never see a half-written model.
    public func save(to path: String) throws(GraphError) {
        let data: Data
        do { data = try serializedData() } catch { throw error.inFile(path) }
        try Graph.writeAtomically(data, to: path)
    }

    static func writeAtomically(_ data: Data, to path: String) throws(GraphError) {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent()
        let tmp = dir.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        do {
            try data.write(to: tmp)
        } catch {
            throw GraphError(.writeFailed, "cannot write the model (\(error.localizedDescription))", file: path)
        }
        if rename(tmp.path, url.path) != 0 {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: tmp)
            throw GraphError(.writeFailed, "cannot write the model (\(reason))", file: path)
        }
    }
}

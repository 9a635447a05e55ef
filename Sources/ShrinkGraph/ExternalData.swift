import Foundation

// ONNX external data (https://onnx.ai/onnx/repo-docs/ExternalData.html): a tensor whose
// `data_location` is EXTERNAL keeps its bytes in a file next to the model, named by the
// `location` entry of `external_data`, at `offset` (default 0) for `length` bytes (default: to the
// end). PyTorch's exporter (`torch.onnx.export(..., dynamo=True)`, the default since 2.9) writes
// models this way (`model.onnx` + `model.onnx.data`). Shrink reads such a model by moving the bytes
// into the tensors, so everything after loading — stages, the cache, exports — sees one
// self-contained model.

extension Onnx_ModelProto {
    /// Whether any tensor of the model (initializers, `Constant` values, subgraphs, functions)
    /// keeps its data in an external file.
    var usesExternalData: Bool {
        graph.containsTensor(where: \.isExternal) || functions.contains { $0.node.contains { $0.containsTensor(where: \.isExternal) } }
    }

    /// Reads every external tensor's bytes from the files beside the model (`directory`) into its
    /// `raw_data`. A location must be a relative path inside `directory` (as onnx's checker
    /// requires): an absolute path or one that climbs out with `..` is refused, as are missing
    /// files and ranges past a file's end. `file` names the model in messages.
    mutating func internalizeExternalData(directory: URL, file: String) throws(GraphError) {
        var files: [String: Data] = [:]
        var failure: GraphError?
        let root = directory.standardizedFileURL.resolvingSymlinksInPath().path
        visitTensors { t in
            guard failure == nil, t.isExternal else { return }
            do throws(GraphError) {
                t.rawData = try Self.externalBytes(of: t, root: root, files: &files, file: file)
                t.externalData = []
                t.dataLocation = .default
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
    }

    private static func externalBytes(of t: Onnx_TensorProto, root: String, files: inout [String: Data],
                                      file: String) throws(GraphError) -> Data {
        let what = "tensor '\(t.name)'"
        var entries: [String: String] = [:]
        for e in t.externalData { entries[e.key] = e.value }
        guard let location = entries["location"], !location.isEmpty else {
            throw GraphError(.invalidModel, "\(what) is marked external but names no `location`", file: file)
        }
        guard !location.hasPrefix("/"), !location.split(separator: "/").contains("..") else {
            throw GraphError(.invalidModel, "\(what) keeps its data at '\(location)', outside the model's folder", file: file,
                             hint: "external data must be a relative path beside the model (onnx.save_model(..., location='model.onnx.data'))")
        }
        let url = URL(fileURLWithPath: root).appendingPathComponent(location).resolvingSymlinksInPath()
        guard url.path.hasPrefix(root + "/") else {
            throw GraphError(.invalidModel, "\(what) keeps its data at '\(location)', which leads outside the model's folder", file: file)
        }
        let data: Data
        if let cached = files[location] {
            data = cached
        } else {
            do {
                data = try Data(contentsOf: url, options: .alwaysMapped)
            } catch {
                throw GraphError(.unreadable, "\(what) keeps its data in '\(location)', which cannot be read (\(error.localizedDescription))",
                                 file: file, hint: "copy the data file that was saved with the model next to it")
            }
            files[location] = data
        }
        func number(_ key: String) throws(GraphError) -> Int? {
            guard let text = entries[key] else { return nil }
            guard let n = Int(text), n >= 0 else {
                throw GraphError(.invalidModel, "\(what): external data `\(key)` is '\(text)', not a byte count", file: file)
            }
            return n
        }
        let offset = try number("offset") ?? 0
        let length = try number("length") ?? max(0, data.count - offset)
        guard offset <= data.count, length <= data.count - offset else {
            throw GraphError(.invalidModel, "\(what) reads bytes \(offset)..<\(offset + length) of '\(location)', which has \(data.count)",
                             file: file, hint: "the data file does not belong to this model, or is truncated")
        }
        return data.subdata(in: data.startIndex + offset ..< data.startIndex + offset + length)
    }

    /// Calls `body` on every tensor the model holds, wherever it is nested.
    mutating func visitTensors(_ body: (inout Onnx_TensorProto) -> Void) {
        graph.visitTensors(body)
        for f in functions.indices {
            for n in functions[f].node.indices { functions[f].node[n].visitTensors(body) }
        }
    }
}

extension Onnx_TensorProto {
    /// Whether the tensor's bytes are in an external file.
    var isExternal: Bool { dataLocation == .external || !externalData.isEmpty }
}

extension Onnx_GraphProto {
    func containsTensor(where test: (Onnx_TensorProto) -> Bool) -> Bool {
        initializer.contains(where: test) || sparseInitializer.contains { test($0.values) || test($0.indices) }
            || node.contains { $0.containsTensor(where: test) }
    }

    mutating func visitTensors(_ body: (inout Onnx_TensorProto) -> Void) {
        for i in initializer.indices { body(&initializer[i]) }
        for i in sparseInitializer.indices {
            body(&sparseInitializer[i].values)
            body(&sparseInitializer[i].indices)
        }
        for n in node.indices { node[n].visitTensors(body) }
    }
}

extension Onnx_NodeProto {
    func containsTensor(where test: (Onnx_TensorProto) -> Bool) -> Bool {
        attribute.contains { a in
            (a.hasT && test(a.t)) || a.tensors.contains(where: test) || (a.hasG && a.g.containsTensor(where: test))
                || a.graphs.contains { $0.containsTensor(where: test) }
        }
    }

    mutating func visitTensors(_ body: (inout Onnx_TensorProto) -> Void) {
        for a in attribute.indices {
            if attribute[a].hasT { body(&attribute[a].t) }
            for i in attribute[a].tensors.indices { body(&attribute[a].tensors[i]) }
            if attribute[a].hasG { attribute[a].g.visitTensors(body) }
            for i in attribute[a].graphs.indices { attribute[a].graphs[i].visitTensors(body) }
        }
    }
}

extension Graph {
    /// The distinct external data files the model at `path` names (resolved beside it, in the
    /// order first named); empty for a self-contained model. Reads the model, not the data.
    public static func externalDataFiles(ofModelAt path: String) throws(GraphError) -> [URL] {
        var model = try readModelProto(path)
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        var names: [String] = []
        model.visitTensors { t in
            guard t.isExternal, let location = t.externalData.first(where: { $0.key == "location" })?.value,
                  !names.contains(location) else { return }
            names.append(location)
        }
        return names.map { directory.appendingPathComponent($0) }
    }

    /// The model at `path` as one self-contained ONNX file's bytes when it keeps tensors in
    /// external data files; nil when it is self-contained already (read it as it is).
    public static func selfContainedData(ofModelAt path: String) throws(GraphError) -> Data? {
        var model = try readModelProto(path)
        guard model.usesExternalData else { return nil }
        try model.internalizeExternalData(directory: URL(fileURLWithPath: path).deletingLastPathComponent(), file: path)
        do {
            return try model.serializedBytes()
        } catch {
            throw GraphError(.writeFailed, "cannot serialize the model with its external data inside (\(error))", file: path)
        }
    }
}

import Foundation
import ShrinkTensor
import SwiftProtobuf

// Conversion between the protobuf messages and the IR.
//
// Every IR entity keeps the message it came from with the modelled fields cleared (its
// "template"); writing fills the modelled fields back in. Fields Shrink never looks at — doc
// strings, metadata, unknown fields of newer ONNX versions — therefore survive untouched, and an
// unedited model is written back byte for byte in the usual case.

#if _endian(big)
#error("ShrinkGraph reads ONNX raw_data (little-endian) by memory copy; big-endian hosts are not supported")
#endif

/// An initializer's message without its data; `hasRawData` records whether the data was in
/// `raw_data` (written back the same way).
typealias TensorTemplate = Onnx_TensorProto

enum TensorCodec {
    /// Decodes `p`; `what` names it in messages ("initializer 'conv1.weight'").
    static func decode(_ p: Onnx_TensorProto, what: String) throws(GraphError) -> (TensorValue, TensorTemplate) {
        if p.dataLocation == .external || !p.externalData.isEmpty {
            // `Graph.load(contentsOf:)` reads external data in before decoding; bytes alone cannot.
            throw GraphError(.unsupported, "\(what) keeps its data in an external file, which only loading the model from its file can read",
                             hint: "load the model with its path (the data file beside it), or save it with its data inside (onnx.save_model(model, path, save_as_external_data=False))")
        }
        if p.hasSegment {
            throw GraphError(.unsupported, "\(what) is a segmented tensor, which Shrink does not read")
        }
        var shape: [Int] = []
        var count = 1
        for d in p.dims {
            guard d >= 0, d <= Int64(Int32.max) else {
                throw GraphError(.invalidModel, "\(what) has an invalid dimension \(d)")
            }
            shape.append(Int(d))
            let (c, overflow) = count.multipliedReportingOverflow(by: Int(d))
            guard !overflow, c <= Int(Int32.max) * 16 else {
                throw GraphError(.invalidModel, "\(what) has an impossible size \(p.dims)")
            }
            count = c
        }
        let type = ElementType(rawValue: p.dataType)
        let raw = p.hasRawData
        func check(_ n: Int, _ field: String) throws(GraphError) {
            guard n == count else {
                throw GraphError(.invalidModel,
                                 "\(what) has shape \(shape) (\(count) elements) but \(n) values in \(field)")
            }
        }
        func fromRaw<T: BitwiseCopyable>(_: T.Type) throws(GraphError) -> [T] {
            let size = MemoryLayout<T>.stride
            guard p.rawData.count == count * size else {
                throw GraphError(.invalidModel,
                                 "\(what) has shape \(shape) (\(count) × \(size) bytes) but \(p.rawData.count) bytes of raw data")
            }
            return [T](unsafeUninitializedCapacity: count) { buf, n in
                _ = p.rawData.copyBytes(to: buf)
                n = count
            }
        }
        let value: TensorValue
        switch type {
        case .float:
            let v: [Float]
            if raw { v = try fromRaw(Float.self) } else { try check(p.floatData.count, "float_data"); v = p.floatData }
            value = .float(Tensor(shape: shape, scalars: v))
        case .double:
            let v: [Double]
            if raw { v = try fromRaw(Double.self) } else { try check(p.doubleData.count, "double_data"); v = p.doubleData }
            value = .double(shape: shape, values: v)
        case .int64:
            let v: [Int64]
            if raw { v = try fromRaw(Int64.self) } else { try check(p.int64Data.count, "int64_data"); v = p.int64Data }
            value = .int64(shape: shape, values: v)
        case .int32:
            let v: [Int32]
            if raw { v = try fromRaw(Int32.self) } else { try check(p.int32Data.count, "int32_data"); v = p.int32Data }
            value = .int32(shape: shape, values: v)
        case .int8:
            let v: [Int8]
            if raw { v = try fromRaw(Int8.self) } else {
                try check(p.int32Data.count, "int32_data")
                v = p.int32Data.map { Int8(truncatingIfNeeded: $0) }
            }
            value = .int8(shape: shape, values: v)
        case .uint8:
            let v: [UInt8]
            if raw { v = try fromRaw(UInt8.self) } else {
                try check(p.int32Data.count, "int32_data")
                v = p.int32Data.map { UInt8(truncatingIfNeeded: $0) }
            }
            value = .uint8(shape: shape, values: v)
        case .bool:
            let v: [Bool]
            if raw { v = try fromRaw(UInt8.self).map { $0 != 0 } } else {
                try check(p.int32Data.count, "int32_data")
                v = p.int32Data.map { $0 != 0 }
            }
            value = .bool(shape: shape, values: v)
        case .undefined:
            throw GraphError(.invalidModel, "\(what) has no element type")
        default:
            return (.opaque(OpaqueTensor(elementType: type, shape: shape, proto: p)), p)
        }
        var t = p
        t.dims = []
        t.clearDataType()
        t.floatData = []
        t.doubleData = []
        t.int32Data = []
        t.int64Data = []
        t.uint64Data = []
        t.stringData = []
        if raw { t.rawData = Data() } else { t.clearRawData() }
        return (value, t)
    }

    /// Encodes `v` named `name`, in the storage layout and with the metadata of `template`
    /// (raw_data for new tensors).
    static func encode(_ v: TensorValue, name: String?, template: TensorTemplate?) -> Onnx_TensorProto {
        if case .opaque(let o) = v {
            var p = o.proto
            if let name { p.name = name }
            return p
        }
        var p = template ?? Onnx_TensorProto()
        let raw = template?.hasRawData ?? true
        if let name { p.name = name }
        p.dims = v.shape.map(Int64.init)
        p.dataType = v.elementType.rawValue
        p.floatData = []
        p.doubleData = []
        p.int32Data = []
        p.int64Data = []
        func rawBytes<T: BitwiseCopyable>(_ a: [T]) -> Data { a.withUnsafeBytes { Data($0) } }
        switch v {
        case .float(let t): if raw { p.rawData = rawBytes(t.scalars) } else { p.floatData = t.scalars }
        case .double(_, let a): if raw { p.rawData = rawBytes(a) } else { p.doubleData = a }
        case .int64(_, let a): if raw { p.rawData = rawBytes(a) } else { p.int64Data = a }
        case .int32(_, let a): if raw { p.rawData = rawBytes(a) } else { p.int32Data = a }
        case .int8(_, let a): if raw { p.rawData = rawBytes(a) } else { p.int32Data = a.map(Int32.init) }
        case .uint8(_, let a): if raw { p.rawData = rawBytes(a) } else { p.int32Data = a.map(Int32.init) }
        case .bool(_, let a):
            if raw { p.rawData = Data(a.map { $0 ? 1 : 0 }) } else { p.int32Data = a.map { $0 ? 1 : 0 } }
        case .opaque: break
        }
        if !raw { p.clearRawData() }
        return p
    }
}

extension Attribute {
    init(proto a: Onnx_AttributeProto, node: String, opsets: [Onnx_OperatorSetIdProto] = [],
         irVersion: Int64 = 8) throws(GraphError) {
        var type = a.type
        if type == .undefined {
            // Very old exporters leave `type` unset; the populated field tells.
            if a.hasF { type = .float } else if a.hasI { type = .int } else if a.hasS { type = .string }
            else if a.hasT { type = .tensor } else if !a.floats.isEmpty { type = .floats }
            else if !a.ints.isEmpty { type = .ints } else if !a.strings.isEmpty { type = .strings }
            else if a.hasG || !a.graphs.isEmpty { type = .graph }
        }
        var template = a
        let value: AttributeValue
        switch type {
        case .float: value = .float(a.f)
        case .int: value = .int(Int(a.i))
        case .string: value = .string(String(decoding: a.s, as: UTF8.self))
        case .floats: value = .floats(a.floats)
        case .ints: value = .ints(a.ints.map { Int($0) })
        case .strings: value = .strings(a.strings.map { String(decoding: $0, as: UTF8.self) })
        case .tensor:
            let (t, tt) = try TensorCodec.decode(a.t, what: "tensor attribute '\(a.name)' of node \(node)")
            value = .tensor(t)
            template.t = tt
        case .graph:
            value = .graph(try Graph(subgraph: a.g, opsets: opsets, irVersion: irVersion,
                                     what: "subgraph '\(a.name)' of node \(node)"))
        case .graphs:
            var gs: [Graph] = []
            for g in a.graphs {
                gs.append(try Graph(subgraph: g, opsets: opsets, irVersion: irVersion,
                                    what: "subgraph '\(a.name)' of node \(node)"))
            }
            value = .graphs(gs)
        default:
            throw GraphError(.unsupported,
                             "node \(node) has attribute '\(a.name)' of a type Shrink does not support (\(type))")
        }
        if type != .tensor { template.clearT() }
        template.clearG()
        template.graphs = []
        template.clearF()
        template.clearI()
        template.clearS()
        template.floats = []
        template.ints = []
        template.strings = []
        self.init(a.name, value)
        self.template = template
    }

    var proto: Onnx_AttributeProto {
        var a = template ?? Onnx_AttributeProto()
        a.name = name
        let tensorTemplate = a.hasT ? a.t : nil
        a.clearT()
        switch value {
        case .float(let v): a.type = .float; a.f = v
        case .int(let v): a.type = .int; a.i = Int64(v)
        case .string(let v): a.type = .string; a.s = Data(v.utf8)
        case .floats(let v): a.type = .floats; a.floats = v
        case .ints(let v): a.type = .ints; a.ints = v.map(Int64.init)
        case .strings(let v): a.type = .strings; a.strings = v.map { Data($0.utf8) }
        case .tensor(let v): a.type = .tensor; a.t = TensorCodec.encode(v, name: nil, template: tensorTemplate)
        case .graph(let g): a.type = .graph; a.g = g.modelProto().graph
        case .graphs(let gs): a.type = .graphs; a.graphs = gs.map { $0.modelProto().graph }
        }
        return a
    }
}

extension Node {
    init(proto n: Onnx_NodeProto, opsets: [Onnx_OperatorSetIdProto] = [], irVersion: Int64 = 8) throws(GraphError) {
        let label = n.name.isEmpty ? "(unnamed \(n.opType))" : n.name
        var attrs: [Attribute] = []
        for a in n.attribute { attrs.append(try Attribute(proto: a, node: label, opsets: opsets, irVersion: irVersion)) }
        self.init(name: n.name, opType: n.opType, domain: n.domain, inputs: n.input, outputs: n.output,
                  attributes: attrs)
        var t = n
        t.input = []
        t.output = []
        t.attribute = []
        template = t
    }

    var proto: Onnx_NodeProto {
        var n = template ?? Onnx_NodeProto()
        // Leave optional strings absent when they were absent and are still empty, so unedited
        // nodes serialise as they were read.
        if !(name.isEmpty && !n.hasName) { n.name = name }
        if !(domain.isEmpty && !n.hasDomain) { n.domain = domain }
        n.opType = opType
        n.input = inputs
        n.output = outputs
        n.attribute = attributes.map(\.proto)
        return n
    }
}

extension ValueInfo {
    init(proto v: Onnx_ValueInfoProto) {
        var type: ElementType?
        var shape: [Dim]?
        if case .tensorType(let tt)? = v.type.value {
            if tt.hasElemType { type = ElementType(rawValue: tt.elemType) }
            if tt.hasShape {
                shape = tt.shape.dim.map { d in
                    switch d.value {
                    // Out-of-range sizes are unusable; treating them as unknown keeps arithmetic safe.
                    case .dimValue(let x)?: x >= 0 && x <= Int64(maxAttributeMagnitude) ? .value(Int(x)) : .unknown
                    case .dimParam(let s)?: s.isEmpty ? .unknown : .symbol(s)
                    case nil: .unknown
                    }
                }
            }
        }
        self.init(name: v.name, elementType: type, shape: shape)
        template = v
        loaded = LoadedSignature(elementType: type, shape: shape)
    }

    var proto: Onnx_ValueInfoProto {
        if var t = template, loaded == LoadedSignature(elementType: elementType, shape: shape) {
            t.name = name
            return t
        }
        var v = template ?? Onnx_ValueInfoProto()
        v.name = name
        if elementType == nil && shape == nil {
            v.clearType()
            return v
        }
        var tt = Onnx_TypeProto.Tensor()
        if let elementType { tt.elemType = elementType.rawValue }
        if let shape {
            var sp = Onnx_TensorShapeProto()
            sp.dim = shape.map { d in
                var pd = Onnx_TensorShapeProto.Dimension()
                switch d {
                case .value(let x): pd.dimValue = Int64(x)
                case .symbol(let s): pd.dimParam = s
                case .unknown: break
                }
                return pd
            }
            tt.shape = sp
        }
        var type = v.type
        type.tensorType = tt
        v.type = type
        return v
    }
}

extension Graph {
    /// Builds the IR from a decoded ONNX model; `file` names the source in error messages.
    public init(model: Onnx_ModelProto, file: String? = nil) throws(GraphError) {
        do {
            try self.init(checkedModel: model)
        } catch {
            throw error.inFile(file)
        }
    }

    /// A subgraph (an `If` branch) as a graph of its own, under the enclosing model's opsets.
    init(subgraph g: Onnx_GraphProto, opsets: [Onnx_OperatorSetIdProto], irVersion: Int64, what: String) throws(GraphError) {
        var m = Onnx_ModelProto()
        m.irVersion = irVersion
        m.opsetImport = opsets
        m.graph = g
        do {
            try self.init(checkedModel: m, subgraph: true)
        } catch {
            var e = error
            e.message = "\(what): \(e.message)"
            throw e
        }
    }

    private init(checkedModel model: Onnx_ModelProto, subgraph: Bool = false) throws(GraphError) {
        guard model.hasGraph else {
            throw GraphError(.invalidModel, "not a valid ONNX model (it has no graph)")
        }
        let g = model.graph
        if !g.sparseInitializer.isEmpty {
            throw GraphError(.unsupported, "the model has sparse initializers, which Shrink does not read",
                             hint: "convert them to dense initializers before compressing")
        }
        var inits: [String: TensorValue] = [:]
        var templates: [String: TensorTemplate] = [:]
        var order: [String] = []
        order.reserveCapacity(g.initializer.count)
        for p in g.initializer {
            guard !p.name.isEmpty else {
                throw GraphError(.invalidModel, "not a valid ONNX model (an initializer has no name)")
            }
            guard inits[p.name] == nil else {
                throw GraphError(.invalidModel, "not a valid ONNX model (two initializers are named '\(p.name)')")
            }
            let (v, t) = try TensorCodec.decode(p, what: "initializer '\(p.name)'")
            inits[p.name] = v
            templates[p.name] = t
            order.append(p.name)
        }
        var nodes: [Node] = []
        nodes.reserveCapacity(g.node.count)
        for n in g.node { nodes.append(try Node(proto: n, opsets: model.opsetImport, irVersion: model.irVersion)) }

        var template = model
        template.graph.node = []
        template.graph.initializer = []
        template.graph.input = []
        template.graph.output = []
        template.graph.valueInfo = []

        self.name = g.name
        self.nodes = nodes
        self.inputs = g.input.map(ValueInfo.init(proto:))
        self.outputs = g.output.map(ValueInfo.init(proto:))
        self.valueInfo = g.valueInfo.map(ValueInfo.init(proto:))
        self.initializers = inits
        self.initializerNames = order
        self.initializerTemplates = templates
        self.modelTemplate = template
        self.reservedNames = []
        try validateArity()
    }

    /// The graph as an ONNX model, carrying over every field of the model it was loaded from
    /// that the IR does not model.
    public func modelProto() -> Onnx_ModelProto {
        var m = modelTemplate
        var g = m.graph
        if !(name.isEmpty && !g.hasName) { g.name = name }
        g.node = nodes.map(\.proto)
        g.initializer = initializerNames.compactMap { n in
            initializers[n].map { TensorCodec.encode($0, name: n, template: initializerTemplates[n]) }
        }
        g.input = inputs.map(\.proto)
        g.output = outputs.map(\.proto)
        // Annotations of values an edit removed would mislead other tools; drop them.
        var live = Set(initializerNames).union(inputs.map(\.name))
        for n in nodes { live.formUnion(n.outputs) }
        g.valueInfo = valueInfo.filter { live.contains($0.name) }.map(\.proto)
        m.graph = g
        return m
    }

    /// Decodes an ONNX model from its serialized bytes; `file` names it in error messages.
    public init(serializedData data: Data, file: String? = nil) throws(GraphError) {
        try self.init(model: Self.parseModelProto(data, file: file), file: file)
    }

    /// The protobuf message in `data`; a decoding failure names `file` and what looks wrong.
    static func parseModelProto(_ data: Data, file: String?) throws(GraphError) -> Onnx_ModelProto {
        do {
            return try Onnx_ModelProto(serializedBytes: data)
        } catch {
            throw GraphError(.invalidModel, "not a valid ONNX model (\(Self.describe(error)))", file: file,
                             hint: "check that the file is a complete .onnx export (truncated downloads and Git LFS pointer files look like this)")
        }
    }

    /// The model serialized as ONNX protobuf bytes.
    public func serializedData() throws(GraphError) -> Data {
        do {
            return try modelProto().serializedBytes()
        } catch {
            throw GraphError(.writeFailed, "cannot serialize the model (\(Self.describe(error)))")
        }
    }

    private static func describe(_ error: any Error) -> String {
        if let e = error as? BinaryDecodingError {
            switch e {
            case .truncated: return "the data ends in the middle of a field: truncated file?"
            case .malformedProtobuf: return "malformed protobuf data"
            case .invalidUTF8: return "a string is not valid UTF-8"
            case .messageDepthLimit: return "nested too deeply"
            default: return "\(e)"
            }
        }
        return "\(error)"
    }
}

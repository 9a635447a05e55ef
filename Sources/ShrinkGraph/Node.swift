import ShrinkTensor

/// The value of a node attribute. Graph-valued attributes hold the branches and bodies of control
/// flow (`If`'s `then_branch`, `Loop`'s `body`).
public enum AttributeValue: Sendable, Hashable, CustomStringConvertible {
    /// `INT`.
    case int(Int)
    /// `FLOAT`.
    case float(Float)
    /// `STRING` (ONNX stores bytes; they are decoded as UTF-8).
    case string(String)
    /// `INTS`.
    case ints([Int])
    /// `FLOATS`.
    case floats([Float])
    /// `STRINGS`.
    case strings([String])
    /// `TENSOR` (e.g. a Constant's `value`).
    case tensor(TensorValue)
    /// `GRAPH`: a subgraph (an `If` branch, a `Loop` body), which may read values of the
    /// enclosing graphs by name.
    indirect case graph(Graph)
    /// `GRAPHS`.
    indirect case graphs([Graph])

    /// The ONNX type name, for messages.
    public var typeName: String {
        switch self {
        case .int: "int"
        case .float: "float"
        case .string: "string"
        case .ints: "ints"
        case .floats: "floats"
        case .strings: "strings"
        case .tensor: "tensor"
        case .graph: "graph"
        case .graphs: "graphs"
        }
    }

    /// A short rendering for messages and debugging.
    public var description: String {
        switch self {
        case .int(let v): "\(v)"
        case .float(let v): "\(v)"
        case .string(let v): "\"\(v)\""
        case .ints(let v): "\(v)"
        case .floats(let v): "\(v)"
        case .strings(let v): "\(v)"
        case .tensor(let t): "tensor<\(t.elementType)>\(t.shape)"
        case .graph(let g): "graph '\(g.name)' (\(g.nodes.count) nodes)"
        case .graphs(let gs): "\(gs.count) graphs"
        }
    }
}

/// One named attribute of a node.
public struct Attribute: Sendable, Hashable {
    /// The attribute name (`strides`, `group`, …).
    public var name: String
    /// Its value.
    public var value: AttributeValue
    /// The attribute as read, minus its value, so that doc strings and unknown fields survive.
    var template: Onnx_AttributeProto?

    /// An attribute `name = value`.
    public init(_ name: String, _ value: AttributeValue) {
        self.name = name
        self.value = value
    }

    /// Equal when name and value agree; what the file carried besides them does not count.
    public static func == (a: Attribute, b: Attribute) -> Bool { a.name == b.name && a.value == b.value }
    /// Hashes name and value (consistent with `==`).
    public func hash(into h: inout Hasher) {
        h.combine(name)
        h.combine(value)
    }
}

/// One operator application: `outputs = opType(inputs; attributes)`.
///
/// An empty string in `inputs` is an omitted optional input, as in ONNX.
public struct Node: Sendable, Hashable {
    /// The node name; may be empty (ONNX does not require one).
    public var name: String
    /// The operator (`Conv`, `Gemm`, …).
    public var opType: String
    /// The operator domain; "" (or `ai.onnx`) is the standard one.
    public var domain: String
    /// Names of the values read, in operator order; "" marks an omitted optional input.
    public var inputs: [String]
    /// Names of the values written.
    public var outputs: [String]
    /// Attributes in file order.
    public var attributes: [Attribute]
    /// The node as read, so that fields Shrink does not model are written back unchanged.
    var template: Onnx_NodeProto?

    /// A node; `domain` "" is the standard ONNX domain.
    public init(name: String = "", opType: String, domain: String = "", inputs: [String],
                outputs: [String], attributes: [Attribute] = []) {
        self.name = name
        self.opType = opType
        self.domain = domain
        self.inputs = inputs
        self.outputs = outputs
        self.attributes = attributes
    }

    /// Equal when the modelled fields agree.
    public static func == (a: Node, b: Node) -> Bool {
        a.name == b.name && a.opType == b.opType && a.domain == b.domain && a.inputs == b.inputs
            && a.outputs == b.outputs && a.attributes == b.attributes
    }
    /// Hashes the modelled fields (consistent with `==`).
    public func hash(into h: inout Hasher) {
        h.combine(name)
        h.combine(opType)
        h.combine(domain)
        h.combine(inputs)
        h.combine(outputs)
        h.combine(attributes)
    }

    /// True for the standard ONNX operator domain.
    public var isStandardDomain: Bool { domain.isEmpty || domain == "ai.onnx" }

    /// The node's name, or `<op>` with its position when unnamed, for messages.
    public var displayName: String { name.isEmpty ? "(unnamed \(opType))" : name }

    /// Input `i` if present and not omitted ("").
    public func input(_ i: Int) -> String? {
        i >= 0 && i < inputs.count && !inputs[i].isEmpty ? inputs[i] : nil
    }

    // MARK: attributes

    /// The value of attribute `name`, if set.
    public func attribute(_ name: String) -> AttributeValue? {
        attributes.first { $0.name == name }?.value
    }

    /// Sets (or adds) attribute `name`.
    public mutating func setAttribute(_ name: String, _ value: AttributeValue) {
        if let i = attributes.firstIndex(where: { $0.name == name }) {
            attributes[i].value = value
        } else {
            attributes.append(Attribute(name, value))
        }
    }

    /// Removes attribute `name` if present.
    public mutating func removeAttribute(_ name: String) {
        attributes.removeAll { $0.name == name }
    }

    private func typeError(_ name: String, _ expected: String, _ got: AttributeValue) -> GraphError {
        GraphError(.badAttribute,
                   "node \(displayName) (\(opType)): attribute '\(name)' should be \(expected), found \(got.typeName)")
    }

    /// Integer attribute `name`, nil if absent; throws if it has another type.
    public func int(_ name: String) throws(GraphError) -> Int? {
        guard let v = attribute(name) else { return nil }
        guard case .int(let i) = v else { throw typeError(name, "an int", v) }
        return i
    }

    /// Integer attribute `name`, `defaultValue` if absent.
    public func int(_ name: String, default defaultValue: Int) throws(GraphError) -> Int {
        try int(name) ?? defaultValue
    }

    /// Float attribute `name`, nil if absent; an int attribute is accepted and converted.
    public func float(_ name: String) throws(GraphError) -> Float? {
        guard let v = attribute(name) else { return nil }
        switch v {
        case .float(let f): return f
        case .int(let i): return Float(i)
        default: throw typeError(name, "a float", v)
        }
    }

    /// Float attribute `name`, `defaultValue` if absent.
    public func float(_ name: String, default defaultValue: Float) throws(GraphError) -> Float {
        try float(name) ?? defaultValue
    }

    /// String attribute `name`, nil if absent.
    public func string(_ name: String) throws(GraphError) -> String? {
        guard let v = attribute(name) else { return nil }
        guard case .string(let s) = v else { throw typeError(name, "a string", v) }
        return s
    }

    /// String attribute `name`, `defaultValue` if absent.
    public func string(_ name: String, default defaultValue: String) throws(GraphError) -> String {
        try string(name) ?? defaultValue
    }

    /// Integer-list attribute `name`, nil if absent.
    public func ints(_ name: String) throws(GraphError) -> [Int]? {
        guard let v = attribute(name) else { return nil }
        guard case .ints(let a) = v else { throw typeError(name, "a list of ints", v) }
        return a
    }

    /// Float-list attribute `name`, nil if absent.
    public func floats(_ name: String) throws(GraphError) -> [Float]? {
        guard let v = attribute(name) else { return nil }
        guard case .floats(let a) = v else { throw typeError(name, "a list of floats", v) }
        return a
    }

    /// String-list attribute `name`, nil if absent.
    public func strings(_ name: String) throws(GraphError) -> [String]? {
        guard let v = attribute(name) else { return nil }
        guard case .strings(let a) = v else { throw typeError(name, "a list of strings", v) }
        return a
    }

    /// Graph attribute `name` (an `If` branch), nil if absent.
    public func graph(_ name: String) throws(GraphError) -> Graph? {
        guard let v = attribute(name) else { return nil }
        guard case .graph(let g) = v else { throw typeError(name, "a graph", v) }
        return g
    }

    /// The subgraphs held in attributes (branches, loop bodies), in attribute order.
    public var subgraphs: [Graph] {
        attributes.flatMap { a -> [Graph] in
            switch a.value {
            case .graph(let g): [g]
            case .graphs(let gs): gs
            default: []
            }
        }
    }

    /// Values of enclosing graphs that the node's subgraphs read by name (ONNX's implicit
    /// inputs); empty for nodes without subgraphs. The node depends on them like on its inputs.
    public var implicitInputs: [String] {
        var seen = Set<String>()
        var out: [String] = []
        for g in subgraphs {
            for v in g.outerScopeReads where seen.insert(v).inserted { out.append(v) }
        }
        return out
    }

    /// Explicit inputs (without omitted ones) followed by implicit inputs.
    public var allInputs: [String] {
        let explicit = inputs.filter { !$0.isEmpty }
        return attributes.isEmpty || subgraphs.isEmpty ? explicit : explicit + implicitInputs
    }

    /// Tensor attribute `name`, nil if absent.
    public func tensor(_ name: String) throws(GraphError) -> TensorValue? {
        guard let v = attribute(name) else { return nil }
        guard case .tensor(let t) = v else { throw typeError(name, "a tensor", v) }
        return t
    }
}

/// The former name of `Dim`; it clashes with `Foundation.Dimension` in files that import
/// Foundation, so prefer `Dim`.
public typealias Dimension = Dim

/// One dimension of a declared shape.
public enum Dim: Sendable, Hashable, CustomStringConvertible {
    /// A fixed size.
    case value(Int)
    /// A named size such as the batch `N` (ONNX `dim_param`).
    case symbol(String)
    /// Neither given.
    case unknown

    /// The fixed size, if any.
    public var fixed: Int? {
        if case .value(let v) = self { return v }
        return nil
    }

    /// `3`, `N` or `?`.
    public var description: String {
        switch self {
        case .value(let v): "\(v)"
        case .symbol(let s): s
        case .unknown: "?"
        }
    }
}

/// A declared value: a graph input or output, or a `value_info` annotation.
public struct ValueInfo: Sendable, Hashable {
    /// The value name.
    public var name: String
    /// Element type, when declared as a tensor.
    public var elementType: ElementType?
    /// Dimensions when the rank is declared; nil when unknown (or not a tensor).
    public var shape: [Dim]?
    /// The declaration as read; written back unchanged while type and shape are unchanged.
    var template: Onnx_ValueInfoProto?
    /// Type and shape as read, to notice edits.
    var loaded: LoadedSignature?

    struct LoadedSignature: Sendable, Hashable {
        var elementType: ElementType?
        var shape: [Dim]?
    }

    /// A tensor value declaration.
    public init(name: String, elementType: ElementType? = .float, shape: [Dim]?) {
        self.name = name
        self.elementType = elementType
        self.shape = shape
    }

    /// Equal when name, type and shape agree.
    public static func == (a: ValueInfo, b: ValueInfo) -> Bool {
        a.name == b.name && a.elementType == b.elementType && a.shape == b.shape
    }
    /// Hashes name, type and shape (consistent with `==`).
    public func hash(into h: inout Hasher) {
        h.combine(name)
        h.combine(elementType)
        h.combine(shape)
    }

    /// The shape with every non-fixed dimension replaced by `symbolic` (e.g. batch 1); nil if
    /// the rank is unknown.
    public func concreteShape(symbolic: Int = 1) -> [Int]? {
        shape?.map { $0.fixed ?? symbolic }
    }
}

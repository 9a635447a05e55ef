import ShrinkTensor

/// One entry of a model's `opset_import`.
public struct OpsetImport: Sendable, Hashable {
    /// The operator domain; "" is the standard ONNX domain.
    public var domain: String
    /// The opset version.
    public var version: Int
    /// An opset import.
    public init(domain: String, version: Int) {
        self.domain = domain
        self.version = version
    }
}

/// A neural network as Shrink sees it: nodes, declared inputs and outputs, and initializers.
///
/// A value type: edit a copy freely. Everything of the original ONNX model that the IR does not
/// model (metadata, doc strings, functions, unknown fields, …) is kept and written back by
/// `modelProto()` / `save(to:)`.
public struct Graph: Sendable {
    /// The graph name.
    public var name: String
    /// Nodes in file order, which ONNX requires to be topological; edits may break that,
    /// `topologicalOrder()` restores it.
    public var nodes: [Node]
    /// Declared graph inputs, as in the file; older exporters also list initializers here
    /// (see `dataInputs`).
    public var inputs: [ValueInfo]
    /// Declared graph outputs.
    public var outputs: [ValueInfo]
    /// `value_info` annotations, as in the file. Entries for values that no longer exist (not
    /// written by a node, not an input or initializer) are dropped on save.
    public var valueInfo: [ValueInfo]
    /// Initializers by name; edit through `setInitializer`, `addInitializer`, `removeInitializer`
    /// so that the file order in `initializerNames` stays consistent.
    public internal(set) var initializers: [String: TensorValue]
    /// Initializer names in file order (new ones at the end).
    public internal(set) var initializerNames: [String]

    /// Initializers as read, minus their data: doc strings, metadata and storage layout survive.
    var initializerTemplates: [String: TensorTemplate] = [:]
    /// The model as read, minus the parts modelled above.
    var modelTemplate: Onnx_ModelProto
    /// Names handed out by `uniqueName` and not yet used, so two calls never collide.
    var reservedNames: Set<String> = []

    /// An empty graph with opset imports `opsets` (default: ONNX opset 17), IR version 8.
    public init(name: String = "graph", opsets: [OpsetImport] = [OpsetImport(domain: "", version: 17)]) {
        self.name = name
        nodes = []
        inputs = []
        outputs = []
        valueInfo = []
        initializers = [:]
        initializerNames = []
        var m = Onnx_ModelProto()
        m.irVersion = 8
        m.producerName = "shrink"
        m.opsetImport = opsets.map {
            var o = Onnx_OperatorSetIdProto()
            o.domain = $0.domain
            o.version = Int64($0.version)
            return o
        }
        modelTemplate = m
    }

    // MARK: model-level facts

    /// The model's opset imports.
    public var opsetImports: [OpsetImport] {
        modelTemplate.opsetImport.map { OpsetImport(domain: $0.domain, version: Int($0.version)) }
    }

    /// The opset version imported for `domain` ("" = standard ONNX; `ai.onnx` is the same).
    public func opsetVersion(domain: String = "") -> Int? {
        let d = domain == "ai.onnx" ? "" : domain
        return opsetImports.first { ($0.domain == "ai.onnx" ? "" : $0.domain) == d }?.version
    }

    /// The ONNX IR version of the model.
    public var irVersion: Int { Int(modelTemplate.irVersion) }

    /// The tool that wrote the model (`pytorch`, …).
    public var producerName: String { modelTemplate.producerName }

    /// The model's `metadata_props`.
    public var metadata: [String: String] {
        var d: [String: String] = [:]
        for p in modelTemplate.metadataProps { d[p.key] = p.value }
        return d
    }

    // MARK: lookups

    /// Graph inputs that are fed at run time (declared inputs not backed by an initializer).
    public var dataInputs: [ValueInfo] { inputs.filter { initializers[$0.name] == nil } }

    /// Index of the node named `name`.
    public func nodeIndex(named name: String) -> Int? { nodes.firstIndex { $0.name == name } }

    /// Index of the node that writes `value`, nil for graph inputs and initializers.
    public func producerIndex(of value: String) -> Int? {
        nodes.firstIndex { $0.outputs.contains(value) }
    }

    /// Indices of the nodes that read `value`, in file order.
    public func consumerIndices(of value: String) -> [Int] {
        nodes.indices.filter { nodes[$0].inputs.contains(value) || nodes[$0].implicitInputs.contains(value) }
    }

    /// True if `value` is one of the graph's outputs.
    public func isGraphOutput(_ value: String) -> Bool { outputs.contains { $0.name == value } }

    /// The declaration of `value` among inputs, outputs and value_info.
    public func declaredValue(_ value: String) -> ValueInfo? {
        inputs.first { $0.name == value } ?? outputs.first { $0.name == value }
            ?? valueInfo.first { $0.name == value }
    }

    /// Initializer `name` as float32 (float64 is rounded); throws if absent or not floating point.
    public func floatInitializer(_ name: String) throws(GraphError) -> Tensor {
        guard let v = initializers[name] else {
            throw GraphError(.notFound, "no initializer named '\(name)'")
        }
        guard let t = v.floatTensor else {
            throw GraphError(.invalidModel, "initializer '\(name)' holds \(v.elementType) data, expected float")
        }
        return t
    }

    /// The constant value of `value` if it is an initializer or the output of a `Constant` node
    /// with a `value` tensor attribute, also through `Identity` nodes: PyTorch's TorchScript
    /// exporter replaces an initializer equal to an earlier one by an `Identity` of it (layers
    /// copied from one module, tied weights), and such a layer is still a layer.
    public func constantValue(_ value: String) -> TensorValue? {
        guard let source = constantSource(value) else { return nil }
        return initializers[source] ?? producerIndex(of: source).flatMap { nodes[$0].constantTensor }
    }

    /// The initializer or `Constant` output that `value` is, or is an `Identity` of; nil when
    /// `value` is computed. Two layers whose weights have one source share them.
    public func constantSource(_ value: String) -> String? {
        var name = value
        // Exporters chain a few Identities at most; the bound keeps a malformed cycle harmless.
        for _ in 0..<16 {
            if initializers[name] != nil { return name }
            guard let p = producerIndex(of: name) else { return nil }
            switch nodes[p].opType {
            case "Constant": return nodes[p].constantTensor == nil ? nil : name
            case "Identity":
                guard let next = nodes[p].input(0) else { return nil }
                name = next
            default: return nil
            }
        }
        return nil
    }

    /// Values this graph reads (through its nodes and their subgraphs) that it does not define
    /// itself: for a subgraph, the values of the enclosing graphs it uses. Empty for a top-level
    /// graph whose every read is satisfied.
    public var outerScopeReads: [String] {
        var defined = Set(inputs.map(\.name)).union(initializerNames)
        for n in nodes { defined.formUnion(n.outputs) }
        var seen = Set<String>()
        var out: [String] = []
        for n in nodes {
            for v in n.allInputs where !defined.contains(v) && seen.insert(v).inserted { out.append(v) }
        }
        // A branch may return an enclosing value unchanged.
        for o in outputs where !o.name.isEmpty && !defined.contains(o.name) && seen.insert(o.name).inserted { out.append(o.name) }
        return out
    }

    /// Every name in use: values, initializers, node names and reserved names.
    public var allNames: Set<String> {
        var s = reservedNames
        for n in nodes {
            s.insert(n.name)
            s.formUnion(n.inputs)
            s.formUnion(n.outputs)
            for g in n.subgraphs { s.formUnion(g.allNames) }
        }
        for v in inputs { s.insert(v.name) }
        for v in outputs { s.insert(v.name) }
        for v in valueInfo { s.insert(v.name) }
        s.formUnion(initializerNames)
        s.remove("")
        return s
    }

    // MARK: editing

    /// A name not used anywhere in the graph, `base` itself if free, else `base_1`, `base_2`, …
    /// The name is reserved, so later calls never return it again.
    public mutating func uniqueName(_ base: String) -> String {
        let used = allNames
        var candidate = base.isEmpty ? "v" : base
        var k = 1
        while used.contains(candidate) {
            candidate = "\(base)_\(k)"
            k += 1
        }
        reservedNames.insert(candidate)
        return candidate
    }

    /// Adds initializer `name` or replaces its value; a replaced initializer keeps its place and
    /// file metadata.
    public mutating func setInitializer(_ name: String, _ value: TensorValue) {
        if initializers[name] == nil { initializerNames.append(name) }
        initializers[name] = value
        reservedNames.remove(name)
    }

    /// Adds `value` under a fresh name derived from `preferredName` and returns the name.
    @discardableResult
    public mutating func addInitializer(_ value: TensorValue, preferredName: String) -> String {
        let name = uniqueName(preferredName)
        setInitializer(name, value)
        return name
    }

    /// Removes initializer `name` (and its entry among the graph inputs, if listed there).
    public mutating func removeInitializer(_ name: String) {
        guard initializers.removeValue(forKey: name) != nil else { return }
        initializerNames.removeAll { $0 == name }
        initializerTemplates[name] = nil
        inputs.removeAll { $0.name == name }
    }

    /// Removes initializers that no node reads and that are not graph outputs; returns their names.
    @discardableResult
    public mutating func removeUnusedInitializers() -> [String] {
        var read = Set<String>()
        for n in nodes { read.formUnion(n.allInputs) }
        for o in outputs { read.insert(o.name) }
        let unused = initializerNames.filter { !read.contains($0) }
        for n in unused { removeInitializer(n) }
        return unused
    }

    /// Replaces the node at `index` by `chain` (in order, at the same position).
    ///
    /// Every output of the old node that something reads (a node or a graph output) must be
    /// written by the chain; the chain's other values should come from `uniqueName`.
    public mutating func replaceNode(at index: Int, with chain: [Node]) throws(GraphError) {
        guard nodes.indices.contains(index) else {
            throw GraphError(.notFound, "no node at index \(index)")
        }
        let old = nodes[index]
        let written = Set(chain.flatMap(\.outputs))
        for out in old.outputs where !out.isEmpty && !written.contains(out) {
            let used = isGraphOutput(out) || nodes.indices.contains { $0 != index && nodes[$0].allInputs.contains(out) }
            if used {
                throw GraphError(.invalidEdit,
                                 "replacing node \(old.displayName): its output '\(out)' is used but the new nodes do not write it")
            }
        }
        nodes.replaceSubrange(index...index, with: chain)
        for n in chain {
            for v in n.outputs { reservedNames.remove(v) }
            reservedNames.remove(n.name)
        }
    }

    /// Replaces the node named `name` by `chain` (see `replaceNode(at:with:)`).
    public mutating func replaceNode(named name: String, with chain: [Node]) throws(GraphError) {
        guard let i = nodeIndex(named: name) else {
            throw GraphError(.notFound, "no node named '\(name)'")
        }
        try replaceNode(at: i, with: chain)
    }

    /// Removes the node at `index`; the caller rewires its consumers.
    public mutating func removeNode(at index: Int) {
        nodes.remove(at: index)
    }

    // MARK: order

    /// Node indices in an order where every node comes after the producers of its inputs,
    /// as close to file order as possible.
    ///
    /// Throws `danglingInput` when a node reads a value that no node, graph input or initializer
    /// provides, `invalidModel` when two nodes write one value, and `cycle` for cycles.
    public func topologicalOrder() throws(GraphError) -> [Int] {
        try topologicalOrder(outerScope: [])
    }

    /// `topologicalOrder()` for a subgraph, whose nodes may also read `outerScope` values.
    public func topologicalOrder(outerScope: Set<String>) throws(GraphError) -> [Int] {
        var producer: [String: Int] = [:]
        for (i, n) in nodes.enumerated() {
            for o in n.outputs where !o.isEmpty {
                if let j = producer[o] {
                    throw GraphError(.invalidModel,
                                     "value '\(o)' is written by two nodes, \(nodes[j].displayName) and \(n.displayName)")
                }
                producer[o] = i
            }
        }
        let external = Set(inputs.map(\.name)).union(initializerNames).union(outerScope)
        var indegree = [Int](repeating: 0, count: nodes.count)
        var dependents = [[Int]](repeating: [], count: nodes.count)
        for (i, n) in nodes.enumerated() {
            for v in Set(n.allInputs) where !v.isEmpty {
                if let p = producer[v] {
                    if p == i {
                        throw GraphError(.cycle, "node \(n.displayName) reads its own output '\(v)'")
                    }
                    indegree[i] += 1
                    dependents[p].append(i)
                } else if !external.contains(v) {
                    throw GraphError(.danglingInput,
                                     "node \(n.displayName) (\(n.opType)) reads '\(v)', which no node, graph input or initializer provides")
                }
            }
        }
        // Kahn's algorithm, always taking the ready node that comes first in the file, so an
        // already sorted graph keeps its order.
        var ready = MinHeap(nodes.indices.filter { indegree[$0] == 0 })
        var order: [Int] = []
        order.reserveCapacity(nodes.count)
        while let i = ready.pop() {
            order.append(i)
            for d in dependents[i] {
                indegree[d] -= 1
                if indegree[d] == 0 { ready.push(d) }
            }
        }
        if order.count != nodes.count {
            let stuck = nodes.indices.filter { indegree[$0] > 0 }.map { nodes[$0].displayName }
            throw GraphError(.cycle,
                             "the graph has a cycle through \(stuck.prefix(5).joined(separator: ", "))\(stuck.count > 5 ? ", …" : "")")
        }
        return order
    }

    /// The nodes in topological order (see `topologicalOrder()`).
    public func sortedNodes() throws(GraphError) -> [Node] {
        try topologicalOrder().map { nodes[$0] }
    }

    /// Reorders `nodes` topologically in place.
    public mutating func sortTopologically() throws(GraphError) {
        nodes = try sortedNodes()
    }
}

extension Graph: Hashable {
    /// Hashes name, nodes and declared values (consistent with `==`).
    public func hash(into h: inout Hasher) {
        h.combine(name)
        h.combine(nodes)
        h.combine(inputs)
        h.combine(outputs)
        h.combine(initializerNames)
    }

    /// Equal when everything the IR models agrees: name, nodes, declared values, initializers
    /// (values and order) and opset imports. Unmodelled fields carried from the file do not count.
    public static func == (a: Graph, b: Graph) -> Bool {
        a.name == b.name && a.nodes == b.nodes && a.inputs == b.inputs && a.outputs == b.outputs
            && a.valueInfo == b.valueInfo && a.initializerNames == b.initializerNames
            && a.initializers == b.initializers && a.opsetImports == b.opsetImports
    }
}

extension Node {
    /// A `Constant` node's value: its `value` tensor, or a scalar/list from `value_float(s)` or
    /// `value_int(s)`; nil for other nodes.
    public var constantTensor: TensorValue? {
        guard opType == "Constant" else { return nil }
        for a in attributes {
            switch (a.name, a.value) {
            case ("value", .tensor(let t)): return t
            case ("value_float", .float(let f)): return .float(Tensor(shape: [], scalars: [f]))
            case ("value_floats", .floats(let f)): return .float(Tensor(shape: [f.count], scalars: f))
            case ("value_int", .int(let i)): return .int64(shape: [], values: [Int64(i)])
            case ("value_ints", .ints(let v)): return .int64(shape: [v.count], values: v.map(Int64.init))
            default: continue
            }
        }
        return nil
    }
}

/// A binary min-heap of Ints.
struct MinHeap {
    private var a: [Int] = []

    init(_ items: [Int]) {
        for x in items { push(x) }
    }

    mutating func push(_ x: Int) {
        a.append(x)
        var i = a.count - 1
        while i > 0 {
            let p = (i - 1) / 2
            if a[p] <= a[i] { break }
            a.swapAt(p, i)
            i = p
        }
    }

    mutating func pop() -> Int? {
        guard let top = a.first else { return nil }
        let last = a.removeLast()
        if !a.isEmpty {
            a[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < a.count && a[l] < a[m] { m = l }
                if r < a.count && a[r] < a[m] { m = r }
                if m == i { break }
                a.swapAt(i, m)
                i = m
            }
        }
        return top
    }
}

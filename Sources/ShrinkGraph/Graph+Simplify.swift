extension Graph {
    /// Removes nodes whose outputs nothing reads (no node, subgraph or graph output), repeatedly,
    /// then the initializers nobody reads any more; returns the number of nodes removed.
    /// Exporters leave such nodes behind (Paddle's weight `Constant`s once a rewrite replaced the
    /// layer, an `If`'s condition once it is folded), and they would be saved as dead weight.
    @discardableResult
    public mutating func removeDeadNodes() -> Int {
        var removed = 0
        while true {
            var read = Set(outputs.map(\.name))
            for n in nodes { read.formUnion(n.allInputs) }
            let before = nodes.count
            nodes.removeAll { n in !n.outputs.contains { !$0.isEmpty && read.contains($0) } }
            removed += before - nodes.count
            if nodes.count == before { break }
        }
        removeUnusedInitializers()
        return removed
    }

    /// The graph with every `If` whose condition is known for these inputs replaced by the
    /// branch it takes, nested ones included: conditions on constants, on the given small integer
    /// input values (silero's `sr == 16000`) and on shapes (for the given input shapes). Layers
    /// inside the taken branch become layers of the graph; the condition's dead computation is
    /// removed. An `If` with an unknown condition stays.
    ///
    /// Shapes not given take symbolic dimensions as `batch`, so a condition on such a shape holds
    /// for that size only.
    public func inliningConstantBranches(inputShapes: [String: [Int]] = [:], batch: Int = 1,
                                         inputValues: [String: TensorValue] = [:]) throws(GraphError) -> Graph {
        var g = self
        for _ in 0..<32 {
            guard g.nodes.contains(where: { $0.opType == "If" && $0.isStandardDomain }) else { break }
            let shapes = try g.inferShapes(inputShapes: inputShapes, batch: batch, inputValues: inputValues)
            var changed = false
            var result: [Node] = []
            for n in g.nodes {
                guard n.opType == "If", n.isStandardDomain, let c = n.input(0),
                      let v = shapes.constants[c]?.int64Values, v.count == 1,
                      let branch = try? n.graph(v[0] != 0 ? "then_branch" : "else_branch"),
                      branch.outputs.count == n.outputs.count else {
                    result.append(n)
                    continue
                }
                var rename: [String: String] = [:]
                for (k, o) in branch.outputs.enumerated() where !n.outputs[k].isEmpty { rename[o.name] = n.outputs[k] }
                let produced = Set(branch.nodes.flatMap(\.outputs))
                for var b in branch.nodes {
                    b.outputs = b.outputs.map { rename[$0] ?? $0 }
                    b.inputs = b.inputs.map { rename[$0] ?? $0 }
                    result.append(b)
                }
                for (k, o) in branch.outputs.enumerated() where !n.outputs[k].isEmpty && !produced.contains(o.name) {
                    // The branch returns an enclosing value or one of its initializers unchanged.
                    result.append(Node(name: g.uniqueName("\(n.displayName)/\(o.name)"), opType: "Identity",
                                       inputs: [o.name], outputs: [n.outputs[k]]))
                }
                for name in branch.initializerNames {
                    if let t = branch.initializers[name] { g.setInitializer(name, t) }
                }
                changed = true
            }
            guard changed else { break }
            g.nodes = result
            g.removeDeadNodes()
        }
        return g
    }

    /// Elements of the floating-point constants the graph's nodes read: initializers and
    /// `Constant` nodes alike (exporters such as paddle2onnx keep every weight in a Constant),
    /// subgraphs included. Integer constants (shapes, indices) are not parameters.
    public var floatParameterCount: Int {
        var read = Set(outputs.map(\.name))
        for n in nodes { read.formUnion(n.allInputs) }
        var total = 0
        for (name, v) in initializers where v.elementType.isFloatingPoint && read.contains(name) { total += v.count }
        for n in nodes {
            if n.opType == "Constant", n.isStandardDomain, let o = n.outputs.first, read.contains(o),
               let t = n.constantTensor, t.elementType.isFloatingPoint {
                total += t.count
            }
            for sub in n.subgraphs { total += sub.floatParameterCount }
        }
        return total
    }
}

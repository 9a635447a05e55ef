import ShrinkGraph
import ShrinkTensor

/// Where a factorisable layer sits in a graph: its node, the values it reads and writes, and
/// its row in the graph module's layer table (name, shapes, cost).
public struct LayerReference: Sendable, Hashable {
    /// The layer name, as the graph's `LayerTable` assigns it.
    public var name: String
    /// The node's index in `graph.nodes` when the table was built.
    public var nodeIndex: Int
    /// The node's name.
    public var nodeName: String
    /// The operator.
    public var op: LayerOperator
    /// The activation input (Conv X, Gemm A, MatMul A).
    public var input: String
    /// The node's output value.
    public var output: String
    /// The weight value's name.
    public var weight: String
    /// The bias value's name (Conv B, Gemm C, or the constant of the Add after a MatMul).
    public var bias: String?
    /// True when the bias is added by a separate node (MatMul + Add), which a rewrite keeps.
    public var separateBias: Bool
    /// Gemm `transA` (the input is read transposed).
    public var transA: Bool
    /// The input activation's shape with batch 1.
    public var inputShape: [Int]
    /// The layer table's cost of the layer.
    public var cost: LayerCost
}

/// Finds factorisable layers in a graph and reads them into `LayerDescriptor`s.
public enum GraphLayers {
    /// The graph's layer table, with errors as `DecompositionError`.
    public static func table(of graph: Graph, inputShapes: [String: [Int]] = [:]) throws(DecompositionError) -> LayerTable {
        do {
            return try LayerTable(graph: graph, inputShapes: inputShapes)
        } catch {
            throw DecompositionError(.invalidInput, layer: nil, error.description)
        }
    }

    /// Every Conv, Gemm and MatMul with a constant weight, in node order, named as the graph's
    /// layer table names them (weight initializer without `.weight`, else the node name, …).
    /// `inputShapes` fixes graph inputs whose shapes are symbolic beyond the batch.
    public static func references(in graph: Graph, inputShapes: [String: [Int]] = [:]) throws(DecompositionError) -> [LayerReference] {
        try references(in: graph, table: table(of: graph, inputShapes: inputShapes))
    }

    /// The references of an already built table.
    public static func references(in graph: Graph, table: LayerTable) -> [LayerReference] {
        table.layers.compactMap { layer in
            guard let op = LayerOperator(rawValue: layer.op), graph.nodes.indices.contains(layer.nodeIndex) else { return nil }
            let node = graph.nodes[layer.nodeIndex]
            guard let input = node.input(0), let output = node.outputs.first else { return nil }
            let transA = op == .gemm ? ((try? node.int("transA", default: 0)) ?? 0) != 0 : false
            return LayerReference(name: layer.name, nodeIndex: layer.nodeIndex, nodeName: node.name, op: op,
                                  input: input, output: output, weight: layer.weight, bias: layer.bias,
                                  separateBias: layer.biasNode != nil, transA: transA, inputShape: layer.inputShape,
                                  cost: LayerCost(params: layer.params, macs: layer.macs))
        }
    }

    /// The reference of the layer called `name` among `refs`, or a `layerNotFound` error
    /// listing the names (with a "did you mean" for a near miss).
    public static func reference(named name: String, in refs: [LayerReference]) throws(DecompositionError) -> LayerReference {
        if let r = refs.first(where: { $0.name == name }) { return r }
        let names = refs.map(\.name)
        let best = names.min { editDistance($0, name) < editDistance($1, name) }
        throw DecompositionError(.layerNotFound, layer: name,
                                 "no Conv, Gemm or MatMul layer of that name; the model has: \(names.joined(separator: ", "))",
                                 hint: best.flatMap { editDistance($0, name) <= 2 ? "did you mean `\($0)`?" : nil })
    }

    /// Reads a layer into a descriptor (weights in canonical layout, geometry, sizes).
    public static func descriptor(_ ref: LayerReference, in graph: Graph) throws(DecompositionError) -> LayerDescriptor {
        let inputShape = ref.inputShape
        let node = graph.nodes[ref.nodeIndex]
        func fail(_ message: String) -> DecompositionError {
            DecompositionError(.unsupported, layer: ref.name, message)
        }
        func attr<T>(_ body: () throws(GraphError) -> T) throws(DecompositionError) -> T {
            do { return try body() } catch { throw DecompositionError(.invalidInput, layer: ref.name, error.message) }
        }
        guard let wValue = graph.constantValue(ref.weight), let wRaw = wValue.floatTensor else {
            throw fail("the weight '\(ref.weight)' is not a float tensor")
        }
        var bias: Tensor?
        if let b = ref.bias {
            guard let bValue = graph.constantValue(b), let bt = bValue.floatTensor else {
                throw fail("the bias '\(b)' is computed by the graph, not a constant; Shrink needs a constant bias")
            }
            bias = bt
        }
        switch ref.op {
        case .conv:
            let n = wRaw.rank - 2
            guard n >= 1 else { throw fail("a Conv kernel needs at least 3 axes, got \(wRaw.shape)") }
            guard inputShape.count == n + 2 else {
                throw DecompositionError(.invalidInput, layer: ref.name, "input shape \(inputShape) does not fit a \(n)-D convolution")
            }
            let spatial = Array(inputShape.dropFirst(2))
            let kernel = try attr { () throws(GraphError) in try node.ints("kernel_shape") } ?? Array(wRaw.shape.dropFirst(2))
            var g = ConvGeometry(kernel: kernel,
                                 strides: try attr { () throws(GraphError) in try node.ints("strides") },
                                 pads: try attr { () throws(GraphError) in try node.ints("pads") },
                                 dilations: try attr { () throws(GraphError) in try node.ints("dilations") },
                                 group: try attr { () throws(GraphError) in try node.int("group", default: 1) })
            let autoPad = try attr { () throws(GraphError) in try node.string("auto_pad", default: "NOTSET") }
            if autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER" {
                g.pads = samePads(g, input: spatial, upper: autoPad == "SAME_UPPER")
            } else if autoPad == "VALID" {
                g.pads = Array(repeating: 0, count: 2 * n)
            }
            let layer = LayerDescriptor.convolution(name: ref.name, weight: wRaw, bias: bias, geometry: g, inputSpatial: spatial)
            try layer.validate()
            return layer
        case .gemm:
            guard wRaw.rank == 2 else { throw fail("Gemm weight must be a matrix, got \(wRaw.shape)") }
            let transB = try attr { () throws(GraphError) in try node.int("transB", default: 0) } != 0
            let alpha = try attr { () throws(GraphError) in try node.float("alpha", default: 1) }
            let beta = try attr { () throws(GraphError) in try node.float("beta", default: 1) }
            var w = transB ? wRaw : wRaw.transposed()
            if alpha != 1 { w.scalars = w.scalars.map { $0 * alpha } }
            if var b = bias, beta != 1 {
                b.scalars = b.scalars.map { $0 * beta }
                bias = b
            }
            return .dense(name: ref.name, op: .gemm, weight: w, bias: bias)
        case .matMul:
            guard wRaw.rank == 2 else {
                throw fail("MatMul with a \(wRaw.rank)-D weight is not supported (only a matrix on the right)")
            }
            let rows = inputShape.count > 2 ? inputShape.dropFirst().dropLast().reduce(1, *) : 1
            // The bias of a MatMul lives in the Add after it; it is counted here and left in place.
            return .dense(name: ref.name, op: .matMul, weight: wRaw.transposed(), bias: bias, rowsPerSample: rows)
        }
    }

    /// Explicit pads for `auto_pad` SAME_UPPER / SAME_LOWER.
    static func samePads(_ g: ConvGeometry, input: [Int], upper: Bool) -> [Int] {
        let n = g.spatialRank
        var pads = Array(repeating: 0, count: 2 * n)
        for i in 0..<n {
            let out = (input[i] + g.strides[i] - 1) / g.strides[i]
            let total = max(0, (out - 1) * g.strides[i] + g.dilations[i] * (g.kernel[i] - 1) + 1 - input[i])
            let small = total / 2
            pads[i] = upper ? small : total - small
            pads[i + n] = total - pads[i]
        }
        return pads
    }

    /// For a Gemm with `transA`, its input activation is N×batch: turn it into rows.
    public static func activationRows(_ activation: Tensor, of ref: LayerReference) -> Tensor {
        ref.transA && activation.rank == 2 ? activation.transposed() : activation
    }
}

import ShrinkGraph
import ShrinkTensor

/// Writes factorised layers back into a graph as chains of standard ONNX nodes.
///
/// Stage `k` of layer `conv2` becomes node `conv2.k` with initializers `conv2.k.weight` (and
/// `conv2.k.bias` on the stage carrying the bias), so the graph's layer table names the stages
/// `conv2.0`, `conv2.1`, …; intermediate values are `conv2.k.output`, and the last stage
/// writes the original node's output, so nothing downstream changes. Only Conv, Gemm and
/// MatMul are emitted (opset 13 semantics; depthwise stages are Conv with `group`). A MatMul's
/// bias stays in the Add node that follows it.
public enum GraphRewriter {
    /// Replaces every non-`keep` decomposition's node by its stages, and removes the old weight
    /// and bias (initializers or `Constant` nodes) when nothing else reads them, with every other
    /// dead node. Layer names refer to `graph` as
    /// passed in (its layer table).
    public static func apply(_ decompositions: [LayerDecomposition], to graph: inout Graph,
                             inputShapes: [String: [Int]] = [:]) throws(DecompositionError) {
        let refs = try GraphLayers.references(in: graph, inputShapes: inputShapes)
        for d in decompositions where d.method != .keep {
            let ref = try GraphLayers.reference(named: d.layer, in: refs)
            // Node indices move as chains are inserted; the output value does not.
            guard let index = graph.producerIndex(of: ref.output) else {
                throw DecompositionError(.invalidInput, layer: d.layer, "its node is no longer in the graph")
            }
            let chain = nodes(for: d, ref: ref, graph: &graph)
            do {
                try graph.replaceNode(at: index, with: chain)
            } catch {
                throw DecompositionError(.invalidInput, layer: d.layer, "could not rewrite the graph: \(error.message)")
            }
        }
        // What the chains replaced — weight and bias initializers, or the Constant nodes
        // exporters such as paddle2onnx keep weights in — is removed when nothing else reads it,
        // with any other dead node, so the rewritten model is never larger for the same ranks.
        graph.removeDeadNodes()
    }

    /// The node chain for one decomposition, registering its initializers in `graph`.
    static func nodes(for d: LayerDecomposition, ref: LayerReference, graph: inout Graph) -> [Node] {
        var chain: [Node] = []
        var current = ref.input
        for (k, stage) in d.stages.enumerated() {
            let base = "\(d.layer).\(stage.shape.suffix)"
            let isLast = k == d.stages.count - 1
            let output = isLast ? ref.output : graph.uniqueName("\(base).output")
            let weightName = graph.addInitializer(.float(stage.weight), preferredName: "\(base).weight")
            var inputs = [current, weightName]
            if let b = stage.bias, stage.shape.kind != .matMul {
                inputs.append(graph.addInitializer(.float(b), preferredName: "\(base).bias"))
            }
            var attributes: [Attribute] = []
            let opType: String
            switch stage.shape.kind {
            case .conv(let g):
                opType = "Conv"
                attributes = [
                    Attribute("dilations", .ints(g.dilations)),
                    Attribute("group", .int(g.group)),
                    Attribute("kernel_shape", .ints(g.kernel)),
                    Attribute("pads", .ints(g.pads)),
                    Attribute("strides", .ints(g.strides)),
                ]
            case .gemm:
                opType = "Gemm"
                attributes = [Attribute("transB", .int(1))]
                if k == 0 && ref.transA { attributes.append(Attribute("transA", .int(1))) }
            case .matMul:
                opType = "MatMul"
            }
            chain.append(Node(name: graph.uniqueName(base), opType: opType, inputs: inputs, outputs: [output],
                              attributes: attributes))
            current = output
        }
        return chain
    }
}

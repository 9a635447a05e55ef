import ShrinkGraph
import ShrinkTensor
import Testing

/// A one-node graph over input `x` of `shape`, with float initializers `inits`.
private func single(_ node: Node, input shape: [Int], inits: [String: TensorValue] = [:], opset: Int = 13) -> Graph {
    var g = Graph(opsets: [OpsetImport(domain: "", version: opset)])
    g.inputs = [Build.input("x", shape.map { .value($0) })]
    for (k, v) in inits.sorted(by: { $0.key < $1.key }) { g.setInitializer(k, v) }
    g.nodes = [node]
    g.outputs = node.outputs.map { ValueInfo(name: $0, shape: nil) }
    return g
}

struct ShapeCase: Sendable, CustomTestStringConvertible {
    var label: String
    var graph: Graph
    var expected: [Int]
    var testDescription: String { label }
}

@Suite("Shape inference")
struct ShapeInferenceTests {
    static let cases: [ShapeCase] = [
        ShapeCase(label: "conv stride 2 pads 1", graph: single(
            Build.conv("c", "x", "w", nil, "y", [Attribute("strides", .ints([2, 2])), Attribute("pads", .ints([1, 1, 1, 1]))]),
            input: [1, 3, 32, 32], inits: ["w": Build.weight([16, 3, 3, 3])]), expected: [1, 16, 16, 16]),
        ShapeCase(label: "conv SAME_UPPER stride 2 odd input", graph: single(
            Build.conv("c", "x", "w", nil, "y", [Attribute("strides", .ints([2, 2])), Attribute("auto_pad", .string("SAME_UPPER"))]),
            input: [1, 3, 7, 7], inits: ["w": Build.weight([4, 3, 3, 3])]), expected: [1, 4, 4, 4]),
        ShapeCase(label: "conv VALID dilation 2", graph: single(
            Build.conv("c", "x", "w", nil, "y", [Attribute("auto_pad", .string("VALID")), Attribute("dilations", .ints([2, 2]))]),
            input: [1, 3, 10, 10], inits: ["w": Build.weight([4, 3, 3, 3])]), expected: [1, 4, 6, 6]),
        ShapeCase(label: "conv 1-D depthwise", graph: single(
            Build.conv("c", "x", "w", nil, "y", [Attribute("group", .int(8))]),
            input: [2, 8, 20], inits: ["w": Build.weight([8, 1, 5])]), expected: [2, 8, 16]),
        ShapeCase(label: "maxpool ceil_mode", graph: single(
            Node(opType: "MaxPool", inputs: ["x"], outputs: ["y"], attributes: [
                Attribute("kernel_shape", .ints([3, 3])), Attribute("strides", .ints([2, 2])), Attribute("ceil_mode", .int(1))]),
            input: [1, 1, 6, 6]), expected: [1, 1, 3, 3]),
        ShapeCase(label: "maxpool ceil_mode last window dropped", graph: single(
            Node(opType: "MaxPool", inputs: ["x"], outputs: ["y"], attributes: [
                Attribute("kernel_shape", .ints([2])), Attribute("strides", .ints([2])),
                Attribute("pads", .ints([1, 1])), Attribute("ceil_mode", .int(1))]),
            input: [1, 1, 4]), expected: [1, 1, 3]),
        ShapeCase(label: "gemm transA transB", graph: single(
            Node(opType: "Gemm", inputs: ["x", "b"], outputs: ["y"], attributes: [Attribute("transA", .int(1)), Attribute("transB", .int(1))]),
            input: [7, 3], inits: ["b": Build.weight([5, 7])]), expected: [3, 5]),
        ShapeCase(label: "matmul batched broadcast", graph: single(
            Node(opType: "MatMul", inputs: ["x", "b"], outputs: ["y"]),
            input: [2, 6, 4], inits: ["b": Build.weight([4, 9])]), expected: [2, 6, 9]),
        ShapeCase(label: "add broadcast", graph: single(
            Node(opType: "Add", inputs: ["x", "b"], outputs: ["y"]),
            input: [2, 1, 5], inits: ["b": Build.weight([3, 1])]), expected: [2, 3, 5]),
        ShapeCase(label: "flatten axis 2", graph: single(
            Node(opType: "Flatten", inputs: ["x"], outputs: ["y"], attributes: [Attribute("axis", .int(2))]),
            input: [2, 3, 4, 5]), expected: [6, 20]),
        ShapeCase(label: "reshape 0 and -1", graph: single(
            Node(opType: "Reshape", inputs: ["x", "s"], outputs: ["y"]),
            input: [2, 3, 4], inits: ["s": .int64Vector([0, -1])]), expected: [2, 12]),
        ShapeCase(label: "transpose default", graph: single(
            Node(opType: "Transpose", inputs: ["x"], outputs: ["y"]), input: [2, 3, 4]), expected: [4, 3, 2]),
        ShapeCase(label: "squeeze opset 11 attribute", graph: single(
            Node(opType: "Squeeze", inputs: ["x"], outputs: ["y"], attributes: [Attribute("axes", .ints([1]))]),
            input: [2, 1, 4], opset: 11), expected: [2, 4]),
        ShapeCase(label: "unsqueeze opset 13 input", graph: single(
            Node(opType: "Unsqueeze", inputs: ["x", "a"], outputs: ["y"]),
            input: [2, 4], inits: ["a": .int64Vector([0, -1])]), expected: [1, 2, 4, 1]),
        ShapeCase(label: "global average pool", graph: single(
            Node(opType: "GlobalAveragePool", inputs: ["x"], outputs: ["y"]), input: [1, 8, 5, 5]), expected: [1, 8, 1, 1]),
    ]

    @Test(arguments: cases)
    func outputShape(_ c: ShapeCase) throws {
        let s = try c.graph.inferShapes()
        #expect(s["y"] == c.expected)
    }

    /// PyTorch's legacy dynamic flatten: Shape → Gather → Unsqueeze → Concat → Reshape, folded
    /// from the symbolic batch set to the requested value.
    @Test(arguments: [1, 4])
    func shapeChainIsFolded(_ batch: Int) throws {
        var g = Graph()
        g.inputs = [Build.input("x", [.symbol("N"), .value(3), .value(2), .value(2)])]
        g.outputs = [ValueInfo(name: "y", shape: nil)]
        g.nodes = [
            Node(opType: "Shape", inputs: ["x"], outputs: ["s"]),
            Node(opType: "Constant", inputs: [], outputs: ["zero"], attributes: [Attribute("value", .tensor(.int64(shape: [], values: [0])))]),
            Node(opType: "Gather", inputs: ["s", "zero"], outputs: ["n"], attributes: [Attribute("axis", .int(0))]),
            Node(opType: "Constant", inputs: [], outputs: ["ax"], attributes: [Attribute("value", .tensor(.int64Vector([0])))]),
            Node(opType: "Unsqueeze", inputs: ["n", "ax"], outputs: ["n1"]),
            Node(opType: "Constant", inputs: [], outputs: ["m1"], attributes: [Attribute("value", .tensor(.int64Vector([-1])))]),
            Node(opType: "Concat", inputs: ["n1", "m1"], outputs: ["shape"], attributes: [Attribute("axis", .int(0))]),
            Node(opType: "Reshape", inputs: ["x", "shape"], outputs: ["y"]),
        ]
        let s = try g.inferShapes(batch: batch)
        #expect(s["y"] == [batch, 12])
        #expect(s.constants["shape"]?.intValues == [batch, -1])
    }

    /// Slice with PyTorch's "to the end" (INT64_MAX) and a negative step, folded on a shape vector.
    @Test func sliceOfShape() throws {
        var g = Graph()
        g.inputs = [Build.input("x", [.value(2), .value(3), .value(4), .value(5)])]
        g.outputs = [ValueInfo(name: "y", shape: nil)]
        g.setInitializer("starts", .int64Vector([1]))
        g.setInitializer("ends", .int64(shape: [1], values: [Int64.max]))
        g.setInitializer("rstart", .int64Vector([-1]))
        g.setInitializer("rend", .int64(shape: [1], values: [Int64.min]))
        g.setInitializer("rstep", .int64Vector([-2]))
        g.nodes = [
            Node(opType: "Shape", inputs: ["x"], outputs: ["s"]),
            Node(opType: "Slice", inputs: ["s", "starts", "ends"], outputs: ["tail"]),
            Node(opType: "Slice", inputs: ["s", "rstart", "rend", "", "rstep"], outputs: ["y"]),
        ]
        let r = try g.inferShapes()
        #expect(r.constants["tail"]?.intValues == [3, 4, 5])
        #expect(r.constants["y"]?.intValues == [5, 3])
    }

    /// Hostile attribute and constant values give errors (or unknown shapes), never traps.
    @Test func hostileValuesDoNotTrap() throws {
        let huge = Int.max / 2
        let graphs: [Graph] = [
            single(Build.conv("c", "x", "w", nil, "y", [Attribute("group", .int(huge))]), input: [1, 0, 4, 4],
                   inits: ["w": Build.weight([0, 3, 3, 3])]),
            single(Build.conv("c", "x", "w", nil, "y", [Attribute("pads", .ints([huge, huge, huge, huge]))]),
                   input: [1, 3, 4, 4], inits: ["w": Build.weight([2, 3, 3, 3])]),
            single(Node(opType: "MaxPool", inputs: ["x"], outputs: ["y"], attributes: [
                Attribute("kernel_shape", .ints([huge])), Attribute("dilations", .ints([huge]))]), input: [1, 1, 4]),
            single(Node(opType: "Div", inputs: ["a", "b"], outputs: ["y"]), input: [1],
                   inits: ["a": .int64Vector([Int(Int64.min)]), "b": .int64Vector([-1])]),
            single(Node(opType: "Slice", inputs: ["x", "s", "e", "", "p"], outputs: ["y"]), input: [4],
                   inits: ["s": .int64Vector([0]), "e": .int64Vector([4]), "p": .int64(shape: [1], values: [Int64.min])]),
            single(Node(opType: "Range", inputs: ["a", "b", "c"], outputs: ["y"]), input: [1],
                   inits: ["a": .int64(shape: [], values: [Int64.min]), "b": .int64(shape: [], values: [Int64.max]),
                           "c": .int64(shape: [], values: [1])]),
            single(Node(opType: "Identity", inputs: ["x"], outputs: []), input: [2]),
            single(Node(opType: "Flatten", inputs: ["x"], outputs: ["y"], attributes: [Attribute("axis", .int(Int.min))]), input: [2]),
        ]
        for g in graphs {
            _ = try? g.inferShapes()
            _ = try? LayerTable(graph: g)
        }
    }

    @Test func inconsistentShapesNameTheNode() {
        let g = single(Build.conv("bad_conv", "x", "w", nil, "y"), input: [1, 4, 8, 8], inits: ["w": Build.weight([2, 3, 3, 3])])
        #expect { try g.inferShapes() } throws: { error in
            guard let e = error as? GraphError else { return false }
            return e.kind == .shapeInference && e.message.contains("bad_conv")
        }
    }
}

@Suite("Layers and costs")
struct LayerTableTests {
    /// Hand-counted LeNet costs (Caffe LeNet: 20 and 50 5×5 filters, fc 800→500→10).
    @Test func lenetCosts() throws {
        let t = try LayerTable(graph: Build.lenet())
        let conv2 = try #require(t.layer(named: "conv2"))
        #expect(conv2.inputShape == [1, 20, 12, 12] && conv2.outputShape == [1, 50, 8, 8])
        #expect(conv2.macs == 50 * 20 * 25 * 64) // 1,600,000
        #expect(conv2.params == 50 * 20 * 25 + 50)
        #expect(conv2.kernelDescription == "5x5" && conv2.bias == "conv2.bias" && conv2.nodeName == "/conv2/Conv")
        #expect(t.layer(named: "fc1")?.macs == 800 * 500)
        #expect(t.totalMACs == 288_000 + 1_600_000 + 400_000 + 5_000)
        #expect(abs(t.macShare(conv2) - 1_600_000.0 / 2_293_000.0) < 1e-12)
    }

    /// MACs are per sample whatever batch the shapes were inferred with.
    @Test(arguments: [1, 3])
    func costsArePerSample(_ batch: Int) throws {
        let g = Build.lenet()
        let t = try LayerTable(graph: g, shapes: g.inferShapes(batch: batch))
        #expect(t.layers.map(\.macs) == [288_000, 1_600_000, 400_000, 5_000])
    }

    struct NamingCase: Sendable, CustomTestStringConvertible {
        var label: String
        var weights: [String]
        var nodes: [String]
        var expected: [String]
        var biases = ["conv1.bias", "conv2.bias", "fc1.bias", "fc2.bias"]
        var testDescription: String { label }
    }

    static let naming: [NamingCase] = [
        NamingCase(label: "PyTorch names", weights: ["conv1.weight", "conv2.weight", "fc1.weight", "fc2.weight"],
                   nodes: ["/conv1/Conv", "/conv2/Conv", "/fc1/Gemm", "/fc2/Gemm"], expected: ["conv1", "conv2", "fc1", "fc2"]),
        NamingCase(label: "dynamo node names ignored when weights are named", weights: ["conv1.weight", "conv2.weight", "fc1.weight", "fc2.weight"],
                   nodes: ["node_conv2d", "node_conv2d_1", "node_linear", "node_linear_1"], expected: ["conv1", "conv2", "fc1", "fc2"]),
        NamingCase(label: "no .weight suffix", weights: ["W1", "W2", "fc1.w", "fc2.w"],
                   nodes: ["a", "b", "c", "d"], expected: ["W1", "W2", "fc1.w", "fc2.w"]),
        NamingCase(label: "exporter-generated weights take the module name of their bias", weights: ["onnx::Conv_1", "val_2", "fc1.weight", "fc2.weight"],
                   nodes: ["a", "b", "/fc1/Gemm", "/fc2/Gemm"], expected: ["conv1", "conv2", "fc1", "fc2"]),
        NamingCase(label: "else the module path of a TorchScript node name", weights: ["onnx::Conv_1", "onnx::Conv_2", "fc1.weight", "fc2.weight"],
                   nodes: ["/features/conv1/Conv", "/conv2/Conv_3", "/fc1/Gemm", "/fc2/Gemm"], expected: ["features.conv1", "conv2", "fc1", "fc2"],
                   biases: ["onnx::Conv_5", "onnx::Conv_6", "fc1.bias", "fc2.bias"]),
        NamingCase(label: "else other node names", weights: ["onnx::Conv_1", "onnx::Conv_2", "fc1.weight", "fc2.weight"],
                   nodes: ["conv_a", "/Conv", "/fc1/Gemm", "/fc2/Gemm"], expected: ["conv_a", "/Conv", "fc1", "fc2"],
                   biases: ["onnx::Conv_5", "onnx::Conv_6", "fc1.bias", "fc2.bias"]),
        NamingCase(label: "unnamed nodes get op_index", weights: ["onnx::Conv_1", "onnx::Conv_2", "fc1.weight", "fc2.weight"],
                   nodes: ["", "", "", ""], expected: ["Conv_0", "Conv_2", "fc1", "fc2"],
                   biases: ["onnx::Conv_5", "onnx::Conv_6", "fc1.bias", "fc2.bias"]),
        NamingCase(label: "duplicate node names", weights: ["onnx::a", "onnx::b", "fc1.weight", "fc2.weight"],
                   nodes: ["same", "same", "", ""], expected: ["Conv_0", "Conv_2", "fc1", "fc2"],
                   biases: ["onnx::Conv_5", "onnx::Conv_6", "fc1.bias", "fc2.bias"]),
    ]

    @Test(arguments: naming)
    func layerNames(_ c: NamingCase) throws {
        let t = try LayerTable(graph: Build.lenet(weightNames: c.weights, nodeNames: c.nodes, biasNames: c.biases))
        #expect(t.layers.map(\.name) == c.expected)
    }

    /// A weight shared by two layers cannot name either; both use their node names.
    @Test func sharedWeightUsesNodeNames() throws {
        var g = Graph()
        g.inputs = [Build.input("x", [.symbol("N"), .value(4)])]
        g.outputs = [ValueInfo(name: "z", shape: nil)]
        g.setInitializer("shared.weight", Build.weight([4, 4]))
        g.nodes = [
            Node(name: "first", opType: "MatMul", inputs: ["x", "shared.weight"], outputs: ["y"]),
            Node(name: "second", opType: "MatMul", inputs: ["y", "shared.weight"], outputs: ["z"]),
        ]
        let t = try LayerTable(graph: g)
        #expect(t.layers.map(\.name) == ["first", "second"])
        #expect(t.layers.map(\.macs) == [16, 16])
    }

    /// Linear on 3-D input as PyTorch exports it: MatMul with a transposed weight, then Add(bias);
    /// and a weight coming from a Constant node.
    @Test func matmulWithSeparateBiasAndConstantWeight() throws {
        var g = Graph()
        g.inputs = [Build.input("x", [.symbol("N"), .value(7), .value(16)])]
        g.outputs = [ValueInfo(name: "z", shape: nil)]
        g.setInitializer("onnx::MatMul_9", Build.weight([16, 32]))
        g.setInitializer("fc.bias", Build.weight([32]))
        g.setInitializer("bn.unused", Build.weight([5]))
        g.setInitializer("shape", .int64Vector([-1]))
        g.nodes = [
            Node(name: "/fc/MatMul", opType: "MatMul", inputs: ["x", "onnx::MatMul_9"], outputs: ["m"]),
            Node(name: "/fc/Add", opType: "Add", inputs: ["fc.bias", "m"], outputs: ["y"]),
            Node(name: "k", opType: "Constant", inputs: [], outputs: ["kw"], attributes: [Attribute("value", .tensor(Build.weight([32, 2])))]),
            Node(name: "/head/MatMul", opType: "MatMul", inputs: ["y", "kw"], outputs: ["z"]),
        ]
        let t = try LayerTable(graph: g)
        #expect(t.layers.map(\.name) == ["fc", "head"])
        let fc = t.layers[0]
        #expect(fc.bias == "fc.bias" && fc.biasNode == "/fc/Add")
        #expect(fc.macs == 7 * 16 * 32 && fc.params == 16 * 32 + 32)
        #expect(t.layers[1].weightIsInitializer == false && t.layers[1].macs == 7 * 32 * 2)
        // Unused and integer initializers are not model parameters; a Constant node's weight is.
        #expect(t.modelParams == 16 * 32 + 32 + 32 * 2)
    }

    @Test func unknownShapesNameTheUnsupportedOp() throws {
        var g = Build.lenet()
        g.nodes[1].opType = "FancyPool"
        #expect { try LayerTable(graph: g) } throws: { error in
            guard let e = error as? GraphError else { return false }
            return e.kind == .shapeInference && e.message.contains("FancyPool") && e.message.contains("/conv2/Conv")
        }
    }
}

/// Layer names for exports whose weight initializers have made-up names.
@Suite struct GeneratedNameTests {
    /// Dynamo export: MatMul weight `val_5` (pre-transposed), bias `q.bias` in the Add after it;
    /// TorchScript export with BatchNorm folded: weight `onnx::Conv_7`, node `/layer2/sc/sc.0/Conv`.
    @Test func layersAreNamedAfterTheirModules() throws {
        var g = Graph(opsets: [OpsetImport(domain: "", version: 13)])
        g.inputs = [Build.input("x", [.symbol("N"), .value(4), .value(6), .value(6)]),
                    Build.input("t", [.symbol("N"), .value(5), .value(8)])]
        g.setInitializer("onnx::Conv_7", Build.weight([3, 4, 1, 1]))
        g.setInitializer("val_5", Build.weight([8, 8]))
        g.setInitializer("q.bias", Build.weight([8]))
        g.setInitializer("val_9", Build.weight([8, 2]))
        g.nodes = [Build.conv("/layer2/sc/sc.0/Conv", "x", "onnx::Conv_7", nil, "c", []),
                   Node(name: "node_MatMul_4", opType: "MatMul", inputs: ["t", "val_5"], outputs: ["m"]),
                   Node(name: "node_linear", opType: "Add", inputs: ["m", "q.bias"], outputs: ["q"]),
                   Node(name: "node_MatMul_8", opType: "MatMul", inputs: ["q", "val_9"], outputs: ["z"])]
        g.outputs = [ValueInfo(name: "c", shape: nil), ValueInfo(name: "z", shape: nil)]
        let names = try LayerTable(graph: g).layers.map(\.name)
        // The last MatMul has neither a module bias nor a path-like node name: its node name stays.
        #expect(names == ["layer2.sc.0", "q", "node_MatMul_8"])
    }
}

/// TorchScript's exporter replaces an initializer equal to an earlier one by an `Identity` of it
/// (layers deep-copied from one module, tied weights). Such a layer is still a layer, and the
/// shared weight is one parameter tensor of the model, not two.
@Suite struct SharedWeightTests {
    @Test func aLayerWhoseWeightIsAnIdentityOfAnInitializerIsALayer() throws {
        var g = Graph(opsets: [OpsetImport(domain: "", version: 13)])
        g.inputs = [Build.input("x", [.symbol("N"), .value(8)])]
        g.setInitializer("w", Build.weight([8, 8]))
        g.setInitializer("norm.scale", Build.weight([8]))
        g.nodes = [Node(name: "fc0", opType: "MatMul", inputs: ["x", "w"], outputs: ["h"]),
                   Node(name: "copy", opType: "Identity", inputs: ["w"], outputs: ["w_copy"]),
                   Node(name: "copy2", opType: "Identity", inputs: ["w_copy"], outputs: ["w_copy2"]),
                   Node(name: "scale", opType: "Mul", inputs: ["h", "norm.scale"], outputs: ["s"]),
                   Node(name: "fc1", opType: "MatMul", inputs: ["s", "w_copy2"], outputs: ["y"])]
        g.outputs = [ValueInfo(name: "y", shape: nil)]
        #expect(g.constantSource("w_copy2") == "w")
        #expect(g.constantValue("w_copy2") == g.initializers["w"])
        #expect(g.constantSource("h") == nil)
        let table = try LayerTable(graph: g)
        #expect(table.layers.map(\.nodeName) == ["fc0", "fc1"])
        #expect(table.layerParams == 128)
        #expect(table.modelParams == 72)
        #expect(table.otherParams == 8)
    }

    /// A cycle of Identities (a malformed model) is not followed forever.
    @Test func anIdentityCycleIsNotAConstant() {
        var g = Graph(opsets: [OpsetImport(domain: "", version: 13)])
        g.nodes = [Node(name: "a", opType: "Identity", inputs: ["q"], outputs: ["p"]),
                   Node(name: "b", opType: "Identity", inputs: ["p"], outputs: ["q"])]
        #expect(g.constantValue("p") == nil)
    }
}

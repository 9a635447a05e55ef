import Foundation
import Testing
import ShrinkTensor
@testable import ShrinkGraph

/// Node arity is checked when a model is loaded, so every command (inspect included) refuses a
/// malformed node by name instead of trapping later.
@Suite struct ArityTests {
    static func model(_ nodes: [Node], opset: Int = 13) throws -> Data {
        var g = Graph(opsets: [OpsetImport(domain: "", version: opset)])
        g.inputs = [ValueInfo(name: "x", shape: [.value(1), .value(4)]), ValueInfo(name: "w", shape: [.value(4), .value(4)])]
        g.outputs = [ValueInfo(name: nodes.last?.outputs.first ?? "y", shape: nil)]
        g.nodes = nodes
        return try g.serializedData()
    }

    @Test(arguments: [
        (Node(name: "add", opType: "Add", inputs: ["x"], outputs: ["y"]), "node add (Add) has 1 input; Add takes 2"),
        (Node(name: "mm", opType: "MatMul", inputs: ["x", "w", "w"], outputs: ["y"]), "takes at most 2"),
        (Node(name: "c", opType: "Conv", inputs: ["x", ""], outputs: ["y"]), "leaves its required input 2 empty"),
        (Node(name: "r", opType: "Reshape", inputs: ["x"], outputs: ["y"]), "Reshape takes 2"),
        (Node(name: "u", opType: "Unsqueeze", inputs: ["x"], outputs: ["y"]), "Unsqueeze takes 2"),
        (Node(name: "n", opType: "Relu", inputs: ["x"], outputs: []), "node n (Relu) has no output"),
    ])
    func loadRefusesMalformedNodes(node: Node, fragment: String) throws {
        let data = try Self.model([node])
        #expect {
            _ = try Graph(serializedData: data, file: "bad.onnx")
        } throws: { error in
            guard let e = error as? GraphError else { return false }
            return e.kind == .invalidModel && e.description.hasPrefix("bad.onnx: ") && e.description.contains(fragment)
        }
    }

    @Test func allMalformedNodesInOneError() throws {
        let data = try Self.model([
            Node(name: "a", opType: "Add", inputs: ["x"], outputs: ["a1"]),
            Node(name: "b", opType: "Sigmoid", inputs: [], outputs: ["b1"]),
            Node(name: "c", opType: "Gemm", inputs: ["a1"], outputs: ["y"]),
        ])
        #expect {
            _ = try Graph(serializedData: data, file: "bad.onnx")
        } throws: { error in
            let text = "\(error)"
            return ["node a (Add)", "node b (Sigmoid)", "node c (Gemm)"].allSatisfy(text.contains) && text.contains("malformed nodes")
        }
    }

    /// Opset-dependent forms and operators the table does not know still load.
    @Test(arguments: [
        (Node(name: "r", opType: "Reshape", inputs: ["x"], outputs: ["y"]), 4),
        (Node(name: "cl", opType: "Clip", inputs: ["x", "", "w"], outputs: ["y"]), 13),
        (Node(name: "s", opType: "Sum", inputs: ["x", "x", "x", "x"], outputs: ["y"]), 13),
        (Node(name: "l", opType: "NonMaxSuppression", inputs: ["x"], outputs: ["y"]), 13),
        (Node(name: "d", opType: "Custom", domain: "com.example", inputs: [], outputs: ["y"]), 13),
        (Node(name: "mp", opType: "MaxPool", inputs: ["x"], outputs: ["y", ""]), 13),
    ])
    func validFormsLoad(node: Node, opset: Int) throws {
        _ = try Graph(serializedData: try Self.model([node], opset: opset), file: "ok.onnx")
    }
}

/// Shape inference (what `inspect` runs) on extreme attribute and constant values: errors, not traps.
@Suite struct ShapeArithmeticTests {
    static func graph(_ nodes: [Node], initializers: [String: TensorValue] = [:], opset: Int = 13) -> Graph {
        var g = Graph(opsets: [OpsetImport(domain: "", version: opset)])
        g.inputs = [ValueInfo(name: "x", shape: [.value(4)])]
        for (k, v) in initializers { g.setInitializer(k, v) }
        g.nodes = nodes
        g.outputs = [ValueInfo(name: nodes.last!.outputs[0], shape: nil)]
        return g
    }

    /// Before: `sizes.reduce(0, +)` overflowed (exit 132).
    @Test func splitSizesThatOverflowAreErrors() {
        let g = Self.graph([Node(opType: "Split", inputs: ["x"], outputs: ["a", "b"],
                                 attributes: [Attribute("split", .ints([Int.max, Int.max]))])], opset: 11)
        #expect(throws: GraphError.self) { _ = try g.inferShapes() }
    }

    /// Before: three Tiles by 2^31 multiplied dimensions past Int.max (exit 132).
    @Test func chainedTilesThatOverflowAreErrors() {
        let tiles = (1...3).map { Node(opType: "Tile", inputs: [$0 == 1 ? "x" : "t\($0 - 1)", "r"], outputs: ["t\($0)"]) }
        let g = Self.graph(tiles, initializers: ["r": .int64(shape: [1], values: [1 << 31])])
        #expect {
            _ = try g.inferShapes()
        } throws: { error in
            "\(error)".contains("too large to address")
        }
    }

    /// Before: `Int(steps)` trapped on -inf and on counts below Int.min.
    @Test(arguments: [(-Double.infinity, 0.0, 1.0), (0, .nan, 1), (0, 1e30, 1)])
    func floatRangesWithoutAFiniteLengthAreErrors(start: Double, limit: Double, delta: Double) {
        let inits: [String: TensorValue] = ["s": .float(Tensor(shape: [], scalars: [Float(start)])),
                                            "l": .float(Tensor(shape: [], scalars: [Float(limit)])),
                                            "d": .float(Tensor(shape: [], scalars: [Float(delta)]))]
        let g = Self.graph([Node(opType: "Range", inputs: ["s", "l", "d"], outputs: ["y"])], initializers: inits)
        #expect(throws: GraphError.self) { _ = try g.inferShapes() }
    }

    @Test func emptyIntRangeOfExtremeBoundsIsEmpty() throws {
        let inits: [String: TensorValue] = ["s": .int64(shape: [], values: [.max]), "l": .int64(shape: [], values: [.min]),
                                            "d": .int64(shape: [], values: [1])]
        let g = Self.graph([Node(opType: "Range", inputs: ["s", "l", "d"], outputs: ["y"])], initializers: inits)
        #expect(try g.inferShapes().shapes["y"] == [0])
    }

    @Test func inputShapesBeyondTwoToThe31AreErrors() {
        let g = Self.graph([Node(opType: "Relu", inputs: ["x"], outputs: ["y"])])
        #expect(throws: GraphError.self) { _ = try g.inferShapes(inputShapes: ["x": [Int.max, 4]]) }
    }
}

extension ShapeArithmeticTests {
    /// Before: two layers whose MACs saturate near Int.max overflowed the table's total (exit 132).
    @Test func absurdLayerCostsAreErrors() throws {
        var g = Graph(opsets: [OpsetImport(domain: "", version: 13)])
        g.inputs = [ValueInfo(name: "x", shape: [.value(1), .value(1), .value(1 << 30), .value(1 << 30)])]
        g.setInitializer("a.weight", .float(Tensor(shape: [4, 1, 1, 1], scalars: [1, 1, 1, 1])))
        g.setInitializer("b.weight", .float(Tensor(shape: [4, 4, 1, 1], scalars: [Float](repeating: 1, count: 16))))
        g.nodes = [Node(name: "a", opType: "Conv", inputs: ["x", "a.weight"], outputs: ["y"]),
                   Node(name: "b", opType: "Conv", inputs: ["y", "b.weight"], outputs: ["z"])]
        g.outputs = [ValueInfo(name: "z", shape: nil)]
        #expect {
            _ = try LayerTable(graph: g)
        } throws: { error in
            "\(error)".contains("more than 2^50 MACs per sample")
        }
    }
}

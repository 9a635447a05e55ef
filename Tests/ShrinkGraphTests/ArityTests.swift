import Foundation
import Testing
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

import Foundation
import ShrinkGraph
import ShrinkTensor
import Testing

/// The load stage replaces an `If` that the data's shape decides by the branch it takes, so the
/// layers inside are costed, searched and compressed (exporters branch on the input size).
@Suite struct BranchInliningTests {
    /// LeNet inside the `then` branch of `If(Shape(x)[2] == 28)`; the `else` branch returns zeros.
    static func wrappedLeNet() throws -> Graph {
        let lenet = try Graph.load(contentsOf: packageRoot.appendingPathComponent("Examples/lenet-mnist/model.onnx").path)
        var g = lenet
        let output = lenet.outputs[0]
        var then = Graph(name: "then")
        then.nodes = lenet.nodes
        then.outputs = [output]
        var otherwise = Graph(name: "else")
        otherwise.nodes = [Node(opType: "Identity", inputs: ["zeros"], outputs: ["zero_scores"])]
        otherwise.outputs = [ValueInfo(name: "zero_scores", elementType: .float, shape: [.value(1), .value(10)])]
        _ = g.addInitializer(.int64(shape: [], values: [2]), preferredName: "axis_h")
        _ = g.addInitializer(.int64(shape: [], values: [28]), preferredName: "h28")
        _ = g.addInitializer(.float(Tensor(zeros: [1, 10])), preferredName: "zeros")
        g.nodes = [
            Node(opType: "Shape", inputs: [lenet.dataInputs[0].name], outputs: ["shape_x"]),
            Node(opType: "Gather", inputs: ["shape_x", "axis_h"], outputs: ["h"], attributes: [Attribute("axis", .int(0))]),
            Node(opType: "Equal", inputs: ["h", "h28"], outputs: ["is28"]),
            Node(name: "by_size", opType: "If", inputs: ["is28"], outputs: ["scores"],
                 attributes: [Attribute("then_branch", .graph(then)), Attribute("else_branch", .graph(otherwise))]),
        ]
        g.outputs = [ValueInfo(name: "scores", elementType: .float, shape: output.shape)]
        return g
    }

    @Test func aShapeDecidedIfIsInlinedAndItsLayersCompressed() throws {
        let box = try Sandbox(pipeline: fixedPipeline, evalSamples: 100)
        defer { box.remove() }
        try Self.wrappedLeNet().save(to: box.url("model/model.onnx").path)
        let r = try box.run()
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("`If` nodes that the evaluation data's shape decides"), "\(r.stderr)")
        let target = try #require((r.json?["targets"] as? [[String: Any]])?.first)
        #expect(target["layers"] as? [String: String] == ["conv2": "tucker2:16,8", "fc1": "svd:32"])
        let exported = try Graph.load(contentsOf: box.url("out/e2e.onnx").path)
        #expect(!exported.nodes.contains { $0.opType == "If" })
        #expect(exported.nodes.contains { $0.name.hasPrefix("conv2") || $0.outputs.contains { $0.hasPrefix("conv2") } })
    }
}
